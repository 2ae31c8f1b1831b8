//! The conformance suite (`conformance/traces/`) replayed in real time against the blocking
//! adapter, through the control-plane emulator and scripted MCP servers.

use std::any::Any;
use std::time::Duration;

use tunnel_blocking::{HttpTarget, Runtime, RuntimeOptions};
use tunnel_conformance::trace::live::{run_suite, LiveSetup};

fn start(setup: LiveSetup) -> Result<Box<dyn Any>, String> {
    let opts = RuntimeOptions {
        mcp_targets: setup
            .targets
            .into_iter()
            .map(|(channel, url)| HttpTarget::new(channel, url))
            .collect(),
        drain_timeout: Duration::from_secs(1),
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
