//! Harpoon end-to-end helpers: loopback HTTP servers (TCP or unix socket) that record
//! every request they get, and the emulator round trips of the `harpoon` channel.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tunnel_conformance::emulator::{CommandSpec, Emulator, PostedResponse};

pub const WAIT: Duration = Duration::from_secs(20);

/// A request as a test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a test server answers.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Answer {
    pub fn ok(body: &[u8]) -> Answer {
        Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.to_vec(),
            delay: Duration::ZERO,
        }
    }
    pub fn redirect(status: u16, location: &str) -> Answer {
        Answer {
            status,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }
}

pub type Handler = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

/// A loopback HTTP/1.1 server (one request per connection) that records what it gets.
pub struct Server {
    pub addr: String,
    pub connections: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let (c, s) = (connections.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                c.fetch_add(1, Ordering::SeqCst);
                let (s, h) = (s.clone(), handler.clone());
                std::thread::spawn(move || serve(stream, &s, &h));
            }
        });
        Server {
            addr,
            connections,
            seen,
        }
    }
    /// The same server on a unix socket at `path` (`addr` is the path).
    #[cfg(unix)]
    pub fn start_unix(
        path: &std::path::Path,
        handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    ) -> Server {
        let listener = std::os::unix::net::UnixListener::bind(path).expect("bind unix socket");
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let (c, s) = (connections.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                c.fetch_add(1, Ordering::SeqCst);
                let (s, h) = (s.clone(), handler.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let reader = stream.try_clone().unwrap();
                    serve_stream(reader, stream, &s, &h)
                });
            }
        });
        Server {
            addr: path.display().to_string(),
            connections,
            seen,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn hits(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let reader = stream.try_clone().unwrap();
    serve_stream(reader, stream, seen, handler)
}

/// One request on any byte stream (TCP or a unix socket).
pub fn serve_stream(
    reader: impl Read,
    mut stream: impl Write,
    seen: &Mutex<Vec<Seen>>,
    handler: &Handler,
) {
    let mut reader = BufReader::new(reader);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = reader.read_exact(&mut body);
    let req = Seen {
        method,
        target,
        headers,
        body,
    };
    seen.lock().unwrap().push(req.clone());
    let a = handler(&req);
    std::thread::sleep(a.delay);
    let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", a.status);
    for (k, v) in &a.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", a.body.len()));
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.write_all(&a.body);
}

pub fn terminal(emu: &Emulator, id: &str) -> PostedResponse {
    emu.wait_terminal(id, WAIT)
        .unwrap_or_else(|| panic!("no terminal for {id}; posted: {:?}", emu.responses()))
        .pop()
        .unwrap()
}

pub fn rpc(emu: &Emulator, msg: Value) -> PostedResponse {
    let id = emu.enqueue(CommandSpec::jsonrpc(msg).on_channel("harpoon"));
    terminal(emu, &id)
}

pub fn call(emu: &Emulator, args: Value) -> Value {
    let p = rpc(
        emu,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "call_target", "arguments": args}}),
    );
    assert_eq!(p.channel.as_deref(), Some("harpoon"), "{p:?}");
    assert_eq!(p.resp_code, 200, "{p:?}");
    p.resp_json.expect("resp_json")["result"].clone()
}

pub fn error_text(result: &Value) -> String {
    assert_eq!(result["isError"], true, "{result}");
    result["content"][0]["text"].as_str().unwrap().to_string()
}
