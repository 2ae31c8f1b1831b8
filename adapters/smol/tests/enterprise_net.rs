//! Enterprise networking on the smol adapter (issue #17 item 6): the matrix the binary's
//! `enterprise_net.rs` and `unix_sockets.rs` run on the blocking adapter, driven here
//! through `tunnel_smol::start` directly. A private CA (`--ca-bundle`), an mTLS control
//! plane, explicit and environment proxies with `NO_PROXY`, per-binding proxies and
//! certificates, an https proxy, a unix-socket MCP server. Local servers only: the emulator
//! and the MCP stub behind TLS fronts signed by a CA generated per test, and a recording
//! proxy (`tunnel_conformance::net_kit`).

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
use tunnel_conformance::net_kit::{ForwardProxy, Handshake, Pki, TlsFront};
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{Binding, BindingKind, EngineConfig};
use tunnel_smol::{
    start, ClientCertPaths, ExplicitProxy, Finished, HttpTarget, ProxyEnv, RuntimeHandle,
    RuntimeOptions, TlsOptions,
};

const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "Pr0xyS3cret";

/// Every log line of this test binary (all tests share the logger).
static LINES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        LINES.lock().unwrap().push(r.args().to_string());
    }
    fn flush(&self) {}
}

/// The log so far; asserts that no proxy password ever reached it.
fn logs() -> String {
    let _ = log::set_logger(&Capture).map(|()| log::set_max_level(log::LevelFilter::Info));
    let all = LINES.lock().unwrap().join("\n");
    assert!(
        !all.contains(SECRET),
        "a proxy password reached the log:\n{all}"
    );
    all
}

/// A smol runtime on its own thread; stopped and joined when dropped.
struct Tunnel {
    handle: RuntimeHandle,
    thread: Option<JoinHandle<Finished>>,
}

impl Tunnel {
    fn start(cfg: EngineConfig, opts: RuntimeOptions) -> Tunnel {
        logs(); // installs the logger
        let (handle, driver) = start(cfg, opts).expect("start");
        let thread = std::thread::spawn(move || futures_lite::future::block_on(driver));
        Tunnel {
            handle,
            thread: Some(thread),
        }
    }

