//! The `harpoon` channel through the engine: routing, advertising, and a `call_target`
//! whose hops are fetches the adapter performs.

use super::*;
use crate::harpoon::{Registry, Server, Settings, TargetSpec};

fn with_harpoon(targets: &[(&str, &str)]) -> EngineConfig {
    let mut c = cfg();
    let mut r = Registry::new(true);
    for (l, u) in targets {
        r.register(TargetSpec::config(l, u)).unwrap();
    }
    c.harpoon = Some(Server::new(
        r,
        Settings {
            client_version: "1.2.3".into(),
            ..Settings::default()
        },
    ));
    c
}

fn server_info(h: &mut H) -> String {
    let (_, req) = h.take_poll().unwrap();
    req.headers()["x-tunnel-mcp-server-info"]
        .to_str()
        .unwrap()
        .to_string()
}

fn call_cmd(rid: &str, args: &str) -> String {
    command(
        rid,
        &format!(
            r#","channel":"harpoon","command_type":"jsonrpc","jsonrpc":{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"call_target","arguments":{args}}}}}"#
        ),
    )
}

fn fetch(w: &McpWork) -> (String, String, Bytes) {
    match &w.op {
        McpOp::Fetch {
            method, uri, body, ..
        } => (method.to_string(), uri.to_string(), body.clone()),
        other => panic!("not a fetch: {other:?}"),
    }
}

fn respond(h: &mut H, cmd: CommandId, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let mut hm = HeaderMap::new();
    for (k, v) in headers {
        hm.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let event = McpEvent::Response {
        status,
        headers: hm,
        body: Bytes::copy_from_slice(body),
    };
    h.e.handle(h.now, Input::Mcp { cmd, event });
    h.collect();
}

fn result_of(h: &mut H) -> serde_json::Value {
    let posts = h.take_posts();
    assert_eq!(posts.len(), 1, "one terminal post");
    let b = body_json(&posts[0].1);
    assert_eq!(b["channel"], "harpoon");
    assert_eq!(b["resp_type"], "jsonrpc_response");
    b["resp_json"]["result"].clone()
}

#[test]
fn harpoon_is_advertised_only_with_targets_and_when_polled() {
    let mut h = H::new(with_harpoon(&[("api", "https://h/api")]));
    assert_eq!(
        server_info(&mut h),
        r#"{"version":1,"channels":[{"name":"main"},{"name":"harpoon","proc_affinity":true}]}"#
    );
    let mut h = H::new(with_harpoon(&[]));
    assert_eq!(
        server_info(&mut h),
        r#"{"version":1,"channels":[{"name":"main"}]}"#
    );
    let mut c = with_harpoon(&[("api", "https://h/api")]);
    c.poll_channels = Some(vec![ChannelName::main()]);
    let mut h = H::new(c);
    assert_eq!(
        server_info(&mut h),
        r#"{"version":1,"channels":[{"name":"main"}]}"#
    );
}

#[test]
fn harpoon_without_targets_gets_gos_400() {
    let mut h = H::new(with_harpoon(&[]));
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 5, "tools/list", r#","channel":"harpoon""#)]),
    )));
    assert!(h.take_mcp().is_empty());
    let (_, req) = h.take_posts().pop().unwrap();
    let v = body_json(&req);
    assert_eq!(v["resp_code"], 400);
    assert_eq!(
        v["resp_json"]["error"]["message"],
        r#"Bad Request: unsupported channel "harpoon""#
    );
}

