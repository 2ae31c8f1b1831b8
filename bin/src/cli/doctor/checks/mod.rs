//! The individual doctor checks, in the order they are reported.
//!
//! This file runs them ([`run_checks`]) and holds what they share (`why` each check
//! matters, the TLS evidence of a probe); each group of checks has its own module:
//! `config_errors` (configuration errors as FAIL checks), `placeholders` (running the rest
//! when only the tunnel id or the key is wrong), `control_plane` (the key and the
//! `GET /v1/tunnels/{id}` probe), `reachability` and `oauth_metadata` (an HTTP MCP server),
//! `stdio_command` (a stdio MCP server's command) and `health_listener`.

mod config_errors;
mod control_plane;
mod health_listener;
mod oauth_metadata;
mod placeholders;
mod reachability;
mod stdio_command;

use super::probe;
use super::report::{Check, Status};
use super::url_checks;
use crate::config::{
    self, redact_text, redact_url, Command, ConfigError, ConfigSource, Env, Files, Loaded,
};
use config_errors::{check_id, error_checks, error_fix};
use control_plane::{api_key_check, control_plane_check};
use health_listener::health_check;
use oauth_metadata::oauth_check;
use placeholders::{without_settings, Placeholders};
use reachability::reachability;
use stdio_command::stdio_check;

/// What the checks start from.
pub struct Inputs<'a> {
    /// Doctor's arguments without `--offline`.
    pub args: &'a [String],
    /// The source selection (or why it failed).
    pub source: Result<ConfigSource, ConfigError>,
    pub offline: bool,
}

fn why(id: &str) -> &'static str {
    match id {
        "config_source" => "run reads the same flags, environment and profile; if the source cannot be chosen, nothing else can be checked.",
        "profile_load" => "the profile holds the tunnel id, the key reference and the MCP target; run stops if it cannot read or parse it.",
        "tunnel_id" => "every control-plane request names the tunnel; without the right id run cannot poll for commands.",
        "control_plane_api_key" => "run authenticates every poll with the runtime API key; without it the control plane answers 401.",
        "control_plane_base_url" => "run sends every request to the base URL; a malformed one stops it at startup.",
        "control_plane_access" => "this is the request run makes at startup; if the control plane refuses the key or does not know the tunnel, run can never receive commands.",
        "mcp_target" => "the main channel is where ChatGPT's MCP requests go; without it run has nowhere to forward them.",
        "mcp_command_executable" => "run starts this command and speaks MCP over its stdin/stdout; if it cannot start, every request fails.",
        "mcp_server_reachable" => "run forwards every MCP request to this URL; if nothing answers there, every request fails.",
        "oauth_metadata" => "ChatGPT discovers how to sign in to your MCP server from its OAuth metadata, fetched through the tunnel; broken metadata blocks the connector's sign-in.",
        "health_listener" => "run serves /healthz, /readyz and /metrics there and stops at startup if it cannot bind it.",
        "config_warnings" => "these settings are accepted, but probably not what you meant.",
        _ => "run validates the whole configuration at startup and stops on the first error.",
    }
}

fn source_summary(s: &ConfigSource) -> String {
    match s {
        ConfigSource::None => "flags/environment only".into(),
        ConfigSource::Config(p) => p.display().to_string(),
        ConfigSource::Profile { name, .. } => format!("profile: {name}"),
        ConfigSource::ProfileFile(p) => format!("profile file: {}", p.display()),
    }
}

/// Runs every check.
pub fn run_checks(inp: &Inputs<'_>, env: &dyn Env, files: &dyn Files) -> Vec<Check> {
    let mut checks = Vec::new();
    let source = match &inp.source {
        Ok(s) => s.clone(),
        Err(e) => {
            checks.push(
                Check::fail("config_source", e.to_string())
                    .why(why("config_source"))
                    .evidence([e.to_string()])
                    .next([
                        error_fix(e),
                        "give one of --config, --profile or --profile-file (flags beat TUNNEL_CLIENT_CONFIG / TUNNEL_CLIENT_PROFILE / TUNNEL_CLIENT_PROFILE_FILE)".into(),
                    ]),
            );
            checks.extend(url_checks());
            return checks;
        }
    };
    checks.push(Check::pass("config_source", source_summary(&source)));
    if let Some(p) = source.path() {
        if let Err(e) = files.read_to_string(p) {
            let err = ConfigError::ReadFile {
                path: p.display().to_string(),
                message: e.to_string(),
            };
            checks.extend(error_checks(&[err], &source));
            checks.extend(url_checks());
            return checks;
        }
    }
    let loaded = config::load(Command::Doctor, inp.args, env, files);
    let (loaded, failed) = match loaded {
        Ok(l) => (l, Vec::new()),
        Err(errs) => {
            let errs = errs.0;
            let ids: Vec<&str> = errs.iter().map(check_id).collect();
            let retry = ids
                .iter()
                .all(|i| matches!(*i, "tunnel_id" | "control_plane_api_key"));
            let second = retry.then(|| {
                let ph = Placeholders {
                    inner: env,
                    tunnel: ids.contains(&"tunnel_id"),
                    key: ids.contains(&"control_plane_api_key"),
                };
                let args = without_settings(
                    inp.args,
                    &["control-plane.tunnel-id", "control-plane.api-key"],
                );
                config::load(Command::Doctor, &args, &ph, files)
            });
            match second {
                Some(Ok(l)) => (l, error_checks(&errs, &source)),
                _ => {
                    let profile_failed = ids.contains(&"profile_load");
                    if !profile_failed {
                        checks.push(profile_pass(&source));
                    }
                    checks.extend(error_checks(&errs, &source));
                    checks.extend(url_checks());
                    return checks;
                }
            }
        }
    };
    checks.push(profile_pass(&source));
    checks.extend(loaded_checks(&loaded, &failed, inp.offline, env));
    checks
}

