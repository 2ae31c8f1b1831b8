//! The conformance suite (`conformance/traces/`) replayed in real time against the blocking
//! adapter, through the control-plane emulator and scripted MCP servers.

use std::any::Any;
use std::time::Duration;

use tunnel_blocking::{HttpTarget, Runtime, RuntimeOptions, StdioTarget};
use tunnel_conformance::trace::live::{run_suite, LiveSetup};

fn start(setup: LiveSetup) -> Result<Box<dyn Any>, String> {
    let opts = RuntimeOptions {
        mcp_targets: setup
            .targets
            .into_iter()
            .map(|(channel, url)| HttpTarget::new(channel, url))
            .collect(),
        stdio_targets: setup
            .stdio
            .into_iter()
            .map(|(channel, argv)| StdioTarget::new(channel, argv))
            .collect(),
        drain_timeout: Duration::from_secs(1),
        tap: setup.tap,
        ..RuntimeOptions::default()
    };
    let rt = Runtime::start(setup.engine, opts).map_err(|e| e.to_string())?;
    Ok(Box::new(rt))
}

#[test]
fn every_trace_replays_on_the_blocking_adapter() {
    let _ = env_logger::builder().is_test(true).try_init();
    match run_suite("blocking", &start, 6) {
        Ok(n) => eprintln!("{n} traces replayed on the blocking adapter"),
        Err(report) => panic!("{report}"),
    }
}

/// `run --record-trace` end to end at the adapter level: a live session against the
/// emulator and the MCP stub is recorded through the tap, the trace carries no secret, and
/// it replays cleanly on the core (virtual time) and on the blocking adapter again.
#[test]
fn a_recorded_session_replays_on_the_core_and_the_adapter() {
    use std::sync::Arc;
    use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
    use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
    use tunnel_conformance::trace::engine::REPLAY_API_KEY;
    use tunnel_conformance::trace::live::run_one;
    use tunnel_conformance::trace::record::Recorder;
    use tunnel_conformance::trace::{check, replay_core, Subst, Trace};
    use tunnel_core::channel::ChannelName;
    use tunnel_core::engine::EngineConfig;

    let api_key = "sk-recorded-session-key-0123";
    let emu = Emulator::start(EmulatorConfig {
        api_key: api_key.into(),
        ingress_response_timeout: None,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let stub = McpStub::start(StubConfig {
        require_session: false,
        ..StubConfig::default()
    })
    .unwrap();
    let mut cfg = EngineConfig::new(
        emu.control_plane_url().parse().unwrap(),
        emu.tunnel_id(),
        api_key,
    );
    cfg.poll_timeout = Duration::from_secs(2);
    cfg.poll_guardrail = Duration::from_secs(1);
    let path = std::env::temp_dir().join(format!("recorded-{}.jsonl", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let recorder = Recorder::new(Box::new(file), "recorded_session", &cfg, api_key).unwrap();
    let rt = Runtime::start(
        cfg,
        RuntimeOptions {
            mcp_targets: vec![HttpTarget::new(ChannelName::main(), stub.url())],
            tap: Some(Arc::new(recorder)),
            ..RuntimeOptions::default()
        },
    )
    .unwrap();
    let msgs = [
        serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        serde_json::json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"recorded"}}}),
        serde_json::json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow","arguments":{"ms":300,"steps":2},"_meta":{"progressToken":"p"}}}),
        serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    ];
    for m in msgs {
        let id = emu.enqueue(
            CommandSpec::jsonrpc(m).header("Authorization", "Bearer connector-secret-xyz"),
        );
        assert!(emu.wait_terminal(&id, Duration::from_secs(5)).is_some());
    }
    std::thread::sleep(Duration::from_millis(200));
    drop(rt);

    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    for secret in [api_key, "connector-secret-xyz", "shard-000001"] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into the trace:\n{text}"
        );
    }
    assert!(text.contains("<redacted:api_key>") && text.contains("<redacted:shard:1>"));
    let trace = Trace::parse(&text).unwrap();
    assert_eq!(trace.header.source, "recorded");
    assert_eq!(trace.posts.len(), 6, "{text}");

    let run = replay_core(&trace).unwrap();
    let subst = Subst {
        api_key: REPLAY_API_KEY.into(),
    };
    if let Err(d) = check(&trace, "core", &run.observations, &subst) {
        panic!("{d}\n{}\n\ntrace:\n{text}", run.events.join("\n"));
    }
    if let Err(e) = run_one(&trace, "blocking", &start) {
        panic!("{e}\n\ntrace:\n{text}");
    }
}

/// A live replay reports a stdio divergence too: the scripted child receives a request the
/// (mutated) trace does not expect, and the report shows both sides.
#[test]
fn a_stdio_divergence_is_reported_by_the_live_replay() {
    use tunnel_conformance::trace::live::run_one;
    use tunnel_conformance::trace::{suite_dir, Trace};
    let good =
        std::fs::read_to_string(suite_dir().join("stdio_colliding_ids_remapped.jsonl")).unwrap();
    let mutated = good.replace(
        r#""arguments":{},"name":"fast"}"#,
        r#""arguments":{},"name":"quick"}"#,
    );
    assert_ne!(mutated, good);
    let mut t = Trace::parse(&mutated).unwrap();
    t.header.timeout_ms = Some(3000);
    let e = run_one(&t, "blocking", &start).unwrap_err();
    assert!(
        e.contains("a line to the stdio child of channel main"),
        "{e}"
    );
    assert!(
        e.contains(r#""name":"fast""#) && e.contains(r#""name":"quick""#),
        "{e}"
    );
}

/// `--record-trace` on a stdio channel, with a real (deliberately rough) child: recorded,
/// checked, and replayed on the core and on this adapter (see
/// `tunnel_conformance::trace::recorded`).
#[test]
fn a_recorded_stdio_session_replays_on_the_core_and_the_adapter() {
    let child = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/children/rough_stdio_child.py"
    );
    let argv = vec!["python3".to_string(), child.to_string()];
    if let Err(e) =
        tunnel_conformance::trace::recorded::record_and_replay_stdio("blocking", &start, argv)
    {
        panic!("{e}");
    }
}
