//! `bench --soak`: a steady open-loop load for a long time, judged on loss and growth.
//!
//! ```sh
//! bench --soak --target stdio --rate 200 --duration 60s --latency 80ms \
//!       --max-inflight 64 --max-concurrent 32
//! ```
//!
//! Commands are enqueued at the emulator at `rate` per second (no MCP ingress: the load
//! generator must not be the bottleneck), each a `tools/call echo` with a 30 s
//! `response_timeout`, against server-everything over stdio (`--target stdio`, the issue's
//! scenario) or the in-process stub over Streamable HTTP (`--target http`). Every second
//! it samples the client's RSS, threads, open fds and CPU, and the commands the client
//! holds (handed out by the emulator, no terminal response recorded yet).
//!
//! It fails (exit 1) when a command got no terminal response (lost or expired), when the
//! held count ever exceeded `--max-inflight`, or when the client's *level* drifted after
//! the warm-up (the first third, at most 60 s): RSS by more than 1 MiB, threads or open fds
//! by more than 16. Timing is reported, never judged.
//!
//! A level is the median of the samples in a window: the window right after the warm-up
//! against the last one (each a third of what follows the warm-up, at most 60 s). A burst
//! of responses briefly adds poster threads and connections (live memory, released when
//! the burst is over) and must not count as growth; what a leak or a retained high-water
//! mark leaves behind shows in the final level. The peak is printed beside it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tunnel_conformance::emulator::{CommandSpec, Latency};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
use tunnel_conformance::peers::Peers;

use super::{emulator, kib, procstat, ClientProc};

/// Soak settings (flags of `bench --soak`).
pub struct Soak {
    pub rate: u32,
    pub duration: Duration,
    pub latency: Latency,
    pub stdio: bool,
    pub max_inflight: usize,
    pub max_concurrent: usize,
}

/// `60s`, `10m`, `1h` (or bare seconds).
pub fn parse_span(v: &str) -> Option<Duration> {
    let (n, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&v[..i], &v[i..]),
        None => (v, "s"),
    };
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// One sample of the client.
#[derive(Clone, Copy)]
struct Sample {
    rss: u64,
    /// The anonymous part of `rss` (heap, stacks); the rest is file-backed, mostly the
    /// binary's own pages as code paths are first used: bounded by its size, not a leak.
    anon: u64,
    threads: u64,
    fds: u64,
    held: usize,
}

const RSS_GROWTH_KIB: u64 = 1024;
const COUNT_GROWTH: u64 = 16;

