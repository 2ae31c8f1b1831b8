//! Authorization-server metadata (RFC 8414, with the OpenID Connect fallback), sans-IO.
//!
//! After protected-resource metadata is found, startup discovery reads the document of the
//! authorization server it names — `authorization_servers[0]`, the single source of truth
//! (`go-harpoon-oauth-security.md` §2.5–2.6) — so the operator sees in `/api/oauth` whether
//! a connector will be able to sign in, before one tries.
//!
//! Candidates, for `oauth-authorization-server` then `openid-configuration`: the *append*
//! form (`<issuer path>/.well-known/<doc>`) and the *prepend* form
//! (`/.well-known/<doc><issuer path>`), append first when the issuer has a path, exact
//! duplicates removed. Each is a plain `GET`; a redirect is followed within the candidate's
//! origin only (at most [`MAX_REDIRECTS`]). A document counts when the status is 200, the
//! media type is exactly `application/json` and it decodes as JSON. Its `issuer` is compared
//! with the issuer string exactly: equal selects it at once; different records a warning
//! (`issuer mismatch`), remembers the first such document and goes on; if no exact match
//! turns up, that first mismatched document is selected (external enterprise IdPs publish
//! their own issuer). The mismatch is a diagnostic, never fatal.
//!
//! Retries are Go's (§2.4), as for the protected-resource metadata: when every candidate of
//! the first pass timed out, the attempt list starts over and each candidate is tried up to
//! three times with 2, 4 and 8 s, moving on at its first answer or non-timeout error. The
//! caller's budget still bounds it ([`AuthServerDiscovery::budget_spent`]).

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, LOCATION};
use http::{HeaderMap, StatusCode, Uri};
use serde::Deserialize;

use super::discovery::urls::{self, origin_label, redacted, Origin};
use super::discovery::RETRY_TIMEOUTS;
use super::MAX_BODY;
use crate::classify::TransportError;

/// Budget of each metadata request.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Redirects followed per candidate.
pub const MAX_REDIRECTS: u32 = 10;

/// The fields of the metadata the client looks at (the Go client's projection).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuthServerMetadata {
    pub issuer: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub introspection_endpoint: Option<String>,
    pub registration_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
}

/// One request made for the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsAttempt {
    /// Without userinfo.
    pub url: String,
    /// `oauth-authorization-server` or `openid-configuration`.
    pub document: &'static str,
    /// `prepend` or `append`.
    pub path_style: &'static str,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub warning: Option<String>,
    pub issuer_mismatch: bool,
    pub metadata_issuer: Option<String>,
    pub selected: bool,
}

/// How the fetch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsOutcome {
    /// `authorization_servers[0]` as written.
    pub issuer_url: String,
    pub selected_url: Option<String>,
    pub metadata: Option<AuthServerMetadata>,
    /// The selected document as received.
    pub body: Option<Bytes>,
    /// Why nothing was selected.
    pub error: Option<String>,
    pub attempts: Vec<AsAttempt>,
}

impl AsOutcome {
    /// True when the selected document's issuer differs from `authorization_servers[0]`.
    pub fn issuer_mismatch(&self) -> bool {
        self.attempts
            .iter()
            .any(|a| a.selected && a.issuer_mismatch)
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    uri: Uri,
    document: &'static str,
    path_style: &'static str,
}

#[derive(Debug, Clone)]
struct Pending {
    i: usize,
    uri: Uri,
    origin: Option<Origin>,
    redirects: u32,
}

/// The fetch of one issuer's metadata. Drive it like [`super::Discovery`]: [`poll`], send
/// with redirects disabled, report with [`handle_response`] / [`handle_error`].
///
/// [`poll`]: AuthServerDiscovery::poll
/// [`handle_response`]: AuthServerDiscovery::handle_response
/// [`handle_error`]: AuthServerDiscovery::handle_error
#[derive(Debug)]
pub struct AuthServerDiscovery {
    issuer: String,
    candidates: Vec<Candidate>,
    pending: Option<Pending>,
    /// Attempt index and document of the first issuer mismatch.
    mismatch: Option<(usize, AuthServerMetadata, Bytes)>,
    outcome: Option<AsOutcome>,
    attempts: Vec<AsAttempt>,
    errors: Vec<String>,
    /// Every request of the first pass so far ended in a timeout.
    all_timed_out: bool,
    /// In the second pass: the candidate being retried and its try (index into
    /// [`RETRY_TIMEOUTS`]).
    retry: Option<(usize, usize)>,
}

/// A request to send: `GET uri` within `timeout`, no body.
#[derive(Debug, Clone)]
pub struct AsRequest {
    pub uri: Uri,
    pub timeout: Duration,
}

impl AuthServerDiscovery {
    /// The fetch for `issuer` (`authorization_servers[0]` as written). An issuer that is
    /// not an absolute `http(s)` URL gives no candidates: the outcome carries only it.
    pub fn new(issuer: &str) -> AuthServerDiscovery {
        let candidates = candidates(issuer);
        let mut d = AuthServerDiscovery {
            issuer: issuer.to_string(),
            candidates,
            pending: None,
            mismatch: None,
            outcome: None,
            attempts: Vec::new(),
            errors: Vec::new(),
            all_timed_out: true,
            retry: None,
        };
        d.start(0);
        d
    }

