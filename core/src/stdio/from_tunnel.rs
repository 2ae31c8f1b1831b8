//! The tunnel side: a command's JSON-RPC message on its way to the child.
//!
//! Requests get a fresh tunnel id (and progress token) before they are written; a
//! connector's `notifications/cancelled` and its answers to server→client requests are
//! rewritten to the ids the child knows. Commands that arrive while `initialize` is being
//! replayed wait here until the replay is over.

use std::time::Instant;

use serde_json::value::RawValue;

use crate::classify::TransportError;
use crate::engine::{CommandId, Terminal};
use crate::wire::jsonrpc::{ids_equal, JsonRpcMessage, MessageShape};
use crate::wire::response::RespHeaders;

use super::give_up::Retire;
use super::json_edit;
use super::{raw, tunnel_id, Child, Held, MuxEvent, Owned, Pending, StdioMux};

impl StdioMux {
    /// A command's JSON-RPC message for this child (`McpOp::Send`). `deadline` is the
    /// command's; without one the TTL bounds a request.
    pub fn handle_submit(
        &mut self,
        now: Instant,
        cmd: CommandId,
        message: Box<RawValue>,
        deadline: Option<Instant>,
    ) {
        if self.owned.contains_key(&cmd) {
            return;
        }
        let ttl_end = now.checked_add(self.cfg.ttl).unwrap_or(now);
        let expires = deadline.map_or(ttl_end, |d| d.min(ttl_end));
        match self.child {
            Child::Down => match JsonRpcMessage::from_raw(message) {
                Ok(m) if matches!(m.shape(), MessageShape::Response { .. }) => self.finish(
                    cmd,
                    Terminal::Ack {
                        status: 410,
                        headers: RespHeaders::new(),
                    },
                ),
                _ => self.fail(cmd, TransportError::ClosedPipe),
            },
            Child::Replaying(..) => {
                self.owned.insert(cmd, Owned::Held);
                self.held.push_back(Held {
                    cmd,
                    message,
                    deadline,
                    expires,
                });
            }
            Child::Up => self.dispatch(now, cmd, message, deadline, expires),
        }
    }

    pub(super) fn dispatch(
        &mut self,
        now: Instant,
        cmd: CommandId,
        message: Box<RawValue>,
        deadline: Option<Instant>,
        expires: Instant,
    ) {
        let msg = match JsonRpcMessage::from_raw(message) {
            Ok(m) => m,
            Err(e) => return self.refuse(cmd, e.to_string()),
        };
        match msg.shape().clone() {
            MessageShape::Request { id, method } => {
                self.forward_request(cmd, msg, id, &method, deadline, expires)
            }
            MessageShape::Notification { method } if method == "notifications/cancelled" => {
                self.forward_cancel(now, cmd, msg)
            }
            MessageShape::Notification { method } => {
                if method == "notifications/initialized" {
                    self.initialized_record = Some(msg.raw().to_owned());
                }
                self.write(msg.raw().get(), Some(cmd));
            }
            MessageShape::Response { id } => self.forward_client_response(cmd, msg, &id),
        }
    }

    fn forward_request(
        &mut self,
        cmd: CommandId,
        msg: JsonRpcMessage,
        orig_id: Box<RawValue>,
        method: &str,
        deadline: Option<Instant>,
        expires: Instant,
    ) {
        let text = msg.raw().get();
        let tid = self.fresh_id();
        let tid_text = tid.to_string();
        const TOKEN: &[&str] = &["params", "_meta", "progressToken"];
        let spans = json_edit::locate(text, &["id"])
            .and_then(|id| Ok((id, json_edit::locate(text, TOKEN)?)));
        let (id_span, token_span) = match spans {
            Ok((Some(id), token)) => (id, token),
            Ok((None, _)) => return self.refuse(cmd, "request without an id member".into()),
            Err(e) => return self.refuse(cmd, format!("request could not be remapped: {e}")),
        };
        let orig_token = token_span
            .clone()
            .and_then(|r| text.get(r))
            .and_then(|t| raw(t.to_string()));
        let mut edits = vec![(id_span, tid_text.as_str())];
        if let Some(r) = token_span.filter(|_| orig_token.is_some()) {
            edits.push((r, tid_text.as_str()));
        }
        let Some(line) = json_edit::splice(text, &edits) else {
            return self.refuse(cmd, "request could not be remapped".into());
        };
        self.pending.insert(
            tid,
            Pending {
                cmd,
                orig_id,
                orig_token,
                initialize: (method == "initialize").then(|| msg.raw().to_owned()),
                expires,
                by_deadline: deadline.is_some_and(|d| d <= expires),
            },
        );
        self.owned.insert(cmd, Owned::Request(tid));
        self.write(&line, None);
    }

    /// A connector cancels one of its requests: forward it under the tunnel id when exactly
    /// one in-flight request has that original id, and retire that request.
    fn forward_cancel(&mut self, now: Instant, cmd: CommandId, msg: JsonRpcMessage) {
        let text = msg.raw().get();
        const REQ: &[&str] = &["params", "requestId"];
        let target = json_edit::get(text, REQ)
            .ok()
            .flatten()
            .and_then(|t| raw(t.to_string()));
        let matches: Vec<u64> = match &target {
            Some(t) => self
                .pending
                .iter()
                .filter(|(_, p)| ids_equal(&p.orig_id, t))
                .map(|(id, _)| *id)
                .collect(),
            None => Vec::new(),
        };
        let rewritten = match matches.as_slice() {
            [tid] => json_edit::replace(text, REQ, &tid.to_string())
                .ok()
                .flatten()
                .map(|line| (*tid, line)),
            _ => None,
        };
        match rewritten {
            Some((tid, line)) => {
                self.write(&line, Some(cmd));
                self.retire(now, tid, Retire::ConnectorCancel);
            }
            None => {
                self.events.push_back(MuxEvent::CancelNotForwarded {
                    cmd,
                    matches: matches.len(),
                });
                self.finish(
                    cmd,
                    Terminal::Ack {
                        status: 200,
                        headers: RespHeaders::new(),
                    },
                );
            }
        }
    }

    /// A connector answers a server→client request: write it under the child's own id.
    fn forward_client_response(&mut self, cmd: CommandId, msg: JsonRpcMessage, id: &RawValue) {
        let back = tunnel_id(id.get())
            .and_then(|tid| self.server_requests.take(tid))
            .and_then(|req| {
                json_edit::replace(msg.raw().get(), &["id"], req.child_id.get())
                    .ok()
                    .flatten()
            });
        match back {
            Some(line) => {
                self.write(&line, Some(cmd));
            }
            None => {
                self.events.push_back(MuxEvent::StaleServerResponse { cmd });
                self.finish(
                    cmd,
                    Terminal::Ack {
                        status: 410,
                        headers: RespHeaders::new(),
                    },
                );
            }
        }
    }
}