fn profile_pass(source: &ConfigSource) -> Check {
    Check::pass(
        "profile_load",
        source
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "flags/environment only".into()),
    )
}

fn loaded_checks(l: &Loaded, failed: &[Check], offline: bool, env: &dyn Env) -> Vec<Check> {
    let c = &l.config;
    let mut out = Vec::new();
    if !l.warnings.is_empty() {
        out.push(
            Check::warn(
                "config_warnings",
                format!("{} warning(s); first: {}", l.warnings.len(), l.warnings[0]),
            )
            .why(why("config_warnings"))
            .evidence(l.warnings.iter().cloned())
            .next(["fix or remove the settings named above"]),
        );
    }
    let unsupported = config::unsupported_in_use(l);
    let agents = probe::agents(c);
    let mut blockers: Vec<String> = unsupported.iter().map(ToString::to_string).collect();
    if let Err(e) = &agents {
        blockers.push(format!("run would refuse this configuration: {e}"));
    }
    if !blockers.is_empty() {
        out.push(
            Check::fail("config_validation", blockers[0].clone())
                .why(why("config_validation"))
                .evidence(blockers.iter().cloned())
                .next([
                    "remove the settings this version does not support yet, or fix the CA bundle / client certificate / proxy named above".to_string(),
                ]),
        );
    }
    let failed_id = |id: &str| failed.iter().find(|f| f.id == id).cloned();
    out.push(
        failed_id("tunnel_id")
            .unwrap_or_else(|| Check::pass("tunnel_id", &c.control_plane.tunnel_id)),
    );
    out.push(failed_id("control_plane_api_key").unwrap_or_else(|| api_key_check(l)));
    let blocked: Vec<&str> = failed.iter().map(|f| f.id.as_str()).collect();
    out.push(if offline {
        Check::skip("control_plane_access", "not contacted (--offline)")
    } else if !blocked.is_empty() {
        Check::skip(
            "control_plane_access",
            format!("blocked by {}", blocked.join(", ")),
        )
    } else {
        match &agents {
            Ok(a) => control_plane_check(l, a),
            Err(_) => Check::skip("control_plane_access", "blocked by config_validation"),
        }
    });
    out.extend(url_checks());
    let main_http = c.mcp.server_urls.iter().find(|b| b.channel == "main");
    let main_stdio = c.mcp.commands.iter().find(|b| b.channel == "main");
    let others: Vec<String> = c
        .mcp
        .server_urls
        .iter()
        .map(|b| b.channel.clone())
        .chain(c.mcp.commands.iter().map(|b| b.channel.clone()))
        .filter(|ch| ch != "main")
        .collect();
    let mut target = match (main_http, main_stdio) {
        (Some(b), _) => Check::pass("mcp_target", redact_url(&b.url)),
        (_, Some(b)) => Check::pass("mcp_target", redact_text(&b.command_line)),
        _ => Check::skip(
            "mcp_target",
            "no main channel binding (only the polled channels are served)",
        ),
    };
    if !others.is_empty() {
        target = target.evidence([format!(
            "other channels (not probed): {}",
            others.join(", ")
        )]);
    }
    out.push(target);
    if let Some(b) = main_http {
        let (reach, first) = match (&agents, offline) {
            (_, true) => (
                Check::skip("mcp_server_reachable", "not contacted (--offline)"),
                None,
            ),
            (Err(_), _) => (
                Check::skip("mcp_server_reachable", "blocked by config_validation"),
                None,
            ),
            (Ok(a), false) => reachability(l, b, a),
        };
        let unreachable = reach.status == Status::Fail;
        out.push(reach);
        out.push(match (&agents, offline) {
            (_, true) => Check::skip("oauth_metadata", "not contacted (--offline)"),
            (Err(_), _) => Check::skip("oauth_metadata", "blocked by config_validation"),
            (Ok(_), false) if unreachable => {
                Check::skip("oauth_metadata", "blocked by mcp_server_reachable")
            }
            (Ok(a), false) => oauth_check(l, b, a, first.as_ref()),
        });
    } else if let Some(b) = main_stdio {
        out.push(stdio_check(b, env));
        out.push(Check::skip(
            "mcp_server_reachable",
            "stdio targets are not probed over the network",
        ));
        out.push(Check::skip(
            "oauth_metadata",
            "stdio targets do not expose OAuth metadata URLs",
        ));
    }
    out.push(health_check(l));
    out
}

fn tls_evidence(
    l: &Loaded,
    proxy: Option<&config::Proxy>,
    cert: Option<&std::path::PathBuf>,
) -> Vec<String> {
    let c = &l.config;
    vec![
        format!(
            "CA bundle: {}",
            c.ca_bundle
                .as_ref()
                .map(|p| format!("{} (plus the built-in roots)", p.display()))
                .unwrap_or_else(|| "built-in roots".into())
        ),
        format!(
            "proxy: {}",
            proxy
                .map(|p| format!("{} (from {})", redact_url(&p.url), p.source))
                .unwrap_or_else(|| "none configured".into())
        ),
        format!(
            "client certificate: {}",
            cert.map(|p| p.display().to_string())
                .unwrap_or_else(|| "none".into())
        ),
    ]
}
