//! The `harpoon` channel inside the engine: the core's Harpoon server answers each command
//! itself, and a `call_target`'s HTTP hops leave the engine as ordinary MCP requests
//! ([`McpOp::Fetch`]) that the adapter performs like any other (its own pool, TLS and
//! proxy; redirects never followed by the client). The call's deadline is an engine timer;
//! a hop's body is buffered here up to the call's limit + 1 bytes, then the exchange is
//! cancelled: an oversized answer is an error, never read to the end.
//!
//! The channel is routable, and advertised in `X-Tunnel-MCP-Server-Info`, exactly when the
//! registry holds a target and the poll-channel filter (if any) names `harpoon` (§1.12).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use http::HeaderMap;
use serde_json::Value;

use super::fetch_buf::Fed;
use super::{
    Action, BindingKind, CommandId, Engine, Event, McpEvent, McpOp, McpOutput, McpWork, Phase,
    Terminal, Timer,
};
use crate::channel::ChannelName;
use crate::harpoon::{guard, Call, Reply, Step};
use crate::wire::command::{CommandKind, PolledCommand};
use crate::wire::response::{RespHeaders, ResponsePayload};

/// The reserved channel name.
pub const HARPOON: &str = "harpoon";
/// How much later than the call's own deadline the adapter's bound of a hop ends: the
/// engine decides the timeout, the adapter's bound is only a backstop.
const BACKSTOP: Duration = Duration::from_secs(1);

/// A `call_target` in progress.
#[derive(Debug)]
pub(super) struct Running {
    call: Box<Call>,
    id: Value,
    started: Instant,
    head: Option<(u16, HeaderMap)>,
    body: Vec<u8>,
    /// The current hop's exchange is open (an adapter request is outstanding).
    open: bool,
}

fn json_headers() -> RespHeaders {
    let mut h = RespHeaders::new();
    h.insert(
        "Content-Type".to_string(),
        vec!["application/json".to_string()],
    );
    h
}

