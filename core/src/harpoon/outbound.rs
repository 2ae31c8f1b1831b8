//! Outbound header handling (§1.7): the caller's flat `name → value` map is filtered
//! before anything is sent. Blocked: 35 proxy/forwarding, hop-by-hop and client-identity
//! names, plus every header a `Connection` header nominates. `User-Agent` is always the
//! client's own. Dropped headers are reported as counts and coarse classes only, never
//! names or values.

use std::collections::{BTreeMap, BTreeSet};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The names a caller may never set (lower case).
pub const BLOCKED: [&str; 35] = [
    "accept-encoding",
    "cf-connecting-ip",
    "connection",
    "content-length",
    "cookie",
    "forwarded",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "true-client-ip",
    "upgrade",
    "user-agent",
    "via",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-custom-cf-witness-actor",
    "x-custom-cf-witness-authorization",
    "x-envoy-external-address",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-openai-actor-authorization",
    "x-openai-authorization",
    "x-openai-authorization-error",
    "x-openai-internal-caller",
    "x-openai-skip-auth",
    "x-original-forwarded-for",
    "x-real-ip",
    "x-tunnel-traffic-source",
];

pub fn is_blocked(name: &str) -> bool {
    let l = name.trim().to_ascii_lowercase();
    BLOCKED.contains(&l.as_str())
}

/// The low-cardinality class of a dropped header (Go's `dropped_header_classifications`).
pub fn classify_dropped(name: &str) -> &'static str {
    let l = name.trim().to_ascii_lowercase();
    if l.is_empty() {
        return "empty";
    }
    let sensitive = l.split(['-', '.', '_']).any(|t| {
        matches!(
            t,
            "authorization" | "cookie" | "key" | "secret" | "token" | "password"
        )
    });
    if sensitive {
        "sensitive-name"
    } else if l == "user-agent" {
        "user-agent"
    } else if l.starts_with("x-") {
        "custom"
    } else {
        "not-forwardable"
    }
}

/// The result of filtering.
#[derive(Debug, Default)]
pub struct Filtered {
    pub headers: HeaderMap,
    pub dropped: usize,
    /// Sorted, deduplicated classes of what was dropped.
    pub classes: Vec<&'static str>,
}

/// Why a header could not be sent at all (Go fails such a request at send time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidHeader;

/// Filters the caller's headers and sets `User-Agent: oai-tunnel-client/<version>`.
pub fn filter(
    caller: &BTreeMap<String, String>,
    client_version: &str,
) -> Result<Filtered, InvalidHeader> {
    let mut nominated: BTreeSet<String> = BTreeSet::new();
    for (k, v) in caller {
        if k.trim().eq_ignore_ascii_case("connection") {
            for opt in v.split(',') {
                let o = opt.trim().to_ascii_lowercase();
                if !o.is_empty() {
                    nominated.insert(o);
                }
            }
        }
    }
    let mut out = Filtered::default();
    let mut classes = BTreeSet::new();
    for (k, v) in caller {
        let name = k.trim();
        if name.is_empty() {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if is_blocked(&lower) || nominated.contains(&lower) {
            out.dropped += 1;
            classes.insert(classify_dropped(&lower));
            continue;
        }
        let n = HeaderName::from_bytes(lower.as_bytes()).map_err(|_| InvalidHeader)?;
        let v = HeaderValue::from_str(v).map_err(|_| InvalidHeader)?;
        out.headers.append(n, v);
    }
    let ua = HeaderValue::from_str(&format!("oai-tunnel-client/{client_version}"))
        .map_err(|_| InvalidHeader)?;
    out.headers.insert(http::header::USER_AGENT, ua);
    out.classes = classes.into_iter().collect();
    Ok(out)
}

/// Go's canonical MIME header key (`content-type` → `Content-Type`).
pub fn canonical(name: &str) -> String {
    let mut up = true;
    name.chars()
        .map(|c| {
            let r = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn credentials_pass_and_spoofing_headers_drop() {
        let f = filter(
            &m(&[
                ("Authorization", "Bearer t"),
                ("X-API-Key", "k"),
                ("X-LiteLLM-API-Key", "k2"),
                ("X-Trace-Id", "1"),
                ("Accept", "application/json"),
                ("Content-Type", "application/json"),
                ("Cookie", "a=b"),
                ("Forwarded", "for=1"),
                ("True-Client-IP", "1.2.3.4"),
                ("X-Forwarded-For", "1.2.3.4"),
                ("X-OpenAI-Skip-Auth", "1"),
                ("Connection", "close"),
                ("Proxy-Authorization", "Basic x"),
                ("User-Agent", "spoof"),
                ("Host", "evil"),
            ]),
            "1.2.3",
        )
        .unwrap();
        for keep in [
            "authorization",
            "x-api-key",
            "x-litellm-api-key",
            "x-trace-id",
            "accept",
            "content-type",
        ] {
            assert!(f.headers.contains_key(keep), "{keep} dropped");
        }
        assert_eq!(f.headers["user-agent"], "oai-tunnel-client/1.2.3");
        assert_eq!(f.headers.len(), 7);
        assert_eq!(f.dropped, 9);
        assert_eq!(
            f.classes,
            ["custom", "not-forwardable", "sensitive-name", "user-agent"]
        );
    }

    #[test]
    fn connection_nominated_headers_drop_whatever_the_casing() {
        let f = filter(
            &m(&[
                ("Connection", " Authorization , X-API-Key "),
                ("connection", "x-trace-id"),
                ("Authorization", "Bearer t"),
                ("X-Api-Key", "k"),
                ("X-Trace-Id", "1"),
                ("Accept", "*/*"),
            ]),
            "v",
        )
        .unwrap();
        assert_eq!(f.dropped, 5);
        assert!(f.headers.contains_key("accept"));
        assert!(!f.headers.contains_key("authorization"));
    }

    #[test]
    fn unsendable_headers_fail_the_request() {
        assert!(filter(&m(&[("Bad Name", "v")]), "v").is_err());
        assert!(filter(&m(&[("X-Ok", "a\r\nInjected: 1")]), "v").is_err());
    }

    #[test]
    fn canonical_names_match_go() {
        assert_eq!(canonical("content-type"), "Content-Type");
        assert_eq!(canonical("x-api-key"), "X-Api-Key");
        assert_eq!(canonical("etag"), "Etag");
    }
}
