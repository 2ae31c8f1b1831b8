//! doctor's network probes. Unlike the Go client's plain HTTP client, every probe goes
//! through an agent built by the blocking adapter's own functions (`tunnel_blocking::agents`)
//! from the loaded configuration, so it trusts the same CA bundle, uses the same proxy and
//! presents the same mTLS client certificate as `run`; and the same extra headers are
//! sent (MCP extra headers on the MCP URL, discovery headers on discovery requests,
//! control-plane extra headers and organization on the control plane).

use std::io::Read as _;
use std::time::Duration;

use tunnel_blocking::agents::{control_plane_agent, mcp_agents, mcp_config, Trust};
use tunnel_blocking::errors::{classify, classify_io, Phase};
use tunnel_core::classify::TransportError;

use crate::config::{Header, RunConfig};

/// Largest body a probe reads.
const MAX_BODY: u64 = 64 * 1024;

/// A completed HTTP exchange.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A failed exchange, classified like `run` classifies transport failures.
#[derive(Debug, Clone)]
pub struct ProbeError {
    pub kind: TransportError,
    pub detail: String,
}

impl ProbeError {
    /// A sentence for the check summary.
    pub fn describe(&self, target: &str) -> String {
        let what = match self.kind {
            TransportError::Dns => "the host name does not resolve (DNS)",
            TransportError::ConnectionRefused => "connection refused: nothing listens there",
            TransportError::Tls => "TLS handshake failed",
            TransportError::Timeout => "no answer in time",
            TransportError::NetworkUnreachable | TransportError::HostUnreachable => {
                "no route to the host"
            }
            TransportError::Dial => {
                "could not connect (a proxy refusing the tunnel, or no usable address)"
            }
            TransportError::ConnectionReset | TransportError::ConnectionAborted => {
                "the connection was reset"
            }
            TransportError::Eof
            | TransportError::UnexpectedEof
            | TransportError::ConnectionClosed => {
                "the server closed the connection without answering"
            }
            _ => "request failed",
        };
        format!("{what} ({target}): {}", self.detail)
    }

    /// What usually fixes this kind of failure.
    pub fn hint(&self) -> &'static str {
        match self.kind {
            TransportError::Dns => "check the host name; inside a corporate network the name may only resolve through the proxy (set --http-proxy / HTTPS_PROXY)",
            TransportError::ConnectionRefused => "start the server, or correct the host and port",
            TransportError::Tls => "if the server uses a private CA, set --ca-bundle / CA_BUNDLE / ca_bundle to its PEM file; check the certificate's host name and expiry",
            TransportError::Timeout => "check firewalls and the proxy settings (--http-proxy, HTTPS_PROXY, NO_PROXY)",
            TransportError::Dial => "check the proxy URL and that it allows CONNECT to this host",
            _ => "check that the server is up and reachable from this machine",
        }
    }
}

/// Agents for the control plane and the MCP target, or why they cannot be built (a CA
/// bundle or client certificate that does not load is a configuration failure of `run`).
/// They take `run`'s routes: the same proxy (or unix socket), trust and certificates.
pub struct Agents {
    pub control_plane: ureq::Agent,
    /// The main binding's agent (its proxy or socket, its client certificate).
    pub mcp: ureq::Agent,
    /// For the binding's OAuth discovery at other origins: no client certificate.
    pub mcp_foreign: ureq::Agent,
    mcp_origin: Option<tunnel_core::proxy_route::TargetAddr>,
}

impl Agents {
    /// The agent for a request to `url`: the binding's own for its origin, else the one
    /// without its certificate (as `run` does for discovery steps).
    pub fn mcp_for(&self, url: &str) -> &ureq::Agent {
        let t = tunnel_core::proxy_route::TargetAddr::parse(url);
        if t.is_some() && t == self.mcp_origin {
            &self.mcp
        } else {
            &self.mcp_foreign
        }
    }
}

