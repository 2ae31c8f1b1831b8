//! Candidate URLs and the metadata fetch algorithm (see the module docs of [`super`]).
//!
//! One request is outstanding at a time. Each request belongs to a *chain*: the probe of the
//! MCP URL (once with `POST`, once with `GET`) or one metadata candidate. A chain follows
//! redirects itself, so the origin check happens here, before the adapter could dial the
//! other host, and a chain ends in exactly one outcome: a response to judge or an error.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, LOCATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Uri};

use super::prmd::{self, PrmdError};
use super::www_authenticate::resource_metadata;
use super::MAX_BODY;
use crate::classify::{TransportError, TunnelFailure};

pub(crate) mod urls;

use urls::{origin_label, redacted, Origin};

/// Budget of each probe request (Go: 1 s for the probe as a whole).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Budget of each metadata request. The adapter also bounds the whole discovery.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Per-request timeouts of the second pass (Go's §2.4 backoff): when every candidate of
/// the first pass timed out, each is tried again up to three times with these, moving on
/// at the first answer or non-timeout error. The caller's overall budget still bounds it
/// ([`Discovery::budget_spent`]).
pub const RETRY_TIMEOUTS: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];
/// Redirects followed per chain (Go's `http.Client` default, kept by its discovery client).
pub const MAX_REDIRECTS: u32 = 10;

/// What the adapter does next.
#[derive(Debug)]
pub enum Step {
    /// Send this request (empty body, redirects not followed) within `timeout`; report the
    /// outcome with `handle_response` or `handle_error`. The adapter adds `User-Agent`;
    /// `headers` are the ones the algorithm needs (`Accept: application/json`) and, for a
    /// request to the MCP server's origin, the static headers
    /// ([`Discovery::with_static_headers`]).
    Request {
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        timeout: Duration,
    },
    /// Discovery ended: the document to post, or why there is none.
    Done(Result<Found, DiscoveryError>),
}

/// The selected metadata: the upstream status, headers and body, posted as they are.
#[derive(Debug, Clone)]
pub struct Found {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The URL it came from (after same-origin redirects; without userinfo).
    pub url: String,
}

/// One request made, for logs and the admin UI. A redirect hop is a request of its own,
/// with the 3xx status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The URL requested, without userinfo.
    pub url: String,
    /// `www_authenticate_probe` (the `POST`/`GET` to the MCP URL), `www_authenticate`,
    /// `well_known_path`, `well_known_root`.
    pub source: &'static str,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// Why no metadata was found, or why one candidate was passed over (the text of
/// [`Attempt::error`]). Origins are named, never header values or bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    /// The MCP URL has no scheme and host, so there is nothing to ask.
    NoCandidates,
    /// The request failed before a complete response.
    Transport {
        origin: String,
        error: TransportError,
    },
    /// A redirect pointed at another origin; it was not followed.
    RedirectBlocked { origin: String },
    /// More than [`MAX_REDIRECTS`] redirects.
    TooManyRedirects { origin: String },
    /// A redirect whose `Location` is not a usable URL.
    BadRedirect { origin: String },
    /// The body exceeded [`MAX_BODY`].
    BodyTooLarge { origin: String, status: u16 },
    /// The body was empty.
    EmptyBody { origin: String, status: u16 },
    /// A 404 or 5xx while another candidate remained.
    Status { origin: String, status: u16 },
    /// The body is not valid protected-resource metadata.
    InvalidMetadata {
        origin: String,
        status: u16,
        error: PrmdError,
    },
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::NoCandidates => {
                f.write_str("oauth discovery: no metadata URLs configured")
            }
            DiscoveryError::Transport { origin, error } => write!(
                f,
                "oauth discovery: GET {origin} failed ({})",
                transport_name(*error)
            ),
            DiscoveryError::RedirectBlocked { origin } => write!(
                f,
                "oauth discovery: redirect blocked: destination must use the discovery origin {origin}"
            ),
            DiscoveryError::TooManyRedirects { origin } => write!(
                f,
                "oauth discovery: stopped after {MAX_REDIRECTS} redirects from {origin}"
            ),
            DiscoveryError::BadRedirect { origin } => write!(
                f,
                "oauth discovery: redirect from {origin} has an unusable Location"
            ),
            DiscoveryError::BodyTooLarge { origin, status } => write!(
                f,
                "oauth discovery: response body from {origin} (status {status}) exceeds {MAX_BODY} bytes"
            ),
            DiscoveryError::EmptyBody { origin, status } => write!(
                f,
                "oauth discovery empty body from {origin} (status {status})"
            ),
            DiscoveryError::Status { origin, status } => {
                write!(f, "oauth discovery status {status} from {origin}")
            }
            DiscoveryError::InvalidMetadata {
                origin,
                status,
                error,
            } => write!(
                f,
                "oauth discovery invalid metadata from {origin} (status {status}): {error}"
            ),
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// The contract's name of a transport error (`timeout`, `dns`, …).
fn transport_name(error: TransportError) -> &'static str {
    TunnelFailure::from_transport(error)
        .and_then(|f| f.kind())
        .map_or("canceled", |k| k.as_str())
}

