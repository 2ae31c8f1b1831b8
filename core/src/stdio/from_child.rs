//! The child side: lines from the child's stdout, parsed and matched to what is in flight.
//!
//! A response goes back to the command that asked, with its original id restored; the
//! answer to a replayed `initialize` releases the commands held meanwhile; a server→client
//! `ping` is answered here. What the child sends on its own is routed by [`super::routing`].

use std::time::Instant;

use serde_json::value::RawValue;

use crate::classify::TunnelFailure;
use crate::engine::Terminal;
use crate::ndjson::Frame;
use crate::wire::jsonrpc::{JsonRpcMessage, MessageShape};

use super::json_edit;
use super::output::json_headers;
use super::{raw, tunnel_id, Child, MuxEvent, StdioMux};

/// Up to 80 characters of a line, for a log line, control characters escaped.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]);
    text.escape_debug().to_string()
}

impl StdioMux {
    pub(super) fn handle_frame(&mut self, now: Instant, frame: Frame) {
        let line = match frame {
            Frame::Oversized { len } => {
                self.events.push_back(MuxEvent::OversizedLine { len });
                return;
            }
            Frame::Line(line) => line,
        };
        let malformed = |error: &str| MuxEvent::MalformedLine {
            len: line.len(),
            error: error.to_string(),
            preview: preview(&line),
        };
        let text = match std::str::from_utf8(&line) {
            Ok(t) => t,
            Err(_) => return self.events.push_back(malformed("not UTF-8")),
        };
        if text.trim_start().starts_with('[') {
            match serde_json::from_str::<Vec<Box<RawValue>>>(text) {
                Ok(batch) => {
                    for m in batch {
                        self.handle_message(now, m, &line);
                    }
                }
                Err(_) => self.events.push_back(malformed("not valid JSON")),
            }
            return;
        }
        match raw(text.to_string()) {
            Some(m) => self.handle_message(now, m, &line),
            None => self.events.push_back(malformed("not valid JSON")),
        }
    }

    fn handle_message(&mut self, now: Instant, message: Box<RawValue>, line: &[u8]) {
        let msg = match JsonRpcMessage::from_raw(message) {
            Ok(m) => m,
            Err(e) => {
                return self.events.push_back(MuxEvent::MalformedLine {
                    len: line.len(),
                    error: e.to_string(),
                    preview: preview(line),
                })
            }
        };
        match msg.shape().clone() {
            MessageShape::Response { id } => self.on_response(now, &msg, &id),
            MessageShape::Notification { method } if method == "notifications/progress" => {
                self.on_progress(now, msg)
            }
            MessageShape::Notification { method } if method == "notifications/cancelled" => {
                self.on_child_cancel(now, msg)
            }
            MessageShape::Notification { .. } => self.unattributed(now, msg, None),
            MessageShape::Request { id, method } if method == "ping" => {
                self.write(
                    &format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, id.get()),
                    None,
                );
            }
            MessageShape::Request { id, .. } => self.unattributed(now, msg, Some(id)),
        }
    }

    fn on_response(&mut self, now: Instant, msg: &JsonRpcMessage, id: &RawValue) {
        let Some(tid) = tunnel_id(id.get()) else {
            return self.events.push_back(MuxEvent::UnknownResponse {
                id: preview(id.get().as_bytes()),
            });
        };
        let text = msg.raw().get();
        let has_result = matches!(json_edit::locate(text, &["result"]), Ok(Some(_)));
        if let Child::Replaying(rid, _) = self.child {
            if rid == tid {
                self.events.push_back(MuxEvent::ReplayFinished {
                    accepted: has_result,
                });
                if has_result {
                    if let Some(note) = self.initialized_record.clone() {
                        self.write(note.get(), None);
                    }
                }
                return self.release_held(now);
            }
        }
        if let Some(p) = self.pending.remove(&tid) {
            let restored = json_edit::replace(text, &["id"], p.orig_id.get())
                .ok()
                .flatten()
                .and_then(raw);
            let Some(json) = restored else {
                // The id was found once already; only a duplicate `id` member gets here.
                let failure = TunnelFailure::protocol_invalid_response();
                return self.finish(
                    p.cmd,
                    Terminal::Failure {
                        failure,
                        resp_code: failure.resp_code(),
                        headers: json_headers(),
                    },
                );
            };
            if has_result {
                if let Some(init) = p.initialize {
                    self.init_record = Some(init);
                }
            }
            return self.finish(
                p.cmd,
                Terminal::JsonRpc {
                    json,
                    status: 200,
                    headers: json_headers(),
                },
            );
        }
        if self.retired.remove(tid) {
            self.events
                .push_back(MuxEvent::LateMessageDiscarded { tunnel_id: tid });
        } else {
            self.events.push_back(MuxEvent::UnknownResponse {
                id: tid.to_string(),
            });
        }
    }

    /// The replay is over: forward the commands that waited for it, in arrival order.
    fn release_held(&mut self, now: Instant) {
        self.child = Child::Up;
        while let Some(h) = self.held.pop_front() {
            self.owned.remove(&h.cmd);
            if h.expires <= now {
                self.finish(
                    h.cmd,
                    Terminal::Abandon {
                        reason: "response deadline passed while the child was re-initialised",
                    },
                );
            } else {
                self.dispatch(now, h.cmd, h.message, h.deadline, h.expires);
            }
        }
    }
}
