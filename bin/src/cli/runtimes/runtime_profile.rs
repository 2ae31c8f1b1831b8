//! The runtime profile `connect` writes (go-cli-config.md §8.4) and the checks on what
//! goes into it: the profile name and directory, and the MCP target.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::profiles::Effective;
use super::secrets::reject_inline_secret;
use super::state::{normalize_alias, Root};
use super::RtError;
use crate::config::Env;

/// Profile names: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, no path separators; default the alias.
pub fn profile_name(raw: &str, alias: &str) -> Result<String, RtError> {
    let n = if raw.trim().is_empty() {
        normalize_alias(alias)?
    } else {
        raw.trim().to_string()
    };
    if n == "." || n == ".." || n.contains(['/', '\\']) {
        return Err(RtError::Usage(
            "profile name must not contain path separators".into(),
        ));
    }
    let b = n.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c));
    if !ok {
        return Err(RtError::Usage(
            "profile name must use letters, numbers, '.', '_' or '-'".into(),
        ));
    }
    Ok(n)
}

/// `--profile-dir`, else `TUNNEL_CLIENT_PROFILE_DIR`, `$XDG_CONFIG_HOME/tunnel-client`,
/// `~/.config/tunnel-client`.
pub fn profile_dir(raw: &str, env: &dyn Env) -> Result<PathBuf, RtError> {
    let get = |n: &str| {
        env.var(n)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if !raw.trim().is_empty() {
        return Ok(PathBuf::from(raw.trim()));
    }
    if let Some(d) = get("TUNNEL_CLIENT_PROFILE_DIR") {
        return Ok(d.into());
    }
    if let Some(x) = get("XDG_CONFIG_HOME") {
        return Ok(Path::new(&x).join("tunnel-client"));
    }
    if let Some(h) = get("HOME") {
        return Ok(Path::new(&h).join(".config/tunnel-client"));
    }
    Err(RtError::Usage(
        "resolve default profile directory: set --profile-dir, TUNNEL_CLIENT_PROFILE_DIR or HOME"
            .into(),
    ))
}

/// (`server_url` | `command`, value).
pub fn target(url: &str, command: &str) -> Result<(&'static str, String), RtError> {
    if !url.trim().is_empty() {
        let u = url.trim();
        let ok = ["http://", "https://"].iter().any(|s| {
            u.len() > s.len()
                && u[..s.len()].eq_ignore_ascii_case(s)
                && !u[s.len()..].starts_with('/')
        });
        if !ok {
            return Err(RtError::Usage(
                "--mcp-server-url must be an http or https URL".into(),
            ));
        }
        reject_inline_secret(url, "mcp server URL")?;
        return Ok(("server_url", u.to_string()));
    }
    if !command.trim().is_empty() {
        reject_inline_secret(command, "mcp command")?;
        return Ok(("command", command.to_string()));
    }
    Err(RtError::Usage(
        "connect requires --mcp-server-url or --mcp-command".into(),
    ))
}

/// Writes `<dir>/<name>.yaml` (JSON, 0600), overwriting it: the profile the runtime runs.
#[allow(clippy::too_many_arguments)]
pub fn write_profile(
    root: &Root,
    alias: &str,
    dir: &Path,
    name: &str,
    tunnel_id: &str,
    admin: &Effective,
    key_ref: &str,
    (kind, value): (&str, &str),
) -> Result<PathBuf, RtError> {
    let mut cp = json!({
        "base_url": admin.control_plane_base_url,
        "tunnel_id": tunnel_id,
        "api_key": key_ref,
    });
    if !admin.control_plane_url_path.trim().is_empty() {
        cp["url_path"] = admin.control_plane_url_path.trim().into();
    }
    let mcp = if kind == "server_url" {
        json!({"server_urls": [{"channel": "main", "url": value}]})
    } else {
        json!({"commands": [{"channel": "main", "command": value}]})
    };
    let profile = json!({
        "config_version": 1,
        "control_plane": cp,
        "health": {
            "listen_addr": "127.0.0.1:0",
            "url_file": root.health_url_file(alias).display().to_string(),
        },
        "admin_ui": {"open_browser": false},
        "log": {
            "level": "info",
            "format": "json",
            "file": root.log_path(alias).display().to_string(),
        },
        "mcp": mcp,
    });
    std::fs::create_dir_all(dir)
        .map_err(|e| RtError::Io(format!("create profile directory {}: {e}", dir.display())))?;
    let path = dir.join(format!("{name}.yaml"));
    let mut text = serde_json::to_vec_pretty(&profile).unwrap_or_default();
    text.push(b'\n');
    super::state::write_private(&path, &text)
        .map_err(|e| RtError::Io(format!("write profile {}: {e}", path.display())))?;
    Ok(path)
}
