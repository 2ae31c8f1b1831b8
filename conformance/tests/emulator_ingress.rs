//! MCP ingress round trips without a tunnel client: one thread plays the tunnel client
//! (poll + response POSTs), another the MCP client.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};

fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator starts")
}

fn ack(id: &str, ch: &str, ty: &str, code: u16, json: Option<Value>, headers: Value) -> Value {
    let mut p = json!({"request_id": id, "channel": ch, "resp_code": code, "resp_type": ty, "resp_headers": headers});
    if let Some(j) = json {
        p["resp_json"] = j;
    }
    p
}

#[test]
fn json_round_trip_forwards_headers_and_status() {
    let emu = start();
    std::thread::scope(|s| {
        let mcp = s.spawn(|| {
            let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}"#;
            post(&agent(), &emu.mcp_url(), &[
                ("Accept", "application/json"),
                ("Content-Type", "application/json"),
                ("Authorization", "Bearer connector-token"),
                ("Mcp-Protocol-Version", "2025-11-25"),
                ("X-Request-Id", "rid-9"),
            ], body).unwrap()
        });
        let a = agent();
        let c = poll_one(&a, &emu);
        assert_eq!(c["command_type"], "jsonrpc");
        assert_eq!(c["jsonrpc"]["method"], "initialize");
        assert_eq!(c["response_timeout"], "60s");
        let h = &c["headers"];
        assert_eq!(h["Authorization"], json!(["Bearer connector-token"]));
        assert_eq!(h["Mcp-Protocol-Version"], json!(["2025-11-25"]));
        assert_eq!(h["X-Request-Id"], json!(["rid-9"]));
        assert!(
            h.get("Host").is_none()
                && h.get("User-Agent").is_none()
                && h.get("Content-Length").is_none()
        );
        let id = c["request_id"].as_str().unwrap();
        let p = ack(
            id,
            "main",
            "jsonrpc_response",
            200,
            Some(json!({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25"}})),
            json!({"Mcp-Session-Id": ["sess-42"], "Content-Type": ["application/json"]}),
        );
        assert_eq!(
            post_response(&a, &emu, c["shard_token"].as_str().unwrap(), &p).status,
            200
        );
        let r = mcp.join().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Mcp-Session-Id"), Some("sess-42"));
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.json()["result"]["protocolVersion"], "2025-11-25");
    });
}

#[test]
fn sse_streams_notifications_in_order_before_the_terminal() {
    let emu = start();
    let (first_seen_tx, first_seen_rx) = mpsc::channel::<()>();
    let url = emu.mcp_url();
    std::thread::scope(|s| {
        let mcp = s.spawn(move || {
            let body = r#"{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"slow","_meta":{"progressToken":"p"}}}"#;
            let resp = agent()
                .post(&url)
                .header("Accept", "application/json, text/event-stream")
                .header("Content-Type", "application/json")
                .send(body)
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            assert_eq!(resp.headers()["content-type"], "text/event-stream");
            assert_eq!(resp.headers()["mcp-session-id"], "sess-1");
            let mut lines = BufReader::new(resp.into_body().into_reader());
            let mut events = Vec::new();
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap() > 0 {
                if let Some(d) = line.trim_end().strip_prefix("data: ") {
                    let v: Value = serde_json::from_str(d).unwrap();
                    if events.is_empty() {
                        let _ = first_seen_tx.send(());
                    }
                    events.push(v);
                }
                line.clear();
            }
            events
        });
        let a = agent();
        let c = poll_one(&a, &emu);
        let (id, token) = (
            c["request_id"].as_str().unwrap(),
            c["shard_token"].as_str().unwrap(),
        );
        let sse_headers =
            json!({"Content-Type": ["text/event-stream"], "Mcp-Session-Id": ["sess-1"]});
        for i in 1..=2 {
            let note = json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":i}});
            let p = ack(
                id,
                "main",
                "jsonrpc_notify",
                200,
                Some(note),
                sse_headers.clone(),
            );
            assert_eq!(post_response(&a, &emu, token, &p).status, 200);
        }
        // The MCP client must see the first notification before the call finishes:
        // proof that events are streamed, not buffered.
        first_seen_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("first event streamed early");
        let done = ack(
            id,
            "main",
            "jsonrpc_response",
            200,
            Some(json!({"jsonrpc":"2.0","id":"c1","result":{"content":[]}})),
            sse_headers,
        );
        assert_eq!(post_response(&a, &emu, token, &done).status, 200);
        let events = mcp.join().unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0]["params"]["progress"], 1);
        assert_eq!(events[1]["params"]["progress"], 2);
        assert_eq!(events[2]["id"], "c1");
    });
}

