//! The admin UI and its API on a running client (the real binary, the control-plane
//! emulator, the demo MCP server): overview state, the live log level, access control,
//! and the health listener under slow and oversized clients. The browser-driven test is
//! `admin_ui_browser.rs`.

mod admin_support;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use admin_support::{get, own_ip, request};
use serde_json::json;
use support::Client;
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

const WAIT: Duration = Duration::from_secs(20);

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator")
}

fn stub() -> McpStub {
    McpStub::start(StubConfig::default()).expect("mcp stub")
}

/// A URL where nothing listens.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/mcp")
}

/// Polls `f` until it returns `Some` (or panics after `WAIT`).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ui_page_and_status_show_channels_and_the_readiness_reason() {
    let emu = emulator();
    let client = Client::start(&emu, &["--mcp.server-url".into(), closed_port_url()]);

    let page = get(&client.health, "/ui");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().contains("/assets/app.js"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("cache-control"), Some("no-store, max-age=0"));
    for path in ["/", "/ui/"] {
        assert_eq!(get(&client.health, path).status, 200, "{path}");
    }
    let js = get(&client.health, "/assets/app.js");
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").unwrap().contains("javascript"));
    assert_eq!(get(&client.health, "/assets/styles.css").status, 200);
    assert_eq!(get(&client.health, "/assets/nope.js").status, 404);
    assert_eq!(get(&client.health, "/favicon.ico").status, 204);

    let status = eventually("the channel to be reported down", || {
        let s = get(&client.health, "/api/status").json();
        (s["channels"][0]["enabled"] == false).then_some(s)
    });
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["control_plane_tunnel_id"], emu.tunnel_id());
    let ch = &status["channels"][0];
    assert_eq!(ch["name"], "main");
    assert_eq!(ch["transport_kind"], "http-streamable");
    assert!(
        ch["reason"].as_str().unwrap().contains("unreachable"),
        "{ch}"
    );
    assert_eq!(status["readiness"]["ready"], false);
    let reason = status["readiness"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("channel main: "), "{reason}");
    // The same reason /readyz gives.
    let (code, body) = client.get("/readyz");
    assert_eq!(code, 503);
    assert_eq!(body.trim(), reason);
    let md = eventually("tunnel metadata", || {
        let s = get(&client.health, "/api/status").json();
        (!s["tunnel_metadata"].is_null()).then(|| s["tunnel_metadata"].clone())
    });
    assert_eq!(md["Name"], "Emulated tunnel");
    assert_eq!(md["ID"], emu.tunnel_id());
    for key in ["in_flight", "completed", "queued", "running", "posting"] {
        assert!(status["commands"][key].is_u64(), "{key}: {status}");
    }
    assert!(status["control_plane"]["state"].is_string());
}

#[test]
fn completed_commands_feed_counts_and_latency() {
    let emu = emulator();
    let mcp = stub();
    let client = Client::start(&emu, &["--mcp.server-url".into(), mcp.url()]);
    for i in 0..3 {
        let id = emu.enqueue(CommandSpec::jsonrpc(
            json!({"jsonrpc": "2.0", "id": i, "method": "tools/list"}),
        ));
        emu.wait_terminal(&id, WAIT).expect("terminal response");
    }
    let s = eventually("three completions", || {
        let s = get(&client.health, "/api/status").json();
        (s["commands"]["completed"] == 3).then_some(s)
    });
    assert_eq!(s["latency"]["window"], 3, "{s}");
    assert!(s["latency"]["p95_ms"].as_f64().unwrap() >= 0.0);
    let recent = s["recent_commands"].as_array().unwrap();
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[0]["method"], "tools/list");
    assert_eq!(recent[0]["resp_type"], "jsonrpc_response");
    assert!(recent[0]["resp_code"].is_u64());
    assert_eq!(s["control_plane"]["state"], "ok");
    assert!(s["control_plane"]["last_poll_success"].is_string());
}

