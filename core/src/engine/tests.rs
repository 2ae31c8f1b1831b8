//! Engine rules, each proven with a fake clock and a fixed jitter seed.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderMap;

use super::*;
use crate::classify::TransportError;

const T0_WALL: u64 = 1_800_000_000;

struct H {
    e: Engine,
    now: Instant,
    actions: Vec<Action>,
}

fn cfg() -> EngineConfig {
    let mut c = EngineConfig::new(
        "https://cp.example:8443/ignored/path".parse().unwrap(),
        "tunnel_abc",
        "sk-test",
    );
    c.url_path = "/gw/dev/".into();
    c.instance_id = "0123456789abcdef0123456789abcdef".into();
    c.client_version = "1.2.3".into();
    c
}

fn resp(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: HeaderMap::new(),
        body: Bytes::from(body.to_string()),
    }
}

fn resp_h(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    HttpResponse {
        status,
        headers: h,
        body: Bytes::from(body.to_string()),
    }
}

fn command(rid: &str, extra: &str) -> String {
    format!(
        r#"{{"request_id":"{rid}","shard_token":"shard-{rid}","created_at":"2026-01-01T00:00:00Z"{extra}}}"#
    )
}

fn rpc(rid: &str, id: u32, method: &str, extra: &str) -> String {
    command(
        rid,
        &format!(
            r#","command_type":"jsonrpc","jsonrpc":{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}{extra}"#
        ),
    )
}

fn batch(cmds: &[String]) -> String {
    format!(r#"{{"commands":[{}]}}"#, cmds.join(","))
}

impl H {
    fn new(c: EngineConfig) -> H {
        let now = Instant::now();
        let e = Engine::new(c, 7, now).unwrap();
        let mut h = H {
            e,
            now,
            actions: Vec::new(),
        };
        h.collect();
        h
    }
    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0_WALL)
    }
    fn collect(&mut self) {
        while let Some(a) = self.e.poll_action() {
            self.actions.push(a);
        }
    }
    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.e.handle_timeout(self.now);
        self.collect();
    }
    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.e.poll_event()).collect()
    }
    fn take_poll(&mut self) -> Option<(PollId, http::Request<()>)> {
        let i = self
            .actions
            .iter()
            .position(|a| matches!(a, Action::Poll { .. }))?;
        match self.actions.remove(i) {
            Action::Poll { id, request, .. } => Some((id, request)),
            _ => None,
        }
    }
    fn take_posts(&mut self) -> Vec<(PostId, http::Request<Bytes>)> {
        let mut out = Vec::new();
        self.actions.retain_mut(|_| true);
        let mut rest = Vec::new();
        for a in self.actions.drain(..) {
            match a {
                Action::Post { id, request, .. } => out.push((id, request)),
                other => rest.push(other),
            }
        }
        self.actions = rest;
        out
    }
    fn take_mcp(&mut self) -> Vec<McpWork> {
        let mut out = Vec::new();
        let mut rest = Vec::new();
        for a in self.actions.drain(..) {
            match a {
                Action::StartMcp(w) => out.push(w),
                other => rest.push(other),
            }
        }
        self.actions = rest;
        out
    }
    fn answer_poll(&mut self, r: Result<HttpResponse, TransportError>) {
        let (id, _) = self.take_poll().expect("a poll is outstanding");
        let wall = self.wall();
        self.e.handle_poll_response(self.now, wall, id, r);
        self.collect();
    }
    fn post_ok(&mut self, id: PostId) {
        let wall = self.wall();
        self.e
            .handle_post_result(self.now, wall, id, Ok(resp(200, r#"{"status":"ok"}"#)));
        self.collect();
    }
    fn post_result(&mut self, id: PostId, r: Result<HttpResponse, PostError>) {
        let wall = self.wall();
        self.e.handle_post_result(self.now, wall, id, r);
        self.collect();
    }
    fn mcp_json(&mut self, cmd: CommandId, status: u16, body: &str) {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        self.e.handle_mcp_head(self.now, cmd, status, &h);
        self.e.handle_mcp_body(self.now, cmd, body.as_bytes());
        self.e.handle_mcp_end(self.now, cmd);
        self.collect();
    }
}

fn body_json(r: &http::Request<Bytes>) -> serde_json::Value {
    serde_json::from_slice(r.body()).unwrap()
}

#[test]
fn poll_request_uses_prefix_plural_path_limit_timeout_and_identity_headers() {
    let mut h = H::new(cfg());
    let (_, req) = h.take_poll().unwrap();
    assert_eq!(
        req.uri().to_string(),
        "https://cp.example:8443/gw/dev/v1/tunnels/tunnel_abc/poll?limit=20&timeout_ms=30000"
    );
    let hd = req.headers();
    assert_eq!(hd["authorization"], "Bearer sk-test");
    assert!(hd["authorization"].is_sensitive());
    assert_eq!(hd["user-agent"], "oai-tunnel-client/1.2.3");
    assert_eq!(hd["x-tunnel-client-name"], "oai-tunnel-client");
    assert_eq!(hd["x-tunnel-client-version"], "1.2.3");
    assert_eq!(
        hd["x-tunnel-client-instance-id"],
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        hd["x-tunnel-mcp-server-info"],
        r#"{"version":1,"channels":[{"name":"main"}]}"#
    );
    assert_eq!(hd["accept"], "application/json");
}

#[test]
fn metadata_is_fetched_once_at_start() {
    let h = H::new(cfg());
    let n = h
        .actions
        .iter()
        .filter(|a| matches!(a, Action::FetchMetadata { .. }))
        .count();
    assert_eq!(n, 1);
}

#[test]
fn channel_params_are_sorted_and_sent_only_with_an_allowlist() {
    let mut c = cfg();
    c.bindings = vec![
        Binding {
            channel: ChannelName::canonical("zeta").unwrap(),
            kind: BindingKind::Stdio,
            extra_headers: vec![],
        },
        Binding {
            channel: ChannelName::main(),
            kind: BindingKind::Http,
            extra_headers: vec![],
        },
    ];
    c.poll_channels = Some(vec![
        ChannelName::canonical("zeta").unwrap(),
        ChannelName::main(),
    ]);
    let mut h = H::new(c);
    let (_, req) = h.take_poll().unwrap();
    assert!(req
        .uri()
        .to_string()
        .ends_with("/poll?channel=main&channel=zeta&limit=20&timeout_ms=30000"));
    assert_eq!(
        req.headers()["x-tunnel-mcp-server-info"],
        r#"{"version":1,"channels":[{"name":"zeta","proc_affinity":true},{"name":"main"}]}"#
    );
}

#[test]
fn operator_extra_headers_cannot_override_reserved_headers() {
    let mut c = cfg();
    c.extra_headers = vec![
        (
            "authorization".parse().unwrap(),
            "Bearer evil".parse().unwrap(),
        ),
        ("x-debug".parse().unwrap(), "1".parse().unwrap()),
    ];
    let mut h = H::new(c);
    let (_, req) = h.take_poll().unwrap();
    assert_eq!(req.headers()["authorization"], "Bearer sk-test");
    assert_eq!(req.headers()["x-debug"], "1");
}

/// A protected header in the operator's list is not silently dropped: one event per name
/// at start (the adapter logs it as a warning), none for ordinary headers.
#[test]
fn protected_extra_header_is_reported_once_at_start() {
    let mut c = cfg();
    c.extra_headers = vec![
        (
            "x-tunnel-client-instance-id".parse().unwrap(),
            "x".parse().unwrap(),
        ),
        ("x-debug".parse().unwrap(), "1".parse().unwrap()),
        (
            "X-Tunnel-Client-Instance-Id".parse().unwrap(),
            "y".parse().unwrap(),
        ),
    ];
    let mut h = H::new(c);
    let ignored: Vec<String> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ProtectedHeaderIgnored { name } => Some(name),
            _ => None,
        })
        .collect();
    assert_eq!(ignored, vec!["x-tunnel-client-instance-id".to_string()]);
    let (_, req) = h.take_poll().unwrap();
    assert_eq!(
        req.headers()["x-tunnel-client-instance-id"],
        "0123456789abcdef0123456789abcdef"
    );
    h.advance(Duration::from_secs(1));
    assert!(!h
        .events()
        .iter()
        .any(|e| matches!(e, Event::ProtectedHeaderIgnored { .. })));
}

