//! A small HTTP/1.1 server for the health and admin listener.
//!
//! Why not tiny_http (which the emulator uses): it reads a header line into an unbounded
//! buffer and has no socket timeouts, so one client sending an endless header grows the
//! process without bound, and every idle or slow connection pins a thread forever. An
//! orchestrator's `/healthz` probe must keep working whatever else connects (issue #25), so
//! a connection costs a thread only once its request head is complete:
//!
//! - **heads are read by one event loop** (`heads.rs`, `polling`: epoll/kqueue/IOCP), which
//!   owns every connection between requests. A connection there costs its socket and its
//!   head buffer (at most [`Limits::max_header_bytes`]; a few hundred bytes for a typical
//!   head), no thread. At most [`Limits::max_waiting`] wait at once; one more evicts the
//!   *oldest*, so a new client (a probe sends its head at once) always gets in, and a full
//!   fd table (`EMFILE`) evicts the oldest too instead of stalling accepts;
//! - request line + headers: at most [`Limits::max_header_bytes`] (else `431`), complete
//!   within [`Limits::header_timeout`] of the connection (or of the first byte of a later
//!   request on it; Go's `ReadHeaderTimeout` is 5 s) — a client that trickles bytes is cut
//!   off when the whole head is late, not per read (`408`, or a quiet close when it sent
//!   nothing); a kept-alive connection idle for [`Limits::idle_timeout`] is closed;
//! - a complete head goes to a thread of its own, at most [`Limits::max_workers`] at once,
//!   which reads the body (`Content-Length` only, at most [`Limits::max_body`], within
//!   [`Limits::body_timeout`]), runs the handler, writes the answer (within
//!   [`Limits::write_timeout`]) and hands a kept-alive connection back to the loop. When all
//!   workers are busy, the first request of a connection for `/healthz`, `/readyz` or
//!   `/metrics` (a body-less `GET`/`HEAD`: kubelet and Prometheus) still gets one of
//!   [`Limits::probe_workers`] reserved threads; anything else is answered `503` at once;
//! - refusals (`400`, `408`, `431`, `503`) are written by the loop without blocking, then
//!   the socket is half-closed and drained for up to a second so the peer reads the answer
//!   instead of a reset.
//!
//! Measured (issue #25, `bin/tests/health_flood.rs`, 2-core machine at load average 11–16,
//! debug build): with 1,000 slowloris connections (or 1,000 one-byte-per-second tricklers)
//! held, `/healthz` on a fresh connection every 50 ms answered 200 every time, at most 32 ms,
//! the client's RSS grew by 0.3–0.6 MiB, and every hostile connection got `408` at 5.0–5.1 s
//! (table in `docs/run.md`). Before, with a thread per connection and 64 at most, 184 of 204
//! probes got no answer at all during a slowloris.
//!
//! Handlers run on a worker thread and must be quick (they read published snapshots;
//! nothing here waits on the runtime's driver).

mod heads;
pub mod stream;

use stream::{Acceptor, Stream};

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tunnel_core::http_head::RequestHead;

/// Bounds applied to every connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
    pub max_body: usize,
    /// Requests served at once (each on its own thread, from a complete head to the end of
    /// its answer).
    pub max_workers: usize,
    /// Extra threads only for a connection's first body-less `GET`/`HEAD` of `/healthz`,
    /// `/readyz` or `/metrics`, used when the others are all busy.
    pub probe_workers: usize,
    /// Connections waiting for a request head (no thread each); one more evicts the oldest.
    pub max_waiting: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Browsers send every cookie set for `localhost` (any port); leave room for them.
            max_header_bytes: 64 * 1024,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_body: 1024 * 1024,
            max_workers: 64,
            probe_workers: 8,
            max_waiting: 2048,
        }
    }
}

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The raw query string (without `?`), empty when absent.
    pub query: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The TCP peer.
    pub peer: SocketAddr,
}

