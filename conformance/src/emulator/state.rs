//! Shared emulator state: the command queue, what was handed out, what the client posted,
//! the request log and the fault script. One mutex and one condition variable: every change
//! wakes every waiter, which re-checks its own predicate. Simple, and plenty for tests and
//! loopback benchmarks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::command::{Tracked, TERMINAL_TYPES};
use super::faults::{Endpoint, Fault};

/// A response the client posted and the emulator accepted.
#[derive(Debug, Clone)]
pub struct PostedResponse {
    pub request_id: String,
    /// `channel` as posted (`None` when absent or null).
    pub channel: Option<String>,
    /// `resp_type` as posted; `jsonrpc_response` when absent (the contract default).
    pub resp_type: String,
    pub resp_code: i64,
    pub resp_json: Option<Value>,
    /// `resp_json` exactly as it appeared in the posted body.
    pub resp_json_raw: Option<String>,
    pub resp_headers: BTreeMap<String, Vec<String>>,
    /// HTTP headers of the POST (e.g. `X-Tunnel-Shard-Token`, `X-Client-Request-Id`).
    pub http_headers: Vec<(String, String)>,
    /// The posted body as received.
    pub body: String,
    pub received_at: Instant,
}

impl PostedResponse {
    /// Whether this post ends its command.
    pub fn is_terminal(&self) -> bool {
        TERMINAL_TYPES.contains(&self.resp_type.as_str())
    }

    /// First value of a response header (from `resp_headers`), case-insensitively.
    pub fn resp_header(&self, name: &str) -> Option<&str> {
        self.resp_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }
}

/// One HTTP request the emulator received, in arrival order.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub seq: u64,
    pub method: String,
    /// Request target as received (path and query).
    pub url: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// Request body (bodies are only read on POST).
    pub body: Option<String>,
    /// Status the emulator answered; `None` while still being handled, or when the
    /// connection was dropped.
    pub status: Option<u16>,
    /// Fault applied to this request, if any.
    pub fault: Option<String>,
    pub received_at: Instant,
}

impl RecordedRequest {
    /// First value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        super::server::header_in(&self.headers, name)
    }
}

/// One command handed to one poller. The queue gives each command to exactly one poll (it is
/// removed under the state lock), as the real service does with several replicas polling
/// one tunnel; this log lets a test say which replica took what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handout {
    pub request_id: String,
    /// `X-Tunnel-Client-Instance-Id` of the poll that took it (one per client process).
    pub poller: Option<String>,
}

/// A command that has been handed out and not yet finished.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub tracked: Tracked,
    pub done: bool,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub seq: u64,
    pub queue: VecDeque<(String, Tracked)>,
    pub issued: HashMap<String, Issued>,
    pub posted: Vec<PostedResponse>,
    /// The same posts by request id. Every waiting ingress request asks "what was posted
    /// for mine?" on every wake-up; scanning `posted` for it made each answer cost the
    /// whole history times the number of waiters (the bench's concurrency-64 collapse).
    pub posts_by_id: HashMap<String, Vec<PostedResponse>>,
    /// How many of `posted` are terminal (kept so a long soak need not scan them).
    pub terminal_posts: usize,
    /// Request ids with a terminal post: every POST asks "already fulfilled?", and
    /// scanning `posted` for it made a long run quadratic (a one-hour soak's emulator fell
    /// behind its own load).
    pub terminal_ids: std::collections::HashSet<String>,
    pub requests: Vec<RecordedRequest>,
    /// Requests dropped from the front of `requests` by `history_limit` (indexes handed
    /// out by [`State::record`] count them).
    pub requests_dropped: usize,
    /// Most requests and handouts kept (`EmulatorConfig::history_limit`); `None`: all.
    pub history_limit: Option<usize>,
    pub faults: HashMap<Endpoint, VecDeque<Fault>>,
    /// Faults for the response POSTs of one request id, in attempt order.
    pub response_faults: HashMap<String, VecDeque<Fault>>,
    pub violations: Vec<String>,
    pub polls_served: u64,
    /// Every command a poll handed out, in order, with the poller that took it.
    pub handouts: Vec<Handout>,
    /// While true, polls wait before anything else happens to them (`Emulator::hold_polls`).
    pub polls_held: bool,
    pub shutdown: bool,
    /// Tunnels of the management API.
    pub admin: super::admin::Store,
}

