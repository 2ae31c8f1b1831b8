//! The proxy health checker (the Go client's `proxyhealth`, go-harpoon-oauth-security.md
//! §3.4), as a sans-IO machine: it decides *when* each proxied route is checked, turns what
//! the adapter saw on the wire into a classified record, and keeps each route's state and
//! its last [`HISTORY`] records. The adapter only dials, (for an `https://` proxy) shakes
//! hands, writes [`Job::connect_request`] and reads the status line.
//!
//! A check is: TCP connect to the proxy ([`DIAL_TIMEOUT`]); TLS to the proxy when its URL is
//! `https`; `CONNECT <target host:port>` with `Host` and, when the proxy URL has userinfo,
//! `Proxy-Authorization: Basic`; the status line within [`CONNECT_TIMEOUT`]. 2xx is healthy.
//! Failures are named by phase and reason with Go's words: `tcp` (`missing_proxy_host`,
//! `timeout`, `dial_error`), `connect` (`missing_target_host`, `timeout`, `connect_error`,
//! `bad_status`).
//!
//! The checker is its own machine rather than a part of [`crate::engine::Engine`]: it
//! shares nothing with the tunnel protocol (no command, no control-plane request), and
//! keeping it out of the engine's action vocabulary spares every engine driver (the smol
//! adapter, the conformance replay) an action it has no use for. It is driven the same way:
//! [`Checker::handle_timeout`] at [`Checker::poll_timeout`], then [`Checker::poll_job`]
//! until `None`, and [`Checker::handle_report`] for each job done.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use crate::proxy_route::{Route, RouteMode, TargetAddr};

/// Records kept per route (Go: 10).
pub const HISTORY: usize = 10;
/// Bound of the TCP connect to the proxy (Go: 5 s).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound of the TLS handshake (https proxies), the `CONNECT` and its status line (Go: 5 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Go's default `--proxy.check-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// A route's health, Go's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Not proxied: nothing to check.
    Direct,
    /// The last check succeeded.
    Healthy,
    /// The last check failed, or none has run yet.
    Unhealthy,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Direct => "direct",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

/// The phase a check failed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Tcp,
    Connect,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Tcp => "tcp",
            Phase::Connect => "connect",
        }
    }
}

/// Why a check failed (Go's reason labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    MissingProxyHost,
    MissingTargetHost,
    Timeout,
    DialError,
    ConnectError,
    BadStatus,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingProxyHost => "missing_proxy_host",
            Reason::MissingTargetHost => "missing_target_host",
            Reason::Timeout => "timeout",
            Reason::DialError => "dial_error",
            Reason::ConnectError => "connect_error",
            Reason::BadStatus => "bad_status",
        }
    }
}

/// One check's outcome (Go's `CheckRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRecord {
    /// Wall-clock start of the check.
    pub timestamp: SystemTime,
    pub success: bool,
    pub tcp_duration: Duration,
    pub connect_duration: Duration,
    /// `None` on success.
    pub error: Option<(Phase, Reason)>,
    /// `2xx`, `4xx`, ... from the proxy's status line, when one was read.
    pub http_status_category: Option<String>,
}

/// How an I/O step failed, as far as the classification cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoFailure {
    /// The step's time bound passed.
    Timeout,
    /// Anything else (refused, reset, TLS failure, closed before a status line).
    Other,
}

/// What the adapter saw while performing a [`Job`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Wall clock when the check started.
    pub started: SystemTime,
    /// The TCP connect to the proxy: how long it took, and whether it worked.
    pub tcp: (Duration, Result<(), IoFailure>),
    /// The TLS handshake (https proxies), `CONNECT` and status line, when the connect
    /// worked: how long, and the status line read (without its line ending).
    pub connect: Option<(Duration, Result<String, IoFailure>)>,
}

