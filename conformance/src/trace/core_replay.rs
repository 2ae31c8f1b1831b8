//! Replaying a trace against the sans-IO engine under virtual time.
//!
//! The runner plays every part of the world: it answers the engine's n-th poll with the
//! trace's n-th poll line, each MCP request with the next MCP line of its command, each
//! response POST with the next post line of its command (200 when the trace says nothing),
//! and moves a virtual clock straight to the next instant something happens. A trace that
//! spans minutes of backoff replays in microseconds, deterministically (the jitter seed is
//! in the header).
//!
//! Answers the trace does not script: the metadata fetch gets a 200; polls past the last
//! poll line and MCP requests no line accounts for are never answered (and the latter are
//! reported); a `hang` poll or POST fails with `timeout` when the action's own timeout
//! passes, as an adapter's would.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use serde_json::Value;
use tunnel_core::classify::TransportError;
use tunnel_core::engine::{
    Action, CommandId, Engine, HttpResponse, Input, McpEvent, McpOp, McpWork, PollId, PostError,
    PostId,
};
use tunnel_core::stdio::{MuxConfig, StdioOptions};

use super::check::{Observations, Seen};
use super::core_stdio::{ChildInput, Effect, SimChild};
use super::engine::{engine_config, error_from_name, REPLAY_API_KEY};
use super::format::{expand_header_value, McpLine, Resp, Trace};
use super::stdio_script::StdioScript;

/// The replay's wall clock at virtual time zero (for HTTP-date `Retry-After`).
const WALL0: u64 = 1_800_000_000;
/// The MCP URL of HTTP bindings in the core replay (requests are answered by the trace;
/// only the path shows, in discovery requests).
const REPLAY_MCP_URL: &str = "http://mcp.replay.invalid/mcp";
/// Default virtual horizon.
const HORIZON: Duration = Duration::from_secs(600);

/// What a core replay produced.
#[derive(Debug, Default)]
pub struct CoreRun {
    pub observations: Observations,
    /// Engine events, `"<ms> <event>"`, for diagnostics.
    pub events: Vec<String>,
    /// Virtual time when the replay stopped.
    pub elapsed_ms: u64,
}

/// What the runner schedules: an input for the engine, in the engine's own vocabulary, or
/// something a scripted stdio child does (for that channel's multiplexer).
enum Scheduled {
    Engine(Input),
    Child(usize, ChildInput),
}

impl Scheduled {
    fn cmd(&self) -> Option<CommandId> {
        match self {
            Scheduled::Engine(Input::Mcp { cmd, .. }) => Some(*cmd),
            _ => None,
        }
    }

    fn mcp(cmd: CommandId, event: McpEvent) -> Self {
        Scheduled::Engine(Input::Mcp { cmd, event })
    }
}

struct Sched {
    at: Instant,
    seq: u64,
    input: Scheduled,
}

/// Converts trace headers to an `http::HeaderMap` (unparseable ones are skipped).
pub fn header_map(h: &super::format::Headers, wall: SystemTime) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in h {
        let v = expand_header_value(v, wall);
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            out.append(n, v);
        }
    }
    out
}

fn http_response(r: &Resp, wall: SystemTime) -> HttpResponse {
    HttpResponse {
        status: r.status,
        headers: header_map(&r.headers, wall),
        body: Bytes::from(r.body_bytes()),
    }
}

