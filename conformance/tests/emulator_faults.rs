//! Each scripted fault does what it says, once, on the request it was meant for.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig, Endpoint, Fault};

fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator starts")
}

fn cmd(i: u64) -> CommandSpec {
    CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":i,"method":"ping"}))
}

#[test]
fn status_fault_with_retry_after_and_default_error_body() {
    let emu = start();
    let a = agent();
    emu.script_poll(Fault::status_retry_after(503, "5"));
    emu.script_poll(Fault::Status {
        status: 429,
        retry_after: Some("later".into()),
        body: Some("slow down".into()),
    });
    let r = poll(&a, &emu, "timeout_ms=10");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("Retry-After"), Some("5"));
    assert_eq!(r.json()["error"]["code"], "tunnel_transport_unavailable");
    let r = poll(&a, &emu, "timeout_ms=10");
    assert_eq!(
        (r.status, r.header("Retry-After"), r.body.as_str()),
        (429, Some("later"), "slow down")
    );
    assert_eq!(
        poll(&a, &emu, "timeout_ms=10").status,
        204,
        "faults are one-shot"
    );
    let polls = emu.polls();
    assert_eq!(polls[0].fault.as_deref(), Some("status 503"));
    assert_eq!(polls[2].fault, None);
}

#[test]
fn faults_fire_before_auth() {
    let emu = start();
    let a = agent();
    emu.script_poll(Fault::status(502));
    let url = format!(
        "{}/v1/tunnels/{}/poll?timeout_ms=10",
        emu.base_url(),
        emu.tunnel_id()
    );
    assert_eq!(get(&a, &url, &[]).unwrap().status, 502);
    assert_eq!(get(&a, &url, &[]).unwrap().status, 401);
}

#[test]
fn malformed_envelopes() {
    let emu = start();
    let a = agent();
    emu.script_poll(Fault::truncated_envelope());
    emu.script_poll(Fault::not_json());
    emu.script_poll(Fault::wrong_shape());
    emu.script_poll(Fault::empty_body());
    let bodies: Vec<(u16, String)> = (0..4)
        .map(|_| {
            let r = poll(&a, &emu, "timeout_ms=10");
            (r.status, r.body)
        })
        .collect();
    assert_eq!(bodies[0], (200, "{\"commands\":".to_string()));
    assert!(serde_json::from_str::<serde_json::Value>(&bodies[1].1).is_err());
    assert!(
        serde_json::from_str::<serde_json::Value>(&bodies[2].1).unwrap()["commands"].is_object()
    );
    assert_eq!(bodies[3], (200, String::new()));
}

#[test]
fn delay_then_normal_handling() {
    let emu = start();
    let a = agent();
    emu.enqueue(cmd(1));
    emu.script_poll(Fault::Delay(Duration::from_millis(300)));
    let t0 = Instant::now();
    let r = poll(&a, &emu, "timeout_ms=10");
    assert!(t0.elapsed() >= Duration::from_millis(290));
    assert_eq!(r.status, 200);
}

#[test]
fn drop_closes_the_connection_without_a_response() {
    let emu = start();
    let a = agent();
    emu.script_poll(Fault::Drop);
    let url = format!(
        "{}/v1/tunnels/{}/poll?timeout_ms=10",
        emu.base_url(),
        emu.tunnel_id()
    );
    let t0 = Instant::now();
    let r = get(&a, &url, &[("Authorization", "Bearer emulator-api-key")]);
    assert!(
        r.is_err(),
        "expected a transport error, got status {:?}",
        r.map(|r| r.status)
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "drop took {:?}",
        t0.elapsed()
    );
    // The emulator keeps serving new connections.
    assert_eq!(poll(&a, &emu, "timeout_ms=10").status, 204);
    assert_eq!(emu.polls()[0].status, None);
}

