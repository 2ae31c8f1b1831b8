//! The settings table: one row per Go flag / env var / YAML key.
//!
//! Everything else in this module (argv parsing, env lookup, YAML walking, `--help`, the
//! redacted effective-config rendering and the "not supported yet" gate) is driven by
//! [`SETTINGS`]. Names, env vars, YAML paths and defaults follow
//! `go-cli-config.md` §2.1 (the Go code at `5ce4fed`).

/// A sub-command that consumes configuration settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    /// `tunnel-client run`: the daemon.
    Run,
    /// `tunnel-client doctor`: offline preflight of the same configuration.
    Doctor,
}

impl Command {
    /// The sub-command word as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Doctor => "doctor",
        }
    }
}

/// How a list-valued environment variable is split into items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sep {
    /// `a,b,c` (`CONTROL_PLANE_POLL_CHANNELS`).
    Comma,
    /// One item per line (`MCP_SERVER_URL`, `MCP_COMMAND`).
    Newline,
    /// `a;b` or one per line (the `HARPOON_*` lists).
    SemicolonOrNewline,
}

/// The type of a setting's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Free-form string.
    Str,
    /// A filesystem path; accepts `env:VAR` (the variable holds the path) and `file:/path`.
    Path,
    /// An explicit proxy: an `http`/`https` URL or `env:VAR`.
    Proxy,
    /// Decimal integer.
    Int,
    /// Go `strconv.ParseBool` boolean; a bare flag means `true`.
    Bool,
    /// Go `time.ParseDuration` duration.
    Duration,
    /// Repeatable flag; the env var is split with the given separator; YAML list.
    List(Sep),
    /// Repeatable `Key: Value` flag; env list split on `,`/`;`; YAML map.
    Headers,
    /// Repeatable `--mcp.server-url` entry; YAML `mcp.server_urls[]`.
    McpServerUrls,
    /// Repeatable `--mcp.command` entry; YAML `mcp.commands[]`.
    McpCommands,
    /// Repeatable `--harpoon.target` entry; YAML `harpoon.targets[]`.
    HarpoonTargets,
    /// A secret: flag and YAML take `env:`/`file:` references, the env var a literal.
    Secret,
}

/// Whether `run` implements the feature behind a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Implemented (or owned by an issue that ships with `run`).
    Supported,
    /// Parsed and validated, but `run` refuses a non-default value with
    /// "`<name>` is not supported yet".
    NotYet,
}

/// One configuration setting.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// Canonical long flag, with the leading `--`.
    pub flag: &'static str,
    /// Hidden dash-form alias (used only when the canonical flag was not given).
    pub alias: Option<&'static str>,
    /// Env vars, in lookup order (only the API key has two).
    pub env: &'static [&'static str],
    /// Dotted YAML path (`control_plane.tunnel_id`).
    pub yaml: Option<&'static str>,
    /// Value type.
    pub kind: Kind,
    /// Built-in default, as it would be typed.
    pub default: Option<&'static str>,
    /// One-line help.
    pub help: &'static str,
    /// The value must never be printed.
    pub secret: bool,
    /// Commands that accept the setting.
    pub commands: &'static [Command],
    /// Implementation status.
    pub status: Status,
}

impl Setting {
    /// The setting's name: the canonical flag without `--` (`control-plane.tunnel-id`).
    pub fn name(&self) -> &'static str {
        let f: &'static str = self.flag;
        &f[2..]
    }

    /// The primary env var, if any.
    pub fn primary_env(&self) -> Option<&'static str> {
        self.env.first().copied()
    }

    /// Whether `cmd` accepts this setting.
    pub fn applies_to(&self, cmd: Command) -> bool {
        self.commands.contains(&cmd)
    }

    const fn alias(mut self, a: &'static str) -> Self {
        self.alias = Some(a);
        self
    }
    const fn env(mut self, e: &'static [&'static str]) -> Self {
        self.env = e;
        self
    }
    const fn yaml(mut self, y: &'static str) -> Self {
        self.yaml = Some(y);
        self
    }
    const fn default(mut self, d: &'static str) -> Self {
        self.default = Some(d);
        self
    }
    const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    const fn not_yet(mut self) -> Self {
        self.status = Status::NotYet;
        self
    }
    const fn only(mut self, c: &'static [Command]) -> Self {
        self.commands = c;
        self
    }
}

const RUN_DOCTOR: &[Command] = &[Command::Run, Command::Doctor];
const RUN: &[Command] = &[Command::Run];
const DOCTOR: &[Command] = &[Command::Doctor];

const fn s(flag: &'static str, kind: Kind, help: &'static str) -> Setting {
    Setting {
        flag,
        alias: None,
        env: &[],
        yaml: None,
        kind,
        default: None,
        help,
        secret: false,
        commands: RUN_DOCTOR,
        status: Status::Supported,
    }
}

