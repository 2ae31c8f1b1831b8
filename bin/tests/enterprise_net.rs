//! Enterprise networking through `tunnel-client run` (issue #17): a private CA
//! (`--ca-bundle`), control-plane mTLS, explicit and environment proxies with `NO_PROXY`,
//! per-binding proxies. Local servers only: the emulator and the MCP stub behind a TLS front
//! signed by a CA generated in the test, and a recording proxy (tests/net_support).

mod net_support;
mod support;

use std::time::Duration;

use net_support::{ForwardProxy, Handshake, Pki, TlsFront};
use serde_json::json;
use support::{Client, Scratch};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "Pr0xyS3cret";

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator")
}

fn stub() -> McpStub {
    McpStub::start(StubConfig::default()).expect("stub")
}

fn s(v: &str) -> String {
    v.to_string()
}

/// One `initialize` through the tunnel; the terminal response's status.
fn initialize(emu: &Emulator) -> Option<i64> {
    let id = emu.enqueue(CommandSpec::jsonrpc(json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "net", "version": "1"}}
    })));
    emu.wait_terminal(&id, WAIT)
        .and_then(|p| p.last().map(|r| r.resp_code))
}

/// Waits for `/readyz` to stay non-200 and returns its body (the reason).
fn not_ready(c: &Client) -> String {
    std::thread::sleep(Duration::from_secs(2));
    let (code, body) = c.get("/readyz");
    assert_ne!(
        code,
        200,
        "ready although it cannot reach the control plane:\n{}",
        c.logs()
    );
    body
}

fn control_plane_path(emu: &Emulator) -> String {
    emu.control_plane_url()
        .split_once("://")
        .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_string()))
        .unwrap_or_default()
}

#[test]
fn private_ca_control_plane_and_mcp_fail_without_the_bundle_and_work_with_it() {
    let dir = Scratch::new("pki");
    let pki = Pki::new(dir.path("pki"));
    let emu = emulator();
    let mcp = stub();
    let cp_front = TlsFront::start(&pki, false, emu.addr());
    let mcp_front = TlsFront::start(&pki, false, mcp.addr());
    let cp_url = format!(
        "https://localhost:{}{}",
        cp_front.addr.port(),
        control_plane_path(&emu)
    );
    let mcp_url = format!("https://localhost:{}/mcp", mcp_front.addr.port());
    let args = vec![
        s("--control-plane.base-url"),
        cp_url.clone(),
        s("--mcp.server-url"),
        mcp_url.clone(),
    ];

    // Without the bundle: the handshake fails on our side (unknown issuer), nothing polls.
    let c = Client::start(&emu, &args);
    let why = not_ready(&c);
    assert!(emu.polls().is_empty(), "polled without trusting the CA");
    assert!(
        cp_front
            .handshakes()
            .iter()
            .all(|h| matches!(h, Handshake::Failed(_))),
        "{:?}",
        cp_front.handshakes()
    );
    let logs = c.logs();
    assert!(
        logs.contains("certificate signed by unknown authority") && logs.contains("--ca-bundle"),
        "the failure should name the certificate problem and the fix:\n{why}\n{logs}"
    );
    assert_eq!(
        logs.matches("TLS to the control plane failed").count(),
        1,
        "one warning per distinct reason, not one per retry:\n{logs}"
    );
    drop(c);

    // With it: both the control plane and the MCP server over HTTPS.
    let mut with = args.clone();
    with.extend([s("--ca-bundle"), pki.ca_pem.display().to_string()]);
    let c = Client::start(&emu, &with);
    c.wait_for("/readyz", 200, "", WAIT);
    assert_eq!(initialize(&emu), Some(200), "{}", c.logs());
    assert!(mcp_front
        .handshakes()
        .contains(&Handshake::Ok { client_cert: false }));
}

