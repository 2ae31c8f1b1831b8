//! The startup checks inside the engine: the MCP probe, then OAuth discovery, and the
//! `/readyz` reasons they give, in the Go client's order.

use super::*;

fn started(wait: Duration) -> H {
    let mut c = cfg();
    c.bindings[0].extra_headers = vec![("x-gw".parse().unwrap(), "general".parse().unwrap())];
    c.discovery_extra_headers = vec![("x-disc".parse().unwrap(), "d".parse().unwrap())];
    // As an adapter does: the checks start before the engine's first actions are taken.
    let now = Instant::now();
    let mut e = Engine::new(c, 7, now).unwrap();
    e.set_oauth_target("http://mcp.example/mcp".parse().unwrap());
    e.start_checks(now, StartupChecks { wait });
    let mut h = H {
        e,
        now,
        actions: Vec::new(),
    };
    h.collect();
    h
}

fn readiness(h: &H) -> Result<Option<String>, String> {
    h.e.readiness_with_note(h.now)
}

fn answer(h: &mut H, cmd: CommandId, status: u16, headers: &[(&str, &str)], body: &str) {
    let r = resp_h(status, headers, body);
    let event = McpEvent::Response {
        status: r.status,
        headers: r.headers,
        body: r.body,
    };
    h.e.handle(h.now, Input::Mcp { cmd, event });
    h.collect();
}

/// Answers every startup discovery request with `reply` until discovery is over.
fn run_discovery(h: &mut H, reply: impl Fn(&McpWork) -> (u16, &'static str)) -> Vec<McpWork> {
    let mut seen = Vec::new();
    for _ in 0..20 {
        let w: Vec<McpWork> = h
            .take_mcp()
            .into_iter()
            .filter(|w| w.cmd == DISCOVERY_ID)
            .collect();
        let Some(w) = w.into_iter().next() else {
            break;
        };
        let (status, body) = reply(&w);
        answer(
            h,
            DISCOVERY_ID,
            status,
            &[("content-type", "application/json")],
            body,
        );
        seen.push(w);
    }
    seen
}

fn uri(w: &McpWork) -> String {
    match &w.op {
        McpOp::Fetch { uri, .. } => uri.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn probe_then_discovery_with_go_reasons_in_go_order() {
    let mut h = started(Duration::ZERO);
    assert_eq!(readiness(&h), Err("oauth discovery pending".into()));
    let probe = h.take_mcp();
    assert_eq!(probe.len(), 1);
    assert_eq!(probe[0].cmd, PROBE_ID);
    let McpOp::Send {
        message, headers, ..
    } = &probe[0].op
    else {
        panic!("{:?}", probe[0].op)
    };
    assert!(message.get().contains(r#""method":"initialize""#));
    // The probe is a discovery request: both static header lists apply.
    assert_eq!(headers["x-gw"], "general");
    assert_eq!(headers["x-disc"], "d");
    answer(
        &mut h,
        PROBE_ID,
        401,
        &[("www-authenticate", r#"Bearer realm="x""#)],
        "",
    );
    assert!(h
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelMcp { cmd } if *cmd == PROBE_ID)));
    assert_eq!(
        h.e.startup_report().probe.status(),
        "auth-required",
        "{:?}",
        h.e.startup_report().probe
    );
    assert_eq!(readiness(&h), Err("oauth discovery pending".into()));
    let seen = run_discovery(&mut h, |w| match uri(w).as_str() {
        "http://mcp.example/.well-known/oauth-protected-resource/mcp" => (
            200,
            r#"{"resource":"http://mcp.example/mcp","authorization_servers":["https://as.example"]}"#,
        ),
        "https://as.example/.well-known/oauth-authorization-server" => (
            200,
            r#"{"issuer":"https://as.example","token_endpoint":"https://as.example/t"}"#,
        ),
        _ => (404, "{}"),
    });
    // Static headers on the MCP origin only; never to the authorization server.
    for w in &seen {
        let McpOp::Fetch { headers, uri, .. } = &w.op else {
            unreachable!()
        };
        let on_mcp = uri.host() == Some("mcp.example");
        assert_eq!(headers.get("x-disc").is_some(), on_mcp, "{uri}");
        assert_eq!(headers["user-agent"], "oai-tunnel-client/1.2.3");
    }
    assert!(seen
        .iter()
        .any(|w| uri(w).starts_with("https://as.example/")));
    let r = h.e.startup_report().oauth.clone().unwrap();
    assert_eq!(r.metadata_source(), "well_known");
    assert_eq!(
        readiness(&h),
        Ok(Some(
            "mcp initialize requires auth: HTTP 401 Unauthorized to initialize (WWW-Authenticate scheme: Bearer)"
                .into()
        ))
    );
}

#[test]
fn a_failed_discovery_is_not_ready_and_both_checks_run_again() {
    let mut h = started(Duration::ZERO);
    let probe = h.take_mcp();
    answer(
        &mut h,
        probe[0].cmd,
        200,
        &[("content-type", "application/json")],
        r#"{"jsonrpc":"2.0","id":0,"result":{}}"#,
    );
    run_discovery(&mut h, |w| {
        if uri(w).ends_with("/mcp") && !uri(w).contains(".well-known") {
            (405, "")
        } else {
            (500, "boom")
        }
    });
    let r = readiness(&h).unwrap_err();
    assert!(r.starts_with("oauth discovery failed: "), "{r}");
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::StartupCheck { line, .. } if line.starts_with("OAuth discovery failed"))));
    h.advance(super::super::startup::RECHECK);
    let again = h.take_mcp();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].cmd, PROBE_ID);
    // While the recheck runs, the last outcome is what readiness says.
    assert!(readiness(&h)
        .unwrap_err()
        .starts_with("oauth discovery failed: "));
}

