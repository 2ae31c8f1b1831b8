//! One `call_target` invocation as a sans-IO state machine.
//!
//! [`Call::start`] validates the arguments in the Go client's order (§1.5) and fails before
//! any network activity; then [`Call::poll`] hands out one HTTP request at a time and the
//! response (or error, or the engine's timeout) comes back through `handle_*`. Redirects
//! are decided here, hop by hop, **before** the next request exists: a `Location` that is
//! not exactly an allowlisted URL ends the call, so a host outside the allowlist never
//! receives a byte.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde::Deserialize;
use serde_json::Value;

use super::outbound;
use super::registry::{Mismatch, Registry};
use super::url::HUrl;
use super::Settings;
use crate::classify::TransportError;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const MIN_TIMEOUT_MS: i64 = 100;
pub const MAX_TIMEOUT_MS: i64 = 120_000;
/// The metrics label of a call whose target is not known (cannot collide with a label).
pub const UNKNOWN_LABEL: &str = "__unknown__";

/// `call_target` arguments as the caller sent them (all optional: the order of checks is
/// Go's, not the decoder's).
#[derive(Debug, Deserialize)]
struct Args {
    label: Option<String>,
    method: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    body: Option<String>,
    timeout_ms: Option<i64>,
    max_response_bytes: Option<i64>,
    follow_redirects: Option<bool>,
    max_redirects: Option<i64>,
}

/// Why a call failed; `Display` is Go's tool error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    InvalidParameters,
    LabelRequired,
    UnknownTarget,
    InvalidMethod,
    TimeoutNotPositive,
    TimeoutTooSmall,
    TimeoutTooLarge,
    MaxBytesNotPositive,
    MaxBytesTooLarge(u32),
    MaxRedirectsNegative,
    MaxRedirectsTooLarge(u32),
    RequestBodyTooLarge,
    /// Transport failure; `cause` is for the log only (`timeout`, `connection refused`,
    /// the address guard's refusal).
    RequestFailed {
        cause: String,
    },
    RedirectBlocked {
        mismatch: Mismatch,
        url_origin: String,
    },
    RedirectLimit,
    ResponseReadFailed {
        cause: String,
    },
    ResponseTooLarge,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::InvalidParameters => f.write_str("invalid parameters"),
            CallError::LabelRequired => f.write_str("label is required"),
            CallError::UnknownTarget => f.write_str("unknown target"),
            CallError::InvalidMethod => f.write_str("invalid method"),
            CallError::TimeoutNotPositive => f.write_str("timeout must be positive"),
            CallError::TimeoutTooSmall => f.write_str("timeout must be at least 100ms"),
            CallError::TimeoutTooLarge => f.write_str("timeout must be at most 120000ms"),
            CallError::MaxBytesNotPositive => f.write_str("max_response_bytes must be positive"),
            CallError::MaxBytesTooLarge(n) => {
                write!(f, "max_response_bytes must be less than or equal to {n}")
            }
            CallError::MaxRedirectsNegative => f.write_str("max_redirects must be non-negative"),
            CallError::MaxRedirectsTooLarge(n) => {
                write!(f, "max_redirects must be less than or equal to {n}")
            }
            CallError::RequestBodyTooLarge => f.write_str("request body exceeds size limit"),
            CallError::RequestFailed { .. } => f.write_str("request failed"),
            CallError::RedirectBlocked { mismatch, .. } => f.write_str(&mismatch.tool_message()),
            CallError::RedirectLimit => f.write_str("redirect limit exceeded"),
            CallError::ResponseReadFailed { .. } => f.write_str("response read failed"),
            CallError::ResponseTooLarge => f.write_str("response exceeds size limit"),
        }
    }
}

impl CallError {
    /// The `outcome` metric label.
    pub fn outcome(&self) -> &'static str {
        match self {
            CallError::RequestFailed { .. }
            | CallError::RedirectBlocked { .. }
            | CallError::RedirectLimit => "request_error",
            CallError::ResponseReadFailed { .. } => "response_read_error",
            CallError::ResponseTooLarge => "response_too_large",
            _ => "invalid_input",
        }
    }

    /// The cause for the operator log line (Go's words).
    pub fn cause(&self) -> String {
        match self {
            CallError::RequestFailed { cause } | CallError::ResponseReadFailed { cause } => {
                cause.clone()
            }
            CallError::RedirectBlocked {
                mismatch,
                url_origin,
            } => match mismatch {
                Mismatch::Scheme { .. } if mismatch.kind() != "not_allowlisted_other" => {
                    mismatch.tool_message()
                }
                _ => format!(
                    "redirect blocked: {url_origin} not in allow list ({})",
                    mismatch.kind()
                ),
            },
            e => e.to_string(),
        }
    }
}