#[test]
fn log_level_switch_is_live_and_refuses_cross_origin_requests() {
    let emu = emulator();
    let mcp = stub();
    let client = Client::start(&emu, &["--mcp.server-url".into(), mcp.url()]);
    let base = &client.health;

    let level = get(base, "/api/log-level").json();
    assert_eq!(
        level,
        json!({"level": "info", "supported_levels": ["debug", "info", "warn"]})
    );

    // A page on another origin (and a same-site one) cannot change it.
    for headers in [
        vec![("Origin", "http://evil.example")],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![("Referer", "http://evil.example/page")],
    ] {
        let r = request(
            base,
            "PUT",
            "/api/log-level",
            &headers,
            br#"{"level":"debug"}"#,
        );
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text());
    }
    for bad in [
        &br#"{"level":"trace"}"#[..],
        br#"{"level":"debug","x":1}"#,
        b"not json",
    ] {
        let r = request(base, "PUT", "/api/log-level", &[], bad);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
    }
    let r = request(base, "POST", "/api/log-level", &[], b"{}");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, PUT"));
    assert_eq!(get(base, "/api/log-level").json()["level"], "info");

    // No debug line before the switch.
    let id = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    ));
    emu.wait_terminal(&id, WAIT).expect("terminal");
    let events = get(base, "/api/logs?limit=5000").json();
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["level"] != "DEBUG"),
        "{events}"
    );

    let origin = base.clone();
    let r = request(
        base,
        "PUT",
        "/api/log-level",
        &[
            ("Origin", origin.as_str()),
            ("Content-Type", "application/json"),
        ],
        br#"{"level":" DEBUG "}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["level"], "debug");
    let id = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    ));
    emu.wait_terminal(&id, WAIT).expect("terminal");
    let debug = eventually("debug lines in the buffer", || {
        let j = get(base, "/api/logs?limit=5000").json();
        let lines: Vec<String> = j["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "DEBUG")
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect();
        lines
            .iter()
            .any(|m| m.contains("poll returned 1 command"))
            .then_some(lines)
    });
    assert!(
        debug
            .iter()
            .any(|m| m.contains("runtime log level updated previous_level=info new_level=debug")),
        "{debug:?}"
    );
    // The process log (stderr) got them too: the level is the process's, not the UI's.
    assert!(
        client.logs().contains("poll returned 1 command"),
        "{}",
        client.logs()
    );

    // `after` returns only newer events; seq is monotonic.
    let all = get(base, "/api/logs?limit=5000").json();
    let seqs: Vec<u64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let last = *seqs.last().unwrap();
    let newer = get(base, &format!("/api/logs?after={}", last - 1)).json();
    assert_eq!(
        newer["events"][0]["seq"], last,
        "debug logging goes on; the first is ours"
    );
    let two = get(base, "/api/logs?limit=2").json();
    assert_eq!(two["events"].as_array().unwrap().len(), 2);

    // Back to warn: info lines stop.
    let r = request(base, "PUT", "/api/log-level", &[], br#"{"level":"warn"}"#);
    assert_eq!(r.status, 200);
    let mark = get(base, "/api/logs").json()["next_seq"].as_u64().unwrap();
    let id = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
    ));
    emu.wait_terminal(&id, WAIT).expect("terminal");
    std::thread::sleep(Duration::from_millis(300));
    let after = get(base, &format!("/api/logs?after={}", mark - 1)).json();
    assert!(
        after["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["level"] == "WARN" || e["level"] == "ERROR"),
        "{after}"
    );
}

#[test]
fn admin_routes_refuse_non_loopback_peers_unless_allowed() {
    let Some(ip) = own_ip() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but this machine has no non-loopback address to test with"
        );
        eprintln!("SKIP: no non-loopback address on this machine");
        return;
    };
    let emu = emulator();
    let mcp = stub();
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = vec![
            "--mcp.server-url".into(),
            mcp.url(),
            "--health.listen-addr".into(),
            "0.0.0.0:0".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let client = Client::start(&emu, &args(&[]));
    let port = client.health.rsplit(':').next().unwrap().to_string();
    let remote = format!("http://{ip}:{port}");
    for path in ["/ui", "/api/status", "/api/logs", "/assets/app.js", "/"] {
        let r = get(&remote, path);
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(
            r.text(),
            "admin UI is restricted to loopback; set --allow-remote-ui to override\n"
        );
    }
    let r = request(
        &remote,
        "PUT",
        "/api/log-level",
        &[],
        br#"{"level":"debug"}"#,
    );
    assert_eq!(r.status, 403);
    // Probes and metrics are not restricted (Go: same).
    assert_eq!(get(&remote, "/healthz").status, 200);
    assert_eq!(get(&remote, "/metrics").status, 200);
    // Loopback still works; a rebinding Host does not.
    assert_eq!(get(&client.health, "/ui").status, 200);
    let r = request(
        &client.health,
        "GET",
        "/api/status",
        &[("Host", &format!("rebind.example:{port}"))],
        b"",
    );
    assert_eq!(r.status, 403);

    let allowed = Client::start(&emu, &args(&["--allow-remote-ui"]));
    let port = allowed.health.rsplit(':').next().unwrap().to_string();
    let remote = format!("http://{ip}:{port}");
    assert_eq!(get(&remote, "/ui").status, 200);
    assert_eq!(get(&remote, "/api/status").status, 200);
    assert!(
        allowed.logs().contains("--allow-remote-ui"),
        "a warning names the exposure: {}",
        allowed.logs()
    );
    // ALLOW_REMOTE_UI=true works the same (env), per Go.
    let via_env = Client::start_with_env(&emu, &args(&[]), &[("ALLOW_REMOTE_UI", "true")]);
    let port = via_env.health.rsplit(':').next().unwrap().to_string();
    assert_eq!(
        get(&format!("http://{ip}:{port}"), "/api/status").status,
        200
    );
}

