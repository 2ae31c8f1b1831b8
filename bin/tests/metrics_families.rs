//! `/metrics` carries the Go client's families (go-runtime.md §8.3) with bounded labels,
//! in valid Prometheus text format: poll latency and command age, both latency types of
//! the end-to-end histogram, and the HTTP client duration of control-plane and MCP calls.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::{parse_prometheus, Client};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig, Fault};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

const WAIT: Duration = Duration::from_secs(20);

fn samples(client: &Client) -> Vec<(String, String, f64)> {
    let (status, body) = client.get("/metrics");
    assert_eq!(status, 200);
    parse_prometheus(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

fn sum(samples: &[(String, String, f64)], name: &str, label: &str) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && l.contains(label))
        .map(|(_, _, v)| v)
        .sum()
}

/// The label values of `label` over the samples of `name`.
fn values(samples: &[(String, String, f64)], name: &str, label: &str) -> BTreeSet<String> {
    let key = format!("{label}=\"");
    samples
        .iter()
        .filter(|(n, _, _)| n == name)
        .filter_map(|(_, l, _)| {
            let i = l.find(&key)? + key.len();
            Some(l[i..].split('"').next()?.to_string())
        })
        .collect()
}

#[test]
fn go_families_are_exported_with_bounded_labels() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let mcp = McpStub::start(StubConfig::default()).expect("stub");
    let client = Client::start(&emu, &["--mcp.server-url".into(), mcp.url()]);

    let send = |msg: Value, spec: fn(CommandSpec) -> CommandSpec| {
        let id = emu.enqueue(spec(CommandSpec::jsonrpc(msg)));
        emu.wait_terminal(&id, WAIT).expect("terminal");
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "m", "version": "1"}}}),
        |s| s,
    );
    send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        |s| s,
    );
    // A method outside the MCP list is labelled `other`, whatever it is called.
    send(
        json!({"jsonrpc": "2.0", "id": 3, "method": "x-vendor/uniq-8c1f2"}),
        |s| s,
    );
    // A malformed created_at: the command runs; no enqueue latency, no age for it.
    send(json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}), |s| {
        s.field("created_at", json!("yesterday"))
    });
    // One failed poll, so the error=true series exists.
    emu.script_poll(Fault::status(503));
    std::thread::sleep(Duration::from_millis(2500));
    let s = samples(&client);

    // Poll latency, by error.
    assert!(sum(&s, "commands_poll_latency_seconds_count", "error=\"false\"") >= 1.0);
    let polls_failed = sum(&s, "commands_poll_latency_seconds_count", "error=\"true\"");
    assert!(polls_failed >= 1.0, "a 503 poll is error=true");
    assert_eq!(
        values(&s, "commands_poll_latency_seconds_count", "error"),
        BTreeSet::from(["false".into(), "true".into()])
    );

    // Command age: the three commands with a valid created_at.
    assert_eq!(sum(&s, "commands_age_seconds_count", ""), 3.0);
    assert!(sum(&s, "commands_age_seconds_bucket", "le=\"+Inf\"") == 3.0);

    // End-to-end latency: both types; enqueue_to_response only where created_at parsed.
    let e2e = "command_end_to_end_latency_milliseconds_count";
    assert_eq!(sum(&s, e2e, "latency_type=\"poll_to_response\""), 4.0);
    assert_eq!(sum(&s, e2e, "latency_type=\"enqueue_to_response\""), 3.0);
    let methods = values(&s, e2e, "request_method");
    assert!(
        methods.contains("other") && methods.contains("tools/list"),
        "{methods:?}"
    );
    assert!(
        !methods.iter().any(|m| m.contains("uniq")),
        "unbounded method label: {methods:?}"
    );

    // HTTP client duration: poll, response POST and metadata on the control plane, POST to
    // the MCP server; routes without query strings.
    let http = "http_client_request_duration_seconds_count";
    let routes = values(&s, http, "http_route");
    let tid = emu.tunnel_id();
    for r in [
        format!("/v1/tunnels/{tid}/poll"),
        format!("/v1/tunnels/{tid}/response"),
        format!("/v1/tunnels/{tid}"),
        "/mcp".to_string(),
    ] {
        assert!(routes.contains(&r), "{r} missing from {routes:?}");
    }
    assert!(routes.iter().all(|r| !r.contains('?')), "{routes:?}");
    let mcp_port = mcp.base_url().rsplit(':').next().unwrap().to_string();
    assert!(values(&s, http, "server_port").contains(&mcp_port));
    assert_eq!(
        values(&s, http, "http_request_method"),
        BTreeSet::from(["GET".into(), "POST".into()])
    );
    assert!(values(&s, http, "http_response_status_code").contains("503"));
    assert_eq!(
        values(&s, http, "server_address"),
        BTreeSet::from(["127.0.0.1".into()])
    );
    // Request body sizes, same labels: response POSTs and MCP POSTs carry bodies, polls
    // none.
    let body = "http_client_request_body_size_bytes";
    let posted = format!("http_route=\"/v1/tunnels/{tid}/response\"");
    assert!(sum(&s, &format!("{body}_count"), &posted) >= 4.0);
    assert!(sum(&s, &format!("{body}_sum"), &posted) > 100.0);
    assert!(sum(&s, &format!("{body}_sum"), "http_route=\"/mcp\"") > 50.0);
    let polled = format!("http_route=\"/v1/tunnels/{tid}/poll\"");
    assert!(sum(&s, &format!("{body}_count"), &polled) >= 1.0);
    assert_eq!(sum(&s, &format!("{body}_sum"), &polled), 0.0);
    let series = s
        .iter()
        .filter(|(n, _, _)| n.starts_with("http_client_request_duration_seconds"))
        .count();
    println!(
        "http_client_request_duration_seconds: {series} sample lines over {} routes",
        routes.len()
    );
}

/// The standard `process_*` families are there with plausible values, and a 401 poll is
/// counted as a failed poll (`commands_poll_errors_total{error_kind="other"}`, Go's
/// accounting) as well as in `tunnel_client_auth_rejected_total`.
#[test]
fn process_families_and_401_poll_accounting() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let mcp = McpStub::start(StubConfig::default()).expect("stub");
    let client = Client::start(&emu, &["--mcp.server-url".into(), mcp.url()]);
    client.wait_for("/readyz", 200, "ready", WAIT);
    let s = samples(&client);
    for family in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        let v: Vec<f64> = s
            .iter()
            .filter(|(n, _, _)| n == family)
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(v.len(), 1, "{family}: one sample");
        // CPU time of a fresh, idle process may still be 0 ticks.
        assert!(
            v[0] > 0.0 || family == "process_cpu_seconds_total",
            "{family} = {}",
            v[0]
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = sum(&s, "process_start_time_seconds", "");
    assert!(
        start <= now && start > now - 300.0,
        "start {start}, now {now}"
    );
    assert!(sum(&s, "process_resident_memory_bytes", "") > 1e6);

    let before = sum(&s, "commands_poll_errors_total", "error_kind=\"other\"");
    emu.script_poll(Fault::status(401));
    client.wait_for("/readyz", 503, "HTTP 401", WAIT);
    let s = samples(&client);
    assert!(
        sum(&s, "commands_poll_errors_total", "error_kind=\"other\"") >= before + 1.0,
        "a 401 poll counts as a poll error"
    );
    assert!(sum(&s, "tunnel_client_auth_rejected_total", "") >= 1.0);
}