/// One HTTP request for the adapter.
#[derive(Debug, Clone)]
pub struct HopRequest {
    pub method: Method,
    pub uri: http::Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The target this hop addresses (its transport and guard settings).
    pub label: String,
    pub unix_socket: Option<String>,
    pub allow_link_local: bool,
}

/// A successful call: the upstream's answer, rewritten.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Canonical names, in arrival order per name.
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: Vec<u8>,
    /// Size of the body as received (Go reports the pre-rewrite size).
    pub body_size: usize,
    pub content_type: String,
    /// The body as received, when the rewrite changed it (`body` is then the rewritten one).
    pub original_body: Option<Vec<u8>>,
}

/// How a call ended, with what the log line and metrics need.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The real label once the target was found, else [`UNKNOWN_LABEL`].
    pub metrics_label: String,
    /// The label to show in the tool error (`unknown` before decoding succeeded).
    pub error_label: String,
    pub method: String,
    /// Origin of the last URL requested (what logs show).
    pub origin: String,
    /// The last URL requested, without credentials (the admin API's call receipts).
    pub url: String,
    pub result: Result<Response, CallError>,
    /// Dropped caller headers: count and classes.
    pub dropped_headers: (usize, Vec<&'static str>),
    pub request_bytes: usize,
    /// Whether the arguments decoded (Go records no metrics otherwise).
    pub decoded: bool,
    /// The request body of the last hop (`--harpoon.capture-payloads` receipts).
    pub request_body: Bytes,
}

impl Outcome {
    pub fn status(&self) -> u16 {
        self.result.as_ref().map_or(0, |r| r.status)
    }

    /// `1xx`…`5xx`, or `none`.
    pub fn status_class(&self) -> &'static str {
        match self.status() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "none",
        }
    }

    pub fn outcome(&self) -> &'static str {
        match &self.result {
            Ok(_) => "success",
            Err(e) => e.outcome(),
        }
    }
}

/// What the call needs next.
#[derive(Debug)]
pub enum Step {
    Request(Box<HopRequest>),
    Done(Box<Outcome>),
}

#[derive(Debug)]
enum State {
    Send(Box<HopRequest>),
    Waiting,
    Done(Box<Outcome>),
    Taken,
}

/// A call in progress.
#[derive(Debug)]
pub struct Call {
    label: String,
    method: Method,
    url: HUrl,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
    max_bytes: usize,
    follow: bool,
    max_redirects: u32,
    redirects: u32,
    dropped: (usize, Vec<&'static str>),
    registry: Registry,
    state: State,
}

fn failed(label: &str, known: bool, decoded: bool, e: CallError) -> Box<Outcome> {
    Box::new(Outcome {
        metrics_label: if known { label } else { UNKNOWN_LABEL }.to_string(),
        error_label: if decoded && !label.is_empty() {
            label.to_string()
        } else {
            "unknown".to_string()
        },
        method: String::new(),
        origin: String::new(),
        url: String::new(),
        result: Err(e),
        dropped_headers: (0, Vec::new()),
        request_bytes: 0,
        decoded,
        request_body: Bytes::new(),
    })
}

impl Call {
    /// Validates `arguments` (§1.5); an error outcome means nothing was sent anywhere.
    pub fn start(
        registry: &Registry,
        settings: &Settings,
        arguments: &Value,
    ) -> Result<Call, Box<Outcome>> {
        let args: Args = match serde_json::from_value(arguments.clone()) {
            Ok(a) => a,
            Err(_) => return Err(failed("", false, false, CallError::InvalidParameters)),
        };
        let label = args.label.as_deref().unwrap_or("").trim().to_string();
        if label.is_empty() {
            return Err(failed("", false, true, CallError::LabelRequired));
        }
        let Some(target) = registry.get(&label) else {
            return Err(failed(&label, false, true, CallError::UnknownTarget));
        };
        let asked = args
            .method
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_ascii_uppercase();
        // Refused after the lookup: the receipt and the log line still say what was asked.
        let fail = |e| {
            let mut o = failed(&label, true, true, e);
            o.method = asked.clone();
            o.origin = target.url.origin();
            let mut u = target.url.clone();
            u.userinfo = None;
            o.url = u.normalized();
            Err(o)
        };
        let method = match asked.as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            _ => return fail(CallError::InvalidMethod),
        };
        let timeout = match args.timeout_ms {
            None => DEFAULT_TIMEOUT,
            Some(t) if t <= 0 => return fail(CallError::TimeoutNotPositive),
            Some(t) if t < MIN_TIMEOUT_MS => return fail(CallError::TimeoutTooSmall),
            Some(t) if t > MAX_TIMEOUT_MS => return fail(CallError::TimeoutTooLarge),
            Some(t) => Duration::from_millis(t as u64),
        };
        let limit = settings.max_response_bytes();
        let max_bytes = match args.max_response_bytes {
            None => limit,
            Some(n) if n <= 0 => return fail(CallError::MaxBytesNotPositive),
            Some(n) if n > i64::from(limit) => return fail(CallError::MaxBytesTooLarge(limit)),
            Some(n) => n as u32,
        };
        let follow = args.follow_redirects.unwrap_or(true);
        let rlimit = settings.max_redirects();
        let max_redirects = match args.max_redirects {
            None => rlimit,
            Some(n) if n < 0 => return fail(CallError::MaxRedirectsNegative),
            Some(n) if n > i64::from(rlimit) => {
                return fail(CallError::MaxRedirectsTooLarge(rlimit))
            }
            Some(n) => n as u32,
        };
        let body = Bytes::from(args.body.unwrap_or_default());
        if body.len() > max_bytes as usize {
            return fail(CallError::RequestBodyTooLarge);
        }
        let filtered =
            match outbound::filter(&args.headers.unwrap_or_default(), &settings.client_version) {
                Ok(f) => f,
                Err(_) => {
                    return fail(CallError::RequestFailed {
                        cause: "invalid request header".into(),
                    })
                }
            };
        let mut call = Call {
            label: label.clone(),
            method,
            url: target.url.clone(),
            headers: filtered.headers,
            body,
            timeout,
            max_bytes: max_bytes as usize,
            follow,
            max_redirects,
            redirects: 0,
            dropped: (filtered.dropped, filtered.classes),
            registry: registry.clone(),
            state: State::Waiting,
        };
        call.state = call.hop(&label);
        Ok(call)
    }