    /// The next request, or `None` once [`AuthServerDiscovery::outcome`] is set.
    pub fn poll(&self) -> Option<AsRequest> {
        self.pending.as_ref().map(|p| AsRequest {
            uri: p.uri.clone(),
            timeout: match self.retry {
                Some((c, k)) if c == p.i => RETRY_TIMEOUTS[k],
                Some(_) => RETRY_TIMEOUTS[0],
                None => FETCH_TIMEOUT,
            },
        })
    }

    /// The result, once every needed request was made.
    pub fn outcome(&self) -> Option<&AsOutcome> {
        self.outcome.as_ref()
    }

    /// The last request's response (body cut after [`MAX_BODY`], as Go does).
    pub fn handle_response(&mut self, status: u16, headers: &HeaderMap, body: &[u8]) {
        let Some(p) = self.pending.take() else {
            return;
        };
        self.all_timed_out = false;
        let at = self.record(&p, Some(status));
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            if let Some(location) = headers.get(LOCATION) {
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| urls::resolve(&p.uri, l));
                match next {
                    Some(uri) if Origin::of(&uri) == p.origin && p.redirects < MAX_REDIRECTS => {
                        self.pending = Some(Pending {
                            uri,
                            redirects: p.redirects + 1,
                            ..p
                        });
                        return;
                    }
                    Some(uri) if Origin::of(&uri) == p.origin => {
                        return self.fail(
                            at,
                            &p,
                            format!("stopped after {MAX_REDIRECTS} redirects"),
                        )
                    }
                    Some(_) => {
                        return self.fail(
                            at,
                            &p,
                            "redirect blocked: destination must use the discovery origin".into(),
                        )
                    }
                    None => return self.fail(at, &p, "redirect with an unusable Location".into()),
                }
            }
        }
        if status != 200 {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            return self.fail(
                at,
                &p,
                format!("bad status {status} {reason}").trim_end().into(),
            );
        }
        let ct = headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let media = ct.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return self.fail(at, &p, format!("bad content type {ct:?}"));
        }
        let body = &body[..body.len().min(MAX_BODY)];
        let meta: AuthServerMetadata = match serde_json::from_slice(body) {
            Ok(m) => m,
            Err(e) => return self.fail(at, &p, format!("invalid metadata JSON: {e}")),
        };
        if let Some(a) = self.attempts.get_mut(at) {
            a.metadata_issuer = meta.issuer.clone();
        }
        if meta.issuer.as_deref() == Some(self.issuer.as_str()) {
            self.select(at, meta, Bytes::copy_from_slice(body));
            return;
        }
        let got = meta.issuer.clone().unwrap_or_default();
        if let Some(a) = self.attempts.get_mut(at) {
            a.issuer_mismatch = true;
            a.warning = Some(format!(
                "issuer mismatch: got {got:?} want {:?}",
                self.issuer
            ));
        }
        if self.mismatch.is_none() {
            self.mismatch = Some((at, meta, Bytes::copy_from_slice(body)));
        }
        self.start(p.i + 1);
    }

    /// The last request failed before a complete response.
    pub fn handle_error(&mut self, error: TransportError) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let at = self.record(&p, None);
        let name = crate::classify::TunnelFailure::from_transport(error)
            .and_then(|f| f.kind())
            .map_or("canceled", |k| k.as_str());
        let timed_out = error == TransportError::Timeout;
        match self.retry {
            None => {
                self.all_timed_out &= timed_out;
                if p.i + 1 >= self.candidates.len() && self.all_timed_out {
                    // Go: the attempt list is reset, then every candidate again.
                    self.attempts.clear();
                    self.errors.clear();
                    self.retry = Some((0, 0));
                    return self.start(0);
                }
            }
            Some((c, k)) => {
                let k = if c == p.i { k } else { 0 };
                if timed_out && k + 1 < RETRY_TIMEOUTS.len() {
                    self.retry = Some((p.i, k + 1));
                    if let Some(a) = self.attempts.get_mut(at) {
                        a.error = Some(format!("request failed ({name})"));
                    }
                    return self.start(p.i);
                }
                self.retry = Some((p.i + 1, 0));
            }
        }
        self.fail(at, &p, format!("request failed ({name})"));
    }

    /// The caller's time budget ran out with a request due: end now (no more requests, no
    /// second pass). The outstanding candidate counts as timed out; a remembered mismatched
    /// document is still selected.
    pub fn budget_spent(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        self.errors.push(format!(
            "{}: request failed (timeout; discovery budget spent)",
            origin_label(&p.uri)
        ));
        self.start(self.candidates.len());
    }

    fn record(&mut self, p: &Pending, status: Option<u16>) -> usize {
        let c = &self.candidates[p.i];
        self.attempts.push(AsAttempt {
            url: redacted(&p.uri),
            document: c.document,
            path_style: c.path_style,
            status,
            error: None,
            warning: None,
            issuer_mismatch: false,
            metadata_issuer: None,
            selected: false,
        });
        self.attempts.len() - 1
    }

    fn fail(&mut self, at: usize, p: &Pending, error: String) {
        self.errors
            .push(format!("{}: {error}", origin_label(&p.uri)));
        if let Some(a) = self.attempts.get_mut(at) {
            a.error = Some(error);
        }
        self.start(p.i + 1);
    }

    fn select(&mut self, at: usize, meta: AuthServerMetadata, body: Bytes) {
        if let Some(a) = self.attempts.get_mut(at) {
            a.selected = true;
        }
        self.pending = None;
        self.outcome = Some(AsOutcome {
            issuer_url: self.issuer.clone(),
            selected_url: self.attempts.get(at).map(|a| a.url.clone()),
            metadata: Some(meta),
            body: Some(body),
            error: None,
            attempts: std::mem::take(&mut self.attempts),
        });
    }

    /// Requests candidate `i`, or ends: the remembered mismatched document, else failure.
    fn start(&mut self, i: usize) {
        if let Some(c) = self.candidates.get(i) {
            self.pending = Some(Pending {
                i,
                origin: Origin::of(&c.uri),
                uri: c.uri.clone(),
                redirects: 0,
            });
            return;
        }
        if let Some((at, meta, body)) = self.mismatch.take() {
            return self.select(at, meta, body);
        }
        let error = if self.candidates.is_empty() {
            None
        } else {
            let origin = self
                .issuer
                .parse::<Uri>()
                .map(|u| origin_label(&u))
                .unwrap_or_default();
            Some(format!(
                "oauth auth-server metadata fetch failed for issuer {origin:?}: {}",
                self.errors.join("; ")
            ))
        };
        self.outcome = Some(AsOutcome {
            issuer_url: self.issuer.clone(),
            selected_url: None,
            metadata: None,
            body: None,
            error,
            attempts: std::mem::take(&mut self.attempts),
        });
    }
}