/// `{"status":"ok"}`, what the service answers an accepted POST.
pub fn post_ok() -> Resp {
    let mut headers = super::format::Headers::new();
    headers.insert("content-type".into(), "application/json".into());
    Resp {
        status: 200,
        headers,
        body: Some(r#"{"status":"ok"}"#.into()),
        ..Resp::default()
    }
}

fn headers_seen(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// A control-plane request as the client sent it (`body`: what it carried).
fn seen_request<B>(request: &http::Request<B>, body: Vec<u8>, at_ms: u64) -> Seen {
    Seen {
        method: request.method().to_string(),
        target: request
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: headers_seen(request.headers()),
        body,
        at_ms,
    }
}

/// What an adapter sends for MCP work: `POST` (with `Content-Type: application/json` unless
/// the headers say otherwise) or `DELETE`, with the headers the engine gave.
pub fn mcp_seen(work: &McpWork, at_ms: u64) -> Seen {
    let (method, headers, body) = match &work.op {
        McpOp::Send {
            message, headers, ..
        } => {
            let mut h = headers_seen(headers);
            if !h.iter().any(|(k, _)| k == "content-type") {
                h.push(("content-type".into(), "application/json".into()));
            }
            ("POST", h, message.get().as_bytes().to_vec())
        }
        McpOp::TerminateSession { headers, .. } => ("DELETE", headers_seen(headers), Vec::new()),
        McpOp::Fetch {
            method, headers, ..
        } => (method.as_str(), headers_seen(headers), Vec::new()),
    };
    let target = match &work.op {
        McpOp::Fetch { uri, .. } => uri.path_and_query().map(|p| p.to_string()),
        _ => None,
    };
    Seen {
        method: method.into(),
        target: target.unwrap_or_default(),
        headers,
        body,
        at_ms,
    }
}

/// The `request_id` a response POST names.
pub fn post_request_id(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("request_id")?
        .as_str()
        .map(str::to_string)
}

struct Runner<'t> {
    trace: &'t Trace,
    t0: Instant,
    now: Instant,
    seq: u64,
    sched: Vec<Sched>,
    obs: Observations,
    events: Vec<String>,
    polls_seen: usize,
    mcp_cursor: HashMap<String, usize>,
    post_cursor: HashMap<String, usize>,
    /// The scripted processes of the stdio channels (the engine supervises them).
    stdio: Vec<SimChild>,
}

impl Runner<'_> {
    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.t0).as_millis()).unwrap_or(u64::MAX)
    }

    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(WALL0)
            + self.now.saturating_duration_since(self.t0)
    }

    fn poll_input(
        &self,
        id: PollId,
        received: Instant,
        result: Result<HttpResponse, TransportError>,
    ) -> Scheduled {
        let wall = self.wall_at(received);
        Scheduled::Engine(Input::Poll {
            id,
            received,
            wall,
            result,
        })
    }

    fn post_input(
        &self,
        id: PostId,
        at: Instant,
        result: Result<HttpResponse, PostError>,
    ) -> Scheduled {
        let wall = self.wall_at(at);
        Scheduled::Engine(Input::Post { id, wall, result })
    }

    /// The replay's wall clock at virtual instant `at`.
    fn wall_at(&self, at: Instant) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(WALL0) + at.saturating_duration_since(self.t0)
    }

    fn schedule(&mut self, at: Instant, input: Scheduled) {
        self.seq += 1;
        let s = Sched {
            at,
            seq: self.seq,
            input,
        };
        let pos = self
            .sched
            .partition_point(|x| (x.at, x.seq) <= (s.at, s.seq));
        self.sched.insert(pos, s);
    }

    fn unschedule(&mut self, f: impl Fn(&Scheduled) -> bool) {
        self.sched.retain(|s| !f(&s.input));
    }

    fn perform(&mut self, action: Action) {
        let now = self.now;
        let at_ms = self.ms(now);
        match action {
            Action::Poll {
                id,
                request,
                timeout,
            } => {
                self.obs
                    .polls
                    .push(seen_request(&request, Vec::new(), at_ms));
                let line = self.trace.polls.get(self.polls_seen).cloned();
                self.polls_seen += 1;
                let Some(line) = line else { return };
                let at = now + Duration::from_millis(line.delay_ms);
                if line.hang {
                    self.schedule(
                        now + timeout,
                        self.poll_input(id, now + timeout, Err(TransportError::Timeout)),
                    );
                } else if let Some(e) = &line.error {
                    self.schedule(at, self.poll_input(id, at, Err(error_from_name(e))));
                } else if let Some(r) = &line.response {
                    let resp = http_response(r, self.wall());
                    self.schedule(at, self.poll_input(id, at, Ok(resp)));
                } else {
                    self.schedule(
                        now + timeout,
                        self.poll_input(id, now + timeout, Err(TransportError::Timeout)),
                    );
                }
            }
            Action::CancelPoll { id } => {
                self.unschedule(
                    |i| matches!(i, Scheduled::Engine(Input::Poll { id: p, .. }) if *p == id),
                );
            }
            Action::Post {
                id,
                request,
                timeout,
            } => {
                let seen = seen_request(&request, request.body().to_vec(), at_ms);
                let Some(rid) = post_request_id(request.body()) else {
                    self.obs.stray_posts.push(seen);
                    let ok = http_response(&post_ok(), self.wall());
                    self.schedule(now, self.post_input(id, now, Ok(ok)));
                    return;
                };
                self.obs.posts.entry(rid.clone()).or_default().push(seen);
                let k = {
                    let c = self.post_cursor.entry(rid.clone()).or_default();
                    *c += 1;
                    *c - 1
                };
                let line = self.trace.posts_for(&rid).get(k).map(|l| (*l).clone());
                let (at, result) = match line {
                    None => (now, Ok(http_response(&post_ok(), self.wall()))),
                    Some(l) => {
                        let at = now + Duration::from_millis(l.delay_ms);
                        if let Some(e) = &l.error {
                            let error = error_from_name(e);
                            let written = l.error_written.unwrap_or(true);
                            (at, Err(PostError { error, written }))
                        } else if let Some(r) = &l.response {
                            (at, Ok(http_response(r, self.wall())))
                        } else {
                            (at, Ok(http_response(&post_ok(), self.wall())))
                        }
                    }
                };
                let at = if matches!(&result, Err(e) if e.error == TransportError::Timeout) {
                    now + timeout
                } else {
                    at
                };
                self.schedule(at, self.post_input(id, at, result));
            }
            Action::FetchMetadata { .. } => {
                let body = serde_json::json!({
                    "id": self.trace.header.config.tunnel_id,
                    "name": "replay",
                    "description": "",
                });
                let resp = Resp {
                    status: 200,
                    json: Some(body),
                    ..Resp::default()
                };
                let resp = http_response(&resp, self.wall());
                self.schedule(now, Scheduled::Engine(Input::Metadata { result: Ok(resp) }));
            }
            Action::StartMcp(work) => {
                let seen = mcp_seen(&work, at_ms);
                let rid = work.request_id.clone();
                let k = {
                    let c = self.mcp_cursor.entry(rid.clone()).or_default();
                    *c += 1;
                    *c - 1
                };
                let line = self.trace.mcp_for(&rid).get(k).map(|l| (*l).clone());
                if let McpOp::Fetch { .. } = &work.op {
                    // A step of the engine's OAuth discovery, answered at once.
                    let event = self.fetch_answer(line.as_ref(), seen, &rid);
                    self.schedule(now, Scheduled::mcp(work.cmd, event));
                    return;
                }
                match line {
                    None => self.obs.unexpected_mcp.push(seen),
                    Some(line) => {
                        self.obs.mcp.entry(rid).or_default().push(seen);
                        self.script_mcp(work.cmd, &line);
                    }
                }
            }
            Action::CancelMcp { cmd } => self.unschedule(|i| i.cmd() == Some(cmd)),
            Action::Stdio { channel, action } => {
                let i = self
                    .stdio
                    .iter()
                    .position(|c| c.channel == channel.as_str());
                if let Some(i) = i {
                    let fx = self.stdio[i].perform(now, action, &mut self.obs.stdio, at_ms);
                    self.effects(i, fx);
                }
            }
        }
    }

    /// Reports (now) and schedules what a scripted child did.
    fn effects(&mut self, i: usize, fx: Vec<Effect>) {
        let now = self.now;
        let channel = tunnel_core::channel::ChannelName::canonical(&self.stdio[i].channel);
        for e in fx {
            match (e, &channel) {
                (Effect::Report(report), Ok(channel)) => {
                    let channel = channel.clone();
                    self.schedule(now, Scheduled::Engine(Input::Stdio { channel, report }));
                }
                (Effect::Schedule(at, ci), _) => self.schedule(at, Scheduled::Child(i, ci)),
                (Effect::Report(_), Err(_)) => {}
            }
        }
    }

    /// Runs an `oauth_discovery` command's discovery against the command's MCP lines, one
    /// line per request, in order (instantly: the requests' timing is the adapters').
    /// The answer to a discovery step: the trace's next line for the command (no line:
    /// refused, and reported; neither response nor error: a timeout).
    fn fetch_answer(&mut self, line: Option<&McpLine>, seen: Seen, rid: &str) -> McpEvent {
        let Some(line) = line else {
            self.obs.unexpected_mcp.push(seen);
            return McpEvent::Error(TransportError::ConnectionRefused);
        };
        self.obs.mcp.entry(rid.to_string()).or_default().push(seen);
        match (&line.error, &line.response) {
            (Some(e), _) => McpEvent::Error(error_from_name(e)),
            (None, Some(r)) => McpEvent::Response {
                status: r.status,
                headers: header_map(&r.headers, self.wall()),
                body: Bytes::from(r.body_bytes()),
            },
            (None, None) => McpEvent::Error(TransportError::Timeout),
        }
    }

    fn script_mcp(&mut self, cmd: CommandId, line: &McpLine) {
        let mut at = self.now + Duration::from_millis(line.delay_ms);
        if let Some(e) = &line.error {
            self.schedule(at, Scheduled::mcp(cmd, McpEvent::Error(error_from_name(e))));
            return;
        }
        let Some(r) = &line.response else {
            return; // hangs
        };
        self.schedule(
            at,
            Scheduled::mcp(
                cmd,
                McpEvent::Head {
                    status: r.status,
                    headers: header_map(&r.headers, self.wall()),
                },
            ),
        );
        for (i, piece) in r.pieces().into_iter().enumerate() {
            if i > 0 {
                at += Duration::from_millis(line.chunk_delay_ms);
            }
            self.schedule(at, Scheduled::mcp(cmd, McpEvent::Body(piece.into())));
        }
        if let Some(e) = &line.body_error {
            self.schedule(at, Scheduled::mcp(cmd, McpEvent::Error(error_from_name(e))));
        } else if !line.hang {
            self.schedule(at, Scheduled::mcp(cmd, McpEvent::End));
        }
    }

    fn deliver(&mut self, engine: &mut Engine, input: Scheduled) {
        let now = self.now;
        match input {
            Scheduled::Engine(input) => engine.handle(now, input),
            Scheduled::Child(i, ci) => {
                let fx = self.stdio[i].handle(ci);
                self.effects(i, fx);
            }
        }
    }
}

