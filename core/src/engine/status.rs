//! A snapshot of the engine for readiness, the admin UI and metrics gauges.

use std::time::{Duration, Instant};

use super::Engine;
use crate::channel::ChannelName;

/// Consecutive poll failures after which readiness turns false even within the grace time.
const FAILURES_BEFORE_NOT_READY: u32 = 3;

/// What an operator wants to know about the engine right now.
#[derive(Debug, Clone)]
pub struct Status {
    pub last_poll_success: Option<Instant>,
    pub consecutive_poll_failures: u32,
    pub last_poll_error: Option<String>,
    /// Set while the control plane answers 401/403: the status and what to do.
    pub auth_problem: Option<String>,
    pub queued: usize,
    pub running: usize,
    /// Commands whose MCP work is done and whose responses are being posted.
    pub posting: usize,
    pub draining: bool,
    /// Long polls out now: one, or more while the service has a backlog.
    pub polls_in_flight: usize,
    pub bindings_down: Vec<(ChannelName, String)>,
}

impl Status {
    /// Commands taken from the control plane and not finished (queued, running or
    /// posting): what a hard stop abandons, and the in-flight gauge.
    pub fn unfinished(&self) -> usize {
        self.queued + self.running + self.posting
    }
}

impl Engine {
    pub fn status(&self) -> Status {
        let mut bindings_down: Vec<_> = self
            .binding_down
            .iter()
            .map(|(c, r)| (c.clone(), r.clone()))
            .collect();
        bindings_down.sort();
        let auth_problem = self.poll.auth_problem.as_ref().map(|(status, e)| {
            let mut s = format!("control plane rejected the credentials (HTTP {status})");
            if let Some(m) = e.as_ref().and_then(|e| e.message.as_deref()) {
                s.push_str(&format!(": {m}"));
            }
            let fix = e
                .as_ref()
                .and_then(|e| e.mitigation(&self.cfg.setting_names))
                .unwrap_or_else(|| self.cfg.auth_fix.clone());
            s.push_str(&format!("; fix: {fix}"));
            s
        });
        Status {
            last_poll_success: self.poll.last_success,
            consecutive_poll_failures: self.poll.consecutive_failures,
            last_poll_error: self.poll.last_error.as_ref().map(|e| e.to_string()),
            auth_problem,
            polls_in_flight: self.poll.in_flight(),
            queued: self.queue.len(),
            running: self.running,
            posting: self
                .cmds
                .len()
                .saturating_sub(self.queue.len() + self.running),
            draining: self.draining.is_some(),
            bindings_down,
        }
    }

    /// Readiness with a reason. In order: draining; a binding down (target unreachable,
    /// stdio child down: the root cause comes first); the startup checks with the Go
    /// client's reasons in its order (oauth discovery pending / failed, mcp startup probe
    /// pending / failed); the control plane rejecting the key; polls failing.
    pub fn readiness(&self, now: Instant) -> Result<(), String> {
        self.readiness_with_note(now).map(|_| ())
    }

    /// [`Engine::readiness`], and when ready, a note for the `/readyz` body that the Go
    /// client gives too: `mcp initialize requires auth: …`, `mcp startup probe timed out: …`.
    pub fn readiness_with_note(&self, now: Instant) -> Result<Option<String>, String> {
        let s = self.status();
        if s.draining {
            return Err("draining: shutting down".to_string());
        }
        if let Some((ch, reason)) = s.bindings_down.first() {
            return Err(format!("channel {ch}: {reason}"));
        }
        let note = self.startup_report().readiness()?;
        if let Some(p) = s.auth_problem {
            return Err(p);
        }
        if s.consecutive_poll_failures > 0 {
            let for_long = self
                .poll
                .failing_since
                .is_some_and(|t| now.saturating_duration_since(t) >= self.cfg.poll_failure_grace);
            if for_long || s.consecutive_poll_failures >= FAILURES_BEFORE_NOT_READY {
                let since = self
                    .poll
                    .failing_since
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or(Duration::ZERO);
                return Err(format!(
                    "control plane polls failing ({} in a row for {}s): {}",
                    s.consecutive_poll_failures,
                    since.as_secs(),
                    s.last_poll_error.unwrap_or_default()
                ));
            }
        }
        Ok(note)
    }
}
