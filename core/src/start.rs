//! Why a runtime could not start: the same reasons, and the same words for the operator,
//! whichever adapter runs the engine.

use std::fmt;

use crate::channel::ChannelName;
use crate::engine::SetupError;
use crate::stdio::StdioCommandError;

/// Why the runtime could not start.
#[derive(Debug)]
pub enum StartError {
    /// The engine refused its configuration.
    Engine(SetupError),
    /// A stdio MCP server could not be started.
    StdioCommand {
        channel: ChannelName,
        /// `argv[0]` as configured.
        command: String,
        reason: StdioCommandError,
    },
    /// A binding kind this adapter cannot run.
    Unsupported(String),
    /// An HTTP binding without a target, a target without a binding, or a bad URL.
    Target(String),
    /// A CA bundle, client certificate or proxy setting could not be used.
    Tls(String),
    /// A thread could not be spawned (adapters that run threads).
    Spawn(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Engine(e) => write!(f, "invalid engine configuration: {e}"),
            StartError::StdioCommand {
                channel,
                command,
                reason,
            } => f.write_str(&reason.describe(channel, command)),
            StartError::Unsupported(m) | StartError::Target(m) | StartError::Tls(m) => {
                f.write_str(m)
            }
            StartError::Spawn(e) => write!(f, "could not start a thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<crate::trust::TrustError> for StartError {
    fn from(e: crate::trust::TrustError) -> StartError {
        StartError::Tls(e.to_string())
    }
}
