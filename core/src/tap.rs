//! An adapter-side window on the engine's boundary, for recording traces.
//!
//! Everything the engine exchanges with the world crosses one boundary: the [`Action`]s it
//! asks for and the [`Input`]s it is given (`Engine::handle`). An engine given a [`Tap`]
//! (`Engine::set_tap`) shows it each of them, in order, with the instant it happened, so
//! a recorded trace comes from one place whatever drives the engine. `tunnel-conformance`
//! implements a tap that writes a redacted conformance trace (`tunnel-client run
//! --record-trace FILE`); a trace recorded at this boundary is exactly what the replay
//! runner feeds back into the engine. Below the engine, a driver shows the tap the bytes a
//! stdio child reads and writes (`Observed::Stdio*`).

use std::time::Instant;

use crate::channel::ChannelName;
use crate::engine::{Action, Input};

/// One thing that crossed the engine boundary.
#[derive(Debug)]
pub enum Observed<'a> {
    /// The engine asked for this; shown before the adapter performs it.
    Action(&'a Action),
    /// An input the engine was given (a poll's at the instant its head arrived).
    Input(&'a Input),
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
    StdioExited { channel: &'a ChannelName },
}

/// Receives what crosses the engine boundary, on the driver (the `Stdio*` observations: on
/// the thread or task serving that channel). It must be quick (buffer and write; never wait
/// on the network): the caller waits for it.
pub trait Tap: Send + Sync {
    fn observe(&self, at: Instant, what: Observed<'_>);
    /// The adapter is stopping: write out whatever is buffered.
    fn finish(&self) {}
}
