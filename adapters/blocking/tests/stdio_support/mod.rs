//! Shared by the `stdio_*` end-to-end tests: a `Runtime` with one stdio channel against the
//! control-plane emulator. The adapter-independent helpers (commands, waiting, the rough
//! child, process inspection) are `tunnel_conformance::stdio_rig`'s, shared with tunnel-smol.
#![allow(dead_code, unused_imports)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tunnel_blocking::{Runtime, RuntimeOptions, StdioTarget};
use tunnel_conformance::emulator::{Emulator, PostedResponse};
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{EngineConfig, Event};

pub use tunnel_conformance::peers::Peers;
pub use tunnel_conformance::stdio_rig::*;
pub use tunnel_conformance::stdio_scenarios::{self as scenario, Runner};

/// The real MCP peers (`.ci/install-peers`); a missing install fails the calling test.
pub fn peers() -> Peers {
    Peers::require()
}

/// A runtime with one stdio channel (`main`) against a fresh emulator.
pub struct Rig {
    pub emu: Emulator,
    pub rt: Option<Runtime>,
    pub events: Arc<Mutex<Vec<Event>>>,
}

pub fn rig_with(
    argv: Vec<String>,
    tweak: impl FnOnce(&mut EngineConfig, &mut RuntimeOptions),
) -> Rig {
    let emu = emulator();
    let (events, observer) = recorder();
    let mut cfg = engine_config(&emu);
    let mut opts = RuntimeOptions {
        stdio_targets: vec![StdioTarget::new(ChannelName::main(), argv)],
        drain_timeout: Duration::from_secs(5),
        observer: Some(observer),
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
        terminal(&self.emu, id, &self.events)
    }

    pub fn call(&self, msg: Value) -> Vec<PostedResponse> {
        call(&self.emu, &self.events, msg)
    }

    /// `initialize` + `notifications/initialized`, as a connector would.
    pub fn initialize(&self) -> Value {
        initialize(&self.emu, &self.events)
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

impl Runner for Rig {
    fn emu(&self) -> &Emulator {
        &self.emu
    }
    fn events(&self) -> &Mutex<Vec<Event>> {
        &self.events
    }
    fn readiness(&self) -> Result<(), String> {
        self.rt().readiness()
    }
    fn stdio_restarts(&self) -> u64 {
        self.rt().stdio_restarts()
    }
    fn drain(&mut self) {
        self.stop();
    }
}