#[test]
fn not_advertised_is_ready() {
    let mut h = started(Duration::ZERO);
    let probe = h.take_mcp();
    answer(
        &mut h,
        probe[0].cmd,
        200,
        &[("content-type", "application/json")],
        r#"{"jsonrpc":"2.0","id":0,"result":{}}"#,
    );
    run_discovery(&mut h, |_| (404, "not found"));
    assert_eq!(readiness(&h), Ok(None));
    assert_eq!(
        h.e.startup_report()
            .oauth
            .as_ref()
            .unwrap()
            .metadata_source(),
        "not_advertised"
    );
}

#[test]
fn startup_wait_holds_the_first_poll_until_the_probe_settles() {
    let mut h = started(Duration::from_secs(10));
    assert!(h.take_poll().is_none(), "the first poll waits");
    let probe = h.take_mcp();
    h.e.handle(
        h.now,
        Input::Mcp {
            cmd: probe[0].cmd,
            event: McpEvent::Error(TransportError::ConnectionRefused),
        },
    );
    h.collect();
    assert!(h.take_poll().is_none());
    assert_eq!(readiness(&h), Err("oauth discovery pending".into()));
    h.advance(Duration::from_millis(50));
    let retry = h.take_mcp();
    assert_eq!(retry.len(), 1, "retried after 50 ms");
    answer(
        &mut h,
        PROBE_ID,
        200,
        &[("content-type", "application/json")],
        r#"{"jsonrpc":"2.0","id":0,"result":{}}"#,
    );
    assert!(
        h.take_poll().is_some(),
        "polling starts once the probe settled"
    );
}

#[test]
fn a_stdio_main_skips_the_probe_and_discovery_is_optional() {
    let mut c = cfg();
    c.bindings[0].kind = BindingKind::Stdio;
    let mut h = H::new(c);
    let now = h.now;
    h.e.start_checks(now, StartupChecks::default());
    h.collect();
    assert!(h.take_mcp().is_empty());
    assert_eq!(readiness(&h), Ok(None));
    let r = h.e.startup_report().oauth.clone().unwrap();
    assert_eq!(
        r.disabled.as_deref(),
        Some(r#"oauth discovery disabled for transport "stdio""#)
    );
}

/// Go §2.12 `TestHarpoonOnlyDisabledMainDoesNotBootstrapOAuthE2E`: when `main` is not
/// polled, startup never contacts it and readiness is not held by it.
#[test]
fn a_main_channel_that_is_not_polled_is_never_contacted() {
    let mut c = cfg();
    let other: ChannelName = "tools".parse().unwrap();
    c.bindings.push(Binding {
        channel: other.clone(),
        kind: BindingKind::Http,
        extra_headers: Vec::new(),
    });
    c.poll_channels = Some(vec![other]);
    let now = Instant::now();
    let mut e = Engine::new(c, 7, now).unwrap();
    e.set_oauth_target("http://mcp.example/mcp".parse().unwrap());
    e.start_checks(now, StartupChecks::default());
    let mut h = H {
        e,
        now,
        actions: Vec::new(),
    };
    h.collect();
    assert!(h.take_mcp().is_empty(), "nothing sent to main");
    assert_eq!(readiness(&h), Ok(None));
}
