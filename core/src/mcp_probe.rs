//! The MCP startup probe, sans-IO: does the `main` HTTP server answer MCP at all?
//!
//! The Go client sends `initialize` once at startup (2 s) and keeps the outcome for
//! `/readyz` (`go-runtime.md` §4.7, §8.2). It only knows the 2025 era; a server of the
//! 2026-07-28 era (sessionless, no `initialize`) fails its probe (Go issue #40). This probe
//! is era-aware: `initialize` (2025-11-25) first, and when the server refuses it (a 4xx
//! other than 401, or a JSON-RPC error) `server/discover` (2026-07-28). A 401 to either is
//! an answer: the server is up and wants a token, which the connector brings — ready.
//!
//! `--mcp.startup-wait-timeout` (when not zero): a connection refused is retried with a
//! backoff of 50 ms doubling to 1 s until the budget is spent; any HTTP response or other
//! error ends the wait at once, as in Go.

use std::time::{Duration, Instant};

use http::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::classify::TransportError;
use crate::sse::SseDecoder;

/// Bound of one probe request (Go's).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// First retry delay under `--mcp.startup-wait-timeout`...
const FIRST_DELAY: Duration = Duration::from_millis(50);
/// ...doubling up to this.
const MAX_DELAY: Duration = Duration::from_secs(1);
/// Enough for any `initialize` / `server/discover` answer.
const MAX_BODY: usize = 256 * 1024;

/// The request of the current era.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2025-11-25: `initialize`.
    Initialize,
    /// 2026-07-28: `server/discover`.
    Discover,
}

impl Era {
    pub fn method(self) -> &'static str {
        match self {
            Era::Initialize => "initialize",
            Era::Discover => "server/discover",
        }
    }
}

/// How the probe ended; `/readyz` words each as the Go client does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The server answered MCP (which method).
    Ok(Era),
    /// HTTP 401: up, and wants the connector's token.
    AuthRequired(String),
    /// No answer within [`ATTEMPT_TIMEOUT`]: Go calls this ready (the server may be slow).
    TimedOut(String),
    /// `--mcp.startup-wait-timeout` spent while the connection was refused.
    WaitFailed(String),
    Failed(String),
}

impl ProbeOutcome {
    /// `Err` with the `/readyz` reason when it makes the client not ready; `Ok` with a
    /// note for the `200` body when ready but worth saying.
    pub fn readiness(&self) -> Result<Option<String>, String> {
        match self {
            ProbeOutcome::Ok(_) => Ok(None),
            ProbeOutcome::AuthRequired(e) => Ok(Some(format!("mcp initialize requires auth: {e}"))),
            ProbeOutcome::TimedOut(e) => Ok(Some(format!("mcp startup probe timed out: {e}"))),
            ProbeOutcome::WaitFailed(e) => Err(format!("mcp startup wait failed: {e}")),
            ProbeOutcome::Failed(e) => Err(format!("mcp probe failed: {e}")),
        }
    }

    /// Go's `probe_status` for the admin API.
    pub fn status(&self) -> &'static str {
        match self {
            ProbeOutcome::Ok(_) => "ok",
            ProbeOutcome::AuthRequired(_) => "auth-required",
            ProbeOutcome::TimedOut(_) => "timeout",
            ProbeOutcome::WaitFailed(_) | ProbeOutcome::Failed(_) => "failed",
        }
    }

    /// The error text, if any.
    pub fn error(&self) -> Option<&str> {
        match self {
            ProbeOutcome::Ok(_) => None,
            ProbeOutcome::AuthRequired(e)
            | ProbeOutcome::TimedOut(e)
            | ProbeOutcome::WaitFailed(e)
            | ProbeOutcome::Failed(e) => Some(e),
        }
    }
}

/// What the driver does after a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep reading.
    Pending,
    /// Send [`McpProbe::request`] again now (the era changed).
    Resend,
    /// Send it again at this instant (startup wait).
    RetryAt(Instant),
    Done(ProbeOutcome),
}

/// One startup probe.
#[derive(Debug)]
pub struct McpProbe {
    era: Era,
    wait_until: Option<Instant>,
    wait: Duration,
    delay: Duration,
    head: Option<(u16, HeaderMap)>,
    body: Vec<u8>,
    sse: Option<SseDecoder>,
    client_version: String,
}

impl McpProbe {
    /// A probe started at `now`; `wait` is `--mcp.startup-wait-timeout` (zero: one try).
    pub fn new(now: Instant, wait: Duration, client_version: &str) -> McpProbe {
        McpProbe {
            era: Era::Initialize,
            wait_until: (!wait.is_zero()).then(|| now + wait),
            wait,
            delay: FIRST_DELAY,
            head: None,
            body: Vec::new(),
            sse: None,
            client_version: client_version.to_string(),
        }
    }

