//! HTTP/1.1 request heads, for the health and admin listener: an incremental reader that
//! finds the end of a head in bytes as they arrive, and a strict parser of the finished head.
//!
//! It lives in the core (no I/O, network input in, a value or a classified error out) so the
//! listener's event loop can feed it whatever a socket yields and the fuzz target `http_head`
//! can check it without sockets: the outcome never depends on how the bytes were split, a
//! head is never larger than its bound, and a parsed head holds no line breaks.

/// Bytes of a head read so far, and where the search for its end stopped.
#[derive(Debug, Clone)]
pub struct HeadReader {
    buf: Vec<u8>,
    /// Everything before this offset is known not to end the head.
    scanned: usize,
    max: usize,
}

/// What the bytes so far amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadProgress {
    /// No complete head yet (maybe no byte yet).
    Partial,
    /// A complete head is buffered; [`HeadReader::take`] returns it.
    Complete,
    /// More than the bound arrived without the blank line ending the head (answer `431`).
    TooLarge,
    /// The first byte cannot start an HTTP request (answer `400`, do not wait for more).
    NotHttp,
}

impl HeadReader {
    /// A reader accepting heads of at most `max` bytes (blank line included), starting
    /// with `carry` (bytes a previous request on the connection left over).
    pub fn new(max: usize, carry: Vec<u8>) -> HeadReader {
        HeadReader {
            buf: carry,
            scanned: 0,
            max,
        }
    }

    /// Bytes buffered so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// How many more bytes are worth reading: a read never needs to go past the bound (one
    /// byte over it is enough to know the head is too large).
    pub fn room(&self) -> usize {
        (self.max + 1).saturating_sub(self.buf.len())
    }

    /// Appends what arrived and says where the head stands.
    pub fn push(&mut self, bytes: &[u8]) -> HeadProgress {
        self.buf.extend_from_slice(bytes);
        self.progress()
    }

    /// Where the head stands with the bytes already buffered.
    pub fn progress(&mut self) -> HeadProgress {
        if self
            .buf
            .first()
            .is_some_and(|b| !b.is_ascii_alphabetic() && *b != b'\r' && *b != b'\n')
        {
            return HeadProgress::NotHttp;
        }
        // Resume three bytes back: the terminator may straddle two pushes.
        let from = self.scanned.saturating_sub(3);
        match find_head_end(&self.buf[from..]) {
            Some(end) if from + end <= self.max => HeadProgress::Complete,
            Some(_) => HeadProgress::TooLarge,
            None if self.buf.len() > self.max => HeadProgress::TooLarge,
            None => {
                self.scanned = self.buf.len();
                HeadProgress::Partial
            }
        }
    }

    /// The complete head and the bytes after it (a body or pipelined requests); `None`
    /// when no complete head is buffered.
    pub fn take(self) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut buf = self.buf;
        let end = find_head_end(&buf).filter(|end| *end <= self.max)?;
        let rest = buf.split_off(end);
        Some((buf, rest))
    }

    /// All buffered bytes, whatever their state.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Offset just past the first `\r\n\r\n`.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// Path without the query string (origin form; absolute-form targets keep their path).
    pub path: String,
    /// The raw query string without `?`, empty when absent.
    pub query: String,
    /// Header names lowercased, values trimmed, in arrival order.
    pub headers: Vec<(String, String)>,
    pub http10: bool,
}

impl RequestHead {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a head was refused (answer `400` with this text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    NotUtf8,
    Empty,
    RequestLine,
    Method,
    Version,
    Target,
    Header,
    HeaderName,
    MissingHost,
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HeadError::NotUtf8 => "header is not UTF-8",
            HeadError::Empty => "empty request",
            HeadError::RequestLine => "malformed request line",
            HeadError::Method => "malformed method",
            HeadError::Version => "unsupported HTTP version",
            HeadError::Target => "malformed request target",
            HeadError::Header => "malformed header",
            HeadError::HeaderName => "malformed header name",
            HeadError::MissingHost => "missing Host header",
        })
    }
}

impl std::error::Error for HeadError {}

