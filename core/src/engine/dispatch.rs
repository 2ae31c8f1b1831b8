//! Starting queued commands on their channel's binding, and turning what the MCP side
//! produced into responses to post.
//!
//! Routing is strict: a command for a channel without a binding is answered with a 400 and
//! never falls back to `main` (sending it to the wrong server could leak it).

use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::value::RawValue;

use super::{
    Action, BindingKind, CommandId, Engine, Event, McpOp, McpOutput, McpWork, Outgoing, Phase,
    Terminal,
};
use crate::classify::{synthesize_error, Source, TransportError};
use crate::headers::forward_request_headers;
use crate::mcp_http::{Expect, HttpExchange};
use crate::wire::command::{CommandKind, PolledCommand};
use crate::wire::jsonrpc::MessageShape;
use crate::wire::response::{RespHeaders, ResponsePayload};

fn json_headers() -> RespHeaders {
    let mut h = RespHeaders::new();
    h.insert(
        "Content-Type".to_string(),
        vec!["application/json".to_string()],
    );
    h
}

/// The JSON-RPC error for a command on a channel this client does not serve.
fn unsupported_channel_error(id: Option<&RawValue>, channel: &str) -> Box<RawValue> {
    let message = format!(
        "Bad Request: unsupported channel {}",
        serde_json::Value::String(channel.to_string())
    );
    let mut v =
        serde_json::json!({"jsonrpc": "2.0", "error": {"code": -32603, "message": message}});
    if let (Some(id), Some(obj)) = (id, v.as_object_mut()) {
        if let Ok(idv) = serde_json::from_str::<serde_json::Value>(id.get()) {
            obj.insert("id".to_string(), idv);
        }
    }
    // ok: a serde_json::Value always serialises to valid JSON.
    RawValue::from_string(v.to_string()).unwrap_or_else(|_| empty_object())
}

fn empty_object() -> Box<RawValue> {
    // ok: a literal valid JSON object.
    RawValue::from_string("{}".to_string()).expect("literal JSON") // ok: a literal object
}

impl Engine {
    /// Starts queued commands while worker slots are free.
    pub(super) fn dispatch_queued(&mut self, now: Instant) {
        while self.running < self.cfg.max_concurrent.max(1) {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            self.start(now, id);
        }
    }

    pub(super) fn binding_kind(
        &self,
        channel: &crate::channel::ChannelName,
    ) -> Option<BindingKind> {
        let allowed = self
            .cfg
            .poll_channels
            .as_ref()
            .is_none_or(|a| a.contains(channel));
        if !allowed {
            return None;
        }
        self.cfg
            .bindings
            .iter()
            .find(|b| &b.channel == channel)
            .map(|b| b.kind)
    }

