//! Giving up a written request: its deadline or the connection TTL passed, or its owner or
//! the connector cancelled it.
//!
//! A given-up request is *retired* (see the module docs of [`super`]): the child may still
//! answer it, so its id is remembered, the owner and the child are told as the rule for
//! each reason says, and a given-up `initialize` restarts the child (fail-closed).

use std::time::Instant;

use crate::engine::{CommandId, Terminal};

use super::{Child, MuxEvent, Owned, RestartReason, StdioMux};

/// Why a written request is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retire {
    /// The command's deadline: its owner (the engine) ends it on its own timer.
    Deadline,
    /// No deadline, but the connection TTL passed: the owner must be told.
    Ttl,
    /// The owner cancelled it (`handle_cancel`).
    Cancelled,
    /// The connector sent `notifications/cancelled` for it: the owner must be told.
    ConnectorCancel,
}

impl Retire {
    fn reason(self) -> &'static str {
        match self {
            Retire::Deadline => "response deadline passed",
            Retire::Ttl => "connection TTL reached",
            Retire::Cancelled => "cancelled",
            Retire::ConnectorCancel => "cancelled by the connector",
        }
    }
}

impl StdioMux {
    /// Expires requests past their deadline or TTL, held commands, and a replay.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<(u64, bool)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.expires <= now)
            .map(|(id, p)| (*id, p.by_deadline))
            .collect();
        for (id, by_deadline) in due {
            let why = if by_deadline {
                Retire::Deadline
            } else {
                Retire::Ttl
            };
            self.retire(now, id, why);
        }
        while let Some(pos) = self.held.iter().position(|h| h.expires <= now) {
            if let Some(h) = self.held.remove(pos) {
                self.finish(
                    h.cmd,
                    Terminal::Abandon {
                        reason: "response deadline passed while the child was re-initialised",
                    },
                );
            }
        }
        if let Child::Replaying(_, until) = self.child {
            if until <= now {
                self.restart(now, RestartReason::ReplayTimedOut);
            }
        }
    }

    /// Gives up a written request: the id is retired, the owner is told when it cannot know
    /// (TTL, connector cancel: `Abandon`), and so is the child (`notifications/cancelled`,
    /// except for the connector's own cancel, already on its way, and for `initialize`,
    /// which must not be cancelled and fails closed instead).
    pub(super) fn retire(&mut self, now: Instant, id: u64, why: Retire) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        self.owned.remove(&p.cmd);
        self.retired.insert(id, now);
        let reason = why.reason();
        self.events.push_back(MuxEvent::Retired {
            cmd: p.cmd,
            tunnel_id: id,
            reason,
        });
        if matches!(why, Retire::Ttl | Retire::ConnectorCancel) {
            self.finish(p.cmd, Terminal::Abandon { reason });
        }
        if p.initialize.is_some() {
            self.restart(now, RestartReason::InitializeTimedOut);
        } else if why != Retire::ConnectorCancel {
            let note = format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id},"reason":{}}}}}"#,
                serde_json::Value::String(format!("tunnel-client: {reason}"))
            );
            self.write(&note, None);
        }
    }

    /// The engine no longer wants this command (deadline, drain timeout): retire its
    /// request, or forget its pending write or hold.
    pub fn handle_cancel(&mut self, now: Instant, cmd: CommandId) {
        match self.owned.get(&cmd).copied() {
            Some(Owned::Request(tid)) => {
                // The engine cancels on the same deadline the mux watches; which of the two
                // notices first is a race in an adapter, so name the deadline either way
                // (the child and the logs see the same reason every time).
                let due = self
                    .pending
                    .get(&tid)
                    .is_some_and(|p| p.by_deadline && p.expires <= now);
                let why = if due {
                    Retire::Deadline
                } else {
                    Retire::Cancelled
                };
                self.retire(now, tid, why);
            }
            Some(Owned::Ack(ticket)) => {
                self.acks.remove(&ticket);
                self.owned.remove(&cmd);
            }
            Some(Owned::Held) => {
                self.held.retain(|h| h.cmd != cmd);
                self.owned.remove(&cmd);
            }
            None => {}
        }
    }
}
