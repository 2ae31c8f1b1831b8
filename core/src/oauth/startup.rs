//! Startup discovery: protected-resource metadata, then the authorization server it names,
//! as one sans-IO machine, and what it found for `/readyz`, `/api/oauth` and `doctor`.
//!
//! The Go client runs this once at startup for an HTTP `main` binding
//! (`go-harpoon-oauth-security.md` §2.1) and shows the result to operators. Here the
//! engine drives it at startup (each request an ordinary MCP request) and `doctor` drives
//! the very same machine with a blocking client, so the two never disagree.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderMap, Method, Uri};
use serde_json::{json, Value};

use super::auth_server::{AsOutcome, AuthServerDiscovery};
use super::discovery::urls::Origin;
use super::{not_advertised, Attempt, Discovery, DiscoveryError, Found, Step};
use crate::classify::TransportError;

/// Bound on the whole discovery (Go's `DefaultDiscoveryTimeout`).
pub const BUDGET: Duration = Duration::from_secs(5);

/// What Go shows as `auth_server_metadata_mode`.
pub const AUTH_SERVER_MODE: &str = "authorization_servers[0] only (source of truth)";

/// One request to send (empty body, redirects not followed).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub timeout: Duration,
}

/// Startup discovery for the MCP server at one URL.
#[derive(Debug)]
pub struct StartupDiscovery {
    prmd: Discovery,
    prmd_result: Option<Result<Found, DiscoveryError>>,
    auth: Option<AuthServerDiscovery>,
    mcp_origin: Option<Origin>,
    static_headers: HeaderMap,
    candidates: Vec<String>,
    /// The end of the [`BUDGET`].
    end: Instant,
}

impl StartupDiscovery {
    /// `static_headers` go to requests on the MCP server's origin only (the Go scoping:
    /// `--mcp.extra-headers` with `--mcp.discovery-extra-headers` over them). `now` starts
    /// the [`BUDGET`].
    pub fn new(mcp_url: &Uri, static_headers: HeaderMap, now: Instant) -> StartupDiscovery {
        StartupDiscovery {
            prmd: Discovery::new(mcp_url).with_static_headers(static_headers.clone()),
            prmd_result: None,
            auth: None,
            mcp_origin: Origin::of(mcp_url),
            static_headers,
            end: now + BUDGET,
            candidates: super::discovery::urls::well_known(mcp_url)
                .into_iter()
                .map(|(u, _)| u.to_string())
                .collect(),
        }
    }

    /// The next request at `now`, or `None` when discovery is over
    /// ([`StartupDiscovery::report`]). Each request's timeout is cut to what is left of the
    /// [`BUDGET`]; once it is spent no request is made: the metadata fetch ends with a
    /// timeout, and the authorization server's fetch ends (no second pass).
    pub fn poll(&mut self, now: Instant) -> Option<Request> {
        let left = self.end.saturating_duration_since(now);
        let mut rq = self.next()?;
        while left.is_zero() {
            match (&self.prmd_result, &mut self.auth) {
                (None, _) => self.prmd.budget_spent(),
                (Some(_), Some(a)) => a.budget_spent(),
                _ => return None,
            }
            rq = self.next()?;
        }
        rq.timeout = rq.timeout.min(left);
        Some(rq)
    }

    fn next(&mut self) -> Option<Request> {
        if self.prmd_result.is_none() {
            match self.prmd.poll() {
                Step::Request {
                    method,
                    uri,
                    headers,
                    timeout,
                } => {
                    return Some(Request {
                        method,
                        uri,
                        headers,
                        timeout,
                    })
                }
                Step::Done(result) => {
                    if let Ok(found) = &result {
                        if let Some(issuer) = first_authorization_server(&found.body) {
                            self.auth = Some(AuthServerDiscovery::new(&issuer));
                        }
                    }
                    self.prmd_result = Some(result);
                }
            }
        }
        let a = self.auth.as_ref()?.poll()?;
        let mut headers = if self.mcp_origin.is_some() && Origin::of(&a.uri) == self.mcp_origin {
            self.static_headers.clone()
        } else {
            HeaderMap::new()
        };
        headers.remove(ACCEPT);
        Some(Request {
            method: Method::GET,
            uri: a.uri,
            headers,
            timeout: a.timeout,
        })
    }