/// Times `GET /healthz` on a fresh connection.
fn healthz_time(base: &str) -> Duration {
    let t = Instant::now();
    let r = get(base, "/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "live\n");
    t.elapsed()
}

#[test]
fn health_listener_keeps_answering_under_slow_and_oversized_clients() {
    let emu = emulator();
    let mcp = stub();
    let client = Client::start(&emu, &["--mcp.server-url".into(), mcp.url()]);
    let hostport = client.health.trim_start_matches("http://").to_string();

    // Slow clients: connections that send half a request line, one byte at a time.
    let mut slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(&hostport).unwrap();
            s.write_all(b"GET /hea").unwrap();
            s
        })
        .collect();
    // Oversized: a header that never ends, sent as fast as the server takes it.
    let big = {
        let hostport = hostport.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(&hostport).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
            let chunk = vec![b'a'; 64 * 1024];
            let mut sent = 0usize;
            while sent < 32 * 1024 * 1024 {
                if s.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            (sent, String::from_utf8_lossy(&answer).into_owned())
        })
    };
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        worst = worst.max(healthz_time(&client.health));
        for s in &mut slow {
            let _ = s.write_all(&[b"lthz"[i % 4]]);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (sent, answer) = big.join().unwrap();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "oversized header answered: {answer:?}"
    );
    assert!(
        sent < 32 * 1024 * 1024,
        "the listener kept reading an endless header ({sent} bytes)"
    );
    assert!(
        worst < Duration::from_secs(2),
        "/healthz took {worst:?} while slow and oversized clients were connected"
    );
    // The slow ones are cut off by the 5 s head deadline (408), not left open forever.
    std::thread::sleep(Duration::from_secs(5));
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.is_empty() || out.starts_with("HTTP/1.1 408"), "{out:?}");
    }
    println!("healthz worst latency under slow/oversized clients: {worst:?}; oversized client got {sent} bytes in before the cut");
    assert_eq!(client.get("/healthz").0, 200);
}

/// Secret values planted everywhere a secret can enter the client.
const CANARY_API_KEY: &str = "canaryAPIkey7f3a9c2e1b";
const CANARY_BEARER: &str = "canaryBEARERtoken77d1";
const CANARY_SHARD: &str = "canarySHARDtoken88e2";
const CANARY_URL_PASSWORD: &str = "canaryURLpass99f3";
const CANARY_HEADER: &str = "canaryYAMLheader66a4";
const CANARIES: [&str; 5] = [
    CANARY_API_KEY,
    CANARY_BEARER,
    CANARY_SHARD,
    CANARY_URL_PASSWORD,
    CANARY_HEADER,
];

