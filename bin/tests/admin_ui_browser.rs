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
mod support;

use std::path::PathBuf;

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