#[test]
fn limit_is_min_of_free_prefetch_slots_and_25() {
    let mut c = cfg();
    c.max_inflight = 100;
    let mut h = H::new(c);
    let (_, req) = h.take_poll().unwrap();
    assert!(req.uri().query().unwrap().contains("limit=25"));

    let mut c = cfg();
    c.max_inflight = 3;
    c.max_concurrent = 1;
    let mut h = H::new(c);
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 1, "ping", ""), rpc("b", 2, "ping", "")]),
    )));
    // One command running (max_concurrent 1), one queued: both count, 3 - 2 = 1 free.
    let (_, req) = h.take_poll().unwrap();
    assert!(
        req.uri().query().unwrap().contains("limit=1"),
        "{}",
        req.uri()
    );
}

#[test]
fn no_poll_while_prefetch_buffer_is_full() {
    let mut c = cfg();
    c.max_inflight = 2;
    c.max_concurrent = 1;
    let mut h = H::new(c);
    h.answer_poll(Ok(resp(
        200,
        &batch(&[
            rpc("a", 1, "ping", ""),
            rpc("b", 2, "ping", ""),
            rpc("c", 3, "ping", ""),
        ]),
    )));
    assert!(
        h.take_poll().is_none(),
        "buffer holds 2 queued commands: no poll"
    );
    let work = h.take_mcp();
    assert_eq!(work.len(), 1);
    h.mcp_json(work[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    // A command being posted still holds its slot (issue #22): no poll until its POST ends.
    assert!(h.take_poll().is_none(), "the posting command still counts");
    let posts = h.take_posts();
    assert_eq!(posts.len(), 1);
    h.post_ok(posts[0].0);
    // The service sent 3 for a limit of 2: b and c still fill both slots.
    assert!(h.take_poll().is_none(), "b and c still hold both slots");
    let work = h.take_mcp();
    assert_eq!(work.len(), 1);
    h.mcp_json(work[0].cmd, 200, r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
    let posts = h.take_posts();
    assert_eq!(posts.len(), 1);
    h.post_ok(posts[0].0);
    // One slot freed: a poll with limit 1 goes out.
    let (_, req) = h.take_poll().expect("poll after space frees");
    assert!(req.uri().query().unwrap().contains("limit=1"));
}

#[test]
fn poll_204_polls_again_immediately() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(204, "")));
    assert!(h.take_poll().is_some());
}

#[test]
fn transient_poll_failures_back_off_from_200ms_doubling_to_10s() {
    let mut h = H::new(cfg());
    let mut delays = Vec::new();
    for _ in 0..10 {
        h.answer_poll(Err(TransportError::ConnectionRefused));
        let ev = h.events();
        let d = ev.iter().find_map(|e| match e {
            Event::PollFailed { retry_in, .. } => Some(*retry_in),
            _ => None,
        });
        delays.push(d.unwrap());
        assert!(
            h.take_poll().is_none(),
            "no poll before the backoff elapses"
        );
        h.advance(delays.last().copied().unwrap());
    }
    assert_eq!(delays[0], Duration::from_millis(200));
    assert!(delays
        .iter()
        .all(|d| *d >= Duration::from_millis(200) && *d <= Duration::from_secs(10)));
    assert!(delays[9] > Duration::from_secs(1));
}

#[test]
fn retry_after_is_a_floor_capped_at_60s() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp_h(503, &[("retry-after", "7")], "")));
    h.advance(Duration::from_millis(6999));
    assert!(h.take_poll().is_none());
    h.advance(Duration::from_millis(1));
    assert!(h.take_poll().is_some());

    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp_h(429, &[("retry-after", "3600")], "")));
    h.advance(Duration::from_secs(60));
    assert!(h.take_poll().is_some(), "Retry-After is capped at 60 s");
}

#[test]
fn auth_rejection_is_an_operator_state_not_a_tight_loop() {
    let mut h = H::new(cfg());
    let body = r#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
    h.answer_poll(Ok(resp(401, body)));
    let ev = h.events();
    let retry = ev
        .iter()
        .find_map(|e| match e {
            Event::AuthRejected {
                status: 401,
                retry_in,
                ..
            } => Some(*retry_in),
            _ => None,
        })
        .expect("auth event");
    assert!(
        retry >= Duration::from_secs(1),
        "slow backoff, got {retry:?}"
    );
    let ready = h.e.readiness(h.now).unwrap_err();
    assert!(
        // The hint names the setting in the caller's words (here the core's plain default).
        ready.contains("401") && ready.contains("set the API key setting"),
        "{ready}"
    );
    // No tight loop: nothing is sent before the backoff elapses.
    h.advance(retry - Duration::from_millis(1));
    assert!(h.take_poll().is_none());
    h.advance(Duration::from_millis(1));
    // Recovery clears the state.
    h.answer_poll(Ok(resp(204, "")));
    assert!(h.e.readiness(h.now).is_ok());
}

