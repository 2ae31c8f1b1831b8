//! `/metrics`: the Go client's metric families that apply, in Prometheus text format.
//!
//! Counters and gauges come from the runtime snapshot when `/metrics` is scraped: the
//! counters are the engine's own registry ([`tunnel_core::engine::Stats`]), the same figures
//! the admin UI and the support bundle show. This module keeps only what the engine cannot:
//! histograms measured against the wall clock (command age, enqueue-to-response) or by the
//! HTTP layer (request durations), fed by the runtime's observers (on the driver thread, so
//! recording must be cheap: one mutex, a few map updates). Label values are bounded:
//! methods come from the engine's closed list of MCP methods (`other` for the rest),
//! channels from the configuration.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tunnel_blocking::http_timing::{HttpClientKind, HttpTiming};
use tunnel_blocking::Snapshot;
use tunnel_core::engine::Event;

/// OTel's default histogram buckets, as the Go exporter uses for every histogram without
/// explicit buckets, whatever its unit (so `commands_poll_latency_seconds` and
/// `commands_age_seconds` have the same bounds as the millisecond latency, as in Go).
const DEFAULT_BUCKETS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// otelhttp's explicit buckets for `http.client.request.duration` (seconds).
const HTTP_DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Distinct label sets kept for HTTP client durations (hosts × routes × methods × status
/// codes are configuration-bounded; this is a backstop).
const MAX_HTTP_SERIES: usize = 256;

#[derive(Debug, Clone)]
pub(super) struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub(super) fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub(super) fn observe(&mut self, v: f64) {
        for (i, le) in self.bounds.iter().enumerate() {
            if v <= *le {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    /// `_bucket` (cumulative, then `+Inf`), `_sum`, `_count` lines; `labels` without braces.
    pub(super) fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, le) in self.bounds.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(&DEFAULT_BUCKETS)
    }
}

/// Labels of `http_client_request_duration_seconds` (otelhttp's names).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct HttpKey {
    method: &'static str,
    server_address: String,
    server_port: u16,
    scheme: String,
    protocol_version: &'static str,
    status: Option<u16>,
    error_type: Option<&'static str>,
    route: String,
}

/// Labels of `command_end_to_end_latency_milliseconds`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LatencyKey {
    latency_type: &'static str,
    request_kind: &'static str,
    request_method: &'static str,
    channel: String,
    status: u16,
}

#[derive(Debug, Default)]
struct Inner {
    latency: BTreeMap<LatencyKey, Histogram>,
    poll_latency: BTreeMap<bool, Histogram>,
    command_age: Histogram,
    http: BTreeMap<HttpKey, Histogram>,
    /// Harpoon call latency (ms) and response size (bytes) by (label, status_class,
    /// outcome): labels are configured targets or `__unknown__`.
    harpoon: BTreeMap<(String, &'static str, &'static str), (Histogram, Histogram)>,
    /// `http_client_request_body_size_bytes`, same labels (OTel default buckets).
    http_body: BTreeMap<HttpKey, Histogram>,
}

/// The histograms (the counters are the engine's).
#[derive(Debug)]
pub struct Metrics {
    tunnel_id: String,
    queue_capacity: usize,
    worker_capacity: usize,
    inner: Mutex<Inner>,
    /// The proxy health checker's families (`proxy_*`).
    pub proxy: super::proxy_metrics::ProxyMetrics,
}

impl Metrics {
    pub fn new(tunnel_id: &str, queue_capacity: usize, worker_capacity: usize) -> Metrics {
        Metrics {
            tunnel_id: tunnel_id.to_string(),
            queue_capacity,
            worker_capacity,
            inner: Mutex::new(Inner::default()),
            proxy: Default::default(),
        }
    }

