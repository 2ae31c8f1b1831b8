//! The proxy health checker through `tunnel-client run` (issue #17, Go's `proxyhealth`):
//! a local CONNECT proxy with Basic auth that goes down and comes back, the state and the
//! last ten records per route in `/api/system`, the five `proxy_*` metric families, and
//! wrong credentials reported as `bad_status`.

mod admin_support;
mod browser_support;
mod net_support;
mod support;

use std::time::{Duration, Instant};

use net_support::{ForwardProxy, Handshake};
use serde_json::Value;
use support::Client;
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "Pr0xyS3cret";

fn s(v: &str) -> String {
    v.to_string()
}

fn system(c: &Client) -> Value {
    let (code, body) = c.get("/api/system");
    assert_eq!(code, 200, "{body}");
    assert!(!body.contains(SECRET), "proxy password in /api/system");
    serde_json::from_str(&body).unwrap()
}

fn health<'a>(sys: &'a Value, kind: &str, name: &str) -> &'a Value {
    sys["proxy_health"]
        .as_array()
        .unwrap_or_else(|| panic!("no proxy_health: {sys}"))
        .iter()
        .find(|h| h["route"]["kind"] == kind && h["route"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {sys}"))
}

/// Polls `/api/system` until `pred` holds for it.
fn wait_system(c: &Client, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + WAIT;
    loop {
        let sys = system(c);
        if pred(&sys) {
            return sys;
        }
        assert!(
            Instant::now() < until,
            "timed out waiting for {what}:\n{sys:#}\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metric(c: &Client, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let (code, text) = c.get("/metrics");
    assert_eq!(code, 200);
    assert!(!text.contains(SECRET), "proxy password in /metrics");
    let series = support::parse_prometheus(&text).expect("valid exposition");
    series
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, _, v)| *v)
}

#[test]
fn proxy_going_down_and_up_is_seen_in_the_api_and_the_metrics() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mcp = McpStub::start(StubConfig::default()).unwrap();
    let proxy = ForwardProxy::start(Some(("corp", SECRET)));
    let addr = proxy.addr;
    let args = vec![
        s("--http-proxy"),
        proxy.url(Some(("corp", SECRET))),
        s("--mcp.server-url"),
        mcp.url(),
        s("--proxy.check-interval"),
        s("200ms"),
    ];
    let c = Client::start(&emu, &args);
    c.wait_for("/readyz", 200, "", WAIT);

    // Both routes go through the proxy and are healthy after the first rounds.
    let sys = wait_system(&c, "both routes healthy", |sys| {
        ["control_plane/control-plane", "mcp_channel/main"]
            .iter()
            .all(|k| {
                let (kind, name) = k.split_once('/').unwrap();
                sys["proxy_health"].as_array().is_some_and(|a| {
                    a.iter().any(|h| {
                        h["route"]["kind"] == kind
                            && h["route"]["name"] == name
                            && h["health_state"] == "healthy"
                    })
                })
            })
    });
    let cp = health(&sys, "control_plane", "control-plane");
    let shown = format!("http://{addr}");
    assert_eq!(cp["route"]["route_mode"], "proxy", "{cp}");
    assert_eq!(cp["route"]["proxy_source"], "http-proxy", "{cp}");
    assert_eq!(cp["route"]["proxy_url"], shown.as_str(), "{cp}");
    let proxy_id = cp["route"]["proxy_id"].as_str().unwrap().to_string();
    assert_eq!(proxy_id.len(), 64);
    assert!(
        cp["last_check"].is_string() && cp["last_success"].is_string(),
        "{cp}"
    );
    let rec = cp["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(rec["success"], true, "{rec}");
    assert_eq!(rec["http_status_category"], "2xx", "{rec}");
    assert!(rec.get("error_phase").is_none(), "{rec}");
    // The proxy saw the checks: CONNECT to each target, with the credentials.
    let cp_target = cp["route"]["target"].as_str().unwrap().to_string();
    let carried = proxy.carried();
    assert!(
        carried
            .iter()
            .any(|r| r.method == "CONNECT" && r.target == cp_target && r.authorized),
        "{carried:#?}"
    );
    let mcp_target = mcp.addr().to_string();
    assert!(
        carried
            .iter()
            .any(|r| r.method == "CONNECT" && r.target == mcp_target),
        "{carried:#?}"
    );

    // The metric families, with Go's names and labels.
    let id = [("proxy_id", proxy_id.as_str())];
    assert_eq!(metric(&c, "proxy_health_state", &id), Some(1.0));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = metric(&c, "proxy_last_check_timestamp", &id).expect("last check");
    assert!((now - last).abs() < 60.0, "{last} vs {now}");
    assert!(metric(&c, "proxy_last_success_timestamp", &id).is_some());
    let (_, text) = c.get("/metrics");
    for family in [
        "# TYPE proxy_health_state gauge",
        "# TYPE proxy_last_check_timestamp gauge",
        "# TYPE proxy_last_success_timestamp gauge",
        "# TYPE proxy_check_phase_duration_seconds histogram",
        "# TYPE proxy_check_failures_total counter",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }

    // History: at most ten records per route, however many rounds ran.
    let sys = wait_system(&c, "ten records", |sys| {
        health(sys, "control_plane", "control-plane")["history"]
            .as_array()
            .is_some_and(|h| h.len() == 10)
    });
    std::thread::sleep(Duration::from_millis(600));
    let sys2 = system(&c);
    let h2 = health(&sys2, "control_plane", "control-plane")["history"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(h2.len(), 10, "{sys2}");
    assert_ne!(
        h2.last(),
        health(&sys, "control_plane", "control-plane")["history"]
            .as_array()
            .unwrap()
            .last(),
        "the history moves on"
    );

    // The proxy goes down: the next round fails at the TCP phase.
    drop(proxy);
    let sys = wait_system(&c, "unhealthy after the proxy went down", |sys| {
        health(sys, "control_plane", "control-plane")["health_state"] == "unhealthy"
    });
    let cp = health(&sys, "control_plane", "control-plane");
    let rec = cp["history"].as_array().unwrap().last().unwrap();
    assert_eq!(rec["success"], false, "{rec}");
    assert_eq!(rec["error_phase"], "tcp", "{rec}");
    assert_eq!(rec["error_reason"], "dial_error", "{rec}");
    assert!(
        cp["last_success"].is_string(),
        "the last success is kept: {cp}"
    );
    assert_eq!(metric(&c, "proxy_health_state", &id), Some(0.0));
    let failures = metric(
        &c,
        "proxy_check_failures_total",
        &[
            ("proxy_id", &proxy_id),
            ("phase", "tcp"),
            ("reason", "dial_error"),
        ],
    )
    .expect("failure counter");
    assert!(failures >= 1.0);

    // ... and comes back on the same address.
    let proxy = ForwardProxy::start_at(addr, Some(("corp", SECRET)));
    wait_system(&c, "healthy again", |sys| {
        health(sys, "control_plane", "control-plane")["health_state"] == "healthy"
            && health(sys, "mcp_channel", "main")["health_state"] == "healthy"
    });
    assert_eq!(metric(&c, "proxy_health_state", &id), Some(1.0));
    assert!(!c.logs().contains(SECRET), "proxy password in the logs");
    drop(proxy);
}

#[test]
fn wrong_credentials_are_a_bad_status_and_direct_routes_are_direct() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mcp = McpStub::start(StubConfig::default()).unwrap();
    let proxy = ForwardProxy::start(Some(("corp", "right")));
    let args = vec![
        s("--control-plane.http-proxy"),
        proxy.url(Some(("corp", SECRET))),
        s("--mcp.server-url"),
        mcp.url(),
        s("--proxy.check-interval"),
        s("1s"),
    ];
    let c = Client::start(&emu, &args);
    let sys = wait_system(&c, "a finished check", |sys| {
        health(sys, "control_plane", "control-plane")["history"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    });
    let cp = health(&sys, "control_plane", "control-plane");
    assert_eq!(cp["health_state"], "unhealthy", "{cp}");
    assert!(cp.get("last_success").is_none(), "{cp}");
    let rec = &cp["history"][0];
    assert_eq!(rec["error_phase"], "connect", "{rec}");
    assert_eq!(rec["error_reason"], "bad_status", "{rec}");
    assert_eq!(rec["http_status_category"], "4xx", "{rec}");
    // The MCP server on loopback is reached directly: nothing to check.
    let main = health(&sys, "mcp_channel", "main");
    assert_eq!(main["health_state"], "direct", "{main}");
    assert_eq!(main["route"]["route_mode"], "direct", "{main}");
    assert!(main.get("history").is_none(), "{main}");
    let id = cp["route"]["proxy_id"].as_str().unwrap();
    assert_eq!(
        metric(
            &c,
            "proxy_check_failures_total",
            &[
                ("proxy_id", id),
                ("phase", "connect"),
                ("reason", "bad_status")
            ]
        )
        .map(|v| v >= 1.0),
        Some(true)
    );
    assert!(!c.logs().contains(SECRET));
}

/// The Network tab in headless Chromium: every route with kind, name, target, mode,
/// source and the proxy without credentials, and its health turning from healthy to
/// unhealthy when the proxy goes down.
#[test]
fn chromium_shows_the_routes_and_their_health() {
    use browser_support::{find_chromium, Browser, Page, WebSocket};
    use serde_json::json;
    let Some(chromium) = find_chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no Chromium on PATH: .ci/install-chromium should have installed it"
        );
        eprintln!("SKIP: no chromium on PATH (run .ci/install-chromium, or set CHROMIUM=/path)");
        return;
    };
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mcp = McpStub::start(StubConfig::default()).unwrap();
    let proxy = ForwardProxy::start(Some(("corp", SECRET)));
    let args = vec![
        s("--control-plane.http-proxy"),
        proxy.url(Some(("corp", SECRET))),
        s("--mcp.server-url"),
        mcp.url(),
        s("--proxy.check-interval"),
        s("300ms"),
    ];
    let c = Client::start(&emu, &args);
    c.wait_for("/readyz", 200, "", WAIT);
    let browser = Browser::launch(&chromium);
    let mut page = Page {
        ws: WebSocket::connect(&browser.page_ws()),
        next_id: 0,
    };
    page.call("Page.enable", json!({}));
    page.call("Page.navigate", json!({"url": format!("{}/ui", c.health)}));
    page.wait_for(
        "the page's script",
        "(document.getElementById('readiness')?.innerText ?? '…') !== '…'",
    );
    page.click("#tab-network");
    page.wait_for(
        "the Network panel",
        "!document.getElementById('panel-network').hidden && document.getElementById('panel-overview').hidden",
    );
    let cp_row =
        r#"document.querySelector('#network-routes tr[data-route="control_plane/control-plane"]')"#;
    page.wait_for(
        "the control plane healthy",
        &format!("{cp_row}?.dataset.health === 'healthy'"),
    );
    let text = page.eval(&format!("{cp_row}.innerText"));
    let text = text.as_str().unwrap();
    let shown = format!("http://{}", proxy.addr);
    for want in [
        "control_plane",
        "control-plane",
        "proxy",
        "control-plane.http-proxy",
        shown.as_str(),
        "healthy",
        "ok 2xx",
    ] {
        assert!(text.contains(want), "{want:?} not in {text:?}");
    }
    let main = page.eval(
        r#"document.querySelector('#network-routes tr[data-route="mcp_channel/main"]').innerText"#,
    );
    let main = main.as_str().unwrap();
    assert!(
        main.contains(&mcp.addr().to_string()) && main.contains("direct"),
        "{main}"
    );
    let all = page.eval("document.getElementById('panel-network').innerText");
    assert!(
        !all.as_str().unwrap().contains(SECRET),
        "password on the page"
    );
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("admin-ui");
    page.screenshot(&shots.join("network.png"));

    drop(proxy);
    page.wait_for(
        "the control plane unhealthy",
        &format!("{cp_row}?.dataset.health === 'unhealthy'"),
    );
    let text = page.eval(&format!("{cp_row}.innerText"));
    assert!(text.as_str().unwrap().contains("tcp: dial_error"), "{text}");
    // Back to another tab: the Network panel hides.
    page.click("#tab-overview");
    page.wait_for(
        "the overview again",
        "document.getElementById('panel-network').hidden && !document.getElementById('panel-overview').hidden",
    );
}