/// Parses a request line and headers (the bytes [`HeadReader::take`] returns).
pub fn parse_head(head: &[u8]) -> Result<RequestHead, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::NotUtf8)?;
    // Tolerate blank lines before the request line (RFC 9112 §2.2).
    let mut lines = text.split("\r\n").skip_while(|l| l.is_empty());
    let request_line = lines.next().ok_or(HeadError::Empty)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::RequestLine);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HeadError::Method);
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(HeadError::Version),
    };
    // Absolute-form targets (proxies) keep only their path; an origin-form path may
    // contain "://" and is kept whole.
    let target = match target.find("://").filter(|_| !target.starts_with('/')) {
        Some(i) => {
            let after = &target[i + 3..];
            after.find('/').map(|j| &after[j..]).unwrap_or("/")
        }
        None => target,
    };
    if (!target.starts_with('/') && target != "*") || target.contains(['\r', '\n']) {
        return Err(HeadError::Target);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.contains(['\r', '\n']) {
            return Err(HeadError::Header);
        }
        let (name, value) = line.split_once(':').ok_or(HeadError::Header)?;
        if name.is_empty() || name.ends_with(' ') || name.ends_with('\t') {
            return Err(HeadError::HeaderName);
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    if !http10 && !headers.iter().any(|(n, _)| n == "host") {
        return Err(HeadError::MissingHost);
    }
    Ok(RequestHead {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        http10,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_with_query_and_lowercased_headers() {
        let r = parse_head(
            b"GET /api/logs?limit=5&after=a%20b+c HTTP/1.1\r\nHost: x\r\nX-Y:  z \r\n\r\n",
        )
        .unwrap();
        assert!(!r.http10);
        assert_eq!(r.path, "/api/logs");
        assert_eq!(r.query, "limit=5&after=a%20b+c");
        assert_eq!(r.header("x-y"), Some("z"));
        assert_eq!(r.header("HOST"), Some("x"));
        let r = parse_head(b"\r\nGET http://h:1/p?q HTTP/1.0\r\n\r\n").unwrap();
        assert!(r.http10);
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/p", "q"));
        let r = parse_head(b"GET /a://b/c HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(r.path, "/a://b/c");
    }

    #[test]
    fn malformed_heads_are_refused() {
        for (bad, why) in [
            (&b"GET /\r\n\r\n"[..], HeadError::RequestLine),
            (b"GET / HTTP/2\r\nHost: x\r\n\r\n", HeadError::Version),
            (b"get / HTTP/1.1\r\nHost: x\r\n\r\n", HeadError::Method),
            (b"GET / HTTP/1.1\r\n\r\n", HeadError::MissingHost),
            (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", HeadError::Header),
            (b"GET nopath HTTP/1.1\r\nHost: x\r\n\r\n", HeadError::Target),
            (b"GET / HTTP/1.1\r\n : x\r\n\r\n", HeadError::HeaderName),
            (b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n", HeadError::NotUtf8),
        ] {
            assert_eq!(
                parse_head(bad),
                Err(why),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_reader_finds_heads_split_anywhere_and_keeps_the_rest() {
        let raw = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPUT /b";
        for cut in 0..raw.len() {
            let mut r = HeadReader::new(1024, Vec::new());
            let first = r.push(&raw[..cut]);
            assert_eq!(first == HeadProgress::Complete, cut >= 28, "cut {cut}");
            assert_eq!(r.push(&raw[cut..]), HeadProgress::Complete);
            let (head, rest) = r.take().unwrap();
            assert_eq!(head.len(), 28);
            assert_eq!(rest, b"PUT /b");
        }
    }

    #[test]
    fn the_reader_enforces_the_bound_and_the_first_byte() {
        let mut r = HeadReader::new(16, Vec::new());
        assert_eq!(r.push(b"GET / HTTP/1.1\r\n"), HeadProgress::Partial);
        assert_eq!(r.room(), 1);
        assert_eq!(r.push(b"H"), HeadProgress::TooLarge);
        // A terminator past the bound is still too large.
        let mut r = HeadReader::new(16, Vec::new());
        assert_eq!(
            r.push(b"GET / HTTP/1.1\r\nH\r\n\r\n"),
            HeadProgress::TooLarge
        );
        assert!(r.take().is_none());
        let mut r = HeadReader::new(16, Vec::new());
        assert_eq!(r.push(b"\x16\x03\x01"), HeadProgress::NotHttp);
        assert_eq!(
            HeadReader::new(16, b"\r\n".to_vec()).progress(),
            HeadProgress::Partial
        );
    }
}