    /// Records the histograms of one engine event (called on the driver thread).
    pub fn record(&self, event: &Event) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::PollSucceeded { created_at, .. } => {
                let now = SystemTime::now();
                for stamp in created_at {
                    if let Some(age) = age_of(stamp, now) {
                        m.command_age.observe(age.as_secs_f64());
                    }
                }
            }
            Event::CommandCompleted {
                channel,
                resp_code,
                request_kind,
                method,
                poll_to_response,
                created_at,
                ..
            } => {
                let key = LatencyKey {
                    latency_type: "poll_to_response",
                    request_kind: go_request_kind(request_kind),
                    request_method: method,
                    channel: channel.to_string(),
                    status: *resp_code,
                };
                // Go records enqueue_to_response (now − created_at) only when created_at
                // is known and not in the future.
                let enqueue = created_at
                    .as_deref()
                    .and_then(|c| age_of(c, SystemTime::now()));
                if let Some(d) = enqueue {
                    let key = LatencyKey {
                        latency_type: "enqueue_to_response",
                        ..key.clone()
                    };
                    m.latency.entry(key).or_default().observe(millis(d));
                }
                m.latency
                    .entry(key)
                    .or_default()
                    .observe(millis(*poll_to_response));
            }
            // Go records nothing for a call whose arguments did not decode.
            Event::HarpoonCall {
                latency, outcome, ..
            } if outcome.decoded => {
                let key = (
                    outcome.metrics_label.clone(),
                    outcome.status_class(),
                    outcome.outcome(),
                );
                let size = outcome.result.as_ref().map_or(0, |r| r.body_size);
                let (lat, bytes) = m.harpoon.entry(key).or_default();
                lat.observe(millis(*latency));
                bytes.observe(size as f64);
            }
            _ => {}
        }
    }

    /// Records one HTTP request of the runtime (called on the I/O thread that sent it).
    pub fn record_http(&self, t: &HttpTiming<'_>) {
        let scheme = t.uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let key = HttpKey {
            method: http_method(t.method),
            server_address: t.uri.host().unwrap_or("").to_string(),
            server_port: t
                .uri
                .port_u16()
                .unwrap_or(if scheme == "https" { 443 } else { 80 }),
            scheme,
            protocol_version: match t.version {
                http::Version::HTTP_10 => "1.0",
                http::Version::HTTP_2 => "2",
                http::Version::HTTP_3 => "3",
                _ => "1.1",
            },
            status: t.status,
            error_type: t.error.map(error_type),
            route: route_label(t.uri.path()),
        };
        let poll = t.client == HttpClientKind::ControlPlane
            && t.method == http::Method::GET
            && t.uri.path().ends_with("/poll");
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if poll {
            // Go: error=true when the poll returned an error (transport or non-2xx status).
            let error = !matches!(t.status, Some(200 | 204));
            m.poll_latency
                .entry(error)
                .or_default()
                .observe(t.duration.as_secs_f64());
        }
        if let Some(size) = t.request_body_size {
            if m.http_body.len() < MAX_HTTP_SERIES || m.http_body.contains_key(&key) {
                m.http_body
                    .entry(key.clone())
                    .or_default()
                    .observe(size as f64);
            }
        }
        if m.http.len() < MAX_HTTP_SERIES || m.http.contains_key(&key) {
            m.http
                .entry(key)
                .or_insert_with(|| Histogram::new(&HTTP_DURATION_BUCKETS))
                .observe(t.duration.as_secs_f64());
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, snap: &Snapshot) -> String {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let stats = &*snap.stats;
        let mut out = String::with_capacity(4096);
        let tid = escape(&self.tunnel_id);

        counter(
            &mut out,
            "commands_polled_total",
            "Decoded commands received from the control plane.",
            stats.commands_polled,
        );
        counter(
            &mut out,
            "commands_enqueued_total",
            "Commands accepted into the local queue.",
            stats.commands_enqueued(),
        );
        counter(
            &mut out,
            "commands_poll_cycles_total",
            "Poll cycles completed.",
            stats.poll_cycles,
        );
        header(
            &mut out,
            "commands_poll_errors_total",
            "counter",
            "Failed polls by kind (HTTP status errors are other).",
        );
        for kind in ["timeout", "other"] {
            let v = stats.poll_errors.get(kind).copied().unwrap_or(0);
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
        for (reason, v) in &stats.queue_drops {
            let _ = writeln!(
                out,
                "commands_queue_drops_total{{drop_reason=\"{reason}\"}} {v}"
            );
        }
        let name = "commands_poll_latency_seconds";
        header(
            &mut out,
            name,
            "histogram",
            "Latency in seconds of completed poll requests (to the response head).",
        );
        for (error, h) in &m.poll_latency {
            h.render(&mut out, name, &format!("error=\"{error}\""));
        }
        let name = "commands_age_seconds";
        header(
            &mut out,
            name,
            "histogram",
            "Seconds between control-plane enqueue (created_at) and poll receipt.",
        );
        m.command_age.render(&mut out, name, "");
        gauge(
            &mut out,
            "commands_poll_last_successful_timestamp_seconds",
            "Unix time of the last successful poll (0 before the first).",
            snap.status
                .last_poll_success
                .map(|t| unix_seconds(crate::admin::api::wall(t)))
                .unwrap_or(0.0),
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
            "Latency of a command to its terminal response delivered: from poll receipt (poll_to_response) and from control-plane enqueue (enqueue_to_response).",
        );
        for (k, h) in &m.latency {
            let labels = format!(
                "channel=\"{}\",latency_type=\"{}\",request_kind=\"{}\",request_method=\"{}\",tunnel_id=\"{tid}\",tunnel_service_status=\"{}\"",
                escape(&k.channel),
                k.latency_type,
                k.request_kind,
                k.request_method,
                k.status
            );
            h.render(&mut out, name, &labels);
        }

        header(
            &mut out,
            "command_unsupported_channel_total",
            "counter",
            "Commands rejected for an unsupported channel.",
        );
        for ((channel, ct), v) in &stats.unsupported_channel {
            let _ = writeln!(
                out,
                "command_unsupported_channel_total{{channel=\"{}\",command_type=\"{ct}\",tunnel_id=\"{tid}\"}} {v}",
                escape(channel)
            );
        }

        header(
            &mut out,
            "harpoon_call_total",
            "counter",
            "Harpoon call_target invocations.",
        );
        // Every call is recorded here once (tunnel channel and /harpoon/mcp alike), so
        // the counter is the latency histogram's count.
        for ((label, class, outcome), (lat, _)) in &m.harpoon {
            let _ = writeln!(
                out,
                "harpoon_call_total{{label=\"{}\",outcome=\"{outcome}\",status_class=\"{class}\"}} {}",
                escape(label),
                lat.count
            );
        }
        for (name, help, pick) in [
            (
                "harpoon_call_latency_milliseconds",
                "Harpoon call_target latency.",
                0,
            ),
            (
                "harpoon_response_size_bytes",
                "Harpoon call_target response body size.",
                1,
            ),
        ] {
            header(&mut out, name, "histogram", help);
            for ((label, class, outcome), (lat, bytes)) in &m.harpoon {
                let labels = format!(
                    "label=\"{}\",outcome=\"{outcome}\",status_class=\"{class}\"",
                    escape(label)
                );
                let h = if pick == 0 { lat } else { bytes };
                h.render(&mut out, name, &labels);
            }
        }

        let name = "http_client_request_duration_seconds";
        header(
            &mut out,
            name,
            "histogram",
            "Duration of HTTP client requests (control plane and MCP) to the response head.",
        );
        for (k, h) in &m.http {
            h.render(&mut out, name, &http_labels(k));
        }
        let name = "http_client_request_body_size_bytes";
        header(
            &mut out,
            name,
            "histogram",
            "Size of HTTP client request bodies (control plane and MCP).",
        );
        for (k, h) in &m.http_body {
            h.render(&mut out, name, &http_labels(k));
        }
        self.proxy.render(&mut out);
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
        for ((t, code), v) in &stats.commands_completed {
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
        for ((s, k), v) in &stats.failures_synthesized {
            let _ = writeln!(out, "tunnel_client_failures_synthesized_total{{source=\"{s}\",transport_error_kind=\"{k}\"}} {v}");
        }
        counter(
            &mut out,
            "tunnel_client_auth_rejected_total",
            "401/403 answers from the control plane reported (at most one a minute).",
            stats.auth_rejected,
        );
        counter(
            &mut out,
            "tunnel_client_deadlines_expired_total",
            "Commands whose response_timeout passed; nothing was posted.",
            stats.deadlines_expired,
        );
        counter(
            &mut out,
            "tunnel_client_response_delivery_failed_total",
            "Terminal responses that could not be delivered after retries.",
            stats.response_delivery_failed,
        );
        gauge(
            &mut out,
            "tunnel_client_commands_in_flight",
            "Commands taken and not finished (queued + running + posting).",
            snap.in_flight as f64,
        );
        if let Some(p) = super::process_metrics::read() {
            super::process_metrics::render(&mut out, &p);
        }
        out
    }
}

/// otelhttp's labels of one HTTP client series.
fn http_labels(k: &HttpKey) -> String {
    let mut labels = format!(
        "http_request_method=\"{}\",http_route=\"{}\",network_protocol_name=\"http\",network_protocol_version=\"{}\",server_address=\"{}\",server_port=\"{}\",url_scheme=\"{}\"",
        k.method,
        escape(&k.route),
        k.protocol_version,
        escape(&k.server_address),
        k.server_port,
        escape(&k.scheme),
    );
    if let Some(code) = k.status {
        let _ = write!(labels, ",http_response_status_code=\"{code}\"");
    }
    if let Some(e) = k.error_type {
        let _ = write!(labels, ",error_type=\"{e}\"");
    }
    labels
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

/// `error_type` of a failed request: the `transport_error_kind` vocabulary (bounded).
fn error_type(e: tunnel_core::classify::TransportError) -> &'static str {
    match tunnel_core::classify::TunnelFailure::from_transport(e) {
        Some(f) => f.kind().map(|k| k.as_str()).unwrap_or("unknown"),
        None => "canceled",
    }
}

/// OTel semantic-convention method names; anything else is `_OTHER` (bounded).
fn http_method(m: &http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "_OTHER",
    }
}

/// The request path as a label: no query, and secret-looking segments (`sk-…`, JWT-like,
/// after `token`/`key`/…) replaced, so an MCP URL with a token in its path does not leak
/// into `/metrics`.
fn route_label(path: &str) -> String {
    let url = crate::admin::bundle::snapshot_url(&format!("http://h{path}"));
    url.strip_prefix("http://h").unwrap_or("").to_string()
}

/// `now − created_at` for an RFC 3339 timestamp; `None` when unparseable or in the future.
fn age_of(created_at: &str, now: SystemTime) -> Option<Duration> {
    let t = parse_rfc3339(created_at)?;
    now.duration_since(t).ok()
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (RFC 3339; `t`/`z` and a space separator
/// accepted) without a date crate.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = std::str::from_utf8(&b[start..i]).ok()?;
        if frac.is_empty() {
            return None;
        }
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = digits.parse().ok()?;
    }
    let offset_secs: i64 = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hh = (*h1 as char).to_digit(10)? * 10 + (*h2 as char).to_digit(10)?;
            let mm = (*m1 as char).to_digit(10)? * 10 + (*m2 as char).to_digit(10)?;
            let v = (hh * 3600 + mm * 60) as i64;
            if *sign == b'+' {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos as u32))
}