/// A 401/403 without a known error code names the fix in the caller's words (the core
/// knows no flags or environment variables).
#[test]
fn auth_rejection_without_a_code_names_the_callers_fix() {
    let mut c = cfg();
    c.auth_fix = "set MY_APP_KEY".into();
    let mut h = H::new(c);
    h.answer_poll(Ok(resp(403, "")));
    let ready = h.e.readiness(h.now).unwrap_err();
    assert!(
        ready.contains("HTTP 403") && ready.contains("fix: set MY_APP_KEY"),
        "{ready}"
    );
    let (_, line) = h
        .events()
        .iter()
        .find(|e| matches!(e, Event::AuthRejected { .. }))
        .map(|e| h.e.describe(e))
        .expect("auth event");
    assert!(line.contains("fix: set MY_APP_KEY"), "{line}");
}

#[test]
fn auth_events_are_rate_limited_to_one_a_minute() {
    let mut h = H::new(cfg());
    let mut events = 0;
    for _ in 0..5 {
        h.answer_poll(Ok(resp(403, "")));
        events += h
            .events()
            .iter()
            .filter(|e| matches!(e, Event::AuthRejected { .. }))
            .count();
        // Jump only as far as the backoff asks (well under a minute for the first retries),
        // timer by timer (readiness has its own), until the next poll leaves.
        let start = h.now;
        while !h.actions.iter().any(|a| matches!(a, Action::Poll { .. })) {
            let at = h.e.poll_timeout().unwrap();
            let d = at - h.now;
            h.advance(d);
        }
        if h.now - start >= Duration::from_secs(60) {
            break;
        }
    }
    assert_eq!(events, 1);
}

#[test]
fn malformed_poll_body_backs_off_and_keeps_polling() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, r#"{"commands":"#)));
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::PollFailed {
            error: PollError::MalformedBody(_),
            ..
        }
    )));
    h.advance(Duration::from_millis(200));
    assert!(h.take_poll().is_some());
}

#[test]
fn unknown_command_type_is_reported_and_skipped() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[command("x", r#","command_type":"teleport""#)]),
    )));
    assert!(h.events().iter().any(|e| matches!(e, Event::UnknownCommandType { command_type, .. } if command_type == "teleport")));
    assert!(h.take_mcp().is_empty() && h.take_posts().is_empty());
}

#[test]
fn redelivered_request_id_still_in_flight_is_dropped_not_run_twice() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 1, "tools/call", ""), rpc("a", 1, "tools/call", "")]),
    )));
    assert!(h.events().iter().any(|e| matches!(e,
        Event::CommandDropped { request_id: Some(r), reason: DropReason::DuplicateInFlight } if r == "a")));
    let work = h.take_mcp();
    assert_eq!(work.len(), 1, "the tool call runs once");
    h.mcp_json(work[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    let posts = h.take_posts();
    assert_eq!(posts.len(), 1);
    h.post_ok(posts[0].0);
    // Once finished, the same request_id is accepted again (the service decides).
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "tools/call", "")]))));
    assert_eq!(h.take_mcp().len(), 1);
}

#[test]
fn poll_success_carries_created_at_of_accepted_commands_only() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[
            rpc("a", 1, "tools/list", ""),
            rpc("a", 2, "tools/list", ""),
            command("u", r#","command_type":"teleport""#),
            r#"{"request_id":"n","shard_token":"s","command_type":"jsonrpc","jsonrpc":{"jsonrpc":"2.0","id":3,"method":"ping"}}"#.to_string(),
        ]),
    )));
    let stamps: Vec<Vec<String>> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PollSucceeded { created_at, .. } => Some(created_at),
            _ => None,
        })
        .collect();
    // One stamp: the duplicate and the unknown type are not taken; `n` has none.
    assert_eq!(stamps, vec![vec!["2026-01-01T00:00:00Z".to_string()]]);
}

#[test]
fn expired_command_is_dropped_before_mcp_and_never_posted() {
    let mut c = cfg();
    c.max_concurrent = 1;
    let mut h = H::new(c);
    h.answer_poll(Ok(resp(
        200,
        &batch(&[
            rpc("a", 1, "ping", ""),
            rpc("b", 2, "ping", r#","response_timeout":"100ms""#),
        ]),
    )));
    let first = h.take_mcp();
    assert_eq!(first.len(), 1);
    h.advance(Duration::from_millis(100));
    assert!(h.events().iter().any(|e| matches!(e, Event::DeadlineExpired { request_id, stage: "queued", .. } if request_id == "b")));
    h.mcp_json(first[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    assert!(h.take_mcp().is_empty(), "b never reaches MCP");
    let posts = h.take_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(body_json(&posts[0].1)["request_id"], "a");
}

#[test]
fn zero_second_timeout_is_already_expired() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 1, "ping", r#","response_timeout":"0s""#)]),
    )));
    assert!(h.take_mcp().is_empty());
    assert!(h.take_posts().is_empty());
}

#[test]
fn deadline_is_anchored_on_poll_receipt_not_created_at() {
    let mut h = H::new(cfg());
    // created_at far in the past must not matter.
    let c = r#"{"request_id":"a","shard_token":"s","created_at":"2001-01-01T00:00:00Z","command_type":"jsonrpc","response_timeout":"5s","jsonrpc":{"jsonrpc":"2.0","id":1,"method":"ping"}}"#;
    h.answer_poll(Ok(resp(200, &batch(&[c.to_string()]))));
    let w = h.take_mcp();
    assert_eq!(w[0].deadline, Some(h.now + Duration::from_secs(5)));
}

#[test]
fn deadline_during_mcp_cancels_the_work_and_posts_nothing() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 1, "ping", r#","response_timeout":"1s""#)]),
    )));
    let w = h.take_mcp();
    h.advance(Duration::from_secs(1));
    assert!(h
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelMcp { cmd } if *cmd == w[0].cmd)));
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    assert!(h.take_posts().is_empty());
}

/// The adapter reports the MCP failure (a connect timeout) at the deadline itself, before
/// the engine's deadline timer has run: the deadline wins, nothing is posted.
#[test]
fn mcp_failure_reported_at_the_deadline_posts_nothing() {
    for late in [
        Duration::ZERO,
        Duration::from_micros(300),
        Duration::from_secs(2),
    ] {
        let mut h = H::new(cfg());
        h.answer_poll(Ok(resp(
            200,
            &batch(&[rpc("a", 1, "ping", r#","response_timeout":"1s""#)]),
        )));
        let w = h.take_mcp();
        h.now += Duration::from_secs(1) + late;
        h.e.handle_mcp_error(h.now, w[0].cmd, TransportError::Timeout);
        h.collect();
        assert!(
            h.take_posts().is_empty(),
            "posted {late:?} after the deadline"
        );
        let events = h.events();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::DeadlineExpired { stage: "mcp", .. })),
            "{events:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::FailureSynthesized { .. })),
            "{events:?}"
        );
    }
}