/// Why the `WWW-Authenticate` probe gave no candidate (the Go client's wording). Not fatal:
/// discovery goes on with the well-known candidates; recorded in the probe's attempt.
#[derive(Debug)]
enum ProbeError {
    Status(Method, u16),
    HeaderMissing(Method),
    ResourceMetadataMissing(Method),
    NotAbsolute(Method),
    Request(DiscoveryError),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = "oauth discovery: WWW-Authenticate probe";
        match self {
            ProbeError::Status(m, s) => write!(f, "{p} {m} got status {s}"),
            ProbeError::HeaderMissing(m) => write!(f, "{p} {m}: header missing (status 401)"),
            ProbeError::ResourceMetadataMissing(m) => write!(
                f,
                "{p} {m}: resource_metadata missing in WWW-Authenticate Bearer challenge"
            ),
            ProbeError::NotAbsolute(m) => write!(f, "{p} {m}: resource_metadata must be absolute"),
            ProbeError::Request(e) => write!(f, "{p} failed: {e}"),
        }
    }
}

/// A metadata URL to try and where it came from.
#[derive(Debug, Clone)]
struct Candidate {
    uri: Uri,
    source: &'static str,
}

/// Which chain a request belongs to.
#[derive(Debug, Clone)]
enum Chain {
    /// The probe of the MCP URL, started with this method.
    Probe(Method),
    /// Candidate `i` of `Discovery::candidates`.
    Fetch(usize),
}

/// The request outstanding.
#[derive(Debug, Clone)]
struct Pending {
    chain: Chain,
    method: Method,
    uri: Uri,
    /// Where the chain started; redirects must stay here.
    origin: Option<Origin>,
    redirects: u32,
}

/// The discovery of one MCP server's metadata.
#[derive(Debug)]
pub struct Discovery {
    /// The MCP URL (probe target), when it is absolute.
    mcp: Option<Uri>,
    /// Well-known candidates; the probe's, if any, is put in front when the probe ends.
    candidates: Vec<Candidate>,
    pending: Option<Pending>,
    outcome: Option<Result<Found, DiscoveryError>>,
    attempts: Vec<Attempt>,
    /// The operator's static headers (`--mcp.extra-headers`, with
    /// `--mcp.discovery-extra-headers` over them), sent only to the MCP server's origin.
    static_headers: HeaderMap,
    /// Every candidate chain of the first pass so far ended in a timeout.
    all_timed_out: bool,
    /// In the second pass: the candidate being retried and its try (index into
    /// [`RETRY_TIMEOUTS`]).
    retry: Option<(usize, usize)>,
}

