//! Conformance traces: the format, redaction, recording, and the replay runners.
//!
//! - [`format`]: the JSON-lines trace format (independent of tunnel-core).
//! - [`redact`]: secrets become placeholders when a trace is written.
//! - [`record`]: a [`tunnel_core::tap::Tap`] that writes a redacted trace of a live session
//!   (`tunnel-client run --record-trace FILE`).
//! - [`core_replay`]: replays a trace against the engine under virtual time.
//! - [`live`]: replays a trace against a running adapter through the control-plane emulator
//!   and a scripted MCP server ([`mcp_script`]) or stdio child ([`stdio_child`]).
//! - [`stdio_script`]: stdio lines (what a child receives and sends) and their matcher.
//! - [`check`]: compares what a replay saw with the trace and reports the first divergence.
//!
//! The emulator itself stays independent of tunnel-core; only these replay and recording
//! modules use the client's types, because they drive the client.

pub mod check;
pub mod core_replay;
pub mod core_stdio;
pub mod engine;
pub mod format;
pub mod live;
pub mod mcp_script;
pub mod record;
mod record_stdio;
pub mod recorded;
pub mod redact;
pub mod stdio_child;
pub mod stdio_script;

pub use check::{check, Divergence, Observations, Seen, StdioSeen, Subst};
pub use core_replay::replay_core;
pub use format::{suite_dir, trace_files, Trace};
