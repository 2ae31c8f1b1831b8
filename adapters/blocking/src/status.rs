//! The cell the driver publishes its [`Snapshot`] into (the type is the core's, shared with
//! the smol adapter): after each batch the driver swaps in a new `Arc`, and readers lock
//! only long enough to clone it, so a slow `/readyz` client never stalls the driver.

use std::sync::{Arc, Mutex};

pub use tunnel_core::snapshot::Snapshot;

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
