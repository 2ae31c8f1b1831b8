//! # tunnel-smol
//!
//! Drives the sans-IO `tunnel-core` engine with async tasks from the smol family: async-io
//! for timers and the socket reactor, async-net for TCP, futures-rustls for TLS. It brings
//! **no executor**: [`start`] returns a [`Driver`] future that the host polls on whatever it
//! runs — `smol::block_on`, an `async_executor::Executor`, a hand-written poll loop — and a
//! [`RuntimeHandle`] to drain or stop it. Every poll, POST and MCP exchange runs inside that
//! one future (no task is spawned anywhere), so cancelling work is dropping it, and the host
//! decides on which thread the tunnel runs.
//!
//! MCP bindings: Streamable HTTP targets ([`HttpTarget`]), in-process handlers
//! ([`InProcessHandler`], `BindingKind::InProcess`: no port, no child — for hosts that embed
//! their MCP server) and stdio children ([`StdioTarget`], `BindingKind::Stdio`: one
//! supervised child per channel, many commands in flight on it, as in the blocking adapter;
//! `docs/stdio.md`). A stdio child's pipes are polled by the driver future too (async-process),
//! and it is restarted with backoff when it goes away; the channel is reported not ready
//! meanwhile.
//!
//! Networking is `run`'s (`docs/networking.md`): [`RuntimeOptions::tls`] and each
//! [`HttpTarget`]'s proxy, client certificate and unix socket; the route of every
//! destination (environment proxies and `NO_PROXY` included) from `tunnel_core::proxy_route`;
//! and, when `EngineConfig::harpoon` is set, the `harpoon` channel with the address
//! guard on what each hop resolved.
//!
//! **Stdio: the death signal is the host's.** The blocking adapter starts children with
//! Linux's `PR_SET_PDEATHSIG`, so even a SIGKILLed client takes its child down. That needs
//! an unsafe `pre_exec` hook, and this crate forbids unsafe code, so the host passes it in
//! [`RuntimeOptions::child_setup`] (`tunnel-client run` does). Without one, a child of a
//! host killed outright lives on until it notices its stdin closing (MCP servers exit on
//! EOF). Every other way out stops the child's whole process group: a drain or
//! [`RuntimeHandle::stop`] (stdin closed, grace, SIGTERM, SIGKILL, as in the blocking
//! adapter) and dropping the [`Driver`] unfinished (SIGKILL at once).
//!
//! ```no_run
//! use tunnel_smol::{start, HttpTarget, RuntimeOptions};
//! use tunnel_core::channel::ChannelName;
//! use tunnel_core::engine::EngineConfig;
//! let cfg = EngineConfig::new("https://api.openai.com".parse().unwrap(), "tunnel_x", "key");
//! let opts = RuntimeOptions {
//!     mcp_targets: vec![HttpTarget::new(ChannelName::main(), "http://127.0.0.1:3000/mcp")],
//!     ..RuntimeOptions::default()
//! };
//! let (handle, driver) = start(cfg, opts).unwrap();
//! // e.g. from a signal handler: handle.begin_drain();
//! # handle.begin_drain();
//! let finished = futures_lite::future::block_on(driver);
//! ```
#![forbid(unsafe_code)]

mod control_plane;
mod driver;
mod h1;
mod mcp;
mod net;
mod probe;
mod stdio;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{BindingKind, EngineConfig, Event, Stats, Status};
use tunnel_core::snapshot::Published;
pub use tunnel_core::snapshot::Snapshot;
use tunnel_core::tap::Tap;

pub use driver::Finished;
pub use tunnel_core::egress::TlsOptions;
pub use tunnel_core::mcp_http::{ClientCertPaths, HttpTarget};
pub use tunnel_core::proxy_route::{ExplicitProxy, ProxyEnv};
pub use tunnel_core::start::StartError;
pub use tunnel_core::trust::TrustReport;
// The same types as tunnel_blocking's (one definition, in the core).
pub use tunnel_core::http_timing::{HttpClientKind, HttpObserver, HttpTiming};
pub use tunnel_core::stdio::{StdioCommandError, StdioOptions, StdioTarget};