#[test]
fn truncated_transfer_cuts_the_body() {
    let emu = start();
    let a = agent();
    emu.enqueue(cmd(1));
    emu.script_poll(Fault::TruncatedTransfer { sent: 10 });
    let url = format!(
        "{}/v1/tunnels/{}/poll?timeout_ms=10",
        emu.base_url(),
        emu.tunnel_id()
    );
    let r = get(&a, &url, &[("Authorization", "Bearer emulator-api-key")]);
    // ureq reports the short body as an error or yields an unparsable body.
    if let Ok(r) = r {
        assert!(
            serde_json::from_str::<serde_json::Value>(&r.body).is_err(),
            "{}",
            r.body
        );
    }
}

#[test]
fn ignore_limit_returns_more_than_asked() {
    let emu = start();
    let a = agent();
    for i in 0..5 {
        emu.enqueue(cmd(i));
    }
    emu.script_poll(Fault::IgnoreLimit);
    let r = poll(&a, &emu, "limit=2&timeout_ms=10");
    assert_eq!(r.json()["commands"].as_array().unwrap().len(), 5);
}

#[test]
fn poll_wait_overrides_the_requested_timeout() {
    let emu = start();
    let a = agent();
    emu.script_poll(Fault::PollWait(Duration::from_millis(50)));
    let t0 = Instant::now();
    assert_eq!(poll(&a, &emu, "timeout_ms=10000").status, 204);
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn response_faults_then_retry_succeeds() {
    let emu = start();
    let a = agent();
    let id = emu.enqueue(cmd(1));
    let c = poll_one(&a, &emu);
    let token = c["shard_token"].as_str().unwrap();
    let p = json!({"request_id": id, "channel":"main", "resp_code":200, "resp_json":{"jsonrpc":"2.0","id":1,"result":{}}});
    for status in [404, 408, 413, 429, 502, 503] {
        emu.script_response(Fault::status_retry_after(status, "1"));
        let r = post_response(&a, &emu, token, &p);
        assert_eq!((r.status, r.header("Retry-After")), (status, Some("1")));
    }
    emu.script_response(Fault::Drop);
    assert!(post_response_raw(&a, &emu, token, &p.to_string()).is_err());
    assert!(
        emu.responses_for(&id).is_empty(),
        "faulted posts are not accepted"
    );
    assert_eq!(post_response(&a, &emu, token, &p).status, 200);
    assert_eq!(
        emu.wait_terminal(&id, Duration::from_secs(1))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn drop_after_accept_makes_the_retry_a_404() {
    let emu = start();
    let a = agent();
    let id = emu.enqueue(cmd(1));
    let c = poll_one(&a, &emu);
    let token = c["shard_token"].as_str().unwrap();
    let p = json!({"request_id": id, "channel":"main", "resp_code":200, "resp_json":{"jsonrpc":"2.0","id":1,"result":{}}});
    emu.script(Endpoint::Response, Fault::DropAfterAccept);
    assert!(post_response_raw(&a, &emu, token, &p.to_string()).is_err());
    assert_eq!(emu.responses_for(&id).len(), 1);
    assert_eq!(post_response(&a, &emu, token, &p).status, 404);
}

#[test]
fn repeat_and_metadata_faults_and_clear() {
    let emu = start();
    let a = agent();
    emu.script_repeat(Endpoint::Poll, Fault::status(500), 2);
    emu.script(Endpoint::Metadata, Fault::status(403));
    assert_eq!(emu.pending_faults(Endpoint::Poll), 2);
    assert_eq!(poll(&a, &emu, "timeout_ms=10").status, 500);
    let h = cp_headers(&emu);
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let meta = format!("{}/v1/tunnels/{}", emu.base_url(), emu.tunnel_id());
    assert_eq!(get(&a, &meta, &h).unwrap().status, 403);
    assert_eq!(get(&a, &meta, &h).unwrap().status, 200);
    emu.clear_faults();
    assert_eq!(poll(&a, &emu, "timeout_ms=10").status, 204);
}
