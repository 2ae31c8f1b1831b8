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

// The state machine is one type, `StdioMux`, whose `impl` is spread over modules named after
// what each part does: `lifecycle` (child started/down/restarted, stdout bytes),
// `from_tunnel` (commands on their way to the child, ids remapped), `from_child` (lines
// parsed, responses matched), `routing` (what the child sends on its own), `give_up`
// (deadlines, TTL, cancellation) and `output` (the output and event queues). This file has
// the state itself and the read-only part of the API. Beside the mux, for the adapters:
// `command` (the channel's command, supervision options, start errors, the `PATH` search)
// and `supervision` (restart schedule, log lines, stderr cutting), shared so that both
// adapters behave and speak alike.
mod channel;
mod command;
mod config;
mod from_child;
mod from_tunnel;
mod give_up;
mod json_edit;
mod lifecycle;
mod output;
mod retired;
mod routing;
mod supervision;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use serde_json::value::RawValue;

use crate::engine::CommandId;
use crate::ndjson::LineFramer;

pub use channel::{
    ChildAction, ChildReport, StdioChannel, StdioOut, EOF_AFTER_EXIT, EXIT_CHECK, EXIT_GRACE,
};
pub use command::{find_program, StdioCommandError, StdioOptions, StdioTarget};
pub use config::MuxConfig;
pub use json_edit::EditError;
pub use output::{MuxEvent, MuxOutput, RestartReason, WriteTicket};
use retired::{Retired, ServerRequests};
pub use supervision::{
    describe_exit, spawn_failed_readiness, ChildGone, EventLog, RestartSchedule, StderrLines,
    MAX_STDERR_LINE,
};

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

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}
