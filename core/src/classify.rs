//! Failure classification and the synthesized `-32603` error.
//!
//! When the tunnel cannot obtain a JSON-RPC answer from the MCP server it still owes the
//! control plane a response, so it synthesizes a JSON-RPC error whose `data.tunnel_failure`
//! says *where* it failed (`source`) and, optionally, *how* (`transport_error_kind`). The
//! connector uses this to tell "your server returned 401" from "your DNS is broken" without
//! the tunnel ever forwarding raw error text, URLs, bodies or tokens.
//!
//! The published contract (openapi `x-tunnel-failure-schema`) constrains combinations:
//! `target_http` requires a received upstream status in 400..=599, an `upstream_status` is
//! only allowed with `target_http`, and `transport_closed` never has one. [`TunnelFailure`]
//! can only be built through constructors that respect those rules, so an invalid
//! combination cannot reach the wire.
//!
//! Classification itself happens in two places: adapters map OS/library errors to a
//! [`TransportError`] (they know the platform), and the core maps that — or what it observed
//! about the target's response — to `source`/`transport_error_kind` here.

use std::fmt;

use serde_json::value::RawValue;

/// The JSON-RPC error code of every synthesized failure ("Internal error").
pub const SYNTHESIZED_ERROR_CODE: i32 = -32603;

/// The `resp_code` of every failure that has no target status of its own.
///
/// Timeouts use 502 too, not 504: the reference client does, and the connector keys on
/// `source: timeout` rather than on the status.
pub const GATEWAY_FAILURE_STATUS: u16 = 502;

/// Where a failure happened (`tunnel_failure.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The target answered with an HTTP error status and no usable JSON-RPC error.
    TargetHttp,
    /// The target's host name did not resolve.
    Dns,
    /// The TLS handshake with the target failed.
    Tls,
    /// No connection could be established (refused, unreachable, other dial failures).
    Connect,
    /// An established connection or pipe closed before the answer was complete.
    TransportClosed,
    /// The target did not answer in time.
    Timeout,
    /// The target answered, but not with a valid answer to our request.
    Protocol,
    /// Anything else: a failure inside the client itself.
    ClientInternal,
}

