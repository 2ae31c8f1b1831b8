//! Backpressure (issue #22): `max_inflight` bounds every command the client holds, queued +
//! running + posting, so a slow control plane slows polling instead of growing memory.
//!
//! A small harness of its own (not `tests.rs`'s) keeps this file independent of that one.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderMap;

use super::poll::{MAX_CONCURRENT_POLLS, MAX_POLL_LIMIT};
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
/// than `max_inflight` commands, never asks (over all its polls in flight) for more than it
/// has room for, and still answers every command (the harness checks each step).
#[test]
fn in_flight_never_exceeds_max_inflight_when_posts_are_slow() {
    let run = backlog_run(8, 4, 200, Duration::from_millis(80));
    assert_eq!(
        run.max_held, 8,
        "the bound was reached, so the test exercised it"
    );
}

/// What [`backlog_run`] saw.
struct Run {
    /// Virtual seconds until every command was answered.
    secs: f64,
    /// Most polls in flight at once.
    most_polls: usize,
    /// Most commands held at once.
    max_held: usize,
}

/// Drives a service with `total` commands waiting, a control plane `rtt` away for polls
/// and POSTs and an MCP server that answers at once, checking at every step that what is
/// held plus what the polls in flight may bring stays within `max` and that nothing
/// expires.
fn backlog_run(max: usize, max_concurrent: usize, total: usize, rtt: Duration) -> Run {
    let t0 = Instant::now();
    let mut e = Engine::new(cfg(max, max_concurrent), 3, t0).unwrap();
    let mut out = Out::default();
    let mut now = t0;
    let (mut handed_out, mut completed, mut most_polls) = (0usize, 0usize, 0usize);
    let mut max_held = 0usize;
    let mut posts: VecDeque<(Instant, PostId)> = VecDeque::new();
    let mut polls: VecDeque<(Instant, PollId, usize)> = VecDeque::new();
    for _ in 0..1_000_000 {
        drain(&mut e, &mut out);
        for cmd in std::mem::take(&mut out.mcp) {
            answer_mcp(&mut e, now, cmd);
            drain(&mut e, &mut out);
        }
        posts.extend(out.posts.drain(..).map(|id| (now + rtt, id)));
        polls.extend(out.polls.drain(..).map(|(id, l)| (now + rtt, id, l)));
        most_polls = most_polls.max(polls.len());
        let claimed: usize = polls.iter().map(|p| p.2).sum();
        let held = e.status().unfinished();
        max_held = max_held.max(held);
        assert!(
            held + claimed <= max,
            "{held} held and {claimed} asked for by polls in flight exceed {max}"
        );
        if completed == total {
            return Run {
                secs: (now - t0).as_secs_f64(),
                most_polls,
                max_held,
            };
        }
        let next_post = posts.front().map(|p| p.0);
        let next_poll = polls.front().map(|p| p.0);
        let next = [next_post, next_poll, e.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .expect("something pending");
        now = now.max(next);
        if next_post == Some(next) {
            let (_, id) = posts.pop_front().unwrap();
            e.handle_post_result(now, WALL, id, Ok(ok(200, "{}".into())));
        } else if next_poll == Some(next) {
            let (_, id, limit) = polls.pop_front().unwrap();
            let n = limit.min(total - handed_out);
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
    panic!("the run did not finish");
}

/// Issue #22's goal at 80 ms: with 256 slots a backlog brings several polls at once, so
/// intake is no longer 25 per round trip (~300/s) and 5,000 commands take under 5 s of
/// virtual time (over 1,000/s).
#[test]
fn a_backlog_brings_concurrent_polls_past_25_per_round_trip() {
    let run = backlog_run(256, 64, 5_000, Duration::from_millis(80));
    let (rate, most) = (5_000.0 / run.secs, run.most_polls);
    assert!(
        most > 1 && most <= MAX_CONCURRENT_POLLS,
        "{most} polls at once"
    );
    assert!(rate > 1_000.0, "{rate:.0} commands/s at 80 ms");
}

/// Without a backlog there is one long poll: a poll that comes back short (or empty) ends
/// the concurrency, whatever `max_inflight` allows.
#[test]
fn no_backlog_one_long_poll() {
    let t0 = Instant::now();
    let mut e = Engine::new(cfg(256, 64), 4, t0).unwrap();
    let mut out = Out::default();
    drain(&mut e, &mut out);
    assert_eq!(out.polls.len(), 1, "one poll to start with");
    let (id, limit) = out.polls.pop().unwrap();
    assert_eq!(limit, MAX_POLL_LIMIT);
    // A full batch: a backlog, so more polls go out at once.
    e.handle_poll_response(t0, WALL, id, Ok(ok(200, batch(0, limit))));
    drain(&mut e, &mut out);
    assert!(
        out.polls.len() > 1,
        "{} polls after a full batch",
        out.polls.len()
    );
    // Every one of them comes back short: back to one poll.
    for (k, (id, _)) in std::mem::take(&mut out.polls).into_iter().enumerate() {
        e.handle_poll_response(t0, WALL, id, Ok(ok(200, batch(100 + k, 1))));
    }
    drain(&mut e, &mut out);
    assert_eq!(out.polls.len(), 1, "one long poll once the backlog is gone");
    let (id, _) = out.polls.pop().unwrap();
    e.handle_poll_response(t0, WALL, id, Ok(ok(204, String::new())));
    drain(&mut e, &mut out);
    assert_eq!(out.polls.len(), 1);
}

/// A drain with several polls in flight takes in every answer that arrives within the
/// grace (the service already handed those commands out), then cancels the rest; no poll
/// follows.
#[test]
fn a_drain_waits_for_every_poll_in_flight_then_cancels_the_rest() {
    let t0 = Instant::now();
    let mut e = Engine::new(cfg(256, 64), 5, t0).unwrap();
    let mut out = Out::default();
    drain(&mut e, &mut out);
    let (id, limit) = out.polls.pop().unwrap();
    e.handle_poll_response(t0, WALL, id, Ok(ok(200, batch(0, limit))));
    drain(&mut e, &mut out);
    let flights: Vec<PollId> = out.polls.drain(..).map(|p| p.0).collect();
    assert!(flights.len() >= 3, "{} polls in flight", flights.len());
    e.begin_drain(t0, Duration::from_secs(30));
    // One answers within the grace: its commands are taken in and run.
    e.handle_poll_response(t0, WALL, flights[0], Ok(ok(200, batch(500, 2))));
    let mut cancelled = Vec::new();
    let mut mcp = 0;
    while let Some(a) = e.poll_action() {
        match a {
            Action::StartMcp(_) => mcp += 1,
            Action::Poll { .. } => panic!("a poll during a drain"),
            Action::CancelPoll { id } => cancelled.push(id),
            _ => {}
        }
    }
    assert_eq!(out.mcp.len(), limit, "the first batch runs");
    assert_eq!(mcp, 2, "the batch answered within the grace runs too");
    assert!(cancelled.is_empty(), "nothing cancelled within the grace");
    e.handle_timeout(t0 + DRAIN_POLL_GRACE);
    while let Some(a) = e.poll_action() {
        match a {
            Action::Poll { .. } => panic!("a poll during a drain"),
            Action::CancelPoll { id } => cancelled.push(id),
            _ => {}
        }
    }
    cancelled.sort_by_key(|id| id.0);
    assert_eq!(
        cancelled,
        flights[1..],
        "the others are cancelled after the grace"
    );
}