#[test]
fn mtls_control_plane_refuses_a_client_without_certificate_and_accepts_ours() {
    let dir = Scratch::new("mtls");
    let pki = Pki::new(dir.path("pki"));
    let emu = emulator();
    let mcp = stub();
    let front = TlsFront::start(&pki, true, emu.addr());
    let args = vec![
        s("--control-plane.base-url"),
        format!(
            "https://localhost:{}{}",
            front.addr.port(),
            control_plane_path(&emu)
        ),
        s("--mcp.server-url"),
        mcp.url(),
        s("--ca-bundle"),
        pki.ca_pem.display().to_string(),
    ];
    let c = Client::start(&emu, &args);
    not_ready(&c);
    assert!(emu.polls().is_empty(), "the server required a certificate");
    drop(c);

    let mut with = args.clone();
    with.extend([
        s("--control-plane.client-cert"),
        pki.client_cert.display().to_string(),
        s("--control-plane.client-key"),
        pki.client_key.display().to_string(),
    ]);
    let c = Client::start(&emu, &with);
    c.wait_for("/readyz", 200, "", WAIT);
    assert_eq!(initialize(&emu), Some(200), "{}", c.logs());
    assert!(front
        .handshakes()
        .contains(&Handshake::Ok { client_cert: true }));
}

#[test]
fn explicit_proxy_tunnels_https_and_forwards_http_in_absolute_form_with_basic_auth() {
    let dir = Scratch::new("proxy");
    let pki = Pki::new(dir.path("pki"));
    let emu = emulator();
    let mcp = stub();
    let mcp_front = TlsFront::start(&pki, false, mcp.addr());
    let proxy = ForwardProxy::start(Some(("corp", SECRET)));
    let args = vec![
        s("--http-proxy"),
        proxy.url(Some(("corp", SECRET))),
        s("--mcp.server-url"),
        format!("https://mcp.test:{}/mcp", mcp_front.addr.port()),
        s("--ca-bundle"),
        pki.ca_pem.display().to_string(),
    ];
    let c = Client::start(&emu, &args);
    c.wait_for("/readyz", 200, "", WAIT);
    assert_eq!(initialize(&emu), Some(200), "{}", c.logs());
    let carried = proxy.carried();
    // The http control plane: absolute-form requests, even to a loopback address (an
    // explicit proxy bypasses the environment's rules, as in Go).
    let cp = format!("http://{}", emu.addr());
    assert!(
        carried
            .iter()
            .any(|r| r.method == "GET" && r.target.starts_with(&cp)),
        "{carried:#?}"
    );
    assert!(carried
        .iter()
        .any(|r| r.method == "POST" && r.target.starts_with(&cp)));
    // The https MCP server: a CONNECT tunnel to the name (the proxy resolves it).
    let connect = format!("mcp.test:{}", mcp_front.addr.port());
    assert!(
        carried
            .iter()
            .any(|r| r.method == "CONNECT" && r.target == connect),
        "{carried:#?}"
    );
    assert!(carried.iter().all(|r| r.authorized), "{carried:#?}");
    // The proxy sees no API key or MCP payload on the CONNECT; the credentials never reach
    // the logs or the status page.
    for r in carried.iter().filter(|r| r.method == "CONNECT") {
        assert!(!r.head.contains(emu.api_key()), "{}", r.head);
        assert!(!r.header_names.contains(&s("authorization")));
    }
    assert!(!c.logs().contains(SECRET), "proxy password in the logs");
    let (_, status) = c.get("/api/status");
    assert!(!status.contains(SECRET), "proxy password in /api/status");
    // Route reporting: both destinations through the flag's proxy, shown without
    // credentials, in /api/status and the log.
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let routes = status["routes"].as_array().expect("routes in /api/status");
    let shown = format!("http://{}", proxy.addr);
    for (kind, name) in [("control_plane", "control-plane"), ("mcp_channel", "main")] {
        let r = routes
            .iter()
            .find(|r| r["kind"] == kind && r["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} route: {routes:?}"));
        assert_eq!(r["route_mode"], "proxy", "{r}");
        assert_eq!(r["proxy_source"], "http-proxy", "{r}");
        assert_eq!(r["proxy_url"], shown.as_str(), "{r}");
        assert_eq!(r["proxy_id"].as_str().map(str::len), Some(64), "{r}");
    }
    // /api/system: the same routes, and the one proxy once in the identity map.
    let (code, system) = c.get("/api/system");
    assert_eq!(code, 200, "{system}");
    assert!(!system.contains(SECRET), "proxy password in /api/system");
    let system: serde_json::Value = serde_json::from_str(&system).unwrap();
    assert_eq!(system["routes"], status["routes"], "{system}");
    let map = system["proxy_identity_map"]
        .as_array()
        .expect("proxy_identity_map");
    assert_eq!(map.len(), 1, "{system}");
    assert_eq!(map[0]["proxy_url"], shown.as_str(), "{system}");
    assert_eq!(map[0]["proxy_id"], routes[0]["proxy_id"], "{system}");
    assert_eq!(
        system["tls"]["ca_bundle"],
        pki.ca_pem.display().to_string(),
        "{system}"
    );
    let logs = c.logs();
    assert!(
        logs.contains(&format!("route kind=mcp_channel name=main target=mcp.test:{} route_mode=proxy proxy_source=http-proxy proxy_url={shown}", mcp_front.addr.port())),
        "{logs}"
    );
    assert!(logs.contains("proxy identity map"), "{logs}");
}

