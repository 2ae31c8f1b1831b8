use std::collections::HashMap;

use super::*;

const MCP: &str = "https://mcp.example/public/mcp";
const PATH: &str = "https://mcp.example/.well-known/oauth-protected-resource/public/mcp";
const ROOT: &str = "https://mcp.example/.well-known/oauth-protected-resource";
const DOC: &str = r#"{"resource":"https://mcp.example/public/mcp"}"#;

/// A canned answer.
#[derive(Clone, Debug)]
enum Reply {
    Http(u16, Vec<(&'static str, String)>, Vec<u8>),
    Fail(TransportError),
}

fn http(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
    Reply::Http(
        status,
        headers.iter().map(|(n, v)| (*n, v.to_string())).collect(),
        body.as_bytes().to_vec(),
    )
}

fn challenge(url: &str) -> Reply {
    http(
        401,
        &[(
            "www-authenticate",
            &format!(r#"Bearer realm="mcp", resource_metadata="{url}""#),
        )],
        "",
    )
}

/// Drives a discovery against `server` ("METHOD url" → reply; anything else is a 404 with
/// no body); returns the outcome and the requests made.
fn run(
    mcp: &str,
    server: &[(&str, Reply)],
) -> (Result<Found, DiscoveryError>, Vec<String>, Discovery) {
    let server: HashMap<String, Reply> = server
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let mut d = Discovery::new(&mcp.parse().unwrap());
    let mut log = Vec::new();
    for _ in 0..200 {
        match d.poll() {
            Step::Done(r) => return (r, log, d),
            Step::Request {
                method,
                uri,
                headers,
                timeout,
            } => {
                assert_eq!(headers[ACCEPT], "application/json");
                let key = format!("{method} {uri}");
                assert!(timeout == PROBE_TIMEOUT || timeout == FETCH_TIMEOUT);
                log.push(key.clone());
                match server.get(&key).cloned().unwrap_or(http(404, &[], "")) {
                    Reply::Http(status, hs, body) => {
                        let mut h = HeaderMap::new();
                        for (n, v) in hs {
                            h.append(n, HeaderValue::from_str(&v).unwrap());
                        }
                        d.handle_response(status, &h, &body);
                    }
                    Reply::Fail(e) => d.handle_error(e),
                }
            }
        }
    }
    panic!("no end after 200 steps: {log:?}");
}

fn get(u: &str) -> String {
    format!("GET {u}")
}

fn probes() -> Vec<String> {
    vec![format!("POST {MCP}"), get(MCP)]
}

fn with_probes(rest: &[&str]) -> Vec<String> {
    let mut v = probes();
    v.extend(rest.iter().map(|u| get(u)));
    v
}

#[test]
fn probe_then_path_specific_then_root() {
    let (r, log, d) = run(MCP, &[]);
    assert_eq!(log, with_probes(&[PATH, ROOT]));
    assert_eq!(
        r.unwrap_err(),
        DiscoveryError::EmptyBody {
            origin: "https://mcp.example".into(),
            status: 404
        }
    );
    let sources: Vec<_> = d.attempts().iter().map(|a| a.source).collect();
    assert_eq!(
        sources,
        [
            "www_authenticate_probe",
            "www_authenticate_probe",
            "well_known_path",
            "well_known_root"
        ]
    );
    assert_eq!(
        d.attempts()[0].error.as_deref(),
        Some("oauth discovery: WWW-Authenticate probe POST got status 404")
    );
}

/// Probes get 1 s, fetches 5 s; when every candidate timed out, Go's second pass tries
/// each again with 2, 4 and 8 s (the caller's budget cuts these further).
#[test]
fn probes_get_one_second_fetches_five_and_all_timeouts_a_second_pass() {
    let mut d = Discovery::new(&MCP.parse().unwrap());
    let mut timeouts = Vec::new();
    while let Step::Request { timeout, .. } = d.poll() {
        timeouts.push(timeout.as_secs());
        d.handle_error(TransportError::Timeout);
    }
    assert_eq!(timeouts, [1, 1, 5, 5, 2, 4, 8, 2, 4, 8]);
}

#[test]
fn path_404_falls_back_to_root() {
    let (r, log, d) = run(MCP, &[(&get(ROOT), http(200, &[], DOC))]);
    let found = r.unwrap();
    assert_eq!(log, with_probes(&[PATH, ROOT]));
    assert_eq!((found.status, &found.body[..]), (200, DOC.as_bytes()));
    assert_eq!(found.url, ROOT);
    assert_eq!(d.attempts()[3].error, None);
    assert!(d.attempts()[2]
        .error
        .as_deref()
        .unwrap()
        .contains("empty body"));
}

#[test]
fn probe_candidate_is_tried_first_even_cross_origin() {
    let prm = "https://auth.other.example/prm";
    let (r, log, d) = run(
        MCP,
        &[
            (&format!("POST {MCP}"), challenge(prm)),
            (&get(prm), http(200, &[("x-up", "1")], DOC)),
        ],
    );
    assert_eq!(log, vec![format!("POST {MCP}"), get(prm)]);
    let found = r.unwrap();
    assert_eq!(found.headers["x-up"], "1");
    assert_eq!(d.attempts()[1].source, "www_authenticate");
}

#[test]
fn get_probe_runs_when_post_probe_is_not_usable() {
    let prm = "https://mcp.example/meta";
    for post in [
        http(405, &[], ""),
        http(401, &[], ""),
        http(
            401,
            &[(
                "www-authenticate",
                "Basic realm=\"x\", resource_metadata=\"https://mcp.example/meta\"",
            )],
            "",
        ),
        http(
            401,
            &[("www-authenticate", "Bearer resource_metadata=\"/meta\"")],
            "",
        ),
        http(
            200,
            &[(
                "www-authenticate",
                "Bearer resource_metadata=\"https://mcp.example/meta\"",
            )],
            "",
        ),
        Reply::Fail(TransportError::Timeout),
    ] {
        let (r, log, _) = run(
            MCP,
            &[
                (&format!("POST {MCP}"), post),
                (&get(MCP), challenge(prm)),
                (&get(prm), http(200, &[], DOC)),
            ],
        );
        assert_eq!(log, vec![format!("POST {MCP}"), get(MCP), get(prm)]);
        assert!(r.is_ok());
    }
}

#[test]
fn probe_error_messages_name_the_method_and_never_the_header() {
    let secret = "Bearer resource_metadata=\"relative/secret-token\"";
    let (_, _, d) = run(
        MCP,
        &[
            (
                &format!("POST {MCP}"),
                http(401, &[("www-authenticate", secret)], ""),
            ),
            (&get(MCP), http(401, &[], "")),
        ],
    );
    let e0 = d.attempts()[0].error.clone().unwrap();
    assert_eq!(
        e0,
        "oauth discovery: WWW-Authenticate probe POST: resource_metadata must be absolute"
    );
    assert!(d.attempts()[1]
        .error
        .as_deref()
        .unwrap()
        .contains("GET: header missing"));
}

#[test]
fn a_second_www_authenticate_field_is_looked_at() {
    let prm = "https://mcp.example/meta";
    let mut h = HeaderMap::new();
    h.append(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"x\""),
    );
    h.append(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer resource_metadata=\"https://mcp.example/meta\""),
    );
    assert_eq!(
        probe_verdict(&Method::POST, 401, &h).unwrap().to_string(),
        prm
    );
}

#[test]
fn candidates_are_deduplicated_in_order() {
    // The probe names the root URL: it is tried once, first, as `www_authenticate`.
    let (r, log, d) = run(MCP, &[(&format!("POST {MCP}"), challenge(ROOT))]);
    assert!(r.is_err());
    assert_eq!(log, vec![format!("POST {MCP}"), get(ROOT), get(PATH)]);
    assert_eq!(d.attempts()[1].source, "www_authenticate");
    assert_eq!(d.attempts()[2].source, "well_known_path");
}

#[test]
fn root_mcp_url_has_only_the_root_candidate() {
    let (_, log, _) = run("https://mcp.example/", &[]);
    assert_eq!(
        log,
        vec![
            "POST https://mcp.example/".to_string(),
            get("https://mcp.example/"),
            get(ROOT)
        ]
    );
}

#[test]
fn no_candidates_without_an_absolute_mcp_url() {
    let (r, log, _) = run("/mcp", &[]);
    assert!(log.is_empty());
    assert_eq!(r.unwrap_err(), DiscoveryError::NoCandidates);
}

#[test]
fn server_errors_fall_back_with_or_without_body() {
    let (r, log, _) = run(
        MCP,
        &[
            (&get(PATH), http(503, &[], "<html>busy</html>")),
            (&get(ROOT), http(200, &[], DOC)),
        ],
    );
    assert!(r.is_ok());
    assert_eq!(log, with_probes(&[PATH, ROOT]));
    let (r, _, d) = run(
        MCP,
        &[
            (&get(PATH), http(500, &[], "")),
            (&get(ROOT), http(200, &[], DOC)),
        ],
    );
    assert!(r.is_ok());
    assert_eq!(
        d.attempts()[2].error.as_deref(),
        Some("oauth discovery empty body from https://mcp.example (status 500)")
    );
}

#[test]
fn last_candidate_404_with_valid_metadata_is_selected() {
    let (r, _, _) = run(MCP, &[(&get(ROOT), http(404, &[], DOC))]);
    assert_eq!(r.unwrap().status, 404);
}

#[test]
fn valid_metadata_with_401_is_accepted() {
    let (r, log, _) = run(MCP, &[(&get(PATH), http(401, &[], DOC))]);
    assert_eq!(r.unwrap().status, 401);
    assert_eq!(log, with_probes(&[PATH]));
}

#[test]
fn invalid_json_with_200_stops() {
    let (r, log, _) = run(
        MCP,
        &[
            (&get(PATH), http(200, &[], "<html>")),
            (&get(ROOT), http(200, &[], DOC)),
        ],
    );
    assert_eq!(log, with_probes(&[PATH]));
    let e = r.unwrap_err();
    assert!(matches!(
        e,
        DiscoveryError::InvalidMetadata {
            status: 200,
            error: PrmdError::InvalidJson(_),
            ..
        }
    ));
    assert!(e.to_string().starts_with(
        "oauth discovery invalid metadata from https://mcp.example (status 200): not JSON"
    ));
}

#[test]
fn invalid_metadata_on_the_last_candidate_stops_even_with_5xx() {
    let (r, _, _) = run(MCP, &[(&get(ROOT), http(502, &[], "{}"))]);
    assert!(matches!(
        r.unwrap_err(),
        DiscoveryError::InvalidMetadata {
            status: 502,
            error: PrmdError::ResourceMissing,
            ..
        }
    ));
}

#[test]
fn empty_body_with_200_stops() {
    let (r, log, _) = run(MCP, &[(&get(PATH), http(200, &[], ""))]);
    assert_eq!(log, with_probes(&[PATH]));
    assert!(matches!(
        r.unwrap_err(),
        DiscoveryError::EmptyBody { status: 200, .. }
    ));
}

#[test]
fn oversize_body_stops_unless_a_fallback_status() {
    let big = "x".repeat(MAX_BODY + 1);
    let (r, log, _) = run(MCP, &[(&get(PATH), http(200, &[], &big))]);
    assert_eq!(log.len(), 3);
    let e = r.unwrap_err();
    assert!(matches!(
        e,
        DiscoveryError::BodyTooLarge { status: 200, .. }
    ));
    assert!(e.to_string().contains("exceeds 1048576 bytes"), "{e}");
    let (r, _, _) = run(
        MCP,
        &[
            (&get(PATH), http(404, &[], &big)),
            (&get(ROOT), http(200, &[], DOC)),
        ],
    );
    assert!(r.is_ok());
    // Exactly MAX_BODY is allowed (and here not JSON).
    let at_limit = format!("{DOC}{}", " ".repeat(MAX_BODY - DOC.len()));
    let (r, _, _) = run(MCP, &[(&get(PATH), http(200, &[], &at_limit))]);
    assert!(r.is_ok());
}

#[test]
fn transport_errors_move_on_and_the_last_one_is_reported() {
    let (r, log, d) = run(
        MCP,
        &[
            (&get(PATH), Reply::Fail(TransportError::Dns)),
            (&get(ROOT), Reply::Fail(TransportError::Timeout)),
        ],
    );
    assert_eq!(log, with_probes(&[PATH, ROOT]));
    let e = r.unwrap_err();
    assert_eq!(
        e.to_string(),
        "oauth discovery: GET https://mcp.example failed (timeout)"
    );
    assert_eq!(d.attempts()[2].status, None);
}

#[test]
fn same_origin_redirect_is_followed() {
    let moved = "https://MCP.example:443/meta?v=1";
    let (r, log, d) = run(
        MCP,
        &[
            (&get(PATH), http(302, &[("location", "/meta?v=1")], "")),
            (
                "GET https://mcp.example/meta?v=1",
                http(307, &[("location", moved)], ""),
            ),
            (&get(moved), http(200, &[], DOC)),
        ],
    );
    assert_eq!(
        log,
        with_probes(&[PATH, "https://mcp.example/meta?v=1", moved])
    );
    assert_eq!(r.unwrap().url, moved);
    assert_eq!(d.attempts()[2].status, Some(302));
    assert_eq!(d.attempts()[4].source, "well_known_path");
}

#[test]
fn cross_origin_redirect_is_blocked_and_the_next_candidate_tried() {
    for location in [
        "https://evil.example/meta",
        "http://mcp.example/meta",
        "https://mcp.example:8443/meta",
        "//evil.example/meta",
    ] {
        let (r, log, d) = run(
            MCP,
            &[
                (&get(PATH), http(301, &[("location", location)], "")),
                (&get(ROOT), http(200, &[], DOC)),
            ],
        );
        assert!(r.is_ok());
        assert_eq!(log, with_probes(&[PATH, ROOT]), "{location}");
        assert_eq!(
            d.attempts()[2].error.as_deref(),
            Some("oauth discovery: redirect blocked: destination must use the discovery origin https://mcp.example")
        );
    }
}

#[test]
fn probe_redirects_stay_on_the_mcp_origin_and_post_becomes_get_on_303() {
    let prm = "https://mcp.example/meta";
    let (r, log, _) = run(
        MCP,
        &[
            (
                &format!("POST {MCP}"),
                http(303, &[("location", "/login")], ""),
            ),
            ("GET https://mcp.example/login", challenge(prm)),
            (&get(prm), http(200, &[], DOC)),
        ],
    );
    assert!(r.is_ok());
    assert_eq!(
        log,
        vec![
            format!("POST {MCP}"),
            "GET https://mcp.example/login".into(),
            get(prm)
        ]
    );
    let (_, log, d) = run(
        MCP,
        &[(
            &format!("POST {MCP}"),
            http(308, &[("location", "https://evil.example/")], ""),
        )],
    );
    assert_eq!(log[1], get(MCP));
    assert!(d.attempts()[0]
        .error
        .as_deref()
        .unwrap()
        .contains("redirect blocked"));
}

#[test]
fn redirect_limit_is_ten() {
    let loop_to_self = http(302, &[("location", PATH)], "");
    let (r, log, d) = run(MCP, &[(&get(PATH), loop_to_self)]);
    // 1 + 10 followed requests to PATH, then ROOT.
    assert_eq!(log.iter().filter(|l| **l == get(PATH)).count(), 11);
    assert_eq!(log.last().unwrap(), &get(ROOT));
    assert!(r.is_err());
    assert_eq!(
        d.attempts()[12].error.as_deref(),
        Some("oauth discovery: stopped after 10 redirects from https://mcp.example")
    );
}

#[test]
fn unusable_location_fails_the_candidate() {
    let (r, log, _) = run(
        MCP,
        &[
            (&get(PATH), http(302, &[("location", "mailto:x@y")], "")),
            (&get(ROOT), http(200, &[], DOC)),
        ],
    );
    assert!(r.is_ok());
    assert_eq!(log, with_probes(&[PATH, ROOT]));
}

#[test]
fn a_3xx_without_location_or_not_followable_is_an_answer() {
    let (r, _, _) = run(MCP, &[(&get(PATH), http(304, &[("location", "/x")], DOC))]);
    assert_eq!(r.unwrap().status, 304);
    let (r, _, _) = run(MCP, &[(&get(PATH), http(302, &[], DOC))]);
    assert_eq!(r.unwrap().status, 302);
}

#[test]
fn userinfo_never_reaches_attempts_or_found() {
    let mcp = "https://user:secret@mcp.example/public/mcp";
    let (r, log, d) = run(mcp, &[(&get(ROOT), http(200, &[], DOC))]);
    assert_eq!(log[0], format!("POST {mcp}"));
    assert!(!r.unwrap().url.contains("secret"));
    assert!(d.attempts().iter().all(|a| !a.url.contains("secret")));
}

#[test]
fn stray_reports_and_repeated_polls_are_harmless() {
    let mut d = Discovery::new(&MCP.parse().unwrap());
    let a = format!("{:?}", d.poll());
    let b = format!("{:?}", d.poll());
    assert_eq!(a, b);
    d.handle_error(TransportError::ConnectionRefused);
    d.handle_error(TransportError::ConnectionRefused);
    d.handle_error(TransportError::ConnectionRefused);
    d.handle_error(TransportError::ConnectionRefused);
    assert!(matches!(d.poll(), Step::Done(Err(_))));
    d.handle_response(200, &HeaderMap::new(), DOC.as_bytes());
    assert!(matches!(d.poll(), Step::Done(Err(_))));
    assert_eq!(d.attempts().len(), 4);
}

/// The operator's static headers go on every discovery request to the MCP server's origin
/// (probe, well-known candidates, a same-origin redirect), and on none to another origin,
/// even one the server's challenge named.
#[test]
fn static_headers_only_on_the_mcp_origin() {
    let mut statics = HeaderMap::new();
    statics.insert("x-gateway-key", HeaderValue::from_static("k1"));
    let mut d = Discovery::new(&MCP.parse().unwrap()).with_static_headers(statics);
    let elsewhere = "https://meta.other.example/prm";
    let mut seen: Vec<(String, Option<String>)> = Vec::new();
    for _ in 0..20 {
        let Step::Request {
            method,
            uri,
            headers,
            ..
        } = d.poll()
        else {
            break;
        };
        assert_eq!(headers[ACCEPT], "application/json");
        let key = format!("{method} {uri}");
        let gw = headers
            .get("x-gateway-key")
            .map(|v| v.to_str().unwrap().to_string());
        seen.push((key.clone(), gw));
        if key == format!("POST {MCP}") {
            let mut h = HeaderMap::new();
            h.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_str(&format!(r#"Bearer resource_metadata="{elsewhere}""#))
                    .unwrap(),
            );
            d.handle_response(401, &h, b"");
        } else if key == get(PATH) {
            let mut h = HeaderMap::new();
            h.insert(LOCATION, HeaderValue::from_static("/moved"));
            d.handle_response(307, &h, b"");
        } else if key == get("https://mcp.example/moved") {
            d.handle_response(200, &HeaderMap::new(), DOC.as_bytes());
        } else {
            d.handle_response(404, &HeaderMap::new(), b"");
        }
    }
    let k1 = Some("k1".to_string());
    assert_eq!(
        seen,
        vec![
            (format!("POST {MCP}"), k1.clone()),
            (get(elsewhere), None),
            (get(PATH), k1.clone()),
            (get("https://mcp.example/moved"), k1),
        ]
    );
    assert!(matches!(d.poll(), Step::Done(Ok(_))));
}
