//! Which adapter drives the tunnel in `run`, behind the three things the daemon asks of a
//! running tunnel: its [`Snapshot`], its trust report and a drain.
//!
//! The smol adapter's single-future driver is the default (cargo feature `smol-driver`, on
//! by default): one thread where `async_io::block_on` runs the socket reactor and the
//! driver, so a command crosses no thread, the thread count stays fixed whatever the load,
//! and it measured less CPU and half the memory of the blocking driver
//! (`docs/performance.md`). `TUNNEL_CLIENT_DRIVER=blocking` runs the blocking adapter's
//! threads instead (a driver thread with pools for polls, MCP requests and POSTs), with the
//! same flags, profiles, metrics and readiness; a build without the feature has only that
//! one.

use std::sync::Arc;

use tunnel_blocking::{RuntimeOptions, Snapshot, TrustReport};
use tunnel_core::engine::EngineConfig;

/// The environment variable that picks the driver (`smol`, the default, or `blocking`).
pub const DRIVER_ENV: &str = "TUNNEL_CLIENT_DRIVER";

/// What the daemon's threads (admin server, signals, readiness watch) hold.
#[derive(Clone)]
pub enum TunnelHandle {
    Blocking(tunnel_blocking::RuntimeHandle),
    #[cfg(feature = "smol-driver")]
    Smol(tunnel_smol::RuntimeHandle),
}

impl TunnelHandle {
    /// The state the driver published after its last batch.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self {
            TunnelHandle::Blocking(h) => h.snapshot(),
            #[cfg(feature = "smol-driver")]
            TunnelHandle::Smol(h) => h.snapshot(),
        }
    }

    /// The trust store the tunnel's connections use (`/api/system`).
    pub fn trust_report(&self) -> &TrustReport {
        match self {
            TunnelHandle::Blocking(h) => h.trust_report(),
            #[cfg(feature = "smol-driver")]
            TunnelHandle::Smol(h) => h.trust_report(),
        }
    }

    /// Graceful drain (SIGTERM/SIGINT); idempotent.
    pub fn begin_drain(&self) {
        match self {
            TunnelHandle::Blocking(h) => h.begin_drain(),
            #[cfg(feature = "smol-driver")]
            TunnelHandle::Smol(h) => h.begin_drain(),
        }
    }
}

/// A started tunnel, to wait for.
pub enum Running {
    Blocking(tunnel_blocking::Runtime),
    #[cfg(feature = "smol-driver")]
    Smol(std::thread::JoinHandle<tunnel_smol::Finished>),
}

impl Running {
    /// Waits until the tunnel has drained or stopped; the commands a hard stop abandoned.
    pub fn join(self) -> Result<usize, String> {
        match self {
            Running::Blocking(r) => r.join().map(|f| f.abandoned),
            #[cfg(feature = "smol-driver")]
            Running::Smol(t) => t
                .join()
                .map(|f| f.abandoned)
                .map_err(|_| "the smol driver thread panicked".to_string()),
        }
    }
}

/// Starts the tunnel on the driver `TUNNEL_CLIENT_DRIVER` names (smol when unset and built
/// in, else blocking). An error is the operator's message, naming the fix.
pub fn start(cfg: EngineConfig, opts: RuntimeOptions) -> Result<(Running, TunnelHandle), String> {
    let choice = std::env::var(DRIVER_ENV).unwrap_or_default();
    let choice = match choice.trim() {
        "" if cfg!(feature = "smol-driver") => "smol",
        "" => "blocking",
        c => c,
    };
    match choice {
        "blocking" => {
            let runtime = tunnel_blocking::Runtime::start(cfg, opts).map_err(|e| e.to_string())?;
            log::info!("driver: blocking (threads: {DRIVER_ENV}=blocking)");
            let handle = TunnelHandle::Blocking(runtime.handle());
            Ok((Running::Blocking(runtime), handle))
        }
        "smol" => start_smol(cfg, opts),
        other => Err(format!(
            "{DRIVER_ENV}={other:?}: unknown driver; fix: use smol (the default) or blocking"
        )),
    }
}

#[cfg(not(feature = "smol-driver"))]
fn start_smol(
    _cfg: EngineConfig,
    _opts: RuntimeOptions,
) -> Result<(Running, TunnelHandle), String> {
    Err(format!(
        "{DRIVER_ENV}=smol: this build has no smol driver; fix: build with the default features (`cargo build --release -p tunnel-client`), or unset {DRIVER_ENV}"
    ))
}

#[cfg(feature = "smol-driver")]
fn start_smol(cfg: EngineConfig, opts: RuntimeOptions) -> Result<(Running, TunnelHandle), String> {
    let smol_opts = tunnel_smol::RuntimeOptions {
        mcp_targets: opts.mcp_targets,
        in_process: Vec::new(),
        stdio_targets: opts.stdio_targets,
        stdio: opts.stdio,
        tls: opts.tls,
        drain_timeout: opts.drain_timeout,
        mcp_connect_timeout: opts.mcp_connect_timeout,
        mcp_connection_ttl: opts.mcp_connection_ttl,
        max_poll_body: opts.max_poll_body,
        max_error_body: opts.max_error_body,
        observer: opts.observer,
        http_observer: opts.http_observer,
        #[cfg(target_os = "linux")]
        child_setup: Some(tunnel_blocking::die_with_parent),
        #[cfg(not(target_os = "linux"))]
        child_setup: None,
        tap: opts.tap,
        startup_checks: opts.startup_checks,
    };
    let (handle, driver) = tunnel_smol::start(cfg, smol_opts).map_err(|e| e.to_string())?;
    let thread = std::thread::Builder::new()
        .name("tunnel-smol".into())
        .spawn(move || async_io::block_on(driver))
        .map_err(|e| format!("cannot start the driver thread: {e}"))?;
    log::info!("driver: smol (one thread; {DRIVER_ENV}=blocking for thread pools)");
    Ok((Running::Smol(thread), TunnelHandle::Smol(handle)))
}
