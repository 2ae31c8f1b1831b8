//! The admin UI's Harpoon panel in headless Chromium: the configured target with its route,
//! and the recent calls with their outcome, as `/api/harpoon/*` report them. A screenshot
//! goes to `$CARGO_TARGET_TMPDIR/admin-ui/harpoon.png`.
//!
//! Chromium comes from `.ci/install-chromium`; without it the test prints why and passes,
//! except under `CI=true`, where it fails (as `admin_ui_browser.rs`).

mod admin_support;
mod browser_support;
mod harpoon_support;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use browser_support::{find_chromium, Browser, Page, WebSocket};
use harpoon_support::*;
use serde_json::json;
use support::Client;
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};

fn plain(status: u16, body: &str) -> Answer {
    Answer {
        status,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: body.as_bytes().to_vec(),
        delay: Duration::ZERO,
    }
}

#[test]
fn chromium_shows_harpoon_targets_and_recent_calls() {
    let Some(chromium) = find_chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no Chromium on PATH: .ci/install-chromium should have installed it"
        );
        eprintln!("SKIP: no chromium / chromium-browser / google-chrome on PATH (run .ci/install-chromium, or set CHROMIUM=/path)");
        return;
    };
    let target = Server::start(|_| plain(200, "pong"));
    let main = Server::start(|_| plain(404, ""));
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}/gone")
    };
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let client = Client::start(
        &emu,
        &[
            "--mcp.server-url".into(),
            main.url("/mcp"),
            "--harpoon.allow-plaintext-http".into(),
            "--harpoon.target".into(),
            format!("label=api,url={},desc=The API", target.url("/x")),
            "--harpoon.target".into(),
            format!("label=down,url={dead}"),
        ],
    );
    let ok = call(&emu, json!({"label": "api", "method": "GET"}));
    assert_eq!(ok["structuredContent"]["status_code"], 200, "{ok}");
    let failed = call(
        &emu,
        json!({"label": "down", "method": "POST", "body": "x"}),
    );
    assert_eq!(error_text(&failed), "label down: request failed");

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
    page.wait_for(
        "the page's script",
        "(document.getElementById('oauth-state')?.innerText ?? '…') !== '…'",
    );
    page.click("#tab-harpoon");
    page.wait_for(
        "the Harpoon panel alone",
        "!document.getElementById('panel-harpoon').hidden && document.getElementById('panel-overview').hidden && document.getElementById('panel-oauth').hidden",
    );
    page.wait_for(
        "the Harpoon state",
        "document.getElementById('harpoon-state').innerText === 'enabled'",
    );
    let api = page.wait_for(
        "the api target",
        r#"document.querySelector('#harpoon-targets tr[data-label="api"]')?.innerText"#,
    );
    let api = api.as_str().unwrap();
    assert!(
        api.contains(&target.url("/x")) && api.contains("The API") && api.contains("direct"),
        "{api}"
    );
    assert_eq!(
        page.eval("document.getElementById('harpoon-target-count').innerText"),
        "2"
    );
    let ok_row = page.wait_for(
        "the successful call",
        r#"document.querySelector('#harpoon-calls tr[data-label="api"][data-outcome="ok"]')?.innerText"#,
    );
    assert!(ok_row.as_str().unwrap().contains("200"), "{ok_row}");
    let bad_row = page.wait_for(
        "the failed call",
        r#"document.querySelector('#harpoon-calls tr[data-label="down"][data-outcome="error"]')?.innerText"#,
    );
    let bad_row = bad_row.as_str().unwrap();
    let (_, calls) = client.get("/api/harpoon/calls?label=down");
    let calls: serde_json::Value = serde_json::from_str(&calls).unwrap();
    let cause = calls["calls"][0]["error"].as_str().unwrap().to_string();
    assert!(!cause.is_empty(), "{calls}");
    assert!(
        bad_row.contains(&cause) && bad_row.contains("POST") && bad_row.contains("/gone"),
        "{bad_row}"
    );
    // Newest first, as the API gives them.
    assert_eq!(
        page.eval("document.querySelector('#harpoon-calls tr').dataset.label"),
        "down"
    );
    assert_eq!(
        page.eval("document.getElementById('harpoon-calls-empty').hidden"),
        true
    );
    page.screenshot(&shots.join("harpoon.png"));

    // Back to the overview: the Harpoon panel hides again.
    page.click("#tab-overview");
    page.wait_for(
        "the overview",
        "document.getElementById('panel-harpoon').hidden && !document.getElementById('panel-overview').hidden",
    );
}
