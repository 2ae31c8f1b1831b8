//! A small HTTP/1.1 server for the health and admin listener.
//!
//! Why not tiny_http (which the emulator uses): it reads a header line into an unbounded
//! buffer and has no socket timeouts, so one client sending an endless header grows the
//! process without bound, and every idle or slow connection pins a thread forever. An
//! orchestrator's `/healthz` probe must keep working whatever else connects, so this server
//! bounds everything it accepts:
//!
//! - request line + headers: at most [`Limits::max_header_bytes`] (else `431`, closed),
//!   read within [`Limits::header_timeout`] (Go's `ReadHeaderTimeout` is 5 s) — a client
//!   that trickles bytes is cut off when the whole head is late, not per read;
//! - bodies: `Content-Length` only (no chunked uploads), at most [`Limits::max_body`];
//! - connections: at most [`Limits::max_connections`] at once, each on its own thread; one
//!   more is answered `503` and closed at once;
//! - keep-alive: an idle connection is closed after [`Limits::idle_timeout`].
//!
//! Handlers run on the connection's thread and must be quick (they read published
//! snapshots; nothing here waits on the runtime's driver).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bounds applied to every connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
    pub max_body: usize,
    pub max_connections: usize,
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
            max_connections: 64,
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
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
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

/// A running listener; dropping it stops accepting (open connections end by their
/// timeouts).
pub struct Listener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn bind(addr: SocketAddr, limits: Limits, handler: Handler) -> io::Result<Listener> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicUsize::new(0));
        let accept = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("health-accept".into())
                .spawn(move || accept_loop(listener, limits, handler, stop, active))?
        };
        Ok(Listener {
            addr,
            stop,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() with a connection of our own.
        let ip = match self.addr.ip() {
            IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let _ = TcpStream::connect_timeout(
            &SocketAddr::new(ip, self.addr.port()),
            Duration::from_secs(1),
        );
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Decrements the connection count when a connection thread ends (even by panic).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Connections over the cap that still get a `503` (each on a short-lived thread, so the
/// answer is not destroyed by a reset); beyond this they are closed at once.
const MAX_REFUSING: usize = 16;

fn accept_loop(
    listener: TcpListener,
    limits: Limits,
    handler: Handler,
    stop: Arc<AtomicBool>,
    active: Arc<AtomicUsize>,
) {
    let refusing = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = conn else {
            // EMFILE and friends: back off a little instead of spinning.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        if active.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
            active.fetch_sub(1, Ordering::SeqCst);
            if refusing.fetch_add(1, Ordering::SeqCst) >= MAX_REFUSING {
                refusing.fetch_sub(1, Ordering::SeqCst);
                continue; // dropped: closed at once
            }
            let slot = Slot(refusing.clone());
            let _ = std::thread::Builder::new()
                .name("health-refuse".into())
                .spawn(move || {
                    let _slot = slot;
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
                    refuse(stream, Response::text(503, "too many connections\n"));
                });
            continue;
        }
        let slot = Slot(active.clone());
        let handler = handler.clone();
        let spawned = std::thread::Builder::new()
            .name("health-conn".into())
            .spawn(move || {
                let _slot = slot;
                serve_connection(stream, peer, limits, &handler);
            });
        if let Err(e) = spawned {
            log::warn!("health listener: cannot start a connection thread: {e}");
        }
    }
}

/// Why reading a request head stopped.
enum HeadError {
    /// The peer closed (or idled out) between requests: close quietly.
    Closed,
    TooLarge,
    Timeout,
    Bad(&'static str),
}

fn serve_connection(mut stream: TcpStream, peer: SocketAddr, limits: Limits, handler: &Handler) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    // Bytes read past the end of the previous request (pipelining).
    let mut carry: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let head = read_head(&mut stream, &mut carry, &limits, first);
        first = false;
        let (head_bytes, rest) = match head {
            Ok(v) => v,
            Err(HeadError::Closed) => return,
            Err(HeadError::TooLarge) => {
                refuse(
                    stream,
                    Response::text(431, "request header fields too large\n"),
                );
                return;
            }
            Err(HeadError::Timeout) => {
                refuse(stream, Response::text(408, "request timeout\n"));
                return;
            }
            Err(HeadError::Bad(why)) => {
                refuse(stream, Response::text(400, format!("bad request: {why}\n")));
                return;
            }
        };
        carry = rest;
        let parsed = match parse_head(&head_bytes, peer) {
            Ok(p) => p,
            Err(why) => {
                refuse(stream, Response::text(400, format!("bad request: {why}\n")));
                return;
            }
        };
        let (mut req, http10) = parsed;
        let mut keep_alive = match req.header("connection") {
            Some(v) if v.eq_ignore_ascii_case("close") => false,
            Some(v) if v.eq_ignore_ascii_case("keep-alive") => true,
            _ => !http10,
        };
        if req.header("transfer-encoding").is_some() {
            refuse(
                stream,
                Response::text(
                    411,
                    "send a Content-Length body (chunked uploads are not accepted)\n",
                ),
            );
            return;
        }
        let len = match req
            .header("content-length")
            .map(|v| v.trim().parse::<usize>())
        {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                refuse(stream, Response::text(400, "bad request: Content-Length\n"));
                return;
            }
        };
        if len > limits.max_body {
            refuse(stream, Response::text(413, "request body too large\n"));
            return;
        }
        if len > 0 {
            if req
                .header("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
            {
                let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            match read_body(&mut stream, &mut carry, len, &limits) {
                Some(b) => req.body = b,
                None => return,
            }
        }
        let head_only = req.method == "HEAD";
        let resp = handler(&req);
        if resp.status >= 500 || carry.len() > limits.max_header_bytes {
            keep_alive = false;
        }
        if write_response(&mut stream, &resp, keep_alive, head_only).is_err() || !keep_alive {
            let _ = stream.flush();
            return;
        }
    }
}

/// Answers an error and closes without resetting: the peer may still be sending (an
/// oversized head), and closing a socket with unread input sends a RST that can destroy the
/// answer before the peer reads it. So: write, half-close, drain briefly, then close.
fn refuse(mut stream: TcpStream, resp: Response) {
    if write_response(&mut stream, &resp, false, false).is_err() {
        return;
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    while drained < 1024 * 1024 {
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

/// Reads until the blank line ending a request head. Returns (head, bytes after it).
fn read_head(
    stream: &mut TcpStream,
    carry: &mut Vec<u8>,
    limits: &Limits,
    first: bool,
) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let mut buf = std::mem::take(carry);
    // A kept-alive connection may idle before its next request; the head deadline starts
    // with its first byte.
    let mut deadline = if first || !buf.is_empty() {
        Some(Instant::now() + limits.header_timeout)
    } else {
        None
    };
    let idle_deadline = Instant::now() + limits.idle_timeout;
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find_head_end(&buf) {
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > limits.max_header_bytes {
            return Err(HeadError::TooLarge);
        }
        let until = deadline.unwrap_or(idle_deadline);
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(if deadline.is_some() && !buf.is_empty() {
                HeadError::Timeout
            } else {
                HeadError::Closed
            });
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut chunk) {
            Ok(0) => return Err(HeadError::Closed),
            Ok(n) => {
                if deadline.is_none() {
                    deadline = Some(Instant::now() + limits.header_timeout);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(HeadError::Closed),
        }
        if buf.len() > limits.max_header_bytes && find_head_end(&buf).is_none() {
            return Err(HeadError::TooLarge);
        }
        if buf
            .first()
            .is_some_and(|b| !b.is_ascii_alphabetic() && *b != b'\r' && *b != b'\n')
        {
            return Err(HeadError::Bad("not HTTP"));
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn read_body(
    stream: &mut TcpStream,
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

/// Parses the request line and headers. Returns the request and whether it is HTTP/1.0.
fn parse_head(head: &[u8], peer: SocketAddr) -> Result<(Request, bool), &'static str> {
    let text = std::str::from_utf8(head).map_err(|_| "header is not UTF-8")?;
    // Tolerate blank lines before the request line (RFC 9112 §2.2).
    let mut lines = text.split("\r\n").skip_while(|l| l.is_empty());
    let request_line = lines.next().ok_or("empty request")?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed request line");
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("malformed method");
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err("unsupported HTTP version"),
    };
    // Absolute-form targets (proxies) keep only their path.
    let target = match target.find("://") {
        Some(i) => {
            let after = &target[i + 3..];
            after.find('/').map(|j| &after[j..]).unwrap_or("/")
        }
        None => target,
    };
    if !target.starts_with('/') && target != "*" {
        return Err("malformed request target");
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or("malformed header")?;
        if name.is_empty() || name.ends_with(' ') || name.ends_with('\t') {
            return Err("malformed header name");
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    if !http10 && !headers.iter().any(|(n, _)| n == "host") {
        return Err("missing Host header");
    }
    Ok((
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers,
            body: Vec::new(),
            peer,
        },
        http10,
    ))
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
    stream: &mut TcpStream,
    resp: &Response,
    keep_alive: bool,
    head_only: bool,
) -> io::Result<()> {
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
    stream.write_all(&out)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    #[test]
    fn heads_parse_with_query_and_lowercased_headers() {
        let (r, http10) = parse_head(
            b"GET /api/logs?limit=5&after=a%20b+c HTTP/1.1\r\nHost: x\r\nX-Y:  z \r\n\r\n",
            peer(),
        )
        .unwrap();
        assert!(!http10);
        assert_eq!(r.path, "/api/logs");
        assert_eq!(r.query_param("limit").as_deref(), Some("5"));
        assert_eq!(r.query_param("after").as_deref(), Some("a b c"));
        assert_eq!(r.query_param("none"), None);
        assert_eq!(r.header("x-y"), Some("z"));
        assert_eq!(r.header("HOST"), Some("x"));
    }

    #[test]
    fn malformed_heads_are_refused() {
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET / HTTP/2\r\nHost: x\r\n\r\n",
            b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
            b"GET nopath HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert!(
                parse_head(bad, peer()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_head(b"GET / HTTP/1.0\r\n\r\n", peer()).unwrap().1);
    }

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
            max_connections: 4,
            ..Limits::default()
        });
        // A trickling client: one byte at a time, never finishing the head.
        let mut slow = TcpStream::connect(l.addr()).unwrap();
        slow.write_all(b"GET / HT").unwrap();
        // Idle connections that never send anything.
        let idle: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(l.addr()).unwrap())
            .collect();
        assert!(get(l.addr()).contains("GET /healthz"));
        std::thread::sleep(Duration::from_millis(150));
        let _ = slow.write_all(b"T");
        slow.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut out = String::new();
        let _ = slow.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
        drop(idle);
        drop(slow);
        // Let those connection threads see the close and free their slots.
        std::thread::sleep(Duration::from_millis(300));
        // The connection cap answers 503 at once instead of queueing.
        let held: Vec<TcpStream> = (0..4)
            .map(|_| TcpStream::connect(l.addr()).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let over = get(l.addr());
        assert!(over.starts_with("HTTP/1.1 503"), "{over}");
        drop(held);
        std::thread::sleep(Duration::from_millis(500));
        assert!(get(l.addr()).contains("GET /healthz"));
    }
}
