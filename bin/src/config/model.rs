//! The typed, validated configuration consumed by `run`, `doctor` and the admin UI.

use std::path::PathBuf;
use std::time::Duration;

use std::fmt;

use super::render::{redact_text, redact_url};
use super::secret::Secret;

/// Which file (if any) the configuration was read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConfigSource {
    /// Flags and environment only.
    #[default]
    None,
    /// `--config` / `TUNNEL_CLIENT_CONFIG`.
    Config(PathBuf),
    /// `--profile` / `TUNNEL_CLIENT_PROFILE`: `<dir>/<name>.yaml`.
    Profile { name: String, path: PathBuf },
    /// `--profile-file` / `TUNNEL_CLIENT_PROFILE_FILE`.
    ProfileFile(PathBuf),
}

impl ConfigSource {
    /// The file read, if any.
    pub fn path(&self) -> Option<&PathBuf> {
        match self {
            ConfigSource::None => None,
            ConfigSource::Config(p) | ConfigSource::ProfileFile(p) => Some(p),
            ConfigSource::Profile { path, .. } => Some(path),
        }
    }
}

/// An explicit proxy and where it came from (`--http-proxy`, `env:HTTPS_PROXY`, ...).
/// `Debug` redacts credentials in the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The proxy URL (may carry credentials: redact before showing).
    pub url: String,
    /// Source label for logs and the UI.
    pub source: String,
}

/// One configured header. Values may be secrets (bearer tokens), so they are wrapped.
#[derive(Debug, Clone)]
pub struct Header {
    /// Canonical name (`X-Api-Key`).
    pub name: String,
    pub value: Secret,
}

/// Top-level configuration.
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    pub source: ConfigSource,
    pub ca_bundle: Option<PathBuf>,
    pub http_proxy: Option<Proxy>,
    pub control_plane: ControlPlane,
    pub log: Log,
    pub health: Health,
    pub process: Process,
    pub admin_ui: AdminUi,
    pub mcp: Mcp,
    pub harpoon: Harpoon,
    pub cloudflared: Cloudflared,
    pub proxy: ProxyHealth,
    pub embedded_mcp: EmbeddedMcp,
    /// `run --record-trace FILE`: where to write a redacted trace of the session.
    pub record_trace: Option<PathBuf>,
    pub doctor: DoctorFlags,
}

/// Control-plane settings.
#[derive(Debug, Clone, Default)]
pub struct ControlPlane {
    /// Effective base URL (after the automatic `mtls.api.openai.com` switch).
    pub base_url: String,
    /// Base URL as configured.
    pub configured_base_url: String,
    /// Normalised path prefix (`""` or `/a/b`).
    pub url_path: String,
    pub tunnel_id: String,
    pub organization_id: Option<String>,
    /// The runtime API key (always present in a loaded config).
    pub api_key: Secret,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub http_proxy: Option<Proxy>,
    pub max_inflight: u32,
    pub poll_timeout: Duration,
    pub poll_deadline_guardrail: Duration,
    /// Poll allowlist, sorted; `None` = legacy (no `channel` query parameter).
    pub poll_channels: Option<Vec<String>>,
    pub extra_headers: Vec<Header>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Unset: plain log lines to stderr (only level `info` allowed, as in Go).
    #[default]
    Plain,
    StructText,
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Canonical level: `debug`, `info`, `warn`, `error`, optionally `+N`/`-N`.
    pub level: String,
    pub format: LogFormat,
    pub file: Option<PathBuf>,
    pub http_raw_unsafe: bool,
}

/// Health/admin listener settings.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub listen_addr: String,
    /// Wins over `listen_addr` when set.
    pub unix_socket: Option<PathBuf>,
    pub url_file: Option<PathBuf>,
}

/// Process settings.
#[derive(Debug, Clone, Default)]
pub struct Process {
    pub pid_file: Option<PathBuf>,
}

