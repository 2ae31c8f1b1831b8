//! State the driver publishes for the admin server and the metrics layer.
//!
//! The driver owns the engine and never shares it; after each loop iteration it copies a
//! snapshot into a mutex that readers lock only long enough to clone it. A reader can
//! therefore never stall the driver for longer than a clone, and the driver never waits on
//! a slow HTTP client of `/readyz`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tunnel_core::engine::{Event, Status};
use tunnel_core::wire::metadata::TunnelMetadata;

/// Monotonic counters derived from engine events, for `/metrics`. Labels are bounded:
/// `resp_type` has five values, codes are HTTP statuses, failure labels come from the
/// contract's closed lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Terminal responses delivered, by (`resp_type`, `resp_code`).
    pub commands_completed: BTreeMap<(&'static str, u16), u64>,
    /// Failures synthesized for commands, by (`source`, `transport_error_kind`; `""` when
    /// the failure has none).
    pub failures_synthesized: BTreeMap<(&'static str, &'static str), u64>,
    pub polls_succeeded: u64,
    pub polls_failed: u64,
    /// 401/403 answers reported (at most one event a minute while it lasts).
    pub auth_rejected: u64,
    pub commands_dropped: u64,
    pub unknown_command_types: u64,
    pub channel_rejected: u64,
    pub deadlines_expired: u64,
    pub abandoned: u64,
    pub response_delivery_failed: u64,
    pub responses_rejected: u64,
    pub notify_delivery_failed: u64,
    /// stdio children restarted after they went away (all channels).
    pub stdio_restarts: u64,
}

impl Counters {
    pub(crate) fn record(&mut self, event: &Event) {
        match event {
            Event::PollSucceeded { .. } => self.polls_succeeded += 1,
            Event::PollFailed { .. } => self.polls_failed += 1,
            Event::AuthRejected { .. } => self.auth_rejected += 1,
            Event::CommandDropped { .. } => self.commands_dropped += 1,
            Event::UnknownCommandType { .. } => self.unknown_command_types += 1,
            Event::ChannelRejected { .. } => self.channel_rejected += 1,
            Event::DeadlineExpired { .. } => self.deadlines_expired += 1,
            Event::FailureSynthesized { failure, .. } => {
                let kind = failure.kind().map(|k| k.as_str()).unwrap_or("");
                *self
                    .failures_synthesized
                    .entry((failure.source().as_str(), kind))
                    .or_default() += 1;
            }
            Event::CommandCompleted {
                resp_type,
                resp_code,
                ..
            } => {
                *self
                    .commands_completed
                    .entry((resp_type.as_str(), *resp_code))
                    .or_default() += 1;
            }
            Event::NotifyDeliveryFailed { .. } => self.notify_delivery_failed += 1,
            Event::ResponseRejected { .. } => self.responses_rejected += 1,
            Event::ResponseDeliveryFailed { .. } => self.response_delivery_failed += 1,
            Event::Abandoned { .. } => self.abandoned += 1,
            _ => {}
        }
    }

    /// Sum of `commands_completed`.
    pub fn completed_total(&self) -> u64 {
        self.commands_completed.values().sum()
    }
}

/// One consistent view of the runtime.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: Status,
    pub readiness: Result<(), String>,
    pub counters: Counters,
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
    inner: Arc<Mutex<Snapshot>>,
}

impl Published {
    pub(crate) fn new(snapshot: Snapshot) -> Published {
        Published {
            inner: Arc::new(Mutex::new(snapshot)),
        }
    }

    pub(crate) fn get(&self) -> Snapshot {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g);
    }
}
