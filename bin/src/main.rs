//! `tunnel-client`: the customer-run agent of Secure MCP Tunnel.

use std::process::ExitCode;

use tunnel_client::cli::{self, args::CliError};

const USAGE: &str = "\
tunnel-client — forwards Secure MCP Tunnel commands to a private MCP server

Usage: tunnel-client <command> [flags]

Commands:
  run                  the tunnel client: poll the control plane, forward to the MCP server(s)
  demo                 the whole tunnel loop on this machine (emulator + client + demo MCP server)
  dev control-plane    run the local control-plane emulator
  dev mcp-stub         run the demo MCP server
  help [command]       show help

Run 'tunnel-client <command> --help' for the flags of a command.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        [] | ["help"] | ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        ["--version"] | ["version"] => {
            println!("tunnel-client {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        ["run", ..] => cli::run::run(&args[1..]),
        ["demo", ..] => cli::demo::run(&args[1..]),
        ["dev", "control-plane", ..] => cli::dev::control_plane(&args[2..]),
        ["dev", "mcp-stub", ..] => cli::dev::mcp_stub(&args[2..]),
        [other, ..] => Err(CliError::Usage(format!(
            "unknown command {other:?}; run 'tunnel-client help' for the list"
        ))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
