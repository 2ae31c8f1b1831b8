//! Interpreting a Streamable HTTP MCP response, incrementally.
//!
//! The adapter performs the HTTP exchange and feeds what arrives — the response head, body
//! chunks, the end, or a classified transport error — into an [`HttpExchange`]. The exchange
//! decides what the tunnel posts: notifications relayed in stream order, then exactly one
//! terminal outcome. Keeping this here (not in each adapter) means the blocking and smol
//! adapters cannot disagree about, say, when a non-2xx body is a JSON-RPC error to preserve.

use http::HeaderMap;
use serde_json::value::RawValue;

use crate::channel::ChannelName;
use crate::classify::{NonProtocolKind, TransportError, TunnelFailure};
use crate::engine::outcome::{McpOutput, Terminal};
use crate::headers::sanitize_response_headers;
use crate::sse::{SseDecoder, SseEvent};
use crate::wire::jsonrpc::{ids_equal, JsonRpcMessage, MessageShape};
use crate::wire::response::RespHeaders;

/// Where a Streamable HTTP binding's MCP server lives. Pure data, the same for every
/// adapter (re-exported as `tunnel_blocking::HttpTarget` and `tunnel_smol::HttpTarget`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub channel: ChannelName,
    /// The MCP endpoint, e.g. `http://127.0.0.1:3000/mcp`.
    pub url: String,
    /// Dial this unix socket instead of the URL's host (`unix-socket=`); the URL still
    /// gives the scheme, `Host` and path. Never proxied.
    pub unix_socket: Option<std::path::PathBuf>,
    /// This binding's explicit proxy URL (per-entry `http-proxy=`, else `--mcp.http-proxy`,
    /// else `--http-proxy`, already applied by the caller) with its source label. `None`:
    /// the adapter's common MCP proxy if it has one, else the process environment
    /// (`crate::proxy_route`).
    pub proxy: Option<crate::proxy_route::ExplicitProxy>,
    /// The client certificate presented to this binding's origin (and only to it). `None`:
    /// the adapter's common MCP certificate, if any.
    pub client_cert: Option<ClientCertPaths>,
}

/// PEM files of a client certificate chain and its private key (mTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertPaths {
    pub cert_chain: std::path::PathBuf,
    pub private_key: std::path::PathBuf,
}

impl HttpTarget {
    pub fn new(channel: ChannelName, url: impl Into<String>) -> Self {
        HttpTarget {
            channel,
            url: url.into(),
            unix_socket: None,
            proxy: None,
            client_cert: None,
        }
    }
}

/// Gives an MCP POST `Content-Type: application/json` unless the command's headers chose
/// one: the body is one JSON-RPC message, and Streamable HTTP servers refuse a POST without
/// a JSON content type. Adapters call it on `McpOp::Send` headers before sending.
pub fn json_content_type_unless_set(headers: &mut http::HeaderMap) {
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
}

/// Largest JSON (non-SSE) response body accepted from an MCP server.
pub const MAX_JSON_BODY: usize = 16 * 1024 * 1024;
/// Largest non-2xx body inspected for a JSON-RPC error worth preserving.
pub const MAX_ERROR_BODY: usize = 100 * 1024;
/// Largest single SSE event.
pub const MAX_SSE_EVENT: usize = 16 * 1024 * 1024;

/// What the forwarded message expects back.
#[derive(Debug, Clone)]
pub enum Expect {
    /// A request: the response with this id ends the exchange.
    Response { id: Box<RawValue> },
    /// A notification or a client response: any 2xx is an acknowledgement.
    Ack,
    /// A `DELETE` for session termination.
    SessionTermination,
}

#[derive(Debug)]
enum State {
    AwaitingHead,
    Json {
        status: u16,
        headers: RespHeaders,
        buf: Vec<u8>,
    },
    Sse {
        status: u16,
        headers: RespHeaders,
        decoder: SseDecoder,
        events: Vec<SseEvent>,
    },
    ErrorBody {
        status: u16,
        headers: RespHeaders,
        buf: Vec<u8>,
        too_large: bool,
    },
    Done,
}