impl Discovery {
    /// Discovery for the MCP server at `mcp_url` (the main HTTP binding's URL).
    pub fn new(mcp_url: &Uri) -> Discovery {
        let candidates = urls::well_known(mcp_url)
            .into_iter()
            .map(|(uri, source)| Candidate { uri, source })
            .collect();
        let mcp = Origin::of(mcp_url).map(|_| mcp_url.clone());
        let mut d = Discovery {
            mcp,
            candidates,
            pending: None,
            outcome: None,
            attempts: Vec::new(),
            static_headers: HeaderMap::new(),
            all_timed_out: true,
            retry: None,
        };
        match d.mcp.clone() {
            Some(uri) => d.pending = Some(Pending::start(Chain::Probe(Method::POST), uri)),
            None => d.start_fetch(None),
        }
        d
    }

    /// Static headers for every request to the MCP server's origin, any path (the probe,
    /// the well-known candidates, same-origin redirects), as the Go client scopes them:
    /// a gateway in front of the server sees them on discovery as on tool calls. A
    /// candidate on another origin (a `resource_metadata` URL elsewhere) never gets them:
    /// the server, not the operator, named that host.
    pub fn with_static_headers(mut self, headers: HeaderMap) -> Discovery {
        self.static_headers = headers;
        self
    }

    /// The next request, or the end. Asking again before reporting an outcome repeats the
    /// same request.
    pub fn poll(&mut self) -> Step {
        if let Some(outcome) = &self.outcome {
            return Step::Done(outcome.clone());
        }
        let Some(p) = &self.pending else {
            // Unreachable by construction (every transition sets one of the two); ending
            // is the safe answer.
            return Step::Done(Err(DiscoveryError::NoCandidates));
        };
        let mcp_origin = self.mcp.as_ref().and_then(Origin::of);
        let mut headers = if mcp_origin.is_some() && Origin::of(&p.uri) == mcp_origin {
            self.static_headers.clone()
        } else {
            HeaderMap::new()
        };
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let timeout = match (&p.chain, self.retry) {
            (Chain::Probe(_), _) => PROBE_TIMEOUT,
            (Chain::Fetch(_), None) => FETCH_TIMEOUT,
            (Chain::Fetch(i), Some((c, k))) => RETRY_TIMEOUTS[if *i == c { k } else { 0 }],
        };
        Step::Request {
            method: p.method.clone(),
            uri: p.uri.clone(),
            headers,
            timeout,
        }
    }

    /// The last request's response: status, headers and up to `MAX_BODY + 1` body bytes.
    /// Ignored when no request is outstanding.
    pub fn handle_response(&mut self, status: u16, headers: &HeaderMap, body: &[u8]) {
        let Some(p) = self.pending.take() else {
            return;
        };
        self.record(&p, Some(status));
        if let (true, Some(location)) = (is_redirect(status), headers.get(LOCATION)) {
            match p.redirect(status, location) {
                Ok(next) => self.pending = Some(next),
                Err(e) => self.chain_failed(p, e),
            }
            return;
        }
        match p.chain {
            Chain::Probe(ref method) => match probe_verdict(method, status, headers) {
                Ok(uri) => self.start_fetch(Some(uri)),
                Err(e) => self.probe_failed(&p, e),
            },
            Chain::Fetch(i) => self.judge(&p, i, status, headers, body),
        }
    }

    /// The last request failed before a complete response. Ignored when no request is
    /// outstanding.
    pub fn handle_error(&mut self, error: TransportError) {
        let Some(p) = self.pending.take() else {
            return;
        };
        self.record(&p, None);
        let origin = origin_label(&p.uri);
        self.chain_failed(p, DiscoveryError::Transport { origin, error });
    }

    /// The caller's overall budget ran out before the next request could be sent: end
    /// with a timeout on the request that was due (no request is recorded; none was made).
    pub fn budget_spent(&mut self) {
        if self.outcome.is_some() {
            return;
        }
        let origin = self
            .pending
            .take()
            .map_or_else(String::new, |p| origin_label(&p.uri));
        self.outcome = Some(Err(DiscoveryError::Transport {
            origin,
            error: TransportError::Timeout,
        }));
    }