    /// The outstanding request's response (body up to `MAX_BODY` + 1 bytes).
    pub fn handle_response(&mut self, status: u16, headers: &HeaderMap, body: &[u8]) {
        match (&self.prmd_result, &mut self.auth) {
            (None, _) => self.prmd.handle_response(status, headers, body),
            (Some(_), Some(a)) => a.handle_response(status, headers, body),
            _ => {}
        }
    }

    /// The outstanding request failed.
    pub fn handle_error(&mut self, error: TransportError) {
        match (&self.prmd_result, &mut self.auth) {
            (None, _) => self.prmd.handle_error(error),
            (Some(_), Some(a)) => a.handle_error(error),
            _ => {}
        }
    }

    /// What is known so far (complete once [`StartupDiscovery::poll`] returned `None`).
    pub fn report(&self) -> Report {
        let attempts = self.prmd.attempts().to_vec();
        let probe: Vec<&Attempt> = attempts
            .iter()
            .filter(|a| a.source == "www_authenticate_probe")
            .collect();
        let probe_url = attempts
            .iter()
            .find(|a| a.source == "www_authenticate")
            .map(|a| a.url.clone());
        let mut urls: Vec<String> = probe_url.iter().cloned().collect();
        for c in &self.candidates {
            if !urls.contains(c) {
                urls.push(c.clone());
            }
        }
        Report {
            done: self.prmd_result.is_some()
                && self.auth.as_ref().is_none_or(|a| a.outcome().is_some()),
            discovery_urls: urls,
            probe_attempted: !probe.is_empty(),
            probe_url,
            probe_error: probe.last().and_then(|a| a.error.clone()),
            not_advertised: not_advertised(&attempts),
            attempts,
            found: self.prmd_result.clone().and_then(Result::ok),
            error: self
                .prmd_result
                .as_ref()
                .and_then(|r| r.as_ref().err())
                .map(ToString::to_string),
            auth_server: self.auth.as_ref().and_then(|a| a.outcome().cloned()),
            disabled: None,
        }
    }
}

/// `authorization_servers[0]` of a metadata document, as written.
pub(crate) fn first_authorization_server(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("authorization_servers")?
        .as_array()?
        .first()?
        .as_str()
        .map(str::to_string)
}

/// What startup discovery found (or why it did not run).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every request needed was made.
    pub done: bool,
    /// Discovery did not run, and why (Go's wording; an optional failure, §2.8).
    pub disabled: Option<String>,
    /// Candidates: the challenge's URL, if any, then the well-known ones.
    pub discovery_urls: Vec<String>,
    pub probe_attempted: bool,
    /// The `resource_metadata` URL of a usable `WWW-Authenticate` challenge.
    pub probe_url: Option<String>,
    pub probe_error: Option<String>,
    pub attempts: Vec<Attempt>,
    /// The selected protected-resource metadata.
    pub found: Option<Found>,
    /// Why none was selected.
    pub error: Option<String>,
    /// The server advertises no metadata (§2.8): not a failure.
    pub not_advertised: bool,
    pub auth_server: Option<AsOutcome>,
}

impl Report {
    /// A discovery that did not run (stdio `main`, no `main`): an optional failure.
    pub fn disabled(reason: String) -> Report {
        Report {
            done: true,
            disabled: Some(reason),
            ..Report::default()
        }
    }

    /// The failure `/readyz` reports, unless it is optional (not advertised, disabled).
    pub fn failure(&self) -> Option<&str> {
        if !self.done || self.disabled.is_some() || self.not_advertised {
            return None;
        }
        self.error.as_deref()
    }

