//! Control-plane API errors as an operator reads them: the parsed error body plus what to
//! do about each known `code` (the contract's `APIErrorBody.code` list, worded for the
//! commands of this client). Codes the runtime also meets fall back to the core's table.

use tunnel_core::wire::api_error::{mitigation_for, ApiError, SettingNames};

/// The settings a fix hint names, in this CLI's words (flags, environment variables, file
/// keys), for the core's hint table.
pub fn setting_names() -> SettingNames {
    SettingNames {
        tunnel_id: "control_plane.tunnel_id (CONTROL_PLANE_TUNNEL_ID, --control-plane.tunnel-id)"
            .to_string(),
        organization_id: "--control-plane.organization-id (CONTROL_PLANE_ORGANIZATION_ID, control_plane.organization_id)".to_string(),
        api_key: "CONTROL_PLANE_API_KEY (control_plane.api_key)".to_string(),
    }
}

/// What to do about a known error code.
pub fn mitigation(code: &str) -> Option<String> {
    Some(match code {
        "tunnel_management_permission_required" => "use an admin key (OPENAI_ADMIN_KEY or --admin-key env:NAME) whose account has Tunnels Read and Manage for this organization or workspace; runtime API keys cannot manage tunnels",
        "tunnel_active_organization_context_required" => "pass the organization (or workspace) explicitly: --organization-id org_… (or --workspace-id …)",
        "tunnel_principal_association_unverified" => "attach the tunnel to an organization/workspace/tenant combination the service can verify, or request a reviewed association override",
        "tunnel_principal_limit_exceeded" => "give fewer ids per kind (--organization-id / --workspace-id); the service caps each list",
        "tunnel_principal_validation_override_automatically_derivable" => "no override is needed: create or update the tunnel directly",
        "tunnel_principal_validation_override_management_permission_required" => "use a credential allowed to manage principal-validation overrides",
        "pending_request_not_found" => "nothing to do for an isolated race; if it repeats, make sure only healthy clients answer for this tunnel",
        "rfc9728_www_authenticate_unsupported" => "use the well-known OAuth discovery documents instead of a WWW-Authenticate probe (see `tunnel-client help oauth`)",
        "tunnel_transport_unavailable" => "retry if the operation is safe to repeat; the service briefly lost its queue",
        "oauth_shim_audience_unavailable" => "upgrade tunnel-client before enabling the private_key_jwt audience lookup",
        "oauth_shim_harpoon_call_failed" => "check the Harpoon target URL, the MCP server's health and the tunnel-client logs",
        "oauth_shim_invalid_target_uri" => "use an absolute http(s) URI, or harpoon://<label> matching a harpoon.targets[].label",
        "oauth_shim_target_not_found" => "add or correct the matching harpoon.targets[].label entry and restart tunnel-client",
        "oauth_shim_unshimmable_endpoint" => "configure OAuth metadata endpoints the tunnel can map, with grouped Harpoon targets for the authorization server",
        "oauth_shim_upstream_timeout" => "make the Harpoon target and the MCP server answer within the tunnel timeout",
        "tunnel_use_forbidden" => "use a key of a principal that may use this tunnel (its organization/workspace), or connect the runtime in the tunnel's owning organization; check with `tunnel-client admin tunnels get <tunnel_id>`",
        "invalid_tunnel_id_format" => "use the exact id tunnel_<32 lowercase letters or digits> (control_plane.tunnel_id, CONTROL_PLANE_TUNNEL_ID, --control-plane.tunnel-id); list them with `tunnel-client admin tunnels list`",
        other => return mitigation_for(other, &setting_names()),
    }.to_string())
}

/// A non-2xx answer of the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub code: Option<String>,
    pub error_type: Option<String>,
    pub message: Option<String>,
    pub mitigation: Option<String>,
    pub request_id: Option<String>,
}

impl RequestError {
    pub fn new(
        method: &str,
        path: &str,
        status: u16,
        body: &[u8],
        request_id: Option<String>,
    ) -> Self {
        let parsed = ApiError::parse(body).unwrap_or_default();
        let mitigation = parsed.code.as_deref().and_then(mitigation);
        RequestError {
            method: method.to_string(),
            path: path.to_string(),
            status,
            code: parsed.code,
            error_type: parsed.error_type,
            message: parsed.message,
            mitigation,
            request_id,
        }
    }

    /// A fix for errors whose code says nothing, from the status alone.
    pub fn status_hint(&self) -> Option<&'static str> {
        match self.status {
            401 => Some("the key was rejected: check that it is complete and not revoked (admin commands use OPENAI_ADMIN_KEY / --admin-key; the runtime uses CONTROL_PLANE_API_KEY)"),
            403 => Some("the key is valid but not allowed here: check the key's organization/project and its Tunnels permissions"),
            404 => Some("no such tunnel for this key: check the tunnel id (`tunnel-client admin tunnels list`) and --control-plane.base-url / --control-plane.url-path"),
            429 => Some("rate limited: wait and retry"),
            500..=599 => Some("the service failed: retry later"),
            _ => None,
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "request {} {} failed: {}",
            self.method, self.path, self.status
        )?;
        if let Some(c) = &self.code {
            write!(f, " {c}")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        match (&self.mitigation, self.status_hint()) {
            (Some(m), _) => write!(f, " [mitigation: {m}]")?,
            (None, Some(h)) => write!(f, " [mitigation: {h}]")?,
            _ => {}
        }
        if let Some(r) = &self.request_id {
            write!(f, " (x-request-id: {r})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_code_has_a_mitigation() {
        // Our schema of the contract, kept in the repository (conformance/contract/).
        let text = include_str!("../../../conformance/contract/contract.schema.json");
        let spec: serde_json::Value = serde_json::from_str(text).unwrap();
        let codes = spec["components"]["schemas"]["APIErrorBody"]["properties"]["code"]
            ["x-tunnel-error-codes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!codes.is_empty());
        for c in codes {
            let c = c.as_str().unwrap();
            assert!(mitigation(c).is_some(), "no mitigation for {c}");
        }
    }

    #[test]
    fn renders_like_the_go_admin_client() {
        let e = RequestError::new(
            "GET",
            "/v1/tunnels",
            403,
            br#"{"error":{"message":"nope","type":"invalid_request_error","code":"tunnel_management_permission_required"}}"#,
            Some("req_1".into()),
        );
        let s = e.to_string();
        assert!(s.starts_with("request GET /v1/tunnels failed: 403 tunnel_management_permission_required: nope [mitigation: use an admin key"), "{s}");
        assert!(s.ends_with("(x-request-id: req_1)"), "{s}");
    }
}