/// Admin UI settings.
#[derive(Debug, Clone, Default)]
pub struct AdminUi {
    pub allow_remote: bool,
    pub open_browser: bool,
    pub log_buffer_events: u32,
}

/// An HTTP (Streamable HTTP) MCP binding. `Debug` redacts the URL's secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpBinding {
    pub channel: String,
    pub url: String,
    pub unix_socket: Option<PathBuf>,
    /// Per-entry proxy, else `--mcp.http-proxy`, else the global proxy (already applied).
    pub http_proxy: Option<Proxy>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// A stdio MCP binding. `Debug` redacts secret-looking arguments.
#[derive(Clone, PartialEq, Eq)]
pub struct StdioBinding {
    pub channel: String,
    /// The command line as configured.
    pub command_line: String,
    /// Tokenised with [`super::split_command_line`] (never through a shell).
    pub argv: Vec<String>,
}

/// MCP settings.
#[derive(Debug, Clone, Default)]
pub struct Mcp {
    pub server_urls: Vec<HttpBinding>,
    pub commands: Vec<StdioBinding>,
    pub http_proxy: Option<Proxy>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub extra_headers: Vec<Header>,
    pub discovery_extra_headers: Vec<Header>,
    pub startup_wait_timeout: Duration,
    pub connection_max_ttl: Duration,
    pub max_concurrent_requests: u32,
}

/// A Harpoon target. `Debug` redacts the URL's secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct HarpoonTarget {
    pub label: String,
    pub url: String,
    pub unix_socket: Option<PathBuf>,
    pub description: Option<String>,
    /// The address guard lets this target reach link-local / cloud-metadata addresses.
    pub allow_link_local: bool,
}

/// Harpoon settings.
#[derive(Debug, Clone, Default)]
pub struct Harpoon {
    pub targets: Vec<HarpoonTarget>,
    pub allow_plaintext_http: bool,
    pub max_response_bytes: u32,
    pub max_redirects: u32,
    pub http_proxy: Option<Proxy>,
    pub additional_transports: Vec<String>,
    pub hosts_include_suffix: Vec<String>,
    pub hosts_include_regex: Vec<String>,
    pub hosts_include_loopback: bool,
    pub hosts_include_private: bool,
    pub capture_payloads: bool,
}

/// cloudflared companion settings (not supported yet).
#[derive(Debug, Clone, Default)]
pub struct Cloudflared {
    pub token: Option<Secret>,
    pub managed: bool,
    pub path: Option<PathBuf>,
    pub ready_timeout: Duration,
}

/// Proxy health checker settings (`--proxy.check-interval`).
#[derive(Debug, Clone, Default)]
pub struct ProxyHealth {
    pub check_interval: Duration,
}

/// `run --embedded-mcp-*` (not supported yet).
#[derive(Debug, Clone, Default)]
pub struct EmbeddedMcp {
    pub enabled: bool,
    pub listen_addr: String,
    pub server_name: String,
    pub server_version: String,
}

/// `doctor --explain` / `--json`.
#[derive(Debug, Clone, Default)]
pub struct DoctorFlags {
    pub explain: bool,
    pub json: bool,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &redact_url(&self.url))
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Debug for HttpBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpBinding")
            .field("channel", &self.channel)
            .field("url", &redact_url(&self.url))
            .field("unix_socket", &self.unix_socket)
            .field("http_proxy", &self.http_proxy)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key.as_ref().map(|_| "[set]"))
            .finish()
    }
}

impl fmt::Debug for StdioBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdioBinding")
            .field("channel", &self.channel)
            .field("command_line", &redact_text(&self.command_line))
            .field("argc", &self.argv.len())
            .finish()
    }
}

impl fmt::Debug for HarpoonTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HarpoonTarget")
            .field("label", &self.label)
            .field("url", &redact_url(&self.url))
            .field("unix_socket", &self.unix_socket)
            .field("description", &self.description)
            .field("allow_link_local", &self.allow_link_local)
            .finish()
    }
}