fn assert_clean(place: &str, text: &str) {
    for c in CANARIES {
        assert!(
            !text.contains(c),
            "secret {c} leaked into {place}:\n{}",
            text.lines()
                .filter(|l| l.contains(c))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn secret_canaries_never_leak_into_logs_metrics_the_bundle_or_the_api() {
    let emu = Emulator::start(EmulatorConfig {
        api_key: CANARY_API_KEY.into(),
        ..EmulatorConfig::default()
    })
    .expect("emulator");
    let mcp = stub();
    let scratch = support::Scratch::new("canary");
    let log_file = scratch.path("client.log");
    let config = scratch.path("client.yaml");
    std::fs::write(
        &config,
        format!("config_version: 1\nmcp:\n  extra_headers:\n    X-Yaml-Canary: {CANARY_HEADER}\n"),
    )
    .unwrap();
    let url_with_password = mcp.url().replace(
        "http://",
        &format!("http://canaryuser:{CANARY_URL_PASSWORD}@"),
    );
    // debug-1 is below debug: trace, the most that is ever logged (dependencies included).
    let client = Client::start(
        &emu,
        &[
            "--config".into(),
            config.display().to_string(),
            "--mcp.server-url".into(),
            format!("channel=main,url={url_with_password}"),
            "--log.level".into(),
            "debug-1".into(),
            "--log.format".into(),
            "json".into(),
            "--log.file".into(),
            log_file.display().to_string(),
        ],
    );
    for (i, method) in ["initialize", "tools/list", "tools/call"]
        .iter()
        .enumerate()
    {
        let spec = CommandSpec::jsonrpc(json!({
            "jsonrpc": "2.0", "id": i, "method": method,
            "params": {"token": CANARY_BEARER, "protocolVersion": "2025-11-25",
                       "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        }))
        .header("Authorization", &format!("Bearer {CANARY_BEARER}"))
        .header("Cookie", &format!("session={CANARY_BEARER}"))
        .shard_token(CANARY_SHARD);
        let id = emu.enqueue(spec);
        emu.wait_terminal(&id, WAIT).expect("terminal response");
    }
    // A failing target too: its error path names the URL.
    let id = emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}))
            .on_channel("nope")
            .shard_token(CANARY_SHARD),
    );
    emu.wait_terminal(&id, WAIT).expect("terminal response");
    // The canaries were really in use: the key authenticated every request, the shard
    // token went back on every response POST.
    let posts: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(posts.len() >= 4);
    for p in &posts {
        assert_eq!(
            p.header("Authorization"),
            Some(format!("Bearer {CANARY_API_KEY}").as_str())
        );
        assert_eq!(p.header("X-Tunnel-Shard-Token"), Some(CANARY_SHARD));
    }
    let base = client.health.clone();
    let r = request(&base, "PUT", "/api/log-level", &[], br#"{"level":"debug"}"#);
    assert_eq!(r.status, 200);

    let status = get(&base, "/api/status");
    assert_eq!(status.status, 200);
    assert_clean("/api/status", &status.text());
    let channel_target = status.json()["channels"][0]["details"][0]["value"].clone();
    assert_eq!(channel_target, json!(mcp.base_url()), "origin only");
    let logs = get(&base, "/api/logs?limit=5000");
    assert!(logs.json()["events"].as_array().unwrap().len() > 10);
    assert_clean("/api/logs", &logs.text());
    let metrics = get(&base, "/metrics");
    assert_clean("/metrics", &metrics.text());
    assert_clean("/readyz", &client.get("/readyz").1);

    let bundle = get(&base, "/api/logs/export?minutes=5");
    assert_eq!(bundle.status, 200);
    assert_eq!(bundle.header("content-type"), Some("application/gzip"));
    let disposition = bundle.header("content-disposition").unwrap().to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"tunnel-client-logs-")
            && disposition.ends_with("Z.tar.gz\""),
        "{disposition}"
    );
    let members = admin_support::untar_gz(&bundle.body);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "manifest.json",
            "README.txt",
            "tunnel-client.runtime.yaml",
            "tunnel-client.logs.ndjson",
            "tunnel-client.metrics.prom",
            "admin/status.json",
            "admin/harpoon.json",
            "admin/system.json",
            "admin/oauth.json"
        ]
    );
    for (name, data) in &members {
        assert_clean(
            &format!("bundle member {name}"),
            &String::from_utf8_lossy(data),
        );
    }
    let member = |n: &str| {
        String::from_utf8(members.iter().find(|(m, _)| m == n).unwrap().1.clone()).unwrap()
    };
    let manifest: serde_json::Value = serde_json::from_str(&member("manifest.json")).unwrap();
    assert_eq!(manifest["redacted"], true);
    assert_eq!(manifest["window"], "5m0s");
    let ndjson = member("tunnel-client.logs.ndjson");
    assert_eq!(manifest["event_count"], ndjson.lines().count());
    for line in ndjson.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["seq"].is_u64() && v["level"].is_string(), "{line}");
    }
    support::parse_prometheus(&member("tunnel-client.metrics.prom")).unwrap();
    let runtime = member("tunnel-client.runtime.yaml");
    for needle in [
        "argv:",
        "--log.level",
        "environment:",
        "CONTROL_PLANE_API_KEY: '[REDACTED]'",
        "config_file:",
        "X-Yaml-Canary: '[REDACTED]'",
        "effective_config:",
        "url=http://[REDACTED]@127.0.0.1",
    ] {
        assert!(
            runtime.contains(needle),
            "{needle} missing from:\n{runtime}"
        );
    }
    let status_json: serde_json::Value =
        serde_json::from_str(&member("admin/status.json")).unwrap();
    assert_eq!(status_json["control_plane_tunnel_id"], emu.tunnel_id());
    let oauth_json: serde_json::Value = serde_json::from_str(&member("admin/oauth.json")).unwrap();
    assert_eq!(
        oauth_json["auth_server_metadata_mode"],
        "authorization_servers[0] only (source of truth)"
    );
    let system_json: serde_json::Value =
        serde_json::from_str(&member("admin/system.json")).unwrap();
    assert!(
        system_json["main_channel_probe_status"].is_string(),
        "{system_json}"
    );

    // The process's own log output: the file (json at trace) and whatever went to the
    // terminal.
    let file = std::fs::read_to_string(&log_file).unwrap();
    assert!(file.lines().count() > 20, "{file}");
    assert!(
        file.contains("\"level\":\"TRACE\""),
        "trace lines were written"
    );
    assert_clean("--log.file", &file);
    assert_clean("stdout/stderr", &client.logs());
}

