//! The adapter-independent half of the adapters' stdio end-to-end tests: an emulator and an
//! engine configuration with one stdio channel, commands sent through it and their posts
//! awaited, the rough test child, and process inspection. Each adapter's test support
//! starts its own runtime on top (tunnel-blocking: a `Runtime`; tunnel-smol: a driver
//! future on a thread), so both run the same scenarios the same way.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{Binding, BindingKind, EngineConfig, Event};

use crate::emulator::{CommandSpec, Emulator, EmulatorConfig, PostedResponse};
use crate::peers::Peers;

/// How long a test waits for anything.
pub const WAIT: Duration = Duration::from_secs(15);

/// An emulator whose ingress never times commands out (the tests set deadlines).
pub fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        ingress_response_timeout: None,
        ..EmulatorConfig::default()
    })
    .expect("emulator")
}

/// An engine configuration for `emu` with one stdio channel (`main`), short polls and
/// room for 8 commands at once.
pub fn engine_config(emu: &Emulator) -> EngineConfig {
    let mut cfg = EngineConfig::new(
        emu.control_plane_url().parse().expect("emulator URL"),
        emu.tunnel_id(),
        emu.api_key(),
    );
    cfg.poll_timeout = Duration::from_secs(2);
    cfg.poll_guardrail = Duration::from_secs(2);
    cfg.max_concurrent = 8;
    cfg.bindings = vec![Binding {
        channel: ChannelName::main(),
        kind: BindingKind::Stdio,
        extra_headers: Vec::new(),
    }];
    cfg
}

/// The rough test child, relative to the workspace root.
const ROUGH_CHILD: &str = "adapters/blocking/tests/children/rough_stdio_child.py";

/// A program no `PATH` directory holds, for the start-error tests.
pub const MISSING_PROGRAM: &str = "no-such-mcp-server-xyz";

/// Asserts that the start error for [`MISSING_PROGRAM`] on channel `main` names the
/// channel, the command and the fix.
pub fn assert_missing_program_error(text: &str) {
    assert!(
        text.contains("channel main") && text.contains(MISSING_PROGRAM) && text.contains("PATH"),
        "{text}"
    );
}

/// An observer for the runtime that records every engine event, and the record.
#[allow(clippy::type_complexity)]
pub fn recorder() -> (Arc<Mutex<Vec<Event>>>, Arc<dyn Fn(&Event) + Send + Sync>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let observer = Arc::new(move |e: &Event| {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e.clone())
    });
    (events, observer)
}

/// Every post for command `id` once its terminal one arrived; panics after [`WAIT`],
/// showing the posts so far and the engine events.
pub fn terminal(emu: &Emulator, id: &str, events: &Mutex<Vec<Event>>) -> Vec<PostedResponse> {
    emu.wait_terminal(id, WAIT).unwrap_or_else(|| {
        panic!(
            "no terminal post for {id}; posts: {:?}; events: {:?}",
            emu.responses_for(id),
            events.lock().unwrap_or_else(|e| e.into_inner())
        )
    })
}

/// Sends one JSON-RPC message as a command and waits for its posts.
pub fn call(emu: &Emulator, events: &Mutex<Vec<Event>>, msg: Value) -> Vec<PostedResponse> {
    let id = emu.enqueue(CommandSpec::jsonrpc(msg));
    terminal(emu, &id, events)
}

/// `initialize` + `notifications/initialized`, as a connector would; the initialize answer.
pub fn initialize(emu: &Emulator, events: &Mutex<Vec<Event>>) -> Value {
    let posts = call(
        emu,
        events,
        json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},
        "clientInfo":{"name":"tunnel-e2e","version":"1"}}}),
    );
    let init = posts
        .last()
        .and_then(|p| p.resp_json.clone())
        .expect("an initialize answer");
    assert!(init.get("result").is_some(), "initialize failed: {init}");
    let ack = call(
        emu,
        events,
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    );
    assert_eq!(
        (ack[0].resp_type.as_str(), ack[0].resp_code),
        ("notify_ack", 200)
    );
    init
}

/// A `tools/call` request.
pub fn tool(id: Value, name: &str, args: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":args}})
}

/// Polls `f` every 20 ms until it holds; panics after [`WAIT`].
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The tool-call result text of a terminal post.
pub fn text_of(p: &PostedResponse) -> String {
    p.resp_json.as_ref().map_or_else(String::new, |v| {
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    })
}

/// `adapters/blocking/tests/children/rough_stdio_child.py` (stdlib only) under the peers'
/// Python, or `python3`; `None` (after printing why: the test skips) when that Python does
/// not run. The script stays where tunnel-blocking's trace tests also name it.
pub fn rough_stdio_child(peers: Option<&Peers>) -> Option<Vec<String>> {
    let py = peers.map_or_else(|| "python3".to_string(), |p| p.python.display().to_string());
    let ok = std::process::Command::new(&py)
        .args(["-c", "pass"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP: no Python interpreter ({py}) to run the test child");
        return None;
    }
    let script = crate::peers::workspace_root().join(ROUGH_CHILD);
    Some(vec![py, script.display().to_string()])
}

/// Child processes of `parent` whose command line contains `needle` (Linux `/proc`).
#[cfg(target_os = "linux")]
pub fn children_of(parent: u32, needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some((state, ppid)) = proc_state(pid) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == parent && state != "Z" && String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Whether `pid` is a live (non-zombie) process (Linux `/proc`).
#[cfg(target_os = "linux")]
pub fn alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|(state, _)| state != "Z")
}

/// The state letter and parent pid of `pid`, from `/proc/<pid>/stat`.
#[cfg(target_os = "linux")]
fn proc_state(pid: u32) -> Option<(String, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command: state, ppid, …
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.to_string();
    let ppid = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((state, ppid))
}
