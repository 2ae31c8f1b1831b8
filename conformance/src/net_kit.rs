//! Enterprise-network test kit: a private PKI generated per test (rcgen), a TLS front that
//! terminates HTTPS (optionally requiring a client certificate) in front of a plain local
//! server, and a small HTTP proxy (CONNECT and absolute-form, Basic auth) that records what
//! it carried. Everything listens on 127.0.0.1 and stops when dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA, a server certificate for `localhost`, `127.0.0.1` and `*.test`, and a client
/// certificate, written as PEM files into `dir`.
pub struct Pki {
    pub dir: PathBuf,
    pub ca_pem: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    ca_der: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

impl Pki {
    pub fn new(dir: PathBuf) -> Pki {
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tunnel-client test private CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "cp.test".to_string(),
            "mcp.test".to_string(),
            "api.test".to_string(),
        ])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["tunnel-client".to_string()])
            .unwrap()
            .signed_by(&client_key, &ca)
            .unwrap();
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, ca.pem()).unwrap();
        let client_cert = dir.join("client.pem");
        std::fs::write(&client_cert, client.pem()).unwrap();
        let client_key_path = dir.join("client.key");
        std::fs::write(&client_key_path, client_key.serialize_pem()).unwrap();
        Pki {
            dir,
            ca_pem,
            client_cert,
            client_key: client_key_path,
            ca_der: ca.der().clone(),
            server_chain: vec![server.der().clone()],
            server_key: server_key.serialize_der(),
        }
    }

    fn server_config(&self, require_client_cert: bool) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let cfg = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca_der.clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(self.server_chain.clone(), key)
        } else {
            builder
                .with_no_client_auth()
                .with_single_cert(self.server_chain.clone(), key)
        };
        Arc::new(cfg.unwrap())
    }
}

/// What a TLS front saw of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// Completed; whether the client presented a certificate.
    Ok { client_cert: bool },
    /// Failed (unknown CA on the client side, missing client certificate, ...).
    Failed(String),
}

/// HTTPS in front of a plain TCP server.
pub struct TlsFront {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Handshake>>>,
}

impl TlsFront {
    pub fn start(pki: &Pki, require_client_cert: bool, backend: SocketAddr) -> TlsFront {
        let cfg = pki.server_config(require_client_cert);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (cfg, s, v) = (cfg.clone(), s.clone(), v.clone());
                        std::thread::spawn(move || serve_tls(tcp, cfg, backend, &s, &v));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TlsFront { addr, stop, seen }
    }

    pub fn handshakes(&self) -> Vec<Handshake> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn idle(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn serve_tls(
    tcp: TcpStream,
    cfg: Arc<rustls::ServerConfig>,
    backend: SocketAddr,
    stop: &AtomicBool,
    seen: &Mutex<Vec<Handshake>>,
) {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(5)));
    let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(cfg).unwrap(), tcp);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tls.conn.is_handshaking() {
        match tls.conn.complete_io(&mut tls.sock) {
            Ok(_) => {}
            Err(e) if idle(&e) && Instant::now() < deadline => {}
            Err(e) => {
                seen.lock().unwrap().push(Handshake::Failed(e.to_string()));
                return;
            }
        }
    }
    seen.lock().unwrap().push(Handshake::Ok {
        client_cert: tls.conn.peer_certificates().is_some_and(|c| !c.is_empty()),
    });
    let Ok(mut back) = TcpStream::connect(backend) else {
        return;
    };
    let _ = back.set_read_timeout(Some(Duration::from_millis(5)));
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if back.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if idle(&e) => {}
            Err(_) => break,
        }
        match back.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|_| tls.flush()).is_err() {
                    break;
                }
            }
            Err(e) if idle(&e) => {}
            Err(_) => break,
        }
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// One request a [`ForwardProxy`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// `CONNECT` or the method of an absolute-form request.
    pub method: String,
    /// `host:port` for CONNECT, the absolute URL otherwise.
    pub target: String,
    /// The request carried the expected `Proxy-Authorization`.
    pub authorized: bool,
    /// Every header name, lower case (to check nothing else leaked to the proxy).
    pub header_names: Vec<String>,
    /// The raw request head as received (for leak checks).
    pub head: String,
}

