//! State the driver publishes for the admin server and the metrics layer.
//!
//! The driver owns the engine and never shares it; after each batch of inputs it builds one
//! snapshot and swaps an `Arc` of it into a mutex that readers lock only long enough to
//! clone the `Arc`. A reader therefore never stalls the driver, the driver never waits on a
//! slow HTTP client of `/readyz`, and the counters are the engine's own registry
//! ([`Stats`]), shared, not copied per reader.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tunnel_core::engine::{Engine, StartupReport, Stats, Status};
use tunnel_core::wire::metadata::TunnelMetadata;

/// One consistent view of the runtime.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: Status,
    pub readiness: Result<(), String>,
    /// When ready, what the `/readyz` body adds (`mcp initialize requires auth: …`).
    pub ready_note: Option<String>,
    /// The startup checks (MCP probe, OAuth discovery): `/api/oauth`, `/api/status`.
    pub startup: Arc<tunnel_core::engine::StartupReport>,
    /// Wall-clock time the selected OAuth metadata was fetched (Go's `fetched_at`), stamped
    /// here because the core has no wall clock: the first publish that saw it.
    pub oauth_fetched_at: Option<SystemTime>,
    /// The engine's counters (one registry for `/metrics`, the admin UI and the bundle).
    pub stats: Arc<Stats>,
    /// stdio children restarted after they went away (all channels); counted here until
    /// the engine supervises stdio itself.
    pub stdio_restarts: u64,
    /// Commands taken from the control plane and not finished (queued + running + posting).
    pub in_flight: usize,
    pub metadata: Option<TunnelMetadata>,
    /// True once the driver has stopped (drained, or dropped).
    pub stopped: bool,
    pub updated_at: Instant,
}

impl Snapshot {
    /// The engine's state now, after `last` (whose startup report is reused when unchanged,
    /// and whose OAuth stamp is kept while the metadata is the same).
    pub(crate) fn of(
        engine: &Engine,
        last: &Snapshot,
        stopped: bool,
        stdio_restarts: u64,
        metadata: Option<TunnelMetadata>,
    ) -> Snapshot {
        let now = Instant::now();
        let status = engine.status();
        let readiness = if stopped {
            Err("stopped".to_string())
        } else {
            engine.readiness_with_note(now)
        };
        let ready_note = readiness.clone().ok().flatten();
        let startup = if same_startup(&last.startup, engine.startup_report()) {
            Arc::clone(&last.startup)
        } else {
            Arc::new(engine.startup_report().clone())
        };
        Snapshot {
            in_flight: status.unfinished(),
            status,
            readiness: readiness.map(|_| ()),
            ready_note,
            oauth_fetched_at: fetched_at(last, &startup),
            startup,
            stats: Arc::clone(engine.stats()),
            stdio_restarts,
            metadata,
            stopped,
            updated_at: now,
        }
    }
}

/// The shared cell.
#[derive(Clone)]
pub(crate) struct Published {
    inner: Arc<Mutex<Arc<Snapshot>>>,
}

impl Published {
    pub(crate) fn new(snapshot: Snapshot) -> Published {
        Published {
            inner: Arc::new(Mutex::new(Arc::new(snapshot))),
        }
    }

    pub(crate) fn get(&self) -> Arc<Snapshot> {
        Arc::clone(&self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn set(&self, snapshot: Snapshot) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }
}

/// When the selected OAuth metadata was fetched: now if this publish is the first to see
/// it (or a different one), else what the last publish said. A publish follows every batch
/// of inputs, so the stamp is within one batch of the response's arrival.
fn fetched_at(last: &Snapshot, now: &Arc<StartupReport>) -> Option<SystemTime> {
    let found = |r: &StartupReport| {
        r.oauth
            .as_ref()
            .and_then(|o| o.found.as_ref())
            .map(|f| (f.url.clone(), f.status, f.body.clone()))
    };
    let current = found(now);
    if current.is_none() {
        None
    } else if Arc::ptr_eq(&last.startup, now) || found(&last.startup) == current {
        last.oauth_fetched_at
    } else {
        Some(SystemTime::now())
    }
}

/// Cheap comparison of two startup reports (what readers can see change).
fn same_startup(a: &StartupReport, b: &StartupReport) -> bool {
    let key = |r: &tunnel_core::oauth::startup::Report| {
        (
            r.done,
            r.attempts.len(),
            r.error.clone(),
            r.found.as_ref().map(|f| f.url.clone()),
            r.auth_server
                .as_ref()
                .map(|a| (a.attempts.len(), a.selected_url.clone(), a.error.clone())),
        )
    };
    a.started == b.started
        && a.probe == b.probe
        && a.oauth_pending == b.oauth_pending
        && a.oauth.as_ref().map(key) == b.oauth.as_ref().map(key)
}
