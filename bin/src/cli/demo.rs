//! `tunnel-client demo`: the whole tunnel loop on one machine — the control-plane emulator,
//! the demo MCP server, and this client polling the one and forwarding to the other — so a
//! newcomer can watch a real MCP request cross the real tunnel protocol.

use std::time::Duration;

use tunnel_blocking::{HttpTarget, Runtime, RuntimeOptions};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::EngineConfig;

use super::args::CliError;

pub fn run(args: &[String]) -> Result<(), CliError> {
    if let Some(a) = args.first() {
        return Err(CliError::Usage(format!(
            "demo: takes no arguments (got {a:?})"
        )));
    }
    let emu = Emulator::start(EmulatorConfig::default())
        .map_err(|e| CliError::Io(format!("cannot start the control-plane emulator: {e}")))?;
    let stub = McpStub::start(StubConfig::default())
        .map_err(|e| CliError::Io(format!("cannot start the demo MCP server: {e}")))?;
    let base = emu
        .control_plane_url()
        .parse()
        .map_err(|e| CliError::Io(format!("emulator URL: {e}")))?;
    let mut cfg = EngineConfig::new(base, emu.tunnel_id(), emu.api_key());
    cfg.poll_timeout = Duration::from_secs(20);
    let opts = RuntimeOptions {
        mcp_targets: vec![HttpTarget::new(ChannelName::main(), stub.url())],
        ..RuntimeOptions::default()
    };
    let runtime = Runtime::start(cfg, opts)
        .map_err(|e| CliError::Io(format!("cannot start the tunnel client: {e}")))?;
    let mcp = emu.mcp_url();
    println!("tunnel demo running: MCP client -> emulator -> tunnel-client -> demo MCP server");
    println!("  control plane (emulated): {}", emu.control_plane_url());
    println!("  private MCP server:       {}", stub.url());
    println!("  MCP URL through the tunnel: {mcp}");
    println!();
    println!("try it (initialize, then list tools with the session id it returns):");
    println!(
        "  curl -si {mcp} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\\n    -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}'"
    );
    println!(
        "  curl -s {mcp} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\\n    -H 'mcp-session-id: <from above>' -H 'mcp-protocol-version: 2025-11-25' \\\n    -d '{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}}'"
    );
    println!();
    println!("Ctrl-C stops everything.");
    loop {
        std::thread::sleep(Duration::from_secs(5));
        if let Err(reason) = runtime.readiness() {
            println!("not ready: {reason}");
        }
    }
}
