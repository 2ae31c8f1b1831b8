//! The conformance suite (`conformance/traces/`) replayed in real time against the smol
//! adapter, through the control-plane emulator and scripted MCP servers — the same harness
//! and the same traces as the blocking adapter.

use std::any::Any;
use std::time::Duration;

use tunnel_conformance::trace::live::{run_suite, LiveSetup};
use tunnel_smol::{start, HttpTarget, RuntimeHandle, RuntimeOptions, StdioTarget};

/// The driver polled by `futures_lite::future::block_on` on its own thread; dropping the
/// guard stops it and waits for the thread.
struct Running {
    handle: RuntimeHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(setup: LiveSetup) -> Result<Box<dyn Any>, String> {
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
    let (handle, driver) = start(setup.engine, opts).map_err(|e| e.to_string())?;
    let thread = std::thread::spawn(move || {
        futures_lite::future::block_on(driver);
    });
    Ok(Box::new(Running {
        handle,
        thread: Some(thread),
    }))
}

#[test]
fn every_trace_replays_on_the_smol_adapter() {
    match run_suite("smol", &run, 6) {
        Ok(n) => eprintln!("{n} traces replayed on the smol adapter"),
        Err(report) => panic!("{report}"),
    }
}

/// `--record-trace`'s tap on this adapter: a stdio session with a real (deliberately rough)
/// child is recorded, checked, and replayed on the core and on this adapter.
#[test]
fn a_recorded_stdio_session_replays_on_the_core_and_the_adapter() {
    let child = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../blocking/tests/children/rough_stdio_child.py"
    );
    let argv = vec!["python3".to_string(), child.to_string()];
    if let Err(e) = tunnel_conformance::trace::recorded::record_and_replay_stdio("smol", &run, argv)
    {
        panic!("{e}");
    }
}
