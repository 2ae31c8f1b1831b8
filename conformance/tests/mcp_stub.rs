//! The demo MCP stub over real HTTP: both eras, tools, SSE progress, errors, sessions, PRMD.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

const ACCEPT: (&str, &str) = ("Accept", "application/json, text/event-stream");

fn start() -> McpStub {
    McpStub::start(StubConfig::default()).expect("stub starts")
}

fn initialize(stub: &McpStub, version: &str) -> (String, Value) {
    let body = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name":"t","version":"0"}}});
    let r = post(&agent(), &stub.url(), &[ACCEPT], &body.to_string()).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.header("Mcp-Session-Id").expect("session id").to_string();
    (sid, r.json())
}

fn call(stub: &McpStub, sid: &str, body: &Value) -> Reply {
    post(
        &agent(),
        &stub.url(),
        &[
            ACCEPT,
            ("Mcp-Session-Id", sid),
            ("MCP-Protocol-Version", "2025-11-25"),
        ],
        &body.to_string(),
    )
    .unwrap()
}

#[test]
fn initialize_list_and_echo() {
    let stub = start();
    let (sid, init) = initialize(&stub, "2025-11-25");
    assert_eq!(sid.len(), 32);
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(
        init["result"]["serverInfo"],
        json!({"name":"mcp-stub","version":"0.1.0"})
    );
    let r = call(
        &stub,
        &sid,
        &json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    );
    assert_eq!((r.status, r.body.as_str()), (202, ""));
    let r = call(
        &stub,
        &sid,
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    );
    let tools = r.json()["result"]["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["server_info", "echo", "uppercase", "slow", "fail"]);
    let r = call(
        &stub,
        &sid,
        &json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi there"}}}),
    );
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["id"], 2);
    assert_eq!(v["result"]["content"][0]["text"], "hi there");
    assert_eq!(v["result"]["structuredContent"]["echoed"], "hi there");
    let r = call(
        &stub,
        &sid,
        &json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"uppercase","arguments":{"input":"abc"}}}),
    );
    assert_eq!(r.json()["result"]["content"][0]["text"], "ABC");
    let r = call(
        &stub,
        &sid,
        &json!({"jsonrpc":"2.0","id":4,"method":"ping"}),
    );
    assert_eq!(r.json()["result"], json!({}));
    let reqs = stub.wait_requests(6, Duration::from_secs(1)).unwrap();
    assert_eq!(reqs[2].rpc_method.as_deref(), Some("tools/list"));
    assert_eq!(reqs[2].header("mcp-session-id"), Some(sid.as_str()));
}

#[test]
fn version_negotiation() {
    let stub = start();
    assert_eq!(
        initialize(&stub, "2025-06-18").1["result"]["protocolVersion"],
        "2025-06-18"
    );
    assert_eq!(
        initialize(&stub, "2099-01-01").1["result"]["protocolVersion"],
        "2025-11-25"
    );
    assert_eq!(stub.sessions().len(), 2);
}

#[test]
fn slow_streams_progress_before_the_result() {
    let stub = start();
    let (sid, _) = initialize(&stub, "2025-11-25");
    let body = json!({"jsonrpc":"2.0","id":"s","method":"tools/call","params":{
        "name":"slow","arguments":{"ms":300,"steps":3},"_meta":{"progressToken":"tok"}}});
    let t0 = Instant::now();
    let resp = agent()
        .post(&stub.url())
        .header(ACCEPT.0, ACCEPT.1)
        .header("Mcp-Session-Id", &sid)
        .send(body.to_string())
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut reader = BufReader::new(resp.into_body().into_reader());
    let mut events: Vec<(Duration, Value)> = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(d) = line.trim_end().strip_prefix("data: ") {
            events.push((t0.elapsed(), serde_json::from_str(d).unwrap()));
        }
        line.clear();
    }
    assert_eq!(events.len(), 4);
    for (i, (_, e)) in events[..3].iter().enumerate() {
        assert_eq!(e["method"], "notifications/progress");
        assert_eq!(e["params"]["progressToken"], "tok");
        assert_eq!(e["params"]["progress"], i as u64 + 1);
    }
    assert_eq!(events[3].1["id"], "s");
    assert!(events[3].1["result"].is_object());
    // Streamed as they happen: the first event well before the last.
    assert!(
        events[0].0 + Duration::from_millis(100) < events[3].0,
        "{events:?}"
    );
}

#[test]
fn slow_without_sse_is_plain_json() {
    let stub = start();
    let (sid, _) = initialize(&stub, "2025-11-25");
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"ms":50},"_meta":{"progressToken":1}}});
    let r = post(
        &agent(),
        &stub.url(),
        &[("Accept", "application/json"), ("Mcp-Session-Id", &sid)],
        &body.to_string(),
    )
    .unwrap();
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert!(r.json()["result"].is_object());
}