/// Just before the deadline the failure is still posted, with a POST timeout that ends at
/// the deadline; a response that would be posted at or after it never is, whatever phase
/// produced it (here a retry timer due exactly at the deadline).
#[test]
fn no_post_is_emitted_at_or_after_the_deadline() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 1, "ping", r#","response_timeout":"1s""#)]),
    )));
    let w = h.take_mcp();
    let deadline = w[0].deadline.unwrap();
    h.now = deadline - Duration::from_millis(1);
    h.e.handle_mcp_error(h.now, w[0].cmd, TransportError::Timeout);
    h.collect();
    let timeouts: Vec<Duration> = h
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Post { timeout, .. } => Some(*timeout),
            _ => None,
        })
        .collect();
    assert_eq!(timeouts, vec![Duration::from_millis(1)]);
    let (id, _) = h.take_posts().pop().unwrap();
    // The POST result comes back at the deadline: no retry, whatever the status.
    h.now = deadline;
    let wall = h.wall();
    h.e.handle_post_result(
        h.now,
        wall,
        id,
        Err(PostError {
            error: TransportError::Timeout,
            written: false,
        }),
    );
    h.collect();
    h.advance(Duration::from_secs(5));
    assert!(h.take_posts().is_empty());
}

/// The adapter's MCP I/O bound ends after the deadline, so its own timeout can never beat
/// the engine's deadline timer.
#[test]
fn mcp_io_deadline_is_after_the_command_deadline() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[
            rpc("a", 1, "ping", r#","response_timeout":"1s""#),
            rpc("b", 2, "ping", ""),
        ]),
    )));
    let w = h.take_mcp();
    let d = w[0].deadline.unwrap();
    assert!(w[0].io_deadline().unwrap() > d);
    assert_eq!(w[1].io_deadline(), None);
}

#[test]
fn shard_token_travels_only_in_its_header_and_request_id_channel_in_the_body() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc(
            "a",
            1,
            "ping",
            r#","headers":{"X-Request-Id":["trace-9"]}"#,
        )]),
    )));
    let w = h.take_mcp();
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    let (_, req) = h.take_posts().pop().unwrap();
    assert_eq!(
        req.uri().to_string(),
        "https://cp.example:8443/gw/dev/v1/tunnels/tunnel_abc/response"
    );
    assert_eq!(req.headers()["x-tunnel-shard-token"], "shard-a");
    assert_eq!(req.headers()["x-client-request-id"], "trace-9");
    assert_eq!(req.headers()["content-type"], "application/json");
    let body = std::str::from_utf8(req.body()).unwrap();
    assert!(!body.contains("shard-a"));
    let v = body_json(&req);
    assert_eq!(v["request_id"], "a");
    assert_eq!(v["channel"], "main");
    assert_eq!(v["resp_type"], "jsonrpc_response");
}

#[test]
fn target_response_is_forwarded_byte_for_byte() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "tools/list", "")]))));
    let w = h.take_mcp();
    let target = r#"{"jsonrpc":"2.0","id":1,"result":{"z":1,"a":[1.50,"<&>"]}}"#;
    h.mcp_json(w[0].cmd, 200, target);
    let (_, req) = h.take_posts().pop().unwrap();
    let body = std::str::from_utf8(req.body()).unwrap();
    assert!(body.contains(&format!(r#""resp_json":{target}"#)), "{body}");
}

#[test]
fn notifications_are_posted_in_order_before_the_terminal() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "tools/call", "")]))));
    let w = h.take_mcp();
    let mut hd = HeaderMap::new();
    hd.insert("content-type", "text/event-stream".parse().unwrap());
    h.e.handle_mcp_head(h.now, w[0].cmd, 200, &hd);
    let sse = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n\
               data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":2}}\n\n\
               data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
    h.e.handle_mcp_body(h.now, w[0].cmd, sse.as_bytes());
    h.collect();
    let mut seen = Vec::new();
    loop {
        let posts = h.take_posts();
        assert!(posts.len() <= 1, "POSTs of one command never overlap");
        let Some((id, req)) = posts.into_iter().next() else {
            break;
        };
        let v = body_json(&req);
        seen.push((
            v["resp_type"].as_str().unwrap().to_string(),
            v["resp_json"]["params"]["progress"].clone(),
        ));
        h.post_ok(id);
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].0, "jsonrpc_notify");
    assert_eq!(seen[0].1, 1);
    assert_eq!(seen[1].1, 2);
    assert_eq!(seen[2].0, "jsonrpc_response");
}

#[test]
fn terminal_post_retries_transient_failures_with_identical_requests() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "ping", "")]))));
    let w = h.take_mcp();
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    let (id1, r1) = h.take_posts().pop().unwrap();
    h.post_result(id1, Ok(resp(503, "")));
    assert!(h.take_posts().is_empty(), "waits for the backoff");
    h.advance(Duration::from_millis(200));
    let (id2, r2) = h.take_posts().pop().expect("retry after 200 ms");
    assert_eq!(r1.body(), r2.body());
    assert_eq!(r1.headers(), r2.headers());
    assert_eq!(r1.uri(), r2.uri());
    h.post_result(
        id2,
        Err(PostError {
            error: TransportError::ConnectionReset,
            written: true,
        }),
    );
    h.advance(Duration::from_secs(10));
    let (id3, _) = h.take_posts().pop().expect("third attempt");
    h.post_result(id3, Ok(resp(503, "")));
    h.advance(Duration::from_secs(20));
    assert!(h.take_posts().is_empty(), "3 attempts at most");
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::ResponseDeliveryFailed { attempts: 3, .. })));
}

#[test]
fn terminal_post_500_is_not_retried() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "ping", "")]))));
    let w = h.take_mcp();
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    let (id, _) = h.take_posts().pop().unwrap();
    h.post_result(id, Ok(resp(500, "")));
    h.advance(Duration::from_secs(30));
    assert!(h.take_posts().is_empty());
}

#[test]
fn terminal_post_is_never_retried_past_the_deadline() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 1, "ping", r#","response_timeout":"1s""#)]),
    )));
    let w = h.take_mcp();
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    let (id, _) = h.take_posts().pop().unwrap();
    h.post_result(id, Ok(resp_h(429, &[("retry-after", "5")], "")));
    h.advance(Duration::from_secs(10));
    assert!(h.take_posts().is_empty());
}

#[test]
fn post_404_is_terminal_and_never_replayed() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "ping", "")]))));
    let w = h.take_mcp();
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    let (id, _) = h.take_posts().pop().unwrap();
    h.post_result(id, Ok(resp(404, "")));
    h.advance(Duration::from_secs(30));
    assert!(h.take_posts().is_empty() && h.take_mcp().is_empty());
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::CommandCompleted {
            already_fulfilled: true,
            ..
        }
    )));
}

