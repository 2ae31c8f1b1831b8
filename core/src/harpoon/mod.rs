//! Harpoon: the embedded MCP server on the reserved `harpoon` channel that acts as a
//! constrained outbound HTTP client (`go-harpoon-oauth-security.md` §1).
//!
//! Everything here is policy and protocol, sans-IO: the registry of targets (addressed by
//! label, allowlisted by exact URL), the `call_target` validation order, the redirect
//! policy decided hop by hop before the next request exists, outbound header filtering,
//! size and time limits, `harpoon://<label>` rewriting and the MCP tool server itself. The
//! engine runs a call's HTTP hops as ordinary MCP requests (`McpOp::Fetch`) that the
//! adapters perform; no adapter knows what Harpoon is.

pub mod b64;
pub mod call;
pub mod guard;
pub mod hostbus;
pub mod hosts;
pub mod outbound;
pub mod registry;
pub mod rewrite;
pub mod server;
pub mod suffix;
pub mod url;

pub use call::{Call, CallError, HopRequest, Outcome, Step};
pub use registry::{Registry, RegistryError, Target, TargetSpec};
pub use server::{Reply, Server};

/// Default and hard maximum of `max_response_bytes` (100 KiB).
pub const MAX_RESPONSE_BYTES: u32 = 102_400;
/// Default and hard maximum of `max_redirects`.
pub const MAX_REDIRECTS: u32 = 5;

/// Harpoon's limits and identity.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--harpoon.max-response-bytes` (≤0 means the default).
    pub max_response_bytes: u32,
    /// `--harpoon.max-redirects`. As in Go, 0 here means the default (5): only a caller's
    /// own `max_redirects: 0` forbids redirects.
    pub max_redirects: u32,
    /// Goes into `User-Agent: oai-tunnel-client/<version>` and `serverInfo.version`.
    pub client_version: String,
    /// The full client's tool set (adds `get_oauth_target_audience`).
    pub full: bool,
    /// `--harpoon.hosts-include-*`: which hosts found by OAuth discovery are registered.
    pub hosts: hosts::HostRules,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_response_bytes: MAX_RESPONSE_BYTES,
            max_redirects: MAX_REDIRECTS,
            client_version: env!("CARGO_PKG_VERSION").to_string(),
            full: true,
            hosts: hosts::HostRules::default(),
        }
    }
}

impl Settings {
    /// The effective response (and request body) cap.
    pub fn max_response_bytes(&self) -> u32 {
        match self.max_response_bytes {
            0 => MAX_RESPONSE_BYTES,
            n => n.min(MAX_RESPONSE_BYTES),
        }
    }

    /// The effective redirect cap (Go quirk: a configured 0 means 5).
    pub fn max_redirects(&self) -> u32 {
        match self.max_redirects {
            0 => MAX_REDIRECTS,
            n => n.min(MAX_REDIRECTS),
        }
    }
}
