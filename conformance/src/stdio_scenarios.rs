//! stdio end-to-end scenarios that every adapter must pass, written once: each adapter's
//! tests start their runtime with a stdio child, wrap it in a [`Runner`] and call the
//! scenario. Real child processes throughout (the rough test child, or the real MCP peers).

use std::sync::Mutex;

use serde_json::{json, Value};
use tunnel_core::engine::Event;

use crate::emulator::{CommandSpec, Emulator, PostedResponse};
use crate::stdio_rig::{call, initialize, terminal, text_of, tool, wait_for};

/// What a scenario needs from the adapter under test (one stdio channel, `main`).
pub trait Runner {
    fn emu(&self) -> &Emulator;
    /// Every engine event so far (the runtime's observer).
    fn events(&self) -> &Mutex<Vec<Event>>;
    /// `Ok` when ready, otherwise the `/readyz` reason.
    fn readiness(&self) -> Result<(), String>;
    /// stdio child restarts so far.
    fn stdio_restarts(&self) -> u64;
    /// Drains the runtime and waits until it has ended (its children stopped).
    fn drain(&mut self);
}

fn posts(r: &dyn Runner, id: &str) -> Vec<PostedResponse> {
    terminal(r.emu(), id, r.events())
}

fn run(r: &dyn Runner, msg: Value) -> Vec<PostedResponse> {
    call(r.emu(), r.events(), msg)
}

fn last_json(posts: &[PostedResponse]) -> Value {
    posts
        .last()
        .and_then(|p| p.resp_json.clone())
        .unwrap_or(Value::Null)
}

/// Asserts a synthesized `transport_closed` failure (502, no upstream answer) for `id`.
fn assert_transport_closed(posts: &[PostedResponse], id: &Value) {
    let last = posts.last().expect("a terminal post");
    assert_eq!(
        (last.resp_type.as_str(), last.resp_code),
        ("jsonrpc_response", 502)
    );
    let v = last_json(posts);
    assert_eq!(&v["id"], id, "{v}");
    let failure = &v["error"]["data"]["tunnel_failure"];
    assert_eq!(failure["source"], "transport_closed", "{v}");
    assert_eq!(failure["upstream_response_received"], false, "{v}");
}

/// Rough child: two sessions send requests with the same id at once (a slow one and a fast
/// one); each gets its own answer under its own id, the fast one first.
pub fn colliding_ids_from_two_sessions(r: &mut dyn Runner) {
    let slow = r.emu().enqueue(
        CommandSpec::jsonrpc(tool(json!(1), "late", json!({"ms": 600})))
            .header("Mcp-Session-Id", "session-a"),
    );
    let fast = r.emu().enqueue(
        CommandSpec::jsonrpc(tool(json!(1), "echo", json!({"text": "from b"})))
            .header("Mcp-Session-Id", "session-b"),
    );
    let fast = posts(r, &fast);
    let slow = posts(r, &slow);
    assert_eq!(text_of(fast.last().unwrap()), "from b");
    assert_eq!(text_of(slow.last().unwrap()), "late 600");
    assert_eq!(last_json(&fast)["id"], 1);
    assert_eq!(last_json(&slow)["id"], 1);
    assert!(
        fast.last().unwrap().received_at < slow.last().unwrap().received_at,
        "the fast answer did not wait for the slow one"
    );
    assert_eq!(r.stdio_restarts(), 0);
    r.drain();
}

/// Rough child: a command gives up at its deadline; the late answer (same original id) is
/// discarded rather than given to the next command.
pub fn response_after_deadline_is_discarded(r: &mut dyn Runner) {
    // A: gives up after 300 ms; the child still answers it at 1.5 s ("late 1500").
    let a = r.emu().enqueue(
        CommandSpec::jsonrpc(tool(json!(1), "late", json!({"ms":1500}))).response_timeout("300ms"),
    );
    wait_for("A's deadline", || {
        r.events()
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::DeadlineExpired { request_id, .. } if *request_id == a))
    });
    // B: same original id, still waiting when A's late answer arrives.
    let b = r.emu().enqueue(CommandSpec::jsonrpc(tool(
        json!(1),
        "late",
        json!({"ms":2500}),
    )));
    let got = posts(r, &b);
    assert_eq!(got.len(), 1);
    assert_eq!(
        text_of(&got[0]),
        "late 2500",
        "B got its own answer, not A's"
    );
    assert_eq!(last_json(&got)["id"], 1);
    assert!(r.emu().responses_for(&a).is_empty(), "nothing posted for A");
    let echo = run(r, tool(json!(1), "echo", json!({"text":"still fine"})));
    assert_eq!(text_of(&echo[0]), "still fine");
    assert_eq!(r.stdio_restarts(), 0);
    r.drain();
}