/// What an in-process MCP server answers to one message.
#[derive(Debug, Clone, Default)]
pub struct InProcessReply {
    /// JSON-RPC messages to relay before the end (progress notifications, server requests),
    /// each a JSON object.
    pub notifications: Vec<String>,
    /// The JSON-RPC response to a request (a JSON object); `None` for a notification or a
    /// client response, which are acknowledged.
    pub response: Option<String>,
}

/// The boxed future an [`InProcessHandler`] returns.
pub type ReplyFuture = Pin<Box<dyn Future<Output = InProcessReply> + Send>>;

/// An MCP server living in the host process (`BindingKind::InProcess`).
pub trait InProcessHandler: Send + Sync {
    /// Handles one JSON-RPC message (its exact text, as the control plane sent it).
    fn call(&self, message: &str) -> ReplyFuture;
}

/// Receives every engine event on the driver; must not block.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// Runtime settings. `Default`: no bindings, a 30 s drain, 10 min MCP exchange bound.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// One per `BindingKind::Http` binding of the engine configuration.
    pub mcp_targets: Vec<HttpTarget>,
    /// One per `BindingKind::InProcess` binding.
    pub in_process: Vec<(ChannelName, Arc<dyn InProcessHandler>)>,
    /// One per `BindingKind::Stdio` binding: the child's command line (no shell).
    pub stdio_targets: Vec<StdioTarget>,
    /// Supervision of stdio children (restart backoff, shutdown grace, line bound).
    pub stdio: StdioOptions,
    /// CA bundle, client certificates and proxies (the same settings as the blocking
    /// adapter's; `docs/networking.md`). `Default`: platform roots, no certificates, the
    /// process environment's proxy variables.
    pub tls: TlsOptions,
    pub drain_timeout: Duration,
    /// Bound on opening a connection to an MCP destination (Go's dialer: 30 s); the
    /// exchange as a whole is bounded by the command's deadline and the TTL below.
    pub mcp_connect_timeout: Duration,
    /// Bound on an MCP exchange whose command has no `response_timeout`
    /// (`--mcp.connection-max-ttl`); reaching it abandons the command, as in Go.
    pub mcp_connection_ttl: Duration,
    /// Largest poll / metadata body read.
    pub max_poll_body: usize,
    /// Largest body kept from a POST answer or a failed control-plane request.
    pub max_error_body: usize,
    pub observer: Option<Observer>,
    /// Hears about every HTTP request (control plane, MCP, discovery, Harpoon hops) with
    /// its duration to the response head; for `http_client_request_duration_seconds`.
    pub http_observer: Option<HttpObserver>,
    /// Runs on each stdio child's `std::process::Command` before it is spawned: a host
    /// that may use unsafe code sets Linux's death signal here (`run` passes the blocking
    /// adapter's `die_with_parent`), which this crate cannot (it forbids unsafe code).
    pub child_setup: Option<fn(&mut std::process::Command)>,
    /// Sees every action and input at the engine boundary (trace recording).
    pub tap: Option<Arc<dyn Tap>>,
    /// Run the startup checks of an HTTP `main` binding (MCP probe, OAuth discovery) that
    /// feed readiness; `None` (the default) skips them.
    pub startup_checks: Option<tunnel_core::engine::StartupChecks>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            mcp_targets: Vec::new(),
            in_process: Vec::new(),
            stdio_targets: Vec::new(),
            stdio: StdioOptions::default(),
            tls: TlsOptions::default(),
            drain_timeout: Duration::from_secs(30),
            mcp_connect_timeout: Duration::from_secs(30),
            mcp_connection_ttl: Duration::from_secs(600),
            max_poll_body: 32 * 1024 * 1024,
            max_error_body: 64 * 1024,
            observer: None,
            http_observer: None,
            child_setup: None,
            tap: None,
            startup_checks: None,
        }
    }
}

impl fmt::Debug for RuntimeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeOptions")
            .field("mcp_targets", &self.mcp_targets)
            .field(
                "in_process",
                &self.in_process.iter().map(|(c, _)| c).collect::<Vec<_>>(),
            )
            .field("stdio_targets", &self.stdio_targets)
            .field("stdio", &self.stdio)
            .field("tls", &self.tls)
            .field("drain_timeout", &self.drain_timeout)
            .field("mcp_connection_ttl", &self.mcp_connection_ttl)
            .finish_non_exhaustive()
    }
}

