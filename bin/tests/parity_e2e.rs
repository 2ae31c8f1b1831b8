//! Go end-to-end parity (`go-runtime.md` §11, `docs/go-parity.md`): behaviours of the Go
//! suite that only show through the real binary, each against a local target built for the
//! case (a stalled listener, a canned HTTP server, a header-gated OAuth server), all on
//! 127.0.0.1 and bounded in time.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Client;
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig, PostedResponse};

const WAIT: Duration = Duration::from_secs(20);

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator")
}

fn terminal(emu: &Emulator, id: &str) -> PostedResponse {
    let posts = emu.wait_terminal(id, WAIT).unwrap_or_else(|| {
        panic!(
            "no terminal response for {id}; posted: {:?}",
            emu.responses()
        )
    });
    posts.last().expect("at least one post").clone()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// One request as a canned server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers every request with `answer` and
/// closes the connection; it records what it saw and stops when dropped.
struct Canned {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

/// Status, content type and body; extra headers through [`Reply::with`].
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn new(status: u16, content_type: &str, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", content_type.to_string())],
            body: body.into(),
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

type Answer = dyn Fn(&Seen) -> Reply + Send + Sync;

impl Canned {
    fn start(answer: Box<Answer>) -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind canned server");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = serve_one(stream, &*answer, &seen2);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Canned { addr, seen, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Canned {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_one(stream: TcpStream, answer: &Answer, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let s = Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let reply = answer(&s);
    seen.lock().unwrap().push(s);
    let mut out = stream;
    write!(out, "HTTP/1.1 {} X\r\n", reply.status)?;
    for (k, v) in &reply.headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(
        out,
        "content-length: {}\r\nconnection: close\r\n\r\n{}",
        reply.body.len(),
        reply.body
    )?;
    out.flush()
}

/// A listener whose accept queue is full: connections to it hang in the TCP handshake (the
/// kernel drops the SYNs), so an MCP request is still *connecting* when its deadline passes.
/// Returns the listener and the queued connections; both must live as long as the test.
fn stalled_target() -> (TcpListener, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    // The queue holds a few hundred at most; the first connect that does not complete at
    // once says it is full.
    for _ in 0..5000 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => queued.push(s),
            Err(_) => return (listener, queued),
        }
    }
    panic!("the accept queue of a loopback listener never filled");
}

/// Defect 1: once a command's `response_timeout` passes nothing is posted, even when the
/// MCP request is still connecting and its connect timeout fires right at the deadline.
/// Deadlines are spread over 1.0–1.7 s so that some connect timeouts round to just before
/// them (the Go suite's §11.36/§11.39 rule, found failing 1 in 8 here).
#[test]
fn deadline_while_connecting_posts_nothing() {
    let (listener, _queued) = stalled_target();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let emu = emulator();
    let client = Client::start(
        &emu,
        &args(&[
            "--mcp.server-url",
            &url,
            "--mcp.max-concurrent-requests",
            "40",
            "--control-plane.max-inflight",
            "40",
        ]),
    );
    let ids: Vec<String> = (0..32)
        .map(|i| {
            emu.enqueue(
                CommandSpec::jsonrpc(json!({"jsonrpc": "2.0", "id": i, "method": "tools/list"}))
                    .response_timeout(&format!("{}ms", 1000 + i * 23)),
            )
        })
        .collect();
    let start = Instant::now();
    while emu.pending_commands() > 0 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every deadline has passed (the last is 1.7 s after its poll), with room to post.
    std::thread::sleep(Duration::from_millis(2700));
    let posted: Vec<(String, i64, Option<Value>)> = ids
        .iter()
        .flat_map(|id| emu.responses_for(id))
        .map(|p| {
            let tf = p
                .resp_json
                .as_ref()
                .map(|j| j["error"]["data"]["tunnel_failure"].clone());
            (p.request_id, p.resp_code, tf)
        })
        .collect();
    assert!(
        posted.is_empty(),
        "{} of {} commands were answered after their deadline: {posted:?}\n{}",
        posted.len(),
        ids.len(),
        client.logs()
    );
    assert!(
        client.logs().contains("response_timeout"),
        "the expiries are logged:\n{}",
        client.logs()
    );
}

/// Defect 2 (§11.53): a notification to a target that refuses the connection is
/// acknowledged `notify_ack` 502 without `resp_json`; a request gets its -32603 error.
#[test]
fn notification_to_an_unreachable_target_is_acked_502() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", closed.local_addr().unwrap());
    drop(closed);
    let emu = emulator();
    let _client = Client::start(&emu, &args(&["--mcp.server-url", &url]));
    let n = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ));
    let ack = terminal(&emu, &n);
    assert_eq!(ack.resp_type, "notify_ack", "{ack:?}");
    assert_eq!(ack.resp_code, 502, "{ack:?}");
    assert!(ack.resp_json.is_none(), "{ack:?}");

    let r = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
    ));
    let t = terminal(&emu, &r);
    assert_eq!(t.resp_type, "jsonrpc_response", "{t:?}");
    assert_eq!(t.resp_json.as_ref().unwrap()["id"], 3, "{t:?}");
}

