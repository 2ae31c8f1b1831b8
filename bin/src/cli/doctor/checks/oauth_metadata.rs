//! Whether ChatGPT can discover how to sign in to the HTTP MCP server: its OAuth
//! protected-resource metadata and the authorization server's metadata, or 404s that say it
//! uses no OAuth.
//!
//! The check drives the very machine `run` drives at startup
//! ([`tunnel_core::oauth::startup::StartupDiscovery`]): the same candidates, retry and
//! redirect rules, headers and verdict (the Go client's optional-failure rule included), so
//! `doctor` and `/readyz` never disagree. Requests go through doctor's MCP agent (run's CA
//! bundle, proxy and client certificate; redirects are the machine's to follow).

use std::io::Read as _;
use std::time::{Duration, Instant};

use http::HeaderMap;
use tunnel_blocking::errors::{classify, Phase};
use tunnel_core::classify::TransportError;
use tunnel_core::oauth::startup::{Report, Request, StartupDiscovery};

use super::why;
use crate::cli::doctor::probe::{self, Agents, Resp};
use crate::cli::doctor::report::Check;
use crate::config::{redact_url, HttpBinding, Loaded};

/// One discovery request, bounded by `timeout`; the body is read up to the metadata bound
/// (an event stream, which a `GET` of the MCP URL may open, is not waited for).
fn fetch(
    agent: &ureq::Agent,
    rq: &Request,
    timeout: Duration,
) -> Result<(u16, HeaderMap, Vec<u8>), TransportError> {
    let mut request = http::Request::new(());
    *request.method_mut() = rq.method.clone();
    *request.uri_mut() = rq.uri.clone();
    *request.headers_mut() = rq.headers.clone();
    let ua = format!("oai-tunnel-client/{}", env!("CARGO_PKG_VERSION"));
    if let Ok(v) = http::HeaderValue::from_str(&ua) {
        request.headers_mut().insert(http::header::USER_AGENT, v);
    }
    let request = agent
        .configure_request(request)
        .timeout_global(Some(timeout))
        .build();
    let resp = agent.run(request).map_err(|e| classify(&e, Phase::Head))?;
    let (parts, body) = resp.into_parts();
    let sse = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    let mut buf = Vec::new();
    if !sse {
        let cap = tunnel_core::oauth::MAX_BODY as u64 + 1;
        let _ = body.into_reader().take(cap).read_to_end(&mut buf);
    }
    Ok((parts.status.as_u16(), parts.headers, buf))
}

/// Runs startup discovery for `url` with doctor's agent, within the 5 s budget.
pub(crate) fn discover(l: &Loaded, url: &http::Uri, a: &Agents) -> Report {
    let statics = static_headers(l);
    let mut d = StartupDiscovery::new(url, statics, Instant::now());
    // Each request's timeout is already cut to what is left of the budget.
    while let Some(rq) = d.poll(Instant::now()) {
        match fetch(&a.mcp, &rq, rq.timeout) {
            Ok((status, headers, body)) => d.handle_response(status, &headers, &body),
            Err(kind) => d.handle_error(kind),
        }
    }
    d.report()
}

/// `run`'s static headers for discovery: `--mcp.extra-headers` with
/// `--mcp.discovery-extra-headers` over them (the engine's own function).
fn static_headers(l: &Loaded) -> HeaderMap {
    let pairs = |list: &[crate::config::Header]| -> Vec<(http::HeaderName, http::HeaderValue)> {
        probe::header_pairs(list)
            .into_iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.parse().ok()?)))
            .collect()
    };
    let m = &l.config.mcp;
    tunnel_core::headers::discovery_static_headers(
        &pairs(&m.extra_headers),
        &pairs(&m.discovery_extra_headers),
    )
}