/// Rough child with a 4 KiB line bound: a banner, a non-JSON line, invalid UTF-8 and an
/// overlong line on stdout are skipped; the call still gets its answer, the child keeps
/// serving, nothing restarts.
pub fn malformed_stdout_lines_are_skipped(r: &mut dyn Runner) {
    let got = run(r, tool(json!("g"), "garbage", json!({"long": 200_000})));
    assert_eq!(text_of(got.last().unwrap()), "after garbage");
    let echo = run(r, tool(json!("e"), "echo", json!({"text":"ok"})));
    assert_eq!(text_of(&echo[0]), "ok");
    assert_eq!(r.readiness(), Ok(()));
    assert_eq!(r.stdio_restarts(), 0, "garbage is not a crash");
    r.drain();
}

/// Rough child: it exits while two calls are in flight. Both fail with `transport_closed`,
/// the channel is reported down, the child is restarted and serves again.
pub fn child_crash_fails_in_flight_then_restarts(r: &mut dyn Runner) {
    let waiting = r.emu().enqueue(CommandSpec::jsonrpc(tool(
        json!("w"),
        "late",
        json!({"ms": 5000}),
    )));
    // The late call is on the child before the crash is sent.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let crash = r
        .emu()
        .enqueue(CommandSpec::jsonrpc(tool(json!(7), "crash", json!({}))));
    assert_transport_closed(&posts(r, &crash), &json!(7));
    assert_transport_closed(&posts(r, &waiting), &json!("w"));
    wait_for("the restart", || r.stdio_restarts() >= 1);
    let down_reported = r.events().lock().unwrap().iter().any(|e| {
        matches!(e, Event::BindingAvailability { down: Some(reason), .. } if reason.starts_with("stdio child down"))
    });
    assert!(down_reported, "readiness was told the child was down");
    wait_for("readiness to recover", || r.readiness().is_ok());
    let echo = run(r, tool(json!(8), "echo", json!({"text":"back"})));
    assert_eq!(text_of(&echo[0]), "back");
    r.drain();
}

/// server-everything over stdio: initialize, tools/list, a tool call, session termination
/// (405 on stdio, the child keeps serving), a JSON-RPC answer with the connector's id.
pub fn everything_round_trip(r: &mut dyn Runner) {
    let init = initialize(r.emu(), r.events());
    assert_eq!(init["id"], 0, "the connector's id comes back");
    assert!(
        init["result"]["serverInfo"]["name"]
            .as_str()
            .unwrap_or_default()
            .contains("everything"),
        "{init}"
    );
    let list = run(r, json!({"jsonrpc":"2.0","id":"l","method":"tools/list"}));
    let tools = last_json(&list)["result"]["tools"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(tools >= 10, "{tools} tools");

    let echo = run(
        r,
        tool(
            json!("c-1"),
            "echo",
            json!({"message":"through the tunnel"}),
        ),
    );
    let last = echo.last().unwrap();
    assert_eq!(
        (last.resp_type.as_str(), last.resp_code),
        ("jsonrpc_response", 200)
    );
    assert_eq!(last_json(&echo)["id"], "c-1");
    assert_eq!(text_of(last), "Echo: through the tunnel");
    assert_eq!(last.resp_header("Content-Type"), Some("application/json"));

    // No DELETE exists on stdio: 405, and the child keeps serving.
    let id = r.emu().enqueue(CommandSpec::session_termination("s-1"));
    let st = posts(r, &id);
    assert_eq!(
        (st[0].resp_type.as_str(), st[0].resp_code),
        ("session_termination_response", 405)
    );
    let sum = run(r, tool(json!(2), "get-sum", json!({"a":1,"b":2})));
    assert!(text_of(sum.last().unwrap()).contains('3'));
    assert_eq!(r.readiness(), Ok(()));
    assert!(
        r.emu().violations().is_empty(),
        "{:?}",
        r.emu().violations()
    );
    r.drain();
}

/// server-everything: two calls with the same id and the same progress token run at once;
/// each gets exactly its own progress notifications (token restored) before its terminal.
pub fn progress_reaches_the_right_command(r: &mut dyn Runner) {
    let call = |steps: u32| {
        r.emu().enqueue(CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":5,"method":"tools/call",
            "params":{"name":"trigger-long-running-operation","arguments":{"duration":1,"steps":steps},
            "_meta":{"progressToken":"tok"}}})))
    };
    let two = call(2);
    let four = call(4);
    for (id, steps) in [(two, 2), (four, 4)] {
        let got = posts(r, &id);
        let (last, notes) = got.split_last().unwrap();
        assert_eq!(last.resp_type, "jsonrpc_response");
        assert!(
            text_of(last).contains(&format!("Steps: {steps}")),
            "{}",
            text_of(last)
        );
        let progress: Vec<_> = notes
            .iter()
            .map(|n| {
                assert_eq!(
                    n.resp_type, "jsonrpc_notify",
                    "notifications come before the terminal"
                );
                n.resp_json.clone().unwrap()
            })
            .filter(|v| v["method"] == "notifications/progress")
            .collect();
        assert_eq!(progress.len(), steps as usize, "{progress:?}");
        for (i, v) in progress.iter().enumerate() {
            assert_eq!(
                v["params"]["progressToken"], "tok",
                "the connector's token is restored"
            );
            assert_eq!(v["params"]["progress"], i + 1);
            assert_eq!(v["params"]["total"], steps);
        }
    }
    r.drain();
}