    fn start(&mut self, now: Instant, id: CommandId) {
        let Some(cmd) = self.cmds.get_mut(&id) else {
            return;
        };
        if cmd.deadline.is_some_and(|d| d <= now) {
            let (request_id, channel) = (cmd.request_id.clone(), cmd.channel.clone());
            self.remove_cmd(id);
            self.events.push_back(Event::DeadlineExpired {
                request_id,
                channel,
                stage: "queued",
            });
            return;
        }
        let Phase::Queued(polled) = std::mem::replace(&mut cmd.phase, Phase::Posting) else {
            return;
        };
        let polled: PolledCommand = *polled;
        if self.start_harpoon(now, id, &polled) {
            return;
        }
        let kind = self.binding_kind(&polled.channel);
        let channel = polled.channel.clone();
        let Some(kind) = kind else {
            self.reject_channel(id, &polled);
            return;
        };
        let binding_extra = self
            .cfg
            .bindings
            .iter()
            .find(|b| b.channel == channel)
            .map(|b| b.extra_headers.clone())
            .unwrap_or_default();
        let deadline = self.cmds.get(&id).and_then(|c| c.deadline);
        let (op, exchange) = match polled.kind {
            CommandKind::JsonRpc(msg) => {
                let expects_response = matches!(msg.shape(), MessageShape::Request { .. });
                let expect = match msg.shape() {
                    MessageShape::Request { id, .. } => Expect::Response { id: id.clone() },
                    _ => Expect::Ack,
                };
                let headers = forward_request_headers(&polled.headers, &binding_extra);
                (
                    McpOp::Send {
                        message: msg.into_raw(),
                        headers,
                        expects_response,
                    },
                    Some(HttpExchange::new(expect)),
                )
            }
            CommandKind::SessionTermination { session_id } => {
                if kind != BindingKind::Http {
                    let p = ResponsePayload::session_termination(
                        &polled.request_id,
                        &channel,
                        405,
                        RespHeaders::new(),
                    );
                    self.enqueue_terminal(id, p);
                    return;
                }
                let mut headers = forward_request_headers(&polled.headers, &binding_extra);
                headers.remove(http::header::ACCEPT);
                headers.remove(http::header::CONTENT_TYPE);
                (
                    McpOp::TerminateSession {
                        session_id,
                        headers,
                    },
                    Some(HttpExchange::new(Expect::SessionTermination)),
                )
            }
            CommandKind::OAuthDiscovery => {
                if kind != BindingKind::Http || channel.as_str() != "main" {
                    self.reject_channel(
                        id,
                        &PolledCommand {
                            kind: CommandKind::OAuthDiscovery,
                            ..polled
                        },
                    );
                    return;
                }
                // Discovery requests identify the client like the Go one.
                let mut headers = HeaderMap::new();
                let ua = format!("oai-tunnel-client/{}", self.cfg.client_version);
                if let Ok(v) = http::HeaderValue::from_str(&ua) {
                    headers.insert(http::header::USER_AGENT, v);
                }
                let static_headers = crate::headers::discovery_static_headers(
                    &binding_extra,
                    &self.cfg.discovery_extra_headers,
                );
                // The engine runs the discovery; each of its steps is a `Fetch`.
                let Some(cmd) = self.cmds.get_mut(&id) else {
                    return;
                };
                cmd.phase = Phase::Running { exchange: None };
                self.running += 1;
                self.start_discovery(now, id, headers, static_headers);
                return;
            }
            CommandKind::Unknown { .. } => {
                self.remove_cmd(id);
                return;
            }
        };
        let Some(cmd) = self.cmds.get_mut(&id) else {
            return;
        };
        cmd.phase = Phase::Running {
            exchange: exchange.filter(|_| kind == BindingKind::Http).map(Box::new),
        };
        self.running += 1;
        self.actions.push_back(Action::StartMcp(McpWork {
            cmd: id,
            request_id: cmd.request_id.clone(),
            channel,
            kind,
            deadline,
            op,
            unix_socket: None,
        }));
    }

    fn reject_channel(&mut self, id: CommandId, polled: &PolledCommand) {
        let ch = &polled.channel;
        self.events.push_back(Event::ChannelRejected {
            request_id: polled.request_id.clone(),
            channel: ch.clone(),
            command_type: polled.kind.command_type().to_string(),
        });
        let rid = &polled.request_id;
        let payload = match &polled.kind {
            CommandKind::JsonRpc(msg) => match msg.shape() {
                MessageShape::Notification { .. } | MessageShape::Response { .. } => {
                    ResponsePayload::notify_ack(rid, ch, 400, RespHeaders::new())
                }
                MessageShape::Request { id: rpc_id, .. } => {
                    let json = unsupported_channel_error(Some(rpc_id), ch.as_str());
                    match ResponsePayload::jsonrpc_response(rid, ch, json, 400, json_headers()) {
                        Ok(p) => p,
                        Err(_) => return,
                    }
                }
            },
            CommandKind::SessionTermination { .. } => {
                ResponsePayload::session_termination(rid, ch, 400, RespHeaders::new())
            }
            CommandKind::OAuthDiscovery => {
                let body = serde_json::json!({"error": {
                    "message": format!("unsupported channel {}", serde_json::Value::String(ch.to_string())),
                    "type": "invalid_request_error",
                    "code": "unsupported_channel"}});
                let json =
                    RawValue::from_string(body.to_string()).unwrap_or_else(|_| empty_object());
                match ResponsePayload::oauth_discovery(rid, ch, json, 400, json_headers()) {
                    Ok(p) => p,
                    Err(_) => return,
                }
            }
            CommandKind::Unknown { .. } => return,
        };
        self.enqueue_terminal(id, payload);
    }

