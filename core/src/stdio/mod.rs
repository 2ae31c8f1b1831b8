//! The stdio multiplexer: many tunnel commands in flight on one MCP child process.
//!
//! The Go client serialises a stdio channel (one request at a time) and forwards ids as they
//! are. We keep many requests in flight, so ids from different connector sessions could
//! collide on the child's single JSON-RPC connection. [`StdioMux`] therefore owns the id
//! space the child sees. It is sans-IO like the engine: the adapter feeds bytes, write
//! completions, child up/down and the time, and drains [`MuxOutput`]s and [`MuxEvent`]s.
//!
//! # Rules (each has a test named after it)
//!
//! - **Id remapping.** Every forwarded request gets a fresh tunnel id (a decimal counter,
//!   never reused during the mux's life, across child restarts too). The child's response is
//!   matched by that id and handed back with the command's original id spliced in byte for
//!   byte; nothing else in either message is touched. A `params._meta.progressToken` is
//!   rewritten the same way (to the tunnel id), because tokens from different sessions
//!   collide just like ids, and restored in the child's `notifications/progress`.
//! - **Retired ids.** A request given up while the child may still answer it (deadline,
//!   connection TTL, cancellation) is *retired*: the child gets `notifications/cancelled`,
//!   the owner gets `Terminal::Abandon` when it cannot know by itself (TTL, a connector's
//!   cancel; on its deadline or its own cancel the engine has already ended the command),
//!   and the id goes into a bounded set (default 1024, oldest evicted). A late response for it is discarded. Because ids are never reused, a late
//!   response can never be mistaken for another command's, even after eviction (it is then
//!   reported as an unknown response).
//! - **Routing what the child sends on its own.** Notifications and server→client requests
//!   are relayed as `Notify` to the command they belong to:
//!   1. `notifications/progress`: by `params.progressToken` (our rewritten token);
//!   2. `notifications/cancelled`: by `params.requestId`, when it names a server→client
//!      request we relayed (it goes to the command that received that request);
//!   3. anything else (logging, list_changed, sampling, elicitation, roots, …) carries no
//!      hint on stdio. It goes to the single command awaiting a response, if there is exactly
//!      one **and** no request was retired in the last [`MuxConfig::retired_quiet`] (a
//!      given-up request may still be talking; delivering its sampling request to another
//!      session would leak it). Otherwise it is dropped and reported
//!      ([`MuxEvent::Unroutable`]); a dropped server→client *request* is answered with a
//!      JSON-RPC error so the child does not wait for an answer that will never come.
//! - **Server→client `ping`** is answered by the mux itself (`{}`): the tunnel is the
//!   client on this link.
//! - **Server→client requests** relayed to a connector get a tunnel id too; the connector's
//!   answer (a `jsonrpc` command shaped as a response) is written back under the child's own
//!   id, then acknowledged (`notify_ack` 200). An answer whose request is gone (answered,
//!   evicted, or asked by a child that has since been restarted) is not written: `notify_ack`
//!   410.
//! - **Notifications from the tunnel** are acknowledged (`Terminal::Ack { status: 200 }`)
//!   once written. A connector's `notifications/cancelled` is rewritten to the tunnel id of
//!   the one in-flight request with that original id (and that request is retired); when no
//!   request or several match, it is not forwarded (it would cancel someone else's request),
//!   and still acknowledged.
//! - **Child down** (exit, stdout EOF, broken stdin): every command the mux holds gets a
//!   `transport_closed` failure (`upstream_response_received: false`); while the child is
//!   down new commands fail the same way at once. Retired ids and relayed server requests of
//!   the dead child are forgotten.
//! - **Fail-closed `initialize`.** An `initialize` that is given up unanswered leaves the
//!   child half-initialised: the mux asks for a restart ([`MuxOutput::Restart`]), which fails
//!   the other in-flight commands (`transport_closed`/`connection_aborted`).
//! - **Initialize replay.** A restarted child has forgotten the handshake the connectors
//!   made, and stdio has no session id to tell them so. With
//!   [`MuxConfig::replay_initialize`] the mux replays the last `initialize` that succeeded
//!   (under a tunnel id, its answer swallowed) and, once answered, the last
//!   `notifications/initialized`; commands arriving meanwhile wait (within their deadlines).
//!   A replay unanswered within [`MuxConfig::replay_timeout`] restarts the child again.
//! - **Framing.** Newline-delimited JSON with a per-line bound ([`crate::ndjson`]); a line
//!   that is not a JSON-RPC message (or a batch of them) or is over the bound is dropped and
//!   reported, and the stream goes on. Outgoing messages are written on one line: a raw CR or
//!   LF in valid JSON can only be insignificant whitespace, so it is replaced by a space.