/// Cheap, cloneable control of a running driver, usable from any thread or task.
#[derive(Clone)]
pub struct RuntimeHandle {
    tx: async_channel::Sender<driver::Msg>,
    status: Published,
    routes: Arc<[tunnel_core::proxy_route::Route]>,
    trust: Arc<TrustReport>,
}

impl RuntimeHandle {
    /// Graceful drain: stop polling, finish what was taken, post, then the driver returns.
    pub fn begin_drain(&self) {
        let _ = self.tx.try_send(driver::Msg::Drain);
    }

    /// Stop now: in-flight work is dropped (nothing more is posted).
    pub fn stop(&self) {
        let _ = self.tx.try_send(driver::Msg::Stop);
    }

    /// Everything the driver published after its last turn (readiness, status, counters,
    /// startup checks), as the blocking adapter's handle gives it: an `Arc` clone.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.status.get()
    }

    /// The engine's status as of the driver's last turn.
    pub fn status(&self) -> Status {
        self.status.get().status.clone()
    }

    /// `Ok` when ready to serve, otherwise the reason ("starting" before the first turn).
    pub fn readiness(&self) -> Result<(), String> {
        self.status.get().readiness.clone()
    }

    /// The engine's counters as of the driver's last turn.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.status.get().stats)
    }

    /// The route of the control plane and of each HTTP binding (kind, name, target,
    /// direct or proxy, the setting it came from, `proxy_url()` without credentials), as
    /// `run` shows them in `/api/status` and logs them at startup.
    pub fn routes(&self) -> &[tunnel_core::proxy_route::Route] {
        &self.routes
    }

    /// What the trust store of every connection holds (platform roots, `--ca-bundle`
    /// certificates), for `/api/system`: the report the start logged, not a second load.
    pub fn trust_report(&self) -> &TrustReport {
        &self.trust
    }

    /// How many times a stdio child has been restarted (all channels), for metrics.
    pub fn stdio_restarts(&self) -> u64 {
        self.status.get().stdio_restarts
    }
}

/// The tunnel as one future: poll it on any executor until it returns (after a drain or a
/// stop). It is `Send`, so a multi-threaded executor may move it between threads.
pub struct Driver {
    fut: Pin<Box<dyn Future<Output = Finished> + Send>>,
}

impl Future for Driver {
    type Output = Finished;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Finished> {
        self.fut.as_mut().poll(cx)
    }
}

/// Validates the bindings, builds the engine, starts the stdio children (a command that
/// cannot run fails here: [`StartError::StdioCommand`]) and returns the driver future with
/// its handle. Nothing else happens until the driver is polled (the first poll goes out
/// then); a child's output waits in its pipe meanwhile.
pub fn start(
    mut cfg: EngineConfig,
    opts: RuntimeOptions,
) -> Result<(RuntimeHandle, Driver), StartError> {
    let observer = opts.http_observer.clone();
    let net = net::Net::new(&opts.tls, observer, opts.mcp_connect_timeout)?;
    let has_cert = opts.tls.control_plane_client_cert.is_some();
    if let Some(m) = tunnel_core::egress::mtls_base_url(&cfg.base_url.to_string(), has_cert) {
        log::info!("control-plane client certificate configured: using {m}");
        cfg.base_url = http::Uri::from_static(m);
    }
    let cp = net.control_plane(&cfg.base_url.to_string(), &opts.tls)?;
    let bindings = mcp::bindings(&cfg, &opts, &net)?;
    let trust = (*net.trust_report()).clone();
    let trust = Arc::new(trust.with_binding_certs(&opts.mcp_targets));
    let (tx, rx) = async_channel::unbounded();
    let d = driver::Driver::new(cfg, opts, bindings, cp, tx.clone(), rx)?;
    let status = d.published();
    Ok((
        RuntimeHandle {
            tx,
            status,
            routes: net.routes().into(),
            trust,
        },
        Driver {
            fut: Box::pin(d.run()),
        },
    ))
}

/// Which bindings this adapter can run (all of them).
pub fn supports(kind: BindingKind) -> bool {
    matches!(
        kind,
        BindingKind::Http | BindingKind::InProcess | BindingKind::Stdio
    )
}
