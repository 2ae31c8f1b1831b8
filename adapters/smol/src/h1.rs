//! HTTP/1.1 over async-net (+ futures-rustls for `https`), with keep-alive pooling.
//!
//! The protocol is ureq-proto's sans-IO `Call` (the state machine under ureq, which the
//! blocking adapter uses): it writes the request head and body into buffers and parses the
//! response head and body (`Content-Length`, chunked, or until close) from the bytes this
//! module reads, so SSE events reach the engine as they arrive. This module only moves
//! bytes and keeps idle connections. No redirects are followed (MCP requests must not be
//! re-sent anywhere else). How a connection is opened (proxy, TLS, unix socket) is
//! `crate::net`; a connection to a proxy for a plain-http target gets its request lines in
//! absolute form here.
//!
//! Pooling: a connection whose exchange ended cleanly (body read to its end, no
//! `Connection: close`, nothing left over) goes back to an idle list per origin (scheme,
//! host, port). At most [`MAX_IDLE_PER_ORIGIN`] idle connections are kept per origin and
//! [`MAX_IDLE_TOTAL`] in all (more are closed; expired ones are closed at the next
//! check-in), and none is reused after [`MAX_IDLE`] idle, under the 5 s keep-alive timeout
//! of Node's and uvicorn's servers, so a reused connection is not one the server is about to
//! close. A connection that became readable while idle (closed or sent something) is
//! dropped, not reused.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_lite::{AsyncRead, AsyncWrite};
use http::{HeaderMap, Method, Uri};
use tunnel_core::classify::TransportError;
use tunnel_core::http_timing::HttpTiming;
use ureq_proto::client::{Call, RecvBodyResult, RecvResponseResult, SendRequestResult};
use ureq_proto::BodyMode;

use crate::net::Dialer;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Idle connections kept per origin: as many as the engine may use at once towards one
/// origin (a response POST for each command it holds, up to 128 as in the blocking
/// adapter, while polls run). With fewer, every burst above the bound closed the extra
/// connections as they went idle and opened new ones for the next (8 per origin cost the
/// bench's load side twice the CPU per call at concurrency 64). Idle connections still
/// close after [`MAX_IDLE`] and are reused newest first, so a quiet client keeps few.
pub(crate) const MAX_IDLE_PER_ORIGIN: usize = 128;

/// Idle connections kept over all origins: OAuth discovery may reach origins the
/// configuration does not name, and an idle socket must not outlive its use for each.
pub(crate) const MAX_IDLE_TOTAL: usize = 256;

/// An idle connection is not reused after this long (servers close theirs after 5 s).
pub(crate) const MAX_IDLE: Duration = Duration::from_secs(4);

/// Buffer for ureq-proto to write a request into, and the most a body piece carries.
const BUF: usize = 16 * 1024;

/// Bytes asked of the socket per read. An exchange waiting for its answer holds this much
/// (its only buffer: the request's are freed once it is sent), so 256 commands in flight
/// cost 2 MiB of buffers, not the 8 MiB two 16 KiB buffers each did.
const READ: usize = 8 * 1024;

/// Request bytes gathered before a write: a request up to this size (head and body) is
/// one write; a larger body goes out in writes of about this size.
const COALESCE: usize = 64 * 1024;

pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub(crate) use tunnel_core::io_error::Phase;

/// Maps an I/O error onto the core's transport error taxonomy: a rustls error inside it is
/// `tls`; everything else is the core's one classification.
pub(crate) fn classify(e: &io::Error, phase: Phase) -> TransportError {
    if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
        return TransportError::Tls;
    }
    tunnel_core::io_error::classify(e.kind(), e.raw_os_error(), &e.to_string(), phase)
}

/// Idle connections of a runtime, by dialer and origin, each with the instant it went idle.
#[derive(Clone, Default)]
pub(crate) struct Pool(Arc<Mutex<Idle>>);

type Idle = HashMap<Key, Vec<(Conn, Instant)>>;

/// The dialer, the origin and the unix socket dialled for it (a Harpoon hop to a
/// `unix-socket=` target): a connection is only reused for the same route and certificate.
type Key = (usize, Origin, Option<PathBuf>);

/// Scheme, host, port.
pub(crate) type Origin = (String, String, u16);

/// An open connection; `absolute` when it goes to a proxy for a plain-http target.
pub(crate) struct Conn {
    pub(crate) io: Box<dyn Stream>,
    /// `http://host:port` before each request's origin-form target, and the proxy's
    /// `Proxy-Authorization` value.
    absolute: Option<(String, Option<String>)>,
}

impl Conn {
    pub(crate) fn direct(io: Box<dyn Stream>) -> Conn {
        Conn { io, absolute: None }
    }

    pub(crate) fn absolute(io: Box<dyn Stream>, prefix: String, auth: Option<String>) -> Conn {
        Conn {
            io,
            absolute: Some((prefix, auth)),
        }
    }
}

