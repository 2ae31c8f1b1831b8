//! Whether ChatGPT can discover how to sign in to the HTTP MCP server: its OAuth
//! protected-resource and authorization-server metadata, or 404s that say it uses no OAuth.

use std::time::{Duration, Instant};

use super::reachability::mcp_headers;
use super::why;
use crate::cli::doctor::probe::{self, Agents, Resp};
use crate::cli::doctor::report::Check;
use crate::config::{redact_url, HttpBinding, Loaded};

/// RFC 9728 protected-resource metadata, then the RFC 8414 authorization-server metadata
/// it names. 404 on every candidate = the server uses no OAuth = PASS.
pub(super) fn oauth_check(l: &Loaded, b: &HttpBinding, a: &Agents, first: Option<&Resp>) -> Check {
    let deadline = Instant::now() + Duration::from_secs(5);
    let remaining = || {
        deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(2))
    };
    let Some((mcp_origin, _)) = probe::origin_and_path(&b.url) else {
        return Check::skip("oauth_metadata", "the MCP URL has no origin");
    };
    let headers_for = |u: &str| {
        if probe::origin_and_path(u).is_some_and(|(o, _)| o == mcp_origin) {
            mcp_headers(l, false)
        } else {
            Vec::new()
        }
    };
    let mut candidates: Vec<String> = Vec::new();
    if let Some(r) = first.filter(|r| r.status == 401) {
        if let Some(u) = r
            .header("www-authenticate")
            .and_then(probe::resource_metadata_param)
        {
            candidates.push(u);
        }
    }
    for u in [
        probe::well_known(&b.url, "oauth-protected-resource"),
        Some(format!("{mcp_origin}/.well-known/oauth-protected-resource")),
    ]
    .into_iter()
    .flatten()
    {
        if !candidates.contains(&u) {
            candidates.push(u);
        }
    }
    let mut evidence = Vec::new();
    let fail = |summary: String, evidence: Vec<String>, extra: Vec<String>| {
        let prm = probe::well_known(&b.url, "oauth-protected-resource").unwrap_or_default();
        let mut next = extra;
        next.extend([
            format!("serve GET {prm} with {{\"resource\": \"{}\", \"authorization_servers\": [\"https://<issuer>\"]}}", redact_url(&b.url)),
            "serve the authorization server's metadata at <issuer origin>/.well-known/oauth-authorization-server<issuer path>".to_string(),
            "if the server uses no OAuth, make those paths answer 404 (see `tunnel-client help oauth`)".to_string(),
        ]);
        Check::fail("oauth_metadata", summary)
            .why(why("oauth_metadata"))
            .evidence(evidence)
            .next(next)
    };
    let mut prmd: Option<(String, serde_json::Value)> = None;
    for u in &candidates {
        match probe::request(a.mcp_for(u), u, &headers_for(u), remaining()) {
            Ok(r) if r.status == 404 => evidence.push(format!("HTTP 404 from {u}")),
            Ok(r) if (200..300).contains(&r.status) => {
                evidence.push(format!("HTTP {} from {u}", r.status));
                match serde_json::from_slice::<serde_json::Value>(&r.body) {
                    Ok(v) if v.is_object() => {
                        prmd = Some((u.clone(), v));
                        break;
                    }
                    _ => {
                        return fail(
                            format!("protected-resource metadata at {u} is not a JSON object"),
                            evidence,
                            vec![],
                        )
                    }
                }
            }
            Ok(r) => {
                evidence.push(format!("HTTP {} from {u}", r.status));
                return fail(format!("HTTP {} from {u}", r.status), evidence, vec![]);
            }
            Err(e) => {
                evidence.push(e.describe(u));
                return fail(e.describe(u), evidence, vec![e.hint().to_string()]);
            }
        }
    }
    let Some((prm_url, doc)) = prmd else {
        return Check::pass(
            "oauth_metadata",
            "OAuth metadata not advertised; all candidates returned HTTP 404",
        )
        .evidence(evidence);
    };
    if let Some(res) = doc.get("resource").and_then(|r| r.as_str()) {
        if res.trim_end_matches('/') != b.url.trim_end_matches('/') {
            evidence.push(format!(
                "resource is {res:?}, the MCP URL is {:?} (RFC 9728 expects them to match)",
                redact_url(&b.url)
            ));
        }
    }
    let issuer = doc
        .get("authorization_servers")
        .and_then(|v| v.as_array())
        .and_then(|a| a.first())
        .and_then(|v| v.as_str())
        .map(String::from);
    let Some(issuer) = issuer else {
        return fail(
            format!("{prm_url} names no authorization_servers"),
            evidence,
            vec![],
        );
    };
    let mut as_candidates = vec![];
    if let Some(u) = probe::well_known(&issuer, "oauth-authorization-server") {
        as_candidates.push(u);
    }
    as_candidates.push(format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ));
    for u in &as_candidates {
        match probe::request(a.mcp_for(u), u, &headers_for(u), remaining()) {
            Ok(r) if (200..300).contains(&r.status) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
                let missing: Vec<&str> = ["issuer", "authorization_endpoint", "token_endpoint"]
                    .into_iter()
                    .filter(|k| v.get(k).and_then(|x| x.as_str()).is_none())
                    .collect();
                evidence.push(format!("HTTP {} from {u}", r.status));
                if !missing.is_empty() {
                    return fail(
                        format!(
                            "authorization server metadata at {u} lacks {}",
                            missing.join(", ")
                        ),
                        evidence,
                        vec![],
                    );
                }
                if v.get("registration_endpoint").is_none() {
                    evidence.push(
                        "no registration_endpoint: dynamic client registration is not offered"
                            .into(),
                    );
                }
                return Check::pass("oauth_metadata", format!("HTTP {} from {u}", r.status))
                    .evidence(evidence);
            }
            Ok(r) => evidence.push(format!("HTTP {} from {u}", r.status)),
            Err(e) => evidence.push(e.describe(u)),
        }
    }
    fail(
        format!("no authorization server metadata for {issuer} (named by {prm_url})"),
        evidence,
        vec![],
    )
}
