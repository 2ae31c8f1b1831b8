//! The HTTP calls of `admin tunnels` to the management API (`/v1/tunnels*`), and the
//! tunnels they return.
//!
//! Calls trust the CA bundle and honour the standard proxy variables; a non-2xx answer
//! becomes an [`AdminError::Http`] with the API's error code and fix.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{other, AdminError};
use crate::cli::api_errors::RequestError;
use crate::cli::help_topics::TUNNELS_URL;
use crate::cli::opts::Parsed;
use crate::config::onboard::check_url;
use crate::config::Env;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A tunnel as the management API returns it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tunnel {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub creator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenant_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspace_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organization_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TunnelList {
    #[serde(default)]
    pub(crate) tunnels: Vec<Tunnel>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    request_id: String,
}

pub(crate) fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The management API client: base URL, prefix, an agent with the CA bundle and the
/// standard proxy variables.
pub(crate) struct Client {
    base: String,
    prefix: String,
    agent: ureq::Agent,
    instance: String,
}

impl Client {
    pub(super) fn new(p: &Parsed, env: &dyn Env) -> Result<Client, AdminError> {
        let pick = |flag: &str, var: &str| -> Option<(String, String)> {
            p.get(flag)
                .map(|v| (v.trim().to_string(), format!("--{flag}")))
                .or_else(|| {
                    env.var(var)
                        .map(|v| v.trim().to_string())
                        .filter(|v| !v.is_empty())
                        .map(|v| (v, format!("env var {var}")))
                })
        };
        let (base, base_origin) = pick("control-plane.base-url", "CONTROL_PLANE_BASE_URL")
            .filter(|(v, _)| !v.is_empty())
            .unwrap_or_else(|| ("https://api.openai.com".into(), "the default".into()));
        check_url(&base).map_err(|e| {
            other(format!(
                "invalid value {base:?} for {base_origin}: {e}; fix: use a URL such as https://api.openai.com"
            ))
        })?;
        let prefix = match pick("control-plane.url-path", "CONTROL_PLANE_URL_PATH") {
            None => String::new(),
            Some((v, origin)) => {
                let ok = v.is_empty()
                    || (v.starts_with('/')
                        && !v.starts_with("//")
                        && !v.contains(['?', '#', '@'])
                        && !v.contains("://"));
                if !ok {
                    return Err(other(format!(
                        "invalid value {v:?} for {origin}: must be a path starting with /; fix: e.g. --control-plane.url-path /workspace/dev/us"
                    )));
                }
                v.trim_end_matches('/').to_string()
            }
        };
        let ca = pick("ca-bundle", "CA_BUNDLE");
        Client::from_parts(
            &base,
            &prefix,
            ca.as_ref().map(|(v, o)| (v.as_str(), o.as_str())),
        )
    }

    /// A client for `base` + `prefix` (already checked), trusting `ca` (value, where it came
    /// from) besides the system roots. Used by `runtimes`, whose values come from an admin
    /// profile rather than flags.
    pub(crate) fn from_parts(
        base: &str,
        prefix: &str,
        ca: Option<(&str, &str)>,
    ) -> Result<Client, AdminError> {
        let opts = tunnel_blocking::TlsOptions {
            ca_bundle: ca.map(|(v, _)| v.into()),
            ..tunnel_blocking::TlsOptions::default()
        };
        let trust = tunnel_blocking::agents::Trust::load(&opts).map_err(|e| {
            other(format!(
                "{e}; fix: point {} at a readable PEM file",
                ca.map_or("--ca-bundle", |(_, o)| o)
            ))
        })?;
        // The same route as `run`'s control plane: HTTPS_PROXY / NO_PROXY as Go reads them.
        let agent = tunnel_blocking::agents::control_plane_agent(&trust, &opts, base)
            .map_err(|e| other(e.to_string()))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            prefix: prefix.trim_end_matches('/').to_string(),
            agent,
            instance: format!(
                "{:016x}{:016x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0)
            ),
        })
    }

    pub(crate) fn call<T: for<'de> Deserialize<'de> + WithRequestId>(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        key: &str,
    ) -> Result<T, AdminError> {
        let full_path = format!("{}{path}", self.prefix);
        let url = format!("{}{full_path}", self.base);
        let version = env!("CARGO_PKG_VERSION");
        let headers = [
            ("Authorization", format!("Bearer {key}")),
            ("Accept", "application/json".to_string()),
            ("User-Agent", format!("oai-tunnel-client/{version}")),
            ("X-Tunnel-Client-Name", "oai-tunnel-client".to_string()),
            ("X-Tunnel-Client-Version", version.to_string()),
            ("X-Tunnel-Client-Instance-Id", self.instance.clone()),
        ];
        let result = match (method, body) {
            ("POST", b) => {
                let mut rq = self.agent.post(&url);
                for (k, v) in &headers {
                    rq = rq.header(*k, v.as_str());
                }
                let text = b.unwrap_or_else(|| serde_json::json!({})).to_string();
                rq.header("Content-Type", "application/json")
                    .config()
                    .timeout_global(Some(TIMEOUT))
                    .build()
                    .send(text)
            }
            (m, _) => {
                let mut rq = if m == "DELETE" {
                    self.agent.delete(&url)
                } else {
                    self.agent.get(&url)
                };
                for (k, v) in &headers {
                    rq = rq.header(*k, v.as_str());
                }
                rq.config().timeout_global(Some(TIMEOUT)).build().call()
            }
        };
        let path_only = full_path
            .split('?')
            .next()
            .unwrap_or(&full_path)
            .to_string();
        let mut resp = result.map_err(|e| {
            other(format!(
                "request {method} {path_only} failed: {e}; fix: check --control-plane.base-url ({}), the network and the proxy settings (HTTPS_PROXY / NO_PROXY){}",
                self.base,
                if matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_)) {
                    "; for a private CA set --ca-bundle / CA_BUNDLE"
                } else {
                    ""
                }
            ))
        })?;
        let status = resp.status().as_u16();
        let rid = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let text = resp
            .body_mut()
            .with_config()
            .limit(4 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        if !(200..300).contains(&status) {
            let e = RequestError::new(method, &path_only, status, text.as_bytes(), rid);
            let special = (method == "DELETE" && status == 404 && text.contains("Invalid URL"))
                .then(|| {
                    format!(
                        "tunnel deletion is not exposed on {}; delete it on {TUNNELS_URL}",
                        self.base
                    )
                });
            return Err(AdminError::Http(Box::new(e), special));
        }
        let mut v: T = serde_json::from_str(&text).map_err(|e| {
            other(format!(
                "request {method} {path_only}: the answer is not the expected JSON ({e}); check --control-plane.base-url points at the tunnel API"
            ))
        })?;
        if let Some(r) = rid {
            v.set_request_id(r);
        }
        Ok(v)
    }
}

pub(crate) trait WithRequestId {
    fn set_request_id(&mut self, id: String);
}

impl WithRequestId for Tunnel {
    fn set_request_id(&mut self, id: String) {
        self.request_id = id;
    }
}

impl WithRequestId for TunnelList {
    fn set_request_id(&mut self, id: String) {
        self.request_id = id;
    }
}