#[test]
fn post_413_is_terminal_with_an_operator_event() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "ping", "")]))));
    let w = h.take_mcp();
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    let (id, _) = h.take_posts().pop().unwrap();
    h.post_result(id, Ok(resp(413, r#"{"error":{"message":"too big","type":"invalid_request_error","code":"request_body_too_large"}}"#)));
    h.advance(Duration::from_secs(30));
    assert!(h.take_posts().is_empty());
    let ev = h.events();
    let e = ev.iter().find_map(|e| match e {
        Event::ResponseRejected {
            status: 413,
            api_error,
            ..
        } => api_error.clone(),
        _ => None,
    });
    assert!(e.unwrap().mitigation(&Default::default()).is_some());
}

fn sse_two_notifications_then_result(h: &mut H, cmd: CommandId) {
    let mut hd = HeaderMap::new();
    hd.insert("content-type", "text/event-stream".parse().unwrap());
    h.e.handle_mcp_head(h.now, cmd, 200, &hd);
    let sse = "data: {\"jsonrpc\":\"2.0\",\"method\":\"n1\"}\n\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"n2\"}\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
    h.e.handle_mcp_body(h.now, cmd, sse.as_bytes());
    h.collect();
}

#[test]
fn notification_post_retries_only_on_429_and_unwritten_failures() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "tools/call", "")]))));
    let w = h.take_mcp();
    sse_two_notifications_then_result(&mut h, w[0].cmd);
    let (id, _) = h.take_posts().pop().unwrap();
    h.post_result(id, Ok(resp(429, "")));
    h.advance(Duration::from_millis(200));
    let (id, _) = h.take_posts().pop().expect("429 is retried");
    h.post_result(
        id,
        Err(PostError {
            error: TransportError::ConnectionRefused,
            written: false,
        }),
    );
    h.advance(Duration::from_secs(1));
    let (id, req) = h.take_posts().pop().expect("unwritten failure is retried");
    assert_eq!(body_json(&req)["resp_json"]["method"], "n1");
    h.post_ok(id);
    // n2 fails after being written: not retried, and no later notification is sent.
    let (id, req) = h.take_posts().pop().unwrap();
    assert_eq!(body_json(&req)["resp_json"]["method"], "n2");
    h.post_result(
        id,
        Err(PostError {
            error: TransportError::ConnectionReset,
            written: true,
        }),
    );
    let (_, req) = h.take_posts().pop().expect("terminal still posted");
    assert_eq!(body_json(&req)["resp_type"], "jsonrpc_response");
}

#[test]
fn failed_notification_stops_later_notifications_but_not_the_terminal() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "tools/call", "")]))));
    let w = h.take_mcp();
    sse_two_notifications_then_result(&mut h, w[0].cmd);
    let (id, _) = h.take_posts().pop().unwrap();
    h.post_result(id, Ok(resp(503, "")));
    let (_, req) = h.take_posts().pop().expect("next POST");
    assert_eq!(
        body_json(&req)["resp_type"],
        "jsonrpc_response",
        "n2 skipped, terminal sent"
    );
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::NotifyDeliveryFailed { .. })));
}

#[test]
fn unknown_channel_is_rejected_with_400_and_never_falls_back_to_main() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 5, "ping", r#","channel":"other""#)]),
    )));
    assert!(h.take_mcp().is_empty());
    let (_, req) = h.take_posts().pop().unwrap();
    let v = body_json(&req);
    assert_eq!(v["resp_code"], 400);
    assert_eq!(v["channel"], "other");
    assert_eq!(v["resp_type"], "jsonrpc_response");
    assert_eq!(v["resp_json"]["id"], 5);
    assert_eq!(v["resp_json"]["error"]["code"], -32603);
    assert_eq!(
        v["resp_json"]["error"]["message"],
        r#"Bad Request: unsupported channel "other""#
    );
}

#[test]
fn notification_on_unknown_channel_gets_notify_ack_400() {
    let mut h = H::new(cfg());
    let c = command(
        "a",
        r#","channel":"nope","command_type":"jsonrpc","jsonrpc":{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    h.answer_poll(Ok(resp(200, &batch(&[c]))));
    let (_, req) = h.take_posts().pop().unwrap();
    let v = body_json(&req);
    assert_eq!(v["resp_type"], "notify_ack");
    assert_eq!(v["resp_code"], 400);
    assert!(v.get("resp_json").is_none());
}

#[test]
fn channel_outside_the_allowlist_is_rejected_even_with_a_binding() {
    let mut c = cfg();
    c.bindings.push(Binding {
        channel: ChannelName::canonical("tools").unwrap(),
        kind: BindingKind::Http,
        extra_headers: vec![],
    });
    c.poll_channels = Some(vec![ChannelName::main()]);
    let mut h = H::new(c);
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 1, "ping", r#","channel":"tools""#)]),
    )));
    assert!(h.take_mcp().is_empty());
    assert_eq!(body_json(&h.take_posts()[0].1)["resp_code"], 400);
}

#[test]
fn session_termination_on_a_stdio_binding_gets_405_without_mcp() {
    let mut c = cfg();
    c.bindings = vec![Binding {
        channel: ChannelName::main(),
        kind: BindingKind::Stdio,
        extra_headers: vec![],
    }];
    let mut h = H::new(c);
    let st = command(
        "a",
        r#","command_type":"session_termination","headers":{"Mcp-Session-Id":["s1"]}"#,
    );
    h.answer_poll(Ok(resp(200, &batch(&[st]))));
    assert!(h.take_mcp().is_empty());
    let v = body_json(&h.take_posts()[0].1);
    assert_eq!(v["resp_type"], "session_termination_response");
    assert_eq!(v["resp_code"], 405);
}

#[test]
fn session_termination_over_http_deletes_and_reports_the_target_status() {
    let mut h = H::new(cfg());
    let st = command(
        "a",
        r#","command_type":"session_termination","headers":{"Mcp-Session-Id":["s1"]}"#,
    );
    h.answer_poll(Ok(resp(200, &batch(&[st]))));
    let w = h.take_mcp();
    assert!(
        matches!(&w[0].op, McpOp::TerminateSession { session_id, headers } if session_id == "s1" && headers["mcp-session-id"] == "s1")
    );
    h.e.handle_mcp_head(h.now, w[0].cmd, 204, &HeaderMap::new());
    h.collect();
    let v = body_json(&h.take_posts()[0].1);
    assert_eq!(v["resp_type"], "session_termination_response");
    assert_eq!(v["resp_code"], 204);
}

