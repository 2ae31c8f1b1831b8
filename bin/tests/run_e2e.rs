//! `tunnel-client run` end to end: the real binary, the control-plane emulator and real MCP
//! servers (server-everything and the Python `mcp` SDK over Streamable HTTP, and the demo
//! stub for fault cases), all on 127.0.0.1.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{parse_prometheus, run_to_exit, Client};
use tunnel_conformance::emulator::{
    CommandSpec, Emulator, EmulatorConfig, Endpoint, Fault, PostedResponse,
};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
use tunnel_conformance::peers::Peers;

const WAIT: Duration = Duration::from_secs(20);
const PROTOCOL: &str = "2025-11-25";

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator")
}

fn server_url_args(url: &str) -> Vec<String> {
    vec!["--mcp.server-url".into(), url.into()]
}

fn terminal(emu: &Emulator, id: &str) -> Vec<PostedResponse> {
    emu.wait_terminal(id, WAIT).unwrap_or_else(|| {
        panic!(
            "no terminal response for {id}; posted: {:?}",
            emu.responses()
        )
    })
}

fn last(posts: &[PostedResponse]) -> &PostedResponse {
    posts.last().expect("at least one post")
}

/// An MCP session through the tunnel, as a connector would drive it.
struct Session<'a> {
    emu: &'a Emulator,
    id: Option<String>,
}

impl<'a> Session<'a> {
    /// `initialize` then `notifications/initialized` (which must get `notify_ack`).
    fn open(emu: &'a Emulator) -> Session<'a> {
        let id = emu.enqueue(CommandSpec::jsonrpc(json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": "e2e", "version": "1"}}
        })));
        let posts = terminal(emu, &id);
        let init = last(&posts);
        assert_eq!(init.resp_type, "jsonrpc_response", "{init:?}");
        assert_eq!(init.resp_code, 200, "{init:?}");
        let result = &init.resp_json.as_ref().expect("resp_json")["result"];
        assert!(result["serverInfo"]["name"].is_string(), "{result}");
        let s = Session {
            emu,
            id: init.resp_header("Mcp-Session-Id").map(str::to_string),
        };
        let ack = s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        let ack = last(&ack);
        assert_eq!(ack.resp_type, "notify_ack", "{ack:?}");
        assert!((200..300).contains(&ack.resp_code), "{ack:?}");
        s
    }

    fn spec(&self, msg: Value) -> CommandSpec {
        let mut spec = CommandSpec::jsonrpc(msg).header("Mcp-Protocol-Version", PROTOCOL);
        if let Some(sid) = &self.id {
            spec = spec.header("Mcp-Session-Id", sid);
        }
        spec
    }

    fn send(&self, msg: Value) -> Vec<PostedResponse> {
        let id = self.emu.enqueue(self.spec(msg));
        terminal(self.emu, &id)
    }

    fn tool_names(&self) -> Vec<String> {
        let posts = self.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
        let json = last(&posts).resp_json.clone().expect("tools/list result");
        json["result"]["tools"]
            .as_array()
            .expect("tools array")
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect()
    }

    fn call(
        &self,
        id: u32,
        name: &str,
        args: Value,
        progress: Option<&str>,
    ) -> Vec<PostedResponse> {
        let mut params = json!({"name": name, "arguments": args});
        if let Some(token) = progress {
            params["_meta"] = json!({"progressToken": token});
        }
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}))
    }

    fn terminate(&self) -> PostedResponse {
        let sid = self.id.as_deref().expect("a session id to terminate");
        let id = self.emu.enqueue(CommandSpec::session_termination(sid));
        last(&terminal(self.emu, &id)).clone()
    }
}

/// The progress notifications posted before the terminal, and the terminal.
fn split_progress(posts: &[PostedResponse]) -> (Vec<&PostedResponse>, &PostedResponse) {
    let (term, notes) = posts.split_last().expect("posts");
    assert!(term.is_terminal());
    assert!(
        notes.iter().all(|p| p.resp_type == "jsonrpc_notify"),
        "{notes:?}"
    );
    (notes.iter().collect(), term)
}