impl Pool {
    /// The newest idle connection for `key` that is still quiet, if any.
    async fn checkout(&self, key: &Key) -> Option<Conn> {
        loop {
            let (mut conn, since) = {
                let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
                let list = idle.get_mut(key)?;
                let c = list.pop();
                if list.is_empty() {
                    idle.remove(key);
                }
                c?
            };
            if since.elapsed() >= MAX_IDLE {
                continue;
            }
            // A quiet connection has nothing to read; one that is readable was closed by
            // the server (EOF) or sent something unasked: either way, not reusable.
            let mut probe = [0u8; 1];
            if futures_lite::future::poll_once(conn.io.read(&mut probe))
                .await
                .is_none()
            {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for reuse within the bounds; expired idle connections (any origin)
    /// are closed on the way.
    fn checkin(&self, key: Key, conn: Conn) {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|_, list| {
            list.retain(|(_, since)| since.elapsed() < MAX_IDLE);
            !list.is_empty()
        });
        let total: usize = idle.values().map(Vec::len).sum();
        let list = idle.entry(key).or_default();
        if list.len() < MAX_IDLE_PER_ORIGIN && total < MAX_IDLE_TOTAL {
            list.push((conn, Instant::now()));
        }
    }

    /// Idle connections currently kept (all origins).
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        let idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        idle.values().map(Vec::len).sum()
    }
}

/// A response whose body is still being read.
pub(crate) struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    body: Body,
}

/// The connection while its response body is read; `None` once the body ended.
struct Body {
    live: Option<Reading>,
}

