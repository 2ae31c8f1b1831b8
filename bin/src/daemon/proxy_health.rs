//! The proxy health checker of `run` (Go's `--proxy.health-check-interval`): drives
//! `tunnel_core::proxy_health::Checker` on one thread of its own: sleeps until the checker's
//! next round, performs each check (TCP connect to the proxy, TLS for an `https://` proxy,
//! `CONNECT`, status line) and publishes every route's state for the admin server and
//! `/metrics`. Checks run one after another, as in the Go client; each is bounded by the
//! core's `DIAL_TIMEOUT` + `CONNECT_TIMEOUT`.
//!
//! It lives with the daemon, not in the blocking adapter: it never touches the tunnel's
//! driver or its connections, it only reports on the proxies for `/metrics` and `/ui`,
//! and it trusts what the adapter's agents trust (`tunnel_blocking::agents::Trust`).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use tunnel_core::proxy_health::{
    CheckRecord, Checker, HealthState, IoFailure, Job, Report, RouteHealth, CONNECT_TIMEOUT,
    DIAL_TIMEOUT,
};
use tunnel_core::proxy_route::Route;

use tunnel_blocking::agents::Trust;
use tunnel_blocking::{StartError, TlsOptions};

/// Hears about every finished check (on the checker's thread; must not block).
pub type ProxyCheckObserver = Arc<dyn Fn(&Route, &CheckRecord) + Send + Sync>;

/// Longest status line read from a proxy.
const MAX_STATUS_LINE: u64 = 8 * 1024;

/// Every route's state as of the last finished check (shared; cloning is cheap).
#[derive(Clone)]
pub struct ProxyHealthHandle {
    state: Arc<Mutex<Arc<Vec<RouteHealth>>>>,
}

