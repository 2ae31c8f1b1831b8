//! Streamable HTTP execution of MCP work with ureq.
//!
//! The adapter only moves bytes: the request headers come from the core already filtered
//! and layered, and the response (head, body chunks, end or a classified error) goes back to
//! the engine, which decides what to post (`tunnel_core::mcp_http::HttpExchange`). Body
//! chunks are forwarded as they arrive so SSE notifications reach the control plane before
//! the terminal response.

use std::io::Read;
use std::time::{Duration, Instant};

use http::{Method, Uri};
use tunnel_core::classify::TransportError;
use tunnel_core::engine::{ExchangeBound, McpOp, McpWork};

use tunnel_core::proxy_route::TargetAddr;

use crate::binding::{McpBinding, McpSink};
use crate::egress::Foreign;
use crate::errors::{classify, classify_io, Phase};
use crate::pool::Pool;

/// Read buffer for response bodies; a read returns as soon as any bytes arrive, so this
/// bounds a chunk, not latency.
/// Largest body read whole before reporting (see `exchange`).
const WHOLE_BODY_MAX: u64 = 256 * 1024;
const CHUNK: usize = 16 * 1024;

/// One Streamable HTTP binding: its endpoint, its own agent (connection pool) and the
/// shared MCP worker pool.
pub(crate) struct HttpBinding {
    url: Uri,
    /// The binding's origin: requests elsewhere (OAuth discovery steps) use `foreign`.
    origin: Option<TargetAddr>,
    agent: ureq::Agent,
    /// No client certificate, route decided per request.
    foreign: Foreign,
    pool: Pool,
    /// Bound for an exchange whose command has no deadline (and cap for one that has).
    ttl: Duration,
    /// Agents for requests that name a unix socket (`McpWork::unix_socket`).
    #[cfg(unix)]
    unix: Option<std::sync::Arc<crate::unix::UnixAgents>>,
}

impl HttpBinding {
    pub(crate) fn new(
        url: Uri,
        agent: ureq::Agent,
        foreign: Foreign,
        pool: Pool,
        ttl: Duration,
    ) -> HttpBinding {
        HttpBinding {
            origin: TargetAddr::parse(&url.to_string()),
            url,
            agent,
            foreign,
            pool,
            ttl,
            #[cfg(unix)]
            unix: None,
        }
    }

    /// Lets requests that name a unix socket dial it (the `harpoon` binding).
    #[cfg(unix)]
    pub(crate) fn with_unix(mut self, agents: std::sync::Arc<crate::unix::UnixAgents>) -> Self {
        self.unix = Some(agents);
        self
    }

    /// The agent for a request that names a unix socket, or why there is none.
    fn unix_agent(&self, path: &str) -> Option<ureq::Agent> {
        #[cfg(unix)]
        {
            self.unix
                .as_ref()
                .map(|u| u.get(std::path::Path::new(path)))
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }
}

/// True for ureq's overall-timeout error, bare or wrapped in an `io::Error`.
fn is_global_timeout(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Global) => true,
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|i| i.downcast_ref::<ureq::Error>())
            .is_some_and(is_global_timeout),
        _ => false,
    }
}

/// Reports a failure, turning a TTL expiry into a cancellation.
fn report_error(sink: &McpSink, bound: ExchangeBound, kind: TransportError, err: &ureq::Error) {
    if sink.is_cancelled() {
        return;
    }
    if bound.by_ttl && is_global_timeout(err) {
        log::info!("{}", bound.ttl_reached(sink.command()));
        sink.error(TransportError::Canceled);
        return;
    }
    log::debug!(
        "MCP request for command {:?} failed: {err} ({kind:?})",
        sink.command()
    );
    sink.error(kind);
}

impl McpBinding for HttpBinding {
    fn start(&self, work: McpWork, sink: McpSink) {
        let bound = work.bound(Instant::now(), self.ttl);
        if bound.timeout.is_zero() {
            return; // past the deadline: the engine's own timer ends the command
        }
        let (agent, url) = (self.agent.clone(), self.url.clone());
        match work.op {
            McpOp::Send {
                message,
                mut headers,
                ..
            } => {
                tunnel_core::mcp_http::json_content_type_unless_set(&mut headers);
                // Stated up front (ureq would send the same length): the timing
                // middleware reads it for `http_client_request_body_size_bytes`.
                headers.insert(
                    http::header::CONTENT_LENGTH,
                    http::HeaderValue::from(message.get().len()),
                );
                self.pool.submit(move || {
                    let body = message.get().as_bytes();
                    exchange(&agent, Method::POST, url, headers, body, bound, &sink);
                });
            }
            McpOp::TerminateSession { headers, .. } => {
                self.pool.submit(move || {
                    exchange(&agent, Method::DELETE, url, headers, (), bound, &sink)
                });
            }
            // A request the engine makes itself (an OAuth discovery step, a Harpoon hop):
            // another URL, redirects not followed (this agent never follows them).
            McpOp::Fetch {
                method,
                uri,
                headers,
                body,
            } => {
                let bodiless = body.is_empty() && !method_has_body(&method);
                // A target behind a unix socket: that socket, never a proxy.
                if let Some(path) = &work.unix_socket {
                    let Some(agent) = self.unix_agent(path) else {
                        sink.error(TransportError::Dial);
                        return;
                    };
                    self.pool.submit(move || {
                        if bodiless {
                            exchange_with(
                                &agent,
                                Some(None),
                                method,
                                uri,
                                headers,
                                (),
                                bound,
                                &sink,
                            )
                        } else {
                            exchange_with(
                                &agent,
                                Some(None),
                                method,
                                uri,
                                headers,
                                &body[..],
                                bound,
                                &sink,
                            )
                        }
                    });
                    return;
                }
                let target = TargetAddr::parse(&uri.to_string());
                // A bodiless POST (the WWW-Authenticate probe) goes out with
                // `Content-Length: 0`, as Go sends it; `()` would make ureq frame it as an
                // empty chunked body, which some proxies and servers refuse.
                // Another origin: never the binding's client certificate, and the proxy
                // that origin's route asks for (`Some(route)`; `None` keeps the agent's).
                let (agent, foreign) = if target.is_some() && target == self.origin {
                    (agent, None)
                } else {
                    (self.foreign.agent.clone(), Some(self.foreign.clone()))
                };
                self.pool.submit(move || {
                    let proxy = foreign.map(|f| f.proxy_for(&uri.to_string()));
                    if bodiless {
                        exchange_with(&agent, proxy, method, uri, headers, (), bound, &sink)
                    } else {
                        exchange_with(&agent, proxy, method, uri, headers, &body[..], bound, &sink)
                    }
                });
            }
        }
    }