    /// Queues the terminal payload; the MCP side of the command is over.
    pub(super) fn enqueue_terminal(&mut self, id: CommandId, payload: ResponsePayload) {
        let Some(cmd) = self.cmds.get_mut(&id) else {
            return;
        };
        if matches!(cmd.phase, Phase::Running { .. }) {
            self.running = self.running.saturating_sub(1);
        }
        cmd.phase = Phase::Posting;
        cmd.outbox.push_back(Outgoing {
            body: Bytes::from(payload.to_body()),
            resp_type: payload.resp_type(),
            resp_code: payload.resp_code(),
        });
    }

    fn exchange_step(
        &mut self,
        now: Instant,
        id: CommandId,
        f: impl FnOnce(&mut HttpExchange, &mut Vec<McpOutput>),
    ) {
        self.expire_due(now);
        let mut out = Vec::new();
        match self.cmds.get_mut(&id) {
            Some(super::Cmd {
                phase: Phase::Running { exchange: Some(ex) },
                ..
            }) => f(ex, &mut out),
            _ => return,
        }
        for o in out {
            self.on_mcp_output(now, id, o);
        }
        self.drive(now);
    }

    /// The MCP HTTP response head for a command arrived.
    pub fn handle_mcp_head(
        &mut self,
        now: Instant,
        id: CommandId,
        status: u16,
        headers: &HeaderMap,
    ) {
        self.mark_binding(id, None);
        self.exchange_step(now, id, |ex, out| ex.head(status, headers, out));
    }

    /// A chunk of the MCP HTTP response body arrived.
    pub fn handle_mcp_body(&mut self, now: Instant, id: CommandId, chunk: &[u8]) {
        self.exchange_step(now, id, |ex, out| ex.body(chunk, out));
    }

    /// The MCP HTTP response body ended.
    pub fn handle_mcp_end(&mut self, now: Instant, id: CommandId) {
        self.exchange_step(now, id, |ex, out| ex.end(out));
    }

    /// The MCP HTTP exchange failed at the transport level.
    pub fn handle_mcp_error(&mut self, now: Instant, id: CommandId, error: TransportError) {
        self.exchange_step(now, id, |ex, out| ex.error(error, out));
    }

    /// Whether the command's MCP exchange is still running (false once terminal).
    pub(super) fn mcp_running(&self, id: CommandId) -> bool {
        matches!(
            self.cmds.get(&id),
            Some(super::Cmd {
                phase: Phase::Running { .. },
                ..
            })
        )
    }

    /// Reports an MCP step for bindings that do their own framing (stdio, in-process).
    pub fn handle_mcp_output(&mut self, now: Instant, id: CommandId, output: McpOutput) {
        self.expire_due(now);
        if !self.mcp_running(id) {
            return;
        }
        self.on_mcp_output(now, id, output);
        self.drive(now);
    }

    /// Records whether a channel's MCP target is reachable (readiness and the admin UI).
    pub fn set_binding_down(
        &mut self,
        channel: &crate::channel::ChannelName,
        down: Option<String>,
    ) {
        let changed = match &down {
            Some(r) => {
                self.binding_down
                    .insert(channel.clone(), r.clone())
                    .as_ref()
                    != Some(r)
            }
            None => self.binding_down.remove(channel).is_some(),
        };
        if changed {
            self.events.push_back(Event::BindingAvailability {
                channel: channel.clone(),
                down,
            });
        }
    }

