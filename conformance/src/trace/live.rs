//! Replaying a trace against a running adapter, in real time, through the control-plane
//! emulator and scripted MCP servers.
//!
//! The emulator is given the trace's answers up front: the n-th poll line becomes the
//! emulator's n-th scripted poll reply (commands in it are registered so their POSTs are
//! validated like any other), and each command's post lines become per-command scripted
//! answers (200 when the line scripts none). One [`ScriptedMcp`] per HTTP channel plays the
//! MCP lines; a channel whose every line is `connection_refused` points at a closed port.
//! The adapter is started by the caller's closure, so this module does not depend on any
//! adapter: `tunnel-blocking` and `tunnel-smol` each run the suite from their own tests.
//!
//! What cannot be scripted exactly in real time: an MCP `error` other than
//! `connection_refused` is a dropped connection (the adapter classifies what it sees, which
//! is what the trace must expect), and a poll or POST `error` is a dropped connection too.

use std::any::Any;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tunnel_core::channel::ChannelName;
use tunnel_core::engine::EngineConfig;

use super::check::{Observations, Seen};
use super::core_replay::post_request_id;
use super::engine::{engine_config, REPLAY_API_KEY};
use super::format::{expand_header_value, Resp, Trace};
use super::mcp_script::ScriptedMcp;
use super::stdio_child::ScriptedChild;
use crate::emulator::{Emulator, EmulatorConfig, Endpoint, Fault, RecordedRequest};

/// What a live replay hands the adapter under test.
pub struct LiveSetup {
    pub engine: EngineConfig,
    /// MCP endpoint URL per HTTP channel.
    pub targets: Vec<(ChannelName, String)>,
    /// The child's command line per stdio channel (a relay to the trace's scripted child).
    pub stdio: Vec<(ChannelName, Vec<String>)>,
    /// A tap for the adapter (recording a session); replays pass none.
    pub tap: Option<std::sync::Arc<dyn tunnel_core::tap::Tap>>,
}

/// Starts the adapter; dropping the returned value must stop it.
pub type Start<'a> = &'a (dyn Fn(LiveSetup) -> Result<Box<dyn Any>, String> + Sync);

/// What a live replay produced.
#[derive(Debug, Default)]
pub struct LiveRun {
    pub observations: Observations,
    /// Contract violations the emulator noticed (each is a divergence too).
    pub violations: Vec<String>,
    /// Why the replay stopped waiting (`complete`, or what was still missing).
    pub ended: String,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
const DEFAULT_SETTLE: Duration = Duration::from_millis(300);

fn reply(r: &Resp, delay_ms: u64) -> Fault {
    let wall = std::time::SystemTime::now();
    Fault::Reply {
        status: r.status,
        headers: r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), expand_header_value(v, wall)))
            .collect(),
        body: r.body_bytes(),
        delay: Duration::from_millis(delay_ms),
    }
}

fn seen_of(r: &RecordedRequest, t0: Instant) -> Seen {
    Seen {
        method: r.method.clone(),
        target: r.url.clone(),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        body: r.body.clone().unwrap_or_default().into_bytes(),
        at_ms: u64::try_from(r.received_at.saturating_duration_since(t0).as_millis())
            .unwrap_or(u64::MAX),
    }
}

/// A port nothing listens on (bound, then released).
fn closed_port_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    format!("http://127.0.0.1:{port}/mcp")
}