mod json_edit;
mod retired;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use crate::classify::{TransportError, TunnelFailure};
use crate::engine::{CommandId, McpOutput, Terminal};
use crate::ndjson::{Frame, LineFramer};
use crate::wire::jsonrpc::{ids_equal, method_label, JsonRpcMessage, MessageShape};
use crate::wire::response::RespHeaders;

pub use json_edit::EditError;
use retired::{Retired, ServerRequest, ServerRequests};

/// Multiplexer settings. `Default` matches the blocking adapter's defaults.
#[derive(Debug, Clone)]
pub struct MuxConfig {
    /// Longest line accepted from the child (bytes, without the newline).
    pub max_line_bytes: usize,
    /// Retired ids remembered (the Go client's bound).
    pub max_retired: usize,
    /// Server→client requests awaiting a connector's answer.
    pub max_server_requests: usize,
    /// Bound on a request whose command has no deadline (`--mcp.connection-max-ttl`).
    pub ttl: Duration,
    /// How long a retired request counts as possibly still talking, for routing messages
    /// that carry no hint (see the module docs).
    pub retired_quiet: Duration,
    /// Replay the last successful `initialize` into a restarted child.
    pub replay_initialize: bool,
    /// How long a replayed `initialize` may take before the child is restarted again.
    pub replay_timeout: Duration,
}

impl Default for MuxConfig {
    fn default() -> Self {
        MuxConfig {
            max_line_bytes: crate::mcp_http::MAX_JSON_BODY,
            max_retired: 1024,
            max_server_requests: 1024,
            ttl: Duration::from_secs(600),
            retired_quiet: Duration::from_secs(10),
            replay_initialize: true,
            replay_timeout: Duration::from_secs(30),
        }
    }
}

/// Identifies one write to the child's stdin; report it with [`StdioMux::handle_written`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WriteTicket(pub u64);

/// Why the mux wants the child restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// A forwarded `initialize` was given up unanswered (fail-closed).
    InitializeTimedOut,
    /// The replayed `initialize` was not answered within the replay timeout.
    ReplayTimedOut,
}

impl fmt::Display for RestartReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestartReason::InitializeTimedOut => {
                "an initialize request went unanswered; restarting the child (fail-closed)"
            }
            RestartReason::ReplayTimedOut => {
                "the child did not answer the replayed initialize in time"
            }
        })
    }
}

/// Something for the adapter to do.
#[derive(Debug)]
pub enum MuxOutput {
    /// Write these bytes (one line, `\n` included) to the child's stdin, in order; report
    /// success with [`StdioMux::handle_written`] and failure with
    /// [`StdioMux::handle_child_down`].
    Write { ticket: WriteTicket, line: Vec<u8> },
    /// Report this step to the command's engine input (`Engine::handle_mcp_output`).
    Deliver { cmd: CommandId, output: McpOutput },
    /// Kill the child and start a new one. The mux already failed what it held; report the
    /// new child with [`StdioMux::handle_child_started`].
    Restart { reason: RestartReason },
}

