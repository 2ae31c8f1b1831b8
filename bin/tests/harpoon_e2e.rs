//! Harpoon end to end: the real binary, the control-plane emulator, and plain HTTP servers
//! on 127.0.0.1 that count every connection they get (an allowlisted target, a redirector,
//! a host that must never be reached, an oversized and a slow one).

mod harpoon_support;
mod support;

use std::time::Duration;

use harpoon_support::*;
use serde_json::{json, Value};
use support::Client;
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};

/// A client whose `main` MCP server publishes no OAuth metadata (so OAuth discovery
/// registers nothing: only the configured targets are reachable).
fn start(emu: &Emulator, targets: &[String]) -> (Client, Server) {
    let mcp = Server::start(|_| Answer {
        status: 404,
        headers: Vec::new(),
        body: Vec::new(),
        delay: Duration::ZERO,
    });
    let mut args = vec![
        "--mcp.server-url".to_string(),
        mcp.url("/mcp"),
        "--harpoon.allow-plaintext-http".into(),
    ];
    for t in targets {
        args.push("--harpoon.target".into());
        args.push(t.clone());
    }
    (Client::start(emu, &args), mcp)
}

#[test]
fn harpoon_channel_serves_tools_and_reaches_only_allowlisted_targets() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let blocked = Server::start(|_| Answer::ok(b"secret"));
    let target = Server::start(|_| Answer::ok(b"pong"));
    let blocked_url = blocked.url("/steal");
    let redirector = Server::start(move |_| Answer::redirect(302, &blocked_url));
    let big = Server::start(|_| Answer::ok(&vec![b'x'; 2048]));
    let slow = Server::start(|_| Answer {
        delay: Duration::from_secs(3),
        ..Answer::ok(b"late")
    });
    let (client, _mcp) = start(
        &emu,
        &[
            format!("label=api,url={},desc=The API", target.url("/")),
            format!("label=hop,url={}", redirector.url("/go")),
            format!("label=big,url={}", big.url("/big")),
            format!("label=slow,url={}", slow.url("/slow")),
            "label=meta,url=http://169.254.169.254/latest/meta-data".into(),
        ],
    );

    // Advertised with process affinity, after main.
    let polls = emu.wait_requests("/poll", 1, WAIT).expect("a poll");
    let info = polls[0]
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-tunnel-mcp-server-info"))
        .map(|(_, v)| v.clone())
        .expect("server info header");
    assert_eq!(
        info,
        r#"{"version":1,"channels":[{"name":"main"},{"name":"harpoon","proc_affinity":true}]}"#
    );

    // initialize → notifications/initialized → tools/list, as the tunnel service does.
    let init = rpc(
        &emu,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                          "clientInfo": {"name": "e2e", "version": "1"}}}),
    );
    let init = init.resp_json.unwrap();
    assert_eq!(init["result"]["serverInfo"]["name"], "harpoon");
    let ack = rpc(
        &emu,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!((ack.resp_type.as_str(), ack.resp_code), ("notify_ack", 200));
    let list = rpc(
        &emu,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    );
    let tools = list.resp_json.unwrap()["result"]["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"list_targets") && names.contains(&"call_target"));

    // list_targets names labels, never URLs.
    let p = rpc(
        &emu,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
               "params": {"name": "list_targets", "arguments": {}}}),
    );
    let text = p.resp_json.unwrap()["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("\"api\"") && !text.contains("http://"),
        "{text}"
    );

    // The allowlisted target is reached, with only forwardable headers.
    let r = call(
        &emu,
        json!({"label": "api", "method": "GET",
               "headers": {"X-Forwarded-For": "6.6.6.6", "Authorization": "Bearer up", "User-Agent": "spoof"}}),
    );
    assert_eq!(r["structuredContent"]["status_code"], 200, "{r}");
    assert_eq!(r["structuredContent"]["body_base64"], "cG9uZw==");
    assert_eq!(r["structuredContent"]["body_size_bytes"], 4);
    assert_eq!(r["structuredContent"]["truncated"], false);
    let seen = target.seen();
    assert_eq!(seen.len(), 1);
    let h = |n: &str| {
        seen[0]
            .headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/");
    assert_eq!(h("authorization").as_deref(), Some("Bearer up"));
    assert!(h("x-forwarded-for").is_none());
    assert!(h("user-agent").unwrap().starts_with("oai-tunnel-client/"));

    // POST with a body.
    let r = call(
        &emu,
        json!({"label": "api", "method": "POST", "body": "{\"a\":1}"}),
    );
    assert_eq!(r["structuredContent"]["status_code"], 200, "{r}");
    let seen = target.seen();
    assert_eq!(
        (seen[1].method.as_str(), &seen[1].body[..]),
        ("POST", &b"{\"a\":1}"[..])
    );

    // A redirect off the allowlist: refused before the other host gets a connection.
    let r = call(&emu, json!({"label": "hop", "method": "GET"}));
    let e = error_text(&r);
    assert_eq!(e, "label hop: redirect blocked");
    assert!(!e.contains(&blocked.addr));
    assert_eq!(redirector.hits(), 1);
    assert_eq!(blocked.hits(), 0, "the non-allowlisted host was contacted");

    // Oversized: an error, not a truncation.
    let r = call(
        &emu,
        json!({"label": "big", "method": "GET", "max_response_bytes": 1024}),
    );
    assert_eq!(error_text(&r), "label big: response exceeds size limit");

    // Slow: the call's own timeout ends it.
    let r = call(
        &emu,
        json!({"label": "slow", "method": "GET", "timeout_ms": 300}),
    );
    assert_eq!(error_text(&r), "label slow: request failed");

    // Invalid input never leaves the process.
    let r = call(
        &emu,
        json!({"label": "api", "method": "POST", "body": "xxxx", "max_response_bytes": 3}),
    );
    assert_eq!(error_text(&r), "label api: request body exceeds size limit");
    let r = call(&emu, json!({"label": "nope", "method": "GET"}));
    assert_eq!(error_text(&r), "label nope: unknown target");
    assert_eq!(target.seen().len(), 2);

    // The address guard refuses the metadata address, and says so in the log.
    let r = call(&emu, json!({"label": "meta", "method": "GET"}));
    assert_eq!(error_text(&r), "label meta: request failed");
    // The line is logged just after the response is posted.
    let guard_line = "address guard refused 169.254.169.254 (link-local address)";
    let logs = client.wait_log(guard_line, WAIT);
    assert!(logs.contains(guard_line), "{logs}");
    assert!(logs.contains("harpoon request completed"), "{logs}");

    // Go's three families, labels bounded (an unknown label counts as __unknown__).
    let (status, text) = client.get("/metrics");
    assert_eq!(status, 200);
    let samples = support::parse_prometheus(&text).expect("valid exposition");
    let value = |name: &str, labels: &str| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l == labels)
            .map(|(_, _, v)| *v)
    };
    let series = |label: &str, outcome: &str, class: &str| {
        format!("label=\"{label}\",outcome=\"{outcome}\",status_class=\"{class}\"")
    };
    assert_eq!(
        value("harpoon_call_total", &series("api", "success", "2xx")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(
            "harpoon_call_total",
            &series("api", "invalid_input", "none")
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            "harpoon_call_total",
            &series("__unknown__", "invalid_input", "none")
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            "harpoon_call_total",
            &series("big", "response_too_large", "none")
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            "harpoon_call_total",
            &series("hop", "request_error", "none")
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            "harpoon_response_size_bytes_sum",
            &series("api", "success", "2xx")
        ),
        Some(8.0),
        "{text}"
    );
    assert_eq!(
        value(
            "harpoon_call_latency_milliseconds_count",
            &series("slow", "request_error", "none")
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains("127.0.0.1:"),
        "no target address in /metrics"
    );

    // The admin API: what Harpoon may reach and what it did.
    let get = |path: &str| {
        let (status, body) = client.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let st = get("/api/harpoon/status");
    assert_eq!(st["enabled"], true);
    assert_eq!(st["capture_payloads"], false);
    assert_eq!(st["max_response_bytes"], 102400);
    assert_eq!(st["proxy_routes"].as_array().unwrap().len(), 5);
    assert_eq!(st["proxy_routes"][0]["route_mode"], "direct");
    let t = get("/api/harpoon/targets");
    assert_eq!(t["targets"][0]["label"], "api");
    assert_eq!(t["targets"][0]["url"], target.url("/"));
    let c = get("/api/harpoon/calls?label=api&limit=1");
    let calls = c["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    // Newest first: the refused oversized body, which still says what was asked.
    assert_eq!(calls[0]["error"], "request body exceeds size limit", "{c}");
    assert_eq!(calls[0]["method"], "POST", "{c}");
    let c = get("/api/harpoon/calls?label=api");
    let calls = c["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 3, "{c}");
    assert_eq!(
        (calls[1]["method"].as_str(), calls[1]["status"].as_u64()),
        (Some("POST"), Some(200))
    );
    assert_eq!(calls[1]["req_bytes"], 7);
    assert_eq!(calls[1]["url"], target.url("/"));
    assert!(
        calls[1].get("request_body").is_none(),
        "no payloads without capture"
    );
    let c = get("/api/harpoon/calls?label=hop");
    assert!(
        c["calls"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("redirect blocked"),
        "{c}"
    );
    assert!(
        logs.contains("channels=harpoon(in_memory),main(http)"),
        "{logs}"
    );
    let enabled = logs
        .lines()
        .find(|l| l.contains("harpoon enabled: target_count=5"))
        .unwrap_or_else(|| panic!("no harpoon enabled line: {logs}"));
    assert!(
        enabled.contains("url=http://169.254.169.254 ") && !enabled.contains("meta-data"),
        "origins only: {enabled}"
    );
    assert!(
        logs.contains("redirect_mismatch_kind=not_allowlisted_other"),
        "{logs}"
    );
}

#[test]
fn harpoon_command_without_targets_gets_gos_400() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let _client = start(&emu, &[]);
    std::thread::sleep(Duration::from_millis(300)); // startup discovery ran and found nothing
    let p = rpc(
        &emu,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert_eq!(p.resp_code, 400, "{p:?}");
    assert_eq!(
        p.resp_json.unwrap()["error"]["message"],
        r#"Bad Request: unsupported channel "harpoon""#
    );
}

#[test]
fn streamable_transport_serves_the_same_tools_on_loopback() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let target = Server::start(|_| Answer::ok(b"pong"));
    let client = Client::start(
        &emu,
        &[
            "--embedded-mcp-stub".into(),
            "--harpoon.allow-plaintext-http".into(),
            "--harpoon.target".into(),
            format!("label=api,url={}", target.url("/x")),
            "--harpoon.additional-transport".into(),
            "HTTP-Streamable".into(),
            "--harpoon.capture-payloads".into(),
        ],
    );
    let url = format!("{}/harpoon/mcp", client.health.trim_end_matches('/'));
    let post = |v: Value| support::http_post_json(&url, &v.to_string());
    let (status, body) = post(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}}));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["result"]["serverInfo"]["name"], "harpoon");
    let (status, _) = post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert_eq!(status, 202);
    let (status, body) = post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "call_target", "arguments": {"label": "api", "method": "GET"}}}));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["result"]["structuredContent"]["body_base64"], "cG9uZw==",
        "{v}"
    );
    assert_eq!(target.seen()[0].target, "/x");
    let (status, body) = post(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "call_target", "arguments": {"label": "api", "method": "DELETE"}}}));
    assert_eq!(status, 200);
    assert!(body.contains("label api: invalid method"), "{body}");
    let (status, text) = client.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"harpoon_call_total{label="api",outcome="success",status_class="2xx"} 1"#),
        "{text}"
    );
    // Logged just after the health URL file is written: wait for it.
    let deadline = std::time::Instant::now() + WAIT;
    while !client
        .logs()
        .contains("harpoon streamable transport enabled: path=/harpoon/mcp")
    {
        assert!(std::time::Instant::now() < deadline, "{}", client.logs());
        std::thread::sleep(Duration::from_millis(20));
    }

    // --harpoon.capture-payloads keeps the bodies in the receipts.
    let (status, _) = post(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "call_target", "arguments": {"label": "api", "method": "POST", "body": "hello"}}}));
    assert_eq!(status, 200);
    let (status, body) = client.get("/api/harpoon/calls?limit=1");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["calls"][0]["request_body"], "hello", "{v}");
    assert_eq!(v["calls"][0]["response_body"], "pong", "{v}");
    let (_, status_body) = client.get("/api/harpoon/status");
    assert!(
        status_body.contains("\"capture_payloads\":true"),
        "{status_body}"
    );
}