    /// The second pass (retries with [`RETRY_TIMEOUTS`]) has started.
    pub fn retrying(&self) -> bool {
        self.retry.is_some()
    }

    /// Every request made so far.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// The probe is over: candidates are the probe's (if any) then the well-known ones,
    /// deduplicated by exact string, order kept.
    fn start_fetch(&mut self, probed: Option<Uri>) {
        let mut all: Vec<Candidate> = probed
            .map(|uri| Candidate {
                uri,
                source: "www_authenticate",
            })
            .into_iter()
            .chain(std::mem::take(&mut self.candidates))
            .collect();
        let mut seen = Vec::with_capacity(all.len());
        all.retain(|c| {
            let key = c.uri.to_string();
            let fresh = !seen.contains(&key);
            seen.push(key);
            fresh
        });
        self.candidates = all;
        self.fetch(0);
    }

    /// Requests candidate `i`, or ends with `NoCandidates` when there is none at all.
    fn fetch(&mut self, i: usize) {
        match self.candidates.get(i) {
            Some(c) => self.pending = Some(Pending::start(Chain::Fetch(i), c.uri.clone())),
            None => self.outcome = Some(Err(DiscoveryError::NoCandidates)),
        }
    }

    /// A chain ended without a response to judge (transport error, refused redirect).
    fn chain_failed(&mut self, p: Pending, e: DiscoveryError) {
        match p.chain {
            Chain::Probe(_) => self.probe_failed(&p, ProbeError::Request(e)),
            Chain::Fetch(i) => {
                self.note_error(e.to_string());
                let timed_out = matches!(
                    e,
                    DiscoveryError::Transport {
                        error: TransportError::Timeout,
                        ..
                    }
                );
                match self.retry {
                    None => {
                        self.all_timed_out &= timed_out;
                        let last = i + 1 >= self.candidates.len();
                        if last && self.all_timed_out {
                            // Go: "timed out for all candidates; retrying with timeout
                            // backoff".
                            self.retry = Some((0, 0));
                            self.fetch(0);
                        } else {
                            self.next_or_end(i, e);
                        }
                    }
                    Some((c, k)) => {
                        let k = if c == i { k } else { 0 };
                        if timed_out && k + 1 < RETRY_TIMEOUTS.len() {
                            self.retry = Some((i, k + 1));
                            self.fetch(i);
                        } else {
                            self.next_or_end(i, e);
                        }
                    }
                }
            }
        }
    }

    /// After a `POST` probe, the `GET` probe; after that, the well-known candidates.
    fn probe_failed(&mut self, p: &Pending, e: ProbeError) {
        self.note_error(e.to_string());
        match (&p.chain, &self.mcp) {
            (Chain::Probe(m), Some(mcp)) if *m == Method::POST => {
                self.pending = Some(Pending::start(Chain::Probe(Method::GET), mcp.clone()));
            }
            _ => self.start_fetch(None),
        }
    }

    /// The Go client's rules for a candidate's response (§2.3): select, pass over, or stop.
    fn judge(&mut self, p: &Pending, i: usize, status: u16, headers: &HeaderMap, body: &[u8]) {
        self.all_timed_out = false;
        let origin = origin_label(&p.uri);
        let more = i + 1 < self.candidates.len();
        let fallback = status == 404 || status >= 500;
        let error = if body.len() > MAX_BODY {
            DiscoveryError::BodyTooLarge { origin, status }
        } else if body.is_empty() {
            DiscoveryError::EmptyBody { origin, status }
        } else if fallback && more {
            DiscoveryError::Status { origin, status }
        } else {
            match prmd::validate(body) {
                Ok(()) => {
                    self.outcome = Some(Ok(Found {
                        status,
                        headers: headers.clone(),
                        body: Bytes::copy_from_slice(body),
                        url: redacted(&p.uri),
                    }));
                    return;
                }
                Err(error) => {
                    let e = DiscoveryError::InvalidMetadata {
                        origin,
                        status,
                        error,
                    };
                    self.note_error(e.to_string());
                    // Only a server error earns another try; a 2xx/4xx with a bad
                    // document is the server's answer.
                    if status >= 500 && more {
                        self.fetch(i + 1);
                    } else {
                        self.outcome = Some(Err(e));
                    }
                    return;
                }
            }
        };
        self.note_error(error.to_string());
        if fallback && more {
            self.fetch(i + 1);
        } else {
            self.outcome = Some(Err(error));
        }
    }

