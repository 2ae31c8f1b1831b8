//! Emulator contract endpoints over real loopback HTTP: long poll, auth, response validation.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};

fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator starts")
}

fn tools_list(id: u64) -> CommandSpec {
    CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":id,"method":"tools/list"}))
}

#[test]
fn empty_poll_waits_then_answers_204() {
    let emu = start();
    let a = agent();
    let t0 = Instant::now();
    let r = poll(&a, &emu, "limit=5&timeout_ms=300");
    assert_eq!(r.status, 204);
    assert!(
        t0.elapsed() >= Duration::from_millis(280),
        "answered too early"
    );
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[test]
fn poll_returns_queued_commands_and_honours_limit() {
    let emu = start();
    let a = agent();
    let ids: Vec<String> = (1..=3).map(|i| emu.enqueue(tools_list(i))).collect();
    let r = poll(&a, &emu, "limit=2&timeout_ms=1000");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let cmds = r.json()["commands"].as_array().unwrap().clone();
    assert_eq!(cmds.len(), 2);
    assert_eq!(cmds[0]["request_id"], ids[0].as_str());
    assert_eq!(cmds[1]["request_id"], ids[1].as_str());
    assert_eq!(cmds[0]["command_type"], "jsonrpc");
    assert_ne!(cmds[0]["shard_token"], cmds[0]["request_id"]);
    assert!(cmds[0]["created_at"].as_str().unwrap().ends_with('Z'));
    let r = poll(&a, &emu, "limit=2&timeout_ms=1000");
    assert_eq!(r.json()["commands"].as_array().unwrap().len(), 1);
    assert_eq!(emu.pending_commands(), 0);
}

#[test]
fn long_poll_wakes_when_a_command_is_enqueued() {
    let emu = start();
    let a = agent();
    std::thread::scope(|s| {
        let h = s.spawn(|| poll(&a, &emu, "limit=1&timeout_ms=5000"));
        emu.wait_requests("/poll", 1, Duration::from_secs(5))
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let t0 = Instant::now();
        let id = emu.enqueue(tools_list(1));
        let r = h.join().unwrap();
        assert_eq!(r.status, 200);
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert_eq!(r.json()["commands"][0]["request_id"], id.as_str());
    });
}

#[test]
fn channel_filter_hands_out_only_those_channels() {
    let emu = start();
    let a = agent();
    let main = emu.enqueue(tools_list(1));
    let harpoon = emu.enqueue(tools_list(2).on_channel("harpoon"));
    let other = emu.enqueue(tools_list(3).on_channel("Other"));
    let r = poll(
        &a,
        &emu,
        "channel=harpoon&channel=other&limit=25&timeout_ms=500",
    );
    let got: Vec<String> = r.json()["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["request_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, vec![harpoon, other]);
    let r = poll(&a, &emu, "channel=harpoon&limit=25&timeout_ms=200");
    assert_eq!(r.status, 204);
    let r = poll(&a, &emu, "limit=25&timeout_ms=200");
    assert_eq!(r.json()["commands"][0]["request_id"], main.as_str());
}

#[test]
fn bad_query_parameters_get_400() {
    let emu = start();
    let a = agent();
    for q in [
        "limit=0",
        "limit=26",
        "limit=x",
        "timeout_ms=0",
        "channel=Bad%20Name",
    ] {
        assert_eq!(poll(&a, &emu, q).status, 400, "{q}");
    }
}

#[test]
fn wrong_key_gets_401_with_api_error_body() {
    let emu = start();
    let a = agent();
    let url = format!(
        "{}/v1/tunnels/{}/poll?timeout_ms=10",
        emu.base_url(),
        emu.tunnel_id()
    );
    for auth in [None, Some("Bearer nope"), Some(emu.api_key())] {
        let mut h = vec![("Accept", "application/json")];
        if let Some(v) = auth {
            h.push(("Authorization", v));
        }
        let r = get(&a, &url, &h).unwrap();
        assert_eq!(r.status, 401);
        let body = r.json();
        assert!(body["error"]["message"].is_string());
        assert!(body["error"]["type"].is_string());
    }
    assert!(emu.violations().iter().any(|v| v.contains("bearer")));
}

#[test]
fn unknown_tunnel_is_404_and_malformed_id_400() {
    let emu = start();
    let a = agent();
    let h = cp_headers(&emu);
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let other = format!(
        "{}/v1/tunnels/tunnel_{}/poll",
        emu.base_url(),
        "a".repeat(32)
    );
    assert_eq!(get(&a, &other, &h).unwrap().status, 404);
    let bad = format!("{}/v1/tunnels/nope/poll", emu.base_url());
    let r = get(&a, &bad, &h).unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_tunnel_id_format");
}

#[test]
fn metadata_and_records_client_headers() {
    let emu = start();
    let a = agent();
    let mut h = cp_headers(&emu);
    h.push((
        "X-Tunnel-MCP-Server-Info".into(),
        r#"{"version":1,"channels":[{"name":"main"}]}"#.into(),
    ));
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = get(
        &a,
        &format!("{}/v1/tunnels/{}", emu.base_url(), emu.tunnel_id()),
        &h,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let m = r.json();
    assert_eq!(m["id"], emu.tunnel_id());
    assert!(m["name"].is_string() && m["description"].is_string());
    // The status is filled in just after the answer is written: give it a moment.
    let t0 = Instant::now();
    while emu.requests().last().unwrap().status.is_none() && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let seen = emu.requests();
    let last = seen.last().unwrap();
    assert_eq!(
        last.header("user-agent"),
        Some("oai-tunnel-client/0.0.0-test")
    );
    assert_eq!(
        last.header("X-Tunnel-Client-Name"),
        Some("oai-tunnel-client")
    );
    assert!(last
        .header("x-tunnel-mcp-server-info")
        .unwrap()
        .contains("main"));
    assert_eq!(last.status, Some(200));
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
}

#[test]
fn url_path_prefix_is_required_for_control_plane_routes() {
    let emu = Emulator::start(EmulatorConfig {
        url_path: "/chatgpttunnelgateway/dev/us/".into(),
        ..EmulatorConfig::default()
    })
    .unwrap();
    assert!(emu
        .control_plane_url()
        .ends_with("/chatgpttunnelgateway/dev/us"));
    let a = agent();
    assert_eq!(poll(&a, &emu, "timeout_ms=10").status, 204);
    let h = cp_headers(&emu);
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let bare = format!(
        "{}/v1/tunnels/{}/poll?timeout_ms=10",
        emu.base_url(),
        emu.tunnel_id()
    );
    assert_eq!(get(&a, &bare, &h).unwrap().status, 404);
}

#[test]
fn responses_are_validated_recorded_and_terminal_is_detected() {
    let emu = start();
    let a = agent();
    let id = emu.enqueue(
        tools_list(7)
            .on_channel("main")
            .header("X-Request-Id", "xr-1"),
    );
    let cmd = poll_one(&a, &emu);
    let token = cmd["shard_token"].as_str().unwrap().to_string();
    let notify = json!({"request_id": id, "channel": "main", "resp_code": 200, "resp_type": "jsonrpc_notify",
        "resp_json": {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}});
    let url = format!("{}/v1/tunnels/{}/response", emu.base_url(), emu.tunnel_id());
    let mut h = cp_headers(&emu);
    h.push(("Content-Type".into(), "application/json".into()));
    h.push(("X-Tunnel-Shard-Token".into(), token.clone()));
    h.push(("X-Client-Request-Id".into(), "xr-1".into()));
    let hr: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = post(&a, &url, &hr, &notify.to_string()).unwrap();
    assert_eq!((r.status, r.json()), (200, json!({"status":"ok"})));
    assert!(emu.wait_terminal(&id, Duration::from_millis(100)).is_none());
    // Sent as text so the key order of resp_json is the client's, not serde_json's.
    let done = format!(
        r#"{{"request_id":"{id}","channel":"main","resp_code":200,"resp_type":"jsonrpc_response","resp_headers":{{"Content-Type":["application/json"]}},"resp_json":{{"jsonrpc":"2.0","id":7,"result":{{"tools":[]}}}}}}"#
    );
    assert_eq!(post(&a, &url, &hr, &done).unwrap().status, 200);
    let posts = emu
        .wait_terminal(&id, Duration::from_secs(1))
        .expect("terminal");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].resp_type, "jsonrpc_notify");
    assert!(posts[1].is_terminal());
    assert_eq!(
        posts[1].resp_header("content-type"),
        Some("application/json")
    );
    assert_eq!(
        posts[1].resp_json_raw.as_deref(),
        Some(r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}"#)
    );
    // After the terminal response the request is fulfilled: the service says 404.
    let r = post(&a, &url, &hr, &done).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "pending_request_not_found");
    assert_eq!(emu.responses_for(&id).len(), 2);
}

