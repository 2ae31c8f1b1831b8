//! What the engine needs to know about its deployment. Built by the binary from the
//! validated configuration; the core trusts it (validation lives with the settings table).

use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::channel::ChannelName;

/// How a channel reaches its MCP server. The core only needs the kind: it decides what may
/// be sent where (no DELETE over stdio, `proc_affinity` in the server-info header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    /// Streamable HTTP (`--mcp.server-url`).
    Http,
    /// A child process speaking newline-delimited JSON (`--mcp.command`).
    Stdio,
    /// A handler inside the host process (embedding).
    InProcess,
}

/// One configured MCP binding.
#[derive(Debug, Clone)]
pub struct Binding {
    pub channel: ChannelName,
    pub kind: BindingKind,
    /// Operator headers for this binding's MCP requests (`--mcp.extra-headers`); the
    /// command's own headers win over them.
    pub extra_headers: Vec<(HeaderName, HeaderValue)>,
}

/// Engine configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Scheme and authority of the control plane, e.g. `https://api.openai.com`. Any path
    /// is ignored (as in the Go client); use `url_path` for a prefix.
    pub base_url: http::Uri,
    /// Optional path prefix placed before `/v1/...` (leading/trailing `/` trimmed).
    pub url_path: String,
    pub tunnel_id: String,
    /// `Authorization` value, already `Bearer <key>`, marked sensitive.
    pub authorization: HeaderValue,
    pub organization_id: Option<HeaderValue>,
    /// Semver of this client (goes into `User-Agent` and `X-Tunnel-Client-Version`).
    pub client_version: String,
    /// Process-scoped random id (32 lower-case hex chars), made by the adapter from OS
    /// entropy — the core has none.
    pub instance_id: String,
    pub poll_timeout: Duration,
    pub poll_guardrail: Duration,
    /// Most commands held at once, queued + running + posting
    /// (`--control-plane.max-inflight`); polling pauses at this bound.
    pub max_inflight: usize,
    /// Commands whose MCP work may run at once (`--mcp.max-concurrent-requests`).
    pub max_concurrent: usize,
    /// Explicit poll-channel allowlist; `None` = no `channel` query parameters.
    pub poll_channels: Option<Vec<ChannelName>>,
    /// Operator headers for control-plane requests (reserved names already refused).
    pub extra_headers: Vec<(HeaderName, HeaderValue)>,
    pub bindings: Vec<Binding>,
    /// Operator headers for OAuth discovery requests to the main MCP server's origin
    /// (`--mcp.discovery-extra-headers`); they override the main binding's `extra_headers`
    /// there, which discovery requests carry too.
    pub discovery_extra_headers: Vec<(HeaderName, HeaderValue)>,
    /// Attempts per response POST (first try included).
    pub post_attempts: u32,
    /// Polls failing for longer than this make readiness false.
    pub poll_failure_grace: Duration,
    /// What to tell the operator when the control plane rejects the credentials without a
    /// more precise code: the caller names its own settings (flags, env vars); the core
    /// knows no CLI words.
    pub auth_fix: String,
    /// How the caller names the settings the control plane's fix hints point at.
    pub setting_names: crate::wire::api_error::SettingNames,
    /// The Harpoon server of the reserved `harpoon` channel (`--harpoon.*`); the channel
    /// is served while its registry holds a target.
    pub harpoon: Option<crate::harpoon::Server>,
}

impl EngineConfig {
    /// A configuration with the Go client's defaults, for tests and embedding.
    pub fn new(base_url: http::Uri, tunnel_id: &str, api_key: &str) -> Self {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {api_key}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
        authorization.set_sensitive(true);
        EngineConfig {
            base_url,
            url_path: String::new(),
            tunnel_id: tunnel_id.to_string(),
            authorization,
            organization_id: None,
            client_version: env!("CARGO_PKG_VERSION").to_string(),
            instance_id: "00000000000000000000000000000000".to_string(),
            poll_timeout: Duration::from_secs(30),
            poll_guardrail: Duration::from_secs(5),
            max_inflight: 20,
            max_concurrent: 10,
            poll_channels: None,
            extra_headers: Vec::new(),
            bindings: vec![Binding {
                channel: ChannelName::main(),
                kind: BindingKind::Http,
                extra_headers: Vec::new(),
            }],
            discovery_extra_headers: Vec::new(),
            post_attempts: 3,
            poll_failure_grace: Duration::from_secs(30),
            auth_fix: "check the API key and the tunnel id: the key must be a runtime key allowed to use this tunnel".to_string(),
            setting_names: Default::default(),
            harpoon: None,
        }
    }
}
