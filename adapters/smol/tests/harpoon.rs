//! Harpoon on the smol adapter (issue #15, as `bin/tests/harpoon_e2e.rs` runs it on the
//! blocking one): the `harpoon` channel serves `call_target` through the control plane, hops
//! reach only allowlisted targets, the address guard refuses the metadata address before
//! anything connects, and `--harpoon.http-proxy` carries the hops. Local servers only.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
use tunnel_conformance::net_kit::ForwardProxy;
use tunnel_core::engine::EngineConfig;
use tunnel_core::harpoon::{Registry, Server, Settings, TargetSpec};
use tunnel_smol::{start, ProxyEnv, RuntimeOptions, TlsOptions};

const WAIT: Duration = Duration::from_secs(20);

/// A loopback HTTP server answering `answer` (status line and headers, then `body`) to
/// every request, one per connection; counts connections.
struct Target {
    addr: String,
    hits: Arc<AtomicUsize>,
}

impl Target {
    fn start(head: &'static str, body: &'static str) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                h.fetch_add(1, Ordering::SeqCst);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let answer = format!(
                    "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes());
            }
        });
        Target { addr, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn call(emu: &Emulator, args: Value) -> Value {
    let id = emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "call_target", "arguments": args}}))
        .on_channel("harpoon"),
    );
    let p = emu
        .wait_terminal(&id, WAIT)
        .expect("terminal")
        .pop()
        .unwrap();
    assert_eq!(
        (p.channel.as_deref(), p.resp_code),
        (Some("harpoon"), 200),
        "{p:?}"
    );
    p.resp_json.expect("resp_json")["result"].clone()
}

fn error_text(result: &Value) -> String {
    assert_eq!(result["isError"], true, "{result}");
    result["content"][0]["text"].as_str().unwrap().to_string()
}

/// Runs the tunnel with `targets` (label, url) and `tls`, and hands the emulator to `f`.
fn with_tunnel(targets: &[(&str, String)], tls: TlsOptions, f: impl FnOnce(&Emulator)) {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let mut registry = Registry::new(true);
    for (label, url) in targets {
        registry.register(TargetSpec::config(label, url)).unwrap();
    }
    let mut cfg = EngineConfig::new(
        emu.base_url().parse().unwrap(),
        emu.tunnel_id(),
        emu.api_key(),
    );
    cfg.poll_timeout = Duration::from_secs(2);
    cfg.bindings.clear();
    cfg.harpoon = Some(Server::new(registry, Settings::default()));
    let opts = RuntimeOptions {
        tls: TlsOptions {
            proxy_env: Some(ProxyEnv::default()),
            ..tls
        },
        ..RuntimeOptions::default()
    };
    let (handle, driver) = start(cfg, opts).expect("start");
    let thread = std::thread::spawn(move || futures_lite::future::block_on(driver));
    let end = Instant::now() + WAIT;
    while handle.readiness().is_err() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(handle.readiness(), Ok(()));
    f(&emu);
    handle.stop();
    thread.join().unwrap();
}

#[test]
fn harpoon_channel_reaches_allowlisted_targets_and_the_guard_refuses_metadata() {
    let target = Target::start("HTTP/1.1 200 OK\r\nContent-Type: text/plain", "pong");
    let blocked = Target::start("HTTP/1.1 200 OK", "secret");
    let hop = format!(
        "HTTP/1.1 302 Found\r\nLocation: http://{}/steal",
        blocked.addr
    );
    let redirector = Target::start(Box::leak(hop.into_boxed_str()), "");
    let port = target.addr.rsplit(':').next().unwrap().to_string();
    let targets = [
        // By name: resolved once by the adapter, checked, then dialled.
        ("api", format!("http://localhost:{port}/")),
        ("hop", format!("http://{}/go", redirector.addr)),
        (
            "meta",
            "http://169.254.169.254/latest/meta-data".to_string(),
        ),
        // IP literals are refused by the core before a request exists; the name `0`
        // resolves to 0.0.0.0, which reaches the loopback server on Linux: only the
        // adapter's check of what it resolved stands in between.
        ("zero", format!("http://0:{port}/")),
    ];
    with_tunnel(&targets, TlsOptions::default(), |emu| {
        let r = call(emu, json!({"label": "api", "method": "GET"}));
        assert_eq!(r["structuredContent"]["status_code"], 200, "{r}");
        assert_eq!(r["structuredContent"]["body_base64"], "cG9uZw==", "{r}");
        assert_eq!(target.hits(), 1);

        let r = call(emu, json!({"label": "hop", "method": "GET"}));
        assert_eq!(error_text(&r), "label hop: redirect blocked");
        assert_eq!((redirector.hits(), blocked.hits()), (1, 0));

        // Refused by the address guard before any connection: the caller sees Go's text.
        let r = call(emu, json!({"label": "meta", "method": "GET"}));
        assert_eq!(error_text(&r), "label meta: request failed");
        let r = call(emu, json!({"label": "zero", "method": "GET"}));
        assert_eq!(error_text(&r), "label zero: request failed");
        assert_eq!(target.hits(), 1, "the guard let a refused address through");
    });
}

#[test]
fn harpoon_proxy_carries_only_the_allowed_hops() {
    let target = Target::start("HTTP/1.1 200 OK", "via proxy");
    let port = target.addr.rsplit(':').next().unwrap().to_string();
    let proxy = ForwardProxy::start(Some(("h", "pw")));
    let tls = TlsOptions {
        harpoon_proxy: Some(proxy.url(Some(("h", "pw")))),
        ..TlsOptions::default()
    };
    let targets = [
        // A name only the proxy knows.
        ("api", format!("http://api.test:{port}/x")),
        (
            "meta",
            "http://169.254.169.254/latest/meta-data".to_string(),
        ),
        // The proxy would reach it (it dials IP literals on loopback): the guard must not.
        ("zero", format!("http://0.0.0.0:{port}/")),
    ];
    with_tunnel(&targets, tls, |emu| {
        let r = call(emu, json!({"label": "api", "method": "GET"}));
        assert_eq!(r["structuredContent"]["status_code"], 200, "{r}");
        for label in ["zero", "meta"] {
            let r = call(emu, json!({"label": label, "method": "GET"}));
            assert_eq!(error_text(&r), format!("label {label}: request failed"));
        }
    });
    let carried = proxy.carried();
    assert_eq!(
        carried.len(),
        1,
        "only the allowed hop reached the proxy: {carried:#?}"
    );
    assert_eq!(carried[0].method, "GET");
    assert_eq!(carried[0].target, format!("http://api.test:{port}/x"));
    assert!(carried[0].authorized);
    assert_eq!(target.hits(), 1);
}
