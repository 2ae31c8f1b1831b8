//! What an `oauth_discovery` command ends with, for every driver of a [`Discovery`].

use serde_json::value::RawValue;

use super::{DiscoveryError, Found};
use crate::engine::Terminal;
use crate::wire::response::RespHeaders;

/// Headers that framed the upstream message rather than describe the document: hop-by-hop
/// (RFC 9110 §7.6.1) and the body's length (the document travels inside the POST).
const FRAMING: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// The command's terminal: the selected document with its upstream status and its headers
/// — not the MCP header allowlist, which the Go client exempts this response from (the
/// service relays it to a connector as the metadata response), but without the framing
/// ones, which Go forwards too (a quirk: they describe a message that is not relayed).
///
/// When there is no document, an error response is posted (Go posts nothing and the
/// service has to time the command out): HTTP 404 `oauth_metadata_not_advertised` when the
/// server simply does not advertise metadata (§2.8: no challenge, every candidate 404),
/// else HTTP 502 `oauth_discovery_failed`, with the reason (origins only, never header
/// values or bodies) in `error.message`.
pub fn terminal(result: Result<Found, DiscoveryError>, not_advertised: bool) -> Terminal {
    let found = match result {
        Ok(f) => f,
        Err(e) => return failed(&e, not_advertised),
    };
    let Ok(json) = serde_json::from_slice::<Box<RawValue>>(&found.body) else {
        // `Discovery` only selects a validated JSON object; this cannot happen.
        return Terminal::Abandon {
            reason: "oauth discovery selected a body that is not JSON",
        };
    };
    let nominated: Vec<String> = found
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut headers = RespHeaders::new();
    for (name, value) in &found.headers {
        let n = name.as_str();
        if FRAMING.contains(&n) || nominated.iter().any(|x| x == n) {
            continue;
        }
        headers
            .entry(canonical(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    Terminal::OAuthDiscovery {
        json,
        status: found.status,
        headers,
    }
}

/// What a server that does not advertise metadata is told (Go's `doctor` wording).
pub const NOT_ADVERTISED: &str = "OAuth metadata not advertised; all candidates returned HTTP 404";

/// The error response for a discovery that found no document.
fn failed(e: &DiscoveryError, not_advertised: bool) -> Terminal {
    let (status, code) = if not_advertised {
        (404, "oauth_metadata_not_advertised")
    } else {
        (502, "oauth_discovery_failed")
    };
    let message = if not_advertised {
        NOT_ADVERTISED.to_string()
    } else {
        e.to_string()
    };
    let body = serde_json::json!({"error": {
        "message": message,
        "type": "oauth_discovery_error",
        "code": code}});
    let json = RawValue::from_string(body.to_string())
        .unwrap_or_else(|_| RawValue::from_string("{}".into()).expect("static JSON")); // ok: a literal object
    let mut headers = RespHeaders::new();
    headers.insert("Content-Type".into(), vec!["application/json".into()]);
    Terminal::OAuthDiscovery {
        json,
        status,
        headers,
    }
}

/// The Go client's "optional" failure (§2.8): the server does not advertise metadata at
/// all — its `WWW-Authenticate` probe gave no URL, and every metadata candidate was tried
/// and answered HTTP 404. Any other status, or a probe URL, makes it a real failure.
pub fn not_advertised(attempts: &[super::Attempt]) -> bool {
    let fetches: Vec<_> = attempts
        .iter()
        .filter(|a| a.source != "www_authenticate_probe")
        .collect();
    !fetches.is_empty()
        && fetches
            .iter()
            .all(|a| a.source != "www_authenticate" && a.status == Some(404))
}

/// How a discovery ended, for the adapters' log line: where the document came from, or why
/// there is none. `true` when a document was found (logged at info, else at warn).
pub fn describe(result: &Result<Found, DiscoveryError>) -> (bool, String) {
    match result {
        Ok(found) => (
            true,
            format!("metadata from {} (HTTP {})", found.url, found.status),
        ),
        Err(e) => (
            false,
            format!("found no metadata ({e}); an error response is posted"),
        ),
    }
}

/// `content-type` → `Content-Type`: how the other response types spell header names.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::HeaderMap;

    #[test]
    fn the_document_is_posted_with_its_status_and_all_its_headers() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("x-upstream-trace", "abc".parse().unwrap());
        h.insert("content-length", "38".parse().unwrap());
        h.insert("connection", "close, x-hop".parse().unwrap());
        h.insert("x-hop", "1".parse().unwrap());
        let t = terminal(
            Ok(Found {
                status: 200,
                headers: h,
                body: Bytes::from_static(br#"{"resource":"https://mcp.example/mcp"}"#),
                url: "https://mcp.example/.well-known/oauth-protected-resource/mcp".into(),
            }),
            false,
        );
        let Terminal::OAuthDiscovery {
            json,
            status,
            headers,
        } = t
        else {
            panic!("{t:?}");
        };
        assert_eq!(json.get(), r#"{"resource":"https://mcp.example/mcp"}"#);
        assert_eq!(status, 200);
        assert_eq!(headers["Content-Type"], vec!["application/json"]);
        assert_eq!(headers["X-Upstream-Trace"], vec!["abc"]);
        assert_eq!(headers.len(), 2, "framing headers dropped: {headers:?}");
    }

    fn posted(t: Terminal) -> (u16, serde_json::Value) {
        let Terminal::OAuthDiscovery { json, status, .. } = t else {
            panic!("{t:?}");
        };
        (status, serde_json::from_str(json.get()).unwrap())
    }

    #[test]
    fn no_document_posts_an_error_naming_why() {
        let e = DiscoveryError::Status {
            origin: "https://mcp.example".into(),
            status: 503,
        };
        let (status, body) = posted(terminal(Err(e), false));
        assert_eq!(status, 502);
        assert_eq!(body["error"]["code"], "oauth_discovery_failed");
        assert_eq!(
            body["error"]["message"],
            "oauth discovery status 503 from https://mcp.example"
        );
    }

    #[test]
    fn metadata_not_advertised_is_a_404() {
        let (status, body) = posted(terminal(Err(DiscoveryError::NoCandidates), true));
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "oauth_metadata_not_advertised");
    }

    fn attempt(source: &'static str, status: Option<u16>) -> crate::oauth::Attempt {
        crate::oauth::Attempt {
            url: "u".into(),
            source,
            status,
            error: None,
        }
    }

    #[test]
    fn only_404_on_every_candidate_without_a_challenge_is_not_advertised() {
        let probe = attempt("www_authenticate_probe", Some(405));
        let p404 = attempt("well_known_path", Some(404));
        let r404 = attempt("well_known_root", Some(404));
        assert!(not_advertised(&[probe.clone(), p404.clone(), r404.clone()]));
        assert!(
            !not_advertised(std::slice::from_ref(&probe)),
            "nothing fetched"
        );
        let r500 = attempt("well_known_root", Some(500));
        assert!(!not_advertised(&[p404.clone(), r500]), "a mix of statuses");
        let refused = attempt("well_known_root", None);
        assert!(
            !not_advertised(&[p404.clone(), refused]),
            "a transport error"
        );
        let challenged = attempt("www_authenticate", Some(404));
        assert!(!not_advertised(&[challenged, p404, r404]), "a probe URL");
    }
}