/// Defect 3 (§11.54): a 200 reply that is valid JSON but no response to the request (no
/// `id`) is `protocol/invalid_protocol_response`, not `malformed_json`.
#[test]
fn reply_without_id_is_an_invalid_protocol_response() {
    let target = Canned::start(Box::new(|_| {
        Reply::new(200, "application/json", r#"{"jsonrpc":"2.0","result":{}}"#)
    }));
    let emu = emulator();
    let _client = Client::start(&emu, &args(&["--mcp.server-url", &target.url("/mcp")]));
    let id = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}),
    ));
    let t = terminal(&emu, &id);
    assert_eq!(t.resp_code, 502, "{t:?}");
    let j = t.resp_json.as_ref().expect("resp_json");
    assert_eq!(j["id"], 9, "{j}");
    let tf = &j["error"]["data"]["tunnel_failure"];
    assert_eq!(tf["source"], "protocol", "{tf}");
    assert_eq!(
        tf["transport_error_kind"], "invalid_protocol_response",
        "{tf}"
    );
}

/// Defect 4 (§11.12): a protected control-plane header in `--control-plane.extra-headers` is
/// not sent, and the operator is told so once, at startup, with the header's name.
#[test]
fn protected_control_plane_header_is_not_sent_and_a_warning_names_it() {
    let emu = emulator();
    let client = Client::start(
        &emu,
        &args(&[
            "--embedded-mcp-stub",
            "--control-plane.extra-headers",
            "X-Tunnel-Client-Instance-Id: x",
            "--control-plane.extra-headers",
            "X-Team: blue",
        ]),
    );
    let start = Instant::now();
    while emu.polls().len() < 2 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    let polls = emu.polls();
    assert!(polls.len() >= 2, "{polls:?}");
    for p in &polls {
        let instance = p
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-tunnel-client-instance-id"))
            .map(|(_, v)| v.as_str());
        assert!(
            instance.is_some_and(|v| v.len() == 32 && v != "x"),
            "{:?}",
            p.headers
        );
        assert!(
            p.headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("x-team") && v == "blue"),
            "other extra headers are sent: {:?}",
            p.headers
        );
    }
    let logs = client.logs();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| {
            l.to_ascii_lowercase()
                .contains("x-tunnel-client-instance-id")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "one warning, naming the header:\n{logs}");
    assert!(warnings[0].contains("WARN"), "{}", warnings[0]);
    assert!(
        !logs.contains("X-Team"),
        "no warning for an ordinary header:\n{logs}"
    );
}

/// A protected MCP server behind a gateway that checks a static header: the gateway answers
/// 403 to anything without it. Discovery must carry it (the Go suite's §11.16/§11.17).
fn gated_oauth_server(required: &'static str) -> Canned {
    Canned::start(Box::new(move |s: &Seen| {
        if s.header("x-gateway-key") != Some(required) {
            return Reply::new(403, "text/plain", "forbidden");
        }
        if s.path == "/.well-known/oauth-protected-resource/mcp" && s.method == "GET" {
            let doc = json!({"resource": "http://gateway.test/mcp",
                             "authorization_servers": ["https://auth.example.com"]});
            return Reply::new(200, "application/json", doc.to_string());
        }
        Reply::new(404, "text/plain", "not found")
    }))
}

fn discover(emu: &Emulator) -> PostedResponse {
    let id = emu.enqueue(CommandSpec::oauth_discovery());
    terminal(emu, &id)
}

