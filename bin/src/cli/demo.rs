//! `tunnel-client demo`: the whole tunnel loop on one machine — the control-plane emulator,
//! and `tunnel-client run --embedded-mcp-stub` pointed at it — so a newcomer can watch a
//! real MCP request cross the real tunnel protocol. It is the same daemon `run` starts
//! (health listener, metrics, drain on Ctrl-C), only the configuration is made up here.

use std::collections::BTreeMap;

use tunnel_conformance::emulator::{Emulator, EmulatorConfig};

use super::args::CliError;
use crate::config::{self, Command, Env, ProcessEnv, RealFiles};
use crate::daemon;

/// The process environment with the emulator's key layered on top, so `demo` needs no
/// setup and never shows a key on a command line.
struct DemoEnv {
    overrides: BTreeMap<String, String>,
}

impl Env for DemoEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.overrides
            .get(name)
            .cloned()
            .or_else(|| ProcessEnv.var(name))
    }
}

const HELP: &str = "Usage: tunnel-client demo

Runs the whole tunnel loop on this machine: the control-plane emulator, a demo MCP server,
and `tunnel-client run --embedded-mcp-stub` pointed at the emulator, and prints how to send
an MCP request through the tunnel (the client's log names its health listener and admin
UI). Nothing leaves the machine and no key is needed; Ctrl-C stops it. Takes no flags.

For your own setup use `tunnel-client run` (`tunnel-client help quickstart` walks through it).
";

pub fn run(args: &[String]) -> Result<(), CliError> {
    if let [flag] = args {
        if matches!(flag.as_str(), "--help" | "-h") {
            print!("{HELP}");
            return Ok(());
        }
    }
    if let Some(a) = args.first() {
        return Err(CliError::Usage(format!(
            "demo: takes no arguments (got {a:?}); for your own setup use 'tunnel-client run'"
        )));
    }
    let emu = Emulator::start(EmulatorConfig::default())
        .map_err(|e| CliError::Io(format!("cannot start the control-plane emulator: {e}")))?;
    let run_args: Vec<String> = [
        "--control-plane.base-url",
        &emu.control_plane_url(),
        "--control-plane.tunnel-id",
        emu.tunnel_id(),
        "--control-plane.poll-timeout",
        "20s",
        "--embedded-mcp-stub",
        "--health.listen-addr",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = DemoEnv {
        overrides: [
            (
                "CONTROL_PLANE_API_KEY".to_string(),
                emu.api_key().to_string(),
            ),
            // A profile or env binding of the operator's must not leak into the demo.
            ("MCP_SERVER_URL".to_string(), String::new()),
            ("MCP_COMMAND".to_string(), String::new()),
        ]
        .into_iter()
        .collect(),
    };
    let loaded = config::load(Command::Run, &run_args, &env, &RealFiles)
        .map_err(|e| CliError::Config(format!("demo configuration: {e}")))?;

    let mcp = emu.mcp_url();
    println!("tunnel demo: MCP client -> emulator -> tunnel-client run -> demo MCP server");
    println!("  control plane (emulated):   {}", emu.control_plane_url());
    println!("  MCP URL through the tunnel: {mcp}");
    println!();
    println!("try it (initialize, then list tools with the session id it returns):");
    println!(
        "  curl -si {mcp} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\\n    -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}'"
    );
    println!(
        "  curl -s {mcp} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\\n    -H 'mcp-session-id: <from above>' -H 'mcp-protocol-version: 2025-11-25' \\\n    -d '{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}}'"
    );
    println!("Ctrl-C drains and stops everything.");
    println!();
    daemon::run(loaded).map_err(|e| CliError::Io(e.to_string()))
}