impl Source {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::TargetHttp => "target_http",
            Source::Dns => "dns",
            Source::Tls => "tls",
            Source::Connect => "connect",
            Source::TransportClosed => "transport_closed",
            Source::Timeout => "timeout",
            Source::Protocol => "protocol",
            Source::ClientInternal => "client_internal",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a failure happened (`tunnel_failure.transport_error_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportErrorKind {
    ClosedPipe,
    ConnectionAborted,
    ConnectionClosed,
    ConnectionRefused,
    ConnectionReset,
    Dial,
    Dns,
    Eof,
    HostUnreachable,
    HttpStatus,
    InvalidMcpError,
    InvalidProtocolResponse,
    MalformedJson,
    NetworkUnreachable,
    NonProtocolResponse,
    ResponseBodyMissing,
    ResponseBodyTooLarge,
    ResponseBodyUnreadable,
    Timeout,
    Tls,
    UnexpectedEof,
    Unknown,
}

impl TransportErrorKind {
    /// Every kind, in the contract's order.
    pub const ALL: [TransportErrorKind; 22] = [
        TransportErrorKind::ClosedPipe,
        TransportErrorKind::ConnectionAborted,
        TransportErrorKind::ConnectionClosed,
        TransportErrorKind::ConnectionRefused,
        TransportErrorKind::ConnectionReset,
        TransportErrorKind::Dial,
        TransportErrorKind::Dns,
        TransportErrorKind::Eof,
        TransportErrorKind::HostUnreachable,
        TransportErrorKind::HttpStatus,
        TransportErrorKind::InvalidMcpError,
        TransportErrorKind::InvalidProtocolResponse,
        TransportErrorKind::MalformedJson,
        TransportErrorKind::NetworkUnreachable,
        TransportErrorKind::NonProtocolResponse,
        TransportErrorKind::ResponseBodyMissing,
        TransportErrorKind::ResponseBodyTooLarge,
        TransportErrorKind::ResponseBodyUnreadable,
        TransportErrorKind::Timeout,
        TransportErrorKind::Tls,
        TransportErrorKind::UnexpectedEof,
        TransportErrorKind::Unknown,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportErrorKind::ClosedPipe => "closed_pipe",
            TransportErrorKind::ConnectionAborted => "connection_aborted",
            TransportErrorKind::ConnectionClosed => "connection_closed",
            TransportErrorKind::ConnectionRefused => "connection_refused",
            TransportErrorKind::ConnectionReset => "connection_reset",
            TransportErrorKind::Dial => "dial",
            TransportErrorKind::Dns => "dns",
            TransportErrorKind::Eof => "eof",
            TransportErrorKind::HostUnreachable => "host_unreachable",
            TransportErrorKind::HttpStatus => "http_status",
            TransportErrorKind::InvalidMcpError => "invalid_mcp_error",
            TransportErrorKind::InvalidProtocolResponse => "invalid_protocol_response",
            TransportErrorKind::MalformedJson => "malformed_json",
            TransportErrorKind::NetworkUnreachable => "network_unreachable",
            TransportErrorKind::NonProtocolResponse => "non_protocol_response",
            TransportErrorKind::ResponseBodyMissing => "response_body_missing",
            TransportErrorKind::ResponseBodyTooLarge => "response_body_too_large",
            TransportErrorKind::ResponseBodyUnreadable => "response_body_unreadable",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Tls => "tls",
            TransportErrorKind::UnexpectedEof => "unexpected_eof",
            TransportErrorKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport-level failure as the adapter observed it. Adapters translate their
/// platform's errors into this; the core decides what it means on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportError {
    /// Name resolution failed (`getaddrinfo` error, NXDOMAIN, resolver timeout).
    Dns,
    /// TLS handshake or certificate failure (unknown issuer, name mismatch, expired
    /// certificate, bad record, alert received).
    Tls,
    /// `ECONNREFUSED` / `WSAECONNREFUSED`: nothing listens on the port.
    ConnectionRefused,
    /// `ENETUNREACH` / `WSAENETUNREACH`: no route to the network.
    NetworkUnreachable,
    /// `EHOSTUNREACH` / `WSAEHOSTUNREACH`: no route to the host.
    HostUnreachable,
    /// Any other failure while establishing the connection (proxy CONNECT refused,
    /// `EADDRNOTAVAIL`, unix socket missing).
    Dial,
    /// A connect, read or write timeout (`ETIMEDOUT`, `io::ErrorKind::TimedOut`,
    /// `WouldBlock` from a socket with a timeout set).
    Timeout,
    /// `ECONNRESET` / `WSAECONNRESET`: the peer reset the connection.
    ConnectionReset,
    /// `ECONNABORTED` / `WSAECONNABORTED`: the connection was aborted locally.
    ConnectionAborted,
    /// The connection was closed by the HTTP client or pool (e.g. a pooled connection the
    /// server had already closed), with no more specific OS error.
    ConnectionClosed,
    /// `EPIPE` / `ERROR_BROKEN_PIPE` / `ERROR_NO_DATA`: writing to a closed socket or to a
    /// stdio child's closed stdin.
    ClosedPipe,
    /// Clean end of stream where more was expected (a stdio child's stdout closed, an HTTP
    /// body ended before the answer).
    Eof,
    /// End of stream in the middle of a message (`io::ErrorKind::UnexpectedEof`, a body
    /// shorter than its `Content-Length`, a chunked body cut mid-chunk).
    UnexpectedEof,
    /// The work was cancelled locally (shutdown, response deadline, connection TTL). Never
    /// posted: a cancelled command produces no response at all.
    Canceled,
    /// Anything unrecognised.
    Other,
}

impl TransportError {
    /// Every variant, for tables and tests that must cover them all.
    pub const ALL: [TransportError; 15] = [
        TransportError::Dns,
        TransportError::Tls,
        TransportError::ConnectionRefused,
        TransportError::NetworkUnreachable,
        TransportError::HostUnreachable,
        TransportError::Dial,
        TransportError::Timeout,
        TransportError::ConnectionReset,
        TransportError::ConnectionAborted,
        TransportError::ConnectionClosed,
        TransportError::ClosedPipe,
        TransportError::Eof,
        TransportError::UnexpectedEof,
        TransportError::Canceled,
        TransportError::Other,
    ];
}

/// Why a target's HTTP error response could not be forwarded as a JSON-RPC error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonProtocolKind {
    /// The body was empty (or only whitespace).
    BodyMissing,
    /// Reading the body failed.
    BodyUnreadable,
    /// The body exceeded the inspection bound.
    BodyTooLarge,
    /// The body was not JSON.
    MalformedJson,
    /// The body was JSON but not a JSON-RPC error answering our request.
    InvalidMcpError,
}

impl NonProtocolKind {
    pub fn kind(self) -> TransportErrorKind {
        match self {
            NonProtocolKind::BodyMissing => TransportErrorKind::ResponseBodyMissing,
            NonProtocolKind::BodyUnreadable => TransportErrorKind::ResponseBodyUnreadable,
            NonProtocolKind::BodyTooLarge => TransportErrorKind::ResponseBodyTooLarge,
            NonProtocolKind::MalformedJson => TransportErrorKind::MalformedJson,
            NonProtocolKind::InvalidMcpError => TransportErrorKind::InvalidMcpError,
        }
    }
}

/// What was wrong with a target's HTTP error response, for [`TunnelFailure::target_http`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetHttpKind {
    /// The body was inspected and found unusable.
    NonProtocol(NonProtocolKind),
    /// Only the status is known (`http_status`).
    HttpStatus,
}

impl From<NonProtocolKind> for TargetHttpKind {
    fn from(kind: NonProtocolKind) -> Self {
        TargetHttpKind::NonProtocol(kind)
    }
}

/// A classified failure: the content of `data.tunnel_failure`.
///
/// Invariants (the contract's): `upstream_status` is `Some` iff `source` is
/// [`Source::TargetHttp`], and then it is in 400..=599.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelFailure {
    source: Source,
    kind: Option<TransportErrorKind>,
    upstream_status: Option<u16>,
}

impl TunnelFailure {
    const fn new(source: Source, kind: TransportErrorKind) -> Self {
        TunnelFailure {
            source,
            kind: Some(kind),
            upstream_status: None,
        }
    }

    /// Classifies a transport error. `None` for [`TransportError::Canceled`]: a cancelled
    /// command is not answered, so there is nothing to synthesize.
    pub fn from_transport(err: TransportError) -> Option<Self> {
        use TransportError as E;
        use TransportErrorKind as K;
        let (source, kind) = match err {
            E::Canceled => return None,
            E::Dns => (Source::Dns, K::Dns),
            E::Tls => (Source::Tls, K::Tls),
            E::ConnectionRefused => (Source::Connect, K::ConnectionRefused),
            E::NetworkUnreachable => (Source::Connect, K::NetworkUnreachable),
            E::HostUnreachable => (Source::Connect, K::HostUnreachable),
            E::Dial => (Source::Connect, K::Dial),
            E::Timeout => (Source::Timeout, K::Timeout),
            E::ConnectionReset => (Source::TransportClosed, K::ConnectionReset),
            E::ConnectionAborted => (Source::TransportClosed, K::ConnectionAborted),
            E::ConnectionClosed => (Source::TransportClosed, K::ConnectionClosed),
            E::ClosedPipe => (Source::TransportClosed, K::ClosedPipe),
            E::Eof => (Source::TransportClosed, K::Eof),
            E::UnexpectedEof => (Source::TransportClosed, K::UnexpectedEof),
            E::Other => (Source::ClientInternal, K::Unknown),
        };
        Some(TunnelFailure::new(source, kind))
    }

    /// The target answered `status` with a body that is not a forwardable JSON-RPC error.
    ///
    /// Only 400..=599 is an upstream *error* status in the contract's sense. For any other
    /// status the failure is not the target's HTTP error but its protocol violation (the
    /// next rule in the reference classification), so it becomes [`Source::Protocol`] with
    /// the same kind (`http_status` → `invalid_protocol_response`).
    pub fn target_http(status: u16, kind: impl Into<TargetHttpKind>) -> Self {
        let kind = kind.into();
        if (400..=599).contains(&status) {
            let kind = match kind {
                TargetHttpKind::NonProtocol(np) => np.kind(),
                TargetHttpKind::HttpStatus => TransportErrorKind::HttpStatus,
            };
            TunnelFailure {
                source: Source::TargetHttp,
                kind: Some(kind),
                upstream_status: Some(status),
            }
        } else {
            match kind {
                TargetHttpKind::NonProtocol(np) => TunnelFailure::protocol(np),
                TargetHttpKind::HttpStatus => TunnelFailure::protocol_invalid_response(),
            }
        }
    }

    /// A successful (2xx) target response whose body could not be used.
    pub fn protocol(kind: NonProtocolKind) -> Self {
        TunnelFailure::new(Source::Protocol, kind.kind())
    }

    /// The target's answer was not a valid response to our request (wrong or missing id, a
    /// request where a response was due, a stream that ended without one).
    pub fn protocol_invalid_response() -> Self {
        TunnelFailure::new(
            Source::Protocol,
            TransportErrorKind::InvalidProtocolResponse,
        )
    }

    /// A 2xx reply body (or SSE event) that is not a usable JSON-RPC message. Only text that
    /// is not JSON at all is `malformed_json`; valid JSON that is not a response to our
    /// request (no `id`, wrong version, not an object) is `invalid_protocol_response`, as a
    /// mismatched id is (`go-runtime.md` §11.54).
    pub fn unusable_reply(error: crate::wire::jsonrpc::JsonRpcError) -> Self {
        match error {
            crate::wire::jsonrpc::JsonRpcError::NotJson => {
                TunnelFailure::protocol(NonProtocolKind::MalformedJson)
            }
            _ => TunnelFailure::protocol_invalid_response(),
        }
    }

    /// The target answered a request with a status or content type that cannot carry a
    /// JSON-RPC response (e.g. `202` with no body, a 3xx, `text/html`).
    ///
    /// The Go client reports this as `client_internal`/`unknown` with the 2xx status as
    /// `resp_code`; we call it what it is, a protocol violation by the target, with 502.
    pub fn protocol_unexpected_status() -> Self {
        TunnelFailure::protocol_invalid_response()
    }

    /// A failure inside the client itself.
    pub fn client_internal() -> Self {
        TunnelFailure::new(Source::ClientInternal, TransportErrorKind::Unknown)
    }

    pub fn source(&self) -> Source {
        self.source
    }

    pub fn kind(&self) -> Option<TransportErrorKind> {
        self.kind
    }

    pub fn upstream_status(&self) -> Option<u16> {
        self.upstream_status
    }

    /// Whether the target sent an HTTP response before the failure; true exactly for
    /// [`Source::TargetHttp`].
    pub fn upstream_response_received(&self) -> bool {
        self.source == Source::TargetHttp
    }

    /// The `resp_code` to post with this failure: the target's status for `target_http`,
    /// otherwise 502.
    pub fn resp_code(&self) -> u16 {
        self.upstream_status.unwrap_or(GATEWAY_FAILURE_STATUS)
    }
}

impl fmt::Display for TunnelFailure {
    /// For logs: `source/kind[ status]`, never anything from the target's body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source.as_str())?;
        if let Some(kind) = self.kind {
            write!(f, "/{kind}")?;
        }
        if let Some(status) = self.upstream_status {
            write!(f, " (upstream status {status})")?;
        }
        Ok(())
    }
}

/// The `resp_code` to post with `failure` (see [`TunnelFailure::resp_code`]).
pub fn resp_code_for(failure: &TunnelFailure) -> u16 {
    failure.resp_code()
}

/// The reason phrase used as the synthesized error's `message`.
///
/// Spellings follow the Go client's (which uses the classic RFC 2616/7231 phrases, e.g.
/// "Request Entity Too Large") so connectors see the same text from both clients. `0` is
/// treated as 500; an unregistered code gives "MCP transport error".
pub fn status_text(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        0 | 500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "MCP transport error",
    }
}

/// Builds the synthesized JSON-RPC error body, compact, with a fixed key order:
///
/// ```text
/// {"jsonrpc":"2.0","id":<id>,"error":{"code":-32603,"message":"<status text>",
///  "data":{"tunnel_failure":{"version":1,"source":…,"transport_error_kind":…,
///  "upstream_response_received":…,"upstream_status":…}}}}
/// ```
///
/// `id` is copied verbatim (it is the request's own raw id) and omitted for a
/// notification; `transport_error_kind` and `upstream_status` are omitted when unknown.
/// `message` is the reason phrase of `resp_code` (see [`status_text`]).
pub fn synthesize_error(
    request_id: Option<&RawValue>,
    resp_code: u16,
    failure: &TunnelFailure,
) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"jsonrpc":"2.0","#);
    if let Some(id) = request_id {
        out.push_str(r#""id":"#);
        out.push_str(id.get().trim());
        out.push(',');
    }
    out.push_str(r#""error":{"code":"#);
    out.push_str(&SYNTHESIZED_ERROR_CODE.to_string());
    out.push_str(r#","message":"#);
    // Reason phrases are fixed ASCII without quotes or backslashes (tested), so they need
    // no escaping.
    push_json_str(&mut out, status_text(resp_code));
    out.push_str(r#","data":{"tunnel_failure":{"version":1,"source":"#);
    push_json_str(&mut out, failure.source.as_str());
    if let Some(kind) = failure.kind {
        out.push_str(r#","transport_error_kind":"#);
        push_json_str(&mut out, kind.as_str());
    }
    out.push_str(r#","upstream_response_received":"#);
    out.push_str(if failure.upstream_response_received() {
        "true"
    } else {
        "false"
    });
    if let Some(status) = failure.upstream_status {
        out.push_str(r#","upstream_status":"#);
        out.push_str(&status.to_string());
    }
    out.push_str("}}}}");
    out.into_bytes()
}

/// Appends a static, escape-free string as a JSON string literal.
fn push_json_str(out: &mut String, s: &'static str) {
    debug_assert!(!s.contains(['"', '\\']) && !s.chars().any(char::is_control));
    out.push('"');
    out.push_str(s);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL_TRANSPORT: [TransportError; 15] = TransportError::ALL;

    const ALL_NON_PROTOCOL: [NonProtocolKind; 5] = [
        NonProtocolKind::BodyMissing,
        NonProtocolKind::BodyUnreadable,
        NonProtocolKind::BodyTooLarge,
        NonProtocolKind::MalformedJson,
        NonProtocolKind::InvalidMcpError,
    ];

    /// Every failure the constructors can make (for a spread of statuses).
    fn every_failure() -> Vec<TunnelFailure> {
        let mut all: Vec<TunnelFailure> = ALL_TRANSPORT
            .iter()
            .filter_map(|e| TunnelFailure::from_transport(*e))
            .collect();
        for status in [
            0,
            1,
            200,
            202,
            302,
            399,
            400,
            401,
            404,
            413,
            500,
            502,
            599,
            600,
            999,
            u16::MAX,
        ] {
            all.push(TunnelFailure::target_http(
                status,
                TargetHttpKind::HttpStatus,
            ));
            for np in ALL_NON_PROTOCOL {
                all.push(TunnelFailure::target_http(status, np));
            }
        }
        for np in ALL_NON_PROTOCOL {
            all.push(TunnelFailure::protocol(np));
        }
        all.push(TunnelFailure::protocol_invalid_response());
        all.push(TunnelFailure::protocol_unexpected_status());
        all.push(TunnelFailure::client_internal());
        all
    }

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn classify_transport_errors_map_to_reference_sources() {
        use Source as S;
        use TransportErrorKind as K;
        let cases = [
            (TransportError::Dns, S::Dns, K::Dns),
            (TransportError::Tls, S::Tls, K::Tls),
            (
                TransportError::ConnectionRefused,
                S::Connect,
                K::ConnectionRefused,
            ),
            (
                TransportError::NetworkUnreachable,
                S::Connect,
                K::NetworkUnreachable,
            ),
            (
                TransportError::HostUnreachable,
                S::Connect,
                K::HostUnreachable,
            ),
            (TransportError::Dial, S::Connect, K::Dial),
            (TransportError::Timeout, S::Timeout, K::Timeout),
            (
                TransportError::ConnectionReset,
                S::TransportClosed,
                K::ConnectionReset,
            ),
            (
                TransportError::ConnectionAborted,
                S::TransportClosed,
                K::ConnectionAborted,
            ),
            (
                TransportError::ConnectionClosed,
                S::TransportClosed,
                K::ConnectionClosed,
            ),
            (
                TransportError::ClosedPipe,
                S::TransportClosed,
                K::ClosedPipe,
            ),
            (TransportError::Eof, S::TransportClosed, K::Eof),
            (
                TransportError::UnexpectedEof,
                S::TransportClosed,
                K::UnexpectedEof,
            ),
            (TransportError::Other, S::ClientInternal, K::Unknown),
        ];
        for (err, source, kind) in cases {
            let f = TunnelFailure::from_transport(err).unwrap();
            assert_eq!((f.source(), f.kind()), (source, Some(kind)), "{err:?}");
            assert!(!f.upstream_response_received());
            assert_eq!(f.upstream_status(), None);
            assert_eq!(f.resp_code(), 502);
        }
    }

    #[test]
    fn classify_cancelled_work_is_never_synthesized() {
        assert_eq!(
            TunnelFailure::from_transport(TransportError::Canceled),
            None
        );
    }

    #[test]
    fn classify_target_http_carries_the_target_status() {
        let f = TunnelFailure::target_http(401, NonProtocolKind::BodyMissing);
        assert_eq!(f.source(), Source::TargetHttp);
        assert_eq!(f.kind(), Some(TransportErrorKind::ResponseBodyMissing));
        assert_eq!(f.upstream_status(), Some(401));
        assert!(f.upstream_response_received());
        assert_eq!(resp_code_for(&f), 401);
        let f = TunnelFailure::target_http(502, NonProtocolKind::MalformedJson);
        assert_eq!(f.kind(), Some(TransportErrorKind::MalformedJson));
        let f = TunnelFailure::target_http(503, TargetHttpKind::HttpStatus);
        assert_eq!(f.kind(), Some(TransportErrorKind::HttpStatus));
    }

    #[test]
    fn classify_target_http_outside_error_range_becomes_protocol() {
        for status in [0, 200, 204, 302, 399, 600, u16::MAX] {
            let f = TunnelFailure::target_http(status, NonProtocolKind::MalformedJson);
            assert_eq!(f.source(), Source::Protocol, "{status}");
            assert_eq!(f.kind(), Some(TransportErrorKind::MalformedJson));
            assert_eq!(f.upstream_status(), None);
            assert_eq!(f.resp_code(), 502);
            let f = TunnelFailure::target_http(status, TargetHttpKind::HttpStatus);
            assert_eq!(f, TunnelFailure::protocol_invalid_response());
        }
    }

    #[test]
    fn classify_protocol_failures_post_502() {
        let f = TunnelFailure::protocol_invalid_response();
        assert_eq!(f.source(), Source::Protocol);
        assert_eq!(f.kind(), Some(TransportErrorKind::InvalidProtocolResponse));
        assert_eq!(f.resp_code(), 502);
        assert_eq!(
            TunnelFailure::protocol(NonProtocolKind::BodyTooLarge).resp_code(),
            502
        );
    }

    #[test]
    fn classify_timeout_posts_502_like_the_reference() {
        let f = TunnelFailure::from_transport(TransportError::Timeout).unwrap();
        assert_eq!(f.resp_code(), 502);
    }

    #[test]
    fn classify_wire_spellings_match_the_contract() {
        let kinds: Vec<&str> = TransportErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "closed_pipe",
                "connection_aborted",
                "connection_closed",
                "connection_refused",
                "connection_reset",
                "dial",
                "dns",
                "eof",
                "host_unreachable",
                "http_status",
                "invalid_mcp_error",
                "invalid_protocol_response",
                "malformed_json",
                "network_unreachable",
                "non_protocol_response",
                "response_body_missing",
                "response_body_too_large",
                "response_body_unreadable",
                "timeout",
                "tls",
                "unexpected_eof",
                "unknown",
            ]
        );
    }

    #[test]
    fn synthesize_has_exact_bytes_and_key_order() {
        let f = TunnelFailure::target_http(401, NonProtocolKind::BodyMissing);
        let body = synthesize_error(Some(&raw(r#""req-1""#)), f.resp_code(), &f);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"jsonrpc":"2.0","id":"req-1","error":{"code":-32603,"message":"Unauthorized","data":{"tunnel_failure":{"version":1,"source":"target_http","transport_error_kind":"response_body_missing","upstream_response_received":true,"upstream_status":401}}}}"#
        );
        let f = TunnelFailure::from_transport(TransportError::ConnectionRefused).unwrap();
        let body = synthesize_error(Some(&raw("7")), 502, &f);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"Bad Gateway","data":{"tunnel_failure":{"version":1,"source":"connect","transport_error_kind":"connection_refused","upstream_response_received":false}}}}"#
        );
    }

    #[test]
    fn synthesize_omits_id_for_notifications() {
        let f = TunnelFailure::client_internal();
        let body = String::from_utf8(synthesize_error(None, 502, &f)).unwrap();
        assert!(body.starts_with(r#"{"jsonrpc":"2.0","error":"#), "{body}");
    }

    #[test]
    fn synthesize_omits_kind_when_unknown() {
        let f = TunnelFailure {
            source: Source::ClientInternal,
            kind: None,
            upstream_status: None,
        };
        let body = String::from_utf8(synthesize_error(None, 502, &f)).unwrap();
        assert!(!body.contains("transport_error_kind"));
    }

    #[test]
    fn synthesize_message_is_the_status_text() {
        let f = TunnelFailure::client_internal();
        let v: serde_json::Value = serde_json::from_slice(&synthesize_error(None, 0, &f)).unwrap();
        assert_eq!(v["error"]["message"], "Internal Server Error");
        let v: serde_json::Value =
            serde_json::from_slice(&synthesize_error(None, 299, &f)).unwrap();
        assert_eq!(v["error"]["message"], "MCP transport error");
    }

    #[test]
    fn status_text_needs_no_json_escaping() {
        for code in 0..=u16::MAX {
            let t = status_text(code);
            assert!(
                !t.contains(['"', '\\']) && !t.chars().any(char::is_control),
                "{code}"
            );
        }
        assert_eq!(status_text(502), "Bad Gateway");
        assert_eq!(status_text(202), "Accepted");
        assert_eq!(status_text(0), "Internal Server Error");
        assert_eq!(status_text(299), "MCP transport error");
    }

    #[test]
    fn synthesize_every_failure_is_valid_json_with_the_request_id() {
        for f in every_failure() {
            for id in [r#""a\"b""#, "1", "-3", "null", " 5 "] {
                let body = synthesize_error(Some(&raw(id)), f.resp_code(), &f);
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(
                    v["id"],
                    serde_json::from_str::<serde_json::Value>(id).unwrap()
                );
                assert_eq!(v["error"]["code"], -32603);
            }
        }
    }

    /// The contract's `tunnel_failure` schema, from our copy of the contract kept in the
    /// repository (conformance/contract/README.md): always present, never skipped.
    fn failure_schema() -> serde_json::Value {
        let text = include_str!("../../conformance/contract/contract.schema.json");
        let spec: serde_json::Value = serde_json::from_str(text).unwrap();
        spec.pointer("/components/schemas/TunnelResponsePayload/properties/resp_json/x-tunnel-failure-schema")
            .cloned()
            .expect("contract.schema.json has x-tunnel-failure-schema")
    }

    #[test]
    fn synthesize_every_failure_validates_against_the_contract_schema() {
        let schema = failure_schema();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let known_sources = schema
            .pointer("/properties/source/x-known-values")
            .unwrap()
            .as_array()
            .unwrap()
            .clone();
        let known_kinds = schema
            .pointer("/properties/transport_error_kind/x-known-values")
            .unwrap()
            .as_array()
            .unwrap()
            .clone();
        for f in every_failure() {
            let body = synthesize_error(Some(&raw("1")), f.resp_code(), &f);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let tf = &v["error"]["data"]["tunnel_failure"];
            let errors: Vec<String> = validator.iter_errors(tf).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{f:?} -> {tf}: {errors:?}");
            assert!(known_sources.contains(&tf["source"]), "{tf}");
            assert!(known_kinds.contains(&tf["transport_error_kind"]), "{tf}");
        }
        // And the schema does reject what the constructors make unrepresentable.
        let bad = serde_json::json!({"version":1,"source":"transport_closed","upstream_response_received":true});
        assert!(!validator.is_valid(&bad));
        let bad = serde_json::json!({"version":1,"source":"target_http","upstream_response_received":true});
        assert!(!validator.is_valid(&bad));
    }

    #[test]
    fn every_contract_kind_is_known() {
        let schema = failure_schema();
        let known: Vec<String> = schema
            .pointer("/properties/transport_error_kind/x-known-values")
            .and_then(|v| v.as_array())
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let ours: Vec<String> = TransportErrorKind::ALL
            .iter()
            .map(|k| k.as_str().to_string())
            .collect();
        assert_eq!(ours, known);
    }

    proptest! {
        #[test]
        fn prop_target_http_respects_contract_invariants(status in any::<u16>(), np in 0usize..6) {
            let f = if np == 5 {
                TunnelFailure::target_http(status, TargetHttpKind::HttpStatus)
            } else {
                TunnelFailure::target_http(status, ALL_NON_PROTOCOL[np])
            };
            prop_assert_eq!(f.upstream_status().is_some(), f.source() == Source::TargetHttp);
            prop_assert_eq!(f.upstream_response_received(), f.source() == Source::TargetHttp);
            if let Some(s) = f.upstream_status() {
                prop_assert!((400..=599).contains(&s));
                prop_assert_eq!(f.resp_code(), s);
            } else {
                prop_assert_eq!(f.resp_code(), 502);
            }
        }
    }
}
