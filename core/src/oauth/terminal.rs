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
/// ones, which Go forwards too (a quirk: they describe a message that is not relayed) — or,
/// when there is none, nothing posted, as in Go (the service times the command out).
pub fn terminal(result: Result<Found, DiscoveryError>) -> Terminal {
    let found = match result {
        Ok(f) => f,
        Err(_) => {
            return Terminal::Abandon {
                reason: "oauth discovery found no protected-resource metadata",
            }
        }
    };
    let Ok(json) = serde_json::from_slice::<Box<RawValue>>(&found.body) else {
        // `Discovery` only selects a validated JSON object; this cannot happen, and if it
        // did, posting nothing is the documented outcome of a failed discovery.
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
            format!("found no metadata ({e}); nothing is posted, as in the Go client"),
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
        let t = terminal(Ok(Found {
            status: 200,
            headers: h,
            body: Bytes::from_static(br#"{"resource":"https://mcp.example/mcp"}"#),
            url: "https://mcp.example/.well-known/oauth-protected-resource/mcp".into(),
        }));
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

    #[test]
    fn no_document_means_nothing_is_posted() {
        assert!(matches!(
            terminal(Err(DiscoveryError::NoCandidates)),
            Terminal::Abandon { .. }
        ));
    }
}