/// An `https://` proxy: the check speaks TLS to it first (trusting `--ca-bundle`), then
/// sends the `CONNECT` and the credentials inside; without the bundle the handshake fails
/// and the route is `connect_error`.
#[test]
fn https_proxy_is_checked_over_tls_with_the_ca_bundle() {
    use net_support::{Pki, TlsFront};
    let dir = support::Scratch::new("health-https");
    let pki = Pki::new(dir.path("pki"));
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mcp = McpStub::start(StubConfig::default()).unwrap();
    let proxy = ForwardProxy::start(Some(("corp", SECRET)));
    let proxy_tls = TlsFront::start(&pki, false, proxy.addr);
    // The proxy answers 200 only once it reached the target: give it a live port.
    let target_host = format!("mcp.test:{}", mcp.addr().port());
    let target = format!("https://{target_host}/mcp");
    for (bundle, want) in [(true, "healthy"), (false, "unhealthy")] {
        let mut args = vec![
            s("--mcp.server-url"),
            mcp.url(),
            s("--mcp.server-url"),
            format!("channel=docs,url={target}"),
            s("--mcp.http-proxy"),
            format!("https://corp:{SECRET}@localhost:{}", proxy_tls.addr.port()),
            s("--proxy.check-interval"),
            s("1s"),
        ];
        if bundle {
            args.extend([s("--ca-bundle"), pki.ca_pem.display().to_string()]);
        }
        let c = Client::start(&emu, &args);
        let sys = wait_system(&c, "a check of docs", |sys| {
            health(sys, "mcp_channel", "docs")["history"]
                .as_array()
                .is_some_and(|h| !h.is_empty())
        });
        let docs = health(&sys, "mcp_channel", "docs");
        assert_eq!(docs["health_state"], want, "bundle={bundle}: {docs}");
        assert_eq!(
            docs["route"]["proxy_url"],
            format!("https://localhost:{}", proxy_tls.addr.port()).as_str()
        );
        if !bundle {
            let rec = &docs["history"][0];
            assert_eq!(rec["error_phase"], "connect", "{rec}");
            assert_eq!(rec["error_reason"], "connect_error", "{rec}");
        }
        assert!(!c.logs().contains(SECRET));
    }
    // With the bundle, the proxy got the CONNECT (and the credentials) inside TLS.
    assert!(
        proxy
            .carried()
            .iter()
            .any(|r| r.method == "CONNECT" && r.target == target_host && r.authorized),
        "{:#?}",
        proxy.carried()
    );
    assert!(proxy_tls
        .handshakes()
        .contains(&Handshake::Ok { client_cert: false }));
}