    fn mark_binding(&mut self, id: CommandId, down: Option<String>) {
        if let Some(ch) = self.cmds.get(&id).map(|c| c.channel.clone()) {
            self.set_binding_down(&ch, down);
        }
    }

    fn on_mcp_output(&mut self, _now: Instant, id: CommandId, output: McpOutput) {
        let Some(cmd) = self.cmds.get_mut(&id) else {
            return;
        };
        let (rid, ch) = (cmd.request_id.clone(), cmd.channel.clone());
        match output {
            McpOutput::Notify(json) => {
                if cmd.notify_failed {
                    return;
                }
                let mut h = RespHeaders::new();
                h.insert(
                    "Content-Type".to_string(),
                    vec!["text/event-stream".to_string()],
                );
                if let Ok(p) = ResponsePayload::jsonrpc_notify(&rid, &ch, json, 200, h) {
                    cmd.outbox.push_back(Outgoing {
                        body: Bytes::from(p.to_body()),
                        resp_type: p.resp_type(),
                        resp_code: p.resp_code(),
                    });
                }
            }
            McpOutput::Terminal(t) => {
                // The exchange is over: the engine closes it (a server may keep an SSE
                // stream open after the response; a stdio request id is released).
                self.actions.push_back(Action::CancelMcp { cmd: id });
                let payload = match t {
                    Terminal::JsonRpc {
                        json,
                        status,
                        headers,
                    } => ResponsePayload::jsonrpc_response(&rid, &ch, json, status, headers).ok(),
                    Terminal::Ack { status, headers } => {
                        Some(ResponsePayload::notify_ack(&rid, &ch, status, headers))
                    }
                    Terminal::SessionTerminated { status, headers } => Some(
                        ResponsePayload::session_termination(&rid, &ch, status, headers),
                    ),
                    Terminal::OAuthDiscovery {
                        json,
                        status,
                        headers,
                    } => ResponsePayload::oauth_discovery(&rid, &ch, json, status, headers).ok(),
                    Terminal::Failure {
                        failure,
                        resp_code,
                        headers,
                    } => {
                        let body = synthesize_error(cmd.rpc_id.as_deref(), resp_code, &failure);
                        let method = cmd.method;
                        let no_reply_due =
                            matches!(cmd.request_kind, "notification" | "client_response");
                        if matches!(
                            failure.source(),
                            Source::Dns | Source::Tls | Source::Connect
                        ) {
                            let reason =
                                format!("MCP target unreachable ({})", failure.source().as_str());
                            self.set_binding_down(&ch, Some(reason));
                        }
                        self.events.push_back(Event::FailureSynthesized {
                            request_id: rid.clone(),
                            channel: ch.clone(),
                            failure,
                            resp_code,
                            method,
                        });
                        if no_reply_due {
                            // A notification (or a connector's response) has no id to answer
                            // with: the connector learns the outcome from the acknowledged
                            // status alone, as when the target itself answers 5xx (§3.5,
                            // §11.53). An id-less JSON-RPC error would be a reply to nothing.
                            Some(ResponsePayload::notify_ack(
                                &rid,
                                &ch,
                                resp_code,
                                RespHeaders::new(),
                            ))
                        } else {
                            RawValue::from_string(String::from_utf8_lossy(&body).into_owned())
                                .ok()
                                .and_then(|json| {
                                    ResponsePayload::jsonrpc_response(
                                        &rid, &ch, json, resp_code, headers,
                                    )
                                    .ok()
                                })
                        }
                    }
                    Terminal::Abandon { reason } => {
                        self.remove_cmd(id);
                        self.events.push_back(Event::Abandoned {
                            request_id: rid,
                            reason,
                        });
                        return;
                    }
                };
                match payload {
                    Some(p) => self.enqueue_terminal(id, p),
                    None => {
                        self.remove_cmd(id);
                        self.events.push_back(Event::Abandoned {
                            request_id: rid,
                            reason: "MCP output was not a JSON object",
                        });
                    }
                }
            }
        }
    }
}