#[test]
fn invalid_responses_are_rejected() {
    let emu = start();
    let a = agent();
    let id = emu.enqueue(tools_list(1));
    let st = emu.enqueue(CommandSpec::session_termination("sess-1"));
    let c1 = poll_one(&a, &emu);
    let c2 = poll_one(&a, &emu);
    let (t1, t2) = (
        c1["shard_token"].as_str().unwrap(),
        c2["shard_token"].as_str().unwrap(),
    );
    let ok = json!({"request_id": id, "channel":"main", "resp_code":200, "resp_type":"jsonrpc_response",
        "resp_json":{"jsonrpc":"2.0","id":1,"result":{}}});
    // Unknown request id.
    let mut unknown = ok.clone();
    unknown["request_id"] = json!("req_nobody");
    assert_eq!(post_response(&a, &emu, t1, &unknown).status, 404);
    // Malformed bodies and shapes.
    for body in ["{\"request_id\":", "[]", "{}", r#"{"request_id":"x"}"#] {
        assert_eq!(
            post_response_raw(&a, &emu, t1, body).unwrap().status,
            400,
            "{body}"
        );
    }
    let cases = [
        json!({"request_id": id, "resp_code": 200, "resp_type": "bogus", "resp_json": {}}),
        json!({"request_id": id, "resp_code": 200, "resp_type": "notify_ack", "resp_json": {"x":1}}),
        json!({"request_id": id, "resp_code": 200, "resp_type": "jsonrpc_response"}),
        json!({"request_id": id, "resp_code": "200", "resp_json": {}}),
        json!({"request_id": id, "resp_code": 200, "resp_json": {}, "shard_token": t1}),
        json!({"request_id": id, "resp_code": 200, "resp_json": {}, "resp_headers": {"a": "b"}}),
        json!({"request_id": id, "resp_code": 200, "resp_json": {}, "channel": "Not Valid"}),
        json!({"request_id": id, "resp_code": 200, "resp_json": [1]}),
    ];
    for c in &cases {
        assert_eq!(post_response(&a, &emu, t1, c).status, 400, "{c}");
    }
    // Wrong shard token, missing shard token.
    assert_eq!(post_response(&a, &emu, t2, &ok).status, 400);
    assert_eq!(post_response(&a, &emu, "", &ok).status, 400);
    // A session termination must be answered with session_termination_response, no payload.
    let wrong =
        json!({"request_id": st, "channel":"main", "resp_code":204, "resp_type":"notify_ack"});
    assert_eq!(post_response(&a, &emu, t2, &wrong).status, 400);
    let right = json!({"request_id": st, "channel":"main", "resp_code":204, "resp_type":"session_termination_response"});
    assert_eq!(post_response(&a, &emu, t2, &right).status, 200);
    assert_eq!(post_response(&a, &emu, t1, &ok).status, 200);
    assert!(emu.responses_for(&id).len() == 1);
    assert!(emu
        .violations()
        .iter()
        .any(|v| v.contains("rejected (404)")));
}

