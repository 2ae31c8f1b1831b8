//! From the validated configuration to what the engine and the blocking runtime take.
//!
//! The settings layer has already checked every value (with messages naming the setting);
//! what can still fail here are combinations the runtime cannot do yet, reported as
//! [`SettingsError`] with the setting named.

use std::fmt;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use tunnel_blocking::{
    ClientCertPaths, ExplicitProxy, HttpTarget, RuntimeOptions, StdioTarget, TlsOptions,
};
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{Binding, BindingKind, EngineConfig};

use crate::config::{Header, Proxy, RunConfig};

/// How long a SIGTERM/SIGINT drain may take. Below Kubernetes' default 30 s grace period,
/// so the drain finishes (and responses are posted) before a SIGKILL would arrive.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// A configuration the runtime cannot carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub setting: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; fix: {}", self.setting, self.problem, self.fix)
    }
}

fn err(setting: &str, problem: impl Into<String>, fix: impl Into<String>) -> SettingsError {
    SettingsError {
        setting: setting.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

fn channel(setting: &str, name: &str) -> Result<ChannelName, SettingsError> {
    ChannelName::from_wire(Some(name)).map_err(|e| {
        err(
            setting,
            format!("channel {name:?}: {e}"),
            "use a channel name of letters, digits, '-' and '_'",
        )
    })
}

fn headers(
    setting: &str,
    list: &[Header],
) -> Result<Vec<(HeaderName, HeaderValue)>, SettingsError> {
    list.iter()
        .map(|h| {
            let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
                err(
                    setting,
                    format!("{:?} is not a valid header name", h.name),
                    "use letters, digits and '-'",
                )
            })?;
            let mut value = HeaderValue::from_str(h.value.expose()).map_err(|_| {
                err(
                    setting,
                    format!(
                        "the value of header {} has characters not allowed in HTTP",
                        h.name
                    ),
                    "remove control characters and non-ASCII from the value",
                )
            })?;
            // Extra headers often carry tokens: never print them in Debug output.
            value.set_sensitive(true);
            Ok((name, value))
        })
        .collect()
}