#[test]
fn wrong_proxy_credentials_stop_traffic_and_the_password_is_not_logged() {
    let emu = emulator();
    let mcp = stub();
    let proxy = ForwardProxy::start(Some(("corp", "right")));
    let args = vec![
        s("--control-plane.http-proxy"),
        proxy.url(Some(("corp", SECRET))),
        s("--mcp.server-url"),
        mcp.url(),
    ];
    let c = Client::start(&emu, &args);
    not_ready(&c);
    assert!(emu.polls().is_empty());
    assert!(!proxy.carried().is_empty() && proxy.carried().iter().all(|r| !r.authorized));
    assert!(!c.logs().contains(SECRET));
}

#[test]
fn per_entry_proxy_differs_from_the_control_plane_proxy() {
    let emu = emulator();
    let mcp = stub();
    let cp_proxy = ForwardProxy::start(None);
    let mcp_proxy = ForwardProxy::start(Some(("mcp", SECRET)));
    let args = vec![
        s("--control-plane.http-proxy"),
        cp_proxy.url(None),
        s("--mcp.server-url"),
        format!(
            "channel=main,url=http://mcp.test:{}/mcp,http-proxy={}",
            mcp.addr().port(),
            mcp_proxy.url(Some(("mcp", SECRET)))
        ),
    ];
    let c = Client::start(&emu, &args);
    c.wait_for("/readyz", 200, "", WAIT);
    assert_eq!(initialize(&emu), Some(200), "{}", c.logs());
    let cp_seen = cp_proxy.carried();
    let mcp_seen = mcp_proxy.carried();
    assert!(
        !cp_seen.is_empty() && cp_seen.iter().all(|r| !r.target.contains("mcp.test")),
        "{cp_seen:#?}"
    );
    assert!(
        mcp_seen.iter().any(|r| r.method == "POST"
            && r.target == format!("http://mcp.test:{}/mcp", mcp.addr().port())),
        "{mcp_seen:#?}"
    );
    assert!(mcp_seen
        .iter()
        .all(|r| r.authorized && r.target.contains("mcp.test")));
    // The startup checks (probe, OAuth discovery) may still have a request between the
    // proxy and the stub when the snapshot above was taken: let both sides settle.
    // The proxy health checker's `CONNECT`s reach no MCP server: count requests only.
    let forwarded = || {
        mcp_proxy
            .carried()
            .iter()
            .filter(|r| r.method != "CONNECT")
            .count()
    };
    let deadline = std::time::Instant::now() + WAIT;
    let (mut at_stub, mut via_proxy) = (mcp.requests().len(), forwarded());
    while at_stub != via_proxy && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        (at_stub, via_proxy) = (mcp.requests().len(), forwarded());
    }
    assert_eq!(
        at_stub,
        via_proxy,
        "every MCP request went through its proxy: carried {:#?}, stub saw {:#?}",
        mcp_proxy.carried(),
        mcp.requests()
            .iter()
            .map(|r| (&r.method, &r.path))
            .collect::<Vec<_>>()
    );
}

