//! The child's lifecycle: started (with the `initialize` replay), down, restarted, and the
//! bytes it writes on stdout until then.
//!
//! Everything the mux holds fails when the child goes away, so the bookkeeping of a dead
//! child is cleared in one place ([`StdioMux::handle_child_down`]).

use std::time::Instant;

use crate::classify::TransportError;
use crate::engine::CommandId;
use crate::ndjson::LineFramer;

use super::json_edit;
use super::{Child, MuxEvent, MuxOutput, RestartReason, StdioMux};

impl StdioMux {
    /// A new child is running (first start or restart). Replays `initialize` if configured
    /// and one was recorded.
    pub fn handle_child_started(&mut self, now: Instant) {
        if self.child != Child::Down {
            self.child_down(now, TransportError::ConnectionAborted);
        }
        self.generation += 1;
        self.framer = LineFramer::new(self.cfg.max_line_bytes);
        self.child = Child::Up;
        if !self.cfg.replay_initialize {
            return;
        }
        let Some(init) = self.init_record.clone() else {
            return;
        };
        let id = self.fresh_id();
        match json_edit::replace(init.get(), &["id"], &id.to_string()) {
            Ok(Some(text)) => {
                self.write(&text, None);
                let until = now.checked_add(self.cfg.replay_timeout).unwrap_or(now);
                self.child = Child::Replaying(id, until);
                self.events.push_back(MuxEvent::ReplayStarted {
                    generation: self.generation,
                });
            }
            // Recorded only after it was forwarded successfully, so this cannot happen;
            // without a replay the child simply starts uninitialised.
            _ => self.init_record = None,
        }
    }

    /// The child is gone (`error` says how: `Eof` for stdout closed or exit, `ClosedPipe`
    /// for a failed write). Everything the mux holds fails with `transport_closed`.
    pub fn handle_child_down(&mut self, now: Instant, error: TransportError) {
        self.child_down(now, error);
    }

    fn child_down(&mut self, _now: Instant, error: TransportError) {
        if self.child == Child::Down {
            return;
        }
        self.child = Child::Down;
        let cmds: Vec<CommandId> = self.owned.keys().copied().collect();
        let failed = cmds.len();
        for cmd in cmds {
            self.fail(cmd, error);
        }
        self.pending.clear();
        self.acks.clear();
        self.held.clear();
        self.retired.clear();
        self.server_requests.clear();
        self.framer = LineFramer::new(self.cfg.max_line_bytes);
        self.events.push_back(MuxEvent::ChildDown {
            generation: self.generation,
            failed,
        });
    }

    pub(super) fn restart(&mut self, now: Instant, reason: RestartReason) {
        self.out.push_back(MuxOutput::Restart { reason });
        self.child_down(now, TransportError::ConnectionAborted);
    }

    /// Bytes from the child's stdout (ignored while no child is up: they can only be a
    /// dead child's).
    pub fn handle_child_output(&mut self, now: Instant, bytes: &[u8]) {
        if self.child == Child::Down {
            return;
        }
        let mut frames = Vec::new();
        self.framer.push(bytes, &mut frames);
        for f in frames {
            self.handle_frame(now, f);
        }
    }

    /// The child's stdout ended: a last unterminated line is still read, then the child
    /// counts as down (`transport_closed`/`eof`).
    pub fn handle_child_eof(&mut self, now: Instant) {
        let mut frames = Vec::new();
        self.framer.finish(&mut frames);
        for f in frames {
            self.handle_frame(now, f);
        }
        self.child_down(now, TransportError::Eof);
    }
}