/// Replays `trace` against a fresh engine; the observations go to [`super::check::check`].
pub fn replay_core(trace: &Trace) -> Result<CoreRun, String> {
    let cfg = engine_config(
        &trace.header.config,
        "http://replay.invalid",
        REPLAY_API_KEY,
    )?;
    let t0 = Instant::now();
    let mut engine =
        Engine::new(cfg, trace.header.seed, t0).map_err(|e| format!("engine setup: {e}"))?;
    engine.set_oauth_target(Uri::from_static(REPLAY_MCP_URL));
    let horizon = t0
        + trace
            .header
            .horizon_ms
            .map(Duration::from_millis)
            .unwrap_or(HORIZON);
    let mut r = Runner {
        trace,
        t0,
        now: t0,
        seq: 0,
        sched: Vec::new(),
        obs: Observations::default(),
        events: Vec::new(),
        polls_seen: 0,
        mcp_cursor: HashMap::new(),
        post_cursor: HashMap::new(),
        stdio: Vec::new(),
    };
    for ch in trace.stdio_channels() {
        let channel = tunnel_core::channel::ChannelName::canonical(ch)
            .map_err(|e| format!("binding {:?}: {e}", ch))?;
        let script = StdioScript::new(trace.stdio_for(ch));
        let mut child = SimChild::new(channel.as_str(), script);
        let (pid, fx) = child.start(t0);
        r.stdio.push(child);
        r.effects(r.stdio.len() - 1, fx);
        // The adapters' defaults: supervision options and connection TTL.
        let (opts, ttl) = (StdioOptions::default(), MuxConfig::default().ttl);
        engine.add_stdio(t0, channel, &opts, ttl, trace.header.seed, pid);
    }
    // Bounded: every iteration either delivers a scheduled input, fires a timer or advances
    // the clock, and the horizon ends it; the cap only guards against a runaway engine.
    for _ in 0..1_000_000 {
        while let Some(a) = engine.poll_action() {
            r.perform(a);
        }
        while let Some(e) = engine.poll_event() {
            let ms = r.ms(r.now);
            r.events.push(format!("{ms:>7} ms {e:?}"));
        }
        if r.sched.first().is_some_and(|s| s.at <= r.now) {
            let s = r.sched.remove(0);
            // Once the engine has its terminal it cancels the exchange (`CancelMcp`, next
            // turn), which unschedules the rest of it.
            r.deliver(&mut engine, s.input);
            continue;
        }
        if engine.poll_timeout().is_some_and(|t| t <= r.now) {
            engine.handle_timeout(r.now);
            continue;
        }
        let next = match (r.sched.first().map(|s| s.at), engine.poll_timeout()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        if next > horizon {
            break;
        }
        r.now = next;
    }
    let elapsed_ms = r.ms(r.now);
    Ok(CoreRun {
        observations: r.obs,
        events: r.events,
        elapsed_ms,
    })
}
