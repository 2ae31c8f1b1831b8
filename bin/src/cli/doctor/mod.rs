//! `tunnel-client doctor [--explain] [--json] [--offline] [config flags…]`: checks the
//! configuration `run` would use, in the Go client's order (go-cli-config.md §4.1), and says
//! what to do about each problem. Exit 0 when nothing FAILs (warnings allowed), 2 otherwise.
//!
//! Where it does better than the Go client:
//! * every network probe uses the CA bundle, proxy, mTLS client certificate and extra
//!   headers `run` would use (see [`probe`]);
//! * a server without OAuth metadata (404 on every well-known path) passes;
//! * it asks the control plane (`GET /v1/tunnels/{id}`, read-only, the same request `run`
//!   makes at startup) whether the tunnel id and runtime key work together — the Go doctor
//!   cannot prove the key works (`--offline` skips this and every other network probe);
//! * every configuration error is reported (grouped per check), and when only the tunnel id
//!   or the key is wrong the remaining checks still run;
//! * the stdio preflight resolves `PATHEXT` on Windows and the `#!` interpreter everywhere.

mod checks;
pub mod probe;
pub mod report;

use std::io::Write as _;

use super::args::CliError;
use super::help_topics;
use crate::config::onboard;
use crate::config::{self, Command, ConfigSource, FlagValues, ProcessEnv, RealFiles};
use report::{Check, Report};

/// Flags of doctor that are not configuration settings.
const OFFLINE: &str = "--offline";

/// The intro printed before the generated flag list.
const ABOUT: &str = "\
Checks the configuration `tunnel-client run` would use, with the same flags, environment
variables and profile, and says what to do about each problem:

  tunnel-client doctor --profile NAME            text report; exit 0 ok, 2 on FAIL
  tunnel-client doctor --profile NAME --explain  plus why / evidence / next steps
  tunnel-client doctor --profile NAME --json     the report as JSON

Checks, in order: config_source, profile_load, config_warnings, config_validation,
tunnel_id, control_plane_api_key, control_plane_access (GET /v1/tunnels/{id} with the
runtime key), the four setup pages, mcp_target, then mcp_command_executable (stdio) or
mcp_server_reachable + oauth_metadata (HTTP), and health_listener.
Network probes use the same CA bundle, proxy, client certificate and extra headers as run.
See also: tunnel-client help doctor

Doctor only:
  --offline
      do not contact the control plane or the MCP server (local checks only)
";

pub fn help() -> String {
    let generated = config::help_text(Command::Doctor);
    let body = generated
        .split_once("\n\n")
        .map(|(_, rest)| rest)
        .unwrap_or(&generated);
    format!("Usage: tunnel-client doctor [flags]\n\n{ABOUT}\n{body}")
}

fn bool_flag(flags: &FlagValues, name: &str) -> bool {
    flags
        .canonical
        .get(name)
        .and_then(|v| v.last())
        .and_then(|v| config::parse_go_bool(v))
        .unwrap_or(false)
}

/// Removes `--offline[=bool]`; returns the remaining args and whether it was on.
fn take_offline(args: &[String]) -> Result<(Vec<String>, bool), CliError> {
    let mut rest = Vec::new();
    let mut offline = false;
    let mut passthrough = false;
    for a in args {
        if passthrough || a == "--" {
            passthrough = true;
            rest.push(a.clone());
            continue;
        }
        if a == OFFLINE {
            offline = true;
        } else if let Some(v) = a.strip_prefix("--offline=") {
            offline = config::parse_go_bool(v).ok_or_else(|| {
                CliError::Usage(format!(
                    "doctor: --offline={v}: not a boolean; write --offline or --offline=false"
                ))
            })?;
        } else {
            rest.push(a.clone());
        }
    }
    Ok((rest, offline))
}

/// The `run` command that uses the same configuration source.
fn next_command(source: &ConfigSource, flags: &FlagValues) -> String {
    let dir = config::setting("profile-dir")
        .and_then(|s| flags.get(s))
        .and_then(|(_, v)| v.last().cloned());
    match source {
        ConfigSource::Profile { name, .. } => format!(
            "tunnel-client run --profile {name}{}",
            super::profiles::dir_flag(dir.as_deref())
        ),
        ConfigSource::ProfileFile(p) => format!(
            "tunnel-client run --profile-file {}",
            super::profiles::shell_quote(&p.display().to_string())
        ),
        ConfigSource::Config(p) => format!(
            "tunnel-client run --config {}",
            super::profiles::shell_quote(&p.display().to_string())
        ),
        ConfigSource::None => "tunnel-client run".into(),
    }
}

/// `doctor` (`args` after the word `doctor`).
pub fn run(args: &[String]) -> Result<(), CliError> {
    if config::wants_help(args) {
        print!("{}", help());
        return Ok(());
    }
    let (args, offline) = take_offline(args)?;
    let flags = onboard::parse_flags(Command::Doctor, &args).map_err(|e| {
        CliError::Config(format!(
            "doctor: {e}\n(see `tunnel-client doctor --help` for the flags)"
        ))
    })?;
    let explain = bool_flag(&flags, "explain");
    let json = bool_flag(&flags, "json");
    let env = ProcessEnv;
    let source = onboard::select_source(&flags, &env);
    let next = source
        .as_ref()
        .map(|s| next_command(s, &flags))
        .unwrap_or_default();
    let checks = checks::run_checks(
        &checks::Inputs {
            args: &args,
            source,
            offline,
        },
        &env,
        &RealFiles,
    );
    let report = Report::new(checks, next);
    let mut out = std::io::stdout().lock();
    let text = if json {
        format!("{}\n", report.json())
    } else {
        report.text(explain)
    };
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    drop(out);
    let noteworthy = report
        .checks
        .iter()
        .any(|c| matches!(c.status, report::Status::Fail | report::Status::Warn));
    if !json && !explain && noteworthy {
        eprintln!(
            "hint: add --explain for why each problem matters, the evidence, and what to do next"
        );
    }
    if !report.ok() {
        super::opts::exit_now(2);
    }
    Ok(())
}

/// The four informational setup-page checks.
pub(crate) fn url_checks() -> Vec<Check> {
    help_topics::SETUP_CHECKS
        .iter()
        .map(|(id, url)| Check::pass(id, *url))
        .collect()
}