#[test]
fn fail_preserves_code_data_and_status() {
    let stub = start();
    let (sid, _) = initialize(&stub, "2025-11-25");
    let r = call(
        &stub,
        &sid,
        &json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"fail"}}),
    );
    assert_eq!(r.status, 200);
    let e = &r.json()["error"];
    assert_eq!(e["code"], -32003);
    assert!(e["data"].is_object());
    let r = call(
        &stub,
        &sid,
        &json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"fail",
        "arguments":{"code":-32042,"message":"m","data":[1],"http_status":404}}}),
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"jsonrpc":"2.0","id":10,"error":{"code":-32042,"message":"m","data":[1]}})
    );
    let r = call(
        &stub,
        &sid,
        &json!({"jsonrpc":"2.0","id":11,"method":"nope/nope"}),
    );
    assert_eq!(r.json()["error"]["code"], -32601);
}

#[test]
fn sessions_are_enforced_and_deleted() {
    let stub = start();
    let a = agent();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    assert_eq!(post(&a, &stub.url(), &[ACCEPT], ping).unwrap().status, 400);
    assert_eq!(
        post(&a, &stub.url(), &[ACCEPT, ("Mcp-Session-Id", "nope")], ping)
            .unwrap()
            .status,
        404
    );
    let (sid, _) = initialize(&stub, "2025-11-25");
    assert_eq!(
        delete(&a, &stub.url(), &[("Mcp-Session-Id", &sid)])
            .unwrap()
            .status,
        204
    );
    assert_eq!(
        delete(&a, &stub.url(), &[("Mcp-Session-Id", &sid)])
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        post(&a, &stub.url(), &[ACCEPT, ("Mcp-Session-Id", &sid)], ping)
            .unwrap()
            .status,
        404
    );
    assert_eq!(get(&a, &stub.url(), &[]).unwrap().status, 405);
    assert_eq!(post(&a, &stub.url(), &[], "not json").unwrap().status, 400);
}

#[test]
fn modern_era_is_sessionless() {
    let stub = start();
    let a = agent();
    let h = [
        ACCEPT,
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "server/discover"),
    ];
    let r = post(
        &a,
        &stub.url(),
        &h,
        r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("Mcp-Session-Id").is_none());
    let res = &r.json()["result"];
    assert_eq!(res["resultType"], "complete");
    assert!(res["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2026-07-28")));
    assert_eq!(
        res["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-stub"
    );
    let h = [
        ACCEPT,
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "echo"),
    ];
    let r = post(&a, &stub.url(), &h, r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"input":"x"}}}"#).unwrap();
    assert_eq!(r.json()["result"]["structuredContent"]["echoed"], "x");
    let r = post(
        &a,
        &stub.url(),
        &h,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
    )
    .unwrap();
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_i64()),
        (400, Some(-32020))
    );
    let h = [
        ACCEPT,
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "bogus"),
    ];
    let r = post(
        &a,
        &stub.url(),
        &h,
        r#"{"jsonrpc":"2.0","id":4,"method":"bogus"}"#,
    )
    .unwrap();
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_i64()),
        (404, Some(-32601))
    );
}

#[test]
fn oauth_metadata_documents() {
    let stub = start();
    let a = agent();
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let r = get(&a, &format!("{}{path}", stub.base_url()), &[]).unwrap();
        assert_eq!(r.status, 200);
        let d = r.json();
        assert_eq!(d["resource"], stub.url());
        assert_eq!(d["authorization_servers"], json!([stub.base_url()]));
    }
    let r = get(
        &a,
        &format!("{}/.well-known/oauth-authorization-server", stub.base_url()),
        &[],
    )
    .unwrap();
    assert_eq!(
        r.json()["code_challenge_methods_supported"],
        json!(["S256"])
    );
    let custom = McpStub::start(StubConfig {
        authorization_servers: Some(vec![]),
        ..StubConfig::default()
    })
    .unwrap();
    let r = get(
        &a,
        &format!("{}/.well-known/oauth-protected-resource", custom.base_url()),
        &[],
    )
    .unwrap();
    assert_eq!(r.json()["authorization_servers"], json!([]));
    let none = McpStub::start(StubConfig {
        oauth_metadata: false,
        ..StubConfig::default()
    })
    .unwrap();
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = get(&a, &format!("{}{path}", none.base_url()), &[]).unwrap();
        assert_eq!(r.status, 404, "{path}");
    }
}

/// A test that stops a server to see "connection refused" must get exactly that: once
/// `shutdown` returns, the port refuses connections. (tiny_http closes its listener on a
/// thread of its own after the server is dropped; a connect in that window was accepted into
/// the dying backlog and then reset, which made the blocking adapter's refused-target test
/// see `connection_reset` under load.)
#[test]
fn a_stopped_stub_refuses_connections_at_once() {
    for _ in 0..40 {
        let mut stub = start();
        let addr = stub.addr();
        // A keep-alive connection is open when the stub stops, as the tunnel's pool has one.
        let _r = post(&agent(), &stub.url(), &[ACCEPT], "{}");
        stub.shutdown();
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}"),
            Ok(_) => panic!("{addr} still accepts connections after shutdown returned"),
        }
    }
}