fn assert_found(p: &PostedResponse) {
    assert_eq!(p.resp_type, "oauth_discovery_response", "{p:?}");
    assert_eq!(p.resp_code, 200, "{p:?}");
    let doc: &Value = p.resp_json.as_ref().expect("the metadata document");
    assert_eq!(doc["resource"], "http://gateway.test/mcp", "{doc}");
}

/// Defect 5: `--mcp.extra-headers` reach the discovery requests (any path of the MCP origin).
#[test]
fn oauth_discovery_carries_the_mcp_extra_headers() {
    let target = gated_oauth_server("k1");
    let emu = emulator();
    let _client = Client::start(
        &emu,
        &args(&[
            "--mcp.server-url",
            &target.url("/mcp"),
            "--mcp.extra-headers",
            "X-Gateway-Key: k1",
        ]),
    );
    assert_found(&discover(&emu));
    let wk: Vec<Seen> = target
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/.well-known/"))
        .collect();
    assert!(!wk.is_empty());
    assert!(
        wk.iter().all(|s| s.header("x-gateway-key") == Some("k1")),
        "{wk:?}"
    );
}

/// Defect 5: `--mcp.discovery-extra-headers` reach the discovery requests and override an
/// `--mcp.extra-headers` of the same name there, but never reach tool calls.
#[test]
fn oauth_discovery_headers_override_extra_headers_on_discovery_only() {
    let target = gated_oauth_server("discovery");
    let emu = emulator();
    let _client = Client::start(
        &emu,
        &args(&[
            "--mcp.server-url",
            &target.url("/mcp"),
            "--mcp.extra-headers",
            "X-Gateway-Key: general",
            "--mcp.discovery-extra-headers",
            "X-Gateway-Key: discovery",
        ]),
    );
    assert_found(&discover(&emu));
    let id = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    ));
    let t = terminal(&emu, &id);
    assert_eq!(
        t.resp_code, 403,
        "the gate refuses the tool call's header: {t:?}"
    );
    let seen = target.seen();
    let call = seen
        .iter()
        .find(|s| s.method == "POST" && s.body.contains("tools/list"))
        .expect("the tool call reached the target");
    assert_eq!(call.header("x-gateway-key"), Some("general"), "{call:?}");
    let wk: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.starts_with("/.well-known/"))
        .collect();
    assert!(!wk.is_empty());
    assert!(
        wk.iter()
            .all(|s| s.header("x-gateway-key") == Some("discovery")),
        "{wk:?}"
    );
}

/// `help oauth` says which static headers discovery requests carry, as they now do.
#[test]
fn help_oauth_names_the_headers_discovery_carries() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tunnel-client"))
        .args(["help", "oauth"])
        .output()
        .expect("run tunnel-client help oauth");
    assert!(out.status.success(), "{out:?}");
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("--mcp.discovery-extra-headers"), "{out}");
    assert!(out.contains("--mcp.extra-headers"), "{out}");
}

/// Waits until `cond` holds, at most [`WAIT`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// §11.9: every control-plane request of one process (metadata, polls, response POSTs)
/// carries the same `X-Tunnel-Client-Instance-Id`, 32 lower-case hex characters.
#[test]
fn every_control_plane_request_carries_one_instance_id() {
    let emu = emulator();
    let _client = Client::start(&emu, &args(&["--embedded-mcp-stub"]));
    let id = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
    ));
    terminal(&emu, &id);
    wait_until("a second poll", || emu.polls().len() >= 2);
    let requests = emu.requests();
    let ids: Vec<String> = requests
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("x-tunnel-client-instance-id"))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{} {} has no instance id", r.method, r.path))
        })
        .collect();
    let kinds: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert!(
        kinds.contains(&"POST") && kinds.contains(&"GET"),
        "{kinds:?}"
    );
    let first = &ids[0];
    assert_eq!(first.len(), 32, "{first}");
    assert!(
        first
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{first}"
    );
    assert!(ids.iter().all(|i| i == first), "{ids:?}");
    // A remote (HTTP) main channel is advertised without process affinity (§11.10).
    assert!(requests.iter().all(|r| r.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("x-tunnel-mcp-server-info")
            && v == r#"{"version":1,"channels":[{"name":"main"}]}"#
    })));
}