/// Things worth logging or counting. None of them carries message content except
/// `MalformedLine::preview` (the start of a line that was not JSON, usually a stray log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuxEvent {
    /// The child went away; `failed` commands got a `transport_closed` failure.
    ChildDown { generation: u64, failed: usize },
    /// A line that is not a JSON-RPC message was dropped.
    MalformedLine {
        len: usize,
        error: String,
        preview: String,
    },
    /// A line over [`MuxConfig::max_line_bytes`] was dropped.
    OversizedLine { len: usize },
    /// A response (or progress) for a retired request was discarded.
    LateMessageDiscarded { tunnel_id: u64 },
    /// A response whose id the mux never issued (or evicted) was dropped.
    UnknownResponse { id: String },
    /// A message from the child could not be attributed to one command and was dropped.
    Unroutable {
        method: &'static str,
        request: bool,
        in_flight: usize,
        recently_retired: usize,
    },
    /// A request was given up.
    Retired {
        cmd: CommandId,
        tunnel_id: u64,
        reason: &'static str,
    },
    /// A connector's `notifications/cancelled` matched `matches` in-flight requests (not
    /// exactly one) and was not forwarded.
    CancelNotForwarded { cmd: CommandId, matches: usize },
    /// A connector answered a server→client request that is no longer pending.
    StaleServerResponse { cmd: CommandId },
    /// A connector message could not be forwarded (e.g. a duplicate `id` member).
    Refused { cmd: CommandId, reason: String },
    /// The last successful `initialize` is being replayed into a restarted child.
    ReplayStarted { generation: u64 },
    /// The replayed `initialize` was answered (`accepted`: with a result, not an error).
    ReplayFinished { accepted: bool },
}

/// What a forwarded request waits for.
#[derive(Debug)]
struct Pending {
    cmd: CommandId,
    /// The connector's id, raw, to splice back into the response.
    orig_id: Box<RawValue>,
    /// The connector's progress token, raw, when it was rewritten.
    orig_token: Option<Box<RawValue>>,
    /// The original message when it is an `initialize` (recorded for replay on success).
    initialize: Option<Box<RawValue>>,
    expires: Instant,
    /// Whether `expires` is the command's deadline (else the TTL).
    by_deadline: bool,
}

/// A command waiting for an initialize replay to finish.
#[derive(Debug)]
struct Held {
    cmd: CommandId,
    message: Box<RawValue>,
    deadline: Option<Instant>,
    expires: Instant,
}

/// Why a written request is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retire {
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

/// What the mux holds for a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owned {
    Request(u64),
    Ack(WriteTicket),
    Held,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Down,
    Up,
    /// Replaying `initialize` under this tunnel id until the instant.
    Replaying(u64, Instant),
}

/// The multiplexer for one stdio channel. See the module docs.
#[derive(Debug)]
pub struct StdioMux {
    cfg: MuxConfig,
    framer: LineFramer,
    generation: u64,
    child: Child,
    next_id: u64,
    next_ticket: u64,
    pending: BTreeMap<u64, Pending>,
    owned: BTreeMap<CommandId, Owned>,
    acks: BTreeMap<WriteTicket, CommandId>,
    held: VecDeque<Held>,
    retired: Retired,
    server_requests: ServerRequests,
    init_record: Option<Box<RawValue>>,
    initialized_record: Option<Box<RawValue>>,
    out: VecDeque<MuxOutput>,
    events: VecDeque<MuxEvent>,
}

fn json_headers() -> RespHeaders {
    let mut h = RespHeaders::new();
    h.insert(
        "Content-Type".to_string(),
        vec!["application/json".to_string()],
    );
    h
}

fn raw(text: String) -> Option<Box<RawValue>> {
    RawValue::from_string(text).ok()
}

/// The tunnel id a raw JSON id denotes, if it is one of ours (a plain decimal integer).
fn tunnel_id(raw_id: &str) -> Option<u64> {
    let t = raw_id.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Up to 80 characters of a line, for a log line, control characters escaped.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]);
    text.escape_debug().to_string()
}

impl StdioMux {
    /// A mux with no child yet: report one with [`StdioMux::handle_child_started`].
    pub fn new(cfg: MuxConfig) -> Self {
        StdioMux {
            framer: LineFramer::new(cfg.max_line_bytes),
            generation: 0,
            child: Child::Down,
            next_id: 1,
            next_ticket: 1,
            pending: BTreeMap::new(),
            owned: BTreeMap::new(),
            acks: BTreeMap::new(),
            held: VecDeque::new(),
            retired: Retired::new(cfg.max_retired),
            server_requests: ServerRequests::new(cfg.max_server_requests),
            init_record: None,
            initialized_record: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            cfg,
        }
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<MuxOutput> {
        self.out.pop_front()
    }

    /// The next thing to log or count.
    pub fn poll_event(&mut self) -> Option<MuxEvent> {
        self.events.pop_front()
    }

    /// When [`StdioMux::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending = self.pending.values().map(|p| p.expires);
        let held = self.held.iter().map(|h| h.expires);
        let replay = match self.child {
            Child::Replaying(_, until) => Some(until),
            _ => None,
        };
        pending.chain(held).chain(replay).min()
    }

