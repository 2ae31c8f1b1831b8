//! What MCP work produces, whatever the transport: messages to relay before the end, and
//! exactly one terminal outcome.

use serde_json::value::RawValue;

use crate::classify::TunnelFailure;
use crate::wire::response::RespHeaders;

/// One step of a command's MCP exchange.
#[derive(Debug, Clone)]
pub enum McpOutput {
    /// A notification or server→client request to relay as `jsonrpc_notify`, in stream order.
    Notify(Box<RawValue>),
    /// The end of the exchange.
    Terminal(Terminal),
}

/// How a command's MCP exchange ended.
#[derive(Debug, Clone)]
pub enum Terminal {
    /// The response to the forwarded request, verbatim (result or a JSON-RPC error).
    JsonRpc {
        json: Box<RawValue>,
        status: u16,
        headers: RespHeaders,
    },
    /// A notification (or client response) was delivered; the target's status.
    Ack { status: u16, headers: RespHeaders },
    /// A `session_termination` DELETE completed with this status.
    SessionTerminated { status: u16, headers: RespHeaders },
    /// OAuth protected-resource metadata was fetched.
    OAuthDiscovery {
        json: Box<RawValue>,
        status: u16,
        headers: RespHeaders,
    },
    /// The exchange failed: the engine synthesizes a `-32603` with provenance.
    Failure {
        failure: TunnelFailure,
        resp_code: u16,
        headers: RespHeaders,
    },
    /// Cancelled (shutdown, deadline) or otherwise not to be answered: nothing is posted.
    Abandon { reason: &'static str },
}