#[test]
fn environment_proxy_carries_named_hosts_skips_loopback_and_honours_no_proxy() {
    let emu = emulator();
    let mcp = stub();
    let proxy = ForwardProxy::start(Some(("env", SECRET)));
    let cp_url = format!(
        "http://cp.test:{}{}",
        emu.addr().port(),
        control_plane_path(&emu)
    );
    let args = vec![
        s("--control-plane.base-url"),
        cp_url,
        s("--mcp.server-url"),
        mcp.url(),
    ];
    let purl = proxy.url(Some(("env", SECRET)));
    let c = Client::start_with_env(&emu, &args, &[("HTTP_PROXY", &purl)]);
    c.wait_for("/readyz", 200, "", WAIT);
    assert_eq!(initialize(&emu), Some(200), "{}", c.logs());
    let seen = proxy.carried();
    assert!(
        seen.iter().any(|r| r.target.starts_with("http://cp.test:")),
        "{seen:#?}"
    );
    // The MCP server on 127.0.0.1 is never sent to an environment proxy.
    assert!(
        seen.iter()
            .all(|r| !r.target.contains(&mcp.addr().to_string())),
        "{seen:#?}"
    );
    assert!(!mcp.requests().is_empty());
    let (_, status) = c.get("/api/status");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let routes = status["routes"].as_array().expect("routes");
    assert!(
        routes.iter().any(|r| r["kind"] == "control_plane"
            && r["route_mode"] == "proxy"
            && r["proxy_source"] == "env:HTTP_PROXY"),
        "{routes:?}"
    );
    assert!(
        routes
            .iter()
            .any(|r| r["kind"] == "mcp_channel" && r["route_mode"] == "direct"),
        "{routes:?}"
    );
    assert!(!status.to_string().contains(SECRET));
    drop(c);

    // NO_PROXY names the control plane: it is dialled directly (and `cp.test` does not
    // resolve outside the proxy), so the proxy carries nothing more.
    let before = proxy.carried().len();
    let c = Client::start_with_env(
        &emu,
        &args,
        &[
            ("HTTP_PROXY", &purl),
            ("NO_PROXY", "example.com, .other.test,cp.test"),
        ],
    );
    not_ready(&c);
    assert_eq!(proxy.carried().len(), before, "{:#?}", proxy.carried());
    assert!(!c.logs().contains(SECRET));
}

#[test]
fn the_platform_trust_store_is_honoured_and_the_bundle_adds_to_it() {
    let dir = Scratch::new("systrust");
    let pki = Pki::new(dir.path("pki"));
    let other = Pki::new(dir.path("other"));
    let emu = emulator();
    let mcp = stub();
    let cp_front = TlsFront::start(&pki, false, emu.addr());
    let mcp_front = TlsFront::start(&other, false, mcp.addr());
    let args = vec![
        s("--control-plane.base-url"),
        format!(
            "https://localhost:{}{}",
            cp_front.addr.port(),
            control_plane_path(&emu)
        ),
        s("--mcp.server-url"),
        format!("https://localhost:{}/mcp", mcp_front.addr.port()),
        // The MCP server's CA comes from the bundle...
        s("--ca-bundle"),
        other.ca_pem.display().to_string(),
    ];
    // ...the control plane's from the system store (SSL_CERT_FILE is how an operator or a
    // distribution points OpenSSL-style stores at a file): both are trusted together.
    let ca = pki.ca_pem.display().to_string();
    let c = Client::start_with_env(&emu, &args, &[("SSL_CERT_FILE", &ca)]);
    c.wait_for("/readyz", 200, "", WAIT);
    assert_eq!(initialize(&emu), Some(200), "{}", c.logs());
    // The bundle's certificate is named by its SHA-256 id.
    let pem = std::fs::read(&other.ca_pem).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(&pem)
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
    let id = ring_sha256_hex(&der);
    assert!(
        c.logs().contains("tls trust summary") && c.logs().contains(&id),
        "{id}\n{}",
        c.logs()
    );
    // /api/system reports the same trust store: the system roots counted, the bundle's
    // certificate by id.
    let (code, system) = c.get("/api/system");
    assert_eq!(code, 200, "{system}");
    let system: serde_json::Value = serde_json::from_str(&system).unwrap();
    let tls = &system["tls"];
    assert_eq!(tls["trust_source"], "system cert pool", "{system}");
    assert!(tls["system_cert_count"].as_u64() >= Some(1), "{system}");
    assert_eq!(
        tls["ca_bundle_cert_ids"],
        serde_json::json!([id]),
        "{system}"
    );
    assert_eq!(tls["mcp_client_cert"], false, "{system}");
    // Go's per-certificate fields: names and validity (rcgen's defaults: 1975 to 4096), in
    // the log line and in `extra_bundle`.
    let cert = &tls["extra_bundle"]["certificates"][0];
    assert_eq!(cert["cert_id"], id.as_str(), "{system}");
    assert_eq!(
        cert["subject_cn"], "tunnel-client test private CA",
        "{cert}"
    );
    assert_eq!(cert["issuer_cn"], "tunnel-client test private CA", "{cert}");
    assert_eq!(cert["not_before"], "1975-01-01T00:00:00Z", "{cert}");
    assert_eq!(cert["not_after"], "4096-01-01T00:00:00Z", "{cert}");
    assert_eq!(cert["parse_status"], "ok", "{cert}");
    assert_eq!(tls["extra_bundle"]["cert_count"], 1, "{system}");
    let logs = c.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("tls trust summary"))
        .unwrap();
    for want in [
        "subject_cn=\"tunnel-client test private CA\"",
        "issuer_cn=\"tunnel-client test private CA\"",
        "not_after=4096-01-01T00:00:00Z",
    ] {
        assert!(line.contains(want), "{want} not in {line}");
    }
}