use Kind::*;

/// Every setting of `run` and `doctor`, in the order of go-cli-config.md §2.1.
#[rustfmt::skip]
pub static SETTINGS: &[Setting] = &[
    // ---- config source selection ----
    s("--config", Str, "YAML config file (any extension, no ~ expansion)").env(&["TUNNEL_CLIENT_CONFIG"]),
    s("--profile", Str, "named profile: <profile-dir>/<name>.yaml").env(&["TUNNEL_CLIENT_PROFILE"]),
    s("--profile-file", Str, "profile file path (must end in .yaml; ~ expanded)").env(&["TUNNEL_CLIENT_PROFILE_FILE"]),
    s("--profile-dir", Str, "directory of named profiles (default $XDG_CONFIG_HOME/tunnel-client or ~/.config/tunnel-client)").env(&["TUNNEL_CLIENT_PROFILE_DIR"]),
    // ---- TLS / proxy (global) ----
    s("--ca-bundle", Path, "extra CA certificates (PEM) trusted in addition to the system trust store (docs/networking.md)").env(&["CA_BUNDLE"]).yaml("ca_bundle"),
    s("--http-proxy", Proxy, "explicit proxy for every outbound route (URL or env:VAR)").env(&["TUNNEL_CLIENT_HTTP_PROXY"]).yaml("http_proxy"),
    // ---- control plane ----
    s("--control-plane.base-url", Str, "control plane base URL (host root)").alias("--control-plane-base-url").env(&["CONTROL_PLANE_BASE_URL"]).yaml("control_plane.base_url").default("https://api.openai.com"),
    s("--control-plane.url-path", Str, "path prefix inserted before /v1 (must start with /)").alias("--control-plane-url-path").env(&["CONTROL_PLANE_URL_PATH"]).yaml("control_plane.url_path").default(""),
    s("--control-plane.tunnel-id", Str, "tunnel id: tunnel_<32 lowercase letters or digits> (required)").alias("--control-plane-tunnel-id").env(&["CONTROL_PLANE_TUNNEL_ID"]).yaml("control_plane.tunnel_id"),
    s("--control-plane.organization-id", Str, "sent as the OpenAI-Organization header").alias("--control-plane-organization-id").env(&["CONTROL_PLANE_ORGANIZATION_ID"]).yaml("control_plane.organization_id").default(""),
    s("--control-plane.api-key", Secret, "runtime API key reference: env:VAR or file:/path (env var: the literal key; falls back to OPENAI_API_KEY)").alias("--control-plane-api-key").env(&["CONTROL_PLANE_API_KEY", "OPENAI_API_KEY"]).yaml("control_plane.api_key").secret(),
    s("--control-plane.client-cert", Path, "mTLS client certificate for the control plane").alias("--control-plane-client-cert").env(&["CONTROL_PLANE_CLIENT_CERT"]).yaml("control_plane.client_cert"),
    s("--control-plane.client-key", Path, "mTLS client key for the control plane").alias("--control-plane-client-key").env(&["CONTROL_PLANE_CLIENT_KEY"]).yaml("control_plane.client_key").secret(),
    s("--control-plane.http-proxy", Proxy, "explicit proxy for the control plane (URL or env:VAR)").env(&["CONTROL_PLANE_HTTP_PROXY"]).yaml("control_plane.http_proxy"),
    s("--control-plane.max-inflight", Int, "local prefetch queue size (1..10000)").env(&["CONTROL_PLANE_MAX_INFLIGHT_REQUESTS"]).yaml("control_plane.max_inflight_requests").default("20"),
    s("--control-plane.poll-timeout", Duration, "long-poll timeout sent as timeout_ms").env(&["CONTROL_PLANE_POLL_TIMEOUT"]).yaml("control_plane.poll_timeout").default("30s"),
    s("--control-plane.poll-deadline-guardrail", Duration, "extra client-side wait beyond the poll timeout (< 1m)").env(&["CONTROL_PLANE_POLL_DEADLINE_GUARDRAIL"]).yaml("control_plane.poll_deadline_guardrail").default("5s"),
    s("--control-plane.poll-channel", List(Sep::Comma), "poll only these channels (repeatable; env: comma-separated)").env(&["CONTROL_PLANE_POLL_CHANNELS"]).yaml("control_plane.poll_channels"),
    s("--control-plane.extra-headers", Headers, "extra control-plane request header 'Key: Value' (repeatable)").env(&["CONTROL_PLANE_EXTRA_HEADERS"]).yaml("control_plane.extra_headers"),
    // ---- logging ----
    s("--log.level", Str, "debug|info|warn|error (non-info needs --log.format)").env(&["LOG_LEVEL"]).yaml("log.level").default("info"),
    s("--log.format", Str, "struct-text|json (unset or text: plain stderr log)").env(&["LOG_FORMAT"]).yaml("log.format").default(""),
    s("--log.file", Str, "append logs to this file, mode 0600 (unset: stderr for text, stdout for struct-text/json)").env(&["LOG_FILE"]).yaml("log.file"),
    s("--log.http-raw-unsafe", Bool, "log raw HTTP exchanges including secrets").env(&["LOG_HTTP_RAW_UNSAFE"]).yaml("log.http_raw_unsafe").default("false").not_yet(),
    // ---- health / process ----
    s("--health.listen-addr", Str, "health/admin listener host:port (:0 = ephemeral)").alias("--health-listen-addr").env(&["HEALTH_LISTEN_ADDR"]).yaml("health.listen_addr").default("127.0.0.1:8080"),
    s("--health.unix-socket", Path, "serve health/admin on this Unix socket instead (no TCP port; its connections count as loopback)").alias("--health-unix-socket").env(&["HEALTH_UNIX_SOCKET"]).yaml("health.unix_socket"),
    s("--health.url-file", Str, "write the health base URL to this file").alias("--health-url-file").env(&["HEALTH_URL_FILE"]).yaml("health.url_file"),
    s("--pid.file", Str, "write the process id to this file").env(&["PID_FILE"]).yaml("process.pid_file"),
    // ---- MCP ----
    s("--mcp.server-url", McpServerUrls, "HTTP MCP target: URL or channel=c,url=u[,unix-socket=..][,http-proxy=..][,client-cert=..,client-key=..] (repeatable)").alias("--mcp-server-url").env(&["MCP_SERVER_URL"]).yaml("mcp.server_urls"),
    s("--mcp.command", McpCommands, "stdio MCP target: command line or channel=c,command=... (repeatable)").alias("--mcp-command").env(&["MCP_COMMAND"]).yaml("mcp.commands"),
    s("--mcp.http-proxy", Proxy, "explicit proxy for HTTP MCP targets (URL or env:VAR)").env(&["MCP_HTTP_PROXY"]).yaml("mcp.http_proxy"),
    s("--mcp.client-cert", Path, "mTLS client certificate for HTTP MCP targets").env(&["MCP_CLIENT_CERT"]).yaml("mcp.client_cert"),
    s("--mcp.client-key", Path, "mTLS client key for HTTP MCP targets").env(&["MCP_CLIENT_KEY"]).yaml("mcp.client_key").secret(),
    s("--mcp.extra-headers", Headers, "extra MCP request header 'Key: Value' (repeatable)").alias("--mcp-extra-headers").env(&["MCP_EXTRA_HEADERS"]).yaml("mcp.extra_headers"),
    s("--mcp.discovery-extra-headers", Headers, "extra header for OAuth discovery and probes (repeatable)").alias("--mcp-discovery-extra-headers").env(&["MCP_DISCOVERY_EXTRA_HEADERS"]).yaml("mcp.discovery_extra_headers"),
    s("--mcp.startup-wait-timeout", Duration, "wait this long for the MCP target at startup (0s = disabled)").env(&["MCP_STARTUP_WAIT_TIMEOUT"]).yaml("mcp.startup_wait_timeout").default("0s"),
    s("--mcp.connection-max-ttl", Duration, "maximum lifetime of a pooled MCP connection").env(&["MCP_CONNECTION_MAX_TTL"]).yaml("mcp.connection_max_ttl").default("10m"),
    s("--mcp.max-concurrent-requests", Int, "concurrent MCP requests (>= 1)").env(&["MCP_MAX_CONCURRENT_REQUESTS"]).yaml("mcp.max_concurrent_requests").default("10"),
    // ---- Harpoon ----
    s("--harpoon.target", HarpoonTargets, "Harpoon target label=..,url=..[,unix-socket=..][,desc=..][,allow-link-local=true] (repeatable)").env(&["HARPOON_TARGETS"]).yaml("harpoon.targets"),
    s("--harpoon.allow-plaintext-http", Bool, "allow http:// Harpoon targets").env(&["HARPOON_ALLOW_PLAINTEXT_HTTP"]).yaml("harpoon.allow_plaintext_http").default("false"),
    s("--harpoon.max-response-bytes", Int, "Harpoon response size cap (1..102400)").env(&["HARPOON_MAX_RESPONSE_BYTES"]).yaml("harpoon.max_response_bytes").default("102400"),
    s("--harpoon.max-redirects", Int, "Harpoon redirect cap (0..5)").env(&["HARPOON_MAX_REDIRECTS"]).yaml("harpoon.max_redirects").default("5"),
    s("--harpoon.http-proxy", Proxy, "explicit proxy for Harpoon targets").env(&["HARPOON_HTTP_PROXY"]).yaml("harpoon.http_proxy"),
    s("--harpoon.additional-transport", List(Sep::SemicolonOrNewline), "extra Harpoon transport: http-streamable (repeatable)").env(&["HARPOON_ADDITIONAL_TRANSPORTS"]).yaml("harpoon.additional_transports"),
    s("--harpoon.hosts-include-suffix", List(Sep::SemicolonOrNewline), "host suffix allowed for Harpoon auto-registration (repeatable)").env(&["HARPOON_HOSTS_INCLUDE_SUFFIX"]).yaml("harpoon.hosts_include_suffix"),
    s("--harpoon.hosts-include-regex", List(Sep::SemicolonOrNewline), "host regex allowed for Harpoon auto-registration (repeatable)").env(&["HARPOON_HOSTS_INCLUDE_REGEX"]).yaml("harpoon.hosts_include_regex"),
    s("--harpoon.hosts-include-loopback", Bool, "allow loopback hosts for Harpoon auto-registration").env(&["HARPOON_HOSTS_INCLUDE_LOOPBACK"]).yaml("harpoon.hosts_include_loopback").default("true"),
    s("--harpoon.hosts-include-private", Bool, "allow private hosts for Harpoon auto-registration").env(&["HARPOON_HOSTS_INCLUDE_PRIVATE"]).yaml("harpoon.hosts_include_private").default("true"),
    s("--harpoon.capture-payloads", Bool, "keep Harpoon payloads for the admin UI").env(&["HARPOON_CAPTURE_PAYLOADS"]).yaml("harpoon.capture_payloads").default("false"),
    // ---- cloudflared ----
    s("--cloudflared.token", Secret, "cloudflared tunnel token reference: env:VAR or file:/path (env var: literal)").env(&["CLOUDFLARED_TUNNEL_TOKEN"]).yaml("cloudflared.token").secret().not_yet(),
    s("--cloudflared.managed", Bool, "fetch the cloudflared token from the control plane").env(&["CLOUDFLARED_MANAGED"]).yaml("cloudflared.managed").default("false").not_yet(),
    s("--cloudflared.path", Str, "cloudflared executable (default: next to this binary)").env(&["CLOUDFLARED_PATH"]).yaml("cloudflared.path").not_yet(),
    s("--cloudflared.ready-timeout", Duration, "wait this long for cloudflared to become ready").env(&["CLOUDFLARED_READY_TIMEOUT"]).yaml("cloudflared.ready_timeout").default("30s").not_yet(),
    // ---- admin UI / proxy health ----
    s("--allow-remote-ui", Bool, "serve the UI and admin APIs to non-loopback clients").env(&["ALLOW_REMOTE_UI"]).yaml("admin_ui.allow_remote").default("false"),
    s("--open-web-ui", Bool, "open the web UI in a browser at startup").env(&["OPEN_WEB_UI"]).yaml("admin_ui.open_browser").default("false"),
    s("--admin-ui.log-buffer-events", Int, "log events kept for the UI (1..100000)").env(&["ADMIN_UI_LOG_BUFFER_EVENTS"]).yaml("admin_ui.log_buffer_events").default("2000"),
    s("--proxy.check-interval", Duration, "interval of the proxy health checks (TCP + CONNECT to each proxied route's proxy)").env(&["PROXY_CHECK_INTERVAL"]).yaml("proxy.check_interval").default("60s"),
    // ---- run only: embedded demo MCP stub ----
    s("--embedded-mcp-stub", Bool, "start the in-process demo MCP stub and bind channel main to it").default("false").only(RUN),
    s("--embedded-mcp-listen-addr", Str, "listen address of the demo stub").default("127.0.0.1:0").only(RUN),
    s("--embedded-mcp-server-name", Str, "server name the demo stub advertises").default("mcp-stub").only(RUN),
    s("--embedded-mcp-server-version", Str, "server version the demo stub advertises").default("0.1.0").only(RUN),
    // ---- run only: conformance trace recording ----
    s("--record-trace", Str, "write a redacted conformance trace of this session to FILE (docs/traces.md)").only(RUN),
    // ---- doctor only ----
    s("--explain", Bool, "add why / evidence / next steps for every non-PASS check").default("false").only(DOCTOR),
    s("--json", Bool, "print the report as JSON").default("false").only(DOCTOR),
];

/// Looks a setting up by name (`control-plane.tunnel-id`), flag or alias.
pub fn setting(name: &str) -> Option<&'static Setting> {
    let bare = name.trim_start_matches('-');
    SETTINGS
        .iter()
        .find(|s| s.name() == bare || s.alias.map(|a| &a[2..]) == Some(bare))
}

/// Looks a setting up by its dotted YAML path.
pub fn by_yaml(path: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.yaml == Some(path))
}