/// §11.17: without the static header a gateway requires, an `oauth_discovery` fails (every
/// request is refused). Unlike Go (which posts nothing and leaves the service to time the
/// request out) an error response says why at once.
#[test]
fn oauth_discovery_without_the_gateway_header_posts_an_error() {
    let target = gated_oauth_server("k1");
    let emu = emulator();
    let _client = Client::start(&emu, &args(&["--mcp.server-url", &target.url("/mcp")]));
    let p = discover(&emu);
    assert_eq!(p.resp_type, "oauth_discovery_response", "{p:?}");
    assert_eq!(p.resp_code, 502, "{p:?}");
    let err = &p.resp_json.as_ref().expect("an error body")["error"];
    assert_eq!(err["code"], "oauth_discovery_failed", "{err}");
    assert!(
        err["message"].as_str().unwrap_or("").contains("status 403"),
        "{err}"
    );
    let seen = target.seen();
    assert!(
        seen.iter().any(|s| s.path.starts_with("/.well-known/")),
        "{seen:?}"
    );
    assert!(seen.iter().all(|s| s.header("x-gateway-key").is_none()));
}

/// An OAuth-protected MCP server: 401 with a Bearer challenge naming its metadata unless
/// the request carries the token; metadata only at the challenge's URL (not well-known).
fn protected_server() -> Canned {
    let addr = Arc::new(Mutex::new(None::<SocketAddr>));
    let a2 = addr.clone();
    let c = Canned::start(Box::new(move |s: &Seen| {
        let me = a2.lock().unwrap().expect("address set");
        let prm = format!("http://{me}/meta/prm");
        if s.method == "GET" && s.path == "/meta/prm" {
            let doc = json!({"resource": format!("http://{me}/mcp"),
                             "authorization_servers": ["https://auth.example.com"]});
            return Reply::new(200, "application/json", doc.to_string());
        }
        if s.path != "/mcp" {
            return Reply::new(404, "text/plain", "not found");
        }
        if s.header("authorization") != Some("Bearer tok-123") {
            return Reply::new(401, "application/json", r#"{"error":"unauthorized"}"#).with(
                "www-authenticate",
                format!(r#"Bearer realm="mcp", resource_metadata="{prm}""#),
            );
        }
        let msg: Value = serde_json::from_str(&s.body).unwrap_or(Value::Null);
        let result = match msg["method"].as_str() {
            Some("initialize") => json!({"protocolVersion": "2025-11-25", "capabilities": {},
                                         "serverInfo": {"name": "protected", "version": "1"}}),
            _ => json!({"content": [{"type": "text", "text": "hello Ada"}]}),
        };
        let body = json!({"jsonrpc": "2.0", "id": msg["id"], "result": result});
        Reply::new(200, "application/json", body.to_string())
    }));
    *addr.lock().unwrap() = Some(c.addr);
    c
}

/// §11.65: an OAuth-protected target end to end. The unauthorised `initialize` gets the
/// target's 401 with its challenge; discovery finds the metadata through the challenge
/// (the `WWW-Authenticate` probe path); with the connector's token `initialize` and a tool
/// call succeed.
#[test]
fn oauth_protected_target_401_discovery_then_authorized_calls() {
    let target = protected_server();
    let emu = emulator();
    let _client = Client::start(&emu, &args(&["--mcp.server-url", &target.url("/mcp")]));
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                 "clientInfo": {"name": "e2e", "version": "1"}}});
    let t = terminal(&emu, &emu.enqueue(CommandSpec::jsonrpc(init.clone())));
    assert_eq!(t.resp_code, 401, "{t:?}");
    let challenge = t
        .resp_headers
        .get("Www-Authenticate")
        .expect("challenge kept");
    assert!(challenge[0].contains("resource_metadata="), "{challenge:?}");
    assert_eq!(
        t.resp_headers.get("Content-Type").map(Vec::as_slice),
        Some(&["application/json".to_string()][..])
    );

    let d = discover(&emu);
    assert_eq!(d.resp_type, "oauth_discovery_response", "{d:?}");
    assert_eq!(d.resp_code, 200, "{d:?}");
    let doc = d.resp_json.as_ref().expect("document");
    assert_eq!(doc["resource"], target.url("/mcp"), "{doc}");
    assert!(
        target.seen().iter().any(|s| s.path == "/meta/prm"),
        "found through the challenge"
    );

    let authed = |msg: Value| {
        let id = emu.enqueue(CommandSpec::jsonrpc(msg).header("Authorization", "Bearer tok-123"));
        terminal(&emu, &id)
    };
    let t = authed(init);
    assert_eq!(t.resp_code, 200, "{t:?}");
    let t = authed(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                          "params": {"name": "greet", "arguments": {"name": "Ada"}}}));
    assert_eq!(t.resp_code, 200, "{t:?}");
    assert_eq!(
        t.resp_json.as_ref().unwrap()["result"]["content"][0]["text"],
        "hello Ada"
    );
}

