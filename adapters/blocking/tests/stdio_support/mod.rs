//! Shared by the `stdio_*` end-to-end tests: finding the real MCP peers, a runtime with
//! one stdio channel against the control-plane emulator, and process inspection.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tunnel_blocking::{Runtime, RuntimeOptions, StdioTarget};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig, PostedResponse};
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{Binding, BindingKind, EngineConfig, Event};

pub const WAIT: Duration = Duration::from_secs(15);

pub use tunnel_conformance::peers::Peers;

/// The real MCP peers (`.ci/install-peers`), or `None` with the reason printed: the calling
/// test skips (under `CI=true` a missing install fails instead).
pub fn peers() -> Option<Peers> {
    Peers::find()
}

/// `rough_stdio_child.py` (stdlib only) under the peers' Python, or `python3`.
pub fn rough_child(peers: Option<&Peers>) -> Vec<String> {
    let py = peers
        .map(|p| p.python.display().to_string())
        .unwrap_or_else(|| "python3".to_string());
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/children/rough_stdio_child.py");
    vec![py, script.display().to_string()]
}

/// A runtime with one stdio channel (`main`) against a fresh emulator.
pub struct Rig {
    pub emu: Emulator,
    pub rt: Option<Runtime>,
    pub events: Arc<Mutex<Vec<Event>>>,
}

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

pub fn rig_with(
    argv: Vec<String>,
    tweak: impl FnOnce(&mut EngineConfig, &mut RuntimeOptions),
) -> Rig {
    let emu = Emulator::start(EmulatorConfig {
        ingress_response_timeout: None,
        ..EmulatorConfig::default()
    })
    .expect("emulator");
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let mut cfg = engine_config(&emu);
    let mut opts = RuntimeOptions {
        stdio_targets: vec![StdioTarget::new(ChannelName::main(), argv)],
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
        rt: Some(rt),
        events,
    }
}

pub fn rig(argv: Vec<String>) -> Rig {
    rig_with(argv, |_, _| {})
}

impl Rig {
    pub fn rt(&self) -> &Runtime {
        self.rt.as_ref().expect("runtime")
    }

    pub fn terminal(&self, id: &str) -> Vec<PostedResponse> {
        self.emu.wait_terminal(id, WAIT).unwrap_or_else(|| {
            panic!(
                "no terminal post for {id}; posts: {:?}; events: {:?}",
                self.emu.responses_for(id),
                self.events.lock().unwrap()
            )
        })
    }

    pub fn call(&self, msg: Value) -> Vec<PostedResponse> {
        let id = self.emu.enqueue(CommandSpec::jsonrpc(msg));
        self.terminal(&id)
    }

    /// `initialize` + `notifications/initialized`, as a connector would.
    pub fn initialize(&self) -> Value {
        let posts = self.call(
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},
            "clientInfo":{"name":"tunnel-e2e","version":"1"}}}),
        );
        let init = posts.last().unwrap().resp_json.clone().unwrap();
        assert!(init.get("result").is_some(), "initialize failed: {init}");
        let ack = self.call(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        assert_eq!(
            (ack[0].resp_type.as_str(), ack[0].resp_code),
            ("notify_ack", 200)
        );
        init
    }

    /// Drains and joins the runtime.
    pub fn stop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.begin_drain();
            let f = rt.join().expect("join");
            assert!(f.threads_stopped, "every I/O thread ended");
        }
    }
}

pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The tool-call result text of a terminal post.
pub fn text_of(p: &PostedResponse) -> String {
    p.resp_json.as_ref().unwrap()["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
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
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state, ppid, …
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
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
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}