#[test]
fn server_everything_over_streamable_http_round_trip() {
    let peers = Peers::require();
    let peer = peers.everything_http().expect("server-everything");
    let emu = emulator();
    let client = Client::start(&emu, &server_url_args(&peer.url()));

    let s = Session::open(&emu);
    let tools = s.tool_names();
    assert!(tools.contains(&"echo".to_string()), "{tools:?}");

    let posts = s.call(3, "echo", json!({"message": "through the tunnel"}), None);
    let text = &last(&posts).resp_json.as_ref().unwrap()["result"]["content"][0]["text"];
    assert_eq!(text, "Echo: through the tunnel");

    let posts = s.call(
        4,
        "trigger-long-running-operation",
        json!({"duration": 1, "steps": 2}),
        Some("tok-everything"),
    );
    let (notes, term) = split_progress(&posts);
    assert_eq!(
        notes.len(),
        2,
        "one notify per step, before the terminal: {posts:?}"
    );
    for n in &notes {
        let j = n.resp_json.as_ref().unwrap();
        assert_eq!(j["method"], "notifications/progress");
        assert_eq!(j["params"]["progressToken"], "tok-everything");
    }
    assert_eq!(term.resp_type, "jsonrpc_response");
    assert_eq!(term.resp_json.as_ref().unwrap()["id"], 4);

    let end = s.terminate();
    assert_eq!(end.resp_type, "session_termination_response", "{end:?}");
    assert!((200..300).contains(&end.resp_code), "{end:?}");
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
    drop(client);
}

#[test]
fn python_sdk_over_streamable_http_round_trip_and_errors_preserved() {
    let peers = Peers::require();
    let peer = peers.python_http().expect("python mcp server");
    let emu = emulator();
    let client = Client::start(&emu, &server_url_args(&peer.url()));

    let s = Session::open(&emu);
    let tools = s.tool_names();
    for t in ["echo", "slow", "fail"] {
        assert!(tools.contains(&t.to_string()), "{tools:?}");
    }
    let posts = s.call(3, "echo", json!({"text": "héllo"}), None);
    assert_eq!(
        last(&posts).resp_json.as_ref().unwrap()["result"]["content"][0]["text"],
        "héllo"
    );

    let posts = s.call(4, "slow", json!({"ms": 200}), Some("tok-py"));
    let (notes, term) = split_progress(&posts);
    let progress: Vec<i64> = notes
        .iter()
        .map(|n| {
            n.resp_json.as_ref().unwrap()["params"]["progress"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        progress,
        vec![1, 2, 3, 4],
        "in stream order, before the terminal"
    );
    assert_eq!(term.resp_json.as_ref().unwrap()["id"], 4);

    // A JSON-RPC error from the target is forwarded exactly, not replaced by -32603.
    let posts = s.call(5, "fail", json!({}), None);
    let err = &last(&posts).resp_json.as_ref().unwrap()["error"];
    assert_eq!(
        err,
        &json!({"code": -32042, "message": "py-peer: deliberate failure", "data": {"tool": "fail"}})
    );

    let end = s.terminate();
    assert_eq!(end.resp_type, "session_termination_response");
    assert_eq!(end.resp_code, 200);
    // The session is gone on the server: the next call gets the server's own 404 error.
    let posts = s.call(6, "echo", json!({"text": "x"}), None);
    assert_eq!(last(&posts).resp_code, 404, "{:?}", last(&posts));
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
    drop(client);
}

#[test]
fn non_2xx_json_rpc_error_keeps_the_target_status_and_bytes() {
    let stub = McpStub::start(StubConfig::default()).expect("stub");
    let emu = emulator();
    let _client = Client::start(&emu, &server_url_args(&stub.url()));
    let s = Session::open(&emu);
    let posts = s.call(
        9,
        "fail",
        json!({"code": -32004, "message": "quota", "data": {"n": 1}, "http_status": 403}),
        None,
    );
    let t = last(&posts);
    assert_eq!(t.resp_code, 403);
    let err = &t.resp_json.as_ref().unwrap()["error"];
    assert_eq!(
        err,
        &json!({"code": -32004, "message": "quota", "data": {"n": 1}})
    );
}

#[test]
fn target_down_is_a_classified_connect_failure_and_readyz_says_why() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", closed.local_addr().unwrap());
    drop(closed);
    let emu = emulator();
    let client = Client::start(&emu, &server_url_args(&url));
    let body = client.wait_for("/readyz", 503, "MCP target unreachable", WAIT);
    assert!(body.contains("main"), "{body}");
    assert_eq!(client.get("/healthz"), (200, "live\n".into()));

    let id = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}),
    ));
    let t = last(&terminal(&emu, &id)).clone();
    assert_eq!(t.resp_code, 502);
    let j = t.resp_json.unwrap();
    assert_eq!(j["id"], 7);
    assert_eq!(j["error"]["code"], -32603);
    let tf = &j["error"]["data"]["tunnel_failure"];
    assert_eq!(tf["source"], "connect", "{tf}");
    assert_eq!(tf["transport_error_kind"], "connection_refused", "{tf}");
    assert_eq!(tf["upstream_response_received"], false);
}

