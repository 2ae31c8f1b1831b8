//! stdio end to end with real MCP servers (server-everything, the Python `mcp` SDK): the
//! emulator's commands go through a `Runtime` whose only channel is a stdio child.
//! Skipped (with a printed reason) when the peers are not installed; CI installs them.

mod stdio_support;

use std::time::{Duration, Instant};

use serde_json::json;
use stdio_support::*;
use tunnel_conformance::emulator::CommandSpec;

#[test]
fn everything_round_trip_over_stdio() {
    let p = peers();
    scenario::everything_round_trip(&mut rig(p.everything_stdio_argv()));
}

#[test]
fn python_round_trip_preserves_json_rpc_errors() {
    let p = peers();
    let mut r = rig(p.python_stdio_argv());
    r.initialize();
    let echo = r.call(json!({"jsonrpc":"2.0","id":10,"method":"tools/call",
        "params":{"name":"echo","arguments":{"text":"hello"}}}));
    assert_eq!(text_of(echo.last().unwrap()), "hello");
    let fail = r.call(json!({"jsonrpc":"2.0","id":"f","method":"tools/call",
        "params":{"name":"fail","arguments":{}}}));
    let last = fail.last().unwrap();
    assert_eq!(
        last.resp_code, 200,
        "a JSON-RPC error is an answer, not a failure"
    );
    let v = last.resp_json.as_ref().unwrap();
    assert_eq!(v["id"], "f");
    assert_eq!(v["error"]["code"], -32042);
    assert!(v["error"]["data"].get("tunnel_failure").is_none());
    r.stop();
}

#[test]
fn thirty_two_slow_calls_on_one_child_overlap() {
    let p = peers();
    const N: usize = 32;
    const MS: u64 = 800;
    let mut r = rig_with(p.python_stdio_argv(), |cfg, _| {
        cfg.max_concurrent = N;
        cfg.max_inflight = 2 * N;
    });
    r.initialize();
    let t0 = Instant::now();
    let ids: Vec<String> = (0..N)
        .map(|i| {
            r.emu.enqueue(CommandSpec::jsonrpc(
                json!({"jsonrpc":"2.0","id":i,"method":"tools/call",
                "params":{"name":"slow","arguments":{"ms":MS},"_meta":{"progressToken":i}}}),
            ))
        })
        .collect();
    let posts: Vec<_> = ids.iter().map(|id| r.terminal(id)).collect();
    let wall = t0.elapsed();
    let serial = Duration::from_millis(MS * N as u64);
    for (i, p) in posts.iter().enumerate() {
        let last = p.last().unwrap();
        assert_eq!(last.resp_json.as_ref().unwrap()["id"], i);
        assert_eq!(text_of(last), format!("slept {MS} ms"));
    }
    // Overlap, observed without timing: every call had reported progress before the
    // first of them finished.
    let first_done = posts
        .iter()
        .map(|p| p.last().unwrap().received_at)
        .min()
        .unwrap();
    for p in &posts {
        assert!(
            p[0].resp_type == "jsonrpc_notify" && p[0].received_at < first_done,
            "a call had not started when the first one finished"
        );
    }
    eprintln!("{N} × {MS} ms slow calls on one stdio child: {wall:?} (serial: {serial:?})");
    assert!(
        wall < serial / 4,
        "{wall:?} is not much better than serial {serial:?}"
    );
    r.stop();
}

#[test]
fn colliding_ids_from_two_sessions_are_kept_apart() {
    let p = peers();
    let mut r = rig(p.python_stdio_argv());
    r.initialize();
    let slow = r.emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"slow","arguments":{"ms":600}}}))
        .header("Mcp-Session-Id", "session-a"),
    );
    let echo = r.emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"echo","arguments":{"text":"from b"}}}))
        .header("Mcp-Session-Id", "session-b"),
    );
    let echo = r.terminal(&echo);
    let slow = r.terminal(&slow);
    assert_eq!(text_of(echo.last().unwrap()), "from b");
    assert_eq!(text_of(slow.last().unwrap()), "slept 600 ms");
    assert_eq!(echo.last().unwrap().resp_json.as_ref().unwrap()["id"], 1);
    assert_eq!(slow.last().unwrap().resp_json.as_ref().unwrap()["id"], 1);
    r.stop();
}

#[test]
fn progress_notifications_reach_the_right_command_before_its_terminal() {
    let p = peers();
    scenario::progress_reaches_the_right_command(&mut rig(p.everything_stdio_argv()));
}
