//! End to end over loopback: the control-plane emulator and the MCP stub of
//! `tunnel-conformance`, driven by a real `Runtime`. Each test owns its emulator and stub,
//! and is bounded to a few seconds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tunnel_blocking::{HttpTarget, Runtime, RuntimeOptions};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig, Fault, PostedResponse};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{EngineConfig, Event};

const WAIT: Duration = Duration::from_secs(5);

struct Rig {
    emu: Emulator,
    stub: McpStub,
    rt: Option<Runtime>,
    events: Arc<Mutex<Vec<Event>>>,
}

fn engine_config(emu: &Emulator, api_key: &str) -> EngineConfig {
    let mut cfg = EngineConfig::new(
        emu.control_plane_url().parse().expect("emulator URL"),
        emu.tunnel_id(),
        api_key,
    );
    cfg.poll_timeout = Duration::from_secs(2);
    cfg.poll_guardrail = Duration::from_secs(2);
    cfg.max_concurrent = 4;
    cfg
}

fn rig_with(
    stub_cfg: StubConfig,
    api_key: Option<&str>,
    tweak: impl FnOnce(&mut EngineConfig, &mut RuntimeOptions),
) -> Rig {
    let emu = Emulator::start(EmulatorConfig {
        ingress_response_timeout: None,
        ..EmulatorConfig::default()
    })
    .expect("emulator");
    let stub = McpStub::start(stub_cfg).expect("stub");
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let mut cfg = engine_config(&emu, api_key.unwrap_or(emu.api_key()));
    let mut opts = RuntimeOptions {
        mcp_targets: vec![HttpTarget::new(ChannelName::main(), stub.url())],
        drain_timeout: Duration::from_secs(5),
        observer: Some(Arc::new(move |e: &Event| {
            sink.lock().unwrap().push(e.clone())
        })),
        ..RuntimeOptions::default()
    };
    tweak(&mut cfg, &mut opts);
    let rt = Runtime::start(cfg, opts).expect("runtime starts");
    Rig {
        emu,
        stub,
        rt: Some(rt),
        events,
    }
}

fn rig() -> Rig {
    rig_with(
        StubConfig {
            require_session: false,
            ..StubConfig::default()
        },
        None,
        |_, _| {},
    )
}

fn rt(r: &Rig) -> &Runtime {
    r.rt.as_ref().expect("runtime")
}

fn terminal(r: &Rig, id: &str) -> Vec<PostedResponse> {
    r.emu.wait_terminal(id, WAIT).unwrap_or_else(|| {
        panic!(
            "no terminal post for {id}; events: {:?}",
            r.events.lock().unwrap()
        )
    })
}

fn call(r: &Rig, msg: Value) -> Vec<PostedResponse> {
    let id = r.emu.enqueue(CommandSpec::jsonrpc(msg));
    terminal(r, &id)
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn initialize_list_call_and_notification_round_trip() {
    let r = rig_with(StubConfig::default(), None, |_, _| {});
    let posts = call(
        &r,
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
    );
    let init = posts.last().unwrap();
    assert_eq!(
        (init.resp_type.as_str(), init.resp_code),
        ("jsonrpc_response", 200)
    );
    assert_eq!(
        init.resp_json.as_ref().unwrap()["result"]["serverInfo"]["name"],
        "mcp-stub"
    );
    let sid = init
        .resp_header("Mcp-Session-Id")
        .expect("session id passed back")
        .to_string();

    let with_session = |msg: Value| CommandSpec::jsonrpc(msg).header("Mcp-Session-Id", &sid);
    let id = r.emu.enqueue(with_session(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    ));
    let ack = terminal(&r, &id);
    assert_eq!(
        (ack[0].resp_type.as_str(), ack[0].resp_code),
        ("notify_ack", 202)
    );

    let id = r.emu.enqueue(with_session(
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
    ));
    let list = terminal(&r, &id);
    let tools = list[0].resp_json.as_ref().unwrap()["result"]["tools"]
        .as_array()
        .unwrap()
        .len();
    assert!(tools >= 4, "{tools} tools");

    let id = r.emu.enqueue(with_session(
        json!({"jsonrpc":"2.0","id":"c-3","method":"tools/call",
        "params":{"name":"echo","arguments":{"text":"hello through the tunnel"}}}),
    ));
    let echo = terminal(&r, &id);
    let v = echo[0].resp_json.as_ref().unwrap();
    assert_eq!(v["id"], "c-3");
    assert_eq!(
        v["result"]["structuredContent"]["echoed"],
        "hello through the tunnel"
    );

    // session_termination → DELETE with the session id → 2xx passed through.
    let id = r.emu.enqueue(CommandSpec::session_termination(&sid));
    let del = terminal(&r, &id);
    assert_eq!(del[0].resp_type, "session_termination_response");
    assert!(
        (200..300).contains(&del[0].resp_code),
        "{}",
        del[0].resp_code
    );
    assert!(r
        .stub
        .requests()
        .iter()
        .any(|q| q.method == "DELETE" && q.header("Mcp-Session-Id") == Some(sid.as_str())));
    assert!(r.emu.violations().is_empty(), "{:?}", r.emu.violations());
    // The driver counts a completion when the POST's answer reaches it, just after the
    // emulator recorded the post.
    wait_for("five completions counted", || {
        rt(&r).stats().completed_total() >= 5
    });
    let c = rt(&r).stats();
    assert_eq!(
        c.commands_completed
            .get(&("session_termination_response", 204))
            .copied()
            .unwrap_or(0)
            + c.commands_completed
                .get(&("session_termination_response", 200))
                .copied()
                .unwrap_or(0),
        1,
        "{c:?}"
    );
    assert_eq!(rt(&r).readiness(), Ok(()));
}

#[test]
fn slow_tool_progress_arrives_before_terminal() {
    let r = rig();
    let posts = call(
        &r,
        json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{
        "name":"slow","arguments":{"ms":600,"steps":3},"_meta":{"progressToken":"p1"}}}),
    );
    let types: Vec<&str> = posts.iter().map(|p| p.resp_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "jsonrpc_notify",
            "jsonrpc_notify",
            "jsonrpc_notify",
            "jsonrpc_response"
        ]
    );
    assert_eq!(
        posts[0].resp_json.as_ref().unwrap()["method"],
        "notifications/progress"
    );
    // Streamed, not buffered: the first notification was posted well before the terminal.
    let spread = posts[3].received_at.duration_since(posts[0].received_at);
    assert!(
        spread >= Duration::from_millis(250),
        "notifications arrived together ({spread:?})"
    );
}

