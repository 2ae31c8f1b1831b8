//! One consistent view of a running tunnel, for readers on other threads or tasks: the
//! admin server, `/readyz`, `/metrics`, the support bundle.
//!
//! Each driver owns its [`Engine`] and never shares it. After each batch of inputs it builds
//! one [`Snapshot`] and publishes it behind an `Arc`, so a reader pays an `Arc` clone, never
//! stalls the driver, and the counters are the engine's own registry ([`Stats`]), shared,
//! not copied per reader. Both adapters publish this same type, so what an operator sees
//! does not depend on the driver.
//!
//! Time comes in as arguments (the core has no clock): `now` for readiness, `wall` to stamp
//! when the OAuth metadata was first seen. [`Published`] is the cell both drivers publish
//! into: a lock held only to swap or clone an `Arc` (no thread, no I/O, no waiting on the
//! driver), so it belongs with the type rather than written once per adapter.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::engine::{Engine, Event, StartupReport, Stats, Status};
use crate::wire::metadata::TunnelMetadata;

/// One consistent view of the runtime.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: Status,
    pub readiness: Result<(), String>,
    /// When ready, what the `/readyz` body adds (`mcp initialize requires auth: …`).
    pub ready_note: Option<String>,
    /// The startup checks (MCP probe, OAuth discovery): `/api/oauth`, `/api/status`.
    pub startup: Arc<StartupReport>,
    /// Wall-clock time the selected OAuth metadata was fetched (Go's `fetched_at`): the
    /// first publish that saw it, so within one batch of the response's arrival.
    pub oauth_fetched_at: Option<SystemTime>,
    /// The engine's counters (one registry for `/metrics`, the admin UI and the bundle).
    pub stats: Arc<Stats>,
    /// stdio children restarted after they went away (all channels); counted by the
    /// driver until the engine supervises stdio itself.
    pub stdio_restarts: u64,
    /// Commands taken from the control plane and not finished (queued + running + posting).
    pub in_flight: usize,
    pub metadata: Option<Arc<TunnelMetadata>>,
    /// True once the driver has stopped (drained, or dropped).
    pub stopped: bool,
    pub updated_at: Instant,
}

/// What the driver adds to the engine's own state, kept from the engine's events.
#[derive(Debug, Clone, Default)]
pub struct DriverState {
    pub stopped: bool,
    pub stdio_restarts: u64,
    /// Shared with every snapshot (published once per batch): an `Arc`, not a copy.
    pub metadata: Option<Arc<TunnelMetadata>>,
}

impl DriverState {
    /// Takes what a snapshot shows from one event the driver drained.
    pub fn record(&mut self, event: &Event) {
        match event {
            Event::StdioRestarted { .. } => self.stdio_restarts += 1,
            Event::MetadataFetched(m) => self.metadata = Some(Arc::new(m.clone())),
            _ => {}
        }
    }
}

/// The cell a driver publishes its snapshot into; readers lock it only to clone the `Arc`.
#[derive(Clone)]
pub struct Published(Arc<Mutex<Arc<Snapshot>>>);

impl Published {
    pub fn new(snapshot: Snapshot) -> Published {
        Published(Arc::new(Mutex::new(Arc::new(snapshot))))
    }

    /// The latest snapshot.
    pub fn get(&self) -> Arc<Snapshot> {
        Arc::clone(&self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set(&self, snapshot: Snapshot) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }
}

impl Snapshot {
    /// Before the driver's first turn: not ready ("starting").
    pub fn starting(engine: &Engine, now: Instant) -> Snapshot {
        Snapshot {
            readiness: Err("starting".to_string()),
            ready_note: None,
            startup: Arc::new(engine.startup_report().clone()),
            oauth_fetched_at: None,
            status: engine.status(),
            stats: Arc::clone(engine.stats()),
            stdio_restarts: 0,
            in_flight: 0,
            metadata: None,
            stopped: false,
            updated_at: now,
        }
    }

    /// The engine's state at `now`, after `last` (whose startup report is reused when
    /// unchanged, and whose OAuth stamp is kept while the metadata is the same).
    pub fn of(
        engine: &Engine,
        last: &Snapshot,
        driver: &DriverState,
        now: Instant,
        wall: SystemTime,
    ) -> Snapshot {
        let status = engine.status();
        let readiness = if driver.stopped {
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
            oauth_fetched_at: fetched_at(last, &startup, wall),
            startup,
            stats: Arc::clone(engine.stats()),
            stdio_restarts: driver.stdio_restarts,
            metadata: driver.metadata.clone(),
            stopped: driver.stopped,
            updated_at: now,
        }
    }
}

/// When the selected OAuth metadata was fetched: `wall` if this publish is the first to see
/// it (or a different one), else what the last publish said.
fn fetched_at(last: &Snapshot, now: &Arc<StartupReport>, wall: SystemTime) -> Option<SystemTime> {
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
        Some(wall)
    }
}

/// Cheap comparison of two startup reports (what readers can see change).
fn same_startup(a: &StartupReport, b: &StartupReport) -> bool {
    let key = |r: &crate::oauth::startup::Report| {
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
