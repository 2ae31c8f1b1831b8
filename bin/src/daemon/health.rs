//! The health listener: `/healthz`, `/readyz`, `/metrics` on `--health.listen-addr`, and
//! the admin UI and its API ([`crate::admin`]) on the same address.
//!
//! The server ([`super::listener`]) bounds header size, header time and request threads,
//! and reads request heads in an event loop, so a slow or hostile client cannot stop
//! `/healthz` from answering others. Handlers only read
//! the runtime's published snapshot: a scrape never waits on the driver.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use crate::daemon::tunnel::TunnelHandle;

use super::listener::{Limits, Listener, Request, Response};
use super::metrics::Metrics;
use crate::admin::Admin;

/// What the handlers read.
pub struct App {
    pub runtime: TunnelHandle,
    pub metrics: Arc<Metrics>,
    pub admin: Arc<Admin>,
}

/// A running listener; dropping it stops it.
pub struct HealthServer {
    listener: Listener,
    addr: SocketAddr,
    /// `--health.unix-socket`: the socket file, removed when the server stops.
    unix: Option<std::path::PathBuf>,
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
        let listener = Listener::bind(
            addr,
            Limits::default(),
            Arc::new(move |req: &Request| handle(&app, req)),
        )?;
        let addr = listener.addr();
        Ok(HealthServer {
            listener,
            addr,
            unix: None,
        })
    }

    /// Serves on a unix socket instead of TCP (`--health.unix-socket`; no TCP port is
    /// opened). A socket file left by an earlier run is replaced; any other file there is
    /// an error. Connections on the socket count as loopback for the admin routes.
    #[cfg(unix)]
    pub fn start_unix(path: &std::path::Path, app: Arc<App>) -> io::Result<HealthServer> {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is in the way",
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = Listener::bind_unix(
            path,
            Limits::default(),
            Arc::new(move |req: &Request| handle(&app, req)),
        )?;
        let addr = listener.addr();
        Ok(HealthServer {
            listener,
            addr,
            unix: Some(path.to_path_buf()),
        })
    }

    /// The bound address (the real port when `:0` was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL operators and `--health.url-file` readers use. An unspecified bind
    /// address (`0.0.0.0`, `::`) is reachable on loopback, so that is what is written.
    pub fn base_url(&self) -> String {
        if let Some(p) = &self.unix {
            return format!("unix:{}", p.display());
        }
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
        log::debug!("health listener on {} stopping", self.listener.addr());
        if let Some(p) = &self.unix {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn text(status: u16, body: String, content_type: &str) -> Response {
    Response::new(status, content_type, body).with_header("Cache-Control", "no-store")
}

fn handle(app: &App, req: &Request) -> Response {
    let path = req.path.as_str();
    let get = matches!(req.method.as_str(), "GET" | "HEAD");
    let plain = "text/plain; charset=utf-8";
    match (get, path) {
        (true, "/healthz") => text(200, "live\n".into(), plain),
        (true, "/readyz") => {
            let snap = app.runtime.snapshot();
            match (&snap.readiness, &snap.ready_note) {
                (Ok(()), None) => text(200, "ready\n".into(), plain),
                // Go's wording: `ready (mcp initialize requires auth: …)`.
                (Ok(()), Some(note)) => text(200, format!("ready ({note})\n"), plain),
                (Err(reason), _) => text(503, format!("{reason}\n"), plain),
            }
        }
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
                .with_header("Allow", "GET, HEAD")
        }
        (_, crate::admin::harpoon_mcp::PATH) if app.admin.harpoon.mcp.is_some() => {
            let h = &app.admin.harpoon;
            let record = |e: &tunnel_core::engine::Event| {
                app.metrics.record(e);
                h.record(e);
            };
            match &h.mcp {
                Some(mcp) => mcp.handle(req, &record),
                None => text(404, "not found\n".into(), plain),
            }
        }
        _ => crate::admin::api::route(&app.admin, &app.runtime, &app.metrics, req).unwrap_or_else(
            || {
                text(
                    404,
                    "not found: try /healthz, /readyz, /metrics or /ui\n".into(),
                    plain,
                )
            },
        ),
    }
}
