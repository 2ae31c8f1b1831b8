//! HTTP plumbing shared by the emulator and the MCP stub.
//!
//! tiny_http parses requests; every response is written by hand through `into_writer()`.
//! Writing the bytes ourselves is what lets the fault knobs lie (wrong shapes, truncated
//! bodies), lets SSE events leave the process one by one (tiny_http's `respond()` buffers a
//! streamed body), and keeps the emitted headers exactly what a test expects.
//!
//! A fixed pool of worker threads pulls requests from the listener. Handlers may block for a
//! bounded time (long polls, MCP ingress), so the pool is sized for the number of such waits
//! that can be outstanding at once, not for CPU.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::sockdrop;

/// A request handler. It owns the request and must answer (or drop) it.
pub(crate) type Handler = Arc<dyn Fn(tiny_http::Request) + Send + Sync>;

/// A tiny_http listener served by a fixed pool of worker threads.
pub(crate) struct HttpServer {
    /// `None` once stopped: dropping the last reference is what closes tiny_http's listener.
    server: Option<Arc<tiny_http::Server>>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

thread_local! {
    /// Set on the worker threads of a server that closes every connection after its
    /// response (see [`HttpServer::start_closing`]); read by the response writers below.
    static CLOSE_AFTER_RESPONSE: Cell<bool> = const { Cell::new(false) };
}

impl HttpServer {
    /// Binds `addr` and starts `workers` threads named `<name>-<n>` that feed `handler`.
    pub(crate) fn start(
        addr: SocketAddr,
        workers: usize,
        name: &str,
        handler: Handler,
    ) -> io::Result<Self> {
        Self::start_closing(addr, workers, name, handler, false)
    }

    /// Like [`HttpServer::start`]; with `close` every response says `Connection: close`.
    ///
    /// Why: tiny_http 0.12 runs each connection as a task of its own thread pool, and that
    /// pool can lose a wake-up when two connections arrive together (`spawn` queues the
    /// second task for a thread that was already woken for the first). The second
    /// connection's requests then wait until some other connection closes — with
    /// keep-alive clients, possibly until the test ends. Closing after each response keeps
    /// every task short, so a queued one is picked up within milliseconds. Trace replays,
    /// which open many connections at once and measure timing, turn it on.
    pub(crate) fn start_closing(
        addr: SocketAddr,
        workers: usize,
        name: &str,
        handler: Handler,
        close: bool,
    ) -> io::Result<Self> {
        let server = tiny_http::Server::http(addr).map_err(|e| io::Error::other(e.to_string()))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("listener has no IP address"))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let server = Arc::clone(&server);
            let stop = Arc::clone(&stop);
            let handler = Arc::clone(&handler);
            let handle = thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    CLOSE_AFTER_RESPONSE.with(|c| c.set(close));
                    worker_loop(&server, &stop, &handler)
                })?;
            handles.push(handle);
        }
        Ok(Self {
            server: Some(server),
            stop,
            workers: handles,
            addr,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, waits up to `grace` for workers to finish their current request, then
    /// closes every connection still open on the listener so tiny_http's per-connection
    /// threads (which have no read timeout) end too. Workers still busy after `grace` are
    /// detached; every handler wait is bounded, so they end on their own.
    ///
    /// It returns once the port refuses new connections, so a test that stops a server to
    /// see "connection refused" sees exactly that (bounded by `grace` as well).
    pub(crate) fn stop(&mut self, grace: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        let Some(server) = self.server.take() else {
            return;
        };
        server.unblock();
        let deadline = Instant::now() + grace;
        for handle in self.workers.drain(..) {
            while !handle.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
        sockdrop::shutdown_matching(self.addr, None);
        // tiny_http closes its listener on its own accept thread after the server is
        // dropped; until then a connect completes into a backlog that is about to be reset.
        drop(server);
        wait_until_refused(
            self.addr,
            deadline.max(Instant::now() + Duration::from_secs(2)),
        );
    }
}

/// Connects to `addr` until the connection is refused or `deadline` passes. Each probe that
/// connects is closed at once (it may even be the one that wakes the accept thread).
fn wait_until_refused(addr: SocketAddr, deadline: Instant) {
    while Instant::now() < deadline {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => drop(s),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return,
            Err(_) => {}
        }
        thread::sleep(Duration::from_millis(2));
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if self.server.is_some() {
            self.stop(Duration::from_secs(5));
        }
    }
}

fn worker_loop(server: &tiny_http::Server, stop: &AtomicBool, handler: &Handler) {
    while !stop.load(Ordering::SeqCst) {
        match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(rq)) => {
                // A panicking handler must not shrink the pool; the request (moved into the
                // handler) is answered 500 by tiny_http's Drop if nothing was written.
                if catch_unwind(AssertUnwindSafe(|| handler(rq))).is_err() {
                    log::error!("emulator handler panicked");
                }
            }
            Ok(None) => {}
            Err(_) => break,
        }
    }
}

/// Request head captured before the request is consumed.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub method: String,
    /// Raw request target (path and query, not decoded).
    pub url: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names as the client spelled them, in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub(crate) fn of(rq: &tiny_http::Request) -> Self {
        let url = rq.url().to_string();
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p.to_string(), parse_query(q)),
            None => (url.clone(), Vec::new()),
        };
        Head {
            method: rq.method().as_str().to_ascii_uppercase(),
            url,
            path,
            query,
            headers: rq
                .headers()
                .iter()
                .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
                .collect(),
        }
    }

    /// First value of a header, case-insensitively.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// All values of a query parameter, in order.
    pub(crate) fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// First value of `name` in a header list, case-insensitively.