/// The engine configuration.
pub fn engine_config(c: &RunConfig) -> Result<EngineConfig, SettingsError> {
    let cp = &c.control_plane;
    let base: http::Uri = cp.base_url.parse().map_err(|_| {
        err(
            "control-plane.base-url",
            format!("{:?} is not a URL", cp.base_url),
            "use https://api.openai.com or your gateway's URL",
        )
    })?;
    let mut e = EngineConfig::new(base, &cp.tunnel_id, cp.api_key.expose());
    e.url_path = cp.url_path.trim_matches('/').to_string();
    if let Some(org) = &cp.organization_id {
        e.organization_id = Some(HeaderValue::from_str(org).map_err(|_| {
            err(
                "control-plane.organization-id",
                "has characters not allowed in an HTTP header",
                "use the org-… id from the platform settings",
            )
        })?);
    }
    e.client_version = env!("CARGO_PKG_VERSION").to_string();
    e.setting_names = crate::cli::api_errors::setting_names();
    e.auth_fix = "check CONTROL_PLANE_API_KEY (or control_plane.api_key) and CONTROL_PLANE_TUNNEL_ID: the key must be a runtime key allowed to use this tunnel".to_string();
    e.poll_timeout = cp.poll_timeout;
    e.poll_guardrail = cp.poll_deadline_guardrail;
    e.max_inflight = cp.max_inflight as usize;
    e.max_concurrent = c.mcp.max_concurrent_requests.max(1) as usize;
    e.poll_channels = match &cp.poll_channels {
        Some(list) => Some(
            list.iter()
                .map(|n| channel("control-plane.poll-channel", n))
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    e.extra_headers = headers("control-plane.extra-headers", &cp.extra_headers)?;
    let mcp_extra = headers("mcp.extra-headers", &c.mcp.extra_headers)?;
    e.discovery_extra_headers = headers(
        "mcp.discovery-extra-headers",
        &c.mcp.discovery_extra_headers,
    )?;
    e.bindings = Vec::new();
    for b in &c.mcp.server_urls {
        e.bindings.push(Binding {
            channel: channel("mcp.server-url", &b.channel)?,
            kind: BindingKind::Http,
            extra_headers: mcp_extra.clone(),
        });
    }
    for b in &c.mcp.commands {
        e.bindings.push(Binding {
            channel: channel("mcp.command", &b.channel)?,
            kind: BindingKind::Stdio,
            extra_headers: Vec::new(),
        });
    }
    e.harpoon = harpoon_server(c)?;
    Ok(e)
}

/// The Harpoon server of the `harpoon` channel. It always exists: without configured
/// targets the channel is not routable until OAuth discovery registers hosts (§1.14).
fn harpoon_server(c: &RunConfig) -> Result<Option<tunnel_core::harpoon::Server>, SettingsError> {
    use tunnel_core::harpoon::hosts::HostRules;
    use tunnel_core::harpoon::{Registry, Server, Settings, TargetSpec};
    let h = &c.harpoon;
    let hosts = HostRules::new(
        h.hosts_include_loopback,
        h.hosts_include_private,
        &h.hosts_include_suffix,
        &h.hosts_include_regex,
    )
    .map_err(|e| {
        err(
            "harpoon.hosts-include-regex",
            e.to_string(),
            "fix the pattern (RE2 syntax)",
        )
    })?;
    let mut registry = Registry::new(h.allow_plaintext_http);
    for t in &h.targets {
        let mut spec = TargetSpec::config(&t.label, &t.url);
        spec.description = t.description.clone().unwrap_or_default();
        spec.unix_socket = t.unix_socket.as_ref().map(|p| p.display().to_string());
        spec.allow_link_local = t.allow_link_local;
        registry.register(spec).map_err(|e| {
            err(
                "harpoon.target",
                e.to_string(),
                "give every target its own label and one exact https:// URL",
            )
        })?;
    }
    let settings = Settings {
        max_response_bytes: h.max_response_bytes,
        max_redirects: h.max_redirects,
        client_version: env!("CARGO_PKG_VERSION").to_string(),
        full: true,
        hosts,
    };
    Ok(Some(Server::new(registry, settings)))
}

fn cert_pair(
    setting: &str,
    cert: &Option<std::path::PathBuf>,
    key: &Option<std::path::PathBuf>,
) -> Result<Option<ClientCertPaths>, SettingsError> {
    match (cert, key) {
        (Some(c), Some(k)) => Ok(Some(ClientCertPaths {
            cert_chain: c.clone(),
            private_key: k.clone(),
        })),
        (None, None) => Ok(None),
        _ => Err(err(
            setting,
            "a client certificate needs both the certificate and the key",
            "set both -cert and -key, or neither",
        )),
    }
}

fn proxy_url(p: &Option<Proxy>) -> Option<String> {
    p.as_ref().map(|p| p.url.clone())
}

fn explicit(p: &Option<Proxy>) -> Option<ExplicitProxy> {
    p.as_ref().map(|p| ExplicitProxy {
        url: p.url.clone(),
        source: p.source.clone(),
    })
}

/// Runtime options (everything but the observer, which the daemon adds).
pub fn runtime_options(c: &RunConfig) -> Result<RuntimeOptions, SettingsError> {
    let mcp_proxy = proxy_url(&c.mcp.http_proxy).or_else(|| proxy_url(&c.http_proxy));
    let mcp_cert = cert_pair("mcp.client-cert", &c.mcp.client_cert, &c.mcp.client_key)?;
    let mut targets = Vec::new();
    for b in &c.mcp.server_urls {
        // The configuration layer already applied the precedence (per-entry, then
        // --mcp.http-proxy, then --http-proxy; none for a unix socket): each binding gets
        // its own agent with exactly that proxy and certificate.
        let mut t = HttpTarget::new(channel("mcp.server-url", &b.channel)?, b.url.clone());
        t.unix_socket = b.unix_socket.clone();
        t.proxy = explicit(&b.http_proxy);
        t.client_cert = cert_pair("mcp.server-url", &b.client_cert, &b.client_key)?;
        targets.push(t);
    }
    let stdio_targets = c
        .mcp
        .commands
        .iter()
        .map(|b| {
            Ok(StdioTarget::new(
                channel("mcp.command", &b.channel)?,
                b.argv.clone(),
            ))
        })
        .collect::<Result<Vec<_>, SettingsError>>()?;
    let cp = &c.control_plane;
    Ok(RuntimeOptions {
        mcp_targets: targets,
        stdio_targets,
        drain_timeout: DRAIN_TIMEOUT,
        tls: TlsOptions {
            ca_bundle: c.ca_bundle.clone(),
            control_plane_client_cert: cert_pair(
                "control-plane.client-cert",
                &cp.client_cert,
                &cp.client_key,
            )?,
            mcp_client_cert: mcp_cert,
            control_plane_proxy: proxy_url(&cp.http_proxy).or_else(|| proxy_url(&c.http_proxy)),
            mcp_proxy,
            proxy_env: None,
            harpoon_proxy: proxy_url(&c.harpoon.http_proxy).or_else(|| proxy_url(&c.http_proxy)),
        },
        mcp_connection_ttl: c.mcp.connection_max_ttl,
        // The startup probe and OAuth discovery of an HTTP `main` feed `/readyz`.
        startup_checks: Some(tunnel_core::engine::StartupChecks {
            wait: c.mcp.startup_wait_timeout,
        }),
        ..RuntimeOptions::default()
    })
}
