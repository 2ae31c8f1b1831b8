//! Shared by the `stdio_*` tests: a smol driver with one stdio channel, polled by
//! `futures_lite::future::block_on` on its own thread, against the control-plane emulator.
//! The scenarios and the adapter-independent helpers are `tunnel_conformance`'s, shared with
//! tunnel-blocking.
#![allow(dead_code, unused_imports)]

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tunnel_conformance::emulator::Emulator;
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{EngineConfig, Event};
use tunnel_smol::{start, Finished, RuntimeHandle, RuntimeOptions, StdioTarget};

pub use tunnel_conformance::peers::Peers;
pub use tunnel_conformance::stdio_rig::*;
pub use tunnel_conformance::stdio_scenarios::{self as scenario, Runner};

/// A driver with one stdio channel (`main`) against a fresh emulator. Dropping it stops the
/// driver (children stopped in order) and waits for its thread.
pub struct Rig {
    pub emu: Emulator,
    pub handle: RuntimeHandle,
    pub events: Arc<Mutex<Vec<Event>>>,
    thread: Option<JoinHandle<Finished>>,
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
    let (handle, driver) = start(cfg, opts).expect("driver starts");
    let thread = std::thread::spawn(move || futures_lite::future::block_on(driver));
    Rig {
        emu,
        handle,
        events,
        thread: Some(thread),
    }
}

pub fn rig(argv: Vec<String>) -> Rig {
    rig_with(argv, |_, _| {})
}

impl Rig {
    /// Waits (bounded) for the driver future to return.
    pub fn join(&mut self) -> Option<Finished> {
        let t = self.thread.take()?;
        let t0 = Instant::now();
        while !t.is_finished() {
            assert!(t0.elapsed() < WAIT, "the driver did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(t.join().expect("driver thread"))
    }

    /// Drains and waits for the driver to return.
    pub fn stop(&mut self) {
        self.handle.begin_drain();
        self.join();
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.handle.stop();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
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
        self.handle.readiness()
    }
    fn stdio_restarts(&self) -> u64 {
        self.handle.stdio_restarts()
    }
    fn drain(&mut self) {
        self.stop();
    }
}

/// The rough child's command, or `None` (skip) without a Python.
pub fn rough() -> Option<Vec<String>> {
    rough_stdio_child(Peers::find().as_ref())
}