#[test]
fn notification_gets_the_acked_status_and_no_body() {
    let emu = start();
    std::thread::scope(|s| {
        let mcp = s.spawn(|| {
            post(
                &agent(),
                &format!("{}?channel=harpoon", emu.mcp_url()),
                &[("Accept", "application/json, text/event-stream")],
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            )
            .unwrap()
        });
        let a = agent();
        let c = poll_one(&a, &emu);
        assert_eq!(c["channel"], "harpoon");
        let p = ack(
            c["request_id"].as_str().unwrap(),
            "harpoon",
            "notify_ack",
            202,
            None,
            json!({}),
        );
        post_response(&a, &emu, c["shard_token"].as_str().unwrap(), &p);
        let r = mcp.join().unwrap();
        assert_eq!((r.status, r.body.as_str()), (202, ""));
    });
}

#[test]
fn delete_becomes_session_termination() {
    let emu = start();
    std::thread::scope(|s| {
        let url = format!("{}/ops", emu.mcp_url());
        let mcp = s.spawn(move || delete(&agent(), &url, &[("Mcp-Session-Id", "sess-9")]).unwrap());
        let a = agent();
        let c = poll_one(&a, &emu);
        assert_eq!(c["command_type"], "session_termination");
        assert_eq!(c["channel"], "ops");
        assert_eq!(c["headers"]["Mcp-Session-Id"], json!(["sess-9"]));
        let p = ack(
            c["request_id"].as_str().unwrap(),
            "ops",
            "session_termination_response",
            204,
            None,
            json!({}),
        );
        post_response(&a, &emu, c["shard_token"].as_str().unwrap(), &p);
        assert_eq!(mcp.join().unwrap().status, 204);
    });
    let r = delete(&agent(), &emu.mcp_url(), &[]).unwrap();
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (400, Some("missing_mcp_session_id"))
    );
}

#[test]
fn target_errors_keep_their_status_and_body() {
    let emu = start();
    std::thread::scope(|s| {
        let mcp = s.spawn(|| {
            post(
                &agent(),
                &emu.mcp_url(),
                &[("Accept", "application/json, text/event-stream")],
                r#"{"jsonrpc":"2.0","id":5,"method":"tools/call"}"#,
            )
            .unwrap()
        });
        let a = agent();
        let c = poll_one(&a, &emu);
        let err =
            json!({"jsonrpc":"2.0","id":5,"error":{"code":-32003,"message":"nope","data":{"x":1}}});
        let p = ack(
            c["request_id"].as_str().unwrap(),
            "main",
            "jsonrpc_response",
            404,
            Some(err.clone()),
            json!({"Content-Type": ["application/json"], "Www-Authenticate": ["Bearer realm=x"]}),
        );
        post_response(&a, &emu, c["shard_token"].as_str().unwrap(), &p);
        let r = mcp.join().unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.json(), err);
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=x"));
    });
}

#[test]
fn ingress_rejects_bad_input_and_times_out() {
    let emu = Emulator::start(EmulatorConfig {
        ingress_timeout: Duration::from_millis(300),
        ..EmulatorConfig::default()
    })
    .unwrap();
    let a = agent();
    assert_eq!(
        post(&a, &emu.mcp_url(), &[], "[1,2]").unwrap().json()["error"]["code"],
        "invalid_json_payload"
    );
    assert_eq!(post(&a, &emu.mcp_url(), &[], "{}").unwrap().status, 504);
    let other = format!("{}/v1/mcp/tunnel_{}", emu.base_url(), "b".repeat(32));
    assert_eq!(post(&a, &other, &[], "{}").unwrap().status, 404);
    assert_eq!(
        post(&a, &format!("{}/Bad", emu.mcp_url()), &[], "{}")
            .unwrap()
            .status,
        400
    );
    assert_eq!(get(&a, &emu.mcp_url(), &[]).unwrap().status, 405);
    // The timed-out command was withdrawn: nothing left to poll.
    assert_eq!(emu.pending_commands(), 0);
    let t0 = Instant::now();
    let r = post(
        &a,
        &emu.mcp_url(),
        &[],
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 504);
    assert!(t0.elapsed() < Duration::from_secs(3));
}