/// One MCP HTTP exchange being interpreted.
#[derive(Debug)]
pub struct HttpExchange {
    expect: Expect,
    state: State,
}

fn header_main_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn set_content_type(headers: &mut RespHeaders, value: &str) {
    headers.retain(|k, _| !k.eq_ignore_ascii_case("content-type"));
    headers.insert("Content-Type".to_string(), vec![value.to_string()]);
}

fn default_content_type(headers: &mut RespHeaders, value: &str) {
    if !headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("content-type"))
    {
        headers.insert("Content-Type".to_string(), vec![value.to_string()]);
    }
}

impl HttpExchange {
    pub fn new(expect: Expect) -> Self {
        HttpExchange {
            expect,
            state: State::AwaitingHead,
        }
    }

    /// True once a terminal outcome was produced; the adapter may stop reading.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn finish(&mut self, out: &mut Vec<McpOutput>, t: Terminal) {
        self.state = State::Done;
        out.push(McpOutput::Terminal(t));
    }

    fn fail(&mut self, out: &mut Vec<McpOutput>, failure: TunnelFailure, headers: RespHeaders) {
        let resp_code = failure.resp_code();
        let mut headers = headers;
        default_content_type(&mut headers, "application/json");
        self.finish(
            out,
            Terminal::Failure {
                failure,
                resp_code,
                headers,
            },
        );
    }

    /// The response head arrived.
    pub fn head(&mut self, status: u16, headers: &HeaderMap, out: &mut Vec<McpOutput>) {
        if !matches!(self.state, State::AwaitingHead) {
            return;
        }
        let sanitized = sanitize_response_headers(headers);
        match &self.expect {
            Expect::SessionTermination => {
                self.finish(
                    out,
                    Terminal::SessionTerminated {
                        status,
                        headers: sanitized,
                    },
                );
            }
            Expect::Ack => {
                if (200..300).contains(&status) {
                    self.finish(
                        out,
                        Terminal::Ack {
                            status,
                            headers: sanitized,
                        },
                    );
                } else if (400..600).contains(&status) {
                    // A notification has no response to carry an error in: the connector
                    // learns the outcome from the acknowledged status.
                    self.finish(
                        out,
                        Terminal::Ack {
                            status,
                            headers: sanitized,
                        },
                    );
                } else {
                    self.fail(out, TunnelFailure::protocol_unexpected_status(), sanitized);
                }
            }
            Expect::Response { .. } => {
                let main_type = header_main_type(headers);
                if (200..300).contains(&status) {
                    if main_type == "text/event-stream" {
                        self.state = State::Sse {
                            status,
                            headers: sanitized,
                            decoder: SseDecoder::new(MAX_SSE_EVENT),
                            events: Vec::new(),
                        };
                    } else if main_type == "application/json" || main_type.ends_with("+json") {
                        self.state = State::Json {
                            status,
                            headers: sanitized,
                            buf: Vec::new(),
                        };
                    } else {
                        // No body a request can be answered with (e.g. 202 to a request).
                        self.fail(out, TunnelFailure::protocol_unexpected_status(), sanitized);
                    }
                } else if (400..600).contains(&status) {
                    self.state = State::ErrorBody {
                        status,
                        headers: sanitized,
                        buf: Vec::new(),
                        too_large: false,
                    };
                } else {
                    // 1xx/3xx: redirects are not followed across origins; nothing to relay.
                    self.fail(out, TunnelFailure::protocol_unexpected_status(), sanitized);
                }
            }
        }
    }

    /// A chunk of the response body arrived.
    pub fn body(&mut self, chunk: &[u8], out: &mut Vec<McpOutput>) {
        match &mut self.state {
            State::Json { buf, headers, .. } => {
                if buf.len().saturating_add(chunk.len()) > MAX_JSON_BODY {
                    let headers = std::mem::take(headers);
                    self.fail(
                        out,
                        TunnelFailure::protocol(NonProtocolKind::BodyTooLarge),
                        headers,
                    );
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            State::ErrorBody { buf, too_large, .. } => {
                if buf.len().saturating_add(chunk.len()) > MAX_ERROR_BODY {
                    *too_large = true;
                } else if !*too_large {
                    buf.extend_from_slice(chunk);
                }
            }
            State::Sse {
                decoder,
                events,
                headers,
                ..
            } => {
                events.clear();
                if decoder.push(chunk, events).is_err() {
                    let headers = std::mem::take(headers);
                    self.fail(
                        out,
                        TunnelFailure::protocol(NonProtocolKind::BodyTooLarge),
                        headers,
                    );
                    return;
                }
                let events = std::mem::take(events);
                self.sse_events(&events, out);
            }
            State::AwaitingHead | State::Done => {}
        }
    }

    fn sse_events(&mut self, events: &[SseEvent], out: &mut Vec<McpOutput>) {
        for ev in events {
            if self.is_done() {
                return;
            }
            if ev.event.as_deref().is_some_and(|e| e != "message") || ev.data.is_empty() {
                continue; // pings, priming events
            }
            let (status, headers) = match &self.state {
                State::Sse {
                    status, headers, ..
                } => (*status, headers.clone()),
                _ => return,
            };
            let msg = match JsonRpcMessage::from_slice(ev.data.as_bytes()) {
                Ok(m) => m,
                Err(e) => {
                    self.fail(out, TunnelFailure::unusable_reply(e), headers);
                    return;
                }
            };
            let want = match &self.expect {
                Expect::Response { id } => id.clone(),
                _ => return,
            };
            match msg.shape() {
                MessageShape::Notification { .. } | MessageShape::Request { .. } => {
                    out.push(McpOutput::Notify(msg.into_raw()));
                }
                MessageShape::Response { id } if ids_equal(id, &want) => {
                    let mut headers = headers;
                    set_content_type(&mut headers, "text/event-stream");
                    self.finish(
                        out,
                        Terminal::JsonRpc {
                            json: msg.into_raw(),
                            status,
                            headers,
                        },
                    );
                }
                MessageShape::Response { .. } => {
                    self.fail(out, TunnelFailure::protocol_invalid_response(), headers);
                }
            }
        }
    }

    /// The body ended normally.
    pub fn end(&mut self, out: &mut Vec<McpOutput>) {
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::Json {
                status,
                mut headers,
                buf,
            } => {
                self.state = State::Json {
                    status,
                    headers: RespHeaders::new(),
                    buf: Vec::new(),
                };
                let want = match &self.expect {
                    Expect::Response { id } => id.clone(),
                    _ => return,
                };
                match JsonRpcMessage::from_slice(&buf) {
                    Ok(msg) => match msg.shape() {
                        MessageShape::Response { id } if ids_equal(id, &want) => {
                            set_content_type(&mut headers, "application/json");
                            self.finish(
                                out,
                                Terminal::JsonRpc {
                                    json: msg.into_raw(),
                                    status,
                                    headers,
                                },
                            );
                        }
                        _ => self.fail(out, TunnelFailure::protocol_invalid_response(), headers),
                    },
                    Err(e) => self.fail(out, TunnelFailure::unusable_reply(e), headers),
                }
            }
            State::ErrorBody {
                status,
                mut headers,
                buf,
                too_large,
            } => {
                let want = match &self.expect {
                    Expect::Response { id } => id.clone(),
                    _ => return,
                };
                let verdict = if too_large {
                    Err(NonProtocolKind::BodyTooLarge)
                } else {
                    preservable_error(&buf, &want)
                };
                match verdict {
                    Ok(json) => {
                        set_content_type(&mut headers, "application/json");
                        self.finish(
                            out,
                            Terminal::JsonRpc {
                                json,
                                status,
                                headers,
                            },
                        );
                    }
                    Err(kind) => self.fail(out, TunnelFailure::target_http(status, kind), headers),
                }
            }
            State::Sse {
                headers,
                mut decoder,
                ..
            } => {
                let mut events = Vec::new();
                self.state = State::Sse {
                    status: 0,
                    headers: headers.clone(),
                    decoder: SseDecoder::new(1),
                    events: Vec::new(),
                };
                let _ = decoder.finish(&mut events);
                self.sse_events(&events, out);
                if !self.is_done() {
                    // The stream closed before the response to our request.
                    self.fail(
                        out,
                        TunnelFailure::from_transport(TransportError::Eof)
                            .unwrap_or_else(TunnelFailure::protocol_invalid_response),
                        headers,
                    );
                }
            }
            State::AwaitingHead => {
                self.fail(
                    out,
                    TunnelFailure::protocol_invalid_response(),
                    RespHeaders::new(),
                );
            }
            State::Done => {}
        }
    }

    /// The exchange failed at the transport level (before or during the body).
    pub fn error(&mut self, err: TransportError, out: &mut Vec<McpOutput>) {
        if self.is_done() {
            return;
        }
        // The target's error status arrived and only its body could not be read: the failure
        // is the target's, with the kind that says the body was unreadable (§4.3, §11.58).
        let error_status = match &self.state {
            State::ErrorBody { status, .. } => Some(*status),
            _ => None,
        };
        let headers = match &mut self.state {
            State::Json { headers, .. }
            | State::Sse { headers, .. }
            | State::ErrorBody { headers, .. } => std::mem::take(headers),
            _ => RespHeaders::new(),
        };
        let failure = TunnelFailure::from_transport(err).map(|f| match error_status {
            Some(status) => TunnelFailure::target_http(status, NonProtocolKind::BodyUnreadable),
            None => f,
        });
        match failure {
            None => self.finish(
                out,
                Terminal::Abandon {
                    reason: "cancelled",
                },
            ),
            Some(failure) => {
                if matches!(self.expect, Expect::SessionTermination) {
                    self.finish(
                        out,
                        Terminal::SessionTerminated {
                            status: 502,
                            headers: RespHeaders::new(),
                        },
                    );
                } else {
                    self.fail(out, failure, headers)
                }
            }
        }
    }
}

