//! An adapter-side window on the engine's boundary, for recording traces.
//!
//! Everything the engine exchanges with the world passes through the adapter's driver: the
//! [`Action`]s it performs and the inputs it feeds back. A driver given a [`Tap`] shows it
//! each of them, in order, with the instant it happened. `tunnel-conformance` implements a
//! tap that writes a redacted conformance trace (`tunnel-client run --record-trace FILE`);
//! a trace recorded at this boundary is exactly what the replay runner feeds back into the
//! engine. The core itself never calls a tap: it stays free of I/O.

use std::time::Instant;

use http::HeaderMap;

use crate::channel::ChannelName;
use crate::classify::TransportError;
use crate::engine::{Action, CommandId, HttpResponse, McpOutput, PollId, PostError, PostId};

/// One thing that crossed the engine boundary.
#[derive(Debug)]
pub enum Observed<'a> {
    /// The engine asked for this; shown before the adapter performs it.
    Action(&'a Action),
    /// A poll finished (`at` is when its head arrived).
    PollResult {
        id: PollId,
        result: &'a Result<HttpResponse, TransportError>,
    },
    PostResult {
        id: PostId,
        result: &'a Result<HttpResponse, PostError>,
    },
    MetadataResult {
        result: &'a Result<HttpResponse, TransportError>,
    },
    McpHead {
        cmd: CommandId,
        status: u16,
        headers: &'a HeaderMap,
    },
    McpBody {
        cmd: CommandId,
        chunk: &'a [u8],
    },
    McpEnd {
        cmd: CommandId,
    },
    McpError {
        cmd: CommandId,
        error: TransportError,
    },
    /// A stdio or in-process binding's framed output.
    McpOutput {
        cmd: CommandId,
        output: &'a McpOutput,
    },
    /// A graceful drain began.
    Drain,
    /// A line written to a stdio child's stdin (newline included), below the engine: the
    /// stdio multiplexer's side, so a trace can script the child.
    StdioWritten {
        channel: &'a ChannelName,
        line: &'a [u8],
    },
    /// Bytes read from a stdio child's stdout.
    StdioRead {
        channel: &'a ChannelName,
        bytes: &'a [u8],
    },
    /// A stdio child went away (exited, closed stdout, or was stopped for a restart).
    StdioExited {
        channel: &'a ChannelName,
    },
}

/// Receives what crosses the engine boundary, on the driver (the `Stdio*` observations: on
/// the thread or task serving that channel). It must be quick (buffer and write; never wait
/// on the network): the caller waits for it.
pub trait Tap: Send + Sync {
    fn observe(&self, at: Instant, what: Observed<'_>);
    /// The adapter is stopping: write out whatever is buffered.
    fn finish(&self) {}
}
