//! The Codex `app-server` protocol, sans IO.
//!
//! `codex app-server` speaks JSON-RPC over stdio, one JSON object per line, with no
//! `"jsonrpc"` field and an extra top-level `emittedAtMs` on notifications (observed with
//! codex-cli 0.169.0). [`session::Session`] owns the conversation: the handshake, request
//! ids, timeouts, the account/thread/turn snapshot, and the answers owed to server→client
//! requests. [`turn::TurnTracker`] turns the notification stream of one `turn/start` into
//! what a terminal shows. The process adapter in `bin/` only moves lines.
//!
//! Deliberate differences from the Go bridge (each pinned by a test against recorded
//! traffic): the `initialize` result is read in camelCase; `error` notifications with
//! `willRetry:true` are progress, not failure; `interrupted` ends a turn; a message carrying
//! both `id` and `method` is a server request, answered and never matched to our own ids.

pub mod sandbox;
pub mod session;
pub mod turn;

#[cfg(test)]
mod tests;

pub use session::{Event, Notice, RpcError, Session, Snapshot};
pub use turn::{TurnStep, TurnTracker};
