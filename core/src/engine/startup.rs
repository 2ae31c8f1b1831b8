//! Startup checks of the `main` HTTP binding, inside the engine: the MCP startup probe
//! ([`McpProbe`]) and then OAuth startup discovery ([`StartupDiscovery`]), whose outcomes
//! feed `/readyz` (Go's reasons, in Go's order), `/api/oauth` and `/api/status`.
//!
//! Each HTTP step leaves the engine as an ordinary MCP request (`StartMcp` with a reserved
//! [`CommandId`]: the probe a `Send`, discovery a `Fetch`), performed by the adapter like
//! any other (same pool, proxy, CA bundle, mTLS); every bound is an engine timer.
//!
//! Differences from the Go client, on purpose:
//! - the probe runs first and discovery after it (Go runs them side by side unless
//!   `--mcp.startup-wait-timeout` is set); `/readyz` says "oauth discovery pending" until
//!   both are done either way;
//! - a failed outcome is not final: both checks run again every [`RECHECK`] while either
//!   failed, so a server that comes up late, or metadata that gets fixed, makes the client
//!   ready without a restart (Go keeps the first outcome for the life of the process).

use std::time::{Duration, Instant};

use http::HeaderMap;
use serde_json::value::RawValue;

use super::fetch_buf::Fed;
use super::{Action, BindingKind, CommandId, Engine, Event, McpEvent, McpOp, McpWork, Timer};
use crate::channel::ChannelName;
use crate::classify::TransportError;
use crate::mcp_probe::{McpProbe, ProbeOutcome, Verdict, ATTEMPT_TIMEOUT};
use crate::oauth::startup::{Report, StartupDiscovery};

/// The probe's reserved command id (never a polled command's: those count up from 0).
pub const PROBE_ID: CommandId = CommandId(u64::MAX);
/// Startup discovery's reserved command id.
pub const DISCOVERY_ID: CommandId = CommandId(u64::MAX - 1);
/// How long after a failed check both run again.
pub const RECHECK: Duration = Duration::from_secs(5);
/// How much later than the engine's own timer the adapter's bound of a step ends.
const BACKSTOP: Duration = Duration::from_secs(1);

/// What the adapter asks for at startup ([`Engine::start_checks`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct StartupChecks {
    /// `--mcp.startup-wait-timeout`: when not zero, refused connections are retried this
    /// long and the first poll waits for the probe (fail-open).
    pub wait: Duration,
}

/// The MCP startup probe's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProbeState {
    /// Not run: no HTTP `main` binding (Go: skipped, counts as ok).
    #[default]
    Skipped,
    Pending,
    Done(ProbeOutcome),
}

impl ProbeState {
    /// Go's `probe_status`.
    pub fn status(&self) -> &'static str {
        match self {
            ProbeState::Skipped => "ok",
            ProbeState::Pending => "pending",
            ProbeState::Done(o) => o.status(),
        }
    }
}

/// What the startup checks found, for `/readyz`, `/api/oauth`, `/api/status`.
#[derive(Debug, Clone, Default)]
pub struct StartupReport {
    /// Checks were asked for ([`Engine::start_checks`]).
    pub started: bool,
    pub probe: ProbeState,
    /// Discovery has not finished once yet.
    pub oauth_pending: bool,
    /// The latest finished discovery (or the one in progress, while none finished).
    pub oauth: Option<Report>,
    /// The well-known candidates of the `main` URL, also before discovery ran.
    pub discovery_urls: Vec<String>,
}

impl StartupReport {
    /// Go's `/readyz` rule over the two checks, in Go's order: `Err(reason)` when not ready,
    /// `Ok(note)` when ready (a 401 or a timeout is ready, with a note).
    pub fn readiness(&self) -> Result<Option<String>, String> {
        if !self.started {
            return Ok(None);
        }
        if self.oauth_pending {
            return Err("oauth discovery pending".into());
        }
        if let Some(e) = self.oauth.as_ref().and_then(Report::failure) {
            return Err(format!("oauth discovery failed: {e}"));
        }
        match &self.probe {
            ProbeState::Skipped => Ok(None),
            ProbeState::Pending => Err("mcp startup probe pending".into()),
            ProbeState::Done(o) => o.readiness(),
        }
    }
}

