//! `tunnel-client run`: load the configuration (flags > env > YAML > defaults), refuse
//! anything invalid or not built yet with a message naming the setting, then hand over to
//! the daemon.

use crate::config::{self, help_text, unsupported_in_use, wants_help, Command, ConfigError};
use crate::daemon;

use super::args::CliError;

/// First-use hint appended to the three errors a new operator meets first (as Go does).
const FIRST_USE_HINT: &str = "new here? 'tunnel-client help quickstart' walks through the setup; 'tunnel-client init' writes a profile; 'tunnel-client admin tunnels list --help' finds your tunnel id; 'tunnel-client run --embedded-mcp-stub' tries the tunnel with a demo MCP server";

pub fn run(args: &[String]) -> Result<(), CliError> {
    if wants_help(args) {
        println!("{}", help_text(Command::Run));
        return Ok(());
    }
    let loaded = config::load(Command::Run, args, &config::ProcessEnv, &config::RealFiles)
        .map_err(|errs| {
            let first_use = errs.0.iter().any(|e| {
                matches!(e, ConfigError::Missing { what, .. }
                    if what.contains("tunnel ID") || what.contains("main channel") || what.contains("API key"))
            });
            let mut msg = format!("configure tunnel-client: {errs}");
            if first_use {
                msg.push('\n');
                msg.push_str(FIRST_USE_HINT);
            }
            CliError::Config(msg)
        })?;
    let unsupported = unsupported_in_use(&loaded);
    if !unsupported.is_empty() {
        let lines: Vec<String> = unsupported.iter().map(|e| e.to_string()).collect();
        return Err(CliError::Config(format!(
            "configure tunnel-client: {}",
            lines.join("\n")
        )));
    }
    daemon::run(loaded).map_err(|e| match e {
        daemon::StartupError::Config(m) => CliError::Config(m),
        daemon::StartupError::Io(m) => CliError::Io(m),
    })
}