#[test]
fn soft_violations_are_reported_not_refused() {
    let emu = start();
    let a = agent();
    let id = emu.enqueue(
        tools_list(1)
            .on_channel("harpoon")
            .header("X-Request-Id", "abc"),
    );
    let c = poll_one(&a, &emu);
    let p = json!({"request_id": id, "channel":"main", "resp_code":200, "resp_json":{"jsonrpc":"2.0","id":1,"result":{}}});
    assert_eq!(
        post_response(&a, &emu, c["shard_token"].as_str().unwrap(), &p).status,
        200
    );
    let v = emu.violations();
    assert!(v.iter().any(|v| v.contains("channel")), "{v:?}");
    assert!(v.iter().any(|v| v.contains("X-Client-Request-Id")), "{v:?}");
}

#[test]
fn shutdown_is_bounded_and_ends_pending_polls() {
    let mut emu = start();
    let a = agent();
    std::thread::scope(|s| {
        let url = format!(
            "{}/v1/tunnels/{}/poll?timeout_ms=30000",
            emu.base_url(),
            emu.tunnel_id()
        );
        let h = cp_headers(&emu);
        let handle = s.spawn(move || {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            get(&a, &url, &h).map(|r| r.status)
        });
        emu.wait_requests("/poll", 1, Duration::from_secs(5))
            .unwrap();
        let t0 = Instant::now();
        emu.shutdown();
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "shutdown took {:?}",
            t0.elapsed()
        );
        let got = handle.join().unwrap();
        assert!(matches!(got, Ok(503)) || got.is_err(), "{got:?}");
    });
}

