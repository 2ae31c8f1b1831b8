//! Peers: other programs that put a stdio MCP server behind HTTP (supergateway, mcp-proxy),
//! bridging the same Python stdio server, measured the same way as our client. Installed by
//! `conformance/peers/install-bench-peers`; absent → "n/a".
//!
//! Not the same job: a bridge is one HTTP hop in front of the child, the tunnel is two hops
//! (MCP client → control plane → client) plus a long poll. The figures show what each
//! process costs per call, which is what an operator pays for.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tunnel_conformance::peers::{self, Peers};

use super::{kib, percentiles, procstat, McpClient};

type Add<'a> = dyn FnMut(&'static str, String, String) + 'a;

fn bench_env() -> Option<HashMap<String, String>> {
    let path = peers::workspace_root().join("target/peers/bench/env.sh");
    let env = peers::parse_env_sh(&std::fs::read_to_string(path).ok()?);
    (env.get("BENCH_PEERS_READY").map(String::as_str) == Some("1")).then_some(env)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(add: &mut Add<'_>, n: usize, payload: &str) {
    let (Some(env), Some(peers)) = (bench_env(), Peers::find()) else {
        add(
            "peers",
            "supergateway, mcp-proxy".into(),
            "n/a: run conformance/peers/install-bench-peers (and .ci/install-peers)".into(),
        );
        return;
    };
    let server = peers.python_stdio_argv().join(" ");
    let py = peers.python_stdio_argv();
    let sg_port = free_port();
    let mut sg = Command::new(&env["PEER_SUPERGATEWAY"]);
    sg.args([
        "--stdio",
        &server,
        "--outputTransport",
        "streamableHttp",
        "--stateful",
    ])
    .args(["--port", &sg_port.to_string(), "--logLevel", "none"]);
    measure(
        add,
        "supergateway 4.0.0 (stateful streamableHttp)",
        sg,
        sg_port,
        n,
        payload,
    );

    let mp_port = free_port();
    let mut mp = Command::new(&env["PEER_MCP_PROXY"]);
    mp.args([
        "--host",
        "127.0.0.1",
        "--port",
        &mp_port.to_string(),
        "--log-level",
        "WARNING",
    ])
    .arg(&py[0])
    .args(&py[1..]);
    measure(
        add,
        "mcp-proxy 0.13.0 (streamable HTTP /mcp)",
        mp,
        mp_port,
        n,
        payload,
    );
}

fn measure(add: &mut Add<'_>, name: &str, mut cmd: Command, port: u16, n: usize, payload: &str) {
    let child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => Killed(c),
        Err(e) => {
            add("peers", name.to_string(), format!("n/a: cannot start: {e}"));
            return;
        }
    };
    let pid = child.0.id();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = loop {
        match McpClient::connect(&url) {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => {
                add(
                    "peers",
                    name.to_string(),
                    format!("n/a: never answered initialize: {e}"),
                );
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let call = |c: &mut McpClient, id: u64| {
        c.call(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":"echo","arguments":{"text":payload}}}))
    };
    for i in 0..20 {
        if let Err(e) = call(&mut client, i) {
            add("peers", name.to_string(), format!("failed: {e}"));
            return;
        }
    }
    let cpu0 = procstat::cpu_time(pid);
    let mut lat = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let t = Instant::now();
        if let Err(e) = call(&mut client, 100 + i) {
            add("peers", name.to_string(), format!("failed: {e}"));
            return;
        }
        lat.push(t.elapsed());
    }
    let cpu = match (cpu0, procstat::cpu_time(pid)) {
        (Some(a), Some(b)) => format!("{} µs", ((b - a) / n as u32).as_micros()),
        _ => "n/a".into(),
    };
    add(
        "peers",
        format!("{name}: echo 1 KiB latency"),
        percentiles(lat),
    );
    add(
        "peers",
        format!("{name}: bridge CPU per call, RSS"),
        format!("{cpu}, {}", kib(procstat::rss_kib(pid))),
    );
    drop(child);
}
