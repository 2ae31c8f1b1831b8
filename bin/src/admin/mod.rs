//! The operator surface on the health listener: the embedded admin UI (`/ui`), the JSON API
//! it uses, the live log level, the log buffer and the redacted support bundle.
//! `docs/admin-ui.md` describes the endpoints.

pub mod access;
pub mod activity;
pub mod api;
pub mod assets;
pub mod browser;
pub mod bundle;
pub mod harpoon;
pub mod harpoon_mcp;
pub mod log_stream;
pub mod logbuf;
pub mod oauth_api;
pub mod redact;
pub mod targz;

use std::sync::Arc;
use std::time::SystemTime;

use crate::config::{format_go_duration, redact_url, Loaded, RunConfig};

/// One configured channel, as the overview shows it.
#[derive(Debug, Clone)]
pub struct ChannelInfo {
    pub name: String,
    /// `http-streamable` or `stdio` (Go's `transport_kind` values).
    pub transport: &'static str,
    /// (`address`, origin of the URL) for HTTP; (`command`, redacted program) for stdio.
    pub detail: (&'static str, String),
}

/// What does not change while the process runs.
#[derive(Debug, Clone)]
pub struct Info {
    pub version: &'static str,
    pub instance_id: String,
    pub started_at: SystemTime,
    pub health_listen_addr: String,
    pub control_plane_base_url: String,
    pub tunnel_id: String,
    pub max_inflight: u32,
    pub max_concurrent: u32,
    pub poll_timeout: String,
    pub poll_deadline_guardrail: String,
    pub channels: Vec<ChannelInfo>,
    pub config_source: String,
    pub log_format: &'static str,
    pub warnings: Vec<String>,
    /// Route summaries (`daemon::routes`), for `/api/status`.
    pub routes: serde_json::Value,
    /// Each proxy once (`daemon::routes::identity_map`), for `/api/system`.
    pub proxy_identity_map: serde_json::Value,
}

impl Info {
    pub fn from_config(c: &RunConfig, instance_id: &str, warnings: &[String]) -> Info {
        let mut channels: Vec<ChannelInfo> = c
            .mcp
            .server_urls
            .iter()
            .map(|b| ChannelInfo {
                name: b.channel.clone(),
                transport: "http-streamable",
                detail: ("address", origin(&b.url)),
            })
            .chain(c.mcp.commands.iter().map(|b| ChannelInfo {
                name: b.channel.clone(),
                transport: "stdio",
                detail: (
                    "command",
                    crate::config::redact_text(b.argv.first().map(String::as_str).unwrap_or("")),
                ),
            }))
            .collect();
        channels.sort_by(|a, b| a.name.cmp(&b.name));
        let cp = &c.control_plane;
        Info {
            version: env!("CARGO_PKG_VERSION"),
            instance_id: instance_id.to_string(),
            started_at: SystemTime::now(),
            health_listen_addr: c.health.listen_addr.clone(),
            control_plane_base_url: origin(&cp.base_url),
            tunnel_id: cp.tunnel_id.clone(),
            max_inflight: cp.max_inflight,
            max_concurrent: c.mcp.max_concurrent_requests,
            poll_timeout: format_go_duration(cp.poll_timeout),
            poll_deadline_guardrail: format_go_duration(cp.poll_deadline_guardrail),
            channels,
            config_source: match c.source.path() {
                Some(p) => p.display().to_string(),
                None => "flags/environment".into(),
            },
            log_format: match c.log.format {
                crate::config::LogFormat::Plain => "text",
                crate::config::LogFormat::StructText => "struct-text",
                crate::config::LogFormat::Json => "json",
            },
            warnings: warnings.iter().map(|w| redact::string(w)).collect(),
            routes: serde_json::Value::Array(Vec::new()),
            proxy_identity_map: serde_json::Value::Array(Vec::new()),
        }
    }
}

/// `scheme://host[:port]` of a URL (no userinfo, path or query), as Go's URL log helper.
fn origin(url: &str) -> String {
    let redacted = redact_url(url);
    match redacted.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = authority.rsplit('@').next().unwrap_or("");
            format!("{scheme}://{host}")
        }
        None => redact::string(url),
    }
}

/// Everything the admin routes read.
pub struct Admin {
    pub allow_remote: bool,
    pub logs: Arc<logbuf::LogBuffer>,
    pub activity: Arc<activity::Activity>,
    pub info: Info,
    pub bundle: bundle::Inputs,
    pub harpoon: Arc<harpoon::HarpoonAdmin>,
    /// The proxy health checker's state (`/api/system` `proxy_health`, the UI's panel).
    pub proxy_health: Option<crate::daemon::proxy_health::ProxyHealthHandle>,
}

impl Admin {
    /// Registers every configured secret value with the redactor, so it is scrubbed from
    /// logs, the bundle and the API wherever it shows up.
    pub fn register_secrets(loaded: &Loaded) {
        let c = &loaded.config;
        redact::register_secret(c.control_plane.api_key.expose());
        for h in c
            .control_plane
            .extra_headers
            .iter()
            .chain(&c.mcp.extra_headers)
            .chain(&c.mcp.discovery_extra_headers)
        {
            redact::register_secret(h.value.expose());
            // `Bearer <token>`: the token alone too.
            if let Some((_, token)) = h.value.expose().split_once(' ') {
                redact::register_secret(token);
            }
        }
        if let Some(t) = &c.cloudflared.token {
            redact::register_secret(t.expose());
        }
        for url in c
            .mcp
            .server_urls
            .iter()
            .map(|b| b.url.as_str())
            .chain(c.harpoon.targets.iter().map(|t| t.url.as_str()))
            .chain(
                [
                    c.http_proxy.as_ref(),
                    c.mcp.http_proxy.as_ref(),
                    c.control_plane.http_proxy.as_ref(),
                    c.harpoon.http_proxy.as_ref(),
                ]
                .into_iter()
                .flatten()
                .map(|p| p.url.as_str()),
            )
        {
            if let Some(info) = url
                .split_once("://")
                .and_then(|(_, r)| r.split(['/', '?', '#']).next())
                .and_then(|a| a.rsplit_once('@'))
                .map(|(u, _)| u)
            {
                let password = info.split_once(':').map(|(_, p)| p).unwrap_or(info);
                redact::register_secret(password);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_drop_everything_but_scheme_and_authority() {
        assert_eq!(
            origin("http://u:p@127.0.0.1:3000/mcp?x=1"),
            "http://127.0.0.1:3000"
        );
        assert_eq!(origin("https://api.openai.com"), "https://api.openai.com");
    }
}