#[test]
fn per_binding_mcp_client_certificate_goes_to_its_origin_only() {
    let dir = Scratch::new("mcpmtls");
    let pki = Pki::new(dir.path("pki"));
    let emu = emulator();
    let (with_cert, without_cert) = (stub(), stub());
    let strict = TlsFront::start(&pki, true, with_cert.addr());
    let open = TlsFront::start(&pki, false, without_cert.addr());
    let args = vec![
        s("--ca-bundle"),
        pki.ca_pem.display().to_string(),
        s("--mcp.server-url"),
        format!(
            "channel=main,url=https://localhost:{}/mcp,client-cert={},client-key={}",
            strict.addr.port(),
            pki.client_cert.display(),
            pki.client_key.display()
        ),
        s("--mcp.server-url"),
        format!(
            "channel=other,url=https://localhost:{}/mcp",
            open.addr.port()
        ),
        s("--control-plane.poll-channel"),
        s("main"),
        s("--control-plane.poll-channel"),
        s("other"),
    ];
    let c = Client::start(&emu, &args);
    c.wait_for("/readyz", 200, "", WAIT);
    assert_eq!(initialize(&emu), Some(200), "{}", c.logs());
    let id = emu.enqueue(
        CommandSpec::jsonrpc(json!({
            "jsonrpc": "2.0", "id": 2, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "net", "version": "1"}}
        }))
        .on_channel("other"),
    );
    let posts = emu
        .wait_terminal(&id, WAIT)
        .expect("terminal on channel other");
    assert_eq!(posts.last().map(|p| p.resp_code), Some(200), "{}", c.logs());
    assert!(strict
        .handshakes()
        .contains(&Handshake::Ok { client_cert: true }));
    // (The readiness probe's bare TCP connects show up as failed handshakes.)
    let seen = open.handshakes();
    assert!(
        seen.contains(&Handshake::Ok { client_cert: false })
            && !seen.contains(&Handshake::Ok { client_cert: true }),
        "the other binding's server got a certificate: {seen:?}"
    );
    // /api/system says an MCP client certificate is in use, though only per binding.
    let (code, system) = c.get("/api/system");
    assert_eq!(code, 200, "{system}");
    let system: serde_json::Value = serde_json::from_str(&system).expect("json");
    assert_eq!(system["tls"]["mcp_client_cert"], true, "{system}");
}

#[test]
fn https_proxy_gets_tls_first_and_the_credentials_inside_it() {
    let dir = Scratch::new("httpsproxy");
    let pki = Pki::new(dir.path("pki"));
    let emu = emulator();
    let mcp = stub();
    let mcp_front = TlsFront::start(&pki, false, mcp.addr());
    let proxy = ForwardProxy::start(Some(("corp", SECRET)));
    // TLS to the proxy: a TLS front (our private CA) in front of the recording proxy.
    let proxy_tls = TlsFront::start(&pki, false, proxy.addr);
    let args = vec![
        s("--mcp.http-proxy"),
        format!("https://corp:{SECRET}@localhost:{}", proxy_tls.addr.port()),
        s("--mcp.server-url"),
        format!("https://mcp.test:{}/mcp", mcp_front.addr.port()),
        s("--ca-bundle"),
        pki.ca_pem.display().to_string(),
    ];
    let c = Client::start(&emu, &args);
    c.wait_for("/readyz", 200, "", WAIT);
    assert_eq!(initialize(&emu), Some(200), "{}", c.logs());
    let carried = proxy.carried();
    let connect = format!("mcp.test:{}", mcp_front.addr.port());
    assert!(
        carried
            .iter()
            .any(|r| r.method == "CONNECT" && r.target == connect && r.authorized),
        "{carried:#?}"
    );
    assert!(proxy_tls
        .handshakes()
        .contains(&Handshake::Ok { client_cert: false }));
    assert!(!c.logs().contains(SECRET));
}

/// Hex SHA-256 (ring: a dependency of the binary already).
fn ring_sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
