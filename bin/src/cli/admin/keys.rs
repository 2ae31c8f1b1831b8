//! Which key an admin call uses: an `--admin-key` reference, else `OPENAI_ADMIN_KEY`; for
//! `get` only, the runtime key when no admin key is configured at all.

use super::error::{other, AdminError};
use crate::cli::help_topics::{ADMIN_KEYS_URL, RUNTIME_KEYS_URL};
use crate::cli::opts::Parsed;
use crate::config::onboard::valid_env_name;
use crate::config::{Env, ProcessEnv};

/// Resolves an `env:`/`file:` reference given to `--admin-key`.
fn key_ref(r: &str) -> Result<String, AdminError> {
    let fix = "export OPENAI_ADMIN_KEY=<admin key> and drop --admin-key, or pass --admin-key env:NAME / file:/path";
    if let Some(name) = r.strip_prefix("env:") {
        if !valid_env_name(name) {
            return Err(other(format!(
                "--admin-key env:{name}: not a valid variable name; fix: {fix}"
            )));
        }
        return match ProcessEnv.var(name).map(|v| v.trim().to_string()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(other(format!(
                "--admin-key env:{name}: {name} is not set or empty; fix: export {name}=<admin key from {ADMIN_KEYS_URL}>"
            ))),
        };
    }
    if let Some(path) = r.strip_prefix("file:") {
        let path = path.trim();
        return match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            Ok(_) => Err(other(format!(
                "--admin-key file:{path}: the file is empty; fix: put the admin key in it"
            ))),
            Err(e) => Err(other(format!(
                "--admin-key file:{path}: cannot read it: {e}; fix: check the path and permissions"
            ))),
        };
    }
    Err(other(format!(
        "--admin-key must be a reference, env:NAME or file:/path (a literal key would end up in shell history); fix: {fix}"
    )))
}

/// `--admin-key` ref, else `OPENAI_ADMIN_KEY`.
pub(super) fn admin_key(p: &Parsed, env: &dyn Env) -> Result<String, AdminError> {
    if let Some(r) = p.get("admin-key") {
        return key_ref(r.trim());
    }
    match env.var("OPENAI_ADMIN_KEY").map(|v| v.trim().to_string()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(other(format!(
            "admin key is required; set --admin-key or OPENAI_ADMIN_KEY (an admin key with Tunnels Read + Manage from {ADMIN_KEYS_URL}; runtime API keys cannot manage tunnels)"
        ))),
    }
}

/// `get`: the admin key, else (only when no admin key is configured at all) the runtime key.
pub(super) fn get_key(p: &Parsed, env: &dyn Env) -> Result<String, AdminError> {
    let admin = admin_key(p, env);
    if admin.is_ok() {
        return admin;
    }
    let admin_env_empty = env
        .var("OPENAI_ADMIN_KEY")
        .is_none_or(|v| v.trim().is_empty());
    let flag_default = p
        .get("admin-key")
        .is_none_or(|r| r.trim() == "env:OPENAI_ADMIN_KEY");
    if admin_env_empty && flag_default {
        for var in ["CONTROL_PLANE_API_KEY", "OPENAI_API_KEY"] {
            if let Some(v) = env.var(var).map(|v| v.trim().to_string()) {
                if !v.is_empty() {
                    return Ok(v);
                }
            }
        }
        return Err(other(format!(
            "tunnel get requires a runtime or admin key; set CONTROL_PLANE_API_KEY, OPENAI_API_KEY, OPENAI_ADMIN_KEY, or --admin-key (runtime keys: {RUNTIME_KEYS_URL})"
        )));
    }
    admin
}