    /// Children started so far (1 for the first).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether a child is running (possibly still replaying `initialize`).
    pub fn is_up(&self) -> bool {
        self.child != Child::Down
    }

    /// Commands the mux currently holds (awaiting a response, a write or a replay).
    pub fn in_flight(&self) -> usize {
        self.owned.len()
    }

    /// Requests written and awaiting a response.
    pub fn awaiting_response(&self) -> usize {
        self.pending.len()
    }

    /// Retired ids remembered.
    pub fn retired(&self) -> usize {
        self.retired.len()
    }

    fn deliver(&mut self, cmd: CommandId, output: McpOutput) {
        self.out.push_back(MuxOutput::Deliver { cmd, output });
    }

    fn finish(&mut self, cmd: CommandId, terminal: Terminal) {
        self.owned.remove(&cmd);
        self.deliver(cmd, McpOutput::Terminal(terminal));
    }

    fn fail(&mut self, cmd: CommandId, error: TransportError) {
        let failure =
            TunnelFailure::from_transport(error).unwrap_or(TunnelFailure::client_internal());
        self.finish(
            cmd,
            Terminal::Failure {
                failure,
                resp_code: failure.resp_code(),
                headers: json_headers(),
            },
        );
    }

    fn refuse(&mut self, cmd: CommandId, reason: String) {
        self.events.push_back(MuxEvent::Refused { cmd, reason });
        let failure = TunnelFailure::client_internal();
        self.finish(
            cmd,
            Terminal::Failure {
                failure,
                resp_code: failure.resp_code(),
                headers: json_headers(),
            },
        );
    }

    /// Queues one message for the child's stdin, on one line.
    fn write(&mut self, text: &str, ack: Option<CommandId>) -> WriteTicket {
        let ticket = WriteTicket(self.next_ticket);
        self.next_ticket += 1;
        let mut line: Vec<u8> = text
            .trim()
            .bytes()
            .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b })
            .collect();
        line.push(b'\n');
        if let Some(cmd) = ack {
            self.acks.insert(ticket, cmd);
            self.owned.insert(cmd, Owned::Ack(ticket));
        }
        self.out.push_back(MuxOutput::Write { ticket, line });
        ticket
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    // ---- the child's lifecycle -------------------------------------------------------

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

    fn restart(&mut self, now: Instant, reason: RestartReason) {
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

    /// A write was completed: notifications and client responses are acknowledged.
    pub fn handle_written(&mut self, _now: Instant, ticket: WriteTicket) {
        if let Some(cmd) = self.acks.remove(&ticket) {
            self.finish(
                cmd,
                Terminal::Ack {
                    status: 200,
                    headers: RespHeaders::new(),
                },
            );
        }
    }

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
    fn retire(&mut self, now: Instant, id: u64, why: Retire) {
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

    // ---- the tunnel side ---------------------------------------------------------------

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

    fn dispatch(
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

    /// The engine no longer wants this command (deadline, drain timeout): retire its
    /// request, or forget its pending write or hold.
    pub fn handle_cancel(&mut self, now: Instant, cmd: CommandId) {
        match self.owned.get(&cmd).copied() {
            Some(Owned::Request(tid)) => self.retire(now, tid, Retire::Cancelled),
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

    // ---- the child side ----------------------------------------------------------------

    fn handle_frame(&mut self, now: Instant, frame: Frame) {
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

    fn on_progress(&mut self, now: Instant, msg: JsonRpcMessage) {
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
    fn on_child_cancel(&mut self, now: Instant, msg: JsonRpcMessage) {
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
    fn unattributed(
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
