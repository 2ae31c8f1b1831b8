//! Scripted faults: one-shot misbehaviours queued per endpoint and consumed, in order, by the
//! next requests that reach that endpoint (before authentication or validation, so a fault
//! always fires on the request a test expects it on).

use std::time::Duration;

use serde_json::json;

/// Which control-plane endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Poll,
    Response,
    Metadata,
    /// The tunnel management routes (`/v1/tunnels`, and `/v1/tunnels/{id}` with the admin
    /// key or a method other than GET).
    Admin,
}

/// One misbehaviour of the control plane.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with `status`, an optional `Retry-After` value (sent verbatim, so malformed
    /// values can be tested) and a body (default: a contract `APIErrorResponse` whose code
    /// suits the status).
    Status {
        status: u16,
        retry_after: Option<String>,
        body: Option<String>,
    },
    /// Sleep, then handle the request normally.
    Delay(Duration),
    /// Answer `status` with this exact body and `Content-Type` (malformed envelopes).
    RawBody {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// Close the connection without writing any response.
    Drop,
    /// `/response` only: validate and record the post as usual, then close the connection
    /// without answering (the client cannot know it landed; a retry gets 404).
    DropAfterAccept,
    /// Poll only: hand out every deliverable command (up to 100), ignoring `limit`.
    IgnoreLimit,
    /// Poll only: wait this long for commands instead of the requested `timeout_ms`.
    PollWait(Duration),
    /// Poll only: send the status line and headers of a 200 with a `Content-Length`, then
    /// only the first `sent` bytes of the body, then close (a body cut mid-transfer).
    TruncatedTransfer { sent: usize },
    /// Wait `delay`, then answer exactly this: status, headers (sent verbatim) and body
    /// (trace replays).
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay: Duration,
    },
}

impl Fault {
    /// `status` with the default error body.
    pub fn status(status: u16) -> Self {
        Fault::Status {
            status,
            retry_after: None,
            body: None,
        }
    }

    /// `status` with a `Retry-After` header.
    pub fn status_retry_after(status: u16, retry_after: &str) -> Self {
        Fault::Status {
            status,
            retry_after: Some(retry_after.to_string()),
            body: None,
        }
    }

    /// 200 with a JSON body cut short: `{"commands":`.
    pub fn truncated_envelope() -> Self {
        Self::raw(200, "application/json", "{\"commands\":")
    }

    /// 200 whose body is not JSON at all.
    pub fn not_json() -> Self {
        Self::raw(200, "application/json", "<html>bad gateway</html>")
    }

    /// 200 whose body is JSON of the wrong shape.
    pub fn wrong_shape() -> Self {
        Self::raw(
            200,
            "application/json",
            "{\"commands\":{\"request_id\":\"x\"}}",
        )
    }

    /// 200 with an empty body.
    pub fn empty_body() -> Self {
        Self::raw(200, "application/json", "")
    }

    pub fn raw(status: u16, content_type: &str, body: &str) -> Self {
        Fault::RawBody {
            status,
            content_type: content_type.to_string(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// Short description for the request log.
    pub(crate) fn describe(&self) -> String {
        match self {
            Fault::Status { status, .. } => format!("status {status}"),
            Fault::Delay(d) => format!("delay {d:?}"),
            Fault::RawBody { status, .. } => format!("raw body ({status})"),
            Fault::Drop => "drop".into(),
            Fault::DropAfterAccept => "drop after accept".into(),
            Fault::IgnoreLimit => "ignore limit".into(),
            Fault::PollWait(d) => format!("poll wait {d:?}"),
            Fault::TruncatedTransfer { sent } => format!("truncated transfer after {sent} bytes"),
            Fault::Reply { status, .. } => format!("scripted reply ({status})"),
        }
    }
}

/// A contract `APIErrorResponse` body.
pub(crate) fn api_error(message: &str, kind: &str, code: Option<&str>) -> serde_json::Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// The error body a status gets when a fault does not give one.
pub(crate) fn default_error_body(status: u16) -> serde_json::Value {
    let (msg, kind, code) = match status {
        400 => ("bad request", "invalid_request_error", None),
        401 => (
            "tunnel use forbidden",
            "invalid_request_error",
            Some("tunnel_use_forbidden"),
        ),
        403 => (
            "tunnel use forbidden",
            "invalid_request_error",
            Some("tunnel_use_forbidden"),
        ),
        404 => (
            "pending request not found",
            "invalid_request_error",
            Some("pending_request_not_found"),
        ),
        408 => ("request timeout", "server_error", None),
        413 => (
            "request body too large",
            "invalid_request_error",
            Some("request_body_too_large"),
        ),
        429 => (
            "rate limit exceeded",
            "rate_limit_error",
            Some("rate_limit_exceeded"),
        ),
        503 => (
            "tunnel transport unavailable",
            "server_error",
            Some("tunnel_transport_unavailable"),
        ),
        _ => ("emulated failure", "server_error", None),
    };
    api_error(msg, kind, code)
}