struct Reading {
    conn: Conn,
    call: Call<ureq_proto::client::state::RecvBody>,
    /// Bytes read from the connection and not yet parsed.
    input: Vec<u8>,
    pool: Pool,
    key: Key,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Sends one request (on an idle connection to the same origin when there is one); returns
/// when the response head has arrived. `Err` carries whether the request had been written
/// completely (a POST that may have landed). `unix` dials that socket instead of the URL's
/// host (the URL still gives scheme, `Host` and path). The dialer's HTTP observer, if any,
/// hears of the request with its duration to the head.
pub(crate) async fn send(
    dialer: &Dialer,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    unix: Option<&Path>,
) -> Result<Response, (TransportError, bool)> {
    let start = Instant::now();
    let result = exchange(dialer, method, uri, headers, body, unix).await;
    if let Some((client, observer)) = dialer.timing() {
        let (status, error) = match &result {
            Ok(r) => (Some(r.status), None),
            Err((e, _)) => (None, Some(*e)),
        };
        observer(&HttpTiming {
            client,
            method,
            uri,
            version: http::Version::HTTP_11,
            status,
            error,
            duration: start.elapsed(),
            // What went on the wire: `Content-Length` when there is a body or a POST,
            // nothing (0 bytes) otherwise.
            request_body_size: Some(body.len() as u64),
        });
    }
    result
}

async fn exchange(
    dialer: &Dialer,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    unix: Option<&Path>,
) -> Result<Response, (TransportError, bool)> {
    let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
    let host = uri
        .host()
        .ok_or((TransportError::Dial, false))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let origin: Origin = (scheme, host, port);
    let key = dialer.key(&origin, unix);
    let mut conn = match dialer.pool.checkout(&key).await {
        Some(c) => c,
        None => dialer
            .connect(&origin, unix)
            .await
            .map_err(|e| (e, false))?,
    };

    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(uri.clone());
    for (k, v) in headers {
        // ureq-proto writes Host and the body framing itself.
        if k == http::header::HOST
            || k == http::header::CONTENT_LENGTH
            || k == http::header::CONNECTION
            || k == http::header::TRANSFER_ENCODING
        {
            continue;
        }
        req = req.header(k, v);
    }
    if !body.is_empty() || *method == Method::POST {
        req = req.header(http::header::CONTENT_LENGTH, body.len());
    }
    let unsent = |e: io::Error| (classify(&e, Phase::Head), false);
    let req = req.body(()).map_err(|e| unsent(invalid(e)))?;
    let mut call = Call::new(req).map_err(|e| unsent(invalid(e)))?.proceed();

    let mut out = vec![0u8; BUF];
    let mut head = Vec::new();
    loop {
        let n = call.write(&mut out).map_err(|e| unsent(invalid(e)))?;
        head.extend_from_slice(&out[..n]);
        if call.can_proceed() {
            break;
        }
    }
    if let Some((prefix, auth)) = &conn.absolute {
        let rewritten = tunnel_core::egress::absolute_form(&head, prefix, auth.as_deref());
        head = rewritten.ok_or_else(|| unsent(invalid("request line")))?;
    }
    // Head and body go out in one write while they fit in [`COALESCE`] (every MCP
    // message and response POST of ordinary size): with TCP_NODELAY two writes are two
    // segments, and the server wakes and reads twice for one request.
    let mut wire = head;
    let mut call = match call.proceed().map_err(|e| unsent(invalid(e)))? {
        Some(SendRequestResult::RecvResponse(c)) => {
            conn.io.write_all(&wire).await.map_err(unsent)?;
            c
        }
        Some(SendRequestResult::SendBody(mut c)) => {
            let mut rest = body;
            loop {
                let (used, n) = c.write(rest, &mut out).map_err(|e| unsent(invalid(e)))?;
                wire.extend_from_slice(&out[..n]);
                if wire.len() >= COALESCE {
                    conn.io.write_all(&wire).await.map_err(unsent)?;
                    wire.clear();
                }
                rest = &rest[used..];
                if rest.is_empty() && c.can_proceed() {
                    break;
                }
            }
            if !wire.is_empty() {
                conn.io.write_all(&wire).await.map_err(unsent)?;
            }
            c.proceed()
                .ok_or_else(|| unsent(invalid("request body not finished")))?
        }
        // No `Expect: 100-continue` is ever sent.
        Some(SendRequestResult::Await100(_)) | None => {
            return Err(unsent(invalid("unexpected request state")))
        }
    };
    conn.io.flush().await.map_err(unsent)?;
    // Not held while the answer is awaited (a slow tool call can take minutes).
    drop(out);
    drop(wire);

    let sent = |e: io::Error| (classify(&e, Phase::Head), true);
    let mut input = Vec::new();
    let response = loop {
        let (used, resp) = call
            .try_response(&input, false)
            .map_err(|e| sent(invalid(e)))?;
        input.drain(..used);
        if let Some(r) = resp {
            break r;
        }
        if used > 0 {
            continue; // a 1xx was consumed
        }
        if input.len() > MAX_HEAD {
            return Err(sent(invalid("response head too large")));
        }
        let n = fill(&mut conn.io, &mut input).await.map_err(sent)?;
        if n == 0 {
            return Err(sent(io::ErrorKind::UnexpectedEof.into()));
        }
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let live = match call.proceed() {
        Some(RecvResponseResult::RecvBody(call)) => Some(Reading {
            conn,
            call,
            input,
            pool: dialer.pool.clone(),
            key,
        }),
        Some(RecvResponseResult::Cleanup(c)) => {
            if !c.must_close_connection() && input.is_empty() {
                dialer.pool.checkin(key, conn);
            }
            None
        }
        // A redirect without a body: not followed, and the connection is not reused.
        Some(RecvResponseResult::Redirect(_)) | None => None,
    };
    Ok(Response {
        status,
        headers,
        body: Body { live },
    })
}

impl Response {
    /// The next piece of the body, `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
        self.body
            .next()
            .await
            .map_err(|e| classify(&e, Phase::Body))
    }

    /// The whole body, at most `limit` bytes kept (`Err` past it when `strict`).
    pub(crate) async fn read_all(
        &mut self,
        limit: usize,
        strict: bool,
    ) -> Result<Vec<u8>, TransportError> {
        let mut out = Vec::new();
        while let Some(c) = self.chunk().await? {
            out.extend_from_slice(&c);
            if out.len() > limit {
                if strict {
                    return Err(TransportError::Other);
                }
                out.truncate(limit);
                break;
            }
        }
        Ok(out)
    }
}

impl Body {
    async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Some(r) = &mut self.live else {
            return Ok(None);
        };
        let close_delimited = r.call.body_mode() == BodyMode::CloseDelimited;
        loop {
            if !r.input.is_empty() {
                // Decoding never yields more than it consumes: a piece is no bigger than
                // the bytes it came from (the engine may hold it until the POST).
                let mut out = vec![0u8; r.input.len().min(BUF)];
                let (used, n) = r.call.read(&r.input, &mut out).map_err(invalid)?;
                r.input.drain(..used);
                if n > 0 {
                    out.truncate(n);
                    return Ok(Some(out));
                }
            }
            if r.call.can_proceed() && !close_delimited {
                // The body ended: the connection goes back to the pool if it is clean.
                if let Some(r) = self.live.take() {
                    if let Some(RecvBodyResult::Cleanup(c)) = r.call.proceed() {
                        if !c.must_close_connection() && r.input.is_empty() {
                            r.pool.checkin(r.key, r.conn);
                        }
                    }
                }
                return Ok(None);
            }
            let n = fill(&mut r.conn.io, &mut r.input).await?;
            if n == 0 {
                if close_delimited {
                    self.live = None;
                    return Ok(None);
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// Reads what the socket has (up to [`READ`] bytes) onto the end of `input`, with no
/// buffer of its own; `Ok(0)` at the end of the stream.
async fn fill(io: &mut Box<dyn Stream>, input: &mut Vec<u8>) -> io::Result<usize> {
    let len = input.len();
    input.resize(len + READ, 0);
    let read = io.read(&mut input[len..]).await;
    input.truncate(len + read.as_ref().map_or(0, |n| *n));
    read
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