#[test]
fn notification_gets_notify_ack_with_the_target_status() {
    let mut h = H::new(cfg());
    let c = command(
        "a",
        r#","command_type":"jsonrpc","jsonrpc":{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    h.answer_poll(Ok(resp(200, &batch(&[c]))));
    let w = h.take_mcp();
    assert!(matches!(
        w[0].op,
        McpOp::Send {
            expects_response: false,
            ..
        }
    ));
    h.e.handle_mcp_head(h.now, w[0].cmd, 202, &HeaderMap::new());
    h.collect();
    let v = body_json(&h.take_posts()[0].1);
    assert_eq!(v["resp_type"], "notify_ack");
    assert_eq!(v["resp_code"], 202);
}

#[test]
fn target_jsonrpc_error_is_preserved_exactly_with_its_status() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "tools/call", "")]))));
    let w = h.take_mcp();
    let err = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32003,"message":"Forbidden","data":{"why":"scope"}},"extra":true}"#;
    h.mcp_json(w[0].cmd, 403, err);
    let (_, req) = h.take_posts().pop().unwrap();
    let body = std::str::from_utf8(req.body()).unwrap();
    assert!(body.contains(err));
    assert_eq!(body_json(&req)["resp_code"], 403);
}

#[test]
fn non_jsonrpc_error_body_is_synthesized_as_target_http() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "tools/call", "")]))));
    let w = h.take_mcp();
    h.mcp_json(w[0].cmd, 502, "<html>bad gateway</html>");
    let v = body_json(&h.take_posts()[0].1);
    assert_eq!(v["resp_code"], 502);
    let tf = &v["resp_json"]["error"]["data"]["tunnel_failure"];
    assert_eq!(tf["source"], "target_http");
    assert_eq!(tf["transport_error_kind"], "malformed_json");
    assert_eq!(tf["upstream_status"], 502);
    assert_eq!(v["resp_json"]["id"], 1);
    assert!(
        !v.to_string().contains("html"),
        "raw target body never crosses the tunnel"
    );
}

#[test]
fn connect_refused_is_synthesized_as_connect_and_marks_the_channel_down() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "ping", "")]))));
    let w = h.take_mcp();
    h.e.handle_mcp_error(h.now, w[0].cmd, TransportError::ConnectionRefused);
    h.collect();
    let v = body_json(&h.take_posts()[0].1);
    assert_eq!(v["resp_code"], 502);
    let tf = &v["resp_json"]["error"]["data"]["tunnel_failure"];
    assert_eq!(tf["source"], "connect");
    assert_eq!(tf["transport_error_kind"], "connection_refused");
    assert_eq!(tf["upstream_response_received"], false);
    assert!(h.e.readiness(h.now).unwrap_err().contains("main"));
    // Any response from the target makes it available again.
    h.answer_poll(Ok(resp(200, &batch(&[rpc("b", 2, "ping", "")]))));
    let w = h.take_mcp();
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
    assert!(h.e.readiness(h.now).is_ok());
}

/// Work the adapter reports as cancelled (connection TTL, shutdown) ends the command without
/// a response: no POST now or later, an `Abandoned` event, and its worker slot goes to the
/// next queued command. A late answer for the cancelled work changes nothing.
#[test]
fn cancelled_command_never_posts() {
    let mut c = cfg();
    c.max_concurrent = 1;
    let mut h = H::new(c);
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 1, "ping", ""), rpc("b", 2, "ping", "")]),
    )));
    let w = h.take_mcp();
    assert_eq!(w.len(), 1, "one slot: only the first command runs");
    assert_eq!(w[0].request_id, "a");
    h.e.handle_mcp_error(h.now, w[0].cmd, TransportError::Canceled);
    h.collect();
    let next = h.take_mcp();
    assert_eq!(next.len(), 1, "the cancelled command freed its slot");
    assert_eq!(next[0].request_id, "b");
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    h.advance(Duration::from_secs(120));
    assert!(h.take_posts().is_empty(), "nothing is posted for a");
    let events = h.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Abandoned { request_id, .. } if request_id == "a")),
        "{events:?}"
    );
    // b is still answered normally.
    h.mcp_json(next[0].cmd, 200, r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
    let posts = h.take_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(body_json(&posts[0].1)["request_id"], "b");
}

/// A command whose deadline passes while MCP runs is cancelled by the engine; whatever the
/// adapter reports afterwards (the cancellation itself, or a late full answer) posts nothing.
#[test]
fn command_cancelled_at_its_deadline_never_posts() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 1, "ping", r#","response_timeout":"1s""#)]),
    )));
    let w = h.take_mcp();
    h.advance(Duration::from_secs(1));
    assert!(
        h.actions
            .iter()
            .any(|a| matches!(a, Action::CancelMcp { cmd } if *cmd == w[0].cmd)),
        "the engine cancels the MCP work: {:?}",
        h.actions
    );
    h.e.handle_mcp_error(h.now, w[0].cmd, TransportError::Canceled);
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    h.advance(Duration::from_secs(60));
    assert!(h.take_posts().is_empty());
}

#[test]
fn mcp_concurrency_is_bounded_by_max_concurrent() {
    let mut c = cfg();
    c.max_concurrent = 2;
    let mut h = H::new(c);
    let cmds: Vec<String> = (0..5)
        .map(|i| rpc(&format!("r{i}"), i, "ping", ""))
        .collect();
    h.answer_poll(Ok(resp(200, &batch(&cmds))));
    let w = h.take_mcp();
    assert_eq!(w.len(), 2);
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":0,"result":{}}"#);
    assert_eq!(h.take_mcp().len(), 1, "a finished command frees one slot");
}

#[test]
fn over_limit_batches_are_reported_and_all_processed() {
    let mut c = cfg();
    c.max_inflight = 2;
    let mut h = H::new(c);
    let cmds: Vec<String> = (0..4)
        .map(|i| rpc(&format!("r{i}"), i, "ping", ""))
        .collect();
    h.answer_poll(Ok(resp(200, &batch(&cmds))));
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::OverLimit {
            returned: 4,
            limit: 2
        }
    )));
    assert_eq!(h.take_mcp().len(), 4);
}

#[test]
fn drain_stops_polling_and_finishes_commands_already_taken() {
    let mut c = cfg();
    c.max_concurrent = 1;
    let mut h = H::new(c);
    h.answer_poll(Ok(resp(
        200,
        &batch(&[rpc("a", 1, "ping", ""), rpc("b", 2, "ping", "")]),
    )));
    let w = h.take_mcp();
    let _ = h.take_poll();
    h.e.begin_drain(h.now, Duration::from_secs(10));
    h.collect();
    // The poll in flight gets a grace to deliver what the service already handed out...
    assert!(!h
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelPoll { .. })));
    assert!(!h.e.is_finished(), "the drain waits for the poll in flight");
    // ...then it is cancelled.
    h.advance(DRAIN_POLL_GRACE);
    assert!(h
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelPoll { .. })));
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    let (p, _) = h.take_posts().pop().unwrap();
    h.post_ok(p);
    let w2 = h.take_mcp();
    assert_eq!(w2.len(), 1, "the queued command still runs");
    h.mcp_json(w2[0].cmd, 200, r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
    let (p, _) = h.take_posts().pop().unwrap();
    h.post_ok(p);
    assert!(h.e.is_finished());
    assert!(h.take_poll().is_none());
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::Drained { abandoned: 0 })));
}