/// A startup discovery in progress.
#[derive(Debug)]
struct DiscoveryRun {
    d: StartupDiscovery,
    head: Option<(u16, HeaderMap)>,
    body: Vec<u8>,
}

/// The engine's startup-check state.
#[derive(Debug, Default)]
pub(super) struct Startup {
    checks: Option<StartupChecks>,
    report: StartupReport,
    probe: Option<McpProbe>,
    discovery: Option<DiscoveryRun>,
    /// The first poll waits for the probe (`--mcp.startup-wait-timeout`).
    pub(super) hold_poll: bool,
}

impl Engine {
    /// Starts the startup checks for the `main` binding: the MCP probe, then OAuth
    /// discovery (HTTP `main` only; call [`Engine::set_oauth_target`] first). A stdio
    /// `main` skips the probe and marks discovery disabled (not a failure), as in Go.
    pub fn start_checks(&mut self, now: Instant, checks: StartupChecks) {
        let main = ChannelName::main();
        let kind = self.binding_kind(&main);
        let s = &mut self.startup;
        s.checks = Some(checks);
        s.report.started = true;
        match (kind, &self.oauth_url) {
            (Some(BindingKind::Http), Some(url)) => {
                s.report.discovery_urls = crate::oauth::discovery::urls::well_known(url)
                    .into_iter()
                    .map(|(u, _)| u.to_string())
                    .collect();
                s.report.oauth_pending = true;
                s.hold_poll = !checks.wait.is_zero();
                if s.hold_poll {
                    self.withhold_queued_poll(now);
                }
                self.start_probe(now);
            }
            (Some(BindingKind::Http), None) => {
                s.report.oauth = Some(Report::disabled(
                    "oauth discovery server URL is not configured".into(),
                ));
            }
            (Some(other), _) => {
                let name = match other {
                    BindingKind::Stdio => "stdio",
                    _ => "in-memory",
                };
                s.report.oauth = Some(Report::disabled(format!(
                    "oauth discovery disabled for transport {name:?}"
                )));
            }
            // No main binding (e.g. only other channels): nothing is fetched.
            (None, _) => {}
        }
    }

    /// What the startup checks found so far.
    pub fn startup_report(&self) -> &StartupReport {
        &self.startup.report
    }

    /// Routes an MCP event of the reserved ids; gives it back otherwise.
    pub(super) fn startup_event(
        &mut self,
        now: Instant,
        cmd: CommandId,
        event: McpEvent,
    ) -> Option<McpEvent> {
        if cmd == PROBE_ID {
            self.probe_event(now, event);
            None
        } else if cmd == DISCOVERY_ID {
            self.startup_discovery_event(now, event);
            None
        } else {
            Some(event)
        }
    }

