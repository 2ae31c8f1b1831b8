//! The admin UI in a real browser: headless Chromium loads `/ui` from a running client, the
//! overview shows each channel and the readiness reason, clicking `debug` on the Logs tab
//! changes the running process's level and debug lines appear in the buffer, the filter
//! narrows them, and screenshots are written under `$CARGO_TARGET_TMPDIR/admin-ui/`.
//!
//! Driving: the Chrome DevTools Protocol, with the rig in `browser_support` (shared with
//! the user-guide generator, `user_guide.rs`), which says why CDP and not chromedriver.
//!
//! Chromium comes from `.ci/install-chromium` (Debian `chromium`). When it is missing the
//! test prints why and passes, except under `CI=true`, where it fails. `CHROMIUM=/path`
//! picks a binary.

mod admin_support;
mod browser_support;
mod loopback;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use loopback::{Reply, Server};

use browser_support::{find_chromium, Browser, Page, WebSocket};
use serde_json::json;
use support::Client;
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/mcp")
}

#[test]
fn chromium_drives_the_overview_and_the_log_level_switch() {
    let Some(chromium) = find_chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no Chromium on PATH: .ci/install-chromium should have installed it"
        );
        eprintln!("SKIP: no chromium / chromium-browser / google-chrome on PATH (run .ci/install-chromium, or set CHROMIUM=/path)");
        return;
    };
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mcp = McpStub::start(StubConfig::default()).unwrap();
    let client = Client::start(
        &emu,
        &[
            "--mcp.server-url".into(),
            format!("channel=main,url={}", mcp.url()),
            "--mcp.server-url".into(),
            format!("channel=backup,url={}", closed_port_url()),
        ],
    );
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("admin-ui");

    let browser = Browser::launch(&chromium);
    let mut page = Page {
        ws: WebSocket::connect(&browser.page_ws()),
        next_id: 0,
    };
    page.call("Page.enable", json!({}));
    page.call(
        "Page.navigate",
        json!({"url": format!("{}/ui", client.health)}),
    );

    // Overview: both channels with kind, target and availability, and the reason.
    page.wait_for(
        "the backup channel to show as disabled",
        r#"document.querySelector('#channels tr[data-channel="backup"]')?.innerText.includes('disabled')"#,
    );
    let main_row =
        page.eval(r#"document.querySelector('#channels tr[data-channel="main"]').innerText"#);
    let main_row = main_row.as_str().unwrap();
    assert!(
        main_row.contains("http-streamable") && main_row.contains("available"),
        "{main_row}"
    );
    assert!(main_row.contains(&mcp.base_url()), "{main_row}");
    let backup_row =
        page.eval(r#"document.querySelector('#channels tr[data-channel="backup"]').innerText"#);
    assert!(
        backup_row.as_str().unwrap().contains("unreachable"),
        "{backup_row}"
    );
    let reason = page.wait_for(
        "the readiness reason",
        "document.getElementById('readiness-reason').innerText",
    );
    let (code, readyz) = client.get("/readyz");
    assert_eq!(code, 503);
    assert_eq!(
        reason.as_str().unwrap(),
        readyz.trim(),
        "the page shows /readyz's reason"
    );
    assert!(
        reason.as_str().unwrap().starts_with("channel backup: "),
        "{reason}"
    );
    assert_eq!(
        page.eval("document.getElementById('readiness').innerText"),
        "not ready"
    );
    page.wait_for(
        "the tunnel name from the metadata fetch",
        "document.getElementById('tunnel-name').innerText === 'Emulated tunnel'",
    );
    assert_eq!(
        page.eval("document.getElementById('tunnel-id').innerText"),
        emu.tunnel_id()
    );
    page.wait_for(
        "the first successful poll",
        "document.getElementById('cp-state').innerText === 'ok'",
    );
    page.screenshot(&shots.join("overview.png"));

    // Logs tab: info lines only, then click debug.
    page.click("#tab-logs");
    page.wait_for(
        "the log buffer",
        "document.querySelectorAll('#log-list .log-row').length > 0",
    );
    assert_eq!(
        page.eval("document.querySelector('#level-switch button.active')?.dataset.level"),
        "info"
    );
    assert_eq!(
        page.eval(r#"document.querySelectorAll('#log-list .log-row[data-level="DEBUG"]').length"#),
        0
    );
    page.click("#level-debug");
    page.wait_for(
        "the switch to show debug",
        "document.querySelector('#level-debug').classList.contains('active')",
    );
    assert_eq!(
        admin_support::get(&client.health, "/api/log-level").json()["level"],
        "debug",
        "the running process's level changed"
    );
    // Polls return every 2 s (--control-plane.poll-timeout); each logs at debug.
    let debug_line = page.wait_for(
        "a debug line from the runtime",
        r#"[...document.querySelectorAll('#log-list .log-row[data-level="DEBUG"]')].map(r => r.innerText).find(t => t.includes('poll returned'))"#,
    );
    println!("debug line in the page: {debug_line}");
    assert!(page
        .eval(r#"[...document.querySelectorAll('#log-list .log-row[data-level="DEBUG"]')].some(r => r.innerText.includes('runtime log level updated'))"#)
        .as_bool()
        .unwrap());

    // The live filter: type into the box; only matching rows stay visible.
    page.click("#log-filter");
    page.call("Input.insertText", json!({"text": "poll returned"}));
    page.wait_for(
        "the filter to apply",
        r#"(() => { const rows = [...document.querySelectorAll('#log-list .log-row')]; const shown = rows.filter(r => !r.hidden); return shown.length > 0 && shown.length < rows.length && shown.every(r => r.innerText.includes('poll returned')); })()"#,
    );
    page.screenshot(&shots.join("logs-debug.png"));

    // Back to info from the page too.
    page.click("#level-info");
    page.wait_for(
        "the switch to show info",
        "document.querySelector('#level-info').classList.contains('active')",
    );
    assert_eq!(
        admin_support::get(&client.health, "/api/log-level").json()["level"],
        "info"
    );
    drop(page);
    drop(browser);
}

/// The OAuth panel shows what startup discovery probed, found and what to fix (the same
/// text `/readyz` gives), and the Logs tab follows `/api/logs/stream`: a line logged after
/// the page loaded appears without the page asking for it.
#[test]
fn chromium_shows_the_oauth_panel_and_follows_the_live_log_stream() {
    let Some(chromium) = find_chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no Chromium on PATH: .ci/install-chromium should have installed it"
        );
        eprintln!("SKIP: no chromium / chromium-browser / google-chrome on PATH (run .ci/install-chromium, or set CHROMIUM=/path)");
        return;
    };
    // An OAuth-protected server whose metadata is found through its 401 challenge, and
    // whose authorization server publishes another issuer (a warning, not a failure).
    let idp = Server::start(|s, me| {
        if s.path == "/.well-known/oauth-authorization-server" {
            return Reply::json(
                200,
                &json!({"issuer": "https://login.example.com/tenant",
                "token_endpoint": format!("http://{me}/token")}),
            );
        }
        Reply::new(404, "text/plain", "not found")
    });
    let issuer = idp.origin();
    let mcp = Server::start(move |s, me| {
        if s.path == "/meta/prm" {
            return Reply::json(
                200,
                &json!({"resource": format!("http://{me}/mcp"),
                "authorization_servers": [issuer.clone()]}),
            );
        }
        if s.path == "/mcp" {
            return Reply::new(401, "application/json", "{}").with(
                "www-authenticate",
                format!(r#"Bearer resource_metadata="http://{me}/meta/prm""#),
            );
        }
        Reply::new(404, "text/plain", "not found")
    });
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let client = Client::start(&emu, &["--mcp.server-url".into(), mcp.url("/mcp")]);
    client.wait_for(
        "/readyz",
        200,
        "ready (mcp initialize requires auth",
        Duration::from_secs(20),
    );
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("admin-ui");

    let browser = Browser::launch(&chromium);
    let mut page = Page {
        ws: WebSocket::connect(&browser.page_ws()),
        next_id: 0,
    };
    page.call("Page.enable", json!({}));
    page.call(
        "Page.navigate",
        json!({"url": format!("{}/ui", client.health)}),
    );
    // The script has run once the first state is rendered; then the tab is clickable.
    page.wait_for(
        "the page's script",
        "(document.getElementById('oauth-state')?.innerText ?? '…') !== '…'",
    );
    page.click("#tab-oauth");
    page.wait_for(
        "the OAuth panel",
        "!document.getElementById('panel-oauth').hidden && document.getElementById('panel-overview').hidden",
    );
    page.wait_for(
        "the OAuth state",
        "document.getElementById('oauth-state').innerText === 'found'",
    );
    assert_eq!(
        page.eval("document.getElementById('oauth-as').innerText"),
        idp.origin()
    );
    assert_eq!(
        page.eval("document.getElementById('oauth-source').innerText"),
        "www_authenticate"
    );
    assert_eq!(
        page.eval("document.getElementById('probe-state').innerText"),
        "auth-required"
    );
    let warning = page.eval("document.getElementById('oauth-warning').innerText");
    assert!(
        warning.as_str().unwrap().contains("issuer mismatch"),
        "{warning}"
    );
    let attempts = page.eval("document.getElementById('oauth-attempts').innerText");
    let attempts = attempts.as_str().unwrap();
    assert!(attempts.contains(&mcp.url("/meta/prm")), "{attempts}");
    assert!(
        attempts.contains(&idp.url("/.well-known/oauth-authorization-server")),
        "{attempts}"
    );
    page.screenshot(&shots.join("oauth.png"));

    // Logs: the page follows the stream; a line logged now shows up.
    page.click("#tab-logs");
    page.wait_for(
        "the live stream",
        "document.getElementById('log-stream-state').innerText.includes('following')",
    );
    let r = admin_support::request(
        &client.health,
        "PUT",
        "/api/log-level",
        &[],
        br#"{"level":"warn"}"#,
    );
    assert_eq!(r.status, 200);
    page.wait_for(
        "the streamed line",
        r#"[...document.querySelectorAll('#log-list .log-row')].some(r => r.innerText.includes('runtime log level updated'))"#,
    );
    drop(page);
    drop(browser);
}

/// Broken metadata: the panel says discovery failed, with `/readyz`'s reason and the fix.
#[test]
fn chromium_oauth_panel_names_the_failure_and_the_fix() {
    let Some(chromium) = find_chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no Chromium on PATH: .ci/install-chromium should have installed it"
        );
        eprintln!("SKIP: no chromium on PATH");
        return;
    };
    let mcp = Server::start(|s, _| {
        if s.path == "/mcp" && s.method == "POST" {
            let msg: serde_json::Value = serde_json::from_str(&s.body).unwrap_or_default();
            return Reply::json(
                200,
                &json!({"jsonrpc": "2.0", "id": msg["id"], "result": {}}),
            );
        }
        Reply::new(500, "text/plain", "metadata backend down")
    });
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let client = Client::start(&emu, &["--mcp.server-url".into(), mcp.url("/mcp")]);
    let readyz = client.wait_for(
        "/readyz",
        503,
        "oauth discovery failed: ",
        Duration::from_secs(20),
    );
    let browser = Browser::launch(&chromium);
    let mut page = Page {
        ws: WebSocket::connect(&browser.page_ws()),
        next_id: 0,
    };
    page.call("Page.enable", json!({}));
    page.call(
        "Page.navigate",
        json!({"url": format!("{}/ui", client.health)}),
    );
    // The script has run once the first state is rendered; then the tab is clickable.
    page.wait_for(
        "the page's script",
        "(document.getElementById('oauth-state')?.innerText ?? '…') !== '…'",
    );
    page.click("#tab-oauth");
    page.wait_for(
        "the OAuth panel",
        "!document.getElementById('panel-oauth').hidden && document.getElementById('panel-overview').hidden",
    );
    page.wait_for(
        "the failure",
        "document.getElementById('oauth-state').innerText === 'failed'",
    );
    let error = page.eval("document.getElementById('oauth-error').innerText");
    assert_eq!(
        error.as_str().unwrap(),
        readyz.trim().trim_start_matches("oauth discovery failed: ")
    );
    let fix = page.eval("document.getElementById('oauth-fix').innerText");
    assert!(
        fix.as_str().unwrap().contains("oauth-protected-resource"),
        "{fix}"
    );
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("admin-ui");
    page.screenshot(&shots.join("oauth-failed.png"));
}