    /// `www_authenticate`, `well_known`, `not_advertised`, or empty.
    pub fn metadata_source(&self) -> &'static str {
        if self.disabled.is_some() || (self.not_advertised && self.found.is_none()) {
            return "not_advertised";
        }
        match (&self.found, &self.probe_url) {
            (Some(f), Some(p)) if &f.url == p => "www_authenticate",
            (Some(_), _) => "well_known",
            _ => "",
        }
    }

    /// A warning for operators when the authorization server's metadata could not be read
    /// or names another issuer (never fatal).
    pub fn auth_server_warning(&self) -> Option<String> {
        let a = self.auth_server.as_ref()?;
        if let Some(e) = &a.error {
            return Some(e.clone());
        }
        a.attempts
            .iter()
            .find(|x| x.selected && x.issuer_mismatch)
            .and_then(|x| x.warning.clone())
            .map(|w| {
                format!(
                    "authorization server metadata: {w} (accepted: external identity providers publish their own issuer)"
                )
            })
    }

    /// The `/api/oauth` document (Go's field names, §2.7). `pending` says discovery has not
    /// finished.
    pub fn to_json(&self, pending: bool) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("discovery_urls".into(), json!(self.discovery_urls));
        o.insert("pending".into(), json!(pending));
        if let Some(f) = &self.found {
            o.insert("metadata".into(), metadata_json(f, self));
        } else if !self.attempts.is_empty() {
            o.insert(
                "metadata".into(),
                json!({"attempts": attempts_json(&self.attempts, None)}),
            );
        }
        if let Some(e) = self.failure() {
            o.insert("error".into(), json!(e));
        }
        if let Some(d) = &self.disabled {
            o.insert("disabled".into(), json!(d));
        }
        o.insert(
            "www_authenticate_probe".into(),
            json!({"attempted": self.probe_attempted,
                   "url": self.probe_url.clone().unwrap_or_default(),
                   "error": self.probe_error.clone().unwrap_or_default()}),
        );
        o.insert("metadata_source".into(), json!(self.metadata_source()));
        o.insert("auth_server_metadata_mode".into(), json!(AUTH_SERVER_MODE));
        let servers = self
            .found
            .as_ref()
            .and_then(|f| serde_json::from_slice::<Value>(&f.body).ok())
            .and_then(|v| v.get("authorization_servers").cloned())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        o.insert("authorization_server_count".into(), json!(servers.len()));
        if let Some(first) = servers.first() {
            o.insert("selected_authorization_server".into(), first.clone());
        }
        if let Some(w) = self.auth_server_warning() {
            o.insert("auth_server_warning".into(), json!(w));
        }
        Value::Object(o)
    }
}

fn body_json(body: &Bytes) -> (&'static str, Value) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => ("body", v),
        Err(_) => ("body_text", json!(String::from_utf8_lossy(body))),
    }
}

fn attempts_json(attempts: &[Attempt], selected: Option<&str>) -> Value {
    Value::Array(
        attempts
            .iter()
            .map(|a| {
                json!({"url": a.url, "source": a.source, "tried": true,
                       "status_code": a.status, "error": a.error,
                       "selected": selected == Some(a.url.as_str())
                           && a.source != "www_authenticate_probe"
                           && a.error.is_none()})
            })
            .collect(),
    )
}

