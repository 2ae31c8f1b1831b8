//! A minimal HTTP/1.1 client over async-net (+ futures-rustls for `https`).
//!
//! Just what the tunnel needs: one request per connection (`Connection: close`), a body sent
//! with `Content-Length`, the response head parsed by httparse, and the body read as it
//! arrives (`Content-Length`, chunked, or until close) so SSE events reach the engine one by
//! one. No redirects are followed (MCP requests must not be re-sent anywhere else), no
//! proxies, no pooling: a gap against the blocking adapter, documented in docs/embedding.md.

use std::io;
use std::sync::Arc;

use async_net::TcpStream;
use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use futures_lite::{AsyncRead, AsyncWrite};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use tunnel_core::classify::TransportError;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
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

/// TLS settings shared by every connection.
#[derive(Clone)]
pub(crate) struct Tls {
    connector: futures_rustls::TlsConnector,
}

impl Tls {
    /// Mozilla's roots (the same set the blocking adapter trusts by default).
    pub(crate) fn new() -> Result<Tls, String> {
        let mut roots = rustls::RootCertStore::empty();
        for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            let _ = roots.add(der.clone());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls {
            connector: futures_rustls::TlsConnector::from(Arc::new(config)),
        })
    }
}

/// A response whose body is still being read.
pub(crate) struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    body: Body,
}

enum Framing {
    Length(u64),
    Chunked { left: u64, done: bool },
    Close,
    Empty,
}

struct Body {
    reader: BufReader<Box<dyn Stream>>,
    framing: Framing,
}

/// Sends one request; returns when the response head has arrived. `Err` carries whether
/// the request had been written completely (a POST that may have landed).
pub(crate) async fn send(
    tls: &Tls,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, (TransportError, bool)> {
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = uri
        .host()
        .ok_or((TransportError::Dial, false))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let tcp = match TcpStream::connect((host.as_str(), port)).await {
        Ok(s) => s,
        // async-net resolves first: the core tells a lookup failure from a connect failure.
        Err(e) => return Err((classify(&e, Phase::Connect), false)),
    };
    let _ = tcp.set_nodelay(true);
    let mut stream: Box<dyn Stream> = if scheme == "https" {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| (TransportError::Tls, false))?;
        match tls.connector.connect(name, tcp).await {
            Ok(s) => Box::new(s),
            Err(_) => return Err((TransportError::Tls, false)),
        }
    } else {
        Box::new(tcp)
    };

    let mut head = format!(
        "{} {} HTTP/1.1\r\n",
        method,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or(&host);
    head.push_str(&format!("Host: {authority}\r\n"));
    for (k, v) in headers {
        if k == http::header::HOST
            || k == http::header::CONTENT_LENGTH
            || k == http::header::CONNECTION
            || k == http::header::TRANSFER_ENCODING
        {
            continue;
        }
        head.push_str(k.as_str());
        head.push_str(": ");
        head.push_str(&String::from_utf8_lossy(v.as_bytes()));
        head.push_str("\r\n");
    }
    if !body.is_empty() || *method == Method::POST {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await
    };
    if let Err(e) = write.await {
        return Err((classify(&e, Phase::Head), false));
    }

    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader)
        .await
        .map_err(|e| (classify(&e, Phase::Head), true))?;
    let framing = if *method == Method::HEAD || status == 204 || status == 304 || status < 200 {
        Framing::Empty
    } else if headers
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        Framing::Chunked {
            left: 0,
            done: false,
        }
    } else if let Some(n) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    Ok(Response {
        status,
        headers,
        body: Body { reader, framing },
    })
}

async fn read_head(r: &mut BufReader<Box<dyn Stream>>) -> io::Result<(u16, HeaderMap)> {
    let mut buf = Vec::new();
    loop {
        let n = r.read_until(b'\n', &mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response head too large",
            ));
        }
        if buf.ends_with(b"\r\n\r\n") || buf.ends_with(b"\n\n") {
            break;
        }
    }
    let mut hs = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut hs);
    match resp.parse(&buf) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed response head",
            ))
        }
    }
    let status = resp.code.unwrap_or(0);
    let mut headers = HeaderMap::new();
    for h in resp.headers.iter() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            headers.append(n, v);
        }
    }
    Ok((status, headers))
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
        let mut buf = vec![0u8; 16 * 1024];
        match &mut self.framing {
            Framing::Empty => Ok(None),
            Framing::Length(0) => Ok(None),
            Framing::Length(left) => {
                let want = (*left).min(buf.len() as u64) as usize;
                let n = self.reader.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n as u64;
                buf.truncate(n);
                Ok(Some(buf))
            }
            Framing::Close => {
                let n = self.reader.read(&mut buf).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some(buf))
            }
            Framing::Chunked { left, done } => {
                if *done {
                    return Ok(None);
                }
                if *left == 0 {
                    let mut line = String::new();
                    if self.reader.read_line(&mut line).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    let size = line.trim().split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "bad chunk size")
                    })?;
                    if size == 0 {
                        // Trailers, then the final blank line.
                        loop {
                            let mut t = String::new();
                            let n = self.reader.read_line(&mut t).await?;
                            if n == 0 || t.trim().is_empty() {
                                break;
                            }
                        }
                        *done = true;
                        return Ok(None);
                    }
                    *left = size;
                }
                let want = (*left).min(buf.len() as u64) as usize;
                let n = self.reader.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n as u64;
                if *left == 0 {
                    let mut crlf = String::new();
                    self.reader.read_line(&mut crlf).await?;
                }
                buf.truncate(n);
                Ok(Some(buf))
            }
        }
    }
}