pub(crate) struct State {
    inner: Mutex<Inner>,
    cv: Condvar,
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            cv: Condvar::new(),
        }
    }

    /// Locks the state; a poisoned lock (a panicking handler) is still usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn notify(&self) {
        self.cv.notify_all();
    }

    /// Waits until `ready` returns `Some`, the deadline passes or the emulator shuts down.
    pub(crate) fn wait_until<T>(
        &self,
        deadline: Instant,
        mut ready: impl FnMut(&mut Inner) -> Option<T>,
    ) -> Option<T> {
        let mut g = self.lock();
        loop {
            if let Some(v) = ready(&mut g) {
                return Some(v);
            }
            let now = Instant::now();
            if g.shutdown || now >= deadline {
                return None;
            }
            // Re-check at least every 250 ms so a missed wake-up costs little.
            let wait = (deadline - now).min(Duration::from_millis(250));
            g = self
                .cv
                .wait_timeout(g, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Next scripted fault for an endpoint.
    pub(crate) fn take_fault(&self, ep: Endpoint) -> Option<Fault> {
        self.lock()
            .faults
            .get_mut(&ep)
            .and_then(VecDeque::pop_front)
    }

    /// Next scripted fault for a response POST, by the `request_id` its body names.
    pub(crate) fn take_response_fault(&self, body: &[u8]) -> Option<Fault> {
        let id = serde_json::from_slice::<Value>(body)
            .ok()?
            .get("request_id")?
            .as_str()?
            .to_string();
        self.lock()
            .response_faults
            .get_mut(&id)
            .and_then(VecDeque::pop_front)
    }

    /// Logs a request on arrival; returns its index for [`State::finish`].
    pub(crate) fn record(&self, head: &super::server::Head, body: Option<String>) -> usize {
        let mut g = self.lock();
        g.seq += 1;
        let seq = g.seq;
        g.requests.push(RecordedRequest {
            seq,
            method: head.method.clone(),
            url: head.url.clone(),
            path: head.path.clone(),
            query: head.query.clone(),
            headers: head.headers.clone(),
            body,
            status: None,
            fault: None,
            received_at: Instant::now(),
        });
        let mut idx = g.requests_dropped + g.requests.len() - 1;
        if let Some(limit) = g.history_limit.filter(|&l| g.requests.len() > l.max(1) * 2) {
            // Amortised: drop the older half at once.
            let n = g.requests.len() - limit.max(1);
            g.requests.drain(..n);
            g.requests_dropped += n;
            let h = g.handouts.len().saturating_sub(limit.max(1));
            g.handouts.drain(..h);
            idx = g.requests_dropped + g.requests.len() - 1;
        }
        drop(g);
        self.notify();
        idx
    }

    pub(crate) fn set_fault(&self, idx: usize, fault: &Fault) {
        let mut g = self.lock();
        let Some(i) = idx.checked_sub(g.requests_dropped) else {
            return;
        };
        if let Some(r) = g.requests.get_mut(i) {
            r.fault = Some(fault.describe());
        }
    }

    pub(crate) fn finish(&self, idx: usize, status: Option<u16>) {
        {
            let mut g = self.lock();
            if let Some(r) = idx
                .checked_sub(g.requests_dropped)
                .and_then(|i| g.requests.get_mut(i))
            {
                r.status = status;
            }
        }
        self.notify();
    }

    pub(crate) fn violation(&self, what: String) {
        log::warn!("emulator: contract violation: {what}");
        self.lock().violations.push(what);
    }
}

/// Whether any accepted post for `id` is terminal.
pub(crate) fn has_terminal(g: &Inner, id: &str) -> bool {
    g.terminal_ids.contains(id)
}

/// Accepted posts for `id`, in order.
pub(crate) fn posts_for(g: &Inner, id: &str) -> Vec<PostedResponse> {
    g.posts_by_id.get(id).cloned().unwrap_or_default()
}