/// §11.77: a malformed API key stops the start with a message that names the problem and
/// never echoes the key.
#[test]
fn malformed_api_key_exits_non_zero_without_echoing_it() {
    let key = "sk-canary bad key";
    let (code, out, err) = support::run_to_exit(
        &[
            "--control-plane.tunnel-id",
            "tunnel_0123456789abcdef0123456789abcdef",
            "--mcp.server-url",
            "http://127.0.0.1:1/mcp",
        ],
        &[("CONTROL_PLANE_API_KEY", key)],
    );
    assert_ne!(code, 0);
    assert!(err.contains("control plane API key is malformed"), "{err}");
    assert!(
        !err.contains("canary") && !out.contains("canary"),
        "{out}{err}"
    );
}

/// A raw HTTP/1.1 request to the client's health listener; returns (status, body).
fn request(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).expect("health listener");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {hostport}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// §11.81: `PUT /api/log-level {"level":"error"}` is refused (400) and the level stays.
#[test]
fn log_level_error_is_refused_and_the_level_is_unchanged() {
    let emu = emulator();
    let client = Client::start(&emu, &args(&["--embedded-mcp-stub"]));
    let (status, body) = request(
        &client.health,
        "PUT",
        "/api/log-level",
        r#"{"level":"error"}"#,
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = request(&client.health, "GET", "/api/log-level", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""level":"info""#), "{body}");
}

/// §11.6: shell metacharacters in `--mcp.command` stay literal: `; touch FILE` reaches the
/// child as arguments, no shell runs it, and the file is never created.
#[test]
fn stdio_command_shell_metacharacters_stay_literal() {
    let dir = std::env::temp_dir().join(format!("parity-meta-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("pwned");
    let _ = std::fs::remove_file(&marker);
    // A stdio MCP server in a few lines: every request is answered with the arguments the
    // process was given.
    let server = r#"import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if 'id' in m and 'method' in m:
        r = {'content': [{'type': 'text', 'text': ' '.join(sys.argv[1:])}]}
        print(json.dumps({'jsonrpc': '2.0', 'id': m['id'], 'result': r}), flush=True)
"#;
    let script = dir.join("server.py");
    std::fs::write(&script, server).unwrap();
    let command = format!(
        "python3 {} ; touch {} && echo $HOME",
        script.display(),
        marker.display()
    );
    let emu = emulator();
    let _client = Client::start(&emu, &args(&["--mcp.command", &command]));
    let id = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
               "params": {"name": "any", "arguments": {}}}),
    ));
    let t = terminal(&emu, &id);
    assert_eq!(t.resp_code, 200, "{t:?}");
    let text = t.resp_json.as_ref().unwrap()["result"]["content"][0]["text"].clone();
    assert_eq!(
        text,
        format!("; touch {} && echo $HOME", marker.display()),
        "the words after the program reach it untouched"
    );
    assert!(!marker.exists(), "a shell ran the command");
    // A stdio main channel is advertised with process affinity (§11.10).
    assert!(
        t.http_headers
            .iter()
            .any(|(k, v)| k == "x-tunnel-mcp-server-info"
                && v == r#"{"version":1,"channels":[{"name":"main","proc_affinity":true}]}"#),
        "{:?}",
        t.http_headers
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// §11.23: failed polls back off and recover; the recovery is logged and every failure is
/// counted in `commands_poll_errors_total` by kind.
#[test]
fn poll_failures_are_counted_and_the_recovery_is_logged() {
    let emu = emulator();
    for _ in 0..2 {
        emu.script_poll(tunnel_conformance::emulator::Fault::status(503));
    }
    let client = Client::start(&emu, &args(&["--embedded-mcp-stub"]));
    wait_until("the recovery in the log", || {
        client
            .logs()
            .contains("polling recovered after 2 failure(s)")
    });
    let (_, metrics) = client.get("/metrics");
    assert!(
        metrics.contains(r#"commands_poll_errors_total{error_kind="other"} 2"#),
        "{metrics}"
    );
    let polled = emu.polls().len();
    wait_until("polling to go on", || emu.polls().len() > polled);
}