/// The median of `f` over `samples` (0 when empty).
fn level(samples: &[Sample], f: fn(&Sample) -> u64) -> u64 {
    let mut v: Vec<u64> = samples.iter().map(f).collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Runs the soak; returns the failures (empty: passed).
pub fn run(bin: &Path, s: &Soak) -> Vec<String> {
    let emu = emulator();
    emu.set_latency(s.latency);
    let _stub;
    let (mcp_args, echo_arg) = if s.stdio {
        let Some(peers) = Peers::find() else {
            return vec!["server-everything is not installed (.ci/install-peers)".into()];
        };
        (
            vec![
                "--mcp.command".into(),
                peers.everything_stdio_argv().join(" "),
            ],
            "message",
        )
    } else {
        let stub = match McpStub::start(StubConfig {
            require_session: false,
            workers: 128,
            ..StubConfig::default()
        }) {
            Ok(st) => st,
            Err(e) => return vec![format!("stub: {e}")],
        };
        let url = stub.url();
        _stub = stub;
        (vec!["--mcp.server-url".into(), url], "input")
    };
    let client = match ClientProc::start_with(
        bin,
        &emu,
        (s.max_inflight, s.max_concurrent),
        &mcp_args,
        &[],
    ) {
        Ok(c) => c,
        Err(e) => return vec![e],
    };
    let pid = client.pid;
    // A session first: stdio servers answer nothing before `initialize`.
    let init = emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"soak","version":"1"}}}))
        .response_timeout("30s"),
    );
    if emu.wait_terminal(&init, Duration::from_secs(30)).is_none() {
        return vec!["initialize got no answer within 30 s".into()];
    }
    let initialized = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    ));
    if emu
        .wait_terminal(&initialized, Duration::from_secs(30))
        .is_none()
    {
        return vec!["notifications/initialized was never acknowledged".into()];
    }
    // Counters, not copies: a one-hour run holds ~720,000 posts.
    let base_terminals = emu.terminal_count();
    let base_handouts = emu.handout_count();

    let payload = "x".repeat(256);
    let interval = Duration::from_secs_f64(1.0 / f64::from(s.rate.max(1)));
    let warm_up = (s.duration / 3).min(Duration::from_secs(60));
    let t0 = Instant::now();
    let cpu0 = procstat::cpu_time(pid);
    let mut ids = Vec::new();
    let mut samples: Vec<(Duration, Sample)> = Vec::new();
    let mut next_sample = t0;
    let mut next_send = t0;
    let mut max_held = 0usize;
    eprintln!(
        "soak: {} target, {}/s for {:?}, +{:?} per exchange (± {:?}), max-inflight {}, max-concurrent {}",
        if s.stdio { "stdio (server-everything)" } else { "HTTP (stub)" },
        s.rate, s.duration, s.latency.post, s.latency.jitter, s.max_inflight, s.max_concurrent
    );
    while t0.elapsed() < s.duration {
        let now = Instant::now();
        while next_send <= now {
            let i = ids.len() as u64 + 1;
            ids.push(
                emu.enqueue(
                    CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":i,"method":"tools/call",
                        "params":{"name":"echo","arguments":{echo_arg: payload}}}))
                    .response_timeout("30s"),
                ),
            );
            next_send += interval;
        }
        if now >= next_sample {
            let held = (emu.handout_count() - base_handouts)
                .saturating_sub(emu.terminal_count() - base_terminals);
            max_held = max_held.max(held);
            let smp = Sample {
                rss: procstat::rss_kib(pid).unwrap_or(0),
                anon: procstat::rss_anon_kib(pid).unwrap_or(0),
                threads: procstat::threads(pid).unwrap_or(0),
                fds: procstat::open_fds(pid).unwrap_or(0) as u64,
                held,
            };
            let at = t0.elapsed();
            if at.as_secs() % 5 == 0 {
                eprintln!(
                    "  t={:>4}s sent {:>6} held {:>4} RSS {} (anon {}) threads {} fds {}",
                    at.as_secs(),
                    ids.len(),
                    smp.held,
                    kib(Some(smp.rss)),
                    kib(Some(smp.anon)),
                    smp.threads,
                    smp.fds
                );
            }
            samples.push((at, smp));
            next_sample += Duration::from_secs(1);
        }
        let wake = next_send.min(next_sample);
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
    let sent = ids.len();
    // Everything sent gets its answer or its 30 s deadline passes.
    // (One pass over the responses per second: waiting per id scans them all each time.)
    let deadline = Instant::now() + Duration::from_secs(35);
    let lost = loop {
        let answered = emu.answered_ids();
        let missing = ids.iter().filter(|id| !answered.contains(*id)).count();
        if missing == 0 || Instant::now() >= deadline {
            break missing;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let cpu = match (cpu0, procstat::cpu_time(pid)) {
        (Some(a), Some(b)) if sent > 0 => Some((b - a) / sent as u32),
        _ => None,
    };
    drop(client);

    let mut failures = Vec::new();
    if lost > 0 {
        failures.push(format!(
            "{lost} of {sent} commands got no terminal response"
        ));
    }
    if max_held > s.max_inflight {
        failures.push(format!(
            "the client held {max_held} commands, max-inflight {}",
            s.max_inflight
        ));
    }
    let after: Vec<Sample> = samples
        .iter()
        .filter(|(at, _)| *at >= warm_up)
        .map(|(_, x)| *x)
        .collect();
    // Window: a third of what follows the warm-up, at most 60 samples (one per second).
    let w = (after.len() / 3).clamp(1, 60);
    let (rss_growth, anon_growth, thr_growth, fd_growth) = if after.len() >= 3 {
        let (first, last) = (&after[..w], &after[after.len() - w..]);
        let drift = |f: fn(&Sample) -> u64| level(last, f).saturating_sub(level(first, f));
        (
            drift(|x| x.rss),
            drift(|x| x.anon),
            drift(|x| x.threads),
            drift(|x| x.fds),
        )
    } else {
        failures.push("too few samples after the warm-up (duration too short)".into());
        (0, 0, 0, 0)
    };
    if rss_growth > RSS_GROWTH_KIB {
        failures.push(format!(
            "RSS level grew {rss_growth} KiB after the warm-up (anonymous memory {anon_growth} KiB; budget {RSS_GROWTH_KIB})"
        ));
    }
    if thr_growth > COUNT_GROWTH || fd_growth > COUNT_GROWTH {
        failures.push(format!(
            "threads grew {thr_growth}, fds {fd_growth} after the warm-up (budget {COUNT_GROWTH})"
        ));
    }
    let peak = samples.iter().map(|(_, x)| x.rss).max();
    println!("| soak | value |");
    println!("|---|---|");
    println!(
        "| load | {} {}/s for {:?}, +{:?} per exchange |",
        if s.stdio { "stdio" } else { "HTTP" },
        s.rate,
        s.duration,
        s.latency.post
    );
    println!(
        "| answered | {} of {sent} ({:.0}/s offered) |",
        sent - lost,
        sent as f64 / s.duration.as_secs_f64()
    );
    println!(
        "| held at most | {max_held} (max-inflight {}) |",
        s.max_inflight
    );
    println!(
        "| RSS | peak {}, level growth after warm-up {rss_growth} KiB (anonymous memory {anon_growth} KiB) |",
        kib(peak)
    );
    println!("| threads / fds growth after warm-up | {thr_growth} / {fd_growth} |");
    println!(
        "| client CPU per command | {} |",
        cpu.map_or("n/a".into(), |d| format!("{} µs", d.as_micros()))
    );
    failures
}
