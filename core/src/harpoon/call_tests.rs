use super::*;
use crate::harpoon::registry::TargetSpec;
use serde_json::json;

fn registry(plain: bool, targets: &[(&str, &str)]) -> Registry {
    let mut r = Registry::new(plain);
    for (l, u) in targets {
        r.register(TargetSpec::config(l, u)).unwrap();
    }
    r
}

fn settings() -> Settings {
    Settings {
        client_version: "9.9.9".into(),
        ..Settings::default()
    }
}

fn start(r: &Registry, args: serde_json::Value) -> Result<Call, Box<Outcome>> {
    Call::start(r, &settings(), &args)
}

fn err(r: &Registry, args: serde_json::Value) -> (String, String, String) {
    let o = start(r, args).unwrap_err();
    let e = o.result.unwrap_err();
    (o.error_label, e.to_string(), o.metrics_label)
}

fn request(call: &mut Call) -> HopRequest {
    match call.poll() {
        Some(Step::Request(r)) => *r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn done(call: &mut Call) -> Outcome {
    match call.poll() {
        Some(Step::Done(o)) => *o,
        other => panic!("expected the outcome, got {other:?}"),
    }
}

fn redirect_to(loc: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(http::header::LOCATION, loc.parse().unwrap());
    h
}

#[test]
fn validation_follows_go_order_and_texts() {
    let r = registry(false, &[("api", "https://h/api")]);
    let e = |a| err(&r, a);
    assert_eq!(
        e(json!({"label": 5})),
        (
            "unknown".into(),
            "invalid parameters".into(),
            "__unknown__".into()
        )
    );
    assert_eq!(e(json!({"label": " "})).1, "label is required");
    assert_eq!(
        e(json!({"label": "unknown-a", "method": "GET"})),
        (
            "unknown-a".into(),
            "unknown target".into(),
            "__unknown__".into()
        )
    );
    assert_eq!(
        e(json!({"label": "api", "method": "DELETE"})),
        ("api".into(), "invalid method".into(), "api".into())
    );
    for (t, m) in [
        (50, "timeout must be at least 100ms"),
        (0, "timeout must be positive"),
        (-1, "timeout must be positive"),
        (130000, "timeout must be at most 120000ms"),
    ] {
        assert_eq!(
            e(json!({"label": "api", "method": "GET", "timeout_ms": t})).1,
            m
        );
    }
    assert_eq!(
        e(json!({"label": "api", "method": "GET", "max_response_bytes": 0})).1,
        "max_response_bytes must be positive"
    );
    assert_eq!(
        e(json!({"label": "api", "method": "GET", "max_response_bytes": 102401})).1,
        "max_response_bytes must be less than or equal to 102400"
    );
    assert_eq!(
        e(json!({"label": "api", "method": "GET", "max_redirects": -1})).1,
        "max_redirects must be non-negative"
    );
    assert_eq!(
        e(json!({"label": "api", "method": "GET", "max_redirects": 6})).1,
        "max_redirects must be less than or equal to 5"
    );
    assert_eq!(
        e(json!({"label": "api", "method": "POST", "body": "abcd", "max_response_bytes": 3})).1,
        "request body exceeds size limit"
    );
    assert_eq!(
        e(json!({"label": "api", "method": "GET", "timeout_ms": 100.5})).1,
        "invalid parameters"
    );
}

#[test]
fn a_lower_case_method_is_accepted_and_the_request_is_exact() {
    let r = registry(false, &[("api", "https://user:pw@H/api?x=1#frag")]);
    let mut c = start(
        &r,
        json!({"label": "api", "method": "post", "body": "{}", "headers": {"Cookie": "c", "X-Trace-Id": "t"}}),
    )
    .unwrap();
    let req = request(&mut c);
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.uri.to_string(), "https://h/api?x=1");
    assert_eq!(req.headers["user-agent"], "oai-tunnel-client/9.9.9");
    assert_eq!(req.headers["authorization"], "Basic dXNlcjpwdw==");
    assert!(req.headers.get("cookie").is_none());
    assert_eq!(&req.body[..], b"{}");
    assert!(c.poll().is_none(), "one request at a time");
    let mut h = HeaderMap::new();
    h.insert("content-type", "Text/Plain; charset=utf-8".parse().unwrap());
    c.handle_response(200, &h, b"pong");
    let o = done(&mut c);
    let resp = o.result.unwrap();
    assert_eq!(
        (resp.status, &resp.body[..], resp.body_size),
        (200, &b"pong"[..], 4)
    );
    assert_eq!(resp.content_type, "text/plain");
    assert_eq!(
        resp.headers["Content-Type"],
        vec!["Text/Plain; charset=utf-8"]
    );
}

#[test]
fn oversized_response_is_an_error_not_a_truncation() {
    let r = registry(false, &[("api", "https://h/api")]);
    let mut c = start(
        &r,
        json!({"label": "api", "method": "GET", "max_response_bytes": 4}),
    )
    .unwrap();
    request(&mut c);
    assert_eq!(c.max_response_bytes(), 4);
    c.handle_response(200, &HeaderMap::new(), b"12345");
    let o = done(&mut c);
    assert_eq!(
        o.result.clone().unwrap_err().to_string(),
        "response exceeds size limit"
    );
    assert_eq!(o.outcome(), "response_too_large");
}

#[test]
fn redirect_outside_the_allowlist_ends_the_call_before_any_request() {
    let r = registry(false, &[("api", "https://h/api")]);
    let mut c = start(&r, json!({"label": "api", "method": "GET"})).unwrap();
    request(&mut c);
    c.handle_response(302, &redirect_to("https://evil.example/steal?x=1"), b"");
    let o = done(&mut c);
    let e = o.result.unwrap_err();
    assert_eq!(e.to_string(), "redirect blocked");
    assert!(!e.to_string().contains("evil"));
    assert!(e.cause().contains("https://evil.example not in allow list"));
    assert!(!e.cause().contains("steal"));
    assert!(c.poll().is_none());
}

#[test]
fn allowed_redirect_switches_target_and_rewrites_the_method() {
    let r = registry(false, &[("a", "https://h/a"), ("b", "https://h/b")]);
    let mut c = start(
        &r,
        json!({"label": "a", "method": "POST", "body": "x", "headers": {"Authorization": "Bearer t"}}),
    )
    .unwrap();
    request(&mut c);
    c.handle_response(303, &redirect_to("/b"), b"");
    let req = request(&mut c);
    assert_eq!((req.method.clone(), req.label.as_str()), (Method::GET, "b"));
    assert!(req.body.is_empty());
    assert_eq!(req.headers["referer"], "https://h/a");
    assert_eq!(
        req.headers["authorization"], "Bearer t",
        "same host keeps credentials"
    );
    c.handle_response(200, &HeaderMap::new(), b"ok");
    assert_eq!(done(&mut c).result.unwrap().body, b"ok");
}

#[test]
fn cross_host_redirect_drops_credentials_and_307_replays() {
    let r = registry(false, &[("a", "https://h/a"), ("b", "https://other/b")]);
    let mut c = start(
        &r,
        json!({"label": "a", "method": "PUT", "body": "x", "headers": {"Authorization": "Bearer t"}}),
    )
    .unwrap();
    request(&mut c);
    c.handle_response(307, &redirect_to("https://OTHER/b"), b"");
    let req = request(&mut c);
    assert_eq!(
        (req.method.clone(), &req.body[..]),
        (Method::PUT, &b"x"[..])
    );
    assert!(req.headers.get("authorization").is_none());
}

#[test]
fn redirect_limits_and_scheme_flips() {
    let r = registry(true, &[("a", "https://h/a"), ("loop", "https://h/loop")]);
    let mut c = start(
        &r,
        json!({"label": "loop", "method": "GET", "max_redirects": 1}),
    )
    .unwrap();
    request(&mut c);
    c.handle_response(302, &redirect_to("https://h/loop"), b"");
    request(&mut c);
    c.handle_response(302, &redirect_to("https://h/loop"), b"");
    assert_eq!(
        done(&mut c).result.unwrap_err().to_string(),
        "redirect limit exceeded"
    );

    let mut c = start(&r, json!({"label": "a", "method": "GET"})).unwrap();
    request(&mut c);
    c.handle_response(301, &redirect_to("http://h/a"), b"");
    assert_eq!(
        done(&mut c).result.unwrap_err().to_string(),
        "redirect blocked: scheme mismatch (allowlisted https, redirected to http)"
    );

    // follow_redirects=false returns the 3xx, its Location rewritten when registered.
    let mut c = start(
        &r,
        json!({"label": "a", "method": "GET", "follow_redirects": false}),
    )
    .unwrap();
    request(&mut c);
    c.handle_response(302, &redirect_to("https://h/loop"), b"");
    let resp = done(&mut c).result.unwrap();
    assert_eq!(resp.status, 302);
    assert_eq!(resp.headers["Location"], vec!["harpoon://loop"]);

    // A caller's max_redirects 0 forbids any redirect.
    let mut c = start(
        &r,
        json!({"label": "a", "method": "GET", "max_redirects": 0}),
    )
    .unwrap();
    request(&mut c);
    c.handle_response(302, &redirect_to("https://h/loop"), b"");
    assert_eq!(
        done(&mut c).result.unwrap_err().to_string(),
        "redirect limit exceeded"
    );
}

#[test]
fn path_escapes_in_redirects_are_refused() {
    let r = registry(false, &[("a", "https://h/a/b"), ("s", "https://h/secret")]);
    for loc in [
        "/a/%2e%2e/secret",
        "https://h/a/%252e%252e/secret",
        "https://h\\@evil/",
        "file:///etc/passwd",
        "data:text/plain,x",
        "//evil/a/b",
    ] {
        let mut c = start(&r, json!({"label": "a", "method": "GET"})).unwrap();
        request(&mut c);
        c.handle_response(302, &redirect_to(loc), b"");
        let e = done(&mut c).result.unwrap_err();
        assert!(e.to_string().starts_with("redirect blocked"), "{loc}: {e}");
    }
}

#[test]
fn transport_failures_and_timeouts_are_request_failed() {
    let r = registry(false, &[("a", "https://h/a")]);
    let mut c = start(
        &r,
        json!({"label": "a", "method": "GET", "timeout_ms": 100}),
    )
    .unwrap();
    assert_eq!(c.timeout(), Duration::from_millis(100));
    request(&mut c);
    c.handle_timeout(false);
    let o = done(&mut c);
    let e = o.result.clone().unwrap_err();
    assert_eq!(
        (e.to_string(), e.cause()),
        ("request failed".into(), "timeout".into())
    );
    assert_eq!(o.status_class(), "none");

    let mut c = start(&r, json!({"label": "a", "method": "GET"})).unwrap();
    request(&mut c);
    c.handle_error(TransportError::ConnectionReset, true);
    assert_eq!(
        done(&mut c).result.unwrap_err().to_string(),
        "response read failed"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a target answers with a redirect, the next request (if any) goes to an
        /// allowlisted URL exactly.
        #[test]
        fn every_hop_is_allowlisted(loc in "[a-zA-Z0-9:/?#%.@\\\\+=&_-]{0,40}", status in prop::sample::select(vec![301u16, 302, 303, 307, 308])) {
            let r = registry(true, &[("a", "https://h/a"), ("b", "http://h/b?x=1")]);
            let mut c = start(&r, json!({"label": "a", "method": "GET"})).unwrap();
            request(&mut c);
            if let Ok(v) = loc.parse() {
                let mut h = HeaderMap::new();
                h.insert(http::header::LOCATION, v);
                c.handle_response(status, &h, b"");
                match c.poll() {
                    Some(Step::Request(req)) => {
                        let u = crate::harpoon::url::HUrl::parse(&req.uri.to_string()).unwrap();
                        prop_assert!(["https://h/a", "http://h/b?x=1"].contains(&u.normalized().as_str()), "{}", req.uri);
                    }
                    Some(Step::Done(_)) => {}
                    None => prop_assert!(false, "no step"),
                }
            }
        }

        /// Bodies over the limit never succeed; bodies within it are returned whole.
        #[test]
        fn size_limit_is_exact(limit in 1usize..64, len in 0usize..80) {
            let r = registry(false, &[("a", "https://h/a")]);
            let mut c = start(&r, json!({"label": "a", "method": "GET", "max_response_bytes": limit})).unwrap();
            request(&mut c);
            let body = vec![b'x'; len.min(limit + 1)];
            c.handle_response(200, &HeaderMap::new(), &body);
            let o = done(&mut c);
            match o.result {
                Ok(resp) => prop_assert!(len <= limit && resp.body.len() == len),
                Err(e) => prop_assert!(len > limit && e == CallError::ResponseTooLarge),
            }
        }
    }
}