/// Replays `trace` against the adapter `start` launches; the observations go to
/// [`super::check::check`] (with the replay's name), the violations are divergences too.
pub fn replay_live(trace: &Trace, replay: &str, start: Start<'_>) -> Result<LiveRun, String> {
    let c = &trace.header.config;
    let poll_wait = Duration::from_millis(c.poll_timeout_ms.max(1));
    let mut emu = Emulator::start(EmulatorConfig {
        tunnel_id: c.tunnel_id.clone(),
        url_path: c.url_path.clone(),
        api_key: REPLAY_API_KEY.into(),
        default_poll_wait: poll_wait,
        max_poll_wait: poll_wait,
        ingress_response_timeout: None,
        workers: 16,
        close_connections: true,
        ..EmulatorConfig::default()
    })
    .map_err(|e| format!("emulator: {e}"))?;

    // Poll answers, in order; the JSON-RPC message of every command, by request id.
    let mut messages = std::collections::HashMap::new();
    let hang = Duration::from_millis(c.poll_timeout_ms + c.poll_guardrail_ms + 1000);
    for line in &trace.polls {
        let fault = if line.hang {
            Fault::Delay(hang)
        } else if line.error.is_some() {
            Fault::Drop
        } else if let Some(r) = &line.response {
            if r.status == 200 {
                let body: serde_json::Value =
                    serde_json::from_slice(&r.body_bytes()).unwrap_or_default();
                for cmd in body
                    .get("commands")
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                {
                    emu.issue_raw(&cmd.to_string());
                    if let (Some(rid), Some(m)) = (
                        cmd.get("request_id").and_then(|v| v.as_str()),
                        cmd.get("jsonrpc"),
                    ) {
                        messages.insert(rid.to_string(), m.clone());
                    }
                }
            }
            reply(r, line.delay_ms)
        } else {
            Fault::Delay(hang)
        };
        emu.script_poll(fault);
    }
    // Response POST answers, per command.
    for p in &trace.posts {
        let fault = if p.error.is_some() {
            Fault::Drop
        } else if let Some(r) = &p.response {
            reply(r, p.delay_ms)
        } else {
            Fault::Delay(Duration::from_millis(p.delay_ms))
        };
        emu.script_response_for(&p.request_id, fault);
    }

    // MCP servers, one per HTTP channel.
    let t0 = Instant::now();
    let mut servers: Vec<(String, ScriptedMcp)> = Vec::new();
    let mut targets = Vec::new();
    for b in c.bindings.iter().filter(|b| b.kind == "http") {
        let lines: Vec<_> = trace
            .mcp
            .iter()
            .filter(|m| m.channel.as_deref().unwrap_or("main") == b.channel)
            .cloned()
            .collect();
        let channel = ChannelName::canonical(&b.channel).map_err(|e| e.to_string())?;
        let refused = !lines.is_empty()
            && lines
                .iter()
                .all(|l| l.error.as_deref() == Some("connection_refused"));
        if refused {
            targets.push((channel, closed_port_url()));
            continue;
        }
        let s = ScriptedMcp::start(lines, &messages, t0).map_err(|e| format!("MCP script: {e}"))?;
        targets.push((channel, s.url()));
        servers.push((b.channel.clone(), s));
    }

    // Scripted children, one per stdio channel.
    let mut children: Vec<(String, ScriptedChild)> = Vec::new();
    let mut stdio = Vec::new();
    for ch in trace.stdio_channels() {
        let channel = ChannelName::canonical(ch).map_err(|e| e.to_string())?;
        let child = ScriptedChild::start(channel.as_str(), trace.stdio_for(ch), t0)
            .map_err(|e| format!("stdio script: {e}"))?;
        stdio.push((channel, child.argv()));
        children.push((ch.to_string(), child));
    }

    // A child process takes a while to start (an interpreter: tens to hundreds of ms); the
    // trace's timing is relative to a child that is up, so commands wait for it.
    emu.hold_polls(!children.is_empty());
    let engine = engine_config(c, &emu.base_url(), REPLAY_API_KEY)?;
    let client = start(LiveSetup {
        engine,
        targets,
        stdio,
        tap: None,
    })?;
    let up_by = Instant::now() + Duration::from_secs(10);
    while !children.iter().all(|(_, c)| c.connected()) && Instant::now() < up_by {
        std::thread::sleep(Duration::from_millis(5));
    }
    emu.hold_polls(false);

    // Wait until every scripted exchange happened (or the time is up), then a little more.
    let timeout = trace
        .header
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT);
    let polls_needed = trace
        .expects
        .iter()
        .filter(|e| e.rule.starts_with("poll_gap") && Trace::applies(e, replay))
        .filter_map(|e| e.after_poll)
        .map(|n| n + 1)
        .max()
        .unwrap_or(0);
    let mut want_posts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &trace.posts {
        *want_posts.entry(p.request_id.as_str()).or_default() += 1;
    }
    let deadline = t0 + timeout;
    let ended = loop {
        let mut missing = Vec::new();
        if emu.pending_faults(Endpoint::Poll) > 0 {
            missing.push(format!(
                "{} scripted poll answer(s) unused",
                emu.pending_faults(Endpoint::Poll)
            ));
        }
        if emu.polls().len() < polls_needed {
            missing.push(format!("{} polls, want {polls_needed}", emu.polls().len()));
        }
        let reqs = emu.requests();
        for (rid, n) in &want_posts {
            let got = reqs
                .iter()
                .filter(|r| r.path.ends_with("/response"))
                .filter(|r| r.status.is_some() || r.fault.is_some())
                .filter(|r| {
                    r.body
                        .as_deref()
                        .and_then(|b| post_request_id(b.as_bytes()))
                        .as_deref()
                        == Some(*rid)
                })
                .count();
            if got < *n {
                missing.push(format!("{got} of {n} post(s) for {rid}"));
            }
        }
        for (ch, s) in &servers {
            if s.unused() > 0 {
                missing.push(format!("{} MCP line(s) of channel {ch} unused", s.unused()));
            }
        }
        for (ch, s) in &children {
            if s.unused() > 0 {
                missing.push(format!(
                    "{} stdio line(s) of channel {ch} unused",
                    s.unused()
                ));
            }
        }
        if missing.is_empty() {
            break "complete".to_string();
        }
        if Instant::now() >= deadline {
            break format!("timed out after {timeout:?}: {}", missing.join("; "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(
        trace
            .header
            .settle_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_SETTLE),
    );
    drop(client);

    let mut obs = Observations::default();
    for r in emu.requests() {
        if r.path.ends_with("/poll") {
            obs.polls.push(seen_of(&r, t0));
        } else if r.path.ends_with("/response") {
            let seen = seen_of(&r, t0);
            match post_request_id(&seen.body) {
                Some(rid) => obs.posts.entry(rid).or_default().push(seen),
                None => obs.stray_posts.push(seen),
            }
        }
    }
    for (_, s) in &mut servers {
        s.stop();
        for (rid, seen) in s.log() {
            match rid {
                Some(rid) => obs.mcp.entry(rid).or_default().push(seen),
                None => obs.unexpected_mcp.push(seen),
            }
        }
    }
    for (_, mut child) in children {
        child.stop();
        obs.stdio.extend(child.seen());
    }
    for v in obs.mcp.values_mut() {
        v.sort_by_key(|s| s.at_ms);
    }
    let violations = emu.violations();
    emu.shutdown();
    Ok(LiveRun {
        observations: obs,
        violations,
        ended,
    })
}

/// Replays one trace and checks it; `Err` is the report of the first divergence (or of a
/// replay that could not run).
pub fn run_one(trace: &Trace, replay: &str, start: Start<'_>) -> Result<(), String> {
    let run = replay_live(trace, replay, start)?;
    let subst = super::check::Subst {
        api_key: REPLAY_API_KEY.into(),
    };
    if run.ended != "complete" {
        eprintln!("{} on {replay}: {}", trace.header.name, run.ended);
    }
    if let Err(d) = super::check::check(trace, replay, &run.observations, &subst) {
        return Err(format!(
            "{d}
  (replay ended: {})",
            run.ended
        ));
    }
    if let Some(v) = run.violations.first() {
        return Err(format!(
            "trace {} replayed on {replay}: the emulator saw a contract violation: {v}",
            trace.header.name
        ));
    }
    Ok(())
}

/// Replays every trace of the suite (`conformance/traces/`) not skipped for `replay`,
/// `parallel` at a time (they mostly wait). `Ok` is how many ran; `Err` lists every
/// divergence.
pub fn run_suite(replay: &str, start: Start<'_>, parallel: usize) -> Result<usize, String> {
    let files = super::format::trace_files(&super::format::suite_dir());
    let mut traces = Vec::new();
    for f in files {
        let t = Trace::load(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        // TRACE_FILTER=substring runs only the matching traces (debugging).
        if let Ok(filter) = std::env::var("TRACE_FILTER") {
            if !t.header.name.contains(&filter) {
                continue;
            }
        }
        match t.header.skip.get(replay) {
            Some(why) => eprintln!("skip {} on {replay}: {why}", t.header.name),
            None => traces.push(t),
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..parallel.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(t) = traces.get(i) else { break };
                let t0 = Instant::now();
                let r = run_one(t, replay, start);
                eprintln!(
                    "{} {} on {replay} ({} ms)",
                    if r.is_ok() { "ok  " } else { "FAIL" },
                    t.header.name,
                    t0.elapsed().as_millis()
                );
                if let Err(e) = r {
                    failures.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    if failures.is_empty() {
        Ok(traces.len())
    } else {
        Err(format!(
            "{} of {} traces diverged on {replay}:\n\n{}",
            failures.len(),
            traces.len(),
            failures.join("\n\n")
        ))
    }
}
