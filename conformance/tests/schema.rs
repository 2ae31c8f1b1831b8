//! What the emulator emits and accepts, checked against the contract's JSON schemas, plus
//! a full loop: MCP client → ingress → (test-thread tunnel client) → MCP stub and back.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

/// A validator for `#/components/schemas/<name>` of the contract.
fn validator(spec: &Value, name: &str) -> jsonschema::Validator {
    let mut root = json!({"$ref": format!("#/components/schemas/{name}")});
    root["components"] = spec["components"].clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .expect("schema compiles")
}

#[test]
fn poll_envelope_matches_polled_command_list() {
    let spec = openapi();
    let v = validator(&spec, "PolledCommandList");
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
            .header("Mcp-Session-Id", "s")
            .response_timeout("30s")
            .on_channel("main"),
    );
    emu.enqueue(CommandSpec::session_termination("s"));
    emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    ));
    let r = poll(&agent(), &emu, "limit=25&timeout_ms=100");
    let body = r.json();
    assert_eq!(body["commands"].as_array().unwrap().len(), 3);
    let errors: Vec<String> = v.iter_errors(&body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    // A known-good envelope is valid and a command without its required members is not
    // (sanity of the check).
    let fixture: Value = serde_json::from_str(include_str!(
        "../contract/fixtures/poll_command_envelope.json"
    ))
    .unwrap();
    assert!(v.is_valid(&fixture));
    assert!(!v.is_valid(&json!({"commands": [{"request_id": "x"}]})));
}

#[test]
fn accepted_payloads_match_tunnel_response_payload() {
    let spec = openapi();
    let payload = validator(&spec, "TunnelResponsePayload");
    let ack = validator(&spec, "TunnelResponseAck");
    let error = validator(&spec, "APIErrorResponse");
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let a = agent();
    let id = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
    ));
    let c = poll_one(&a, &emu);
    let token = c["shard_token"].as_str().unwrap();
    let fixture: Value = serde_json::from_str(include_str!(
        "../contract/fixtures/jsonrpc_notify_response.json"
    ))
    .unwrap();
    let mut notify = fixture.clone();
    notify["request_id"] = json!(id);
    notify["channel"] = json!("main");
    let done = json!({"request_id": id, "channel":"main", "resp_code":200, "resp_type":"jsonrpc_response",
        "resp_headers":{"Content-Type":["application/json"]}, "resp_json":{"jsonrpc":"2.0","id":1,"result":{}}});
    for p in [&notify, &done] {
        assert!(
            payload.is_valid(p),
            "test payload must be contract-valid: {p}"
        );
        let r = post_response(&a, &emu, token, p);
        assert_eq!(r.status, 200);
        assert!(ack.is_valid(&r.json()));
    }
    // Rejections use the contract's error envelope, and what we reject the schema rejects.
    let bad = json!({"request_id": id, "resp_code": 200, "resp_json": {}, "extra": 1});
    assert!(!payload.is_valid(&bad));
    let r = post_response(&a, &emu, token, &bad);
    assert_eq!(r.status, 400);
    assert!(error.is_valid(&r.json()), "{}", r.body);
    let r = poll(&agent(), &emu, "limit=99");
    assert!(error.is_valid(&r.json()));
}

/// A minimal tunnel client in a thread: forwards each polled command to the stub and posts
/// the outcome (JSON answers only), until told to stop.
fn relay_once(emu: &Emulator, stub: &McpStub) {
    let a = agent();
    let c = poll_one(&a, emu);
    let (id, token) = (
        c["request_id"].as_str().unwrap(),
        c["shard_token"].as_str().unwrap(),
    );
    let mut rq = a
        .post(&stub.url())
        .header("Content-Type", "application/json")
        .header("Accept", "application/json");
    for (k, vals) in c["headers"].as_object().unwrap() {
        if k.eq_ignore_ascii_case("accept") {
            continue;
        }
        for v in vals.as_array().unwrap() {
            rq = rq.header(k.as_str(), v.as_str().unwrap());
        }
    }
    let mut resp = rq.send(c["jsonrpc"].to_string()).unwrap();
    let status = resp.status().as_u16();
    let sid = resp
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp.body_mut().read_to_string().unwrap();
    let mut headers = json!({"Content-Type": ["application/json"]});
    if let Some(s) = sid {
        headers["Mcp-Session-Id"] = json!([s]);
    }
    let p = if body.is_empty() {
        json!({"request_id": id, "channel": "main", "resp_code": status, "resp_type": "notify_ack"})
    } else {
        json!({"request_id": id, "channel": "main", "resp_code": status, "resp_type": "jsonrpc_response",
            "resp_headers": headers, "resp_json": serde_json::from_str::<Value>(&body).unwrap()})
    };
    assert_eq!(post_response(&a, emu, token, &p).status, 200);
}

#[test]
fn mcp_client_reaches_the_stub_through_the_ingress() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let stub = McpStub::start(StubConfig::default()).unwrap();
    std::thread::scope(|s| {
        let relay = s.spawn(|| (0..3).for_each(|_| relay_once(&emu, &stub)));
        let a = agent();
        let h = [("Accept", "application/json")];
        let init = post(&a, &emu.mcp_url(), &h,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#).unwrap();
        assert_eq!(init.status, 200, "{}", init.body);
        let sid = init.header("Mcp-Session-Id").unwrap().to_string();
        let h = [
            ("Accept", "application/json"),
            ("Mcp-Session-Id", sid.as_str()),
        ];
        let r = post(
            &a,
            &emu.mcp_url(),
            &h,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        )
        .unwrap();
        assert_eq!(r.status, 202);
        let r = post(&a, &emu.mcp_url(), &h,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"via tunnel"}}}"#).unwrap();
        assert_eq!(r.json()["result"]["content"][0]["text"], "via tunnel");
        relay.join().unwrap();
    });
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
    let calls = stub.wait_requests(3, Duration::from_secs(1)).unwrap();
    assert_eq!(
        calls[2].header("Mcp-Session-Id"),
        calls[1].header("Mcp-Session-Id")
    );
}