#[test]
fn jsonrpc_error_is_preserved_exactly() {
    let r = rig();
    let posts = call(
        &r,
        json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{
        "name":"fail","arguments":{"code":-32004,"message":"nope","data":{"k":[1,2]},"http_status":409}}}),
    );
    let p = &posts[0];
    assert_eq!(
        (p.resp_type.as_str(), p.resp_code),
        ("jsonrpc_response", 409)
    );
    assert_eq!(
        p.resp_json.as_ref().unwrap(),
        &json!({"jsonrpc":"2.0","id":9,"error":{"code":-32004,"message":"nope","data":{"k":[1,2]}}})
    );
}

#[test]
fn target_down_posts_connection_refused() {
    let mut r = rig();
    r.stub.shutdown();
    let posts = call(&r, json!({"jsonrpc":"2.0","id":5,"method":"tools/list"}));
    let p = &posts[0];
    assert_eq!(p.resp_code, 502);
    let failure = &p.resp_json.as_ref().unwrap()["error"]["data"]["tunnel_failure"];
    assert_eq!(failure["source"], "connect", "{p:?}");
    assert_eq!(failure["transport_error_kind"], "connection_refused");
    wait_for("the failure to be counted", || {
        rt(&r)
            .stats()
            .failures_synthesized
            .get(&("connect", "connection_refused"))
            == Some(&1)
    });
    wait_for("readiness to report the target down", || {
        rt(&r).readiness().is_err_and(|e| e.contains("main"))
    });
}

#[test]
fn expired_response_timeout_posts_nothing() {
    let r = rig();
    let id = r.emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow","arguments":{"ms":1500,"steps":1}}}))
            .response_timeout("400ms"),
    );
    wait_for("the stub to receive the call", || {
        r.stub
            .requests()
            .iter()
            .any(|q| q.body.contains("\"slow\""))
    });
    std::thread::sleep(Duration::from_millis(1800));
    assert!(
        r.emu.responses_for(&id).is_empty(),
        "{:?}",
        r.emu.responses_for(&id)
    );
    assert!(r
        .events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::DeadlineExpired { request_id, .. } if *request_id == id)));
    // The runtime is still serving.
    let posts = call(&r, json!({"jsonrpc":"2.0","id":4,"method":"ping"}));
    assert_eq!(posts[0].resp_code, 200);
}

#[test]
fn poll_503_retry_after_is_honoured() {
    let emu_probe = |r: &Rig| r.emu.polls().len();
    let r = rig_with(
        StubConfig {
            require_session: false,
            ..StubConfig::default()
        },
        None,
        |_, _| {},
    );
    // Let the first poll be in flight, then make the next answer 503 + Retry-After: 2.
    wait_for("a first poll", || emu_probe(&r) >= 1);
    r.emu.script_poll(Fault::status_retry_after(503, "2"));
    let t_first = Instant::now();
    // Wake the outstanding long poll with a command so the faulted poll comes next.
    let id = r.emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
    ));
    terminal(&r, &id);
    wait_for("the 503 poll", || {
        r.emu.polls().iter().any(|p| p.status == Some(503))
    });
    let polls = r.emu.polls();
    let i = polls.iter().position(|p| p.status == Some(503)).unwrap();
    let at_503 = polls[i].received_at;
    wait_for("the poll after the 503", || r.emu.polls().len() > i + 1);
    let next = r.emu.polls()[i + 1].received_at;
    let gap = next.duration_since(at_503);
    assert!(
        gap >= Duration::from_millis(1900),
        "Retry-After: 2 not honoured (next poll after {gap:?})"
    );
    assert!(t_first.elapsed() < Duration::from_secs(9));
}

