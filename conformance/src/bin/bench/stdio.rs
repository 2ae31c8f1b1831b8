//! The stdio part of the benchmark: the Python `mcp` SDK stdio server (from
//! `.ci/install-peers`) behind `--mcp.command`, versus the same server driven directly over
//! its pipes.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tunnel_conformance::peers::Peers;

use super::{emulator, percentiles, ClientProc, McpClient};

type Add<'a> = dyn FnMut(&'static str, String, String) + 'a;

pub fn run(bin: &Path, add: &mut Add<'_>, scale: usize, payload: &str) {
    let Some(peers) = Peers::find() else {
        add(
            "stdio",
            "all stdio figures".into(),
            "n/a: MCP peers not installed (.ci/install-peers)".into(),
        );
        return;
    };
    let argv = peers.python_stdio_argv();
    let emu = emulator();
    let command_line = argv.join(" ");
    let client = match ClientProc::start(bin, &emu, &["--mcp.command".into(), command_line]) {
        Ok(c) => c,
        Err(e) => {
            add("stdio", "all stdio figures".into(), format!("n/a: {e}"));
            return;
        }
    };
    let tunnel = emu.mcp_url();
    // Python needs ~1.3 s before it answers initialize.
    let mut c = None;
    for _ in 0..50 {
        match McpClient::connect(&tunnel) {
            Ok(x) => {
                c = Some(x);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    let Some(mut c) = c else {
        add(
            "stdio",
            "all stdio figures".into(),
            "n/a: the stdio server never answered initialize".into(),
        );
        return;
    };
    let call = |c: &mut McpClient, id: u64, name: &str, args: Value| {
        c.call(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":args}}))
    };
    let n = 100 * scale;
    let mut lat = Vec::new();
    let mut cpu0 = None;
    for i in 0..(n + 20) as u64 {
        let t = Instant::now();
        if let Err(e) = call(&mut c, i, "echo", json!({"text": payload})) {
            add(
                "overhead",
                "echo via tunnel (stdio)".into(),
                format!("failed: {e}"),
            );
            return;
        }
        if i >= 20 {
            lat.push(t.elapsed());
        }
        if i == 19 {
            cpu0 = super::procstat::cpu_time(client.pid);
        }
    }
    let cpu = match (cpu0, super::procstat::cpu_time(client.pid)) {
        (Some(a), Some(b)) => format!("{} µs", ((b - a) / n as u32).as_micros()),
        _ => "n/a".into(),
    };
    add(
        "peers",
        "tunnel-client (stdio target): client CPU per call, RSS".into(),
        format!(
            "{cpu}, {}",
            super::kib(super::procstat::rss_kib(client.pid))
        ),
    );
    add(
        "overhead",
        "echo 1 KiB via tunnel, stdio target (Python SDK)".into(),
        percentiles(lat),
    );

    // 64 concurrent 100 ms calls on one child.
    let clients: Vec<McpClient> = (0..64)
        .filter_map(|_| McpClient::connect(&tunnel).ok())
        .collect();
    let started = Instant::now();
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || call(&mut c, i as u64, "slow", json!({"ms": 100})))
        })
        .collect();
    let ok = handles
        .into_iter()
        .map(|h| h.join().ok().and_then(Result::ok).is_some())
        .filter(|ok| *ok)
        .count();
    let wall = started.elapsed();
    add(
        "stdio",
        "64 concurrent 100 ms tool calls on one child: wall time".into(),
        format!(
            "{} ms for {ok}/64 calls (serial bound 6400 ms: {:.1}× faster)",
            wall.as_millis(),
            6.4 / wall.as_secs_f64()
        ),
    );
    drop(client);

    // The same server driven directly over its pipes.
    match direct(&argv, n, payload) {
        Ok(v) => add(
            "overhead",
            "echo 1 KiB direct to the same stdio server".into(),
            percentiles(v),
        ),
        Err(e) => add(
            "overhead",
            "echo direct (stdio)".into(),
            format!("failed: {e}"),
        ),
    }
}

fn direct(argv: &[String], n: usize, payload: &str) -> Result<Vec<Duration>, String> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut roundtrip = |msg: Value, expect_id: Option<u64>| -> Result<(), String> {
        writeln!(stdin, "{msg}").map_err(|e| e.to_string())?;
        stdin.flush().map_err(|e| e.to_string())?;
        let Some(id) = expect_id else { return Ok(()) };
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("stdio server closed".into());
            }
            if serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v["id"].as_u64())
                == Some(id)
            {
                return Ok(());
            }
        }
    };
    roundtrip(
        json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}),
        Some(0),
    )?;
    roundtrip(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        None,
    )?;
    let mut out = Vec::new();
    for i in 1..=(n + 20) as u64 {
        let t = Instant::now();
        roundtrip(
            json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"echo","arguments":{"text":payload}}}),
            Some(i),
        )?;
        if i > 20 {
            out.push(t.elapsed());
        }
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    Ok(out)
}
