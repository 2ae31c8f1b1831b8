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
}

/// Receives what crosses the engine boundary, on the driver. It must be quick (buffer and
/// write; never wait on the network): the driver waits for it.
pub trait Tap: Send + Sync {
    fn observe(&self, at: Instant, what: Observed<'_>);
    /// The adapter is stopping: write out whatever is buffered.
    fn finish(&self) {}
}
