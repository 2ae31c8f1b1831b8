//! Recorded traces from real MCP servers: `tunnel-client run --record-trace` in front of
//! server-everything (Streamable HTTP and stdio) and the Python `mcp` SDK (the 2025-11-25
//! session era and the 2026-07-28 sessionless era), driven like a connector would.
//!
//! Every test records a session and proves the recording replays cleanly on the core. With
//! `TRACE_RECORD=1` the recording (header completed: name, description, covers) is written
//! into `conformance/traces/recorded_<name>.jsonl`, where the core, blocking and smol suites
//! replay it like an authored trace — the safety net for changes to the engine and the
//! adapters, since the answers in it are what real servers said, not what we expected.
//!
//! Re-record: `TRACE_RECORD=1 cargo test -p tunnel-client --test record_peers`, then review
//! the diff (session ids and timestamps change; the shape must not).

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{Client, Scratch};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig, PostedResponse};
use tunnel_conformance::peers::Peers;
use tunnel_conformance::trace::engine::REPLAY_API_KEY;
use tunnel_conformance::trace::{check, replay_core, Subst, Trace};

const WAIT: Duration = Duration::from_secs(20);
const LEGACY: &str = "2025-11-25";
const MODERN: &str = "2026-07-28";

/// One recording session: the emulator, the client with `--record-trace`, the trace file.
struct Recording {
    emu: Emulator,
    client: Client,
    file: std::path::PathBuf,
    _scratch: Scratch,
    session: Option<String>,
}

impl Recording {
    fn start(mcp_args: &[String]) -> Recording {
        let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
        let scratch = Scratch::new("record-peer");
        let file = scratch.path("session.jsonl");
        let mut args = support::base_args(&emu);
        args.extend(mcp_args.iter().cloned());
        args.extend(["--record-trace".to_string(), file.display().to_string()]);
        let client = Client::start(&emu, &args);
        Recording {
            emu,
            client,
            file,
            _scratch: scratch,
            session: None,
        }
    }

    /// Enqueues `spec` and waits for its terminal response; returns every post.
    fn run(&self, spec: CommandSpec) -> Vec<PostedResponse> {
        let id = self.emu.enqueue(spec);
        self.emu
            .wait_terminal(&id, WAIT)
            .unwrap_or_else(|| panic!("no terminal for {id}: {:?}", self.emu.responses()))
    }

    /// A legacy-era request with the session headers a connector sends.
    fn legacy(&self, msg: Value) -> Vec<PostedResponse> {
        let mut spec = CommandSpec::jsonrpc(msg).header("Mcp-Protocol-Version", LEGACY);
        if let Some(sid) = &self.session {
            spec = spec.header("Mcp-Session-Id", sid);
        }
        self.run(spec)
    }

    /// `initialize` + `notifications/initialized`, keeping the session id if any.
    fn open_legacy(&mut self) {
        let posts = self.run(CommandSpec::jsonrpc(json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {},
                       "clientInfo": {"name": "recorder", "version": "1"}}
        })));
        let init = posts.last().expect("initialize answered");
        assert_eq!(init.resp_code, 200, "{init:?}");
        self.session = init.resp_header("Mcp-Session-Id").map(str::to_string);
        let ack = self.legacy(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert_eq!(ack.last().unwrap().resp_type, "notify_ack");
    }

    /// Stops the client (SIGTERM drain), completes the header and checks the recording
    /// replays on the core; with `TRACE_RECORD=1` writes it into the suite.
    fn finish(mut self, name: &str, description: &str, covers: &[&str]) {
        assert!(
            self.emu.violations().is_empty(),
            "{:?}",
            self.emu.violations()
        );
        self.client.signal("TERM");
        assert!(self.client.wait_exit(Duration::from_secs(30)).success());
        let text = std::fs::read_to_string(&self.file).expect("trace written");
        let mut trace = Trace::parse(&text).expect("a valid trace");
        trace.header.name = name.to_string();
        trace.header.description = description.to_string();
        trace.header.covers = covers.iter().map(|c| c.to_string()).collect();
        assert!(!trace.posts.is_empty(), "nothing recorded:\n{text}");
        let run = replay_core(&trace).expect("replay");
        let subst = Subst {
            api_key: REPLAY_API_KEY.into(),
        };
        if let Err(d) = check(&trace, "core", &run.observations, &subst) {
            panic!("{d}\n{}\n\ntrace:\n{text}", run.events.join("\n"));
        }
        if std::env::var("TRACE_RECORD").is_ok_and(|v| v == "1") {
            let out = tunnel_conformance::trace::suite_dir().join(format!("{name}.jsonl"));
            std::fs::write(&out, trace.to_jsonl()).expect("write the recorded trace");
            eprintln!("recorded {}", out.display());
        }
    }
}