impl ProxyHealthHandle {
    /// Go's `HealthSummaries`: every route, sorted, with its last [`tunnel_core::proxy_health::HISTORY`] records.
    pub fn summaries(&self) -> Arc<Vec<RouteHealth>> {
        Arc::clone(&self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The running checker; dropping it stops the thread after the check in progress.
pub struct ProxyHealth {
    handle: ProxyHealthHandle,
    stop: Option<Sender<()>>,
}

impl ProxyHealth {
    /// Starts checking `routes` every `interval` (the first round at once). Without a
    /// proxied route no thread is started and every route stays `direct`.
    pub fn start(
        routes: Vec<Route>,
        interval: Duration,
        tls_opts: &TlsOptions,
        observer: Option<ProxyCheckObserver>,
    ) -> Result<ProxyHealth, StartError> {
        let mut checker = Checker::new(routes, interval, Instant::now());
        let handle = ProxyHealthHandle {
            state: Arc::new(Mutex::new(Arc::new(checker.summaries()))),
        };
        if !checker.has_proxied_routes() {
            return Ok(ProxyHealth { handle, stop: None });
        }
        let tls = Trust::load(tls_opts)?.rustls_config()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let published = handle.clone();
        std::thread::Builder::new()
            .name("tunnel-proxy-health".into())
            .spawn(move || loop {
                checker.handle_timeout(Instant::now(), SystemTime::now());
                while let Some(job) = checker.poll_job() {
                    if !matches!(stopped.try_recv(), Err(mpsc::TryRecvError::Empty)) {
                        return;
                    }
                    let report = check(&job, &tls);
                    checker.handle_report(job.route, report);
                    publish(&mut checker, &published, observer.as_ref());
                }
                publish(&mut checker, &published, observer.as_ref());
                let wait = checker
                    .poll_timeout()
                    .map(|t| t.saturating_duration_since(Instant::now()))
                    .unwrap_or(Duration::from_secs(3600));
                match stopped.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            })
            .map_err(StartError::Spawn)?;
        Ok(ProxyHealth {
            handle,
            stop: Some(stop),
        })
    }

    pub fn handle(&self) -> ProxyHealthHandle {
        self.handle.clone()
    }
}

impl Drop for ProxyHealth {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn publish(checker: &mut Checker, to: &ProxyHealthHandle, observer: Option<&ProxyCheckObserver>) {
    let before = to.summaries();
    while let Some(ev) = checker.poll_event() {
        if let (Some(o), Some(route)) = (observer, checker.route(ev.route)) {
            o(route, &ev.record);
        }
        let Some(route) = checker.route(ev.route) else {
            continue;
        };
        // One line when a route's health changes (not one per check): the first success,
        // a failure after a success, a recovery.
        let was = before
            .iter()
            .find(|r| r.route.kind == route.kind && r.route.name == route.name)
            .map(|r| (r.state, r.last_check.is_some()));
        let now_ok = ev.record.success;
        let changed = match was {
            Some((HealthState::Healthy, _)) => !now_ok,
            Some((_, checked)) => now_ok || !checked,
            None => true,
        };
        if changed {
            let proxy = route.proxy_url().unwrap_or_default();
            match ev.record.error {
                None => log::info!(
                    "proxy health: route kind={} name={} target={} proxy_url={proxy} is healthy",
                    route.kind.as_str(),
                    route.name,
                    route.target
                ),
                Some((phase, reason)) => log::warn!(
                    "proxy health: route kind={} name={} target={} proxy_url={proxy} is unhealthy: {} {}{}; check the proxy address, that it allows CONNECT to {}, and its credentials",
                    route.kind.as_str(),
                    route.name,
                    route.target,
                    phase.as_str(),
                    reason.as_str(),
                    ev.record
                        .http_status_category
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default(),
                    route.target
                ),
            }
        }
    }
    *to.state.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(checker.summaries());
}

fn failure(e: &io::Error) -> IoFailure {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => IoFailure::Timeout,
        _ => IoFailure::Other,
    }
}

/// One check: what the wire showed, for the core to classify.
pub(crate) fn check(job: &Job, tls: &Arc<rustls::ClientConfig>) -> Report {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let tcp = dial(&job.proxy_host, job.proxy_port, t0 + DIAL_TIMEOUT);
    let tcp_time = t0.elapsed();
    let stream = match tcp {
        Ok(s) => s,
        Err(e) => {
            return Report {
                started,
                tcp: (tcp_time, Err(failure(&e))),
                connect: None,
            }
        }
    };
    let t1 = Instant::now();
    let connect = connect(stream, job, tls, t1 + CONNECT_TIMEOUT).map_err(|e| failure(&e));
    Report {
        started,
        tcp: (tcp_time, Ok(())),
        connect: Some((t1.elapsed(), connect)),
    }
}

/// Resolves and connects within `deadline`, trying each address in turn.
fn dial(host: &str, port: u16, deadline: Instant) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (host, port).to_socket_addrs()?.collect(),
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address for the proxy");
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// TLS (https proxies), the `CONNECT` head, and the status line, within `deadline`.
fn connect(
    tcp: TcpStream,
    job: &Job,
    tls: &Arc<rustls::ClientConfig>,
    deadline: Instant,
) -> io::Result<String> {
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        if d.is_zero() {
            Err(io::Error::from(io::ErrorKind::TimedOut))
        } else {
            Ok(d)
        }
    };
    tcp.set_read_timeout(Some(left()?))?;
    tcp.set_write_timeout(Some(left()?))?;
    let auth = job.credentials.as_ref().map(|c| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(c.as_bytes())
        )
    });
    let head = job.connect_request(auth.as_deref());
    let mut stream: Box<dyn ReadWrite> = if job.tls {
        let name = rustls::pki_types::ServerName::try_from(job.proxy_host.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn =
            rustls::ClientConnection::new(Arc::clone(tls), name).map_err(io::Error::other)?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.sock.set_read_timeout(Some(left()?))?;
            s.conn.complete_io(&mut s.sock)?;
        }
        Box::new(s)
    } else {
        Box::new(tcp)
    };
    stream.write_all(&head)?;
    stream.flush()?;
    let mut line = String::new();
    BufReader::new(stream.take(MAX_STATUS_LINE)).read_line(&mut line)?;
    if line.is_empty() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