/// SIGTERM while the service is answering a poll: the batch it handed out is no longer in
/// its queue, so the draining client must run and answer it rather than drop it.
#[test]
fn drain_takes_in_the_answer_of_the_poll_in_flight() {
    let mut h = H::new(cfg());
    let (id, _) = h.take_poll().expect("first poll");
    h.e.begin_drain(h.now, Duration::from_secs(10));
    h.collect();
    assert!(!h.e.is_finished());
    h.advance(Duration::from_millis(5));
    let wall = h.wall();
    h.e.handle_poll_response(
        h.now,
        wall,
        id,
        Ok(resp(200, &batch(&[rpc("a", 1, "ping", "")]))),
    );
    h.collect();
    let w = h.take_mcp();
    assert_eq!(w.len(), 1, "the delivered command runs");
    assert!(h.take_poll().is_none(), "no poll after the drain began");
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    let (p, _) = h.take_posts().pop().expect("its response is posted");
    h.post_ok(p);
    assert!(h.e.is_finished());
    h.advance(DRAIN_POLL_GRACE);
    assert!(
        !h.actions
            .iter()
            .any(|a| matches!(a, Action::CancelPoll { .. })),
        "an answered poll is not cancelled"
    );
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::Drained { abandoned: 0 })));
}

/// An idle drain (no command in flight, the long poll waiting) ends after the grace.
#[test]
fn idle_drain_ends_after_the_poll_grace() {
    let mut h = H::new(cfg());
    let _ = h.take_poll().expect("first poll");
    h.e.begin_drain(h.now, Duration::from_secs(25));
    h.collect();
    assert!(!h.e.is_finished());
    h.advance(DRAIN_POLL_GRACE);
    assert!(h.e.is_finished());
    assert!(h
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelPoll { .. })));
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::Drained { abandoned: 0 })));
}

#[test]
fn drain_timeout_abandons_what_is_left() {
    let mut h = H::new(cfg());
    h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "ping", "")]))));
    let w = h.take_mcp();
    h.e.begin_drain(h.now, Duration::from_secs(2));
    h.advance(Duration::from_secs(2));
    assert!(h.e.is_finished());
    assert!(h
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelMcp { cmd } if *cmd == w[0].cmd)));
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::Drained { abandoned: 1 })));
}

#[test]
fn stale_poll_and_post_reports_are_ignored() {
    let mut h = H::new(cfg());
    let wall = h.wall();
    // A poll report nobody asked for starts nothing.
    h.e.handle_poll_response(
        h.now,
        wall,
        PollId(999),
        Ok(resp(200, &batch(&[rpc("a", 1, "ping", "")]))),
    );
    h.collect();
    assert!(h.take_mcp().is_empty());

    // A POST report for an attempt that is not in flight neither completes the command nor
    // disturbs the attempt that is: its own 503 still schedules the retry.
    h.answer_poll(Ok(resp(200, &batch(&[rpc("b", 2, "ping", "")]))));
    let w = h.take_mcp();
    h.mcp_json(w[0].cmd, 200, r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
    let (id1, _) = h.take_posts().pop().expect("first attempt");
    h.events();
    let stale = PostId(id1.0 + 1000);
    h.post_ok(stale);
    h.post_result(stale, Ok(resp(404, "")));
    let events = h.events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::CommandCompleted { .. })),
        "a stale report completed the command: {events:?}"
    );
    h.post_result(id1, Ok(resp(503, "")));
    h.advance(Duration::from_millis(200));
    let (id2, _) = h
        .take_posts()
        .pop()
        .expect("the real attempt's 503 is retried");
    // The first attempt's report arriving late (after the retry left) is stale too.
    h.post_ok(id1);
    assert!(!h
        .events()
        .iter()
        .any(|e| matches!(e, Event::CommandCompleted { .. })));
    h.post_ok(id2);
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::CommandCompleted { request_id, .. } if request_id == "b")));
}

/// Every payload the engine emits, across the scenarios above, validates against the
/// contract's `TunnelResponsePayload` schema.
#[test]
fn every_emitted_payload_validates_against_the_contract_schema() {
    // Our schema of the contract, kept in the repository (conformance/contract/README.md).
    let text = include_str!("../../../conformance/contract/contract.schema.json");
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let schema = serde_json::json!({
        "$ref": "#/components/schemas/TunnelResponsePayload",
        "components": doc["components"],
    });
    let validator = jsonschema::validator_for(&schema).unwrap();

    let mut bodies: Vec<serde_json::Value> = Vec::new();
    let mut c = cfg();
    c.bindings.push(Binding {
        channel: ChannelName::canonical("tools").unwrap(),
        kind: BindingKind::Stdio,
        extra_headers: vec![],
    });
    let mut h = H::new(c);
    let cmds = vec![
        rpc("ok", 1, "tools/list", ""),
        rpc("err", 2, "tools/call", ""),
        rpc("down", 3, "ping", ""),
        rpc("sse", 4, "tools/call", ""),
        rpc("chan", 5, "ping", r#","channel":"nowhere""#),
        command(
            "note",
            r#","command_type":"jsonrpc","jsonrpc":{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        ),
        command(
            "st",
            r#","command_type":"session_termination","headers":{"Mcp-Session-Id":["s"]}"#,
        ),
        command(
            "st405",
            r#","channel":"tools","command_type":"session_termination","headers":{"Mcp-Session-Id":["s"]}"#,
        ),
        rpc("html", 6, "ping", ""),
        command(
            "oauth",
            r#","channel":"tools","command_type":"oauth_discovery""#,
        ),
    ];
    h.answer_poll(Ok(resp(200, &batch(&cmds))));
    for w in h.take_mcp() {
        match w.request_id.as_str() {
            "ok" => h.mcp_json(
                w.cmd,
                200,
                r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#,
            ),
            "err" => h.mcp_json(
                w.cmd,
                401,
                r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32001,"message":"auth"}}"#,
            ),
            "down" => {
                h.e.handle_mcp_error(h.now, w.cmd, TransportError::ConnectionRefused);
                h.collect();
            }
            "sse" => sse_two_notifications_then_result(&mut h, w.cmd),
            "html" => h.mcp_json(w.cmd, 503, "<html>"),
            _ => {
                h.e.handle_mcp_head(h.now, w.cmd, 204, &HeaderMap::new());
                h.collect();
            }
        }
    }
    for _ in 0..10 {
        for (id, req) in h.take_posts() {
            bodies.push(body_json(&req));
            h.post_ok(id);
        }
    }
    let types: std::collections::BTreeSet<String> = bodies
        .iter()
        .map(|b| b["resp_type"].as_str().unwrap().to_string())
        .collect();
    for t in [
        "jsonrpc_response",
        "jsonrpc_notify",
        "notify_ack",
        "session_termination_response",
    ] {
        assert!(types.contains(t), "scenario set covers {t}: {types:?}");
    }
    for b in &bodies {
        if b["resp_type"] == "oauth_discovery_response" {
            continue; // undocumented in the contract's enum
        }
        let errors: Vec<String> = validator.iter_errors(b).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{b}: {errors:?}");
    }
}