pub(super) fn oauth_check(l: &Loaded, b: &HttpBinding, a: &Agents, _first: Option<&Resp>) -> Check {
    let Ok(url) = b.url.parse::<http::Uri>() else {
        return Check::skip("oauth_metadata", "the MCP URL has no origin");
    };
    if probe::origin_and_path(&b.url).is_none() {
        return Check::skip("oauth_metadata", "the MCP URL has no origin");
    }
    let r = discover(l, &url, a);
    let mut evidence: Vec<String> = r
        .attempts
        .iter()
        .map(|t| {
            let what = match (t.status, &t.error) {
                (Some(s), None) => format!("HTTP {s}"),
                (Some(s), Some(e)) => format!("HTTP {s}: {e}"),
                (None, Some(e)) => e.clone(),
                (None, None) => "no answer".into(),
            };
            format!("{} {} ({}): {what}", method_of(t.source), t.url, t.source)
        })
        .collect();
    if let Some(asm) = &r.auth_server {
        for t in &asm.attempts {
            let what = match (t.status, &t.error) {
                (Some(s), None) => format!("HTTP {s}"),
                (Some(s), Some(e)) => format!("HTTP {s}: {e}"),
                (None, Some(e)) => e.clone(),
                (None, None) => "no answer".into(),
            };
            evidence.push(format!("GET {} ({}): {what}", t.url, t.document));
        }
    }
    let prm = probe::well_known(&b.url, "oauth-protected-resource").unwrap_or_default();
    let next = vec![
        format!("serve GET {prm} with {{\"resource\": \"{}\", \"authorization_servers\": [\"https://<issuer>\"]}}", redact_url(&b.url)),
        "serve the authorization server's metadata at <issuer origin>/.well-known/oauth-authorization-server<issuer path>".to_string(),
        "if the server uses no OAuth, make those paths answer 404 (see `tunnel-client help oauth`)".to_string(),
        "after `run` starts, /readyz and /api/oauth show the same discovery".to_string(),
    ];
    if r.not_advertised && r.found.is_none() {
        return Check::pass("oauth_metadata", tunnel_core::oauth::NOT_ADVERTISED)
            .evidence(evidence);
    }
    let Some(found) = &r.found else {
        let summary = r
            .error
            .clone()
            .unwrap_or_else(|| "OAuth metadata discovery returned no response".into());
        return Check::fail("oauth_metadata", summary)
            .why(why("oauth_metadata"))
            .evidence(evidence)
            .next(next);
    };
    let mut summary = format!("HTTP {} from {}", found.status, found.url);
    match &r.auth_server {
        Some(asm) => match (&asm.selected_url, &asm.error) {
            (Some(u), _) => summary.push_str(&format!("; authorization server metadata from {u}")),
            (None, Some(e)) => {
                return Check::fail("oauth_metadata", e.clone())
                    .why(why("oauth_metadata"))
                    .evidence(evidence)
                    .next(next)
            }
            (None, None) => {
                return Check::fail(
                    "oauth_metadata",
                    format!(
                        "{} names an authorization server that is not an http(s) URL: {:?}",
                        found.url, asm.issuer_url
                    ),
                )
                .why(why("oauth_metadata"))
                .evidence(evidence)
                .next(next)
            }
        },
        None => {
            return Check::fail(
                "oauth_metadata",
                format!("{} names no authorization_servers", found.url),
            )
            .why(why("oauth_metadata"))
            .evidence(evidence)
            .next(next)
        }
    }
    if let Some(w) = r.auth_server_warning() {
        evidence.push(w);
    }
    if let Some(m) = r.auth_server.as_ref().and_then(|a| a.metadata.as_ref()) {
        if m.registration_endpoint.is_none() {
            evidence.push(
                "no registration_endpoint: dynamic client registration is not offered".into(),
            );
        }
    }
    Check::pass("oauth_metadata", summary).evidence(evidence)
}

fn method_of(source: &str) -> &'static str {
    if source == "www_authenticate_probe" {
        "probe"
    } else {
        "GET"
    }
}