/// Decides whether a non-2xx body is the target's own JSON-RPC error for our request, which
/// is then forwarded byte for byte. Otherwise says why not (the failure's `transport_error_kind`).
fn preservable_error(body: &[u8], want: &RawValue) -> Result<Box<RawValue>, NonProtocolKind> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(NonProtocolKind::BodyMissing);
    }
    let raw: Box<RawValue> =
        serde_json::from_slice(body).map_err(|_| NonProtocolKind::MalformedJson)?;
    let value: serde_json::Value =
        serde_json::from_str(raw.get()).map_err(|_| NonProtocolKind::MalformedJson)?;
    let obj = value.as_object().ok_or(NonProtocolKind::InvalidMcpError)?;
    let ok_version = obj.get("jsonrpc").and_then(|v| v.as_str()) == Some("2.0");
    let err = obj.get("error").and_then(|e| e.as_object());
    let ok_error = err.is_some_and(|e| {
        e.get("code").is_some_and(|c| c.is_i64()) && e.get("message").is_some_and(|m| m.is_string())
    });
    let id_matches = obj
        .get("id")
        .and_then(|id| RawValue::from_string(id.to_string()).ok())
        .is_some_and(|id| ids_equal(&id, want));
    if ok_version
        && ok_error
        && id_matches
        && !obj.contains_key("method")
        && !obj.contains_key("result")
    {
        Ok(raw)
    } else {
        Err(NonProtocolKind::InvalidMcpError)
    }
}