/// Several pollers on one tunnel (replicas of the client): each command goes to exactly one
/// of them, whoever polls first, and the hand-out log names which one took it.
#[test]
fn concurrent_pollers_each_get_a_command_exactly_once() {
    const POLLERS: usize = 4;
    const COMMANDS: u64 = 200;
    let emu = start();
    let url = format!(
        "{}/v1/tunnels/{}/poll?limit=3&timeout_ms=300",
        emu.control_plane_url(),
        emu.tunnel_id()
    );
    let seen: Vec<Vec<String>> = std::thread::scope(|s| {
        let pollers: Vec<_> = (0..POLLERS)
            .map(|n| {
                let (emu, url) = (&emu, &url);
                s.spawn(move || {
                    let a = agent();
                    let mut headers = cp_headers(emu);
                    headers.push(("X-Tunnel-Client-Instance-Id".into(), format!("poller-{n}")));
                    let mut got = Vec::new();
                    let mut empty_in_a_row = 0;
                    // Stops after two empty polls once the feeder is done (bounded: 300 ms each).
                    while empty_in_a_row < 2 {
                        let r = get(&a, url, &refs(&headers)).expect("poll");
                        if r.status == 204 {
                            empty_in_a_row += 1;
                            continue;
                        }
                        assert_eq!(r.status, 200, "{}", r.body);
                        empty_in_a_row = 0;
                        for c in r.json()["commands"].as_array().unwrap() {
                            got.push(c["request_id"].as_str().unwrap().to_string());
                        }
                    }
                    got
                })
            })
            .collect();
        for i in 0..COMMANDS {
            emu.enqueue(tools_list(i));
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        pollers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<&String> = seen.iter().flatten().collect();
    assert_eq!(all.len() as u64, COMMANDS, "every command handed out once");
    all.sort();
    all.dedup();
    assert_eq!(all.len() as u64, COMMANDS, "no command handed out twice");
    assert!(
        seen.iter().filter(|s| !s.is_empty()).count() > 1,
        "the load was shared between pollers: {:?}",
        seen.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let handouts = emu.handouts();
    assert_eq!(handouts.len() as u64, COMMANDS);
    for (n, ids) in seen.iter().enumerate() {
        let me = format!("poller-{n}");
        for id in ids {
            let h = handouts.iter().find(|h| &h.request_id == id).unwrap();
            assert_eq!(h.poller.as_deref(), Some(me.as_str()), "{id}");
        }
    }
    assert_eq!(emu.pending_commands(), 0);
}

/// The counters a long soak reads instead of copying every post agree with the copies:
/// handouts, terminal posts (a notification is not one) and the answered ids.
#[test]
fn soak_counters_agree_with_the_recorded_posts() {
    let emu = start();
    let a = agent();
    let ids: Vec<String> = (1..=3).map(|i| emu.enqueue(tools_list(i))).collect();
    let r = poll(&a, &emu, "limit=3&timeout_ms=1000");
    let cmds = r.json()["commands"].as_array().unwrap().clone();
    assert_eq!(emu.handout_count(), 3);
    assert_eq!(emu.handout_count(), emu.handouts().len());
    let token = |i: usize| cmds[i]["shard_token"].as_str().unwrap().to_string();
    let notify = json!({"request_id": ids[0], "channel":"main", "resp_code":200,
        "resp_type":"jsonrpc_notify", "resp_json":{"jsonrpc":"2.0","method":"notifications/progress","params":{}}});
    assert_eq!(post_response(&a, &emu, &token(0), &notify).status, 200);
    assert_eq!(emu.terminal_count(), 0, "a notification is not terminal");
    for i in [0, 2] {
        let done = json!({"request_id": ids[i], "channel":"main", "resp_code":200,
            "resp_type":"jsonrpc_response", "resp_json":{"jsonrpc":"2.0","id":1,"result":{}}});
        assert_eq!(post_response(&a, &emu, &token(i), &done).status, 200);
    }
    assert_eq!(emu.terminal_count(), 2);
    let answered = emu.answered_ids();
    assert!(answered.contains(&ids[0]) && answered.contains(&ids[2]));
    assert!(!answered.contains(&ids[1]));
    assert_eq!(emu.responses().len(), 3);
}

/// `history_limit` (a long-running `dev proxy`): the request log stays bounded, the newest
/// requests keep their status, and the emulator keeps serving.
#[test]
fn history_limit_bounds_the_request_log() {
    let emu = Emulator::start(EmulatorConfig {
        history_limit: Some(5),
        ..EmulatorConfig::default()
    })
    .unwrap();
    let agent = common::agent();
    let url = format!("{}/v1/tunnels/{}", emu.base_url(), emu.tunnel_id());
    let h = common::cp_headers(&emu);
    for _ in 0..40 {
        let r = common::get(&agent, &url, &common::refs(&h)).unwrap();
        assert_eq!(r.status, 200);
    }
    let log = emu.requests();
    assert!(log.len() <= 10, "{} requests kept", log.len());
    assert!(log.len() >= 5);
    let last = log.last().unwrap();
    assert_eq!(last.seq, 40, "the newest request is kept");
    // Kept requests keep their status (the newest two may still be finishing).
    assert!(log[..log.len() - 2].iter().all(|r| r.status == Some(200)));
}
