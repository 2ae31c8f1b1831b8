//! `/metrics`: the Go client's metric families that apply, in Prometheus text format.
//!
//! Counters are fed from engine events by the runtime's observer (on the driver thread, so
//! recording must be cheap: one mutex, a few map updates); gauges are read from the latest
//! runtime snapshot when `/metrics` is scraped. Label values are bounded: methods come from
//! the engine's closed list of MCP methods (`other` for the rest), channels from the
//! configuration or a rejected command (counted once per distinct name, capped).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tunnel_blocking::Snapshot;
use tunnel_core::engine::{Event, PollError};

/// OTel's default histogram buckets (milliseconds), as the Go exporter uses.
const LATENCY_BUCKETS_MS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// Distinct label sets kept for rejected channels; a hostile control plane cannot grow the
/// registry without bound.
const MAX_REJECTED_CHANNEL_SERIES: usize = 64;

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; LATENCY_BUCKETS_MS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (i, le) in LATENCY_BUCKETS_MS.iter().enumerate() {
            if v <= *le {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

/// Labels of `command_end_to_end_latency_milliseconds`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LatencyKey {
    request_kind: &'static str,
    request_method: &'static str,
    channel: String,
    status: u16,
}

#[derive(Debug, Default)]
struct Inner {
    polled: u64,
    poll_cycles: u64,
    unknown_types: u64,
    poll_errors: BTreeMap<&'static str, u64>,
    queue_drops: BTreeMap<&'static str, u64>,
    last_poll_success: Option<SystemTime>,
    latency: BTreeMap<LatencyKey, Histogram>,
    unsupported_channel: BTreeMap<(String, String), u64>,
    responses: BTreeMap<(&'static str, u16), u64>,
    failures: BTreeMap<(&'static str, &'static str), u64>,
    auth_rejected: u64,
    deadlines_expired: u64,
    delivery_failed: u64,
}

/// The registry.
#[derive(Debug)]
pub struct Metrics {
    tunnel_id: String,
    queue_capacity: usize,
    worker_capacity: usize,
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn new(tunnel_id: &str, queue_capacity: usize, worker_capacity: usize) -> Metrics {
        Metrics {
            tunnel_id: tunnel_id.to_string(),
            queue_capacity,
            worker_capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records one engine event (called on the driver thread).
    pub fn record(&self, event: &Event) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::PollSucceeded { commands, .. } => {
                m.poll_cycles += 1;
                m.polled += *commands as u64;
                m.last_poll_success = Some(SystemTime::now());
            }
            Event::PollFailed { error, .. } => {
                m.poll_cycles += 1;
                let kind = match error {
                    PollError::Transport(tunnel_core::classify::TransportError::Timeout) => {
                        "timeout"
                    }
                    _ => "other",
                };
                *m.poll_errors.entry(kind).or_default() += 1;
            }
            Event::AuthRejected { .. } => m.auth_rejected += 1,
            Event::CommandDropped { reason, .. } => {
                *m.queue_drops.entry(reason.label()).or_default() += 1;
            }
            Event::UnknownCommandType { .. } => {
                m.unknown_types += 1;
                *m.queue_drops.entry("invalid_command_type").or_default() += 1;
            }
            Event::ChannelRejected {
                channel,
                command_type,
                ..
            } => {
                let ct = match command_type.as_str() {
                    "jsonrpc" | "oauth_discovery" | "session_termination" => command_type.clone(),
                    _ => "unknown".to_string(),
                };
                let key = (channel.to_string(), ct);
                if m.unsupported_channel.len() < MAX_REJECTED_CHANNEL_SERIES
                    || m.unsupported_channel.contains_key(&key)
                {
                    *m.unsupported_channel.entry(key).or_default() += 1;
                }
            }
            Event::DeadlineExpired { .. } => m.deadlines_expired += 1,
            Event::FailureSynthesized { failure, .. } => {
                let kind = failure.kind().map(|k| k.as_str()).unwrap_or("");
                *m.failures
                    .entry((failure.source().as_str(), kind))
                    .or_default() += 1;
            }
            Event::ResponseDeliveryFailed { .. } => m.delivery_failed += 1,
            Event::CommandCompleted {
                channel,
                resp_type,
                resp_code,
                request_kind,
                method,
                poll_to_response,
                ..
            } => {
                *m.responses
                    .entry((resp_type.as_str(), *resp_code))
                    .or_default() += 1;
                let key = LatencyKey {
                    request_kind: go_request_kind(request_kind),
                    request_method: method,
                    channel: channel.to_string(),
                    status: *resp_code,
                };
                m.latency
                    .entry(key)
                    .or_default()
                    .observe(millis(*poll_to_response));
            }
            _ => {}
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, snap: &Snapshot) -> String {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(4096);
        let tid = escape(&self.tunnel_id);

        counter(
            &mut out,
            "commands_polled_total",
            "Decoded commands received from the control plane.",
            m.polled,
        );
        counter(
            &mut out,
            "commands_enqueued_total",
            "Commands accepted into the local queue.",
            m.polled.saturating_sub(
                m.unknown_types
                    + m.queue_drops
                        .get("duplicate_in_flight")
                        .copied()
                        .unwrap_or(0),
            ),
        );
        counter(
            &mut out,
            "commands_poll_cycles_total",
            "Poll cycles completed.",
            m.poll_cycles,
        );
        header(
            &mut out,
            "commands_poll_errors_total",
            "counter",
            "Failed polls by kind (HTTP status errors are other).",
        );
        for kind in ["timeout", "other"] {
            let v = m.poll_errors.get(kind).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "commands_poll_errors_total{{error_kind=\"{kind}\"}} {v}"
            );
        }
        header(
            &mut out,
            "commands_queue_drops_total",
            "counter",
            "Commands fetched but not enqueued, by reason.",
        );
        for (reason, v) in &m.queue_drops {
            let _ = writeln!(
                out,
                "commands_queue_drops_total{{drop_reason=\"{reason}\"}} {v}"
            );
        }
        gauge(
            &mut out,
            "commands_poll_last_successful_timestamp_seconds",
            "Unix time of the last successful poll (0 before the first).",
            m.last_poll_success.map(unix_seconds).unwrap_or(0.0),
        );
        gauge(
            &mut out,
            "commands_queue_capacity",
            "Prefetch buffer capacity (--control-plane.max-inflight).",
            self.queue_capacity as f64,
        );
        gauge(
            &mut out,
            "commands_queue_length",
            "Commands waiting for a worker.",
            snap.status.queued as f64,
        );
        gauge(
            &mut out,
            "dispatcher_worker_pool_capacity",
            "MCP workers (--mcp.max-concurrent-requests).",
            self.worker_capacity as f64,
        );
        gauge(
            &mut out,
            "dispatcher_worker_pool_occupancy",
            "MCP workers busy.",
            snap.status.running as f64,
        );

        let name = "command_end_to_end_latency_milliseconds";
        header(
            &mut out,
            name,
            "histogram",
            "Poll receipt to terminal response delivered, per command.",
        );
        for (k, h) in &m.latency {
            let labels = format!(
                "channel=\"{}\",latency_type=\"poll_to_response\",request_kind=\"{}\",request_method=\"{}\",tunnel_id=\"{tid}\",tunnel_service_status=\"{}\"",
                escape(&k.channel),
                k.request_kind,
                k.request_method,
                k.status
            );
            for (i, le) in LATENCY_BUCKETS_MS.iter().enumerate() {
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }

        header(
            &mut out,
            "command_unsupported_channel_total",
            "counter",
            "Commands rejected for an unsupported channel.",
        );
        for ((channel, ct), v) in &m.unsupported_channel {
            let _ = writeln!(
                out,
                "command_unsupported_channel_total{{channel=\"{}\",command_type=\"{ct}\",tunnel_id=\"{tid}\"}} {v}",
                escape(channel)
            );
        }

        gauge(&mut out, "liveness", "1 while the process serves.", 1.0);
        gauge(
            &mut out,
            "readiness",
            "1 when /readyz answers 200.",
            if snap.readiness.is_ok() { 1.0 } else { 0.0 },
        );

        // Ours (no Go equivalent), prefixed so they cannot clash with Go names.
        header(
            &mut out,
            "tunnel_client_responses_total",
            "counter",
            "Terminal responses delivered, by resp_type and resp_code.",
        );
        for ((t, code), v) in &m.responses {
            let _ = writeln!(
                out,
                "tunnel_client_responses_total{{resp_code=\"{code}\",resp_type=\"{t}\"}} {v}"
            );
        }
        header(
            &mut out,
            "tunnel_client_failures_synthesized_total",
            "counter",
            "-32603 errors synthesized, by tunnel_failure source and transport_error_kind.",
        );
        for ((s, k), v) in &m.failures {
            let _ = writeln!(out, "tunnel_client_failures_synthesized_total{{source=\"{s}\",transport_error_kind=\"{k}\"}} {v}");
        }
        counter(
            &mut out,
            "tunnel_client_auth_rejected_total",
            "401/403 answers from the control plane reported (at most one a minute).",
            m.auth_rejected,
        );
        counter(
            &mut out,
            "tunnel_client_deadlines_expired_total",
            "Commands whose response_timeout passed; nothing was posted.",
            m.deadlines_expired,
        );
        counter(
            &mut out,
            "tunnel_client_response_delivery_failed_total",
            "Terminal responses that could not be delivered after retries.",
            m.delivery_failed,
        );
        gauge(
            &mut out,
            "tunnel_client_commands_in_flight",
            "Commands taken and not finished (queued + running + posting).",
            snap.in_flight as f64,
        );
        out
    }
}

/// The engine says `request` / `client_response`; Go's label says `call` / `notification`.
fn go_request_kind(kind: &str) -> &'static str {
    match kind {
        "request" => "call",
        "notification" | "client_response" => "notification",
        "session_termination" => "session_termination",
        "oauth_discovery" => "oauth_discovery",
        _ => "other",
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {v}");
}

fn gauge(out: &mut String, name: &str, help: &str, v: f64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {v}");
}

/// Prometheus label-value escaping: backslash, double quote, newline.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