/// An HTTP proxy: `CONNECT` tunnels and absolute-form forwarding, Basic auth when `creds`
/// is set (407 otherwise). Targets `localhost`, `*.test` and IP literals are reached on
/// 127.0.0.1 at the requested port, so tests can use names only the proxy "resolves".
pub struct ForwardProxy {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    carried: Arc<Mutex<Vec<Carried>>>,
}

impl ForwardProxy {
    pub fn start(creds: Option<(&str, &str)>) -> ForwardProxy {
        ForwardProxy::start_at("127.0.0.1:0".parse().unwrap(), creds)
    }

    /// On a given address: a proxy brought back up where an earlier one was stopped
    /// (dropped: its listener closes within a few milliseconds).
    pub fn start_at(addr: SocketAddr, creds: Option<(&str, &str)>) -> ForwardProxy {
        let expected = creds.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let carried = Arc::new(Mutex::new(Vec::new()));
        let (s, c) = (stop.clone(), carried.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (c, e) = (c.clone(), expected.clone());
                        std::thread::spawn(move || {
                            let _ = serve_proxy(tcp, e.as_deref(), &c);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ForwardProxy {
            addr,
            stop,
            carried,
        }
    }

    /// `http://[user:pass@]127.0.0.1:<port>`.
    pub fn url(&self, creds: Option<(&str, &str)>) -> String {
        match creds {
            Some((u, p)) => format!("http://{u}:{p}@{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn carried(&self) -> Vec<Carried> {
        self.carried.lock().unwrap().clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn read_head(r: &mut impl BufRead) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

/// 127.0.0.1:<port> for the hosts this proxy serves.
fn backend_for(host_port: &str) -> Option<SocketAddr> {
    let (host, port) = host_port.rsplit_once(':')?;
    let host = host.trim_matches(['[', ']']);
    let ok =
        host == "localhost" || host.ends_with(".test") || host.parse::<std::net::IpAddr>().is_ok();
    let port: u16 = port.parse().ok()?;
    ok.then(|| SocketAddr::from(([127, 0, 0, 1], port)))
}

fn splice(a: TcpStream, b: TcpStream) {
    let (mut a2, mut b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    let t = std::thread::spawn(move || {
        let _ = io::copy(&mut a2, &mut b2);
        let _ = b2.shutdown(Shutdown::Write);
    });
    let (mut a, mut b) = (a, b);
    let _ = io::copy(&mut b, &mut a);
    let _ = a.shutdown(Shutdown::Write);
    let _ = t.join();
}

fn serve_proxy(
    tcp: TcpStream,
    expected: Option<&str>,
    log: &Mutex<Vec<Carried>>,
) -> io::Result<()> {
    let mut reader = BufReader::new(tcp.try_clone()?);
    let mut out = tcp;
    loop {
        let head = read_head(&mut reader)?;
        let Some(first) = head.first() else {
            return Ok(());
        };
        let mut parts = first.split(' ');
        let (method, target, version) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or("HTTP/1.1").to_string(),
        );
        let header = |name: &str| {
            head[1..].iter().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let authorized = match expected {
            Some(e) => header("proxy-authorization").as_deref() == Some(e),
            None => true,
        };
        log.lock().unwrap().push(Carried {
            method: method.clone(),
            target: target.clone(),
            authorized,
            header_names: head[1..]
                .iter()
                .filter_map(|l| {
                    l.split_once(':')
                        .map(|(k, _)| k.trim().to_ascii_lowercase())
                })
                .collect(),
            head: head.join("\r\n"),
        });
        if !authorized {
            out.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
            return Ok(());
        }
        if method == "CONNECT" {
            let Some(to) = backend_for(&target) else {
                out.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")?;
                return Ok(());
            };
            let back = TcpStream::connect(to)?;
            out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            // Anything the client sent after the head is already buffered in `reader`.
            let buffered = reader.buffer().to_vec();
            let mut back_w = back.try_clone()?;
            back_w.write_all(&buffered)?;
            splice(out, back);
            return Ok(());
        }
        // Absolute form: http://host:port/path
        let Some(rest) = target.strip_prefix("http://") else {
            out.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let Some(to) = backend_for(&authority) else {
            out.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body)?;
        let mut back = TcpStream::connect(to)?;
        let mut fwd = format!("{method} {path} {version}\r\n");
        for l in &head[1..] {
            let name = l
                .split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if name != "proxy-authorization" && name != "connection" && name != "proxy-connection" {
                fwd.push_str(l);
                fwd.push_str("\r\n");
            }
        }
        fwd.push_str("Connection: close\r\n\r\n");
        back.write_all(fwd.as_bytes())?;
        back.write_all(&body)?;
        // The backend closes after its response (Connection: close), which ends the copy; the
        // client may send its next request on this connection (keep-alive to the proxy).
        io::copy(&mut back, &mut out)?;
        continue;
    }
}

/// A unix socket in front of a plain TCP server (an MCP server listening on a socket, as
/// under uvicorn's `--uds`): every connection is spliced to `backend`. Counts connections;
/// stops accepting when dropped and removes the socket file.
#[cfg(unix)]
pub struct UnixFront {
    pub path: PathBuf,
    stop: Arc<AtomicBool>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

#[cfg(unix)]
impl UnixFront {
    pub fn start(path: PathBuf, backend: SocketAddr) -> UnixFront {
        use std::os::unix::net::UnixListener;
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (s, a) = (stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((unix, _)) => {
                        a.fetch_add(1, Ordering::SeqCst);
                        let _ = unix.set_nonblocking(false);
                        let Ok(tcp) = TcpStream::connect(backend) else {
                            continue;
                        };
                        std::thread::spawn(move || {
                            let (mut u2, mut t2) =
                                (unix.try_clone().unwrap(), tcp.try_clone().unwrap());
                            let t = std::thread::spawn(move || {
                                let _ = io::copy(&mut u2, &mut t2);
                                let _ = t2.shutdown(Shutdown::Write);
                            });
                            let (mut unix, mut tcp) = (unix, tcp);
                            let _ = io::copy(&mut tcp, &mut unix);
                            let _ = unix.shutdown(Shutdown::Write);
                            let _ = t.join();
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        UnixFront {
            path,
            stop,
            accepted,
        }
    }

    /// Connections accepted on the socket so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[cfg(unix)]
impl Drop for UnixFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The Python SDK's server (the peers' tools) under uvicorn on `sock`.
#[cfg(unix)]
pub struct UdsServer(std::process::Child);

#[cfg(unix)]
impl UdsServer {
    pub fn start(peers: &crate::peers::Peers, sock: &std::path::Path) -> UdsServer {
        let dir = crate::peers::workspace_root().join("conformance/peers");
        let script = format!(
            "import sys; sys.path.insert(0, {dir:?}); from py_stdio_server import app; import uvicorn; uvicorn.run(app.streamable_http_app(), uds={sock:?}, log_level='warning')",
            dir = dir.display().to_string(),
            sock = sock.display().to_string(),
        );
        let child = std::process::Command::new(&peers.python)
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the Python MCP SDK under uvicorn");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(sock).is_err() {
            assert!(
                Instant::now() < deadline,
                "uvicorn did not listen on {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        UdsServer(child)
    }
}

#[cfg(unix)]
impl Drop for UdsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `initialize`, then `tools/list` in that session, through the tunnel; the list's JSON.
pub fn tools_list(emu: &crate::emulator::Emulator, wait: Duration) -> serde_json::Value {
    let init = emu.enqueue(crate::emulator::CommandSpec::jsonrpc(serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "uds", "version": "1"}}
    })));
    let posts = emu.wait_terminal(&init, wait).expect("initialize answered");
    let last = posts.last().unwrap();
    assert_eq!(last.resp_code, 200, "{last:?}");
    let sid = last
        .resp_headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id"))
        .and_then(|(_, v)| v.first().cloned())
        .expect("session id");
    let list = emu.enqueue(
        crate::emulator::CommandSpec::jsonrpc(
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .header("Mcp-Session-Id", &sid)
        .header("Mcp-Protocol-Version", "2025-11-25"),
    );
    let posts = emu.wait_terminal(&list, wait).expect("tools/list answered");
    posts.last().unwrap().resp_json.clone().expect("resp_json")
}