    pub fn era(&self) -> Era {
        self.era
    }

    /// The JSON-RPC message and the headers (without the operator's) of the next attempt.
    pub fn request(&mut self) -> (String, HeaderMap) {
        self.head = None;
        self.body.clear();
        self.sse = None;
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        let msg = match self.era {
            Era::Initialize => {
                serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "tunnel-client", "version": self.client_version}}})
            }
            Era::Discover => {
                h.insert(
                    "mcp-protocol-version",
                    HeaderValue::from_static("2026-07-28"),
                );
                h.insert("mcp-method", HeaderValue::from_static("server/discover"));
                serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {}})
            }
        };
        (msg.to_string(), h)
    }

    /// The response head.
    pub fn head(&mut self, status: u16, headers: &HeaderMap) -> Verdict {
        if status == 401 {
            let challenge = headers
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_whitespace().next())
                // Not "Bearer <word>": log and UI redaction would take it for a token.
                .map(|scheme| format!(" (WWW-Authenticate scheme: {scheme})"))
                .unwrap_or_default();
            return Verdict::Done(ProbeOutcome::AuthRequired(format!(
                "HTTP 401 Unauthorized to {}{challenge}",
                self.era.method()
            )));
        }
        if !(200..300).contains(&status) {
            return self.refused(format!("HTTP {status} to {}", self.era.method()));
        }
        let sse = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if sse {
            self.sse = Some(SseDecoder::new(MAX_BODY));
        }
        self.head = Some((status, headers.clone()));
        Verdict::Pending
    }

    /// A piece of the body.
    pub fn body(&mut self, chunk: &[u8]) -> Verdict {
        if let Some(d) = &mut self.sse {
            let mut out = Vec::new();
            if d.push(chunk, &mut out).is_err() {
                return self.refused("unreadable event stream".into());
            }
            for ev in out {
                if let Some(v) = self.judge(ev.data.as_bytes()) {
                    return v;
                }
            }
            return Verdict::Pending;
        }
        let room = MAX_BODY.saturating_sub(self.body.len());
        self.body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        Verdict::Pending
    }

    /// The body ended.
    pub fn end(&mut self) -> Verdict {
        if self.sse.is_some() {
            return self.refused(format!(
                "{}: the event stream ended without a response",
                self.era.method()
            ));
        }
        let body = std::mem::take(&mut self.body);
        match self.judge(&body) {
            Some(v) => v,
            None if self
                .head
                .as_ref()
                .is_some_and(|(s, _)| *s == 202 || *s == 204) =>
            {
                self.refused(format!("{}: no response body", self.era.method()))
            }
            None => self.refused(format!("{}: not a JSON-RPC response", self.era.method())),
        }
    }

    /// The attempt failed at the transport level (`Timeout` also when the driver's
    /// [`ATTEMPT_TIMEOUT`] passed).
    pub fn error(&mut self, now: Instant, error: TransportError) -> Verdict {
        let kind = crate::classify::TunnelFailure::from_transport(error)
            .and_then(|f| f.kind())
            .map_or("canceled", |k| k.as_str());
        if error == TransportError::Timeout {
            return Verdict::Done(ProbeOutcome::TimedOut(format!(
                "no answer to {} within {}s",
                self.era.method(),
                ATTEMPT_TIMEOUT.as_secs()
            )));
        }
        if error == TransportError::ConnectionRefused {
            if let Some(until) = self.wait_until {
                let at = now + self.delay;
                if at <= until {
                    self.delay = (self.delay * 2).min(MAX_DELAY);
                    return Verdict::RetryAt(at);
                }
                return Verdict::Done(ProbeOutcome::WaitFailed(format!(
                    "connection still refused after --mcp.startup-wait-timeout {:?}",
                    self.wait
                )));
            }
        }
        Verdict::Done(ProbeOutcome::Failed(format!(
            "{} request failed ({kind})",
            self.era.method()
        )))
    }

    /// A JSON-RPC message: result → ok; error → the other era or failure.
    fn judge(&mut self, data: &[u8]) -> Option<Verdict> {
        let v: Value = serde_json::from_slice(data).ok()?;
        // A notification (no id) before the response is passed over.
        v.get("id")?;
        if v.get("result").is_some() {
            return Some(Verdict::Done(ProbeOutcome::Ok(self.era)));
        }
        let e = v.get("error")?;
        let msg = format!(
            "{} answered JSON-RPC error {}: {}",
            self.era.method(),
            e.get("code").map(Value::to_string).unwrap_or_default(),
            e.get("message").and_then(Value::as_str).unwrap_or("")
        );
        Some(self.refused(msg))
    }

    /// The server refused this era's request: try the other one, or fail.
    fn refused(&mut self, why: String) -> Verdict {
        match self.era {
            Era::Initialize => {
                self.era = Era::Discover;
                Verdict::Resend
            }
            Era::Discover => Verdict::Done(ProbeOutcome::Failed(format!(
                "neither initialize nor server/discover succeeded; last: {why}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(ct: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(CONTENT_TYPE, ct.parse().unwrap());
        m
    }

    #[test]
    fn a_2025_server_answers_initialize() {
        let now = Instant::now();
        let mut p = McpProbe::new(now, Duration::ZERO, "1.0");
        let (msg, _) = p.request();
        assert!(msg.contains(r#""method":"initialize""#));
        assert_eq!(p.head(200, &h("text/event-stream")), Verdict::Pending);
        let v = p.body(b"data: {\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{}}\n\n");
        assert_eq!(v, Verdict::Done(ProbeOutcome::Ok(Era::Initialize)));
    }

    #[test]
    fn a_2026_server_is_asked_server_discover_after_refusing_initialize() {
        let mut p = McpProbe::new(Instant::now(), Duration::ZERO, "1.0");
        p.request();
        assert_eq!(p.head(400, &h("application/json")), Verdict::Resend);
        let (msg, headers) = p.request();
        assert!(msg.contains("server/discover"));
        assert_eq!(headers["mcp-method"], "server/discover");
        assert_eq!(headers["mcp-protocol-version"], "2026-07-28");
        p.head(200, &h("application/json"));
        p.body(br#"{"jsonrpc":"2.0","id":0,"result":{"supportedVersions":["2026-07-28"]}}"#);
        assert_eq!(p.end(), Verdict::Done(ProbeOutcome::Ok(Era::Discover)));
    }

    #[test]
    fn a_401_is_ready_with_auth_required() {
        let mut p = McpProbe::new(Instant::now(), Duration::ZERO, "1.0");
        p.request();
        let mut hm = h("application/json");
        hm.insert(
            WWW_AUTHENTICATE,
            r#"Bearer resource_metadata="x""#.parse().unwrap(),
        );
        let Verdict::Done(o) = p.head(401, &hm) else {
            panic!()
        };
        assert_eq!(
            o.readiness(),
            Ok(Some("mcp initialize requires auth: HTTP 401 Unauthorized to initialize (WWW-Authenticate scheme: Bearer)".into()))
        );
    }

    #[test]
    fn refused_connections_are_retried_only_within_the_startup_wait() {
        let now = Instant::now();
        let mut once = McpProbe::new(now, Duration::ZERO, "1.0");
        let Verdict::Done(o) = once.error(now, TransportError::ConnectionRefused) else {
            panic!()
        };
        assert!(
            o.readiness().unwrap_err().starts_with("mcp probe failed: "),
            "{o:?}"
        );

        let mut p = McpProbe::new(now, Duration::from_millis(200), "1.0");
        let mut at = now;
        let mut delays = Vec::new();
        loop {
            match p.error(at, TransportError::ConnectionRefused) {
                Verdict::RetryAt(t) => {
                    delays.push(t - at);
                    at = t;
                }
                Verdict::Done(o) => {
                    assert!(o
                        .readiness()
                        .unwrap_err()
                        .starts_with("mcp startup wait failed: "));
                    break;
                }
                v => panic!("{v:?}"),
            }
        }
        assert_eq!(
            delays,
            [50, 100].map(Duration::from_millis).to_vec(),
            "50 ms doubling, bounded by the 200 ms budget"
        );
    }

    #[test]
    fn a_timeout_is_ready_with_a_note_and_a_server_error_is_a_failure() {
        let now = Instant::now();
        let mut p = McpProbe::new(now, Duration::ZERO, "1.0");
        let Verdict::Done(o) = p.error(now, TransportError::Timeout) else {
            panic!()
        };
        assert!(o
            .readiness()
            .unwrap()
            .unwrap()
            .starts_with("mcp startup probe timed out"));
        let mut p = McpProbe::new(now, Duration::ZERO, "1.0");
        assert_eq!(p.head(500, &HeaderMap::new()), Verdict::Resend);
        let Verdict::Done(o) = p.head(500, &HeaderMap::new()) else {
            panic!()
        };
        assert_eq!(o.status(), "failed");
    }
}