    /// The whole call's bound (every hop and the body read).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The response body limit: the engine buffers at most this + 1 bytes.
    pub fn max_response_bytes(&self) -> usize {
        self.max_bytes
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Dropped caller headers (count, classes), for the log.
    pub fn dropped_headers(&self) -> &(usize, Vec<&'static str>) {
        &self.dropped
    }

    /// The next request, or the outcome once.
    pub fn poll(&mut self) -> Option<Step> {
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Send(r) => {
                self.state = State::Waiting;
                Some(Step::Request(r))
            }
            State::Done(o) => Some(Step::Done(o)),
            s => {
                self.state = s;
                None
            }
        }
    }

    fn outcome(&self, result: Result<Response, CallError>) -> State {
        State::Done(Box::new(Outcome {
            metrics_label: self.label.clone(),
            error_label: self.label.clone(),
            method: self.method.to_string(),
            origin: self.url.origin(),
            url: {
                let mut u = self.url.clone();
                u.userinfo = None;
                u.normalized()
            },
            result,
            dropped_headers: self.dropped.clone(),
            request_bytes: self.body.len(),
            decoded: true,
            request_body: self.body.clone(),
        }))
    }

    /// The request for the current URL, addressed to the target `label`.
    fn hop(&self, label: &str) -> State {
        let Some(target) = self.registry.get(label) else {
            return self.outcome(Err(CallError::RequestFailed {
                cause: "harpoon: request url is not registered".into(),
            }));
        };
        let Ok(uri) = self.url.request_uri() else {
            return self.outcome(Err(CallError::RequestFailed {
                cause: "invalid request url".into(),
            }));
        };
        let mut headers = self.headers.clone();
        if let Some(ui) = &self.url.userinfo {
            if !headers.contains_key(http::header::AUTHORIZATION) {
                let decoded = super::url::percent_decode(ui.as_bytes()).unwrap_or_default();
                let basic = format!("Basic {}", super::b64::encode(&decoded));
                if let Ok(mut v) = HeaderValue::from_str(&basic) {
                    v.set_sensitive(true);
                    headers.insert(http::header::AUTHORIZATION, v);
                }
            }
        }
        State::Send(Box::new(HopRequest {
            method: self.method.clone(),
            uri,
            headers,
            body: self.body.clone(),
            label: target.label.clone(),
            unix_socket: target.unix_socket.clone(),
            allow_link_local: target.allow_link_local,
        }))
    }

