//! What the multiplexer hands back to the adapter, and the queues that carry it.
//!
//! [`MuxOutput`] (writes, deliveries, restarts) and [`MuxEvent`] (things to log or count) are
//! the mux's only outputs; every other module reaches them through the helpers here, so
//! how a command ends (`finish`, `fail`, `refuse`) and how a line is written (`write`, its
//! ack on [`StdioMux::handle_written`]) are decided in one place.

use std::fmt;
use std::time::Instant;

use crate::classify::{TransportError, TunnelFailure};
use crate::engine::{CommandId, McpOutput, Terminal};
use crate::wire::response::RespHeaders;

use super::{Owned, StdioMux};

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
    /// A line over [`MuxConfig::max_line_bytes`](super::MuxConfig::max_line_bytes) was dropped.
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

pub(super) fn json_headers() -> RespHeaders {
    let mut h = RespHeaders::new();
    h.insert(
        "Content-Type".to_string(),
        vec!["application/json".to_string()],
    );
    h
}

impl StdioMux {
    pub(super) fn deliver(&mut self, cmd: CommandId, output: McpOutput) {
        self.out.push_back(MuxOutput::Deliver { cmd, output });
    }

    pub(super) fn finish(&mut self, cmd: CommandId, terminal: Terminal) {
        self.owned.remove(&cmd);
        self.deliver(cmd, McpOutput::Terminal(terminal));
    }

    pub(super) fn fail(&mut self, cmd: CommandId, error: TransportError) {
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

    pub(super) fn refuse(&mut self, cmd: CommandId, reason: String) {
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
    pub(super) fn write(&mut self, text: &str, ack: Option<CommandId>) -> WriteTicket {
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
}
