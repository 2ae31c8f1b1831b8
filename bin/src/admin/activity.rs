//! Recent activity for the overview: the last completed commands with their latency, and
//! the outcome of the tunnel-metadata fetch. Fed by engine events (on the driver thread, so
//! one short mutex and no allocation beyond a bounded ring).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tunnel_core::engine::Event;

/// Completed commands kept for the latency figures.
const RECENT: usize = 200;

/// One completed command.
#[derive(Debug, Clone)]
pub struct Completed {
    pub at: SystemTime,
    pub channel: String,
    pub method: &'static str,
    pub resp_type: &'static str,
    pub resp_code: u16,
    pub poll_to_response: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    recent: VecDeque<Completed>,
    metadata_error: Option<String>,
}

/// The recorder.
#[derive(Debug, Default)]
pub struct Activity {
    inner: Mutex<Inner>,
}

/// Latency figures over the recent window, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySummary {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    pub last_ms: f64,
}

impl Activity {
    pub fn record(&self, event: &Event) {
        match event {
            Event::CommandCompleted {
                channel,
                resp_type,
                resp_code,
                method,
                poll_to_response,
                ..
            } => {
                let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                if i.recent.len() == RECENT {
                    i.recent.pop_front();
                }
                i.recent.push_back(Completed {
                    at: SystemTime::now(),
                    channel: channel.to_string(),
                    method,
                    resp_type: resp_type.as_str(),
                    resp_code: *resp_code,
                    poll_to_response: *poll_to_response,
                });
            }
            Event::MetadataFetched(_) => {
                self.inner
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .metadata_error = None;
            }
            Event::MetadataFailed { error } => {
                self.inner
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .metadata_error = Some(error.to_string());
            }
            _ => {}
        }
    }

    /// The last `n` completed commands, newest first.
    pub fn recent(&self, n: usize) -> Vec<Completed> {
        let i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        i.recent.iter().rev().take(n).cloned().collect()
    }

    pub fn metadata_error(&self) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .metadata_error
            .clone()
    }

    /// Percentiles (nearest rank) of poll-to-response latency over the recent window.
    pub fn latency(&self) -> Option<LatencySummary> {
        let i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let last = i.recent.back()?.poll_to_response;
        let mut ms: Vec<f64> = i
            .recent
            .iter()
            .map(|c| c.poll_to_response.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(|a, b| a.total_cmp(b));
        let rank = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Some(LatencySummary {
            count: ms.len(),
            p50_ms: rank(0.50),
            p95_ms: rank(0.95),
            max_ms: ms[ms.len() - 1],
            last_ms: last.as_secs_f64() * 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunnel_core::channel::ChannelName;
    use tunnel_core::wire::response::RespType;

    fn done(ms: u64) -> Event {
        Event::CommandCompleted {
            request_id: "r".into(),
            channel: ChannelName::main(),
            resp_type: RespType::JsonRpcResponse,
            resp_code: 200,
            request_kind: "request",
            method: "tools/list",
            poll_to_response: Duration::from_millis(ms),
            created_at: None,
            already_fulfilled: false,
        }
    }

    #[test]
    fn percentiles_over_the_window() {
        let a = Activity::default();
        assert_eq!(a.latency(), None);
        for ms in 1..=100 {
            a.record(&done(ms));
        }
        let l = a.latency().unwrap();
        assert_eq!(l.count, 100);
        assert_eq!(l.p50_ms, 50.0);
        assert_eq!(l.p95_ms, 95.0);
        assert_eq!(l.max_ms, 100.0);
        assert_eq!(l.last_ms, 100.0);
        assert_eq!(a.recent(2)[0].poll_to_response, Duration::from_millis(100));
        for _ in 0..RECENT {
            a.record(&done(1));
        }
        assert_eq!(a.latency().unwrap().max_ms, 1.0, "window is bounded");
    }
}
