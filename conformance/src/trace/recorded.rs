//! Recording proven end to end, for any adapter: a live stdio session is recorded through
//! the adapter's tap, checked for what a recording must hold, and replayed on the core and
//! on the same adapter. `tunnel-blocking` and `tunnel-smol` each run it from their tests.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{Binding, BindingKind, EngineConfig};

use super::engine::REPLAY_API_KEY;
use super::live::{run_one, LiveSetup, Start};
use super::record::Recorder;
use super::{check, replay_core, Subst, Trace};
use crate::emulator::{CommandSpec, Emulator, EmulatorConfig};

/// Records a session with the stdio child `child` (the rough test child: a banner on
/// stdout, `echo`, `late`, `crash`) on the adapter `start` launches — a handshake, two
/// sessions colliding on id 1, a call outliving its `response_timeout`, a crash and the
/// restart with the handshake replayed — then checks the recording and replays it on the
/// core and on the adapter (named `replay`). `Err` says what went wrong, with the trace.
pub fn record_and_replay_stdio(
    replay: &str,
    start: Start<'_>,
    child: Vec<String>,
) -> Result<(), String> {
    let api_key = "sk-recorded-stdio-key-0123";
    let emu = Emulator::start(EmulatorConfig {
        api_key: api_key.into(),
        ingress_response_timeout: None,
        ..EmulatorConfig::default()
    })
    .map_err(|e| format!("emulator: {e}"))?;
    let uri = emu
        .control_plane_url()
        .parse()
        .map_err(|e| format!("emulator URL: {e}"))?;
    let mut cfg = EngineConfig::new(uri, emu.tunnel_id(), api_key);
    cfg.poll_timeout = Duration::from_secs(2);
    cfg.poll_guardrail = Duration::from_secs(1);
    cfg.bindings = vec![Binding {
        channel: ChannelName::main(),
        kind: BindingKind::Stdio,
        extra_headers: Vec::new(),
    }];
    let path = std::env::temp_dir().join(format!(
        "recorded-stdio-{replay}-{}.jsonl",
        std::process::id()
    ));
    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let recorder = Recorder::new(Box::new(file), "recorded_stdio", &cfg, api_key)
        .map_err(|e| format!("recorder: {e}"))?;
    let client = start(LiveSetup {
        engine: cfg,
        targets: Vec::new(),
        stdio: vec![(ChannelName::main(), child)],
        tap: Some(Arc::new(recorder)),
    })?;

    let call = |id: u64, name: &str, args: serde_json::Value| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":args}});
    let run = |specs: Vec<CommandSpec>| {
        let ids: Vec<String> = specs.into_iter().map(|s| emu.enqueue(s)).collect();
        for id in ids {
            emu.wait_terminal(&id, Duration::from_secs(5));
        }
    };
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    run(vec![CommandSpec::jsonrpc(init)]);
    run(vec![CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )]);
    run(vec![
        CommandSpec::jsonrpc(call(1, "echo", json!({"text":"one"}))),
        CommandSpec::jsonrpc(call(1, "echo", json!({"text":"two"}))),
    ]);
    run(vec![CommandSpec::jsonrpc(call(
        2,
        "late",
        json!({"ms":600}),
    ))
    .response_timeout("300ms")]);
    std::thread::sleep(Duration::from_millis(500));
    run(vec![CommandSpec::jsonrpc(call(3, "crash", json!({})))]);
    std::thread::sleep(Duration::from_millis(500));
    run(vec![CommandSpec::jsonrpc(call(
        4,
        "echo",
        json!({"text":"after"}),
    ))]);
    std::thread::sleep(Duration::from_millis(200));
    drop(client);

    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = std::fs::remove_file(&path);
    let fail = |what: &str| Err(format!("{what}; the recording:\n{text}"));
    if text.contains(api_key) {
        return fail("the API key leaked into the recording");
    }
    let trace = Trace::parse(&text).map_err(|e| format!("{e}; the recording:\n{text}"))?;
    let received: Vec<String> = trace
        .stdio
        .iter()
        .filter_map(|l| l.receive.as_ref().map(|r| r.to_string()))
        .collect();
    let any = |f: &dyn Fn(&String) -> bool| received.iter().any(f);
    // The handshake twice (once replayed into the restarted child), the echoes with a
    // placeholder for the id the tunnel chose, the cancel of the late call under its id.
    if received
        .iter()
        .filter(|r| r.contains(r#""method":"initialize""#))
        .count()
        != 2
    {
        return fail("the initialize and its replay are not both recorded");
    }
    if !any(&|r| r.contains(r#""id":"<$t"#) && r.contains(r#""text":"two""#)) {
        return fail("the second echo is not recorded with a placeholder id");
    }
    if !any(&|r| r.contains("notifications/cancelled") && r.contains(r#""requestId":"<$t"#)) {
        return fail("the cancel of the late call is not recorded");
    }
    if !text.contains(r#"{"exit":0}"#) {
        return fail("the crash is not recorded");
    }
    if !text.contains("rough-child starting") {
        return fail("the child's banner is not recorded");
    }

    let run = replay_core(&trace)?;
    let subst = Subst {
        api_key: REPLAY_API_KEY.into(),
    };
    if let Err(d) = check(&trace, "core", &run.observations, &subst) {
        return Err(format!("{d}\n{}\n\ntrace:\n{text}", run.events.join("\n")));
    }
    run_one(&trace, replay, start).map_err(|e| format!("{e}\n\ntrace:\n{text}"))
}
