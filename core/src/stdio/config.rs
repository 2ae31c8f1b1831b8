//! [`MuxConfig`]: the bounds and timeouts the adapter chooses for a multiplexer. Kept out of
//! the state machine's modules because the adapter reads it without touching the rest.

use std::time::Duration;

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