#[test]
fn tools_list_and_initialize_are_answered_without_io() {
    let mut h = H::new(with_harpoon(&[("api", "https://h/api")]));
    h.answer_poll(Ok(resp(
        200,
        &batch(&[
            rpc("i", 1, "initialize", r#","channel":"harpoon""#),
            rpc("t", 2, "tools/list", r#","channel":"harpoon""#),
        ]),
    )));
    assert!(h.take_mcp().is_empty(), "nothing leaves the process");
    let mut posts: Vec<serde_json::Value> =
        h.take_posts().iter().map(|p| body_json(&p.1)).collect();
    posts.sort_by_key(|p| p["request_id"].as_str().unwrap().to_string());
    assert_eq!(posts.len(), 2);
    let init = &posts[0];
    assert_eq!(init["resp_code"], 200);
    assert_eq!(init["resp_json"]["result"]["serverInfo"]["name"], "harpoon");
    let list = &posts[1];
    let names: Vec<_> = list["resp_json"]["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"call_target".to_string()));
}

#[test]
fn call_target_hops_are_fetches_and_a_blocked_redirect_sends_nothing_more() {
    let mut h = H::new(with_harpoon(&[
        ("a", "http://127.0.0.1:1/a"),
        ("b", "http://127.0.0.1:1/b"),
    ]));
    h.answer_poll(Ok(resp(
        200,
        &batch(&[call_cmd(
            "c",
            r#"{"label":"a","method":"POST","body":"hi"}"#,
        )]),
    )));
    let w = h.take_mcp();
    assert_eq!(w.len(), 1);
    assert_eq!(
        fetch(&w[0]),
        (
            "POST".into(),
            "http://127.0.0.1:1/a".into(),
            Bytes::from("hi")
        )
    );
    let cmd = w[0].cmd;
    // 307 to the other registered target: replayed there.
    respond(&mut h, cmd, 307, &[("location", "/b")], b"");
    let w = h.take_mcp();
    assert_eq!(
        fetch(&w[0]),
        (
            "POST".into(),
            "http://127.0.0.1:1/b".into(),
            Bytes::from("hi")
        )
    );
    // Then a redirect off the allowlist: no further request, a tool error.
    respond(
        &mut h,
        cmd,
        302,
        &[("location", "http://evil.example/")],
        b"",
    );
    assert!(h.take_mcp().is_empty());
    let r = result_of(&mut h);
    assert_eq!(r["isError"], true);
    assert_eq!(r["content"][0]["text"], "label a: redirect blocked");
    let ev = h.events();
    assert!(ev.iter().any(|e| matches!(e, Event::HarpoonCall { .. })));
}

#[test]
fn oversized_bodies_are_cut_at_limit_plus_one_and_refused() {
    let mut h = H::new(with_harpoon(&[("a", "http://127.0.0.1:1/a")]));
    h.answer_poll(Ok(resp(
        200,
        &batch(&[call_cmd(
            "c",
            r#"{"label":"a","method":"GET","max_response_bytes":10}"#,
        )]),
    )));
    let cmd = h.take_mcp()[0].cmd;
    let mut hm = HeaderMap::new();
    hm.insert("content-type", "text/plain".parse().unwrap());
    h.e.handle(
        h.now,
        Input::Mcp {
            cmd,
            event: McpEvent::Head {
                status: 200,
                headers: hm,
            },
        },
    );
    h.e.handle(
        h.now,
        Input::Mcp {
            cmd,
            event: McpEvent::Body(Bytes::from(vec![b'x'; 8])),
        },
    );
    h.collect();
    assert!(h.take_posts().is_empty());
    h.e.handle(
        h.now,
        Input::Mcp {
            cmd,
            event: McpEvent::Body(Bytes::from(vec![b'x'; 8])),
        },
    );
    h.collect();
    // The exchange is closed at once, without waiting for the rest of the body.
    assert!(h
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelMcp { cmd: c } if *c == cmd)));
    let r = result_of(&mut h);
    assert_eq!(
        r["content"][0]["text"],
        "label a: response exceeds size limit"
    );
}

#[test]
fn a_slow_target_is_ended_by_the_calls_own_timeout() {
    let mut h = H::new(with_harpoon(&[("a", "http://127.0.0.1:1/a")]));
    h.answer_poll(Ok(resp(
        200,
        &batch(&[call_cmd(
            "c",
            r#"{"label":"a","method":"GET","timeout_ms":200}"#,
        )]),
    )));
    let cmd = h.take_mcp()[0].cmd;
    h.advance(Duration::from_millis(199));
    assert!(h.take_posts().is_empty());
    h.advance(Duration::from_millis(1));
    assert!(h
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelMcp { cmd: c } if *c == cmd)));
    let r = result_of(&mut h);
    assert_eq!(r["content"][0]["text"], "label a: request failed");
    // A late answer changes nothing.
    respond(&mut h, cmd, 200, &[], b"late");
    assert!(h.take_posts().is_empty());
}