fn metadata_json(f: &Found, r: &Report) -> Value {
    let headers: serde_json::Map<String, Value> = f
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                json!(String::from_utf8_lossy(v.as_bytes())),
            )
        })
        .collect();
    let (key, body) = body_json(&f.body);
    let mut m = json!({"url": f.url, "status_code": f.status, "headers": headers,
                       "attempts": attempts_json(&r.attempts, Some(&f.url))});
    m[key] = body;
    if let Some(a) = &r.auth_server {
        m["auth_server_metadata"] = json!({
            "issuer_url": a.issuer_url,
            "selected_url": a.selected_url,
            "error": a.error,
            "metadata": a.metadata.as_ref().map(|m| json!({
                "issuer": m.issuer, "authorization_endpoint": m.authorization_endpoint,
                "token_endpoint": m.token_endpoint, "jwks_uri": m.jwks_uri,
                "introspection_endpoint": m.introspection_endpoint,
                "registration_endpoint": m.registration_endpoint,
                "revocation_endpoint": m.revocation_endpoint})),
            "attempts": a.attempts.iter().map(|x| json!({
                "url": x.url, "document": x.document, "path_style": x.path_style,
                "tried": true, "selected": x.selected, "status_code": x.status,
                "error": x.error, "warning": x.warning,
                "issuer_mismatch": x.issuer_mismatch,
                "expected_issuer_url": x.issuer_mismatch.then(|| a.issuer_url.clone()),
                "metadata_issuer": x.metadata_issuer})).collect::<Vec<_>>(),
        });
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h
    }

    /// Drives the machine against a function standing for the network.
    fn run(
        d: &mut StartupDiscovery,
        mut net: impl FnMut(&Request) -> Result<(u16, HeaderMap, Vec<u8>), TransportError>,
    ) -> Vec<Request> {
        let mut seen = Vec::new();
        let now = Instant::now();
        while let Some(rq) = d.poll(now) {
            match net(&rq) {
                Ok((s, h, b)) => d.handle_response(s, &h, &b),
                Err(e) => d.handle_error(e),
            }
            seen.push(rq);
            assert!(seen.len() < 50, "runaway");
        }
        seen
    }

    #[test]
    fn finds_prmd_then_the_auth_server_with_headers_only_on_the_mcp_origin() {
        let mut statics = HeaderMap::new();
        statics.insert("x-gw", "k".parse().unwrap());
        let mut d = StartupDiscovery::new(
            &"https://mcp.example/mcp".parse().unwrap(),
            statics,
            Instant::now(),
        );
        let seen = run(&mut d, |rq| {
            match rq.uri.to_string().as_str() {
            "https://mcp.example/.well-known/oauth-protected-resource/mcp" => Ok((
                200,
                json_headers(),
                br#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://idp.example"]}"#.to_vec(),
            )),
            "https://idp.example/.well-known/oauth-authorization-server" => Ok((
                200,
                json_headers(),
                br#"{"issuer":"https://idp.example","token_endpoint":"https://idp.example/t"}"#.to_vec(),
            )),
            _ => Ok((405, HeaderMap::new(), vec![])),
        }
        });
        let r = d.report();
        assert!(r.done);
        assert_eq!(r.failure(), None);
        assert_eq!(r.metadata_source(), "well_known");
        let a = r.auth_server.as_ref().unwrap();
        assert_eq!(
            a.selected_url.as_deref(),
            Some("https://idp.example/.well-known/oauth-authorization-server")
        );
        for rq in &seen {
            let on_mcp = rq.uri.host() == Some("mcp.example");
            assert_eq!(rq.headers.contains_key("x-gw"), on_mcp, "{rq:?}");
        }
        let j = r.to_json(false);
        assert_eq!(j["authorization_server_count"], 1);
        assert_eq!(j["selected_authorization_server"], "https://idp.example");
        assert_eq!(
            j["metadata"]["auth_server_metadata"]["metadata"]["token_endpoint"],
            "https://idp.example/t"
        );
    }

    #[test]
    fn every_candidate_404_is_not_advertised_and_not_a_failure() {
        let mut d = StartupDiscovery::new(
            &"http://h/mcp".parse().unwrap(),
            HeaderMap::new(),
            Instant::now(),
        );
        run(&mut d, |_| Ok((404, HeaderMap::new(), b"nope".to_vec())));
        let r = d.report();
        assert!(r.not_advertised && r.error.is_some());
        assert_eq!(r.failure(), None);
        assert_eq!(r.metadata_source(), "not_advertised");
        assert!(r.to_json(false).get("error").is_none());
    }

    #[test]
    fn a_server_error_is_a_failure() {
        let mut d = StartupDiscovery::new(
            &"http://h/mcp".parse().unwrap(),
            HeaderMap::new(),
            Instant::now(),
        );
        run(&mut d, |rq| {
            if rq.uri.path() == "/mcp" {
                Ok((405, HeaderMap::new(), vec![]))
            } else {
                Ok((503, HeaderMap::new(), b"down".to_vec()))
            }
        });
        let r = d.report();
        assert!(!r.not_advertised);
        assert!(
            r.failure().is_some_and(|f| f.contains("status 503")),
            "{:?}",
            r.failure()
        );
    }

    /// Drives the machine with passed-in time: each request takes `cost(timeout)` of it.
    fn run_timed(
        d: &mut StartupDiscovery,
        start: Instant,
        mut net: impl FnMut(&Request, usize) -> Option<(u16, HeaderMap, Vec<u8>)>,
        cost: impl Fn(Duration) -> Duration,
    ) -> Vec<(String, u128)> {
        let mut now = start;
        let mut seen = Vec::new();
        while let Some(rq) = d.poll(now) {
            seen.push((rq.uri.path().to_string(), rq.timeout.as_millis()));
            match net(&rq, seen.len()) {
                Some((s, h, b)) => d.handle_response(s, &h, &b),
                None => d.handle_error(TransportError::Timeout),
            }
            now += cost(rq.timeout);
            assert!(seen.len() < 50, "runaway");
        }
        seen
    }

    const PATH: &str = "/.well-known/oauth-protected-resource/mcp";
    const ROOT: &str = "/.well-known/oauth-protected-resource";

    /// Go's §2.4 second pass: every candidate timed out quickly (a firewall dropping the
    /// connection attempt, 100 ms each), so each is tried again with 2, 4 and 8 s — the
    /// 8 s cut to what is left of the 5 s budget — and the first answer ends the retries.
    #[test]
    fn all_candidates_timing_out_get_a_second_pass_with_backoff_within_the_budget() {
        let start = Instant::now();
        let mut d =
            StartupDiscovery::new(&"http://h/mcp".parse().unwrap(), HeaderMap::new(), start);
        let seen = run_timed(
            &mut d,
            start,
            |rq, n| {
                // The root candidate answers on its second retry (request 9).
                (n == 9 && rq.uri.path() == ROOT).then(|| {
                    (
                        200,
                        json_headers(),
                        br#"{"resource":"http://h/mcp"}"#.to_vec(),
                    )
                })
            },
            |_| Duration::from_millis(100),
        );
        assert_eq!(
            seen,
            [
                ("/mcp".to_string(), 1000), // POST probe
                ("/mcp".into(), 1000),      // GET probe
                (PATH.into(), 4800),        // pass 1: 5 s, cut to the budget left
                (ROOT.into(), 4700),
                (PATH.into(), 2000), // pass 2
                (PATH.into(), 4000),
                (PATH.into(), 4400), // 8 s, cut to the budget left
                (ROOT.into(), 2000),
                (ROOT.into(), 4000), // answered
            ]
        );
        let r = d.report();
        assert_eq!(
            r.found.as_ref().map(|f| f.url.as_str()),
            Some("http://h/.well-known/oauth-protected-resource")
        );
        assert_eq!(r.failure(), None);
    }

    /// With the 5 s budget, a server that hangs (each request runs to its timeout) leaves
    /// no time for the second pass: the probes take 2 s, the first candidate the other 3,
    /// and discovery ends with a timeout without sending more.
    #[test]
    fn a_hanging_server_spends_the_budget_before_any_second_pass() {
        let start = Instant::now();
        let mut d =
            StartupDiscovery::new(&"http://h/mcp".parse().unwrap(), HeaderMap::new(), start);
        let seen = run_timed(&mut d, start, |_, _| None, |t| t);
        assert_eq!(
            seen,
            [
                ("/mcp".to_string(), 1000),
                ("/mcp".into(), 1000),
                (PATH.into(), 3000),
            ]
        );
        let r = d.report();
        assert_eq!(r.attempts.len(), 3, "{:?}", r.attempts);
        assert!(
            r.failure().is_some_and(|f| f.contains("timeout")),
            "{:?}",
            r.failure()
        );
    }

    /// A non-timeout error on a retry stops that candidate's retries.
    #[test]
    fn a_non_timeout_error_stops_the_retries_of_a_candidate() {
        let start = Instant::now();
        let mut d =
            StartupDiscovery::new(&"http://h/mcp".parse().unwrap(), HeaderMap::new(), start);
        let mut now = start;
        let mut paths = Vec::new();
        while let Some(rq) = d.poll(now) {
            paths.push(rq.uri.path().to_string());
            if paths.len() == 5 {
                d.handle_error(TransportError::ConnectionRefused);
            } else {
                d.handle_error(TransportError::Timeout);
            }
            now += Duration::from_millis(10);
        }
        // probes, pass 1, PATH refused on its first retry, then ROOT's three tries.
        assert_eq!(&paths[4..], [PATH, ROOT, ROOT, ROOT]);
    }
}