#[test]
fn readiness_recovers_when_the_target_comes_up() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let emu = emulator();
    let client = Client::start(&emu, &server_url_args(&format!("http://{addr}/mcp")));
    client.wait_for("/readyz", 503, "MCP target unreachable", WAIT);
    let _stub = McpStub::start(StubConfig {
        listen_addr: addr,
        ..StubConfig::default()
    })
    .expect("stub on the same port");
    client.wait_for("/readyz", 200, "ready", WAIT);
}

#[test]
fn expired_command_is_dropped_before_the_target_sees_it() {
    let stub = McpStub::start(StubConfig::default()).expect("stub");
    let emu = emulator();
    let client = Client::start(&emu, &server_url_args(&stub.url()));
    let s = Session::open(&emu);
    let expired = emu.enqueue(
        s.spec(json!({"jsonrpc": "2.0", "id": 40, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"input": "EXPIRED-MARKER"}}}))
            .response_timeout("0s"),
    );
    let posts = s.call(41, "echo", json!({"input": "fresh"}), None);
    assert_eq!(last(&posts).resp_code, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        emu.responses_for(&expired).is_empty(),
        "nothing is posted for it"
    );
    assert!(
        !stub
            .requests()
            .iter()
            .any(|r| r.body.contains("EXPIRED-MARKER")),
        "the target never saw the expired command"
    );
    let (_, metrics) = client.get("/metrics");
    assert!(
        metrics.contains("tunnel_client_deadlines_expired_total 1"),
        "{metrics}"
    );
}

#[test]
fn poll_429_and_503_retry_after_is_honoured() {
    let stub = McpStub::start(StubConfig::default()).expect("stub");
    let emu = emulator();
    for status in [429, 503] {
        emu.script_poll(Fault::Status {
            status,
            retry_after: Some("1".into()),
            body: None,
        });
    }
    let client = Client::start(&emu, &server_url_args(&stub.url()));
    let polls = emu.wait_requests("/poll", 3, WAIT).expect("three polls");
    for pair in polls.windows(2).take(2) {
        let gap = pair[1].received_at - pair[0].received_at;
        assert!(
            gap >= Duration::from_secs(1),
            "Retry-After: 1 must delay the next poll by at least 1 s, got {gap:?}"
        );
    }
    // And it still serves afterwards.
    let s = Session::open(&emu);
    assert!(!s.tool_names().is_empty());
    drop(client);
}