    /// The hop failed at the transport level. `head_seen`: the failure came while reading
    /// the body.
    pub fn handle_error(&mut self, e: TransportError, head_seen: bool) {
        if !matches!(self.state, State::Waiting) {
            return;
        }
        let cause = match e {
            TransportError::Timeout => "timeout".to_string(),
            e => format!("{e:?}").to_ascii_lowercase(),
        };
        self.state = self.outcome(Err(if head_seen {
            CallError::ResponseReadFailed { cause }
        } else {
            CallError::RequestFailed { cause }
        }));
    }

    /// The address guard refused the hop's destination.
    pub fn handle_refused(&mut self, cause: String) {
        if matches!(self.state, State::Waiting) {
            self.state = self.outcome(Err(CallError::RequestFailed { cause }));
        }
    }

    /// The call's deadline passed.
    pub fn handle_timeout(&mut self, head_seen: bool) {
        self.handle_error(TransportError::Timeout, head_seen);
    }

    /// A hop's response: `body` holds at most `max_response_bytes() + 1` bytes.
    pub fn handle_response(&mut self, status: u16, headers: &HeaderMap, body: &[u8]) {
        if !matches!(self.state, State::Waiting) {
            return;
        }
        let location = headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok());
        let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
        if let (true, true, Some(loc)) = (redirect, self.follow, location) {
            self.state = self.redirect(status, loc);
            return;
        }
        if body.len() > self.max_bytes {
            self.state = self.outcome(Err(CallError::ResponseTooLarge));
            return;
        }
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in headers {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let v = if super::rewrite::rewrites_header(name.as_str()) {
                super::rewrite::rewrite_header_value(&self.registry, &v)
            } else {
                v
            };
            out.entry(outbound::canonical(name.as_str()))
                .or_default()
                .push(v);
        }
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(media_type)
            .unwrap_or_default();
        let rewritten = super::rewrite::rewrite_body(&self.registry, body);
        let original_body = rewritten.is_some().then(|| body.to_vec());
        self.state = self.outcome(Ok(Response {
            status,
            headers: out,
            body: rewritten.unwrap_or_else(|| body.to_vec()),
            body_size: body.len(),
            content_type,
            original_body,
        }));
    }

    /// Decides a redirect hop before anything is sent to its destination.
    fn redirect(&mut self, status: u16, location: &str) -> State {
        self.redirects += 1;
        if self.redirects > self.max_redirects {
            return self.outcome(Err(CallError::RedirectLimit));
        }
        let next = match self.url.resolve(location) {
            Ok(u) => u,
            Err(_) => {
                return self.outcome(Err(CallError::RedirectBlocked {
                    mismatch: Mismatch::Other,
                    url_origin: "(unparsable location)".into(),
                }))
            }
        };
        let Some(label) = self.registry.target_for(&next).map(|t| t.label.clone()) else {
            let mismatch = self.registry.explain(&next).unwrap_or(Mismatch::Other);
            return self.outcome(Err(CallError::RedirectBlocked {
                mismatch,
                url_origin: next.origin(),
            }));
        };
        // Go's client: 301/302/303 turn a POST/PUT into a body-less GET; 307/308 replay.
        if matches!(status, 301..=303) && self.method != Method::GET {
            self.method = Method::GET;
            self.body = Bytes::new();
            self.headers.remove(http::header::CONTENT_TYPE);
        }
        let same_domain = {
            let (old, new) = (self.url.hostname(), next.hostname());
            new == old || new.ends_with(&format!(".{old}"))
        };
        if !same_domain {
            for h in [
                http::header::AUTHORIZATION,
                http::header::WWW_AUTHENTICATE,
                http::header::COOKIE,
            ] {
                self.headers.remove(h);
            }
        }
        let downgrade = self.url.scheme_lower() == "https" && next.scheme_lower() == "http";
        self.headers.remove(http::header::REFERER);
        if !downgrade {
            let mut prev = self.url.clone();
            prev.userinfo = None;
            prev.fragment = None;
            if let Ok(v) = HeaderValue::from_str(&prev.normalized()) {
                self.headers.insert(http::header::REFERER, v);
            }
        }
        self.url = next;
        self.hop(&label)
    }
}

/// The media type only: parameters stripped, lower-cased, at most 256 bytes.
fn media_type(v: &str) -> String {
    let mt = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mut end = mt.len().min(256);
    while !mt.is_char_boundary(end) {
        end -= 1;
    }
    mt[..end].to_string()
}

#[cfg(test)]
#[path = "call_tests.rs"]
mod tests;
