//! The HTTP/1.1 client against a real keep-alive server on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use tunnel_core::http_timing::{HttpClientKind, HttpObserver};

/// A keep-alive server: answers every request on a connection with `answer(n)` (n counts
/// requests across connections) until the client closes. Stops itself after 20 s.
struct Server {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(answer: fn(usize, &str) -> String) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (acc, st) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(20);
            while !st.load(Ordering::Relaxed) && Instant::now() < end {
                match listener.accept() {
                    Ok((s, _)) => {
                        acc.fetch_add(1, Ordering::Relaxed);
                        let served = served.clone();
                        std::thread::spawn(move || serve(s, answer, &served));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            addr,
            accepted,
            stop,
        }
    }

    fn uri(&self, path: &str) -> Uri {
        format!("http://{}{path}", self.addr).parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(s: TcpStream, answer: fn(usize, &str) -> String, served: &AtomicUsize) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    loop {
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).unwrap();
        let n = served.fetch_add(1, Ordering::Relaxed);
        let out = answer(n, &String::from_utf8(body).unwrap());
        if w.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

/// Alternates a Content-Length answer and a chunked one, echoing the request body (an
/// empty body always by Content-Length).
fn echo(n: usize, body: &str) -> String {
    if n % 2 == 0 || body.is_empty() {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
    }
}

fn post(tls: &Dialer, uri: &Uri, body: &str) -> (u16, String) {
    async_io::block_on(async {
        let mut resp = send(
            tls,
            &Method::POST,
            uri,
            &HeaderMap::new(),
            body.as_bytes(),
            None,
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
        let body = resp.read_all(1 << 20, true).await.unwrap();
        (resp.status, String::from_utf8(body).unwrap())
    })
}

#[test]
fn sequential_requests_reuse_one_connection() {
    let server = Server::start(echo);
    let tls = Dialer::plain();
    let uri = server.uri("/mcp");
    for i in 0..6 {
        let msg = format!("request {i}");
        assert_eq!(post(&tls, &uri, &msg), (200, msg));
    }
    assert_eq!(
        server.accepted.load(Ordering::Relaxed),
        1,
        "one connection, kept alive"
    );
    assert_eq!(tls.idle_count(), 1);
}

#[test]
fn connection_close_and_unread_bodies_are_not_reused() {
    fn closing(_: usize, body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }
    let server = Server::start(closing);
    let tls = Dialer::plain();
    let uri = server.uri("/");
    assert_eq!(post(&tls, &uri, "a"), (200, "a".into()));
    assert_eq!(post(&tls, &uri, "b"), (200, "b".into()));
    assert_eq!(server.accepted.load(Ordering::Relaxed), 2);
    assert_eq!(tls.idle_count(), 0);

    // A response dropped before its body was read closes its connection.
    let server = Server::start(echo);
    let uri = server.uri("/");
    async_io::block_on(async {
        let r = send(
            &tls,
            &Method::POST,
            &uri,
            &HeaderMap::new(),
            b"unread",
            None,
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
        drop(r);
    });
    assert_eq!(tls.idle_count(), 0);
    assert_eq!(post(&tls, &uri, "x"), (200, "x".into()));
    assert_eq!(server.accepted.load(Ordering::Relaxed), 2);
}

/// Opens `n` connections to `uri` at once (all heads first, then all bodies), so that
/// `n` connections end their exchange and are offered to the pool.
fn burst(tls: &Dialer, uri: &Uri, n: usize) {
    async_io::block_on(async {
        let mut open = Vec::new();
        for i in 0..n {
            let body = format!("{i}");
            let r = send(
                tls,
                &Method::POST,
                uri,
                &HeaderMap::new(),
                body.as_bytes(),
                None,
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
            open.push(r);
        }
        for mut r in open {
            r.read_all(1024, true).await.unwrap();
        }
    });
}

#[test]
fn idle_connections_per_origin_are_bounded() {
    let server = Server::start(echo);
    let tls = Dialer::plain();
    let n = MAX_IDLE_PER_ORIGIN + 4;
    burst(&tls, &server.uri("/"), n);
    assert_eq!(server.accepted.load(Ordering::Relaxed), n);
    assert_eq!(tls.idle_count(), MAX_IDLE_PER_ORIGIN);
}

#[test]
fn idle_connections_over_all_origins_are_bounded() {
    let servers: Vec<Server> = (0..MAX_IDLE_TOTAL / MAX_IDLE_PER_ORIGIN + 2)
        .map(|_| Server::start(echo))
        .collect();
    let tls = Dialer::plain();
    for s in &servers {
        burst(&tls, &s.uri("/"), MAX_IDLE_PER_ORIGIN);
    }
    assert_eq!(tls.idle_count(), MAX_IDLE_TOTAL);
}

#[test]
fn a_connection_the_server_closed_while_idle_is_not_reused() {
    // A server that answers one request per connection as keep-alive, then closes it
    // anyway (as a server does when its keep-alive timeout passes).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        for _ in 0..2 {
            let (s, _) = listener.accept().unwrap();
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).unwrap();
            w.write_all(echo(0, std::str::from_utf8(&body).unwrap()).as_bytes())
                .unwrap();
            w.shutdown(std::net::Shutdown::Both).unwrap();
        }
    });
    let tls = Dialer::plain();
    let uri: Uri = format!("http://{addr}/").parse().unwrap();
    assert_eq!(post(&tls, &uri, "one"), (200, "one".into()));
    std::thread::sleep(Duration::from_millis(100));
    // The pooled connection is closed by now: the client must notice and dial again.
    assert_eq!(post(&tls, &uri, "two"), (200, "two".into()));
    t.join().unwrap();
}

#[test]
fn bodiless_requests_and_empty_posts_complete_and_reuse() {
    let server = Server::start(echo);
    let tls = Dialer::plain();
    let uri = server.uri("/");
    assert_eq!(post(&tls, &uri, ""), (200, String::new()));
    let got = async_io::block_on(async {
        let mut r = send(&tls, &Method::GET, &uri, &HeaderMap::new(), &[], None)
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        (r.status, r.read_all(1024, true).await.unwrap())
    });
    assert_eq!(got, (200, Vec::new()));
    assert_eq!(post(&tls, &uri, "after"), (200, "after".into()));
    assert_eq!(server.accepted.load(Ordering::Relaxed), 1);
    assert_eq!(tls.idle_count(), 1);
}

#[test]
fn the_observer_hears_each_request_with_its_status_or_error() {
    type Seen = Vec<(
        HttpClientKind,
        Option<u16>,
        Option<TransportError>,
        Option<u64>,
    )>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let log = seen.clone();
    let observer: HttpObserver = Arc::new(move |t: &HttpTiming<'_>| {
        let row = (t.client, t.status, t.error, t.request_body_size);
        log.lock().unwrap().push(row);
    });
    let dialer = Dialer::observed(Some(observer));
    let server = Server::start(echo);
    assert_eq!(post(&dialer, &server.uri("/mcp"), "12345").0, 200);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let uri: Uri = format!("http://{closed}/mcp").parse().unwrap();
    let failed = async_io::block_on(send(
        &dialer,
        &Method::GET,
        &uri,
        &HeaderMap::new(),
        &[],
        None,
    ));
    assert!(failed.is_err());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (HttpClientKind::ControlPlane, Some(200), None, Some(5)),
            (
                HttpClientKind::ControlPlane,
                None,
                Some(TransportError::ConnectionRefused),
                Some(0)
            ),
        ]
    );
}

/// A Harpoon hop to a `unix-socket=` target: the socket is dialled, the URL still gives
/// the `Host` and the path.
#[cfg(unix)]
#[test]
fn a_unix_socket_hop_dials_the_socket_with_the_urls_host_and_path() {
    let dir = std::env::temp_dir().join(format!("h1-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("target.sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut head = String::new();
        let mut r = BufReader::new(s);
        while !head.ends_with("\r\n\r\n") {
            if r.read_line(&mut head).unwrap_or(0) == 0 {
                break;
            }
        }
        let _ = tx.send(head);
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    let uri: Uri = "http://target.example:8080/hop?x=1".parse().unwrap();
    let dialer = Dialer::plain();
    let (status, body) = async_io::block_on(async {
        let mut r = send(
            &dialer,
            &Method::GET,
            &uri,
            &HeaderMap::new(),
            &[],
            Some(&path),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
        (r.status, r.read_all(1024, true).await.unwrap())
    });
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    let head = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .to_ascii_lowercase();
    assert!(head.starts_with("get /hop?x=1 http/1.1\r\n"), "{head}");
    assert!(head.contains("host: target.example:8080\r\n"), "{head}");
    let _ = std::fs::remove_dir_all(&dir);
}