/// Howard Hinnant's days-from-civil.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(super) fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(super) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
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
pub(super) fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_utc_offsets_and_fractions() {
        let t = |s| {
            parse_rfc3339(s).map(|t| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64()
            })
        };
        assert_eq!(t("2025-11-25T20:00:00Z"), Some(1_764_100_800.0));
        assert_eq!(t("2025-11-25T21:30:00+01:30"), Some(1_764_100_800.0));
        assert_eq!(t("2025-11-25t20:00:00.5z"), Some(1_764_100_800.5));
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(t("2000-02-29T00:00:00Z"), Some(951_782_400.0));
        for bad in [
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-11-25T20:00:00",
            "2025-11-25T20:00:00.Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_100_810);
        assert_eq!(
            age_of("2025-11-25T20:00:00Z", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            age_of("2025-11-25T20:00:20Z", now),
            None,
            "future: skipped as in Go"
        );
    }

    #[test]
    fn routes_drop_queries_and_secret_segments() {
        assert_eq!(
            route_label("/v1/tunnels/tunnel_x/poll"),
            "/v1/tunnels/tunnel_x/poll"
        );
        assert_eq!(route_label("/mcp/token/abc123"), "/mcp/token/[REDACTED]");
        assert_eq!(route_label("/"), "/");
    }

    #[test]
    fn unlabelled_histograms_render_valid_lines() {
        let mut h = Histogram::new(&HTTP_DURATION_BUCKETS);
        h.observe(0.02);
        let mut out = String::new();
        h.render(&mut out, "x", "");
        assert!(out.starts_with("x_bucket{le=\"0.005\"} 0\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.025\"} 1\n"), "{out}");
        assert!(
            out.contains("x_bucket{le=\"+Inf\"} 1\nx_sum 0.02\nx_count 1\n"),
            "{out}"
        );
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_count{a=\"b\"} 1"), "{out}");
    }
}
