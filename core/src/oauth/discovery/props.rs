//! Property tests: whatever the peers answer, a discovery ends within a bounded number of
//! requests and never follows a redirect off its chain's origin.

use proptest::prelude::*;

use super::*;

const DOC: &str = r#"{"resource":"https://mcp.example/public/mcp"}"#;

#[derive(Clone, Debug)]
enum Reply {
    Http(u16, Vec<(&'static str, String)>, Vec<u8>),
    Fail(TransportError),
}

/// Hosts: `mcp.example` (the server), `other.example` (a probe may point there: a
/// legitimate cross-origin candidate), `evil.example` (only ever in a `Location`).
fn location() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/meta".to_string()),
        Just("meta/../x".to_string()),
        Just("https://mcp.example/a".to_string()),
        Just("https://mcp.example:443/b".to_string()),
        Just("https://MCP.EXAMPLE/c".to_string()),
        Just("http://mcp.example/a".to_string()),
        Just("https://mcp.example:8443/a".to_string()),
        Just("https://evil.example/a".to_string()),
        Just("//evil.example/a".to_string()),
        Just("https://other.example/x".to_string()),
        Just("https://user@evil.example/a".to_string()),
        Just(String::new()),
        "[ -~]{0,20}",
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    let status = prop_oneof![
        Just(200u16),
        Just(401),
        Just(404),
        Just(500),
        Just(503),
        301u16..=308,
        100u16..=999,
    ];
    let body = prop_oneof![
        Just(DOC.to_string()),
        Just(String::new()),
        Just("{}".to_string()),
        Just("<html>".to_string()),
        ".{0,20}",
    ];
    let www = prop_oneof![
        Just(None),
        Just(Some(
            "Bearer resource_metadata=\"https://other.example/prm\"".to_string()
        )),
        Just(Some(
            "Bearer resource_metadata=\"https://mcp.example/prm\"".to_string()
        )),
        "[ -~]{0,30}".prop_map(Some),
    ];
    prop_oneof![
        1 => prop_oneof![Just(TransportError::Timeout), Just(TransportError::Dns)]
            .prop_map(Reply::Fail),
        6 => (status, proptest::option::of(location()), www, body).prop_map(|(s, l, w, b)| {
            let mut hs = Vec::new();
            if let Some(l) = l {
                hs.push(("location", l));
            }
            if let Some(w) = w {
                hs.push(("www-authenticate", w));
            }
            Reply::Http(s, hs, b.into_bytes())
        }),
    ]
}

/// Requests per chain at most 1 + MAX_REDIRECTS; chains: two probes and three candidates.
const MAX_REQUESTS: usize = 5 * (1 + MAX_REDIRECTS as usize);

proptest! {
    #[test]
    fn discovery_terminates_and_redirects_stay_on_origin(
        replies in proptest::collection::vec(reply(), 1..80),
        // Every response a same-origin redirect: only the redirect limit ends the chains.
        storm in any::<bool>(),
        mcp in prop_oneof![
            Just("https://mcp.example/public/mcp"),
            Just("https://mcp.example"),
            Just("http://mcp.example:8080/a/"),
        ],
    ) {
        let mut d = Discovery::new(&mcp.parse().unwrap());
        let mut prev: Option<(Uri, bool)> = None; // last request, and whether it redirected
        let mut n = 0;
        loop {
            match d.poll() {
                Step::Done(r) => {
                    if let Ok(f) = r {
                        prop_assert!(prmd::validate(&f.body).is_ok());
                    }
                    break;
                }
                Step::Request { uri, .. } => {
                    n += 1;
                    prop_assert!(n <= MAX_REQUESTS, "more than {} requests", MAX_REQUESTS);
                    let host = uri.host().unwrap_or("").to_ascii_lowercase();
                    prop_assert!(host != "evil.example", "request to {}", uri);
                    // A request following a redirect response is either the next hop (same
                    // origin) or the start of a new chain (a probe or candidate URL).
                    if let Some((p, true)) = &prev {
                        let starts: Vec<String> = urls::well_known(&mcp.parse().unwrap())
                            .into_iter()
                            .map(|(u, _)| u.to_string())
                            .chain([
                                mcp.parse::<Uri>().unwrap().to_string(),
                                "https://other.example/prm".into(),
                                "https://mcp.example/prm".into(),
                            ])
                            .collect();
                        prop_assert!(
                            Origin::of(&uri) == Origin::of(p) || starts.contains(&uri.to_string()),
                            "{} after a redirect from {}", uri, p
                        );
                    }
                    let reply = if storm {
                        Reply::Http(302, vec![("location", "/loop".into())], Vec::new())
                    } else {
                        replies[(n - 1) % replies.len()].clone()
                    };
                    let redirected = match reply {
                        Reply::Http(status, hs, body) => {
                            let mut h = HeaderMap::new();
                            for (name, v) in hs {
                                if let Ok(v) = HeaderValue::from_str(&v) {
                                    h.append(name, v);
                                }
                            }
                            d.handle_response(status, &h, &body);
                            is_redirect(status) && h.contains_key(LOCATION)
                        }
                        Reply::Fail(e) => {
                            d.handle_error(e);
                            false
                        }
                    };
                    prev = Some((uri, redirected));
                }
            }
        }
        prop_assert_eq!(d.attempts().len(), n);
    }
}
