//! `tunnel-client run --record-trace FILE`: the real binary records a redacted trace of a
//! live session, and that trace replays cleanly on the core under virtual time.

mod support;

use std::time::Duration;

use support::{Client, Scratch};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
use tunnel_conformance::trace::engine::REPLAY_API_KEY;
use tunnel_conformance::trace::{check, replay_core, Subst, Trace};

#[test]
fn run_record_trace_writes_a_redacted_replayable_trace() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let stub = McpStub::start(StubConfig {
        require_session: false,
        ..StubConfig::default()
    })
    .expect("stub");
    let scratch = Scratch::new("record");
    let file = scratch.path("session.jsonl");
    let mut args = support::base_args(&emu);
    args.extend([
        "--mcp.server-url".to_string(),
        stub.url(),
        "--record-trace".to_string(),
        file.display().to_string(),
    ]);
    let mut client = Client::start(&emu, &args);
    let id = emu.enqueue(
        CommandSpec::jsonrpc(
            serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"echo","arguments":{"text":"recorded by the binary"}}}),
        )
        .header("Authorization", "Bearer connector-secret-abc"),
    );
    assert!(emu.wait_terminal(&id, Duration::from_secs(20)).is_some());
    client.signal("TERM");
    assert!(client.wait_exit(Duration::from_secs(30)).success());

    let text = std::fs::read_to_string(&file).expect("trace written");
    for secret in [emu.api_key(), "connector-secret-abc", "shard-000001"] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let trace = Trace::parse(&text).expect("a valid trace");
    assert_eq!(trace.header.name, "session");
    assert_eq!(trace.posts_for(&id).len(), 1, "{text}");
    assert_eq!(trace.mcp_for(&id).len(), 1, "{text}");
    let run = replay_core(&trace).expect("replay");
    let subst = Subst {
        api_key: REPLAY_API_KEY.into(),
    };
    if let Err(d) = check(&trace, "core", &run.observations, &subst) {
        panic!("{d}\n{}\n\ntrace:\n{text}", run.events.join("\n"));
    }
}
