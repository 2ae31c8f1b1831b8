//! The health listener: `/healthz`, `/readyz`, `/metrics` on `--health.listen-addr`.
//!
//! tiny_http reads each connection on its own thread and hands complete requests to
//! [`HANDLERS`] handler threads, so a slow or stuck client cannot stop `/healthz` from
//! answering others. Handlers only read the runtime's published snapshot: a scrape never
//! waits on the driver.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Request, Response, Server};
use tunnel_blocking::RuntimeHandle;

use super::metrics::Metrics;

/// Request handler threads.
const HANDLERS: usize = 2;

/// What the handlers read.
pub struct App {
    pub runtime: RuntimeHandle,
    pub metrics: Arc<Metrics>,
}

/// A running listener; dropping it stops it.
pub struct HealthServer {
    server: Arc<Server>,
    addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

/// Resolves a Go-style listen address: `:8080` means every interface, as in Go.
pub fn resolve_listen_addr(addr: &str) -> io::Result<SocketAddr> {
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_string()
    };
    full.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr:?} resolves to no address"),
        )
    })
}

impl HealthServer {
    pub fn start(addr: SocketAddr, app: Arc<App>) -> io::Result<HealthServer> {
        let server = Server::http(addr).map_err(|e| io::Error::other(e.to_string()))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the health listener has no IP address"))?;
        let server = Arc::new(server);
        let mut threads = Vec::new();
        for i in 0..HANDLERS {
            let (server, app) = (server.clone(), app.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("health-{i}"))
                    .spawn(move || {
                        for req in server.incoming_requests() {
                            handle(&app, req);
                        }
                    })?,
            );
        }
        Ok(HealthServer {
            server,
            addr,
            threads,
        })
    }

    /// The bound address (the real port when `:0` was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL operators and `--health.url-file` readers use. An unspecified bind
    /// address (`0.0.0.0`, `::`) is reachable on loopback, so that is what is written.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        match ip {
            IpAddr::V4(v4) => format!("http://{v4}:{}", self.addr.port()),
            IpAddr::V6(v6) => format!("http://[{v6}]:{}", self.addr.port()),
        }
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        for _ in 0..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn text(status: u16, body: String, content_type: &'static str) -> Response<io::Cursor<Vec<u8>>> {
    let mut r = Response::from_string(body).with_status_code(status);
    if let Ok(h) = Header::from_bytes("Content-Type", content_type) {
        r.add_header(h);
    }
    if let Ok(h) = Header::from_bytes("Cache-Control", "no-store") {
        r.add_header(h);
    }
    r
}

fn handle(app: &App, req: Request) {
    let path = req.url().split('?').next().unwrap_or("").to_string();
    let get = matches!(req.method(), Method::Get | Method::Head);
    let plain = "text/plain; charset=utf-8";
    let resp = match (get, path.as_str()) {
        (true, "/healthz") => text(200, "live\n".into(), plain),
        (true, "/readyz") => match app.runtime.readiness() {
            Ok(()) => text(200, "ready\n".into(), plain),
            Err(reason) => text(503, format!("{reason}\n"), plain),
        },
        (true, "/metrics") => {
            let snap = app.runtime.snapshot();
            text(
                200,
                app.metrics.render(&snap),
                "text/plain; version=0.0.4; charset=utf-8",
            )
        }
        (false, "/healthz" | "/readyz" | "/metrics") => {
            text(405, "method not allowed: use GET\n".into(), plain)
        }
        _ => text(
            404,
            "not found: try /healthz, /readyz or /metrics\n".into(),
            plain,
        ),
    };
    if let Err(e) = req.respond(resp) {
        log::debug!("health listener: could not answer: {e}");
    }
}