    /// Candidate `i` failed without a verdict: try the next, or end with this error.
    fn next_or_end(&mut self, i: usize, e: DiscoveryError) {
        if i + 1 < self.candidates.len() {
            self.fetch(i + 1);
        } else {
            self.outcome = Some(Err(e));
        }
    }

    fn record(&mut self, p: &Pending, status: Option<u16>) {
        let source = match p.chain {
            Chain::Probe(_) => "www_authenticate_probe",
            Chain::Fetch(i) => self.candidates.get(i).map_or("", |c| c.source),
        };
        self.attempts.push(Attempt {
            url: redacted(&p.uri),
            source,
            status,
            error: None,
        });
    }

    /// Sets the error of the attempt just recorded.
    fn note_error(&mut self, error: String) {
        if let Some(a) = self.attempts.last_mut() {
            a.error = Some(error);
        }
    }
}

impl Pending {
    fn start(chain: Chain, uri: Uri) -> Pending {
        let method = match &chain {
            Chain::Probe(m) => m.clone(),
            Chain::Fetch(_) => Method::GET,
        };
        Pending {
            chain,
            method,
            origin: Origin::of(&uri),
            uri,
            redirects: 0,
        }
    }

    /// The next hop of this chain, if the redirect may be followed: its destination is
    /// resolved and checked against the chain's origin before anything is sent there.
    fn redirect(&self, status: u16, location: &HeaderValue) -> Result<Pending, DiscoveryError> {
        let origin = origin_label(&self.uri);
        let target = location
            .to_str()
            .ok()
            .and_then(|l| urls::resolve(&self.uri, l))
            .ok_or(DiscoveryError::BadRedirect {
                origin: origin.clone(),
            })?;
        if self.origin.is_none() || Origin::of(&target) != self.origin {
            return Err(DiscoveryError::RedirectBlocked { origin });
        }
        if self.redirects >= MAX_REDIRECTS {
            return Err(DiscoveryError::TooManyRedirects { origin });
        }
        // As Go's client: 301/302/303 turn a POST into a GET; 307/308 keep the method.
        let method = if matches!(status, 301..=303) && self.method == Method::POST {
            Method::GET
        } else {
            self.method.clone()
        };
        Ok(Pending {
            chain: self.chain.clone(),
            method,
            uri: target,
            origin: self.origin.clone(),
            redirects: self.redirects + 1,
        })
    }
}

/// The statuses Go's client follows when a `Location` is present; other 3xx are answers.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The probe succeeds only on exactly 401 with a Bearer challenge carrying an absolute
/// `resource_metadata` URL (which may be on another origin: the candidate's own redirects
/// are still held to its origin). Every `WWW-Authenticate` field is looked at, in order
/// (Go reads the first only, missing a Bearer challenge sent after a Basic one).
fn probe_verdict(method: &Method, status: u16, headers: &HeaderMap) -> Result<Uri, ProbeError> {
    if status != 401 {
        return Err(ProbeError::Status(method.clone(), status));
    }
    let mut values = headers.get_all(WWW_AUTHENTICATE).iter().peekable();
    if values.peek().is_none() {
        return Err(ProbeError::HeaderMissing(method.clone()));
    }
    let url = values
        .find_map(|v| resource_metadata(&String::from_utf8_lossy(v.as_bytes())))
        .ok_or_else(|| ProbeError::ResourceMetadataMissing(method.clone()))?;
    match url.parse::<Uri>() {
        Ok(uri) if prmd::is_absolute_url(&url) => Ok(uri),
        _ => Err(ProbeError::NotAbsolute(method.clone())),
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