#[test]
fn open_web_ui_without_a_browser_is_a_log_line_not_a_failure() {
    let emu = emulator();
    let mcp = stub();
    // Client::start clears the environment: no DISPLAY, no WAYLAND_DISPLAY.
    let client = Client::start(
        &emu,
        &["--mcp.server-url".into(), mcp.url(), "--open-web-ui".into()],
    );
    let line = eventually("the --open-web-ui log line", || {
        client
            .logs()
            .lines()
            .find(|l| l.contains("--open-web-ui"))
            .map(str::to_string)
    });
    assert!(line.contains("no graphical session"), "{line}");
    assert!(line.contains(&format!("{}/ui", client.health)), "{line}");
    assert_eq!(client.get("/healthz").0, 200);
    assert!(client
        .logs()
        .contains(&format!("web UI: {}/ui", client.health)));
}

/// `/api/logs/stream` is server-sent events: the backlog after `?after=`, then new events
/// as they are logged (here the level switch's own line), each `event: log` with the
/// sequence number as `id`.
#[test]
fn log_stream_sends_the_backlog_then_follows() {
    let emu = emulator();
    let mcp = stub();
    let client = Client::start(&emu, &["--mcp.server-url".into(), mcp.url()]);
    let addr = client.health.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /api/logs/stream?after=0 HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let mut read_until = |needle: &str, seen: &mut String| {
        let end = Instant::now() + Duration::from_secs(10);
        while !seen.contains(needle) {
            assert!(Instant::now() < end, "{needle:?} not in:\n{seen}");
            match s.read(&mut buf) {
                Ok(0) => panic!("stream closed:\n{seen}"),
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) => panic!("{e}:\n{seen}"),
            }
        }
    };
    read_until("\r\n\r\n", &mut seen);
    let head = seen.clone();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    read_until("event: log\nid: 1\ndata: {", &mut seen);
    let r = request(
        &client.health,
        "PUT",
        "/api/log-level",
        &[],
        br#"{"level":"debug"}"#,
    );
    assert_eq!(r.status, 200);
    read_until("runtime log level updated", &mut seen);
    let line = seen
        .lines()
        .find(|l| l.starts_with("data: ") && l.contains("runtime log level updated"))
        .unwrap();
    let ev: serde_json::Value = serde_json::from_str(&line["data: ".len()..]).unwrap();
    assert!(
        ev["seq"].as_u64().unwrap() > 1 && ev["level"] == "DEBUG",
        "{ev}"
    );
}
