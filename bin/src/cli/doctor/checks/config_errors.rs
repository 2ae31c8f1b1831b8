//! Configuration errors as FAIL checks: each error is mapped to the check it belongs to
//! (go-cli-config.md §4.1), one check per group, with what to do about it.

use super::why;
use crate::cli::doctor::report::Check;
use crate::cli::help_topics::{ADMIN_KEYS_URL, RUNTIME_KEYS_URL, TUNNELS_URL};
use crate::config::{ConfigError, ConfigSource};

/// The check a configuration error belongs to (go-cli-config.md §4.1 mapping, made from the
/// error's structure rather than its text where possible).
pub(super) fn check_id(e: &ConfigError) -> &'static str {
    let has = |s: &str, keys: &[&str]| keys.iter().any(|k| s.contains(k));
    match e {
        ConfigError::ReadFile { .. } | ConfigError::Yaml { .. } => "profile_load",
        ConfigError::Missing { what, .. } => match what.as_str() {
            "tunnel ID" => "tunnel_id",
            "control plane API key" => "control_plane_api_key",
            "main channel" => "mcp_target",
            _ => "config_validation",
        },
        ConfigError::Invalid { origin, .. } => {
            if has(origin, &["tunnel-id", "TUNNEL_ID", "tunnel_id"]) {
                "tunnel_id"
            } else if has(origin, &["api-key", "API_KEY", "api_key"]) {
                "control_plane_api_key"
            } else if has(origin, &["base-url", "BASE_URL", "base_url"]) {
                "control_plane_base_url"
            } else if has(
                origin,
                &[
                    "mcp.server-url",
                    "mcp-server-url",
                    "MCP_SERVER_URL",
                    "mcp.server_urls",
                    "mcp.command",
                    "mcp-command",
                    "MCP_COMMAND",
                    "mcp.commands",
                ],
            ) {
                "mcp_target"
            } else if has(
                origin,
                &[
                    "health.listen-addr",
                    "health-listen-addr",
                    "HEALTH_LISTEN_ADDR",
                    "health.listen_addr",
                ],
            ) {
                "health_listener"
            } else {
                "config_validation"
            }
        }
        _ => "config_validation",
    }
}

fn next_for(id: &str, e: &ConfigError, source: &ConfigSource) -> Vec<String> {
    let file = source
        .path()
        .map(|p| format!(" (in {})", p.display()))
        .unwrap_or_default();
    match (id, e) {
        ("tunnel_id", ConfigError::Missing { .. }) => vec![
            format!("find the id: open {TUNNELS_URL}, or run `tunnel-client admin tunnels list --organization-id org_…` (needs OPENAI_ADMIN_KEY)"),
            format!("give it to run: --control-plane.tunnel-id tunnel_…, export CONTROL_PLANE_TUNNEL_ID=tunnel_…, or control_plane.tunnel_id{file}"),
            "or write a profile with it: tunnel-client init --tunnel-id tunnel_… --mcp-server-url URL | --mcp-command \"CMD\"".into(),
        ],
        ("tunnel_id", _) => vec![
            "a tunnel id is tunnel_ followed by 32 lowercase letters or digits; copy it again without quotes or spaces".into(),
            format!("list yours: `tunnel-client admin tunnels list --organization-id org_…` (needs OPENAI_ADMIN_KEY) or {TUNNELS_URL}"),
        ],
        ("control_plane_api_key", _) => vec![
            format!("create or copy a runtime API key at {RUNTIME_KEYS_URL} (its principal needs Tunnels Read + Use)"),
            "export CONTROL_PLANE_API_KEY=<the key> in the shell or service unit that starts run (profiles reference it as env:CONTROL_PLANE_API_KEY)".into(),
            "check key and tunnel together: tunnel-client admin tunnels get <tunnel_id>".into(),
            format!("do not use the admin key ({ADMIN_KEYS_URL}) for run"),
        ],
        ("mcp_target", ConfigError::Missing { .. }) => vec![
            "bind channel main: --mcp.server-url URL (HTTP) or --mcp.command \"CMD\" (stdio), or MCP_SERVER_URL / MCP_COMMAND, or mcp.server_urls / mcp.commands in the profile".into(),
            "or start from a sample: tunnel-client init --tunnel-id tunnel_… --mcp-command \"python /path/server.py\"".into(),
        ],
        ("profile_load", ConfigError::ReadFile { .. }) => vec![
            "list the profiles you have: tunnel-client profiles list".into(),
            "create one: tunnel-client init --tunnel-id tunnel_… --mcp-server-url URL | --mcp-command \"CMD\"".into(),
            "or point at the file: --profile-file /path/name.yaml or --config /path/file.yaml".into(),
        ],
        ("profile_load", _) => vec![
            "fix the YAML at the line named above (`tunnel-client profiles edit <name>` validates before saving)".into(),
            "compare with a sample: tunnel-client profiles samples show sample_mcp_with_dcr".into(),
        ],
        _ => vec![format!("{}", error_fix(e))],
    }
}

/// The `fix:` part of an error, or the whole message.
pub(super) fn error_fix(e: &ConfigError) -> String {
    match e {
        ConfigError::Invalid { fix, .. } | ConfigError::Conflict { fix, .. } => fix.clone(),
        ConfigError::Missing { fix, .. } => fix.clone(),
        other => other.to_string(),
    }
}

/// One FAIL check per group of errors.
pub(super) fn error_checks(errors: &[ConfigError], source: &ConfigSource) -> Vec<Check> {
    let mut groups: Vec<(&'static str, Vec<&ConfigError>)> = Vec::new();
    for e in errors {
        let id = check_id(e);
        match groups.iter_mut().find(|(g, _)| *g == id) {
            Some((_, v)) => v.push(e),
            None => groups.push((id, vec![e])),
        }
    }
    groups
        .into_iter()
        .map(|(id, errs)| {
            let mut next = next_for(id, errs[0], source);
            for e in &errs[1..] {
                let f = error_fix(e);
                if !next.contains(&f) {
                    next.push(f);
                }
            }
            Check::fail(id, errs[0].to_string())
                .why(why(id))
                .evidence(errs.iter().map(|e| e.to_string()))
                .next(next)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_check_ids() {
        let missing = |w: &str| ConfigError::Missing {
            what: w.into(),
            fix: String::new(),
        };
        assert_eq!(check_id(&missing("tunnel ID")), "tunnel_id");
        assert_eq!(
            check_id(&missing("control plane API key")),
            "control_plane_api_key"
        );
        assert_eq!(check_id(&missing("main channel")), "mcp_target");
        let inv = |o: &str| ConfigError::Invalid {
            origin: o.into(),
            value: None,
            problem: String::new(),
            fix: String::new(),
        };
        assert_eq!(
            check_id(&inv("env var CONTROL_PLANE_API_KEY")),
            "control_plane_api_key"
        );
        assert_eq!(
            check_id(&inv("YAML key control_plane.tunnel_id in f")),
            "tunnel_id"
        );
        assert_eq!(check_id(&inv("--mcp.command")), "mcp_target");
        assert_eq!(check_id(&inv("--log.level")), "config_validation");
    }
}
