//! The proxy health checker's metric families, with the Go client's names and labels
//! (go-runtime.md §8.3, meter `proxyhealth`):
//!
//! * `proxy_health_state{proxy_id}` — 1 healthy, 0 otherwise;
//! * `proxy_last_check_timestamp{proxy_id}`, `proxy_last_success_timestamp{proxy_id}` —
//!   unix seconds, absent before the first (successful) check;
//! * `proxy_check_phase_duration_seconds{proxy_id,phase}` — histogram (OTel's default
//!   buckets, as Go), a phase recorded when it took at least 1 ms, as Go's millisecond
//!   records;
//! * `proxy_check_failures_total{proxy_id,phase,reason}` — counter.
//!
//! Label values are bounded: `proxy_id` is the hex SHA-256 of a configured proxy, phases
//! and reasons are the core's closed lists. Routes that share a proxy share its series:
//! the gauge is 1 only while every route through it is healthy, the timestamps are the
//! latest of them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use super::proxy_health::ProxyHealthHandle;
use tunnel_core::proxy_health::{CheckRecord, HealthState};
use tunnel_core::proxy_route::Route;

use super::metrics::{escape, header, unix_seconds, Histogram};
use super::routes::proxy_id;

#[derive(Debug, Default)]
struct Inner {
    phases: BTreeMap<(String, &'static str), Histogram>,
    failures: BTreeMap<(String, &'static str, &'static str), u64>,
}

/// See the module docs.
#[derive(Default)]
pub struct ProxyMetrics {
    inner: Mutex<Inner>,
    health: OnceLock<ProxyHealthHandle>,
}

impl std::fmt::Debug for ProxyMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyMetrics")
            .field("inner", &self.inner)
            .finish()
    }
}

impl ProxyMetrics {
    /// The checker whose routes the gauges show.
    pub fn watch(&self, health: ProxyHealthHandle) {
        let _ = self.health.set(health);
    }

    /// One finished check (on the checker's thread).
    pub fn record(&self, route: &Route, rec: &CheckRecord) {
        let Some(id) = route.proxy_url().map(|u| proxy_id(&u)) else {
            return;
        };
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (phase, d) in [("tcp", rec.tcp_duration), ("connect", rec.connect_duration)] {
            let ms = d.as_millis();
            if ms > 0 {
                m.phases
                    .entry((id.clone(), phase))
                    .or_default()
                    .observe(ms as f64 / 1000.0);
            }
        }
        if let Some((phase, reason)) = rec.error {
            *m.failures
                .entry((id, phase.as_str(), reason.as_str()))
                .or_default() += 1;
        }
    }