impl Request {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let decoded = match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (decoded, b[i]) {
            (Some(v), _) => {
                out.push(v);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, c) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response; `Content-Length` and `Connection` are added when written.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A streamed body instead of `body` (server-sent events): written after the head,
    /// without `Content-Length`, on the request's own thread; the connection closes after.
    pub stream: Option<Streamer>,
}

/// The function that writes a streamed body.
pub type StreamFn = dyn Fn(&mut dyn Write) + Send + Sync;

/// Writes a streamed body until it is done or a write fails (the client went away).
#[derive(Clone)]
pub struct Streamer(pub Arc<StreamFn>);

impl std::fmt::Debug for Streamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Streamer")
    }
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            stream: None,
        }
    }

    /// A `200` whose body `streamer` writes as it goes.
    pub fn streaming(content_type: &str, streamer: Streamer) -> Response {
        Response {
            stream: Some(streamer),
            ..Response::new(200, content_type, Vec::new())
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body.into())
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What the server calls for every request.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// A running listener; dropping it stops the event loop and closes the connections waiting
/// for a head (requests being served finish on their threads).
pub struct Listener {
    addr: SocketAddr,
    shared: Arc<heads::Shared>,
    io: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn bind(addr: SocketAddr, limits: Limits, handler: Handler) -> io::Result<Listener> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let (shared, io) = heads::start(Acceptor::Tcp(listener), limits, handler)?;
        Ok(Listener {
            addr,
            shared,
            io: Some(io),
        })
    }

    /// Serves on a unix socket at `path` (`--health.unix-socket`). Connections on it count
    /// as loopback for the admin routes ([`stream::UNIX_PEER`]).
    #[cfg(unix)]
    pub fn bind_unix(
        path: &std::path::Path,
        limits: Limits,
        handler: Handler,
    ) -> io::Result<Listener> {
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        let (shared, io) = heads::start(Acceptor::Unix(listener), limits, handler)?;
        Ok(Listener {
            addr: stream::UNIX_PEER,
            shared,
            io: Some(io),
        })
    }

    /// The bound TCP address (`127.0.0.1:0` for a unix socket).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.stop();
        if let Some(t) = self.io.take() {
            let _ = t.join();
        }
    }
}

/// Whether a request may use a reserved probe thread: the first request of a connection
/// (kubelet probes connect afresh; a pipelining client cannot hold the lane), a body-less
/// `GET`/`HEAD` of a probe path.
fn is_probe(head: &RequestHead, served: u32) -> bool {
    served == 0
        && matches!(head.method.as_str(), "GET" | "HEAD")
        && matches!(head.path.as_str(), "/healthz" | "/readyz" | "/metrics")
        && head.header("transfer-encoding").is_none()
        && head
            .header("content-length")
            .is_none_or(|v| v.trim() == "0")
}

/// Serves one request whose head is complete, on a worker thread. Returns the connection
/// and the bytes read past this request when it stays open.
fn serve_request(
    mut stream: Stream,
    peer: SocketAddr,
    head: RequestHead,
    mut carry: Vec<u8>,
    limits: &Limits,
    handler: &Handler,
) -> Option<(Stream, Vec<u8>)> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let mut keep_alive = match head.header("connection") {
        Some(v) if v.eq_ignore_ascii_case("close") => false,
        Some(v) if v.eq_ignore_ascii_case("keep-alive") => true,
        _ => !head.http10,
    };
    if head.header("transfer-encoding").is_some() {
        let why = "send a Content-Length body (chunked uploads are not accepted)\n";
        refuse(stream, Response::text(411, why));
        return None;
    }
    let len = match head
        .header("content-length")
        .map(|v| v.trim().parse::<usize>())
    {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            refuse(stream, Response::text(400, "bad request: Content-Length\n"));
            return None;
        }
    };
    if len > limits.max_body {
        refuse(stream, Response::text(413, "request body too large\n"));
        return None;
    }
    let mut req = Request {
        method: head.method,
        path: head.path,
        query: head.query,
        headers: head.headers,
        body: Vec::new(),
        peer,
    };
    if len > 0 {
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        req.body = read_body(&mut stream, &mut carry, len, limits)?;
    }
    let head_only = req.method == "HEAD";
    let resp = handler(&req);
    if let Some(streamer) = &resp.stream {
        let mut head = encode_response(&resp, false, true);
        // No length: the body ends when the connection closes.
        let cut = head.len() - b"Content-Length: 0\r\nConnection: close\r\n\r\n".len();
        head.truncate(cut);
        head.extend_from_slice(b"Connection: close\r\n\r\n");
        if stream.write_all(&head).and_then(|_| stream.flush()).is_ok() && !head_only {
            (streamer.0)(&mut stream);
        }
        return None;
    }
    if resp.status >= 500 || carry.len() > limits.max_header_bytes {
        keep_alive = false;
    }
    if write_response(&mut stream, &resp, keep_alive, head_only).is_err() || !keep_alive {
        return None;
    }
    Some((stream, carry))
}

