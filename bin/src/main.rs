//! `tunnel-client`: the customer-run agent of Secure MCP Tunnel.

use std::process::ExitCode;

use tunnel_client::cli::{self, args::CliError, help_topics};

fn dispatch(args: &[String]) -> Result<(), CliError> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] | ["help"] | ["--help"] | ["-h"] => {
            print!("{}", help_topics::root());
            Ok(())
        }
        ["--version"] | ["version"] => {
            println!("{}", help_topics::version_line());
            Ok(())
        }
        ["help", topic] if help_topics::topic(topic).is_some() => {
            print!("{}", help_topics::topic(topic).unwrap_or_default());
            Ok(())
        }
        ["help", cmd, ..] if help_topics::is_command(cmd) => {
            let mut again: Vec<String> = args[1..].to_vec();
            again.push("--help".into());
            dispatch(&again)
        }
        ["help", other, ..] => Err(help_topics::unknown_topic(other)),
        ["init", ..] => cli::init::run(&args[1..]),
        ["doctor", ..] => cli::doctor::run(&args[1..]),
        ["profiles", ..] => cli::profiles::run(&args[1..]),
        ["admin", ..] => cli::admin::run(&args[1..]),
        ["completion", ..] => cli::completion::run(&args[1..]),
        ["run", ..] => cli::run::run(&args[1..]),
        ["health", ..] => cli::health::run(&args[1..]),
        #[cfg(feature = "dev-tools")]
        ["demo", ..] => cli::demo::run(&args[1..]),
        ["codex", ..] => cli::codex::run(&args[1..]),
        ["plugin", "codex", ..] => cli::codex::plugin::run(&args[2..]),
        ["runtimes", ..] => cli::runtimes::run(&args[1..]),
        ["admin-profiles", ..] => cli::runtimes::run_admin_profiles(&args[1..]),
        #[cfg(feature = "dev-tools")]
        ["dev", "control-plane", ..] => cli::dev::control_plane(&args[2..]),
        #[cfg(feature = "dev-tools")]
        ["dev", "mcp-stub", ..] => cli::dev::mcp_stub(&args[2..]),
        #[cfg(feature = "dev-tools")]
        ["dev", "proxy", ..] => cli::dev_proxy::proxy(&args[2..]),
        // A product build (`--no-default-features`) carries no emulator or demo server.
        #[cfg(not(feature = "dev-tools"))]
        [cmd @ ("demo" | "dev"), ..] => Err(CliError::Usage(format!(
            "`{cmd}` is not available in this build of tunnel-client (built without the \
             `dev-tools` feature); fix: use a build with default features"
        ))),
        #[cfg(feature = "dev-tools")]
        ["dev"] | ["dev", "--help" | "-h"] => {
            println!("Usage: tunnel-client dev control-plane|mcp-stub|proxy [flags]\n\n  dev control-plane    run the local control-plane emulator\n  dev mcp-stub         run the demo MCP server\n  dev proxy            a local MCP URL through the tunnel protocol and a real client");
            Ok(())
        }
        #[cfg(feature = "dev-tools")]
        ["dev", other, ..] => Err(CliError::Usage(format!(
            "unknown dev command {other:?}; use `dev control-plane`, `dev mcp-stub` or `dev proxy`"
        ))),
        [other, ..] => {
            let known = help_topics::COMMANDS.iter().map(|(c, _)| *c);
            let hint = cli::opts::closest(other, known)
                .map(|c| format!("did you mean {c:?}? "))
                .unwrap_or_default();
            Err(CliError::Usage(format!(
                "unknown command {other:?}; {hint}run 'tunnel-client help' for the list"
            )))
        }
    }
}

/// Output into a pipe whose reader is gone (`tunnel-client help run | head -1`) ends the
/// command quietly and successfully, as the reader has what it wanted. std's `print!`
/// panics on EPIPE (Rust ignores SIGPIPE), so the panic hook recognises that one panic;
/// every other panic goes to the default hook. Restoring SIGPIPE's default action instead
/// would also kill `run` when a stdio MCP child closes its stdin.
fn quiet_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        // EPIPE is 32 on Linux and macOS; Windows says ERROR_NO_DATA (232).
        let closed_pipe = ["Broken pipe", "os error 32)", "os error 232)"]
            .iter()
            .any(|s| msg.contains(s));
        if msg.starts_with("failed printing to stdout") && closed_pipe {
            std::process::exit(0);
        }
        default_hook(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
