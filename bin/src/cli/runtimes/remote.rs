//! The management API calls of `runtimes` (`GET`/`POST /v1/tunnels…`), through the same
//! client as `admin tunnels` (CA bundle from `CA_BUNDLE`, standard proxy variables), with
//! the key a reference resolves to.

use super::profiles::Effective;
use super::secrets::resolve_ref;
use super::RtError;
use crate::cli::admin::client::{query_escape, Client, TunnelList};
use crate::cli::admin::error::AdminError;
use crate::cli::admin::Tunnel;
use crate::config::onboard::check_url;
use crate::config::Env;

fn client(admin: &Effective, env: &dyn Env) -> Result<Client, RtError> {
    check_url(&admin.control_plane_base_url).map_err(|e| {
        RtError::Usage(format!(
            "admin profile {} control_plane_base_url {:?}: {e}; fix: tunnel-client admin-profiles set {} --control-plane-base-url https://api.openai.com",
            admin.name, admin.control_plane_base_url, admin.name
        ))
    })?;
    let path = admin.control_plane_url_path.trim();
    if !path.is_empty()
        && (!path.starts_with('/') || path.contains("://") || path.contains(['?', '#', '@']))
    {
        return Err(RtError::Usage(format!(
            "admin profile {} control_plane_url_path {path:?} must be a path starting with /",
            admin.name
        )));
    }
    let ca = env
        .var("CA_BUNDLE")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    Client::from_parts(
        &admin.control_plane_base_url,
        path,
        ca.as_deref().map(|v| (v, "env var CA_BUNDLE")),
    )
    .map_err(remote)
}

fn remote(e: AdminError) -> RtError {
    let not_found = match &e {
        AdminError::Http(r, _) => r.status == 404,
        AdminError::Other(m) => m.to_ascii_lowercase().contains("not found"),
    };
    RtError::Remote {
        message: e.message(),
        not_found,
    }
}

/// `GET /v1/tunnels/{id}` with the key `key_ref` names (the admin key when empty).
pub fn get(id: &str, admin: &Effective, key_ref: &str, env: &dyn Env) -> Result<Tunnel, RtError> {
    let key_ref = if key_ref.is_empty() {
        &admin.admin_key
    } else {
        key_ref
    };
    let key = resolve_ref(key_ref, env)?;
    let c = client(admin, env)?;
    c.call(
        "GET",
        &format!("/v1/tunnels/{}", query_escape(id)),
        None,
        &key,
    )
    .map_err(remote)
}

/// `GET /v1/tunnels?<scope>=<first id>` with the admin key.
pub fn list(
    orgs: &[String],
    workspaces: &[String],
    tenant: &str,
    admin: &Effective,
    env: &dyn Env,
) -> Result<Vec<Tunnel>, RtError> {
    let (param, value) = if let Some(o) = orgs.first() {
        ("organization_id", o.as_str())
    } else if let Some(w) = workspaces.first() {
        ("workspace_id", w.as_str())
    } else {
        ("tenant_id", tenant)
    };
    let key = resolve_ref(&admin.admin_key, env)?;
    let c = client(admin, env)?;
    let l: TunnelList = c
        .call(
            "GET",
            &format!("/v1/tunnels?{param}={}", query_escape(value)),
            None,
            &key,
        )
        .map_err(remote)?;
    Ok(l.tunnels)
}

/// `POST /v1/tunnels` with the admin key.
pub fn create(
    name: &str,
    description: &str,
    orgs: &[String],
    workspaces: &[String],
    admin: &Effective,
    env: &dyn Env,
) -> Result<Tunnel, RtError> {
    let key = resolve_ref(&admin.admin_key, env)?;
    let c = client(admin, env)?;
    let mut body = serde_json::json!({ "name": name, "description": description });
    if !orgs.is_empty() {
        body["organization_ids"] = orgs.into();
    }
    if !workspaces.is_empty() {
        body["workspace_ids"] = workspaces.into();
    }
    c.call("POST", "/v1/tunnels", Some(body), &key)
        .map_err(remote)
}