pub fn agents(c: &RunConfig) -> Result<Agents, String> {
    // The daemon's own mapping from configuration to engine and runtime options: whatever
    // it refuses, run refuses at startup.
    crate::daemon::settings::engine_config(c).map_err(|e| e.to_string())?;
    let opts = crate::daemon::settings::runtime_options(c).map_err(|e| e.to_string())?;
    let tls = &opts.tls;
    let trust = Trust::load(tls).map_err(|e| e.to_string())?;
    let cp =
        control_plane_agent(&trust, tls, &c.control_plane.base_url).map_err(|e| e.to_string())?;
    let target = opts
        .mcp_targets
        .iter()
        .find(|t| t.channel.as_str() == "main")
        .or(opts.mcp_targets.first());
    let (mcp, mcp_foreign, mcp_origin) = match target {
        Some(t) => {
            let (own, foreign) =
                mcp_agents(&trust, tls, t, Duration::from_secs(2)).map_err(|e| e.to_string())?;
            (
                own,
                foreign,
                tunnel_core::proxy_route::TargetAddr::parse(&t.url),
            )
        }
        None => {
            let cfg = mcp_config(&trust, tls, Duration::from_secs(2)).map_err(|e| e.to_string())?;
            let a = tunnel_blocking::agents::agent(cfg);
            (a.clone(), a, None)
        }
    };
    Ok(Agents {
        control_plane: cp,
        mcp,
        mcp_foreign,
        mcp_origin,
    })
}

/// Request headers as (name, value) pairs; secret values are only exposed here.
pub fn header_pairs(list: &[Header]) -> Vec<(String, String)> {
    list.iter()
        .map(|h| (h.name.clone(), h.value.expose().to_string()))
        .collect()
}

/// One bounded GET.
pub fn request(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<Resp, ProbeError> {
    let mut rq = agent.get(url);
    for (k, v) in headers {
        rq = rq.header(k.as_str(), v.as_str());
    }
    let rq = rq.config().timeout_global(Some(timeout)).build();
    let mut resp = rq.call().map_err(|e| ProbeError {
        kind: classify(&e, Phase::Head),
        detail: e.to_string(),
    })?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let mut body = Vec::new();
    let streaming = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    // The status answers a probe; a stream (an MCP GET opening SSE) is not waited for, and a
    // body cut short is kept as far as it came.
    if !streaming {
        if let Err(e) = resp
            .body_mut()
            .as_reader()
            .take(MAX_BODY)
            .read_to_end(&mut body)
        {
            log::debug!(
                "probe {url}: body read failed ({:?}): {e}",
                classify_io(&e, Phase::Body)
            );
        }
    }
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// `scheme://authority` and the path of a URL (query and fragment dropped).
pub fn origin_and_path(url: &str) -> Option<(String, String)> {
    let parts = crate::config::onboard::check_url(url).ok()?;
    let origin = format!(
        "{}://{}",
        parts.scheme.to_ascii_lowercase(),
        parts.host_port
    );
    Some((origin, parts.path.to_string()))
}

/// `resource_metadata="…"` of a `WWW-Authenticate: Bearer …` challenge (RFC 9728 §5.1).
pub fn resource_metadata_param(www_authenticate: &str) -> Option<String> {
    let lower = www_authenticate.to_ascii_lowercase();
    let at = lower.find("resource_metadata=")?;
    let rest = &www_authenticate[at + "resource_metadata=".len()..];
    let v = match rest.strip_prefix('"') {
        Some(q) => q.split('"').next()?,
        None => rest.split([',', ' ']).next()?,
    };
    (!v.is_empty()).then(|| v.to_string())
}

/// The well-known URL of `kind` for an issuer/resource URL (RFC 8414 §3 / RFC 9728 §3):
/// `<origin>/.well-known/<kind><path>`, the path's trailing `/` dropped.
pub fn well_known(url: &str, kind: &str) -> Option<String> {
    let (origin, path) = origin_and_path(url)?;
    let path = path.trim_end_matches('/');
    Some(format!("{origin}/.well-known/{kind}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_urls() {
        assert_eq!(
            well_known("https://h:8443/a/mcp/?x=1", "oauth-protected-resource").as_deref(),
            Some("https://h:8443/.well-known/oauth-protected-resource/a/mcp")
        );
        assert_eq!(
            well_known("https://as.example", "oauth-authorization-server").as_deref(),
            Some("https://as.example/.well-known/oauth-authorization-server")
        );
        assert_eq!(
            resource_metadata_param(
                r#"Bearer realm="x", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp""#
            )
            .as_deref(),
            Some("https://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(resource_metadata_param("Bearer realm=x"), None);
    }
}
