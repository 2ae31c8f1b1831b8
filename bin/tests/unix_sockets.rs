//! Unix sockets through `tunnel-client run` (issue #17): an MCP binding with `unix-socket=`
//! talks HTTP to the Python MCP SDK served by uvicorn on a socket (`--uds`), never through a
//! proxy.

mod net_support;
mod support;

use std::time::{Duration, Instant};

use net_support::ForwardProxy;
use support::{Client, Scratch};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::peers::Peers;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn unix_socket_binding_reaches_the_python_sdk_and_is_never_proxied() {
    let peers = Peers::require();
    let dir = Scratch::new("uds");
    let sock = dir.path("mcp.sock");
    let _server = net_support::UdsServer::start(&peers, &sock);
    let proxy = ForwardProxy::start(None);
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    // The host in the URL is only the Host header (the SDK accepts localhost:*); the
    // connection goes to the socket. An MCP proxy and an environment proxy are both set,
    // and both must be ignored for this binding.
    let args = vec![
        "--mcp.server-url".to_string(),
        format!(
            "channel=main,url=http://localhost:9/mcp,unix-socket={}",
            sock.display()
        ),
        "--mcp.http-proxy".to_string(),
        proxy.url(None),
        "--mcp.startup-wait-timeout".to_string(),
        "5s".to_string(),
    ];
    let purl = proxy.url(None);
    let c = Client::start_with_env(&emu, &args, &[("HTTP_PROXY", &purl)]);
    let result = net_support::tools_list(&emu, WAIT);
    let names: Vec<&str> = result["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{result}\n{}", c.logs()))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(!names.is_empty(), "{result}");
    assert!(
        proxy.carried().is_empty(),
        "a unix-socket binding went through a proxy: {:#?}",
        proxy.carried()
    );
}

/// One request over the unix socket; (status, body).
fn unix_get(sock: &std::path::Path, path: &str, extra: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("connect health socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {out:?}"));
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn health_and_admin_listen_on_a_unix_socket_which_counts_as_loopback() {
    let dir = Scratch::new("health-uds");
    let sock = dir.path("health.sock");
    // A socket file left behind by a killed run is replaced, not an error.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let stub = tunnel_conformance::mcp_stub::McpStub::start(Default::default()).expect("stub");
    let args = vec![
        "--mcp.server-url".to_string(),
        stub.url(),
        "--health.unix-socket".to_string(),
        sock.display().to_string(),
    ];
    let mut c = Client::start(&emu, &args);
    assert_eq!(
        c.health,
        format!("unix:{}", sock.display()),
        "the URL file names the socket"
    );
    assert_eq!(unix_get(&sock, "/healthz", ""), (200, "live\n".to_string()));
    // The admin API is loopback-only; a unix-socket connection is local (Go's LocalOnly),
    // whatever a forwarding header claims.
    let (code, body) = unix_get(&sock, "/api/status", "X-Forwarded-For: 203.0.113.9\r\n");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status["health_listen_addr"],
        format!("unix:{}", sock.display())
    );
    // The line follows the URL file by a moment: wait for it rather than race it.
    let line = format!("health URL: unix:{}", sock.display());
    let until = Instant::now() + WAIT;
    while !c.logs().contains(&line) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(c.logs().contains(&line), "{}", c.logs());
    c.signal("TERM");
    assert!(c.wait_exit(WAIT).success(), "{}", c.logs());
    assert!(!sock.exists(), "the socket file is removed at exit");
}
