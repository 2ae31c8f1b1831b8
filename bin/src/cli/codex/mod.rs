//! `tunnel-client codex …`: Codex install hints, status and diagnosis, the Tunnel MCP plugin
//! (install, uninstall, export, and its MCP server), and the terminal assistant. See
//! `docs/codex.md`.

pub mod assistant;
pub mod bridge;
pub mod bundle;
pub mod config_toml;
pub mod detect;
pub mod install_cmds;
pub mod kb;
pub mod mcp_server;
pub mod plugin;
pub mod runtime_ops;
pub mod status;

use crate::cli::args::CliError;

const USAGE: &str = "Usage: tunnel-client codex <command>

  status [--json]               Codex, its app-server, the bridge and the Tunnel MCP plugin
  diagnose [alias] [--json]     the plugin, this binary, the bridge and a runtime, in one report
  assistant [prompt...]         ask Codex about this tunnel-client (a chat on a terminal)
  plugin install|uninstall|export
                                manage the Tunnel MCP plugin in $CODEX_HOME
  install|upgrade|uninstall     print the official commands for Codex itself (runs nothing)
  mcp-server                    the plugin's MCP server over stdio (started by Codex)
";

pub fn run(args: &[String]) -> Result<(), CliError> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("status") => status::run(rest),
        Some("diagnose") => status::diagnose(rest),
        Some("assistant") => assistant::run(rest),
        Some("plugin") => plugin::run(rest),
        Some(a @ ("install" | "upgrade" | "uninstall")) => install_cmds::run(a, rest),
        Some("mcp-server") => mcp_server::run(rest),
        None | Some("--help" | "-h" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(CliError::Usage(format!(
            "unknown codex command {other:?}; run 'tunnel-client codex --help' for the list"
        ))),
    }
}