    fn shutdown(&self) {
        self.pool.stop();
        // Interrupts reads blocked on this binding's connections (cancelled SSE streams).
        self.agent.clone().shutdown();
        self.foreign.agent.clone().shutdown();
        #[cfg(unix)]
        if let Some(u) = &self.unix {
            u.shutdown();
        }
    }
}

/// Performs one request and streams the response into `sink`. Reports nothing once the
/// sink is cancelled.
fn exchange<B: ureq::AsSendBody>(
    agent: &ureq::Agent,
    method: Method,
    url: Uri,
    headers: http::HeaderMap,
    body: B,
    bound: ExchangeBound,
    sink: &McpSink,
) {
    exchange_with(agent, None, method, url, headers, body, bound, sink)
}

/// Methods whose requests carry a body (possibly empty, then `Content-Length: 0`).
fn method_has_body(m: &Method) -> bool {
    *m == Method::POST || *m == Method::PUT || *m == Method::PATCH
}

#[allow(clippy::too_many_arguments)]
fn exchange_with<B: ureq::AsSendBody>(
    agent: &ureq::Agent,
    proxy: Option<Option<ureq::Proxy>>,
    method: Method,
    url: Uri,
    headers: http::HeaderMap,
    body: B,
    bound: ExchangeBound,
    sink: &McpSink,
) {
    if sink.is_cancelled() {
        return;
    }
    let mut request = http::Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = url;
    *request.headers_mut() = headers;
    let mut config = agent
        .configure_request(request)
        .timeout_global(Some(bound.timeout));
    if let Some(p) = proxy {
        config = config.proxy(p);
    }
    let request = config.build();
    let response = match agent.run(request) {
        Ok(r) => r,
        Err(e) => {
            report_error(sink, bound, classify(&e, Phase::Head), &e);
            return;
        }
    };
    let (parts, body) = response.into_parts();
    // A small body of known length (the usual JSON answer) is read whole and reported in
    // one step: each report wakes the driver thread, and those wake-ups were most of the
    // client's CPU per command. SSE streams and large or unsized bodies keep streaming.
    let is_sse = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    let small = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n <= WHOLE_BODY_MAX);
    if let (false, Some(len)) = (is_sse, small) {
        let mut whole = Vec::with_capacity(len as usize);
        let mut reader = body.into_reader().take(WHOLE_BODY_MAX);
        match std::io::Read::read_to_end(&mut reader, &mut whole) {
            Ok(_) => {
                sink.complete(parts.status.as_u16(), parts.headers, whole);
            }
            Err(e) => {
                // Report the head first so the engine classifies a body failure as one.
                if sink.head(parts.status.as_u16(), parts.headers) {
                    let kind = classify_io(&e, Phase::Body);
                    report_error(sink, bound, kind, &ureq::Error::Io(e));
                }
            }
        }
        return;
    }
    if !sink.head(parts.status.as_u16(), parts.headers) {
        return;
    }
    // No size limit here: the engine bounds what it buffers (JSON bodies, SSE events) and
    // says when it has had enough, which cancels the sink.
    let mut reader = body.into_reader();
    let mut buf = vec![0u8; CHUNK];
    loop {
        if sink.is_cancelled() {
            return;
        }
        match reader.read(&mut buf) {
            Ok(0) => {
                sink.end();
                return;
            }
            Ok(n) => {
                if !sink.body(buf[..n].to_vec()) {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let kind = classify_io(&e, Phase::Body);
                report_error(sink, bound, kind, &ureq::Error::Io(e));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_timeouts_are_recognised_wrapped_or_not() {
        let bare = ureq::Error::Timeout(ureq::Timeout::Global);
        assert!(is_global_timeout(&bare));
        let wrapped = ureq::Error::Io(std::io::Error::other(ureq::Error::Timeout(
            ureq::Timeout::Global,
        )));
        assert!(is_global_timeout(&wrapped));
        assert!(!is_global_timeout(&ureq::Error::Timeout(
            ureq::Timeout::Connect
        )));
    }
}
