//! The engine's counters: one registry, fed from the engine's own events.
//!
//! Like quinn-proto's `Connection::stats()`, the state machine counts what it does, so every
//! reader (`/metrics`, the admin UI, the support bundle, tests) sees the same figures and no
//! adapter or observer keeps a second tally. An event is counted when the adapter takes it
//! with [`Engine::poll_event`](super::Engine::poll_event), which every driver does before it
//! publishes a status.
//!
//! The engine holds the registry in an `Arc` and updates it copy-on-write: a driver
//! publishes it by cloning the `Arc` once per batch, and the registry itself is copied
//! only when a batch changed it while readers still hold the previous one.
//!
//! Label values are bounded: response types and failure sources come from the contract's
//! closed lists, drop reasons from [`DropReason`](crate::wire::command::DropReason), channels of rejected
//! commands are capped at [`MAX_REJECTED_CHANNEL_SERIES`] distinct sets.

use std::collections::BTreeMap;

use super::{Event, PollError};
use crate::classify::TransportError;

/// Distinct (channel, command type) pairs kept for rejected channels: a hostile control
/// plane cannot grow the registry without bound. Later pairs count only in the total.
pub const MAX_REJECTED_CHANNEL_SERIES: usize = 64;

/// Monotonic counters of one engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Poll cycles ended, successful or not.
    pub poll_cycles: u64,
    pub polls_succeeded: u64,
    /// Failed polls by kind: `timeout` (the transport timed out) or `other` (everything
    /// else, HTTP status errors included).
    pub poll_errors: BTreeMap<&'static str, u64>,
    /// Decoded commands received from the control plane.
    pub commands_polled: u64,
    /// Commands fetched but not queued, by reason (an unknown command type counts as
    /// `invalid_command_type`).
    pub queue_drops: BTreeMap<&'static str, u64>,
    pub unknown_command_types: u64,
    /// Commands rejected for a channel nobody serves, by (channel, command type; `unknown`
    /// for a type outside the contract). Capped: see [`MAX_REJECTED_CHANNEL_SERIES`].
    pub unsupported_channel: BTreeMap<(String, &'static str), u64>,
    /// All rejected-channel commands, including those past the series cap.
    pub channel_rejected: u64,
    /// Terminal responses delivered, by (`resp_type`, `resp_code`).
    pub commands_completed: BTreeMap<(&'static str, u16), u64>,
    /// Failures synthesized for commands, by (`source`, `transport_error_kind`; `""` when
    /// the failure has none).
    pub failures_synthesized: BTreeMap<(&'static str, &'static str), u64>,
    /// 401/403 answers reported (at most one event a minute while it lasts).
    pub auth_rejected: u64,
    pub deadlines_expired: u64,
    pub abandoned: u64,
    pub response_delivery_failed: u64,
    pub responses_rejected: u64,
    pub notify_delivery_failed: u64,
}

impl Stats {
    /// Counts one event.
    pub(crate) fn record(&mut self, event: &Event) {
        match event {
            Event::PollSucceeded { commands, .. } => {
                self.poll_cycles += 1;
                self.polls_succeeded += 1;
                self.commands_polled += *commands as u64;
            }
            Event::PollFailed { error, .. } => {
                self.poll_cycles += 1;
                let kind = match error {
                    PollError::Transport(TransportError::Timeout) => "timeout",
                    _ => "other",
                };
                *self.poll_errors.entry(kind).or_default() += 1;
            }
            Event::AuthRejected { .. } => self.auth_rejected += 1,
            // Go's accounting: a 401/403 poll is a failed poll cycle of kind `other`.
            Event::PollAuthFailed { .. } => {
                self.poll_cycles += 1;
                *self.poll_errors.entry("other").or_default() += 1;
            }
            Event::CommandDropped { reason, .. } => {
                *self.queue_drops.entry(reason.label()).or_default() += 1;
            }
            Event::UnknownCommandType { .. } => {
                self.unknown_command_types += 1;
                *self.queue_drops.entry("invalid_command_type").or_default() += 1;
            }
            Event::ChannelRejected {
                channel,
                command_type,
                ..
            } => {
                self.channel_rejected += 1;
                let ct = match command_type.as_str() {
                    "jsonrpc" => "jsonrpc",
                    "oauth_discovery" => "oauth_discovery",
                    "session_termination" => "session_termination",
                    _ => "unknown",
                };
                let key = (channel.to_string(), ct);
                if self.unsupported_channel.len() < MAX_REJECTED_CHANNEL_SERIES
                    || self.unsupported_channel.contains_key(&key)
                {
                    *self.unsupported_channel.entry(key).or_default() += 1;
                }
            }
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

    /// Sum of `failures_synthesized`.
    pub fn failures_total(&self) -> u64 {
        self.failures_synthesized.values().sum()
    }

    /// Commands accepted into the local queue: polled, less unknown types and duplicates.
    pub fn commands_enqueued(&self) -> u64 {
        let duplicates = self
            .queue_drops
            .get("duplicate_in_flight")
            .copied()
            .unwrap_or(0);
        self.commands_polled
            .saturating_sub(self.unknown_command_types + duplicates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChannelName;
    use crate::wire::command::DropReason;
    use std::time::Duration;

    fn rejected(channel: &str, command_type: &str) -> Event {
        Event::ChannelRejected {
            request_id: "r".into(),
            channel: ChannelName::canonical(channel).unwrap(),
            command_type: command_type.into(),
        }
    }

    #[test]
    fn poll_outcomes_drops_and_enqueued_follow_the_events() {
        let mut s = Stats::default();
        let polled = Event::PollSucceeded {
            commands: 5,
            dropped: 0,
            created_at: Vec::new(),
        };
        s.record(&polled);
        s.record(&Event::PollFailed {
            error: PollError::Transport(TransportError::Timeout),
            retry_in: Duration::ZERO,
            consecutive: 1,
        });
        s.record(&Event::PollFailed {
            error: PollError::Status {
                status: 500,
                api_error: None,
            },
            retry_in: Duration::ZERO,
            consecutive: 2,
        });
        s.record(&Event::CommandDropped {
            request_id: Some("a".into()),
            reason: DropReason::DuplicateInFlight,
        });
        s.record(&Event::UnknownCommandType {
            request_id: "b".into(),
            command_type: "x".into(),
        });
        assert_eq!((s.poll_cycles, s.polls_succeeded), (3, 1));
        assert_eq!(s.poll_errors.get("timeout"), Some(&1));
        assert_eq!(s.poll_errors.get("other"), Some(&1));
        assert_eq!(s.queue_drops.get("invalid_command_type"), Some(&1));
        assert_eq!(
            s.commands_enqueued(),
            3,
            "5 polled − 1 duplicate − 1 unknown type"
        );
    }

    #[test]
    fn every_401_poll_is_a_failed_poll_cycle_as_in_go() {
        let mut s = Stats::default();
        for _ in 0..3 {
            s.record(&Event::PollAuthFailed { status: 401 });
        }
        s.record(&Event::AuthRejected {
            status: 401,
            api_error: None,
            retry_in: Duration::from_secs(1),
        });
        assert_eq!(s.poll_cycles, 3);
        assert_eq!(s.poll_errors.get("other"), Some(&3));
        assert_eq!(
            s.auth_rejected, 1,
            "the operator line is still once a minute"
        );
    }

    #[test]
    fn rejected_channel_series_are_capped_but_all_counted() {
        let mut s = Stats::default();
        for i in 0..MAX_REJECTED_CHANNEL_SERIES + 10 {
            s.record(&rejected(&format!("ch{i}"), "jsonrpc"));
        }
        s.record(&rejected("ch0", "bogus"));
        s.record(&rejected("ch1", "jsonrpc"));
        assert_eq!(s.unsupported_channel.len(), MAX_REJECTED_CHANNEL_SERIES);
        assert_eq!(s.channel_rejected, MAX_REJECTED_CHANNEL_SERIES as u64 + 12);
        assert_eq!(
            s.unsupported_channel.get(&("ch1".into(), "jsonrpc")),
            Some(&2)
        );
        assert_eq!(s.unsupported_channel.get(&("ch0".into(), "unknown")), None);
    }
}