/// The host of `uri` when it is an IP literal.
fn ip_literal(uri: &http::Uri) -> Option<IpAddr> {
    let host = uri.host()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

impl Engine {
    /// The unix socket the `main` binding dials: targets OAuth discovery registers on the
    /// MCP server's origin use it too (§2.6).
    pub fn set_oauth_unix_socket(&mut self, path: Option<String>) {
        self.oauth_unix_socket = path;
    }

    /// Registers the hosts a discovery found (§1.14): the protected-resource metadata
    /// `found` and, when fetched, the authorization server's metadata. Each record is one
    /// [`Event::HarpoonHost`]; a URL already registered the same way is a no-op. The
    /// control-plane headers are rebuilt when the channel becomes routable.
    pub(super) fn register_discovered(
        &mut self,
        found: &crate::oauth::Found,
        auth: Option<&crate::oauth::auth_server::AsOutcome>,
    ) {
        use crate::harpoon::hostbus;
        let mcp = self.oauth_url.as_ref().map(ToString::to_string);
        let Some(server) = self.cfg.harpoon.as_mut() else {
            return;
        };
        let was_empty = server.registry.is_empty();
        let discovered = hostbus::Discovered {
            prmd: &found.body,
            source_url: Some(&found.url),
            mcp_url: mcp.as_deref(),
            unix_socket: self.oauth_unix_socket.as_deref(),
            auth_server: auth,
        };
        let registrations = match hostbus::bundle(&discovered) {
            Ok(records) => {
                hostbus::register(&mut server.registry, &server.settings.hosts, &records)
            }
            Err(e) => vec![hostbus::Registration {
                level: log::Level::Error,
                line: format!("OAuth discovery bundle build failed: {e}"),
                target: None,
            }],
        };
        let now_routable = was_empty && !server.registry.is_empty();
        for r in registrations {
            // Every discovery registers the same bundle again: a refusal already said
            // once (e.g. `https is required`) is repeated at debug level only.
            let level = if r.target.is_none() && !self.harpoon_said.insert(r.line.clone()) {
                log::Level::Debug
            } else {
                r.level
            };
            self.events.push_back(Event::HarpoonHost {
                level,
                line: r.line,
                target: r.target.map(Box::new),
            });
        }
        if now_routable {
            // `X-Tunnel-MCP-Server-Info` now lists `harpoon`.
            if let Ok(req) = super::cp_request::RequestBuilder::new(&self.cfg) {
                self.req = req;
            }
        }
    }

    /// Whether `harpoon` commands are served (targets exist and the channel is polled).
    pub fn harpoon_routable(&self) -> bool {
        let polled = self
            .cfg
            .poll_channels
            .as_ref()
            .is_none_or(|a| a.iter().any(|c| c.as_str() == HARPOON));
        polled
            && self
                .cfg
                .harpoon
                .as_ref()
                .is_some_and(|s| !s.registry.is_empty())
    }

    /// Serves a command on the `harpoon` channel; false when the channel is not routable
    /// (the caller answers it with Go's 400).
    pub(super) fn start_harpoon(
        &mut self,
        now: Instant,
        id: CommandId,
        polled: &PolledCommand,
    ) -> bool {
        if polled.channel.as_str() != HARPOON || !self.harpoon_routable() {
            return false;
        }
        let Some(server) = self.cfg.harpoon.as_ref() else {
            return false;
        };
        let (rid, ch) = (&polled.request_id, &polled.channel);
        let reply = match &polled.kind {
            CommandKind::JsonRpc(msg) => server.handle(msg.raw()),
            // Harpoon has no sessions to terminate (Go: supportsSessionTermination=false).
            CommandKind::SessionTermination { .. } => {
                let p = ResponsePayload::session_termination(rid, ch, 405, RespHeaders::new());
                self.enqueue_terminal(id, p);
                return true;
            }
            // `oauth_discovery` is only honoured on `main`.
            CommandKind::OAuthDiscovery | CommandKind::Unknown { .. } => return false,
        };
        match reply {
            Reply::Ack => {
                let p = ResponsePayload::notify_ack(rid, ch, 200, RespHeaders::new());
                self.enqueue_terminal(id, p);
            }
            Reply::Response(json) => {
                if let Ok(p) = ResponsePayload::jsonrpc_response(rid, ch, json, 200, json_headers())
                {
                    self.enqueue_terminal(id, p);
                }
            }
            Reply::Refused { response, outcome } => {
                self.events.push_back(Event::HarpoonCall {
                    request_id: rid.clone(),
                    latency: Duration::ZERO,
                    outcome,
                });
                if let Ok(p) =
                    ResponsePayload::jsonrpc_response(rid, ch, response, 200, json_headers())
                {
                    self.enqueue_terminal(id, p);
                }
            }
            Reply::Call { id: rpc_id, call } => {
                let Some(cmd) = self.cmds.get_mut(&id) else {
                    return true;
                };
                cmd.phase = Phase::Running { exchange: None };
                self.running += 1;
                let end = now + call.timeout();
                self.set_timer(end, Timer::Harpoon(id));
                self.harpoon_calls.insert(
                    id,
                    Running {
                        call,
                        id: rpc_id,
                        started: now,
                        head: None,
                        body: Vec::new(),
                        open: false,
                    },
                );
                self.advance_harpoon(now, id);
            }
        }
        true
    }

    /// Runs the call to its next hop (queued as `StartMcp`) or its outcome.
    fn advance_harpoon(&mut self, now: Instant, id: CommandId) {
        loop {
            let Some(r) = self.harpoon_calls.get_mut(&id) else {
                return;
            };
            match r.call.poll() {
                None => return,
                Some(Step::Request(hop)) => {
                    // An IP literal is checked here, with the guard's own words; names are
                    // checked by the adapter's resolver, on the addresses it connects to.
                    if let Some(ip) = ip_literal(&hop.uri) {
                        if let Err(why) = guard::check(ip, hop.allow_link_local) {
                            r.call.handle_refused(guard::refusal_text(ip, why));
                            continue;
                        }
                    }
                    r.head = None;
                    r.body.clear();
                    r.open = true;
                    let end = r.started + r.call.timeout();
                    let Some(cmd) = self.cmds.get(&id) else {
                        return;
                    };
                    self.actions.push_back(Action::StartMcp(McpWork {
                        cmd: id,
                        request_id: cmd.request_id.clone(),
                        channel: cmd.channel.clone(),
                        kind: BindingKind::Http,
                        deadline: Some(end + BACKSTOP),
                        unix_socket: hop.unix_socket,
                        op: McpOp::Fetch {
                            method: hop.method,
                            uri: hop.uri,
                            headers: hop.headers,
                            body: hop.body,
                        },
                    }));
                    return;
                }
                Some(Step::Done(outcome)) => {
                    let Some(r) = self.harpoon_calls.remove(&id) else {
                        return;
                    };
                    self.clear_timer(Timer::Harpoon(id));
                    let server = self.cfg.harpoon.as_ref();
                    let Some(json) = server.map(|s| s.call_result(&r.id, &outcome)) else {
                        return;
                    };
                    let request_id = self
                        .cmds
                        .get(&id)
                        .map(|c| c.request_id.clone())
                        .unwrap_or_default();
                    self.events.push_back(Event::HarpoonCall {
                        request_id,
                        latency: now.saturating_duration_since(r.started),
                        outcome,
                    });
                    let out = McpOutput::Terminal(Terminal::JsonRpc {
                        json,
                        status: 200,
                        headers: json_headers(),
                    });
                    self.handle_mcp_output(now, id, out);
                    return;
                }
            }
        }
    }

    /// An MCP event for a command running a Harpoon call; gives it back otherwise.
    pub(super) fn harpoon_event(
        &mut self,
        now: Instant,
        id: CommandId,
        event: McpEvent,
    ) -> Option<McpEvent> {
        let Some(r) = self.harpoon_calls.get_mut(&id) else {
            return Some(event);
        };
        if !r.open {
            return None; // a late report of a hop already ended
        }
        let cap = r.call.max_response_bytes().saturating_add(1);
        let head_seen = r.head.is_some();
        match super::fetch_buf::feed(&mut r.head, &mut r.body, event, cap) {
            Fed::More => {}
            Fed::Failed(e) => {
                r.call.handle_error(e, head_seen);
                self.end_hop(now, id);
            }
            Fed::Done(head) => {
                match head {
                    Some((status, headers)) => r.call.handle_response(status, &headers, &r.body),
                    None => r
                        .call
                        .handle_error(crate::classify::TransportError::Eof, false),
                }
                self.end_hop(now, id);
            }
        }
        None
    }

    /// The call's deadline passed.
    pub(super) fn on_harpoon_timeout(&mut self, now: Instant, id: CommandId) {
        if let Some(r) = self.harpoon_calls.get_mut(&id) {
            let head_seen = r.head.is_some();
            r.call.handle_timeout(head_seen);
            self.end_hop(now, id);
        }
    }

    /// A hop is over: its exchange is closed and the next hop (or the outcome) follows.
    fn end_hop(&mut self, now: Instant, id: CommandId) {
        if let Some(r) = self.harpoon_calls.get_mut(&id) {
            if r.open {
                r.open = false;
                self.actions.push_back(Action::CancelMcp { cmd: id });
            }
        }
        self.advance_harpoon(now, id);
        self.drive(now);
    }
}

/// The server-info entry of the `harpoon` channel (in-memory: process affinity).
pub(super) fn server_info_channel() -> crate::headers::ServerInfoChannel {
    crate::headers::ServerInfoChannel {
        name: ChannelName::from_wire(Some(HARPOON)).unwrap_or_else(|_| ChannelName::main()),
        proc_affinity: true,
    }
}