    pub(super) fn on_startup_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::StartupProbe => {
                if let Some(p) = &mut self.startup.probe {
                    let v = p.error(now, TransportError::Timeout);
                    self.probe_verdict(now, v);
                }
            }
            Timer::StartupRetry => {
                if self.startup.probe.is_some() {
                    self.send_probe(now);
                } else if self.startup.discovery.is_none() && !self.draining() {
                    // A recheck after a failure.
                    self.start_probe(now);
                }
            }
            Timer::StartupDiscovery => {
                if let Some(r) = &mut self.startup.discovery {
                    r.d.handle_error(TransportError::Timeout);
                    self.end_startup_fetch(now);
                }
            }
            _ => {}
        }
    }

    fn draining(&self) -> bool {
        self.draining.is_some()
    }

    fn start_probe(&mut self, now: Instant) {
        let wait = self.startup.checks.map(|c| c.wait).unwrap_or_default();
        self.startup.probe = Some(McpProbe::new(now, wait, &self.cfg.client_version));
        if matches!(self.startup.report.probe, ProbeState::Skipped) {
            self.startup.report.probe = ProbeState::Pending;
        }
        self.send_probe(now);
    }

    /// The operator's headers for the main origin on discovery and probe requests, and
    /// the client's `User-Agent`.
    fn startup_headers(&self) -> (HeaderMap, HeaderMap) {
        let extra = self
            .cfg
            .bindings
            .iter()
            .find(|b| b.channel == ChannelName::main())
            .map(|b| b.extra_headers.clone())
            .unwrap_or_default();
        let statics =
            crate::headers::discovery_static_headers(&extra, &self.cfg.discovery_extra_headers);
        let mut ua = HeaderMap::new();
        let v = format!("oai-tunnel-client/{}", self.cfg.client_version);
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            ua.insert(http::header::USER_AGENT, v);
        }
        (statics, ua)
    }

    fn send_probe(&mut self, now: Instant) {
        let (statics, ua) = self.startup_headers();
        let Some(p) = &mut self.startup.probe else {
            return;
        };
        let (message, own) = p.request();
        let Ok(message) = RawValue::from_string(message) else {
            return;
        };
        // Marked as discovery, as in Go: the discovery static headers apply.
        let mut headers = statics;
        headers.extend(ua);
        headers.extend(own);
        let at = now + ATTEMPT_TIMEOUT;
        self.clear_timer(Timer::StartupRetry);
        self.set_timer(at, Timer::StartupProbe);
        self.actions.push_back(Action::StartMcp(McpWork {
            cmd: PROBE_ID,
            request_id: "startup-mcp-probe".into(),
            channel: ChannelName::main(),
            kind: BindingKind::Http,
            deadline: Some(at + BACKSTOP),
            unix_socket: None,
            op: McpOp::Send {
                message,
                headers,
                expects_response: true,
            },
        }));
    }

    fn probe_event(&mut self, now: Instant, event: McpEvent) {
        let Some(p) = &mut self.startup.probe else {
            return;
        };
        let v = match event {
            McpEvent::Head { status, headers } => p.head(status, &headers),
            McpEvent::Body(chunk) => p.body(&chunk),
            McpEvent::End => p.end(),
            McpEvent::Response {
                status,
                headers,
                body,
            } => match p.head(status, &headers) {
                Verdict::Pending => match p.body(&body) {
                    Verdict::Pending => p.end(),
                    v => v,
                },
                v => v,
            },
            McpEvent::Error(e) => p.error(now, e),
            McpEvent::Output(_) => Verdict::Pending,
        };
        self.probe_verdict(now, v);
    }

    fn probe_verdict(&mut self, now: Instant, v: Verdict) {
        match v {
            Verdict::Pending => {}
            Verdict::Resend => {
                self.actions.push_back(Action::CancelMcp { cmd: PROBE_ID });
                self.send_probe(now);
            }
            Verdict::RetryAt(at) => {
                self.actions.push_back(Action::CancelMcp { cmd: PROBE_ID });
                self.clear_timer(Timer::StartupProbe);
                self.set_timer(at, Timer::StartupRetry);
                self.events.push_back(Event::StartupCheck {
                    level: log::Level::Info,
                    line: "retrying MCP startup probe: connection refused".into(),
                });
            }
            Verdict::Done(outcome) => {
                self.actions.push_back(Action::CancelMcp { cmd: PROBE_ID });
                self.clear_timer(Timer::StartupProbe);
                self.startup.probe = None;
                let (level, line) = match outcome.readiness() {
                    Ok(None) => (log::Level::Info, "MCP startup probe: ok".to_string()),
                    Ok(Some(note)) => (
                        log::Level::Info,
                        format!("MCP startup probe: ready ({note})"),
                    ),
                    Err(e) => (log::Level::Warn, format!("MCP startup probe: {e}")),
                };
                self.events.push_back(Event::StartupCheck { level, line });
                self.startup.report.probe = ProbeState::Done(outcome);
                if self.startup.hold_poll {
                    self.startup.hold_poll = false;
                    self.schedule_poll(now);
                }
                self.start_startup_discovery(now);
            }
        }
    }

    fn start_startup_discovery(&mut self, now: Instant) {
        let Some(url) = self.oauth_url.clone() else {
            return;
        };
        let (statics, _) = self.startup_headers();
        self.startup.discovery = Some(DiscoveryRun {
            d: StartupDiscovery::new(&url, statics, now),
            head: None,
            body: Vec::new(),
        });
        self.advance_startup_discovery(now);
    }

    fn advance_startup_discovery(&mut self, now: Instant) {
        let (_, ua) = self.startup_headers();
        let Some(r) = &mut self.startup.discovery else {
            return;
        };
        // The request's timeout is already cut to the discovery's budget.
        let Some(rq) = r.d.poll(now) else {
            let report = r.d.report();
            self.startup.discovery = None;
            self.finish_startup_discovery(now, report);
            return;
        };
        r.head = None;
        r.body.clear();
        let mut headers = ua;
        headers.extend(rq.headers);
        let at = now + rq.timeout;
        self.set_timer(at, Timer::StartupDiscovery);
        self.actions.push_back(Action::StartMcp(McpWork {
            cmd: DISCOVERY_ID,
            request_id: "startup-oauth-discovery".into(),
            channel: ChannelName::main(),
            kind: BindingKind::Http,
            deadline: Some(at + BACKSTOP),
            unix_socket: None,
            op: McpOp::Fetch {
                method: rq.method,
                uri: rq.uri,
                headers,
                body: bytes::Bytes::new(),
            },
        }));
    }

    fn finish_startup_discovery(&mut self, now: Instant, report: Report) {
        let (level, line) = if let Some(d) = &report.disabled {
            (log::Level::Info, format!("OAuth discovery disabled: {d}"))
        } else if let Some(f) = &report.found {
            (
                log::Level::Info,
                format!(
                    "OAuth discovery: protected-resource metadata from {} (HTTP {})",
                    f.url, f.status
                ),
            )
        } else if report.not_advertised {
            (
                log::Level::Info,
                format!("OAuth discovery: {}", crate::oauth::NOT_ADVERTISED),
            )
        } else {
            (
                log::Level::Warn,
                format!(
                    "OAuth discovery failed: {}",
                    report.error.clone().unwrap_or_default()
                ),
            )
        };
        self.events.push_back(Event::StartupCheck { level, line });
        if let Some(w) = report.auth_server_warning() {
            self.events.push_back(Event::StartupCheck {
                level: log::Level::Warn,
                line: format!("OAuth discovery: {w}"),
            });
        }
        if let Some(found) = &report.found {
            self.register_discovered(found, report.auth_server.as_ref());
        }
        let probe_failed =
            matches!(&self.startup.report.probe, ProbeState::Done(o) if o.readiness().is_err());
        let failed = report.failure().is_some() || probe_failed;
        self.startup.report.oauth = Some(report);
        self.startup.report.oauth_pending = false;
        if failed && !self.draining() {
            self.set_timer(now + RECHECK, Timer::StartupRetry);
        }
    }

    fn startup_discovery_event(&mut self, now: Instant, event: McpEvent) {
        let Some(r) = &mut self.startup.discovery else {
            return;
        };
        match super::fetch_buf::feed(&mut r.head, &mut r.body, event, crate::oauth::MAX_BODY + 1) {
            Fed::More => {}
            Fed::Failed(e) => {
                r.d.handle_error(e);
                self.end_startup_fetch(now);
            }
            Fed::Done(head) => {
                match head {
                    Some((status, headers)) => r.d.handle_response(status, &headers, &r.body),
                    None => r.d.handle_error(TransportError::Eof),
                }
                self.end_startup_fetch(now);
            }
        }
    }

    fn end_startup_fetch(&mut self, now: Instant) {
        self.clear_timer(Timer::StartupDiscovery);
        self.actions
            .push_back(Action::CancelMcp { cmd: DISCOVERY_ID });
        self.advance_startup_discovery(now);
    }
}
