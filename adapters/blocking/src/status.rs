//! State the driver publishes for the admin server and the metrics layer.
//!
//! The driver owns the engine and never shares it; after each batch of inputs it builds one
//! snapshot and swaps an `Arc` of it into a mutex that readers lock only long enough to
//! clone the `Arc`. A reader therefore never stalls the driver, the driver never waits on a
//! slow HTTP client of `/readyz`, and the counters are the engine's own registry
//! ([`Stats`]), shared, not copied per reader.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tunnel_core::engine::{Stats, Status};

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
