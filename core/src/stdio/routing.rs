//! Routing what the child sends on its own (progress, cancellations, logging, sampling, …)
//! to the one command it belongs to, or dropping it when that is not certain.
//!
//! Delivering a message to the wrong connector session would leak it, so the rules (see the
//! module docs of [`super`]) prefer dropping and reporting; a dropped server→client request
//! is answered with an error so the child does not wait for it.

use std::time::Instant;

use serde_json::value::RawValue;

use crate::engine::McpOutput;
use crate::wire::jsonrpc::{method_label, JsonRpcMessage};

use super::json_edit;
use super::retired::ServerRequest;
use super::{raw, tunnel_id, MuxEvent, StdioMux};

impl StdioMux {
    pub(super) fn on_progress(&mut self, now: Instant, msg: JsonRpcMessage) {
        const TOKEN: &[&str] = &["params", "progressToken"];
        let text = msg.raw().get();
        let tid = json_edit::get(text, TOKEN)
            .ok()
            .flatten()
            .and_then(tunnel_id);
        if let Some(tid) = tid {
            if let Some(p) = self.pending.get(&tid) {
                if let Some(orig) = &p.orig_token {
                    let cmd = p.cmd;
                    let restored = json_edit::replace(text, TOKEN, orig.get())
                        .ok()
                        .flatten()
                        .and_then(raw);
                    if let Some(json) = restored {
                        self.deliver(cmd, McpOutput::Notify(json));
                    }
                    return;
                }
            }
            if self.retired.contains(tid) {
                return self
                    .events
                    .push_back(MuxEvent::LateMessageDiscarded { tunnel_id: tid });
            }
        }
        self.unattributed(now, msg, None)
    }

    /// The child cancels one of its own requests that we relayed: tell the same command.
    pub(super) fn on_child_cancel(&mut self, now: Instant, msg: JsonRpcMessage) {
        const REQ: &[&str] = &["params", "requestId"];
        let text = msg.raw().get();
        let child_id = json_edit::get(text, REQ)
            .ok()
            .flatten()
            .and_then(|t| raw(t.to_string()));
        let relayed = child_id.and_then(|c| self.server_requests.find_child_id(&c));
        if let Some(tid) = relayed {
            let cmd = self.server_requests.get(tid).map(|r| r.cmd);
            let json = json_edit::replace(text, REQ, &tid.to_string())
                .ok()
                .flatten()
                .and_then(raw);
            if let (Some(cmd), Some(json)) = (cmd, json) {
                if self.owned.contains_key(&cmd) {
                    self.server_requests.take(tid);
                    return self.deliver(cmd, McpOutput::Notify(json));
                }
            }
        }
        self.unattributed(now, msg, None)
    }

    /// A message with no routing hint: to the single request awaiting a response, if that
    /// is unambiguous (see the module docs); otherwise dropped, and a request is refused.
    pub(super) fn unattributed(
        &mut self,
        now: Instant,
        msg: JsonRpcMessage,
        request_id: Option<Box<RawValue>>,
    ) {
        let recently_retired = self.retired.recent(now, self.cfg.retired_quiet);
        let owner = match (
            self.pending.values().next(),
            self.pending.len(),
            recently_retired,
        ) {
            (Some(p), 1, 0) => Some(p.cmd),
            _ => None,
        };
        let text = msg.raw().get();
        match (owner, request_id) {
            (Some(cmd), None) => self.deliver(cmd, McpOutput::Notify(msg.into_raw())),
            (Some(cmd), Some(child_id)) => {
                let tid = self.fresh_id();
                match json_edit::replace(text, &["id"], &tid.to_string())
                    .ok()
                    .flatten()
                    .and_then(raw)
                {
                    Some(json) => {
                        self.server_requests
                            .insert(tid, ServerRequest { child_id, cmd });
                        self.deliver(cmd, McpOutput::Notify(json));
                    }
                    None => self.refuse_server_request(&child_id),
                }
            }
            (None, request_id) => {
                self.events.push_back(MuxEvent::Unroutable {
                    method: msg.method().map(method_label).unwrap_or("other"),
                    request: request_id.is_some(),
                    in_flight: self.pending.len(),
                    recently_retired,
                });
                if let Some(child_id) = request_id {
                    self.refuse_server_request(&child_id);
                }
            }
        }
    }

    /// Answers a server→client request the tunnel cannot relay, so the child stops waiting.
    fn refuse_server_request(&mut self, child_id: &RawValue) {
        let reply = format!(
            r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32603,"message":"tunnel-client: this request cannot be relayed to a single connector request"}}}}"#,
            child_id.get()
        );
        self.write(&reply, None);
    }
}
