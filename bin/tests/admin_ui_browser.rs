//! The admin UI in a real browser: headless Chromium loads `/ui` from a running client, the
//! overview shows each channel and the readiness reason, clicking `debug` on the Logs tab
//! changes the running process's level and debug lines appear in the buffer, the filter
//! narrows them, and screenshots are written under `$CARGO_TARGET_TMPDIR/admin-ui/`.
//!
//! Driving: the Chrome DevTools Protocol over `--remote-debugging-port`, with the small
//! WebSocket client below. Why not chromedriver: it is a second package that must match
//! the browser's version exactly, a second process and port, and W3C WebDriver adds
//! nothing here; CDP is built into the browser, and the port is read from the
//! `DevToolsActivePort` file Chromium writes, so there is no race for a fixed port. Clicks
//! are real mouse events (`Input.dispatchMouseEvent` at the element's position), not
//! `element.click()`.
//!
//! Chromium comes from `.ci/install-chromium` (Debian `chromium`). When it is missing the
//! test prints why and passes, except under `CI=true`, where it fails. `CHROMIUM=/path`
//! picks a binary.

mod admin_support;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Client, Scratch};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

const WAIT: Duration = Duration::from_secs(30);

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

/// A headless Chromium, killed on drop.
struct Browser {
    child: Child,
    port: u16,
    _profile: Scratch,
}

impl Browser {
    fn launch(bin: &Path) -> Browser {
        let profile = Scratch::new("chromium-profile");
        let log = std::fs::File::create(profile.path("chromium.log")).unwrap();
        let child = Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let port_file = profile.path("DevToolsActivePort");
        let deadline = Instant::now() + WAIT;
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u16>().ok()))
            {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "Chromium wrote no DevToolsActivePort within {WAIT:?}; its log:\n{}",
                std::fs::read_to_string(profile.path("chromium.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Browser {
            child,
            port,
            _profile: profile,
        }
    }

    /// The WebSocket URL of the first page target.
    fn page_ws(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let r = admin_support::get(&format!("http://127.0.0.1:{}", self.port), "/json/list");
            if r.status == 200 {
                if let Some(ws) = r.json().as_array().and_then(|targets| {
                    targets
                        .iter()
                        .find(|t| t["type"] == "page")
                        .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_string))
                }) {
                    return ws;
                }
            }
            assert!(Instant::now() < deadline, "no page target: {}", r.text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal RFC 6455 client: text frames out (masked), frames in (unmasked, possibly
/// fragmented), enough for CDP.
struct WebSocket {
    s: TcpStream,
}

impl WebSocket {
    fn connect(url: &str) -> WebSocket {
        let rest = url.strip_prefix("ws://").expect("ws:// URL");
        let (hostport, path) = rest.split_at(rest.find('/').unwrap());
        let mut s = TcpStream::connect(hostport).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "WebSocket upgrade refused: {head}"
        );
        WebSocket { s }
    }

    fn send_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.s.write_all(&frame).unwrap();
    }

    /// The next complete text message.
    fn recv_text(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.s.read_exact(&mut h).unwrap();
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let mut len = (h[1] & 0x7f) as u64;
            if len == 126 {
                let mut b = [0u8; 2];
                self.s.read_exact(&mut b).unwrap();
                len = u16::from_be_bytes(b) as u64;
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.s.read_exact(&mut b).unwrap();
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; len as usize];
            self.s.read_exact(&mut payload).unwrap();
            match opcode {
                0x8 => panic!("the browser closed the DevTools connection"),
                0x9 | 0xA => continue, // ping / pong: CDP does not need answers
                _ => message.extend_from_slice(&payload),
            }
            if fin {
                return String::from_utf8(message).unwrap();
            }
        }
    }
}

/// One CDP session on a page.
struct Page {
    ws: WebSocket,
    next_id: u64,
}

impl Page {
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.ws
            .send_text(&json!({"id": id, "method": method, "params": params}).to_string());
        loop {
            let msg: Value = serde_json::from_str(&self.ws.recv_text()).unwrap();
            if msg["id"] == id {
                assert!(msg.get("error").is_none(), "{method}: {msg}");
                return msg["result"].clone();
            }
        }
    }

    /// Evaluates `expr` in the page and returns its value.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is truthy; returns its value.
    fn wait_for(&mut self, what: &str, expr: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.eval(expr);
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({expr}); page text:\n{}",
                self.eval("document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A real mouse click in the middle of the element `selector`.
    fn click(&mut self, selector: &str) {
        let rect = self.eval(&format!(
            "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (rect[0].as_f64().unwrap(), rect[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64_decode(r["data"].as_str().unwrap());
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert!(width >= 800 && height >= 600, "{width}x{height}");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &png).unwrap();
        println!(
            "screenshot: {} ({width}x{height}, {} bytes)",
            path.display(),
            png.len()
        );
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    } as u32;
    let b: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(b.len() * 3 / 4);
    for chunk in b.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c) << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

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
