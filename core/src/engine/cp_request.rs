//! Building control-plane requests: URL layout and the headers every request carries.

use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request};

use super::config::{BindingKind, EngineConfig};
use crate::headers::{build_server_info, is_reserved_control_plane_header, ServerInfoChannel};

/// The parts of every control-plane request that do not change between requests.
#[derive(Debug, Clone)]
pub(crate) struct RequestBuilder {
    /// `scheme://authority` + `/prefix` (no trailing slash) + `/v1/tunnels/<escaped id>`.
    tunnel_base: String,
    common: HeaderMap,
    poll_query_channels: String,
    timeout_ms: u128,
}

/// Why the engine could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    BaseUrl(String),
    ServerInfo(String),
    Header(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::BaseUrl(m) => write!(f, "control-plane base URL: {m}"),
            SetupError::ServerInfo(m) => write!(f, "X-Tunnel-MCP-Server-Info: {m}"),
            SetupError::Header(m) => write!(f, "control-plane header: {m}"),
        }
    }
}

/// Percent-escapes one path segment (RFC 3986 unreserved characters stay as they are).
pub(crate) fn escape_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl RequestBuilder {
    pub(crate) fn new(cfg: &EngineConfig) -> Result<Self, SetupError> {
        let scheme = cfg
            .base_url
            .scheme_str()
            .ok_or_else(|| SetupError::BaseUrl("missing scheme".into()))?;
        let authority = cfg
            .base_url
            .authority()
            .ok_or_else(|| SetupError::BaseUrl("missing host".into()))?;
        let prefix = cfg.url_path.trim_matches('/');
        let mut tunnel_base = format!("{scheme}://{authority}");
        if !prefix.is_empty() {
            tunnel_base.push('/');
            tunnel_base.push_str(prefix);
        }
        tunnel_base.push_str("/v1/tunnels/");
        tunnel_base.push_str(&escape_segment(&cfg.tunnel_id));

        let channels: Vec<ServerInfoChannel> = cfg
            .bindings
            .iter()
            .filter(|b| {
                cfg.poll_channels
                    .as_ref()
                    .is_none_or(|allow| allow.contains(&b.channel))
            })
            .map(|b| ServerInfoChannel {
                name: b.channel.clone(),
                proc_affinity: b.kind != BindingKind::Http,
            })
            .collect();
        let mut channels = channels;
        // Go appends the harpoon entry last, when the registry is non-empty and the
        // poll-channel filter (if any) names it.
        let harpoon_polled = cfg
            .poll_channels
            .as_ref()
            .is_none_or(|a| a.iter().any(|c| c.as_str() == super::HARPOON));
        if harpoon_polled && cfg.harpoon.as_ref().is_some_and(|s| !s.registry.is_empty()) {
            channels.push(super::harpoon::server_info_channel());
        }
        let server_info =
            build_server_info(&channels).map_err(|e| SetupError::ServerInfo(e.to_string()))?;

        let mut common = HeaderMap::new();
        let hv = |s: &str| {
            HeaderValue::from_str(s).map_err(|_| SetupError::Header(format!("invalid value {s:?}")))
        };
        common.insert(header::AUTHORIZATION, cfg.authorization.clone());
        common.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        common.insert(
            header::USER_AGENT,
            hv(&format!("oai-tunnel-client/{}", cfg.client_version))?,
        );
        common.insert(
            "x-tunnel-client-name",
            HeaderValue::from_static("oai-tunnel-client"),
        );
        common.insert("x-tunnel-client-version", hv(&cfg.client_version)?);
        common.insert("x-tunnel-client-instance-id", hv(&cfg.instance_id)?);
        common.insert("x-tunnel-mcp-server-info", hv(&server_info)?);
        for (name, value) in &cfg.extra_headers {
            if is_reserved_control_plane_header(name.as_str()) {
                continue;
            }
            common.insert(name.clone(), value.clone());
        }
        if let Some(org) = &cfg.organization_id {
            common.insert(HeaderName::from_static("openai-organization"), org.clone());
        }

        let mut sorted: Vec<&str> = cfg
            .poll_channels
            .iter()
            .flatten()
            .map(|c| c.as_str())
            .collect();
        sorted.sort_unstable();
        sorted.dedup();
        let poll_query_channels = sorted.iter().map(|c| format!("channel={c}&")).collect();
        let timeout_ms = cfg.poll_timeout.as_millis().max(1);
        Ok(RequestBuilder {
            tunnel_base,
            common,
            poll_query_channels,
            timeout_ms,
        })
    }

    fn with_common(&self, mut builder: http::request::Builder) -> http::request::Builder {
        if let Some(h) = builder.headers_mut() {
            h.extend(self.common.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        builder
    }

    pub(crate) fn poll(&self, limit: usize) -> Request<()> {
        let uri = format!(
            "{}/poll?{}limit={limit}&timeout_ms={}",
            self.tunnel_base, self.poll_query_channels, self.timeout_ms
        );
        self.with_common(Request::builder().method(Method::GET).uri(uri))
            .body(())
            .unwrap_or_default()
    }

    pub(crate) fn response(
        &self,
        shard_token: &str,
        client_request_id: Option<&str>,
        body: bytes::Bytes,
    ) -> Request<bytes::Bytes> {
        let mut b = self
            .with_common(
                Request::builder()
                    .method(Method::POST)
                    .uri(format!("{}/response", self.tunnel_base)),
            )
            .header(header::CONTENT_TYPE, "application/json");
        if let Ok(mut v) = HeaderValue::from_str(shard_token) {
            v.set_sensitive(true);
            b = b.header("x-tunnel-shard-token", v);
        }
        if let Some(id) = client_request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
            b = b.header("x-client-request-id", id);
        }
        b.body(body).unwrap_or_default()
    }

    pub(crate) fn metadata(&self) -> Request<()> {
        self.with_common(
            Request::builder()
                .method(Method::GET)
                .uri(self.tunnel_base.clone()),
        )
        .body(())
        .unwrap_or_default()
    }
}
