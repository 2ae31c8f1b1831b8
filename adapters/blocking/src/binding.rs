//! The extension point for MCP transports.
//!
//! A binding receives [`McpWork`] for its channel and reports what happens through an
//! [`McpSink`]. Streamable HTTP is implemented in `mcp_http`; stdio channels are not
//! bindings: the engine runs their commands itself and `stdio` only performs its process
//! actions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use http::HeaderMap;
use tunnel_core::classify::TransportError;
use tunnel_core::engine::{CommandId, McpOutput, McpWork};

use bytes::Bytes;
use tunnel_core::engine::{Input, McpEvent};

use crate::driver::ToDriver;

/// Runs MCP work for one channel.
pub trait McpBinding: Send + Sync {
    /// Starts `work` without blocking the caller (the driver thread); reports through `sink`.
    fn start(&self, work: McpWork, sink: McpSink);
    /// The engine no longer wants `cmd` (deadline, drain timeout, or it already has the
    /// terminal). Its sink is already cancelled; a binding that keeps per-command state
    /// hears it here. Must not block.
    fn cancel(&self, _cmd: CommandId) {}
    /// Interrupts everything in flight: the runtime is stopping.
    fn shutdown(&self) {}
}

/// Where a binding reports the progress of one command. Every report is dropped once the
/// command was cancelled (deadline, drain timeout, or the engine already has its terminal),
/// so a binding cannot produce output for a command that is over.
#[derive(Clone)]
pub struct McpSink {
    cmd: CommandId,
    tx: Sender<ToDriver>,
    cancel: Arc<AtomicBool>,
}

impl McpSink {
    pub(crate) fn new(cmd: CommandId, tx: Sender<ToDriver>, cancel: Arc<AtomicBool>) -> McpSink {
        McpSink { cmd, tx, cancel }
    }

    /// The command this sink reports for.
    pub fn command(&self) -> CommandId {
        self.cmd
    }

    /// True once the engine no longer wants input for this command: stop reading.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    fn send(&self, event: McpEvent) -> bool {
        if self.is_cancelled() {
            return false;
        }
        let cmd = self.cmd;
        self.tx
            .send(ToDriver::Engine(Input::Mcp { cmd, event }))
            .is_ok()
    }

    /// The HTTP response head arrived. Returns false when the binding should stop.
    pub fn head(&self, status: u16, headers: HeaderMap) -> bool {
        self.send(McpEvent::Head { status, headers })
    }

    /// A body chunk arrived. Returns false when the binding should stop.
    pub fn body(&self, chunk: Vec<u8>) -> bool {
        self.send(McpEvent::Body(Bytes::from(chunk)))
    }

    /// A whole response at once (head, complete body, end): for small bodies whose length
    /// was known, so the driver wakes once. Returns false when the binding should stop.
    pub fn complete(&self, status: u16, headers: HeaderMap, body: Vec<u8>) -> bool {
        self.send(McpEvent::Response {
            status,
            headers,
            body: Bytes::from(body),
        })
    }

    /// The body ended.
    pub fn end(&self) {
        self.send(McpEvent::End);
    }

    /// The exchange failed at the transport level.
    pub fn error(&self, error: TransportError) {
        self.send(McpEvent::Error(error));
    }

    /// A framed output (stdio, in-process, or an outcome decided by the adapter).
    pub fn output(&self, output: McpOutput) -> bool {
        self.send(McpEvent::Output(output))
    }
}
