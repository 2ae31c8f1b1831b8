//! What the binary (or an embedding host) tells the runtime beyond the engine's own
//! configuration: where each HTTP binding lives, TLS/proxy settings, the drain bound, and
//! who wants to hear about events.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tunnel_core::engine::Event;
use tunnel_core::tap::Tap;

use crate::http_timing::HttpObserver;

pub use tunnel_core::egress::TlsOptions;
pub use tunnel_core::mcp_http::{ClientCertPaths, HttpTarget};
pub use tunnel_core::proxy_route::{ExplicitProxy, ProxyEnv};
pub use tunnel_core::start::StartError;
// One definition for both adapters (pure data); re-exported so `tunnel_blocking::…` keeps
// working.
pub use tunnel_core::stdio::{StdioCommandError, StdioOptions, StdioTarget};

/// Receives every engine event, on the driver thread, after it has been logged. It must not
/// block (hand the event to a channel or update counters); the driver waits for it.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// Runtime settings. `Default` gives no MCP targets (add one per HTTP or stdio binding), a
/// 30 s drain and no observer.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// One per `BindingKind::Http` binding of the engine configuration.
    pub mcp_targets: Vec<HttpTarget>,
    /// One per `BindingKind::Stdio` binding of the engine configuration.
    pub stdio_targets: Vec<StdioTarget>,
    /// Supervision of stdio children.
    pub stdio: StdioOptions,
    /// Upper bound of a graceful drain (SIGTERM/SIGINT).
    pub drain_timeout: Duration,
    pub observer: Option<Observer>,
    /// Hears about every HTTP request (control plane and MCP) with its duration to the
    /// response head; for HTTP client metrics.
    pub http_observer: Option<HttpObserver>,
    pub tls: TlsOptions,
    /// Connection setup bound (TCP + TLS + proxy) for MCP requests (Go: dial 30 s).
    pub mcp_connect_timeout: Duration,
    /// Bound on an MCP exchange whose command has no `response_timeout`
    /// (`--mcp.connection-max-ttl`, default 10 min). A command with a deadline is bounded by
    /// the earlier of the two.
    pub mcp_connection_ttl: Duration,
    /// Largest poll / metadata body read.
    pub max_poll_body: usize,
    /// Largest body read from a response POST or a failed control-plane request.
    pub max_error_body: usize,
    /// Fewest permanent threads for response POSTs; the pool grows with the
    /// configuration (`pool::post_concurrency`: up to `max_inflight`, at most 128).
    pub posters: usize,
    /// Sees every action and input at the engine boundary, on the driver thread (trace
    /// recording: `run --record-trace`).
    pub tap: Option<Arc<dyn Tap>>,
    /// Run the startup checks of an HTTP `main` binding (MCP probe, OAuth discovery) that
    /// feed readiness; `None` (the default) skips them.
    pub startup_checks: Option<tunnel_core::engine::StartupChecks>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            mcp_targets: Vec::new(),
            stdio_targets: Vec::new(),
            stdio: StdioOptions::default(),
            drain_timeout: Duration::from_secs(30),
            observer: None,
            http_observer: None,
            tls: TlsOptions::default(),
            mcp_connect_timeout: Duration::from_secs(30),
            mcp_connection_ttl: Duration::from_secs(600),
            max_poll_body: 32 * 1024 * 1024,
            max_error_body: 64 * 1024,
            posters: 4,
            tap: None,
            startup_checks: None,
        }
    }
}

impl fmt::Debug for RuntimeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeOptions")
            .field("mcp_targets", &self.mcp_targets)
            .field("stdio_targets", &self.stdio_targets)
            .field("stdio", &self.stdio)
            .field("drain_timeout", &self.drain_timeout)
            .field("observer", &self.observer.as_ref().map(|_| "<fn>"))
            .field(
                "http_observer",
                &self.http_observer.as_ref().map(|_| "<fn>"),
            )
            .field("tls", &self.tls)
            .field("mcp_connect_timeout", &self.mcp_connect_timeout)
            .field("mcp_connection_ttl", &self.mcp_connection_ttl)
            .field("max_poll_body", &self.max_poll_body)
            .field("max_error_body", &self.max_error_body)
            .field("posters", &self.posters)
            .field("tap", &self.tap.as_ref().map(|_| "<tap>"))
            .field("startup_checks", &self.startup_checks)
            .finish()
    }
}
