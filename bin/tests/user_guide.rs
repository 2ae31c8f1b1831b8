//! The end-user guide generator: renders `docs/user-guide.md` to one self-contained HTML
//! page, with screenshots of `/ui` taken from a live client by headless Chromium.
//!
//! One command regenerates it:
//!
//! ```sh
//! cargo test -p tunnel-client --test user_guide -- --nocapture
//! ```
//!
//! and prints where the page went (`target/user-guide/index.html`, with the PNGs next to it
//! in `screenshots/`). The page is a build artefact, not committed: the screenshots are
//! embedded as `data:` URIs, so the one file can be mailed or attached as it is.
//!
//! In the Markdown, an image whose address is `screenshot:NAME` is a screenshot this test
//! takes; every such name must be one it knows (below), and the guide may not contain
//! relative links (they would be dead in a file handed to someone else).
//!
//! Chromium comes from `.ci/install-chromium`. Without it the page is still rendered, with
//! a placeholder for each screenshot, and the test says so, except under `CI=true`, where
//! it fails.

mod admin_support;
mod browser_support;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use browser_support::{find_chromium, Browser, Page, WebSocket};
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
use serde_json::json;
use support::Client;
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

const GUIDE: &str = "docs/user-guide.md";

/// The screenshots this generator can take.
const KNOWN: &[&str] = &["overview-ready", "overview-not-ready", "logs-debug"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/user-guide/`.
fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside target/")
        .join("user-guide")
}

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

/// The `screenshot:NAME` images and the other link targets of the guide.
fn references(md: &str) -> (Vec<String>, Vec<String>) {
    let (mut shots, mut links) = (Vec::new(), Vec::new());
    for ev in Parser::new_ext(md, options()) {
        match ev {
            Event::Start(Tag::Image { dest_url, .. }) => match dest_url.strip_prefix("screenshot:")
            {
                Some(name) => shots.push(name.to_string()),
                None => links.push(dest_url.to_string()),
            },
            Event::Start(Tag::Link { dest_url, .. }) => links.push(dest_url.to_string()),
            _ => {}
        }
    }
    (shots, links)
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn placeholder(name: &str) -> String {
    let svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='640' height='80'><rect width='100%' height='100%' fill='#eee'/><text x='20' y='45' font-family='sans-serif' font-size='16'>screenshot {name} not captured: no Chromium</text></svg>"
    );
    format!("data:image/svg+xml;base64,{}", base64(svg.as_bytes()))
}

/// The guide as one HTML document, screenshots inlined.
fn render(md: &str, shots: &BTreeMap<String, Vec<u8>>) -> String {
    let events = Parser::new_ext(md, options()).map(|ev| match ev {
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if dest_url.starts_with("screenshot:") => {
            let name = &dest_url["screenshot:".len()..];
            let uri = match shots.get(name) {
                Some(png) => format!("data:image/png;base64,{}", base64(png)),
                None => placeholder(name),
            };
            Event::Start(Tag::Image {
                link_type,
                dest_url: CowStr::from(uri),
                title,
                id,
            })
        }
        other => other,
    });
    let mut body = String::new();
    html::push_html(&mut body, events);
    let title = md
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .unwrap_or("tunnel-client user guide");
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tunnel-client {version}: bin/tests/user_guide.rs from docs/user-guide.md">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.5; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1b1f24; }}
h1, h2 {{ border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }}
code {{ background: #f3f4f6; padding: .1rem .3rem; border-radius: 4px; font-size: 90%; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #d0d7de; padding: .4rem .6rem; vertical-align: top; text-align: left; }}
img {{ max-width: 100%; border: 1px solid #d0d7de; border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,.1); }}
</style>
</head>
<body>
{body}</body>
</html>
"#,
        version = env!("CARGO_PKG_VERSION"),
    )
}

fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/mcp")
}

fn open(page: &mut Page, url: &str) {
    page.call("Page.navigate", json!({ "url": url }));
    page.wait_for(
        "the page to load its first status",
        "document.getElementById('tunnel-id')?.innerText.startsWith('tunnel_')",
    );
}

/// Takes every screenshot of [`KNOWN`] from live clients; returns them by name.
fn capture(chromium: &Path, dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mcp = McpStub::start(StubConfig::default()).unwrap();
    let browser = Browser::launch(chromium);
    let mut page = Page {
        ws: WebSocket::connect(&browser.page_ws()),
        next_id: 0,
    };
    page.call("Page.enable", json!({}));
    let shot = |page: &mut Page, name: &str| {
        let path = dir.join(format!("{name}.png"));
        page.screenshot(&path);
        std::fs::read(&path).unwrap()
    };
    let mut shots = BTreeMap::new();

    // A healthy client with some traffic: the overview is ready and lists recent commands.
    {
        let client = Client::start(
            &emu,
            &[
                "--mcp.server-url".into(),
                format!("channel=main,url={}", mcp.url()),
            ],
        );
        client.wait_for("/readyz", 200, "ready", std::time::Duration::from_secs(20));
        // A connector's session: initialize, then calls with its Mcp-Session-Id.
        let mut session: Option<String> = None;
        for (i, method) in ["initialize", "tools/list", "tools/call"]
            .iter()
            .enumerate()
        {
            let params = match *method {
                "initialize" => json!({"protocolVersion": "2025-11-25", "capabilities": {},
                                       "clientInfo": {"name": "user-guide", "version": "1"}}),
                "tools/call" => json!({"name": "echo", "arguments": {"text": "hello tunnel"}}),
                _ => json!({}),
            };
            let mut spec = CommandSpec::jsonrpc(
                json!({"jsonrpc": "2.0", "id": i + 1, "method": method, "params": params}),
            );
            if let Some(sid) = &session {
                spec = spec.header("Mcp-Session-Id", sid);
            }
            let id = emu.enqueue(spec);
            let posts = emu
                .wait_terminal(&id, std::time::Duration::from_secs(20))
                .unwrap_or_else(|| panic!("{method} through the tunnel got no answer"));
            let last = posts.last().unwrap();
            assert_eq!(last.resp_code, 200, "{method}: {}", last.body);
            if session.is_none() {
                session = last
                    .resp_headers
                    .get("Mcp-Session-Id")
                    .and_then(|v| v.first().cloned());
            }
        }
        open(&mut page, &format!("{}/ui", client.health));
        page.wait_for(
            "the ready badge",
            "document.getElementById('readiness').innerText === 'ready'",
        );
        page.wait_for(
            "the first successful poll",
            "document.getElementById('cp-state').innerText === 'ok'",
        );
        page.wait_for(
            "the recent commands",
            "document.querySelectorAll('#recent tr').length >= 3",
        );
        shots.insert("overview-ready".into(), shot(&mut page, "overview-ready"));

        page.click("#tab-logs");
        page.click("#level-debug");
        page.wait_for(
            "a debug line from the runtime",
            r#"[...document.querySelectorAll('#log-list .log-row[data-level="DEBUG"]')].filter(r => r.innerText.includes('poll returned')).length >= 3"#,
        );
        page.click("#log-filter");
        page.call("Input.insertText", json!({"text": "poll"}));
        page.wait_for(
            "the filter to apply",
            r#"[...document.querySelectorAll('#log-list .log-row')].some(r => r.hidden)"#,
        );
        shots.insert("logs-debug".into(), shot(&mut page, "logs-debug"));
    }

    // A client whose second server is down: not ready, with the reason.
    {
        let client = Client::start(
            &emu,
            &[
                "--mcp.server-url".into(),
                format!("channel=main,url={}", mcp.url()),
                "--mcp.server-url".into(),
                format!("channel=backup,url={}", closed_port_url()),
            ],
        );
        open(&mut page, &format!("{}/ui", client.health));
        page.wait_for(
            "the readiness reason naming the backup channel",
            "document.getElementById('readiness-reason').innerText.startsWith('channel backup: ')",
        );
        page.wait_for(
            "the first successful poll",
            "document.getElementById('cp-state').innerText === 'ok'",
        );
        shots.insert(
            "overview-not-ready".into(),
            shot(&mut page, "overview-not-ready"),
        );
    }
    drop(page);
    drop(browser);
    shots
}

#[test]
fn user_guide_renders_to_one_html_page_with_live_screenshots() {
    let md = std::fs::read_to_string(repo().join(GUIDE)).expect(GUIDE);
    let (wanted, links) = references(&md);
    assert!(!wanted.is_empty(), "{GUIDE} shows no screenshot");
    for w in &wanted {
        assert!(
            KNOWN.contains(&w.as_str()),
            "{GUIDE} asks for screenshot:{w}; this generator takes {KNOWN:?}"
        );
    }
    let relative: Vec<&String> = links
        .iter()
        .filter(|l| !(l.starts_with("https://") || l.starts_with("http://") || l.starts_with('#')))
        .collect();
    assert!(
        relative.is_empty(),
        "{GUIDE} is shared as one file: relative links would be dead: {relative:?}"
    );

    let dir = out_dir();
    let shots_dir = dir.join("screenshots");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&shots_dir).unwrap();
    let shots = match find_chromium() {
        Some(chromium) => {
            let shots = capture(&chromium, &shots_dir);
            for w in &wanted {
                assert!(shots.contains_key(w), "screenshot {w} was not taken");
            }
            shots
        }
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but no Chromium on PATH: .ci/install-chromium should have installed it"
            );
            eprintln!("NOTE: no chromium / chromium-browser / google-chrome on PATH: the guide is rendered with placeholders (run .ci/install-chromium, or set CHROMIUM=/path)");
            BTreeMap::new()
        }
    };

    let page = render(&md, &shots);
    assert!(
        !page.contains("src=\"screenshot:"),
        "an unresolved screenshot"
    );
    for w in &wanted {
        if let Some(png) = shots.get(w) {
            assert!(
                page.contains(&base64(png)),
                "screenshot {w} is not in the page"
            );
        }
    }
    assert!(
        page.contains("<table>"),
        "the Markdown tables were rendered"
    );
    let path = dir.join("index.html");
    std::fs::write(&path, &page).unwrap();
    println!(
        "user guide: {} ({} bytes, {} screenshot(s))",
        path.display(),
        page.len(),
        shots.len()
    );
}

#[test]
fn base64_matches_the_rfc_4648_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
        assert_eq!(browser_support::base64_decode(encoded), plain.as_bytes());
    }
}