#[test]
fn unauthorized_makes_readiness_name_the_fix() {
    let r = rig_with(StubConfig::default(), Some("wrong-key"), |_, _| {});
    wait_for("readiness to report the 401", || {
        rt(&r)
            .readiness()
            .is_err_and(|e| e.contains("401") && e.contains("fix:"))
    });
    assert!(r
        .events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::AuthRejected { status: 401, .. })));
    assert!(rt(&r).stats().auth_rejected >= 1);
}

#[test]
fn drain_finishes_in_flight_work() {
    let mut r = rig();
    let id = r.emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"slow","arguments":{"ms":800,"steps":2}}}),
    ));
    wait_for("the stub to receive the call", || {
        r.stub
            .requests()
            .iter()
            .any(|q| q.body.contains("\"slow\""))
    });
    let t0 = Instant::now();
    let rt = r.rt.take().unwrap();
    rt.begin_drain();
    let polls_at_drain = r.emu.polls().len();
    let done = rt.join().expect("join");
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "drain took {:?}",
        t0.elapsed()
    );
    assert!(done.threads_stopped);
    let posts = r.emu.responses_for(&id);
    assert_eq!(
        posts.last().map(|p| p.resp_type.as_str()),
        Some("jsonrpc_response"),
        "{posts:?}"
    );
    assert!(
        r.emu.polls().len() <= polls_at_drain + 1,
        "kept polling while draining"
    );
    assert!(r
        .events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::Drained { abandoned: 0 })));
    r.emu.shutdown();
}

#[test]
fn drop_does_not_hang() {
    let mut r = rig();
    r.emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"ms":5000,"steps":1}}}),
    ));
    wait_for("the stub to receive the call", || {
        r.stub
            .requests()
            .iter()
            .any(|q| q.body.contains("\"slow\""))
    });
    let t0 = Instant::now();
    drop(r.rt.take());
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        t0.elapsed()
    );
}

/// A one-shot HTTP server answering every request with `response`; returns its URL and the
/// requests it saw.
fn raw_server(response: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/mcp", l.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                continue; // a reachability probe: connected, sent nothing
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = s.write_all(response.as_bytes());
        }
    });
    (url, seen)
}

#[test]
fn mcp_redirects_are_not_followed() {
    let (other, other_seen) = raw_server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    let redirect: &'static str = Box::leak(
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {other}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_boxed_str(),
    );
    let (first, first_seen) = raw_server(redirect);
    let r = rig_with(StubConfig::default(), None, |_, opts| {
        opts.mcp_targets = vec![HttpTarget::new(ChannelName::main(), first.clone())];
    });
    let id = r.emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
            .header("Authorization", "Bearer user-token"),
    );
    let posts = terminal(&r, &id);
    // What a 3xx becomes is the engine's call (today: a `protocol` failure, 502); the
    // adapter's job is that nothing follows it.
    assert_eq!(posts[0].resp_type, "jsonrpc_response", "{posts:?}");
    assert_eq!(first_seen.lock().unwrap().len(), 1);
    assert!(
        other_seen.lock().unwrap().is_empty(),
        "the command was re-sent to the redirect target"
    );
}

#[test]
fn connection_ttl_expiry_posts_nothing() {
    let r = rig_with(
        StubConfig {
            require_session: false,
            ..StubConfig::default()
        },
        None,
        |_, opts| {
            opts.mcp_connection_ttl = Duration::from_millis(400);
        },
    );
    let id = r.emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"ms":1500,"steps":1}}}),
    ));
    wait_for("the command to be abandoned", || {
        r.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::Abandoned { request_id, .. } if *request_id == id))
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        r.emu.responses_for(&id).is_empty(),
        "{:?}",
        r.emu.responses_for(&id)
    );
}

/// The agents' buffers are 64 KiB each way (ureq's default is 128 KiB): a 20 KiB header, a
/// body much bigger than the buffers, and a large response still pass intact.
#[test]
fn large_headers_and_bodies_pass_through_the_small_agent_buffers() {
    let r = rig_with(StubConfig::default(), None, |_, _| {});
    let init = call(
        &r,
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
    );
    let sid = init
        .last()
        .unwrap()
        .resp_header("Mcp-Session-Id")
        .expect("session id")
        .to_string();
    let big_text = "ä".repeat(300 * 1024); // 600 KiB of UTF-8
    let token = format!("Bearer {}", "t".repeat(20 * 1024));
    let id = r.emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
            "params":{"name":"echo","arguments":{"input": big_text}}}))
        .header("Mcp-Session-Id", &sid)
        .header("Authorization", &token),
    );
    let posts = terminal(&r, &id);
    let t = posts.last().unwrap();
    assert_eq!(t.resp_code, 200, "{:?}", t.resp_json);
    assert_eq!(
        t.resp_json.as_ref().unwrap()["result"]["structuredContent"]["echoed"]
            .as_str()
            .map(str::len),
        Some(big_text.len())
    );
    let seen = r.stub.requests();
    let auth = seen
        .iter()
        .rev()
        .find_map(|q| {
            q.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.clone())
        })
        .expect("authorization forwarded");
    assert_eq!(auth.len(), token.len());
}