pub(crate) fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why a body could not be read.
pub(crate) enum BodyError {
    TooLarge,
    Io,
}

/// Reads the whole request body, refusing more than `max` bytes.
pub(crate) fn read_body(rq: &mut tiny_http::Request, max: usize) -> Result<Vec<u8>, BodyError> {
    if rq.body_length().is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge);
    }
    let mut buf = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    rq.as_reader()
        .take(limit)
        .read_to_end(&mut buf)
        .map_err(|_| BodyError::Io)?;
    if buf.len() > max {
        return Err(BodyError::TooLarge);
    }
    Ok(buf)
}

/// Writes a complete response with a `Content-Length` body. Errors (client gone) are ignored:
/// there is nobody left to tell.
pub(crate) fn respond(rq: tiny_http::Request, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let mut w = rq.into_writer();
    let mut head = status_line(status);
    for (k, v) in headers {
        if valid_header(k, v) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    push_close(&mut head, headers.iter().map(|(k, _)| *k));
    if status != 204 && status != 304 && !(100..200).contains(&status) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    // One write: a head and a body in separate small writes meet Nagle's algorithm on this
    // side and delayed ACK on the peer's, which stalls every response by ~40 ms.
    let mut out = head.into_bytes();
    if status != 204 && status != 304 {
        out.extend_from_slice(body);
    }
    let _ = w.write_all(&out);
    let _ = w.flush();
}

/// Writes a JSON response.
pub(crate) fn respond_json(rq: tiny_http::Request, status: u16, body: &serde_json::Value) {
    let text = serde_json::to_vec(body).unwrap_or_default();
    respond(rq, status, &[("Content-Type", "application/json")], &text);
}

/// Adds `Connection: close` on a closing server, unless the response names its own.
fn push_close<'a>(head: &mut String, mut names: impl Iterator<Item = &'a str>) {
    if CLOSE_AFTER_RESPONSE.with(Cell::get) && !names.any(|k| k.eq_ignore_ascii_case("connection"))
    {
        head.push_str("Connection: close\r\n");
    }
}

fn status_line(status: u16) -> String {
    let reason = tiny_http::StatusCode(status).default_reason_phrase();
    format!("HTTP/1.1 {status} {reason}\r\n")
}

/// Refuses header names or values that would break the response framing.
fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        && !value.bytes().any(|b| b == b'\r' || b == b'\n')
}

/// A response body sent with chunked transfer encoding, one flush per piece, so that server-
/// sent events reach the peer as they happen.
pub(crate) struct ChunkedStream {
    w: Box<dyn Write + Send>,
}

impl ChunkedStream {
    pub(crate) fn start(
        rq: tiny_http::Request,
        status: u16,
        headers: &[(String, String)],
    ) -> io::Result<Self> {
        let mut w = rq.into_writer();
        let mut head = status_line(status);
        for (k, v) in headers {
            if valid_header(k, v) {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        push_close(&mut head, headers.iter().map(|(k, _)| k.as_str()));
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        w.write_all(head.as_bytes())?;
        w.flush()?;
        Ok(Self { w })
    }

    pub(crate) fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        // One write per chunk (see `respond` on Nagle + delayed ACK).
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        self.w.write_all(&out)?;
        self.w.flush()
    }

    /// Sends one SSE `message` event; multi-line data becomes several `data:` lines.
    pub(crate) fn send_event(&mut self, data: &str) -> io::Result<()> {
        let mut ev = String::from("event: message\n");
        for line in data.split('\n') {
            ev.push_str("data: ");
            ev.push_str(line.trim_end_matches('\r'));
            ev.push('\n');
        }
        ev.push('\n');
        self.send(ev.as_bytes())
    }

    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.w.write_all(b"0\r\n\r\n")?;
        self.w.flush()
    }
}

/// Closes the request's connection without writing a response: the client sees EOF where it
/// expected a status line. Where the socket cannot be reached (non-Unix), a garbage status
/// line is written instead, which clients also report as a transport failure.
pub(crate) fn drop_connection(rq: tiny_http::Request, listener: SocketAddr) {
    let peer = rq.remote_addr().copied();
    let mut w = rq.into_writer();
    if !sockdrop::shutdown_matching(listener, peer) {
        let _ = w.write_all(b"XHTTP\r\n\r\n");
        let _ = w.flush();
    }
    drop(w);
}

/// Splits a query string into decoded pairs (`+` is a space, `%XX` escapes are decoded).
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// Decodes `%XX` escapes; malformed escapes are kept literally.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Base URL a peer used to reach us, from its `Host` header (falls back to the listener).
pub(crate) fn base_url_from_host(head: &Head, listener: SocketAddr) -> String {
    match head.header("Host") {
        Some(h) if !h.is_empty() && valid_header("Host", h) && !h.contains('/') => {
            format!("http://{h}")
        }
        _ => format!("http://{listener}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries() {
        let q = parse_query("channel=a%2Db&channel=main&limit=5&x=%zz&y=a+b&z=%4");
        assert_eq!(q[0], ("channel".into(), "a-b".into()));
        assert_eq!(q[1].1, "main");
        assert_eq!(q[3].1, "%zz");
        assert_eq!(q[4].1, "a b");
        assert_eq!(q[5].1, "%4");
    }
}
