//! How Harpoon reaches its targets, through the real binary: `unix-socket=` targets (and
//! redirects between a socket and TCP, chosen per hop), and HTTPS targets signed by a
//! private CA, refused without `--ca-bundle` and reached with it.

mod harpoon_support;
mod net_support;
mod support;

use std::time::Duration;

use harpoon_support::*;
use serde_json::{json, Value};
use support::{Client, Scratch};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};

fn plain(status: u16, body: &str, headers: &[(&str, &str)]) -> Answer {
    Answer {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
        delay: Duration::ZERO,
    }
}

/// A `main` MCP server without OAuth metadata: only configured targets exist.
fn quiet_main() -> Server {
    Server::start(|_| plain(404, "", &[]))
}

fn start(emu: &Emulator, main: &Server, extra: &[String]) -> Client {
    let mut args = vec!["--mcp.server-url".to_string(), main.url("/mcp")];
    args.extend(extra.iter().cloned());
    Client::start(emu, &args)
}

fn body_text(result: &Value) -> String {
    use base64::Engine as _;
    let b64 = result["structuredContent"]["body_base64"]
        .as_str()
        .unwrap_or_else(|| panic!("not a success: {result}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

fn target(label: &str, url: &str, socket: Option<&str>) -> [String; 2] {
    let mut t = format!("label={label},url={url}");
    if let Some(s) = socket {
        t.push_str(&format!(",unix-socket={s}"));
    }
    ["--harpoon.target".to_string(), t]
}

#[cfg(unix)]
#[test]
fn unix_socket_targets_dial_their_socket_hop_by_hop() {
    let scratch = Scratch::new("harpoon-unix");
    let sock = scratch.path("api.sock");
    let tcp = Server::start(|s| match s.target.as_str() {
        "/tcp" => plain(200, "via-tcp", &[]),
        "/tcpjump" => plain(302, "", &[("Location", "http://sockhost.internal/api")]),
        _ => plain(404, "", &[]),
    });
    let tcp_base = tcp.url("");
    let jump_to = format!("{tcp_base}/tcp");
    let unix = Server::start_unix(&sock, move |s| {
        let host = s
            .headers
            .iter()
            .find(|(k, _)| k == "host")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        match s.target.as_str() {
            "/api" => plain(200, &format!("via-socket host={host}"), &[]),
            "/jump" => plain(302, "", &[("Location", jump_to.as_str())]),
            _ => plain(404, "", &[]),
        }
    });
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let main = quiet_main();
    let s = sock.display().to_string();
    let mut args = vec!["--harpoon.allow-plaintext-http".to_string()];
    args.extend(target("sock", "http://sockhost.internal/api", Some(&s)));
    args.extend(target(
        "sockjump",
        "http://sockhost.internal/jump",
        Some(&s),
    ));
    args.extend(target("tcp", &format!("{tcp_base}/tcp"), None));
    args.extend(target("tcpjump", &format!("{tcp_base}/tcpjump"), None));
    // A proxy that does not exist: a unix-socket hop must never try it.
    args.extend([
        "--harpoon.http-proxy".to_string(),
        "http://127.0.0.1:1".to_string(),
    ]);
    let client = start(&emu, &main, &args);

    let r = call(&emu, json!({"label": "sock", "method": "GET"}));
    assert_eq!(body_text(&r), "via-socket host=sockhost.internal", "{r}");
    assert_eq!(unix.seen()[0].target, "/api");
    // unix → TCP is refused here only because the TCP hop goes to the (dead) proxy: the
    // per-hop choice is what is under test, so check the socket saw the first hop.
    let r = call(&emu, json!({"label": "sockjump", "method": "GET"}));
    assert_eq!(unix.seen().last().unwrap().target, "/jump", "{r}");
    assert_eq!(
        tcp.hits(),
        0,
        "the TCP hop went to the configured proxy: {r}"
    );
    drop(client);

    // Without the proxy: unix → TCP and TCP → unix, each hop on its own transport.
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let args: Vec<String> = args[..args.len() - 2].to_vec();
    let client = start(&emu, &main, &args);
    let r = call(&emu, json!({"label": "sockjump", "method": "GET"}));
    assert_eq!(body_text(&r), "via-tcp", "{r}");
    let r = call(&emu, json!({"label": "tcpjump", "method": "GET"}));
    assert_eq!(body_text(&r), "via-socket host=sockhost.internal", "{r}");
    assert_eq!(
        tcp.seen()
            .iter()
            .map(|s| s.target.clone())
            .collect::<Vec<_>>(),
        ["/tcp", "/tcpjump"]
    );
    let (_, calls) = client.get("/api/harpoon/calls");
    assert!(calls.contains("\"label\":\"tcpjump\""), "{calls}");
    let (_, status) = client.get("/api/harpoon/status");
    let status: Value = serde_json::from_str(&status).unwrap();
    let sock_route = status["proxy_routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "sock")
        .cloned()
        .unwrap();
    assert_eq!(sock_route["route_mode"], "direct", "{sock_route}");
}

#[test]
fn https_targets_need_the_private_ca_in_the_bundle() {
    let scratch = Scratch::new("harpoon-tls");
    let pki = net_support::Pki::new(scratch.path("pki"));
    let backend = Server::start(|_| plain(200, "secret-but-trusted", &[]));
    let backend_addr = backend.addr.parse().unwrap();
    let front = net_support::TlsFront::start(&pki, false, backend_addr);
    let url = format!("https://localhost:{}/x", front.addr.port());
    let main = quiet_main();

    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let client = start(&emu, &main, &target("secure", &url, None));
    let r = call(&emu, json!({"label": "secure", "method": "GET"}));
    assert_eq!(error_text(&r), "label secure: request failed", "{r}");
    assert_eq!(backend.hits(), 0, "nothing reached the backend");
    assert!(
        matches!(
            front.handshakes().first(),
            Some(net_support::Handshake::Failed(_))
        ),
        "{:?}",
        front.handshakes()
    );
    // Logged just after the response is posted: wait for it.
    let line = "harpoon request failed: label=secure";
    let logs = client.wait_log(line, Duration::from_secs(10));
    assert!(logs.contains(line), "{logs}");
    drop(client);

    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let mut args = target("secure", &url, None).to_vec();
    args.extend(["--ca-bundle".to_string(), pki.ca_pem.display().to_string()]);
    let _client = start(&emu, &main, &args);
    let r = call(&emu, json!({"label": "secure", "method": "GET"}));
    assert_eq!(body_text(&r), "secret-but-trusted", "{r}");
    assert_eq!(backend.seen()[0].target, "/x");
}

/// Go's `harpoon_connection_ttl`: with `--mcp.connection-max-ttl 250ms` and one command at
/// a time, a call slower than the TTL is cut when the TTL ends (its request to the target
/// is dropped, never answered late), and the next `initialize` works, cycle after cycle.
#[test]
fn connection_ttl_cuts_a_slow_call_and_the_channel_keeps_serving() {
    let slow = Server::start(|s| {
        let mut a = plain(200, "late", &[]);
        if s.target == "/slow" {
            a.delay = Duration::from_millis(3000);
        }
        a
    });
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let main = quiet_main();
    let mut args = vec![
        "--harpoon.allow-plaintext-http".to_string(),
        "--mcp.connection-max-ttl".into(),
        "250ms".into(),
        "--mcp.max-concurrent-requests".into(),
        "1".into(),
    ];
    args.extend(target("slow", &slow.url("/slow"), None));
    args.extend(target("fast", &slow.url("/fast"), None));
    let client = start(&emu, &main, &args);
    for cycle in 0..2 {
        let started = std::time::Instant::now();
        let r = call(
            &emu,
            json!({"label": "slow", "method": "GET", "timeout_ms": 10000}),
        );
        let took = started.elapsed();
        assert_eq!(
            error_text(&r),
            "label slow: request failed",
            "cycle {cycle}"
        );
        // The server answers after 3 s; the TTL (250 ms) ends the call long before.
        assert!(
            took < Duration::from_millis(2500),
            "cut by the TTL, not the server: {took:?}"
        );
        let init = rpc(
            &emu,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "ttl", "version": "1"}}}),
        );
        let init = init.resp_json.expect("initialize answered");
        assert_eq!(init["result"]["serverInfo"]["name"], "harpoon", "{init}");
        assert!(!init.to_string().contains("closed pipe"), "{init}");
        let r = call(&emu, json!({"label": "fast", "method": "GET"}));
        assert_eq!(body_text(&r), "late", "cycle {cycle}: {r}");
    }
    // Let the slow server's late answers come and go: nothing more is posted.
    std::thread::sleep(Duration::from_millis(3200));
    let mut seen = std::collections::HashMap::new();
    for p in emu.responses() {
        *seen.entry(p.request_id.clone()).or_insert(0) += 1;
    }
    assert!(
        seen.values().all(|n| *n == 1),
        "one response per command: {seen:?}"
    );
    assert!(client.logs().contains("harpoon request failed: label=slow"));
}
