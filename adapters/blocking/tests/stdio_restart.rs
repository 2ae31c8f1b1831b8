//! A stdio child killed mid-call: the in-flight command fails with `transport_closed`, the
//! channel reports not ready, the child is restarted (the connector's `initialize` replayed
//! into it) and a later call succeeds; an orderly stop leaves no child behind.
//!
//! Alone in its test binary: it finds its child among this process's children by name.

mod stdio_support;

use serde_json::json;
use stdio_support::*;
use tunnel_conformance::emulator::CommandSpec;
use tunnel_core::engine::Event;

#[cfg(target_os = "linux")]
#[test]
fn child_killed_mid_call_fails_in_flight_then_a_later_call_succeeds() {
    let p = peers();
    let mut r = rig(p.python_stdio_argv());
    r.initialize();
    let me = std::process::id();
    let before = children_of(me, "py_stdio_server");
    assert_eq!(before.len(), 1, "{before:?}");

    let id = r.emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","id":"long","method":"tools/call",
        "params":{"name":"slow","arguments":{"ms":8000},"_meta":{"progressToken":1}}}),
    ));
    wait_for("the call to be running", || {
        !r.emu.responses_for(&id).is_empty()
    });
    let killed = std::process::Command::new("kill")
        .args(["-9", &before[0].to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());

    let posts = r.terminal(&id);
    let last = posts.last().unwrap();
    assert_eq!(
        (last.resp_type.as_str(), last.resp_code),
        ("jsonrpc_response", 502)
    );
    let v = last.resp_json.as_ref().unwrap();
    assert_eq!(v["id"], "long");
    let failure = &v["error"]["data"]["tunnel_failure"];
    assert_eq!(failure["source"], "transport_closed", "{v}");
    assert_eq!(failure["upstream_response_received"], false);
    assert!(failure.get("upstream_status").is_none());

    wait_for("the restart to be counted", || r.rt().stdio_restarts() >= 1);
    let down_reported = r.events.lock().unwrap().iter().any(|e| {
        matches!(e, Event::BindingAvailability { down: Some(reason), .. } if reason.starts_with("stdio child down"))
    });
    assert!(down_reported, "readiness was told the child was down");
    wait_for("readiness to recover", || r.rt().readiness().is_ok());
    let after = children_of(me, "py_stdio_server");
    assert!(
        after.len() == 1 && after != before,
        "{before:?} -> {after:?}"
    );

    // No new initialize from the connector: the replay made the new child usable.
    let echo = r.call(json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
        "params":{"name":"echo","arguments":{"text":"after the restart"}}}));
    assert_eq!(text_of(echo.last().unwrap()), "after the restart");

    r.stop();
    assert!(!alive(after[0]), "the child is gone after an orderly stop");
}