/// An `oauth_discovery` command's requests to the MCP origin carry the operator's static
/// headers: `--mcp.extra-headers` with `--mcp.discovery-extra-headers` over them (Go's
/// order), next to the client's own `User-Agent`.
#[test]
fn oauth_discovery_fetches_carry_the_static_headers() {
    let mut c = cfg();
    c.bindings[0].extra_headers = vec![
        ("x-gateway-key".parse().unwrap(), "general".parse().unwrap()),
        ("x-team".parse().unwrap(), "a".parse().unwrap()),
    ];
    c.discovery_extra_headers = vec![(
        "x-gateway-key".parse().unwrap(),
        "discovery".parse().unwrap(),
    )];
    let mut h = H::new(c);
    h.e.set_oauth_target("http://mcp.example/mcp".parse().unwrap());
    h.answer_poll(Ok(resp(
        200,
        &batch(&[command(
            "a",
            r#","channel":"main","command_type":"oauth_discovery""#,
        )]),
    )));
    let w = h.take_mcp();
    let McpOp::Fetch { uri, headers, .. } = &w[0].op else {
        panic!("{:?}", w[0].op);
    };
    assert_eq!(uri.to_string(), "http://mcp.example/mcp");
    assert_eq!(headers["user-agent"], "oai-tunnel-client/1.2.3");
    assert_eq!(headers["x-gateway-key"], "discovery");
    assert_eq!(headers["x-team"], "a");
}

/// Every response POST, a `jsonrpc_notify` included, is bounded: by the control-plane
/// exchange bound (poll timeout + guardrail) and never past the command's deadline. (Go
/// bounds notification POSTs by the connection TTL, `go-runtime.md` §11.43.)
#[test]
fn notification_posts_are_bounded_by_the_exchange_bound_and_the_deadline() {
    for (timeout, want) in [
        ("", Duration::from_secs(35)),
        (r#","response_timeout":"3s""#, Duration::from_secs(3)),
    ] {
        let mut h = H::new(cfg());
        h.answer_poll(Ok(resp(200, &batch(&[rpc("a", 1, "tools/call", timeout)]))));
        let w = h.take_mcp();
        let mut sse = HeaderMap::new();
        sse.insert("content-type", "text/event-stream".parse().unwrap());
        h.e.handle_mcp_head(h.now, w[0].cmd, 200, &sse);
        h.e.handle_mcp_body(
            h.now,
            w[0].cmd,
            b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n",
        );
        h.collect();
        let bounds: Vec<Duration> = h
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Post { timeout, .. } => Some(*timeout),
                _ => None,
            })
            .collect();
        assert_eq!(bounds, vec![want], "{timeout}");
    }
}

/// A configured organization id is sent as `OpenAI-Organization` and wins over an operator
/// extra header of the same name (§11.12).
#[test]
fn organization_id_wins_over_an_extra_header() {
    let mut c = cfg();
    c.organization_id = Some("org-configured".parse().unwrap());
    c.extra_headers = vec![(
        "openai-organization".parse().unwrap(),
        "org-extra".parse().unwrap(),
    )];
    let mut h = H::new(c);
    let (_, req) = h.take_poll().unwrap();
    let values: Vec<_> = req
        .headers()
        .get_all("openai-organization")
        .iter()
        .collect();
    assert_eq!(values, vec!["org-configured"]);
}

/// `timeout_ms` is the poll timeout in whole milliseconds, and a sub-millisecond timeout is
/// sent as 1, never 0 (§11.19).
#[test]
fn sub_millisecond_poll_timeout_is_sent_as_one() {
    let mut c = cfg();
    c.poll_timeout = Duration::from_micros(400);
    let mut h = H::new(c);
    let (_, req) = h.take_poll().unwrap();
    let q = req.uri().query().unwrap().to_string();
    assert!(
        q.contains("timeout_ms=1") && !q.contains("timeout_ms=10"),
        "{q}"
    );
}

/// `oauth_discovery` runs inside the engine: each step is an ordinary `Fetch` for the
/// adapter, a step that does not answer is ended by the engine's own timer (its exchange
/// closed), and the document found is posted.
#[test]
fn oauth_discovery_steps_are_fetches_timed_by_the_engine() {
    let mut h = H::new(cfg());
    h.e.set_oauth_target("http://mcp.example/mcp".parse().unwrap());
    let cmds = [command(
        "oauth",
        r#","channel":"main","command_type":"oauth_discovery""#,
    )];
    h.answer_poll(Ok(resp(200, &batch(&cmds))));
    let fetch = |w: &McpWork| match &w.op {
        McpOp::Fetch { method, uri, .. } => (method.to_string(), uri.to_string()),
        other => panic!("not a fetch: {other:?}"),
    };
    let probe = h.take_mcp();
    assert_eq!(probe.len(), 1);
    assert_eq!(
        fetch(&probe[0]),
        ("POST".into(), "http://mcp.example/mcp".into())
    );
    let cmd = probe[0].cmd;
    // The probe never answers: the engine times it out (1 s), closes it, and moves on.
    h.advance(Duration::from_millis(1000));
    assert!(h
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelMcp { cmd: c } if *c == cmd)));
    let get = h.take_mcp();
    assert_eq!(fetch(&get[0]).0, "GET");
    h.e.handle(
        h.now,
        Input::Mcp {
            cmd,
            event: McpEvent::Error(TransportError::ConnectionRefused),
        },
    );
    h.collect();
    let candidate = h.take_mcp();
    assert_eq!(
        fetch(&candidate[0]),
        (
            "GET".into(),
            "http://mcp.example/.well-known/oauth-protected-resource/mcp".into()
        )
    );
    let doc =
        r#"{"resource":"http://mcp.example/mcp","authorization_servers":["https://auth.example"]}"#;
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    let body = Bytes::from(doc);
    let event = McpEvent::Response {
        status: 200,
        headers,
        body,
    };
    h.e.handle(h.now, Input::Mcp { cmd, event });
    h.collect();
    let posts = h.take_posts();
    assert_eq!(posts.len(), 1);
    let b = body_json(&posts[0].1);
    assert_eq!(b["resp_type"], "oauth_discovery_response", "{b}");
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::OAuthDiscovered { found: true, .. })));
}

#[path = "harpoon_tests.rs"]
mod harpoon_tests;
#[path = "startup_tests.rs"]
mod startup_tests;
