//! `Type=notify` under systemd, with a Unix datagram socket standing in for the service
//! manager: `run` sends READY=1 only once `/readyz` says ready, and STOPPING=1 when SIGTERM
//! starts the drain.
#![cfg(unix)]

mod support;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use support::{Client, Scratch};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

fn recv(sock: &UnixDatagram) -> Option<String> {
    let mut buf = [0u8; 1024];
    match sock.recv(&mut buf) {
        Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("notify socket: {e}"),
    }
}

#[test]
fn ready_is_sent_once_readyz_holds_and_stopping_on_sigterm() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let scratch = Scratch::new("notify");
    let sock_path = scratch.path("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");

    // The MCP target's port is known but nothing listens yet: not ready.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut client = Client::start_with_env(
        &emu,
        &["--mcp.server-url".into(), url],
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    client.wait_for("/readyz", 503, "unreachable", Duration::from_secs(20));
    sock.set_read_timeout(Some(Duration::from_millis(600)))
        .unwrap();
    assert_eq!(recv(&sock), None, "READY=1 sent while /readyz is 503");
    // Still not ready after the wait: the notification follows readiness, not the clock.
    assert_eq!(client.get("/readyz").0, 503);

    let _stub = McpStub::start(StubConfig {
        listen_addr: ([127, 0, 0, 1], port).into(),
        ..StubConfig::default()
    })
    .expect("MCP stub on the reserved port");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let ready = recv(&sock).expect("READY=1 within 20 s of the target coming up");
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert_eq!(client.get("/readyz").0, 200, "READY=1 means /readyz is 200");

    client.signal("TERM");
    let stopping = recv(&sock).expect("STOPPING=1 on SIGTERM");
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    assert!(client.wait_exit(Duration::from_secs(30)).success());
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(
        recv(&sock),
        None,
        "one READY and one STOPPING, nothing else"
    );
}

#[test]
fn without_notify_socket_nothing_is_required() {
    // The ordinary case: not under systemd. The client starts, serves and drains as usual.
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let stub = McpStub::start(StubConfig::default()).expect("stub");
    let mut client = Client::start(&emu, &["--mcp.server-url".into(), stub.url()]);
    client.wait_for("/readyz", 200, "ready", Duration::from_secs(20));
    assert!(!client.logs().contains("systemd"), "{}", client.logs());
    client.signal("TERM");
    assert!(client.wait_exit(Duration::from_secs(30)).success());
}
