//! Backpressure (issue #22): `max_inflight` bounds every command the client holds, queued +
//! running + posting, so a slow control plane slows polling instead of growing memory.
//!
//! A small harness of its own (not `tests.rs`'s) keeps this file independent of that one.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderMap;

use super::*;

fn cfg(max_inflight: usize, max_concurrent: usize) -> EngineConfig {
    let mut c = EngineConfig::new(
        "https://cp.example".parse().unwrap(),
        "tunnel_bp",
        "sk-test",
    );
    c.max_inflight = max_inflight;
    c.max_concurrent = max_concurrent;
    c
}

fn ok(status: u16, body: String) -> HttpResponse {
    HttpResponse {
        status,
        headers: HeaderMap::new(),
        body: Bytes::from(body),
    }
}

fn batch(from: usize, n: usize) -> String {
    let cmds: Vec<String> = (from..from + n)
        .map(|i| {
            format!(
                r#"{{"request_id":"r{i}","shard_token":"s{i}","response_timeout":"30s","command_type":"jsonrpc","jsonrpc":{{"jsonrpc":"2.0","id":{i},"method":"ping"}}}}"#
            )
        })
        .collect();
    format!(r#"{{"commands":[{}]}}"#, cmds.join(","))
}

fn limit_of(req: &http::Request<()>) -> usize {
    let q = req.uri().query().unwrap_or("");
    q.split('&')
        .find_map(|kv| kv.strip_prefix("limit="))
        .and_then(|v| v.parse().ok())
        .expect("every poll carries a limit")
}

fn answer_mcp(e: &mut Engine, now: Instant, cmd: CommandId) {
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    e.handle_mcp_head(now, cmd, 200, &h);
    e.handle_mcp_body(now, cmd, br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    e.handle_mcp_end(now, cmd);
}

/// What the adapter was asked to do, sorted by kind.
#[derive(Default)]
struct Out {
    polls: Vec<(PollId, usize)>,
    posts: Vec<PostId>,
    mcp: Vec<CommandId>,
}

fn drain(e: &mut Engine, out: &mut Out) {
    while let Some(a) = e.poll_action() {
        match a {
            Action::Poll { id, request, .. } => out.polls.push((id, limit_of(&request))),
            Action::Post { id, .. } => out.posts.push(id),
            Action::StartMcp(w) => out.mcp.push(w.cmd),
            _ => {}
        }
    }
}

const WALL: SystemTime = SystemTime::UNIX_EPOCH;

/// Commands whose MCP work is done but whose POST has not been answered still count: with
/// every slot taken by a posting command no poll leaves, however long the POSTs take, and
/// the first POST that completes lets exactly one more command in.
#[test]
fn posting_commands_hold_their_slots_until_the_post_completes() {
    let t0 = Instant::now();
    let mut e = Engine::new(cfg(4, 2), 1, t0).unwrap();
    let mut out = Out::default();
    drain(&mut e, &mut out);
    let (poll, limit) = out.polls.pop().expect("first poll");
    assert_eq!(limit, 4);
    e.handle_poll_response(t0, WALL, poll, Ok(ok(200, batch(0, 4))));
    drain(&mut e, &mut out);
    // MCP answers at once, two at a time (max_concurrent 2); POSTs are never answered yet.
    while let Some(cmd) = out.mcp.pop() {
        answer_mcp(&mut e, t0, cmd);
        drain(&mut e, &mut out);
    }
    assert_eq!(out.posts.len(), 4, "every response is being posted");
    assert_eq!(e.status().unfinished(), 4);
    assert!(out.polls.is_empty(), "all 4 slots are posting: no poll");

    // Slow POSTs: time passes, timers fire, still no poll.
    let mut now = t0;
    for _ in 0..20 {
        now += Duration::from_millis(500);
        e.handle_timeout(now);
        drain(&mut e, &mut out);
        assert!(out.polls.is_empty(), "no poll while every slot is posting");
    }

    let first = out.posts.remove(0);
    e.handle_post_result(now, WALL, first, Ok(ok(200, "{}".into())));
    drain(&mut e, &mut out);
    assert_eq!(e.status().unfinished(), 3);
    assert_eq!(
        out.polls.as_slice().iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![1],
        "one POST done: one poll for exactly the freed slot"
    );
}

/// A service with a deep backlog, an MCP server that answers at once and a control plane
/// that takes 80 ms per POST and per poll carrying commands: the client never holds more
/// than `max_inflight` commands, never asks for more than it has room for, and still
/// answers every command.
#[test]
fn in_flight_never_exceeds_max_inflight_when_posts_are_slow() {
    const MAX: usize = 8;
    const TOTAL: usize = 200;
    let rtt = Duration::from_millis(80);
    let t0 = Instant::now();
    let mut e = Engine::new(cfg(MAX, 4), 2, t0).unwrap();
    let mut out = Out::default();
    let mut now = t0;
    let mut handed_out = 0usize;
    let mut completed = 0usize;
    // (due, id) of POSTs and of the one poll in flight, answered in time order.
    let mut posts: VecDeque<(Instant, PostId)> = VecDeque::new();
    let mut poll: Option<(Instant, PollId, usize)> = None;
    let mut max_seen = 0usize;

    for _ in 0..100_000 {
        drain(&mut e, &mut out);
        for cmd in std::mem::take(&mut out.mcp) {
            answer_mcp(&mut e, now, cmd);
            drain(&mut e, &mut out);
        }
        for id in out.posts.drain(..) {
            posts.push_back((now + rtt, id));
        }
        for (id, limit) in out.polls.drain(..) {
            assert!(poll.is_none(), "one poll at a time");
            let held = e.status().unfinished();
            assert!(
                limit + held <= MAX,
                "poll limit {limit} with {held} held exceeds {MAX}"
            );
            poll = Some((now + rtt, id, limit));
        }
        let held = e.status().unfinished();
        max_seen = max_seen.max(held);
        assert!(held <= MAX, "{held} commands held, max_inflight {MAX}");
        if completed == TOTAL {
            break;
        }
        // Next thing to happen: the earliest POST answer, the poll answer, or a timer.
        let next_post = posts.front().map(|p| p.0);
        let next_poll = poll.map(|p| p.0);
        let next = [next_post, next_poll, e.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .expect("something is always pending until every command is answered");
        now = now.max(next);
        if next_post == Some(next) {
            let (_, id) = posts.pop_front().unwrap();
            e.handle_post_result(now, WALL, id, Ok(ok(200, "{}".into())));
        } else if next_poll == Some(next) {
            let (_, id, limit) = poll.take().unwrap();
            let n = limit.min(TOTAL - handed_out);
            let body = if n == 0 {
                ok(204, String::new())
            } else {
                ok(200, batch(handed_out, n))
            };
            handed_out += n;
            e.handle_poll_response(now, WALL, id, Ok(body));
        } else {
            e.handle_timeout(now);
        }
        while let Some(ev) = e.poll_event() {
            match ev {
                Event::CommandCompleted { .. } => completed += 1,
                Event::DeadlineExpired { request_id, .. } => panic!("{request_id} expired"),
                _ => {}
            }
        }
    }
    assert_eq!(completed, TOTAL, "every command answered, none lost");
    assert_eq!(
        max_seen, MAX,
        "the bound was reached, so the test exercised it"
    );
}