/// Answers an error from a worker thread and closes without resetting: the peer may still
/// be sending, and closing a socket with unread input sends a RST that can destroy the
/// answer before the peer reads it. So: write, half-close, drain briefly, then close.
fn refuse(mut stream: Stream, resp: Response) {
    if write_response(&mut stream, &resp, false, false).is_err() {
        return;
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + heads::DRAIN_TIME;
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    while drained < heads::DRAIN_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

fn read_body(
    stream: &mut Stream,
    carry: &mut Vec<u8>,
    len: usize,
    limits: &Limits,
) -> Option<Vec<u8>> {
    let mut body = std::mem::take(carry);
    if body.len() >= len {
        *carry = body.split_off(len);
        return Some(body);
    }
    let deadline = Instant::now() + limits.body_timeout;
    let mut chunk = [0u8; 8192];
    while body.len() < len {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let _ = stream.set_read_timeout(Some(left));
        let want = (len - body.len()).min(chunk.len());
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return None,
        }
    }
    Some(body)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn write_response(
    stream: &mut Stream,
    resp: &Response,
    keep_alive: bool,
    head_only: bool,
) -> io::Result<()> {
    stream.write_all(&encode_response(resp, keep_alive, head_only))?;
    stream.flush()
}

fn encode_response(resp: &Response, keep_alive: bool, head_only: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + if head_only { 0 } else { resp.body.len() });
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (n, v) in &resp.headers {
        // Header values come from our own code; refuse line breaks anyway.
        if v.contains(['\r', '\n']) || n.contains(['\r', '\n', ':']) {
            continue;
        }
        let _ = write!(out, "{n}: {v}\r\n");
    }
    let _ = write!(
        out,
        "Content-Length: {}\r\nConnection: {}\r\n\r\n",
        resp.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    if !head_only {
        out.extend_from_slice(&resp.body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%4"), "%4");
    }

    fn serve(limits: Limits) -> Listener {
        Listener::bind(
            "127.0.0.1:0".parse().unwrap(),
            limits,
            Arc::new(|r: &Request| {
                Response::text(200, format!("{} {} {}", r.method, r.path, r.body.len()))
            }),
        )
        .unwrap()
    }

    /// Sends raw bytes, returns the whole answer (the server closes or the timeout hits).
    fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(raw);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn get(addr: SocketAddr) -> String {
        exchange(
            addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    }

    #[test]
    fn keep_alive_pipelining_bodies_and_head() {
        let l = serve(Limits::default());
        let out = exchange(
            l.addr(),
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcHEAD /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(out.contains("GET /a 0"), "{out}");
        assert!(out.contains("PUT /b 3"), "{out}");
        assert_eq!(out.matches("HTTP/1.1 200").count(), 3, "{out}");
        assert!(!out.contains("HEAD /c"), "HEAD has no body: {out}");
        let out = exchange(
            l.addr(),
            b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 411"), "{out}");
    }

    #[test]
    fn oversized_heads_and_bodies_are_refused() {
        let l = serve(Limits {
            max_header_bytes: 1024,
            max_body: 10,
            ..Limits::default()
        });
        let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 64 * 1024));
        let out = exchange(l.addr(), &big);
        assert!(out.starts_with("HTTP/1.1 431"), "{out}");
        let out = exchange(
            l.addr(),
            b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
        assert!(get(l.addr()).contains("GET /healthz"));
    }

    #[test]
    fn slow_clients_time_out_and_do_not_block_others() {
        let l = serve(Limits {
            header_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(300),
            max_workers: 1,
            probe_workers: 0,
            ..Limits::default()
        });
        // A trickling client: one byte at a time, never finishing the head.
        let mut slow = TcpStream::connect(l.addr()).unwrap();
        slow.write_all(b"GET / HT").unwrap();
        // Idle connections that never send anything: more than there are workers, and
        // none of them takes one.
        let idle: Vec<TcpStream> = (0..8)
            .map(|_| TcpStream::connect(l.addr()).unwrap())
            .collect();
        assert!(get(l.addr()).contains("GET /healthz"));
        std::thread::sleep(Duration::from_millis(150));
        let _ = slow.write_all(b"T");
        slow.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut out = String::new();
        let _ = slow.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
        // The idle ones were closed quietly at the same deadline.
        for mut s in idle {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut out = Vec::new();
            assert_eq!(s.read_to_end(&mut out).unwrap(), 0);
        }
    }

    /// Holds every worker with a request whose body never comes.
    fn hold_workers(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
        let held: Vec<TcpStream> = (0..n)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
                    .unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        held
    }

    #[test]
    fn busy_workers_answer_503_at_once_but_probes_have_their_own_lane() {
        let l = serve(Limits {
            body_timeout: Duration::from_secs(3),
            max_workers: 2,
            probe_workers: 1,
            ..Limits::default()
        });
        let held = hold_workers(l.addr(), 2);
        let out = exchange(
            l.addr(),
            b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 503"), "{out}");
        // A probe on a fresh connection uses the reserved thread.
        assert!(get(l.addr()).contains("GET /healthz"));
        // Not with a body.
        let out = exchange(
            l.addr(),
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
        );
        assert!(out.starts_with("HTTP/1.1 503"), "{out}");
        drop(held);
        std::thread::sleep(Duration::from_millis(200));
        let out = exchange(
            l.addr(),
            b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(out.contains("GET /a"), "{out}");
    }

    #[test]
    fn an_idle_kept_alive_connection_gives_its_thread_back() {
        let l = serve(Limits {
            max_workers: 1,
            probe_workers: 0,
            ..Limits::default()
        });
        let mut kept = TcpStream::connect(l.addr()).unwrap();
        kept.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        kept.write_all(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        let n = kept.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("GET /one"));
        std::thread::sleep(Duration::from_millis(100));
        // The only thread is free again while `kept` idles between requests.
        let out = exchange(
            l.addr(),
            b"GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(out.contains("GET /two"), "{out}");
        // And the kept-alive connection still works.
        kept.write_all(b"GET /three HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let n = kept.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("GET /three"));
    }

    #[test]
    fn a_full_waiting_room_evicts_the_oldest_so_new_clients_get_in() {
        let l = serve(Limits {
            max_waiting: 4,
            ..Limits::default()
        });
        let mut oldest = TcpStream::connect(l.addr()).unwrap();
        oldest.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let _others: Vec<TcpStream> = (0..3)
            .map(|_| TcpStream::connect(l.addr()).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        // The room is full; a probe evicts the oldest and is answered.
        assert!(get(l.addr()).contains("GET /healthz"));
        oldest
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut out = Vec::new();
        let closed = matches!(oldest.read_to_end(&mut out), Ok(0) | Err(_));
        assert!(
            closed && out.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }
}