    fn ready(&self) -> Result<(), String> {
        let end = Instant::now() + WAIT;
        loop {
            let r = self.handle.readiness();
            if r.is_ok() || Instant::now() > end {
                return r;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stays not ready for a while (it cannot reach the control plane).
    fn never_ready(&self) {
        std::thread::sleep(Duration::from_secs(2));
        assert!(self.handle.readiness().is_err(), "ready without a way out");
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("smol-net-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The engine configuration for `emu`, its control plane at `base` (scheme and authority).
fn config(emu: &Emulator, base: &str) -> EngineConfig {
    let mut cfg = EngineConfig::new(base.parse().unwrap(), emu.tunnel_id(), emu.api_key());
    cfg.url_path = emu
        .control_plane_url()
        .trim_start_matches(&emu.base_url())
        .to_string();
    cfg.poll_timeout = Duration::from_secs(2);
    cfg
}

fn opts(targets: Vec<HttpTarget>, tls: TlsOptions) -> RuntimeOptions {
    RuntimeOptions {
        mcp_targets: targets,
        tls: TlsOptions {
            // Tests never read the process environment (they run in parallel).
            proxy_env: tls.proxy_env.clone().or(Some(ProxyEnv::default())),
            ..tls
        },
        ..RuntimeOptions::default()
    }
}

fn main_target(url: String) -> Vec<HttpTarget> {
    vec![HttpTarget::new(ChannelName::main(), url)]
}

fn bundle(pki: &Pki) -> TlsOptions {
    TlsOptions {
        ca_bundle: Some(pki.ca_pem.clone()),
        ..TlsOptions::default()
    }
}

fn cert(pki: &Pki) -> ClientCertPaths {
    ClientCertPaths {
        cert_chain: pki.client_cert.clone(),
        private_key: pki.client_key.clone(),
    }
}

/// One `initialize` on `channel` through the tunnel; the terminal response's status.
fn initialize_on(emu: &Emulator, channel: &str) -> Option<i64> {
    let id = emu.enqueue(
        CommandSpec::jsonrpc(json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "net", "version": "1"}}
        }))
        .on_channel(channel),
    );
    emu.wait_terminal(&id, WAIT)
        .and_then(|p| p.last().map(|r| r.resp_code))
}

fn initialize(emu: &Emulator) -> Option<i64> {
    initialize_on(emu, "main")
}

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator")
}

fn stub() -> McpStub {
    McpStub::start(StubConfig::default()).expect("stub")
}

#[test]
fn private_ca_fails_without_the_bundle_and_works_with_it() {
    let pki = Pki::new(scratch("pki"));
    let (emu, mcp) = (emulator(), stub());
    let cp_front = TlsFront::start(&pki, false, emu.addr());
    let mcp_front = TlsFront::start(&pki, false, mcp.addr());
    let base = format!("https://localhost:{}", cp_front.addr.port());
    let mcp_url = format!("https://localhost:{}/mcp", mcp_front.addr.port());

    let t = Tunnel::start(
        config(&emu, &base),
        opts(main_target(mcp_url.clone()), TlsOptions::default()),
    );
    t.never_ready();
    drop(t);
    assert!(emu.polls().is_empty(), "polled without trusting the CA");
    assert!(cp_front
        .handshakes()
        .iter()
        .all(|h| matches!(h, Handshake::Failed(_))));

    let t = Tunnel::start(
        config(&emu, &base),
        opts(main_target(mcp_url), bundle(&pki)),
    );
    assert_eq!(t.ready(), Ok(()));
    assert_eq!(initialize(&emu), Some(200));
    assert!(mcp_front
        .handshakes()
        .contains(&Handshake::Ok { client_cert: false }));
    // The bundle's certificate is named by its SHA-256 id and described, as `run` does.
    let pem = std::fs::read(&pki.ca_pem).unwrap();
    let der: rustls::pki_types::CertificateDer<'static> =
        rustls::pki_types::pem::PemObject::from_pem_slice(&pem).unwrap();
    let id: String = ring::digest::digest(&ring::digest::SHA256, &der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let want = format!(
        "from CA bundle {}: [cert_id={id} name=\"tunnel-client test private CA\"",
        pki.ca_pem.display()
    );
    assert!(logs().contains(&want), "{want}\n{}", logs());
}

#[test]
fn a_ca_bundle_without_certificates_is_refused_in_gos_words() {
    let dir = scratch("badbundle");
    let path = dir.join("empty.pem");
    std::fs::write(&path, "not pem").unwrap();
    let emu = emulator();
    let tls = TlsOptions {
        ca_bundle: Some(path.clone()),
        ..TlsOptions::default()
    };
    let err = start(config(&emu, &emu.base_url()), opts(vec![], tls))
        .err()
        .expect("refused");
    let want = format!(
        "invalid ca-bundle \"{}\": PEM bundle contained no certificates",
        path.display()
    );
    assert_eq!(err.to_string(), want);
}

#[test]
fn mtls_control_plane_refuses_a_client_without_certificate_and_accepts_ours() {
    let pki = Pki::new(scratch("mtls"));
    let (emu, mcp) = (emulator(), stub());
    let front = TlsFront::start(&pki, true, emu.addr());
    let base = format!("https://localhost:{}", front.addr.port());

    let t = Tunnel::start(
        config(&emu, &base),
        opts(main_target(mcp.url()), bundle(&pki)),
    );
    t.never_ready();
    drop(t);
    assert!(emu.polls().is_empty(), "the server required a certificate");

    let tls = TlsOptions {
        control_plane_client_cert: Some(cert(&pki)),
        ..bundle(&pki)
    };
    let t = Tunnel::start(config(&emu, &base), opts(main_target(mcp.url()), tls));
    assert_eq!(t.ready(), Ok(()));
    assert_eq!(initialize(&emu), Some(200));
    assert!(front
        .handshakes()
        .contains(&Handshake::Ok { client_cert: true }));
    // The MCP server (plain http here) never saw the control plane's certificate: only the
    // control plane's origin gets it.
}

#[test]
fn explicit_proxy_tunnels_https_and_forwards_http_in_absolute_form_with_basic_auth() {
    let pki = Pki::new(scratch("proxy"));
    let (emu, mcp) = (emulator(), stub());
    let mcp_front = TlsFront::start(&pki, false, mcp.addr());
    let proxy = ForwardProxy::start(Some(("corp", SECRET)));
    let url = proxy.url(Some(("corp", SECRET)));
    let tls = TlsOptions {
        control_plane_proxy: Some(url.clone()),
        mcp_proxy: Some(url),
        ..bundle(&pki)
    };
    let mcp_url = format!("https://mcp.test:{}/mcp", mcp_front.addr.port());
    let t = Tunnel::start(
        config(&emu, &emu.base_url()),
        opts(main_target(mcp_url), tls),
    );
    assert_eq!(t.ready(), Ok(()));
    assert_eq!(initialize(&emu), Some(200));
    let carried = proxy.carried();
    // The http control plane: absolute-form requests, even to a loopback address (an
    // explicit proxy bypasses the environment's rules, as in Go).
    let cp = format!("http://{}", emu.addr());
    for method in ["GET", "POST"] {
        assert!(
            carried
                .iter()
                .any(|r| r.method == method && r.target.starts_with(&cp)),
            "{method}: {carried:#?}"
        );
    }
    // The https MCP server: a CONNECT tunnel to the name (the proxy resolves it).
    let connect = format!("mcp.test:{}", mcp_front.addr.port());
    assert!(
        carried
            .iter()
            .any(|r| r.method == "CONNECT" && r.target == connect),
        "{carried:#?}"
    );
    assert!(carried.iter().all(|r| r.authorized), "{carried:#?}");
    for r in carried.iter().filter(|r| r.method == "CONNECT") {
        assert!(!r.head.contains(emu.api_key()), "{}", r.head);
        assert!(!r.header_names.contains(&"authorization".to_string()));
    }
    // Route reporting: both destinations through the explicit proxy, shown without
    // credentials, on the handle and in the log.
    let shown = format!("http://{}", proxy.addr);
    let routes = t.handle.routes();
    assert_eq!(routes.len(), 2, "{routes:?}");
    for r in routes {
        assert_eq!(r.mode.as_str(), "proxy", "{r:?}");
        assert_eq!(r.proxy_url().as_deref(), Some(shown.as_str()), "{r:?}");
        assert!(!format!("{r:?}").contains(SECRET));
    }
    assert_eq!(routes[0].source, "control-plane.http-proxy");
    assert_eq!(routes[1].source, "mcp.http-proxy");
    let line = format!(
        "route kind=mcp_channel name=main target={connect} route_mode=proxy proxy_source=mcp.http-proxy proxy_url={shown} proxy_id="
    );
    assert!(logs().contains(&line), "{}", logs());
}

#[test]
fn wrong_proxy_credentials_stop_traffic() {
    let pki = Pki::new(scratch("wrongcreds"));
    let (emu, mcp) = (emulator(), stub());
    // An https control plane, so the proxy's 407 answers the CONNECT.
    let front = TlsFront::start(&pki, false, emu.addr());
    let proxy = ForwardProxy::start(Some(("corp", "right")));
    let tls = TlsOptions {
        control_plane_proxy: Some(proxy.url(Some(("corp", SECRET)))),
        ..bundle(&pki)
    };
    let base = format!("https://cp.test:{}", front.addr.port());
    let t = Tunnel::start(config(&emu, &base), opts(main_target(mcp.url()), tls));
    t.never_ready();
    drop(t);
    assert!(emu.polls().is_empty());
    assert!(
        logs().contains("answered CONNECT with HTTP 407"),
        "{}",
        logs()
    );
    let carried = proxy.carried();
    assert!(
        !carried.is_empty() && carried.iter().all(|r| !r.authorized),
        "{carried:#?}"
    );
}

#[test]
fn a_bad_proxy_url_is_refused_at_start_without_its_password() {
    let emu = emulator();
    let target = HttpTarget {
        proxy: Some(ExplicitProxy {
            url: format!("socks5://u:{SECRET}@proxy:1"),
            source: "mcp.server-url".into(),
        }),
        ..HttpTarget::new(ChannelName::main(), "http://127.0.0.1:9/mcp")
    };
    let err = start(
        config(&emu, &emu.base_url()),
        opts(vec![target], TlsOptions::default()),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(
        err.contains("mcp_channel main proxy") && err.contains("must be http or https"),
        "{err}"
    );
    assert!(!err.contains(SECRET), "{err}");
}

#[test]
fn per_entry_proxy_differs_from_the_control_plane_proxy() {
    let (emu, mcp) = (emulator(), stub());
    let cp_proxy = ForwardProxy::start(None);
    let mcp_proxy = ForwardProxy::start(Some(("mcp", SECRET)));
    let mcp_url = format!("http://mcp.test:{}/mcp", mcp.addr().port());
    let target = HttpTarget {
        proxy: Some(ExplicitProxy {
            url: mcp_proxy.url(Some(("mcp", SECRET))),
            source: "mcp.server-url".into(),
        }),
        ..HttpTarget::new(ChannelName::main(), mcp_url.clone())
    };
    let tls = TlsOptions {
        control_plane_proxy: Some(cp_proxy.url(None)),
        ..TlsOptions::default()
    };
    let t = Tunnel::start(config(&emu, &emu.base_url()), opts(vec![target], tls));
    assert_eq!(t.ready(), Ok(()));
    assert_eq!(initialize(&emu), Some(200));
    let (cp_seen, mcp_seen) = (cp_proxy.carried(), mcp_proxy.carried());
    assert!(!cp_seen.is_empty() && cp_seen.iter().all(|r| !r.target.contains("mcp.test")));
    assert!(
        mcp_seen
            .iter()
            .any(|r| r.method == "POST" && r.target == mcp_url),
        "{mcp_seen:#?}"
    );
    assert!(mcp_seen
        .iter()
        .all(|r| r.authorized && r.target.contains("mcp.test")));
    // Every MCP request went through its proxy (the stub only knows it by name there).
    assert_eq!(mcp.requests().len(), mcp_seen.len());
}

#[test]
fn environment_proxy_carries_named_hosts_skips_loopback_and_honours_no_proxy() {
    let (emu, mcp) = (emulator(), stub());
    let proxy = ForwardProxy::start(Some(("env", SECRET)));
    let purl = proxy.url(Some(("env", SECRET)));
    let base = format!("http://cp.test:{}", emu.addr().port());
    let env = |no_proxy: &str| TlsOptions {
        proxy_env: Some(ProxyEnv::from_lookup(|n| match n {
            "HTTP_PROXY" => Some(purl.clone()),
            "NO_PROXY" => Some(no_proxy.to_string()),
            _ => None,
        })),
        ..TlsOptions::default()
    };
    let t = Tunnel::start(config(&emu, &base), opts(main_target(mcp.url()), env("")));
    assert_eq!(t.ready(), Ok(()));
    assert_eq!(initialize(&emu), Some(200));
    let routes = t.handle.routes();
    let shown = |r: &tunnel_core::proxy_route::Route| (r.mode.as_str(), r.source.clone());
    assert_eq!(shown(&routes[0]), ("proxy", "env:HTTP_PROXY".to_string()));
    // Loopback: the environment proxy is skipped, and the source says which one was.
    assert_eq!(shown(&routes[1]), ("direct", "env:HTTP_PROXY".to_string()));
    drop(t);
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

    // NO_PROXY names the control plane: it is dialled directly (`cp.test` resolves only
    // inside the proxy), so the proxy carries nothing more.
    let before = proxy.carried().len();
    let t = Tunnel::start(
        config(&emu, &base),
        opts(
            main_target(mcp.url()),
            env("example.com, .other.test,cp.test"),
        ),
    );
    t.never_ready();
    drop(t);
    assert_eq!(proxy.carried().len(), before, "{:#?}", proxy.carried());
}

#[test]
fn per_binding_mcp_client_certificate_goes_to_its_origin_only() {
    let pki = Pki::new(scratch("mcpmtls"));
    let emu = emulator();
    let (with_cert, without_cert) = (stub(), stub());
    let strict = TlsFront::start(&pki, true, with_cert.addr());
    let open = TlsFront::start(&pki, false, without_cert.addr());
    let other: ChannelName = "other".parse().unwrap();
    let targets = vec![
        HttpTarget {
            client_cert: Some(cert(&pki)),
            ..HttpTarget::new(
                ChannelName::main(),
                format!("https://localhost:{}/mcp", strict.addr.port()),
            )
        },
        HttpTarget::new(
            other.clone(),
            format!("https://localhost:{}/mcp", open.addr.port()),
        ),
    ];
    let mut cfg = config(&emu, &emu.base_url());
    cfg.bindings.push(Binding {
        channel: other,
        kind: BindingKind::Http,
        extra_headers: Vec::new(),
    });
    let t = Tunnel::start(cfg, opts(targets, bundle(&pki)));
    assert_eq!(t.ready(), Ok(()));
    assert_eq!(initialize(&emu), Some(200));
    assert_eq!(initialize_on(&emu, "other"), Some(200));
    assert!(strict
        .handshakes()
        .contains(&Handshake::Ok { client_cert: true }));
    let seen = open.handshakes();
    assert!(
        seen.contains(&Handshake::Ok { client_cert: false })
            && !seen.contains(&Handshake::Ok { client_cert: true }),
        "the other binding's server got a certificate: {seen:?}"
    );
}

#[test]
fn https_proxy_gets_tls_first_and_the_credentials_inside_it() {
    let pki = Pki::new(scratch("httpsproxy"));
    let (emu, mcp) = (emulator(), stub());
    let mcp_front = TlsFront::start(&pki, false, mcp.addr());
    let proxy = ForwardProxy::start(Some(("corp", SECRET)));
    let proxy_tls = TlsFront::start(&pki, false, proxy.addr);
    let tls = TlsOptions {
        mcp_proxy: Some(format!(
            "https://corp:{SECRET}@localhost:{}",
            proxy_tls.addr.port()
        )),
        ..bundle(&pki)
    };
    let mcp_url = format!("https://mcp.test:{}/mcp", mcp_front.addr.port());
    let t = Tunnel::start(
        config(&emu, &emu.base_url()),
        opts(main_target(mcp_url), tls),
    );
    assert_eq!(t.ready(), Ok(()));
    assert_eq!(initialize(&emu), Some(200));
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
}

#[cfg(unix)]
#[test]
fn unix_socket_binding_is_dialled_and_never_proxied() {
    use tunnel_conformance::net_kit::UnixFront;
    let dir = scratch("uds");
    let (emu, mcp) = (emulator(), stub());
    let sock = UnixFront::start(dir.join("mcp.sock"), mcp.addr());
    let proxy = ForwardProxy::start(None);
    // The URL's host names nothing that listens: only the socket can reach the server.
    let target = HttpTarget {
        unix_socket: Some(sock.path.clone()),
        ..HttpTarget::new(ChannelName::main(), "http://mcp.invalid/mcp")
    };
    let tls = TlsOptions {
        mcp_proxy: Some(proxy.url(None)),
        ..TlsOptions::default()
    };
    let t = Tunnel::start(config(&emu, &emu.base_url()), opts(vec![target], tls));
    assert_eq!(t.ready(), Ok(()));
    assert_eq!(initialize(&emu), Some(200));
    assert!(sock.connections() >= 1);
    let seen = mcp.requests();
    assert!(
        seen.iter().any(|r| r.method == "POST" && r.path == "/mcp"),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|r| r.header("host") == Some("mcp.invalid")),
        "the logical Host header: {seen:?}"
    );
    assert!(proxy.carried().is_empty(), "{:#?}", proxy.carried());
}

#[cfg(unix)]
#[test]
fn unix_socket_binding_reaches_the_python_sdk_under_uvicorn() {
    use tunnel_conformance::net_kit::{tools_list, UdsServer};
    let peers = tunnel_conformance::peers::Peers::require();
    let sock = scratch("uds-sdk").join("mcp.sock");
    let _server = UdsServer::start(&peers, &sock);
    let emu = emulator();
    let proxy = ForwardProxy::start(None);
    // The SDK accepts `Host: localhost:*`; the connection goes to the socket. An MCP proxy
    // and an environment proxy are both set, and both are ignored for this binding.
    let target = HttpTarget {
        unix_socket: Some(sock.clone()),
        ..HttpTarget::new(ChannelName::main(), "http://localhost:9/mcp")
    };
    let purl = proxy.url(None);
    let tls = TlsOptions {
        mcp_proxy: Some(purl.clone()),
        proxy_env: Some(ProxyEnv::from_lookup(|n| {
            (n == "HTTP_PROXY").then(|| purl.clone())
        })),
        ..TlsOptions::default()
    };
    let t = Tunnel::start(config(&emu, &emu.base_url()), opts(vec![target], tls));
    assert_eq!(t.ready(), Ok(()));
    let result = tools_list(&emu, WAIT);
    let tools = result["result"]["tools"].as_array().expect("tools");
    assert!(!tools.is_empty(), "{result}");
    assert_eq!(t.handle.routes()[1].source, "ignored");
    assert!(proxy.carried().is_empty(), "{:#?}", proxy.carried());
}
