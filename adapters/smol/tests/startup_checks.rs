//! The smol adapter performs the engine's startup checks like the blocking one: the MCP
//! startup probe and OAuth discovery reach the demo MCP server (which advertises RFC 9728
//! metadata) as ordinary MCP requests, and readiness waits for them.

use std::time::{Duration, Instant};

use async_executor::Executor;
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
use tunnel_core::engine::{EngineConfig, StartupChecks};
use tunnel_core::mcp_http::HttpTarget;
use tunnel_smol::{start, RuntimeOptions};

#[test]
fn startup_checks_run_over_the_smol_adapter() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let stub = McpStub::start(StubConfig::default()).expect("stub");
    let mut cfg = EngineConfig::new(
        emu.control_plane_url().parse().unwrap(),
        emu.tunnel_id(),
        emu.api_key(),
    );
    cfg.poll_timeout = Duration::from_secs(2);
    let opts = RuntimeOptions {
        mcp_targets: vec![HttpTarget::new(
            tunnel_core::channel::ChannelName::main(),
            stub.url(),
        )],
        startup_checks: Some(StartupChecks::default()),
        ..RuntimeOptions::default()
    };
    let (tunnel, driver) = start(cfg, opts).expect("start");
    let ex = Executor::new();
    let task = ex.spawn(driver);
    let end = Instant::now() + Duration::from_secs(20);
    let mut last = Err(String::new());
    futures_lite::future::block_on(ex.run(async {
        while Instant::now() < end {
            last = tunnel.readiness();
            if last.is_ok() {
                break;
            }
            async_io::Timer::after(Duration::from_millis(50)).await;
        }
    }));
    assert_eq!(last, Ok(()), "readiness");
    let seen = stub.requests();
    assert!(
        seen.iter()
            .any(|r| r.method == "POST" && r.body.contains("\"initialize\"")),
        "the startup probe reached the server: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|r| r.path.starts_with("/.well-known/oauth-protected-resource")),
        "discovery reached the server: {seen:?}"
    );
    tunnel.stop();
    futures_lite::future::block_on(ex.run(task));
}