/// A check for the adapter to perform. Its `Debug` never shows the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Job {
    /// Hand back with [`Checker::handle_report`].
    pub route: usize,
    /// TLS to the proxy first (its URL is `https`), with the proxy host as SNI.
    pub tls: bool,
    /// Proxy host (IPv6 without brackets) and port (80/443 by scheme when absent).
    pub proxy_host: String,
    pub proxy_port: u16,
    /// The target as `host:port`, for the `CONNECT` line.
    pub target: String,
    /// `user:password` from the proxy URL, percent-decoded; the adapter Base64-encodes it
    /// into `Proxy-Authorization` (the core has no Base64). Never log it.
    pub credentials: Option<String>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("route", &self.route)
            .field("tls", &self.tls)
            .field("proxy_host", &self.proxy_host)
            .field("proxy_port", &self.proxy_port)
            .field("target", &self.target)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl Job {
    /// The `CONNECT` head, given the `Proxy-Authorization` value (already `Basic …`).
    pub fn connect_request(&self, proxy_authorization: Option<&str>) -> Vec<u8> {
        let mut head = format!("CONNECT {t} HTTP/1.1\r\nHost: {t}\r\n", t = self.target);
        if let Some(a) = proxy_authorization {
            head.push_str("Proxy-Authorization: ");
            head.push_str(a);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// Something worth a metric: one finished check of a proxied route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub route: usize,
    pub record: CheckRecord,
}

/// One route's state (Go's `RouteHealthSummary`, with the route itself).
#[derive(Debug, Clone)]
pub struct RouteHealth {
    pub route: Route,
    pub state: HealthState,
    pub last_check: Option<SystemTime>,
    pub last_success: Option<SystemTime>,
    /// Oldest first, at most [`HISTORY`].
    pub history: VecDeque<CheckRecord>,
}

/// The checker. See the module docs.
#[derive(Debug)]
pub struct Checker {
    interval: Duration,
    routes: Vec<RouteHealth>,
    next_run: Option<Instant>,
    jobs: VecDeque<Job>,
    events: VecDeque<Checked>,
}

impl Checker {
    /// A checker for `routes`; the first round is due at `now` (Go checks at start). A zero
    /// `interval` is taken as the default (the settings layer refuses it).
    pub fn new(routes: Vec<Route>, interval: Duration, now: Instant) -> Checker {
        let interval = if interval.is_zero() {
            DEFAULT_INTERVAL
        } else {
            interval
        };
        let routes = routes
            .into_iter()
            .map(|route| RouteHealth {
                state: initial_state(&route),
                route,
                last_check: None,
                last_success: None,
                history: VecDeque::new(),
            })
            .collect();
        Checker {
            interval,
            routes,
            next_run: Some(now),
            jobs: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// True when some route goes through a proxy (otherwise there is nothing to schedule).
    pub fn has_proxied_routes(&self) -> bool {
        self.routes.iter().any(|r| r.route.mode == RouteMode::Proxy)
    }

    /// When [`Checker::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_run
    }

    /// Starts a round when one is due: a job per proxied route (one whose proxy or target
    /// cannot be named is recorded as failed at once, as in Go), direct routes marked
    /// direct. The next round is one interval after this one was due (a fixed rate, as Go's
    /// ticker); a round still running when the next is due delays it, never doubles it.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        let Some(due) = self.next_run else { return };
        if now < due {
            return;
        }
        if !self.jobs.is_empty() {
            // The previous round is still being performed.
            self.next_run = Some(now + self.interval);
            return;
        }
        let mut next = due + self.interval;
        while next <= now {
            next += self.interval;
        }
        self.next_run = Some(next);
        for i in 0..self.routes.len() {
            if self.routes[i].route.mode != RouteMode::Proxy {
                self.routes[i].state = HealthState::Direct;
                continue;
            }
            match job_for(i, &self.routes[i].route) {
                Ok(job) => self.jobs.push_back(job),
                Err(reason) => {
                    let phase = if reason == Reason::MissingProxyHost {
                        Phase::Tcp
                    } else {
                        Phase::Connect
                    };
                    self.record(
                        i,
                        CheckRecord {
                            timestamp: wall,
                            success: false,
                            tcp_duration: Duration::ZERO,
                            connect_duration: Duration::ZERO,
                            error: Some((phase, reason)),
                            http_status_category: None,
                        },
                    );
                }
            }
        }
    }

    /// The next check to perform.
    pub fn poll_job(&mut self) -> Option<Job> {
        self.jobs.pop_front()
    }

    /// The next finished check (for metrics).
    pub fn poll_event(&mut self) -> Option<Checked> {
        self.events.pop_front()
    }

    /// What the adapter saw for the job of `route`.
    pub fn handle_report(&mut self, route: usize, report: Report) {
        if route >= self.routes.len() {
            return;
        }
        let record = classify(report);
        self.record(route, record);
    }

    fn record(&mut self, i: usize, record: CheckRecord) {
        let r = &mut self.routes[i];
        r.last_check = Some(record.timestamp);
        if record.success {
            r.last_success = Some(record.timestamp);
            r.state = HealthState::Healthy;
        } else {
            r.state = HealthState::Unhealthy;
        }
        r.history.push_back(record.clone());
        while r.history.len() > HISTORY {
            r.history.pop_front();
        }
        self.events.push_back(Checked { route: i, record });
    }

    /// Every route's state, in a deterministic order (kind, name, mode, proxy, target, as
    /// Go sorts its summaries).
    pub fn summaries(&self) -> Vec<RouteHealth> {
        let mut out = self.routes.clone();
        out.sort_by(|a, b| sort_key(&a.route).cmp(&sort_key(&b.route)));
        out
    }

    /// The route a job or event index names.
    pub fn route(&self, i: usize) -> Option<&Route> {
        self.routes.get(i).map(|r| &r.route)
    }
}

fn sort_key(r: &Route) -> (&'static str, String, &'static str, String, String) {
    (
        r.kind.as_str(),
        r.name.clone(),
        r.mode.as_str(),
        r.proxy_url().unwrap_or_default(),
        r.target.clone(),
    )
}

fn initial_state(r: &Route) -> HealthState {
    if r.mode == RouteMode::Proxy {
        HealthState::Unhealthy
    } else {
        HealthState::Direct
    }
}

/// The job for a proxied route, or the reason none can be made.
fn job_for(i: usize, route: &Route) -> Result<Job, Reason> {
    let url = route.proxy_with_credentials().unwrap_or_default();
    let with_scheme = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let proxy = TargetAddr::parse(&with_scheme).ok_or(Reason::MissingProxyHost)?;
    // `select` leaves a target it could not parse (and `unix:`/`stdio` ones) as written.
    let named = route.target.rsplit_once(':').is_some_and(|(h, p)| {
        !h.is_empty() && !h.contains(char::is_whitespace) && h != "unix" && p.parse::<u16>().is_ok()
    });
    if !named {
        return Err(Reason::MissingTargetHost);
    }
    Ok(Job {
        route: i,
        tls: proxy.https,
        proxy_host: proxy.host,
        proxy_port: proxy.port,
        target: route.target.clone(),
        credentials: userinfo(&with_scheme),
    })
}

/// `user:password` of a URL's authority, percent-decoded (Go's `url.User`).
fn userinfo(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (info, _) = authority.rsplit_once('@')?;
    let (user, pass) = info.split_once(':').unwrap_or((info, ""));
    Some(format!("{}:{}", percent_decode(user), percent_decode(pass)))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A report as Go classifies it.
fn classify(report: Report) -> CheckRecord {
    let (tcp_duration, tcp) = report.tcp;
    let mut record = CheckRecord {
        timestamp: report.started,
        success: false,
        tcp_duration,
        connect_duration: Duration::ZERO,
        error: None,
        http_status_category: None,
    };
    if let Err(f) = tcp {
        let reason = match f {
            IoFailure::Timeout => Reason::Timeout,
            IoFailure::Other => Reason::DialError,
        };
        record.error = Some((Phase::Tcp, reason));
        return record;
    }
    let Some((connect_duration, connect)) = report.connect else {
        record.error = Some((Phase::Connect, Reason::ConnectError));
        return record;
    };
    record.connect_duration = connect_duration;
    let line = match connect {
        Ok(line) => line,
        Err(f) => {
            let reason = match f {
                IoFailure::Timeout => Reason::Timeout,
                IoFailure::Other => Reason::ConnectError,
            };
            record.error = Some((Phase::Connect, reason));
            return record;
        }
    };
    let mut parts = line.trim().splitn(3, ' ');
    let (_version, code) = (parts.next(), parts.next());
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        record.error = Some((Phase::Connect, Reason::ConnectError));
        return record;
    };
    let first = code.chars().next().unwrap_or('?');
    record.http_status_category = Some(format!("{first}xx"));
    if first == '2' {
        record.success = true;
    } else {
        record.error = Some((Phase::Connect, Reason::BadStatus));
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_route::{select, ExplicitProxy, ProxyEnv, RouteKind};

    fn proxied(name: &str, proxy: &str, target: &str) -> Route {
        select(
            RouteKind::McpChannel,
            name,
            target,
            Some(&ExplicitProxy {
                url: proxy.into(),
                source: "http-proxy".into(),
            }),
            None,
            &ProxyEnv::default(),
        )
    }

    fn direct(name: &str) -> Route {
        select(
            RouteKind::McpChannel,
            name,
            "https://mcp.example/mcp",
            None,
            None,
            &ProxyEnv::default(),
        )
    }

    fn ok_report(line: &str) -> Report {
        Report {
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(100),
            tcp: (Duration::from_millis(3), Ok(())),
            connect: Some((Duration::from_millis(7), Ok(line.to_string()))),
        }
    }

    #[test]
    fn first_round_is_due_at_start_and_rounds_repeat_at_the_interval() {
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        let mut c = Checker::new(
            vec![
                proxied("a", "http://u:p%40ss@proxy.corp:3128", "https://a.example/"),
                direct("b"),
            ],
            Duration::from_secs(30),
            t0,
        );
        assert!(c.has_proxied_routes());
        assert_eq!(c.poll_timeout(), Some(t0));
        let s = c.summaries();
        assert_eq!(
            s[0].state,
            HealthState::Unhealthy,
            "proxied starts unhealthy"
        );
        assert_eq!(s[1].state, HealthState::Direct);
        c.handle_timeout(t0, wall);
        let job = c.poll_job().expect("a job for the proxied route");
        assert!(c.poll_job().is_none(), "none for the direct route");
        assert_eq!(
            (job.proxy_host.as_str(), job.proxy_port, job.tls),
            ("proxy.corp", 3128, false)
        );
        assert_eq!(job.target, "a.example:443");
        assert_eq!(job.credentials.as_deref(), Some("u:p@ss"));
        assert!(
            !format!("{job:?}{c:?}").contains("p@ss"),
            "Debug shows no password"
        );
        assert_eq!(
            String::from_utf8(job.connect_request(Some("Basic eA=="))).unwrap(),
            "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nProxy-Authorization: Basic eA==\r\n\r\n"
        );
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        // Not due yet: nothing happens.
        c.handle_timeout(t0 + Duration::from_secs(29), wall);
        assert!(c.poll_job().is_none());
        c.handle_report(job.route, ok_report("HTTP/1.1 200 Connection established"));
        c.handle_timeout(t0 + Duration::from_secs(30), wall);
        assert!(c.poll_job().is_some());
        // A late wake-up skips the missed rounds instead of running them all.
        c.handle_timeout(t0 + Duration::from_secs(200), wall);
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(210)));
    }

    #[test]
    fn success_failure_and_history_of_ten() {
        let t0 = Instant::now();
        let mut c = Checker::new(
            vec![proxied("a", "https://proxy.corp", "http://a.example:8080/")],
            Duration::from_secs(1),
            t0,
        );
        c.handle_timeout(t0, SystemTime::UNIX_EPOCH);
        let job = c.poll_job().unwrap();
        assert!(job.tls);
        assert_eq!(job.proxy_port, 443);
        assert_eq!(job.credentials, None);
        assert_eq!(job.target, "a.example:8080");
        c.handle_report(0, ok_report("HTTP/1.0 200 OK"));
        let s = &c.summaries()[0];
        assert_eq!(s.state, HealthState::Healthy);
        assert_eq!(s.last_success, s.last_check);
        let ev = c.poll_event().unwrap();
        assert!(ev.record.success);
        assert_eq!(ev.record.http_status_category.as_deref(), Some("2xx"));
        for _ in 0..12 {
            c.handle_report(0, ok_report("HTTP/1.1 407 Proxy Authentication Required"));
        }
        let s = &c.summaries()[0];
        assert_eq!(s.state, HealthState::Unhealthy);
        assert_eq!(s.history.len(), HISTORY);
        let last = s.history.back().unwrap();
        assert_eq!(last.error, Some((Phase::Connect, Reason::BadStatus)));
        assert_eq!(last.http_status_category.as_deref(), Some("4xx"));
        assert!(s.last_success.is_some(), "the last success is kept");
    }

    #[test]
    fn failures_are_classified_with_gos_reasons() {
        let at = SystemTime::UNIX_EPOCH;
        let tcp = |f| Report {
            started: at,
            tcp: (Duration::from_millis(1), Err(f)),
            connect: None,
        };
        let conn = |r: Result<String, IoFailure>| Report {
            started: at,
            tcp: (Duration::from_millis(1), Ok(())),
            connect: Some((Duration::from_millis(2), r)),
        };
        let cases = [
            (tcp(IoFailure::Timeout), (Phase::Tcp, Reason::Timeout)),
            (tcp(IoFailure::Other), (Phase::Tcp, Reason::DialError)),
            (
                conn(Err(IoFailure::Timeout)),
                (Phase::Connect, Reason::Timeout),
            ),
            (
                conn(Err(IoFailure::Other)),
                (Phase::Connect, Reason::ConnectError),
            ),
            (
                conn(Ok("garbage".into())),
                (Phase::Connect, Reason::ConnectError),
            ),
            (
                conn(Ok("HTTP/1.1 502 Bad Gateway".into())),
                (Phase::Connect, Reason::BadStatus),
            ),
        ];
        for (report, want) in cases {
            let r = classify(report.clone());
            assert!(!r.success, "{report:?}");
            assert_eq!(r.error, Some(want), "{report:?}");
        }
    }

    #[test]
    fn routes_that_cannot_be_checked_fail_without_a_job() {
        let t0 = Instant::now();
        let mut c = Checker::new(
            vec![proxied("a", "http://proxy.corp:1", "not a url")],
            Duration::from_secs(1),
            t0,
        );
        c.handle_timeout(t0, SystemTime::UNIX_EPOCH);
        assert!(c.poll_job().is_none());
        let s = &c.summaries()[0];
        assert_eq!(s.state, HealthState::Unhealthy);
        assert_eq!(
            s.history[0].error,
            Some((Phase::Connect, Reason::MissingTargetHost))
        );
    }

    #[test]
    fn a_round_still_running_delays_the_next() {
        let t0 = Instant::now();
        let mut c = Checker::new(
            vec![proxied("a", "http://p:1", "https://a.example/")],
            Duration::from_secs(1),
            t0,
        );
        c.handle_timeout(t0, SystemTime::UNIX_EPOCH);
        c.handle_timeout(t0 + Duration::from_secs(1), SystemTime::UNIX_EPOCH);
        assert!(c.poll_job().is_some());
        assert!(c.poll_job().is_none(), "one job, not two");
    }
}