#[test]
fn auth_rejection_makes_readyz_503_with_the_fix_and_never_spins() {
    let stub = McpStub::start(StubConfig::default()).expect("stub");
    let emu = emulator();
    emu.script_repeat(
        Endpoint::Poll,
        Fault::Status {
            status: 401,
            retry_after: None,
            body: None,
        },
        100,
    );
    let client = Client::start(&emu, &server_url_args(&stub.url()));
    let body = client.wait_for("/readyz", 503, "HTTP 401", WAIT);
    assert!(body.contains("fix:"), "the reason names the fix: {body}");
    assert_eq!(client.get("/healthz").0, 200, "liveness stays simple");
    std::thread::sleep(Duration::from_secs(2));
    let polls = emu.polls().len();
    assert!(
        polls <= 4,
        "401 is an operator state, not a tight loop: {polls} polls in ~2 s"
    );
    let (_, m) = client.get("/metrics");
    assert!(m.contains("readiness 0"), "{m}");
}

#[test]
fn sigterm_drain_finishes_in_flight_commands_and_exits_0() {
    let stub = McpStub::start(StubConfig::default()).expect("stub");
    let emu = emulator();
    let mut client = Client::start(&emu, &server_url_args(&stub.url()));
    let s = Session::open(&emu);
    let ids: Vec<String> = (0..4)
        .map(|i| {
            emu.enqueue(s.spec(
                json!({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
                "params": {"name": "slow", "arguments": {"ms": 1500, "steps": 3}}}),
            ))
        })
        .collect();
    // Wait until all four are running at the target.
    let deadline = std::time::Instant::now() + WAIT;
    while stub
        .requests()
        .iter()
        .filter(|r| r.body.contains("\"slow\""))
        .count()
        < 4
    {
        assert!(
            std::time::Instant::now() < deadline,
            "slow calls never reached the stub"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(client.pid_file.exists() && client.url_file.exists());
    let pid: u32 = std::fs::read_to_string(&client.pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, client.child.id());
    client.signal("TERM");
    let status = client.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "logs:\n{}", client.logs());
    for id in &ids {
        let posts = emu.responses_for(id);
        let t = posts.iter().find(|p| p.is_terminal()).unwrap_or_else(|| {
            panic!(
                "{id} lost in the drain: {posts:?}\nlogs:\n{}",
                client.logs()
            )
        });
        assert_eq!(t.resp_code, 200, "{t:?}");
    }
    assert!(!client.pid_file.exists(), "pid file removed on stop");
    assert!(!client.url_file.exists(), "url file removed on stop");
    assert!(client.logs().contains("draining"), "{}", client.logs());
}

#[test]
fn malformed_poll_bodies_and_unknown_command_types_leave_the_client_serving() {
    let stub = McpStub::start(StubConfig::default()).expect("stub");
    let emu = emulator();
    for body in [&b"{not json"[..], b"[]", b"{\"commands\":7}"] {
        emu.script_poll(Fault::RawBody {
            status: 200,
            content_type: "application/json".into(),
            body: body.to_vec(),
        });
    }
    emu.script_poll(Fault::TruncatedTransfer { sent: 5 });
    let client = Client::start(&emu, &server_url_args(&stub.url()));
    // Enqueue only once the four faulty polls are over: a poll cut mid-transfer loses
    // whatever it carried, as it would with the real service.
    emu.wait_requests("/poll", 5, WAIT)
        .expect("the client keeps polling");
    let teleport = emu.enqueue(CommandSpec::of_type("teleport"));
    let broken = emu.enqueue(CommandSpec::raw(r#"{"command_type":"jsonrpc"}"#));
    let s = Session::open(&emu);
    let posts = s.call(5, "uppercase", json!({"input": "still here"}), None);
    assert_eq!(
        last(&posts).resp_json.as_ref().unwrap()["result"]["content"][0]["text"],
        "STILL HERE"
    );
    assert!(emu.responses_for(&teleport).is_empty());
    assert!(emu.responses_for(&broken).is_empty());
    assert_eq!(client.get("/healthz").0, 200);
    let (_, m) = client.get("/metrics");
    assert!(
        m.contains("commands_queue_drops_total{drop_reason=\"invalid_command_type\"} 1"),
        "{m}"
    );
}

#[test]
fn metrics_are_valid_prometheus_and_count_what_happened() {
    let stub = McpStub::start(StubConfig::default()).expect("stub");
    let emu = emulator();
    let client = Client::start(&emu, &server_url_args(&stub.url()));
    let s = Session::open(&emu);
    s.tool_names();
    let other = emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .on_channel("nowhere"),
    );
    assert_eq!(last(&terminal(&emu, &other)).resp_code, 400);
    client.wait_for("/readyz", 200, "ready", WAIT);
    let (status, text) = client.get("/metrics");
    assert_eq!(status, 200);
    let samples = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let value = |name: &str, label_part: &str| -> f64 {
        samples
            .iter()
            .filter(|(n, l, _)| n == name && l.contains(label_part))
            .map(|s| s.2)
            .sum()
    };
    assert!(value("commands_polled_total", "") >= 4.0, "{text}");
    assert_eq!(value("liveness", ""), 1.0);
    assert_eq!(value("readiness", ""), 1.0);
    assert_eq!(value("dispatcher_worker_pool_capacity", ""), 10.0);
    assert_eq!(value("commands_queue_capacity", ""), 20.0);
    assert!(
        value(
            "command_end_to_end_latency_milliseconds_count",
            "request_kind=\"call\",request_method=\"tools/list\""
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        value("command_unsupported_channel_total", "channel=\"nowhere\""),
        1.0,
        "{text}"
    );
    assert!(!text.contains(emu.api_key()), "no secret in /metrics");
}

#[test]
fn embedded_mcp_stub_serves_channel_main() {
    let emu = emulator();
    let client = Client::start(
        &emu,
        &[
            "--embedded-mcp-stub".into(),
            "--embedded-mcp-server-name".into(),
            "e2e-stub".into(),
        ],
    );
    let s = Session::open(&emu);
    let posts = s.call(2, "server_info", json!({}), None);
    let text = last(&posts).resp_json.as_ref().unwrap()["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.starts_with("e2e-stub 0.1.0"), "{text}");
    assert!(client.logs().contains("MCP URL:"), "{}", client.logs());
}

#[test]
fn startup_errors_exit_1_and_name_the_setting_and_fix() {
    let (code, _, err) = run_to_exit(
        &["--mcp.server-url", "http://127.0.0.1:1/mcp"],
        &[("CONTROL_PLANE_API_KEY", "k")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("tunnel ID is required"), "{err}");
    assert!(err.contains("help quickstart"), "first-use hint: {err}");

    let base = [
        "--control-plane.tunnel-id",
        "tunnel_0123456789abcdef0123456789abcdef",
        "--mcp.server-url",
        "http://127.0.0.1:1/mcp",
    ];
    let (code, _, err) = run_to_exit(
        &[&base[..], &["--control-plane.max-inflight", "0"]].concat(),
        &[("CONTROL_PLANE_API_KEY", "k")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--control-plane.max-inflight"), "{err}");

    let (code, _, err) = run_to_exit(&base, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("control plane API key is required"), "{err}");

    let (code, _, err) = run_to_exit(
        &[&base[..], &["--log.http-raw-unsafe"]].concat(),
        &[("CONTROL_PLANE_API_KEY", "k")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("not supported yet"), "{err}");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let (code, _, err) = run_to_exit(
        &[&base[..], &["--health.listen-addr", &addr]].concat(),
        &[("CONTROL_PLANE_API_KEY", "sk-canary-do-not-print")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--health.listen-addr"), "{err}");
    assert!(
        !err.contains("sk-canary-do-not-print"),
        "the key never reaches output"
    );
}

/// The README's first command: `tunnel-client demo` serves an MCP client through the
/// emulator, and Ctrl-C drains and exits 0.
#[test]
fn demo_serves_an_mcp_client_end_to_end_and_stops_on_sigint() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(support::BIN)
        .arg("demo")
        .env_remove("MCP_SERVER_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mcp = loop {
        let line = rx.recv_timeout(WAIT).expect("demo prints its MCP URL");
        if let Some(url) = line.split("MCP URL through the tunnel: ").nth(1) {
            break url.trim().to_string();
        }
    };
    let (status, body) = support::http_post_json(
        &mcp,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"serverInfo\""), "{body}");
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(std::time::Instant::now() < deadline, "demo did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
}

#[test]
fn startup_wait_timeout_holds_the_first_poll_until_the_target_listens() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let emu = emulator();
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let stub = McpStub::start(StubConfig {
            listen_addr: addr,
            ..StubConfig::default()
        })
        .expect("stub");
        (stub, std::time::Instant::now())
    });
    let mut args = server_url_args(&format!("http://{addr}/mcp"));
    args.extend(["--mcp.startup-wait-timeout".into(), "10s".into()]);
    let client = Client::start(&emu, &args);
    let (_stub, listening_by) = late.join().unwrap();
    let first_poll = emu.wait_requests("/poll", 1, WAIT).expect("a poll")[0].received_at;
    assert!(
        first_poll + Duration::from_millis(100) >= listening_by,
        "the first poll went out {:?} before the target listened",
        listening_by - first_poll
    );
    assert!(
        client.logs().contains("retrying MCP startup probe"),
        "{}",
        client.logs()
    );
    let s = Session::open(&emu);
    assert!(!s.tool_names().is_empty());
}

#[test]
fn stdio_server_everything_through_run() {
    let peers = Peers::require();
    let emu = emulator();
    let command = peers.everything_stdio_argv().join(" ");
    let client = Client::start(&emu, &["--mcp.command".into(), command]);
    let s = Session::open(&emu);
    assert!(s.id.is_none(), "stdio has no HTTP session");
    let tools = s.tool_names();
    assert!(tools.contains(&"get-sum".to_string()), "{tools:?}");
    let posts = s.call(3, "get-sum", json!({"a": 20, "b": 22}), None);
    let text = &last(&posts).resp_json.as_ref().unwrap()["result"]["content"][0]["text"];
    assert!(text.as_str().unwrap().contains("42"), "{text}");
    // session_termination on a stdio channel: 405, the child untouched.
    let id = emu.enqueue(CommandSpec::session_termination("whatever"));
    assert_eq!(last(&terminal(&emu, &id)).resp_code, 405);
    let posts = s.call(4, "echo", json!({"message": "still alive"}), None);
    assert_eq!(
        last(&posts).resp_json.as_ref().unwrap()["result"]["content"][0]["text"],
        "Echo: still alive"
    );
    client.wait_for("/readyz", 200, "ready", WAIT);
}

#[test]
fn stdio_command_that_cannot_start_fails_the_start_naming_it() {
    let (code, _, err) = run_to_exit(
        &[
            "--control-plane.tunnel-id",
            "tunnel_0123456789abcdef0123456789abcdef",
            "--mcp.command",
            "/nonexistent/mcp-server --flag",
        ],
        &[("CONTROL_PLANE_API_KEY", "k")],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/nonexistent/mcp-server"), "{err}");
}

/// An `oauth_discovery` command against the embedded stub (which advertises RFC 9728
/// metadata, as a protected MCP server would): the document is found and posted as
/// `oauth_discovery_response` with the upstream status, and the log says where it came from.
#[test]
fn oauth_discovery_posts_the_servers_protected_resource_metadata() {
    let emu = emulator();
    let client = Client::start(&emu, &["--embedded-mcp-stub".into()]);
    let id = emu.enqueue(CommandSpec::oauth_discovery());
    let posts = terminal(&emu, &id);
    let p = last(&posts);
    assert_eq!(p.resp_type, "oauth_discovery_response", "{p:?}");
    assert_eq!(p.resp_code, 200, "{p:?}");
    let doc = p.resp_json.as_ref().expect("the metadata document");
    assert!(
        doc["resource"]
            .as_str()
            .is_some_and(|r| r.ends_with("/mcp")),
        "{doc}"
    );
    assert!(doc["authorization_servers"][0].is_string(), "{doc}");
    assert_eq!(
        p.resp_headers.get("Content-Type").map(Vec::as_slice),
        Some(&["application/json".to_string()][..]),
        "{p:?}"
    );
    // The log line is written by the driver, maybe just after the post went out.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !client.logs().contains("oauth discovery for command") {
        assert!(std::time::Instant::now() < deadline, "{}", client.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
}