/// The candidates for an issuer, in the Go client's order (see the module docs).
fn candidates(issuer: &str) -> Vec<Candidate> {
    let Some((scheme, rest)) = issuer.split_once("://") else {
        return Vec::new();
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Vec::new();
    }
    let rest = rest.split('#').next().unwrap_or("");
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    if authority.is_empty() {
        return Vec::new();
    }
    let has_path = !path.trim_matches('/').is_empty();
    let mut out: Vec<Candidate> = Vec::new();
    for document in ["oauth-authorization-server", "openid-configuration"] {
        let prepend = if path.is_empty() {
            format!("/.well-known/{document}")
        } else {
            format!("/.well-known/{document}/{}", path.trim_start_matches('/'))
        };
        let append = format!("{}/.well-known/{document}", path.trim_end_matches('/'));
        let styles = if has_path {
            [(append, "append"), (prepend, "prepend")]
        } else {
            [(prepend, "prepend"), (append, "append")]
        };
        for (p, path_style) in styles {
            let q = query.map(|q| format!("?{q}")).unwrap_or_default();
            let Ok(uri) = format!("{scheme}://{authority}{p}{q}").parse::<Uri>() else {
                continue;
            };
            if out.iter().any(|c| c.uri == uri) {
                continue;
            }
            out.push(Candidate {
                uri,
                document,
                path_style,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> Vec<String> {
        candidates(issuer)
            .into_iter()
            .map(|c| c.uri.to_string())
            .collect()
    }

    #[test]
    fn candidates_follow_the_go_order() {
        assert_eq!(
            urls("https://as.example"),
            [
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            urls("https://as.example/"),
            [
                "https://as.example/.well-known/oauth-authorization-server/",
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration/",
                "https://as.example/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            urls("https://as.example/tenant/v2.0"),
            [
                "https://as.example/tenant/v2.0/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/oauth-authorization-server/tenant/v2.0",
                "https://as.example/tenant/v2.0/.well-known/openid-configuration",
                "https://as.example/.well-known/openid-configuration/tenant/v2.0"
            ]
        );
        assert!(urls("not a url").is_empty());
        assert!(urls("ftp://as.example").is_empty());
    }

    fn json() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        h
    }

    fn doc(issuer: &str) -> Vec<u8> {
        serde_json::json!({"issuer": issuer, "token_endpoint": format!("{issuer}/token")})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn exact_issuer_is_selected_at_once() {
        let mut d = AuthServerDiscovery::new("https://as.example");
        d.handle_response(200, &json(), &doc("https://as.example"));
        let o = d.outcome().expect("done");
        assert_eq!(
            o.selected_url.as_deref(),
            Some("https://as.example/.well-known/oauth-authorization-server")
        );
        assert!(!o.issuer_mismatch());
        assert_eq!(
            o.metadata.as_ref().unwrap().token_endpoint.as_deref(),
            Some("https://as.example/token")
        );
    }

    #[test]
    fn a_mismatched_issuer_is_kept_and_selected_when_nothing_matches() {
        let mut d = AuthServerDiscovery::new("https://as.example");
        d.handle_response(200, &json(), &doc("https://idp.example"));
        assert!(d.outcome().is_none(), "keeps trying after a mismatch");
        d.handle_response(404, &HeaderMap::new(), b"nope");
        let o = d.outcome().expect("done");
        assert!(o.issuer_mismatch());
        assert_eq!(o.error, None);
        assert_eq!(o.attempts.len(), 2);
        assert_eq!(
            o.attempts[0].warning.as_deref(),
            Some(r#"issuer mismatch: got "https://idp.example" want "https://as.example""#)
        );
        assert_eq!(
            o.attempts[1].error.as_deref(),
            Some("bad status 404 Not Found")
        );
    }

    #[test]
    fn total_failure_names_each_origin_and_reason() {
        let mut d = AuthServerDiscovery::new("https://as.example");
        let mut html = HeaderMap::new();
        html.insert(CONTENT_TYPE, "text/html".parse().unwrap());
        d.handle_response(200, &html, b"<html>");
        d.handle_error(TransportError::ConnectionRefused);
        let o = d.outcome().expect("done");
        let e = o.error.as_deref().unwrap();
        assert!(
            e.starts_with(
                r#"oauth auth-server metadata fetch failed for issuer "https://as.example": "#
            ),
            "{e}"
        );
        assert!(e.contains(r#"bad content type "text/html""#), "{e}");
        assert!(e.contains("https://as.example: request failed ("), "{e}");
    }

    #[test]
    fn redirects_stay_on_the_candidates_origin() {
        let mut d = AuthServerDiscovery::new("https://as.example");
        let mut to = HeaderMap::new();
        to.insert(LOCATION, "/moved".parse().unwrap());
        d.handle_response(302, &to, b"");
        assert_eq!(
            d.poll().unwrap().uri.to_string(),
            "https://as.example/moved"
        );
        let mut away = HeaderMap::new();
        away.insert(LOCATION, "https://evil.example/x".parse().unwrap());
        d.handle_response(302, &away, b"");
        // Not followed: the next candidate instead.
        assert_eq!(
            d.poll().unwrap().uri.to_string(),
            "https://as.example/.well-known/openid-configuration"
        );
        assert!(d.attempts[1]
            .error
            .as_deref()
            .unwrap()
            .contains("redirect blocked"));
    }

    #[test]
    fn an_unparseable_issuer_gives_an_outcome_with_only_the_issuer() {
        let d = AuthServerDiscovery::new("::");
        let o = d.outcome().expect("done at once");
        assert_eq!(o.issuer_url, "::");
        assert!(o.attempts.is_empty() && o.error.is_none() && o.metadata.is_none());
    }

    /// Drives `d` to its end: `answer(i, uri)` is the i-th request's fate (`Err` a transport
    /// error, `Ok` a status with the document). Returns each request's path and timeout.
    fn drive(
        d: &mut AuthServerDiscovery,
        mut answer: impl FnMut(usize, &Uri) -> Result<(u16, Vec<u8>), TransportError>,
    ) -> Vec<(String, u64)> {
        let mut seen = Vec::new();
        while let Some(rq) = d.poll() {
            assert!(seen.len() < 50, "runaway: {seen:?}");
            seen.push((rq.uri.path().to_string(), rq.timeout.as_secs()));
            match answer(seen.len() - 1, &rq.uri) {
                Ok((status, body)) => d.handle_response(status, &json(), &body),
                Err(e) => d.handle_error(e),
            }
        }
        seen
    }

    /// Go's §2.4 for the authorization server too: when every candidate of the first pass
    /// timed out, each is tried again with 2, 4 and 8 s, and the attempt list starts over.
    #[test]
    fn all_timeouts_bring_a_second_pass_with_growing_timeouts() {
        let mut d = AuthServerDiscovery::new("https://as.example");
        let seen = drive(&mut d, |i, _| {
            if i == 4 {
                Ok((200, doc("https://as.example")))
            } else {
                Err(TransportError::Timeout)
            }
        });
        let oas = "/.well-known/oauth-authorization-server";
        let oidc = "/.well-known/openid-configuration";
        assert_eq!(
            seen,
            [
                (oas.to_string(), 5),
                (oidc.to_string(), 5),
                (oas.to_string(), 2),
                (oas.to_string(), 4),
                (oas.to_string(), 8),
            ],
            "request 5 (the third retry of the first candidate) answers"
        );
        let o = d.outcome().expect("done");
        assert_eq!(o.error, None);
        assert_eq!(o.attempts.len(), 3, "the second pass's attempts only");
        assert!(o.attempts[2].selected);
    }

    /// A non-timeout answer in the first pass means no second pass.
    #[test]
    fn no_second_pass_when_one_candidate_answered() {
        let mut d = AuthServerDiscovery::new("https://as.example");
        let seen = drive(&mut d, |i, _| {
            if i == 0 {
                Ok((404, b"no".to_vec()))
            } else {
                Err(TransportError::Timeout)
            }
        });
        assert_eq!(seen.len(), 2);
        assert!(d.outcome().unwrap().error.is_some());
    }

    /// In the second pass a non-timeout error moves on to the next candidate at once.
    #[test]
    fn a_non_timeout_error_in_the_second_pass_ends_that_candidates_retries() {
        let mut d = AuthServerDiscovery::new("https://as.example");
        let seen = drive(&mut d, |i, _| match i {
            0 | 1 | 3 | 4 => Err(TransportError::Timeout),
            2 => Err(TransportError::ConnectionRefused),
            _ => Ok((200, doc("https://as.example"))),
        });
        let secs: Vec<u64> = seen.iter().map(|s| s.1).collect();
        // Pass 1: 5, 5. Pass 2: candidate 1 refused at 2 s; candidate 2: 2, 4 time out, 8 answers.
        assert_eq!(secs, [5, 5, 2, 2, 4, 8]);
        assert!(d.outcome().unwrap().metadata.is_some());
    }

    /// When the caller's budget is spent the fetch ends without more requests or retries.
    #[test]
    fn a_spent_budget_ends_the_fetch_without_retrying() {
        let mut d = AuthServerDiscovery::new("https://as.example");
        d.handle_error(TransportError::Timeout);
        d.budget_spent();
        assert!(d.poll().is_none());
        let o = d.outcome().expect("done");
        let e = o.error.as_deref().unwrap();
        assert!(e.contains("timeout"), "{e}");
    }
}