fn text_of(posts: &[PostedResponse]) -> String {
    posts.last().unwrap().resp_json.as_ref().unwrap()["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn record_server_everything_over_streamable_http() {
    let peers = Peers::require();
    let peer = peers.everything_http().expect("server-everything");
    let mut r = Recording::start(&["--mcp.server-url".into(), peer.url()]);
    r.open_legacy();
    r.legacy(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let sum = r.legacy(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "get-sum", "arguments": {"a": 20, "b": 22}}}));
    assert!(text_of(&sum).contains("42"), "{sum:?}");
    let long = r.legacy(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "trigger-long-running-operation", "arguments": {"duration": 1, "steps": 2},
                   "_meta": {"progressToken": "p-everything"}}}));
    assert!(long.len() >= 2, "progress before the result: {long:?}");
    let sid = r
        .session
        .clone()
        .expect("server-everything gives a session");
    let end = r.run(CommandSpec::session_termination(&sid));
    assert_eq!(
        end.last().unwrap().resp_type,
        "session_termination_response"
    );
    r.finish(
        "recorded_everything_http",
        "Recorded with --record-trace in front of server-everything 2026.8.31 over Streamable \
         HTTP: initialize (session id), initialized, tools/list, get-sum, a long-running \
         operation with progress over SSE, session termination.",
        &["§11.5", "recorded"],
    );
}

#[test]
fn record_server_everything_over_stdio() {
    let peers = Peers::require();
    let command = peers.everything_stdio_argv().join(" ");
    let mut r = Recording::start(&["--mcp.command".into(), command]);
    r.open_legacy();
    r.legacy(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let sum = r.legacy(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "get-sum", "arguments": {"a": 20, "b": 22}}}));
    assert!(text_of(&sum).contains("42"), "{sum:?}");
    let echo = r.legacy(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": "recorded"}}}));
    assert_eq!(text_of(&echo), "Echo: recorded");
    r.finish(
        "recorded_everything_stdio",
        "Recorded with --record-trace in front of server-everything 2026.8.31 as a stdio \
         child: initialize, initialized, tools/list, get-sum, echo; the child sees the \
         tunnel's own ids (placeholders) and the connector gets its own back.",
        &["§11.5", "§11.56", "recorded"],
    );
}

#[test]
fn record_python_sdk_session_era() {
    let peers = Peers::require();
    let peer = peers.python_http().expect("python mcp server");
    let mut r = Recording::start(&["--mcp.server-url".into(), peer.url()]);
    r.open_legacy();
    r.legacy(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let echo = r.legacy(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "héllo"}}}));
    assert_eq!(text_of(&echo), "héllo");
    let slow = r.legacy(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": 100}, "_meta": {"progressToken": "p-py"}}}));
    assert!(slow.len() >= 2, "progress before the result: {slow:?}");
    let fail = r.legacy(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "fail", "arguments": {}}}));
    assert_eq!(
        fail.last().unwrap().resp_json.as_ref().unwrap()["error"]["code"],
        -32042
    );
    let sid = r.session.clone().expect("the 2025-11-25 era has sessions");
    let end = r.run(CommandSpec::session_termination(&sid));
    assert_eq!(end.last().unwrap().resp_code, 200);
    r.finish(
        "recorded_python_session_era",
        "Recorded with --record-trace in front of the Python mcp SDK 2.3.0 over Streamable \
         HTTP, protocol 2025-11-25: initialize (session), initialized, tools/list, echo, slow \
         with progress over SSE, a JSON-RPC error kept byte for byte, session termination.",
        &["§11.5", "recorded"],
    );
}

#[test]
fn record_python_sdk_sessionless_era() {
    let peers = Peers::require();
    let peer = peers.python_http().expect("python mcp server");
    let r = Recording::start(&["--mcp.server-url".into(), peer.url()]);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "recorder", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}});
    let modern = |msg: Value, method: &str, name: Option<&str>| {
        let mut spec = CommandSpec::jsonrpc(msg)
            .header("Mcp-Protocol-Version", MODERN)
            .header("Mcp-Method", method);
        if let Some(n) = name {
            spec = spec.header("Mcp-Name", n);
        }
        r.run(spec)
    };
    let discover = modern(
        json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}}),
        "server/discover",
        None,
    );
    let d = discover.last().unwrap();
    assert_eq!(d.resp_code, 200, "{d:?}");
    assert!(d.resp_header("Mcp-Session-Id").is_none(), "sessionless");
    let echo = modern(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"text": "modern"}, "_meta": meta}}),
        "tools/call",
        Some("echo"),
    );
    assert_eq!(text_of(&echo), "modern", "{echo:?}");
    let slow = modern(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "slow", "arguments": {"ms": 100},
                          "_meta": {"progressToken": "p-modern",
                                    "io.modelcontextprotocol/protocolVersion": MODERN,
                                    "io.modelcontextprotocol/clientInfo": {"name": "recorder", "version": "1"},
                                    "io.modelcontextprotocol/clientCapabilities": {}}}}),
        "tools/call",
        Some("slow"),
    );
    assert!(slow.last().unwrap().is_terminal(), "{slow:?}");
    r.finish(
        "recorded_python_sessionless_era",
        "Recorded with --record-trace in front of the Python mcp SDK 2.3.0 over Streamable \
         HTTP, protocol 2026-07-28 (no initialize, no session): server/discover, echo and \
         slow with a progress token, with the Mcp-Method / Mcp-Name headers forwarded.",
        &["recorded"],
    );
}