#[test]
fn metadata_addresses_are_refused_by_the_guard_before_any_request() {
    let mut h = H::new(with_harpoon(&[(
        "meta",
        "http://169.254.169.254/latest/meta-data",
    )]));
    h.answer_poll(Ok(resp(
        200,
        &batch(&[call_cmd("c", r#"{"label":"meta","method":"GET"}"#)]),
    )));
    assert!(h.take_mcp().is_empty());
    let r = result_of(&mut h);
    assert_eq!(r["content"][0]["text"], "label meta: request failed");
    let lines: Vec<String> = h
        .events()
        .iter()
        .filter(|e| matches!(e, Event::HarpoonCall { .. }))
        .map(|e| e.describe("").1)
        .collect();
    assert!(
        lines[0].contains("address guard refused 169.254.169.254 (link-local address)"),
        "{lines:?}"
    );
}

#[test]
fn oauth_discovery_on_the_harpoon_channel_is_refused() {
    let mut h = H::new(with_harpoon(&[("api", "https://h/api")]));
    let cmd = command(
        "o",
        r#","channel":"harpoon","command_type":"oauth_discovery""#,
    );
    h.answer_poll(Ok(resp(200, &batch(&[cmd]))));
    assert!(h.take_mcp().is_empty());
    let (_, req) = h.take_posts().pop().unwrap();
    let v = body_json(&req);
    assert_eq!(v["resp_code"], 400);
    assert_eq!(v["resp_json"]["error"]["code"], "unsupported_channel");
}

/// Answers every discovery fetch from a tiny fake server until the command is posted.
fn serve_discovery(h: &mut H, routes: &[(&str, &str)]) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..20 {
        let work = h.take_mcp();
        if work.is_empty() {
            break;
        }
        for w in work {
            let (_, uri, _) = fetch(&w);
            seen.push(uri.clone());
            match routes.iter().find(|(u, _)| *u == uri) {
                Some((_, body)) => respond(
                    h,
                    w.cmd,
                    200,
                    &[("content-type", "application/json")],
                    body.as_bytes(),
                ),
                None => respond(h, w.cmd, 404, &[], b""),
            }
        }
    }
    seen
}

/// `oauth_discovery` with Harpoon: the authorization server's metadata is fetched too,
/// its hosts admitted by the rules are registered (the channel becomes routable and is
/// advertised), and a second discovery registers nothing new (§1.14, no Go duplicates).
#[test]
fn oauth_discovery_registers_discovered_hosts_once() {
    let mut h = H::new(with_harpoon(&[]));
    h.e.set_oauth_target("http://127.0.0.1:9/mcp".parse().unwrap());
    let mut infos = Vec::new();
    let prmd =
        r#"{"resource":"http://127.0.0.1:9/mcp","authorization_servers":["http://127.0.0.1:9"]}"#;
    let meta = r#"{"issuer":"http://127.0.0.1:9","token_endpoint":"http://127.0.0.1:9/token","authorization_endpoint":"http://127.0.0.1:9/authorize","jwks_uri":"https://idp.example.com/jwks"}"#;
    let routes = [
        (
            "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp",
            prmd,
        ),
        (
            "http://127.0.0.1:9/.well-known/oauth-authorization-server",
            meta,
        ),
    ];
    for round in 0..2 {
        let cmds = [command(
            &format!("oauth{round}"),
            r#","channel":"main","command_type":"oauth_discovery""#,
        )];
        let (id, req) = h.take_poll().expect("a poll");
        infos.push(
            req.headers()["x-tunnel-mcp-server-info"]
                .to_str()
                .unwrap()
                .to_string(),
        );
        let wall = h.wall();
        h.e.handle_poll_response(h.now, wall, id, Ok(resp(200, &batch(&cmds))));
        h.collect();
        let seen = serve_discovery(&mut h, &routes);
        assert!(
            seen.contains(&routes[1].0.to_string()),
            "metadata fetched: {seen:?}"
        );
        let posts = h.take_posts();
        let b = body_json(&posts.last().unwrap().1);
        assert_eq!(b["resp_type"], "oauth_discovery_response", "{b}");
        let registered: Vec<String> = h
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::HarpoonHost {
                    target: Some(t), ..
                } => Some(t.label.clone()),
                _ => None,
            })
            .collect();
        if round == 0 {
            assert_eq!(
                registered,
                [
                    "oauth-prmd-resource-0",
                    "oauth-prmd-auth-server-0",
                    "oauth-prmd-source-0",
                    "oauth-auth-server-metadata-0",
                    "oauth-issuer-0",
                    "oauth-token-endpoint-0"
                ]
            );
        } else {
            assert!(registered.is_empty(), "{registered:?}");
        }
    }
    let reg = &h.e.config().harpoon.as_ref().unwrap().registry;
    assert_eq!(reg.len(), 6);
    assert!(reg
        .targets()
        .iter()
        .all(|t| !t.exact.contains("authorize") && !t.exact.contains("idp.example.com")));
    assert!(h.e.harpoon_routable());
    assert_eq!(infos[0], r#"{"version":1,"channels":[{"name":"main"}]}"#);
    // The poll after the registration advertises the channel.
    assert_eq!(
        server_info(&mut h),
        r#"{"version":1,"channels":[{"name":"main"},{"name":"harpoon","proc_affinity":true}]}"#
    );
}

/// http URLs without plaintext allowed are refused; the refusal is said once at info level,
/// then only at debug level on every later discovery.
#[test]
fn refusals_are_said_once_then_at_debug_level() {
    let mut c = cfg();
    c.harpoon = Some(Server::new(Registry::new(false), Settings::default()));
    let mut h = H::new(c);
    h.e.set_oauth_target("http://127.0.0.1:9/mcp".parse().unwrap());
    let prmd = r#"{"resource":"http://127.0.0.1:9/mcp"}"#;
    let routes = [(
        "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp",
        prmd,
    )];
    let mut levels = Vec::new();
    for round in 0..2 {
        let cmds = [command(
            &format!("oauth{round}"),
            r#","channel":"main","command_type":"oauth_discovery""#,
        )];
        let (id, _) = h.take_poll().expect("a poll");
        let wall = h.wall();
        h.e.handle_poll_response(h.now, wall, id, Ok(resp(200, &batch(&cmds))));
        h.collect();
        serve_discovery(&mut h, &routes);
        h.take_posts();
        levels.push(
            h.events()
                .iter()
                .filter_map(|e| match e {
                    Event::HarpoonHost { level, line, .. } => {
                        assert!(line.contains("https"), "{line}");
                        Some(*level)
                    }
                    _ => None,
                })
                .collect::<Vec<_>>(),
        );
    }
    assert!(!levels[0].is_empty());
    assert!(
        levels[0].iter().all(|l| *l == log::Level::Info),
        "{levels:?}"
    );
    assert!(
        levels[1].iter().all(|l| *l == log::Level::Debug),
        "{levels:?}"
    );
    assert!(h.e.config().harpoon.as_ref().unwrap().registry.is_empty());
}