    /// The five families, in the text format.
    pub fn render(&self, out: &mut String) {
        // proxy_id -> (all healthy, last check, last success)
        let mut per_proxy: BTreeMap<String, (bool, Option<f64>, Option<f64>)> = BTreeMap::new();
        if let Some(h) = self.health.get() {
            for r in h.summaries().iter() {
                let Some(id) = r.route.proxy_url().map(|u| proxy_id(&u)) else {
                    continue;
                };
                let e = per_proxy.entry(id).or_insert((true, None, None));
                e.0 &= r.state == HealthState::Healthy;
                let max = |a: Option<f64>, b: Option<std::time::SystemTime>| match (
                    a,
                    b.map(unix_seconds),
                ) {
                    (Some(x), Some(y)) => Some(x.max(y)),
                    (x, y) => x.or(y),
                };
                e.1 = max(e.1, r.last_check);
                e.2 = max(e.2, r.last_success);
            }
        }
        header(
            out,
            "proxy_health_state",
            "gauge",
            "Reports 1 when the proxy is healthy and 0 when unhealthy",
        );
        for (id, (ok, _, _)) in &per_proxy {
            let _ = writeln!(
                out,
                "proxy_health_state{{proxy_id=\"{}\"}} {}",
                escape(id),
                u8::from(*ok)
            );
        }
        header(
            out,
            "proxy_last_check_timestamp",
            "gauge",
            "Unix timestamp of the last proxy check",
        );
        for (id, (_, t, _)) in &per_proxy {
            if let Some(t) = t {
                let _ = writeln!(
                    out,
                    "proxy_last_check_timestamp{{proxy_id=\"{}\"}} {}",
                    escape(id),
                    t.floor()
                );
            }
        }
        header(
            out,
            "proxy_last_success_timestamp",
            "gauge",
            "Unix timestamp of the last successful proxy check",
        );
        for (id, (_, _, t)) in &per_proxy {
            if let Some(t) = t {
                let _ = writeln!(
                    out,
                    "proxy_last_success_timestamp{{proxy_id=\"{}\"}} {}",
                    escape(id),
                    t.floor()
                );
            }
        }
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let name = "proxy_check_phase_duration_seconds";
        header(out, name, "histogram", "Proxy check phase durations");
        for ((id, phase), h) in &m.phases {
            h.render(
                out,
                name,
                &format!("phase=\"{phase}\",proxy_id=\"{}\"", escape(id)),
            );
        }
        header(
            out,
            "proxy_check_failures_total",
            "counter",
            "Proxy check failures by phase",
        );
        for ((id, phase, reason), v) in &m.failures {
            let _ = writeln!(
                out,
                "proxy_check_failures_total{{phase=\"{phase}\",proxy_id=\"{}\",reason=\"{reason}\"}} {v}",
                escape(id)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};
    use tunnel_core::proxy_health::{Phase, Reason};
    use tunnel_core::proxy_route::{select, ExplicitProxy, ProxyEnv, RouteKind};

    #[test]
    fn failures_and_phase_durations_are_rendered_with_gos_labels() {
        let route = select(
            RouteKind::ControlPlane,
            "control-plane",
            "https://api.example",
            Some(&ExplicitProxy {
                url: "http://u:secret@proxy.corp:3128".into(),
                source: "http-proxy".into(),
            }),
            None,
            &ProxyEnv::default(),
        );
        let m = ProxyMetrics::default();
        let rec = |tcp_ms, conn_ms, error: Option<(Phase, Reason)>| CheckRecord {
            timestamp: SystemTime::UNIX_EPOCH,
            success: error.is_none(),
            tcp_duration: Duration::from_millis(tcp_ms),
            connect_duration: Duration::from_millis(conn_ms),
            error,
            http_status_category: None,
        };
        m.record(&route, &rec(12, 30, None));
        m.record(
            &route,
            &rec(0, 4, Some((Phase::Connect, Reason::BadStatus))),
        );
        m.record(&route, &rec(7, 0, Some((Phase::Tcp, Reason::DialError))));
        let mut out = String::new();
        m.render(&mut out);
        let id = proxy_id("http://proxy.corp:3128");
        assert!(!out.contains("secret"));
        assert!(out.contains(&format!(
            "proxy_check_failures_total{{phase=\"connect\",proxy_id=\"{id}\",reason=\"bad_status\"}} 1"
        )), "{out}");
        assert!(out.contains(&format!(
            "proxy_check_failures_total{{phase=\"tcp\",proxy_id=\"{id}\",reason=\"dial_error\"}} 1"
        )));
        // tcp: 12 ms and 7 ms; connect: 30 ms and 4 ms (a 0 ms phase is not recorded).
        assert!(out.contains(&format!(
            "proxy_check_phase_duration_seconds_count{{phase=\"tcp\",proxy_id=\"{id}\"}} 2"
        )));
        assert!(
            out.contains(&format!(
            "proxy_check_phase_duration_seconds_sum{{phase=\"connect\",proxy_id=\"{id}\"}} 0.034"
        )),
            "{out}"
        );
        for family in [
            "proxy_health_state gauge",
            "proxy_last_check_timestamp gauge",
            "proxy_last_success_timestamp gauge",
        ] {
            assert!(out.contains(&format!("# TYPE {family}")), "{family}");
        }
    }
}
