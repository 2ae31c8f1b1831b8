//! The latency sweep (issue #22): the same client and HTTP target with the emulator adding
//! 0, 20, 80 and 150 ms to every poll that carries commands and every response POST.
//! Closed loop: `clients` MCP clients each keep one echo call outstanding, for a fixed
//! time per level, so the figure is what the tunnel sustains at that round trip. Client
//! RSS is sampled during each level (now and the highest sample).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tunnel_conformance::emulator::{Emulator, Latency};

use super::{kib, procstat, McpClient};

type Add<'a> = dyn FnMut(&'static str, String, String) + 'a;

/// Added milliseconds per exchange, as the issue asks.
pub const LEVELS_MS: [u64; 4] = [0, 20, 80, 150];

/// Runs the sweep; the emulator's latency is restored to what it was.
pub fn run(
    emu: &Emulator,
    url: &str,
    pid: u32,
    clients: usize,
    per_level: Duration,
    payload: &str,
    add: &mut Add<'_>,
) {
    let before = emu.latency();
    // Connect (initialize) every client at no added latency: that is setup, not load.
    emu.set_latency(Latency::default());
    let mut pool: Vec<McpClient> = Vec::new();
    for _ in 0..clients {
        match McpClient::connect(url) {
            Ok(c) => pool.push(c),
            Err(e) => {
                add("latency", "sweep".into(), format!("failed: connect: {e}"));
                emu.set_latency(before);
                return;
            }
        }
    }
    for ms in LEVELS_MS {
        emu.set_latency(Latency::uniform(Duration::from_millis(ms)));
        let what =
            format!("+{ms} ms per exchange, {clients} callers: echo 1 KiB calls/s, client RSS");
        match level(pool, pid, per_level, payload) {
            Ok((back, r)) => {
                pool = back;
                add(
                    "latency",
                    what,
                    format!(
                        "{:.0}/s, RSS {} (peak {}), {} threads, CPU/call {}",
                        r.rate,
                        kib(r.rss_end),
                        kib(r.rss_peak),
                        r.threads.map_or("n/a".into(), |n| n.to_string()),
                        r.cpu
                            .map_or("n/a".into(), |d| format!("{} µs", d.as_micros()))
                    ),
                );
            }
            Err(e) => {
                add("latency", what, format!("failed: {e}"));
                break;
            }
        }
    }
    emu.set_latency(before);
}

struct LevelResult {
    rate: f64,
    rss_end: Option<u64>,
    rss_peak: Option<u64>,
    threads: Option<u64>,
    cpu: Option<Duration>,
}

/// One level: a quarter of the time as warm-up, then calls counted for the rest.
fn level(
    clients: Vec<McpClient>,
    pid: u32,
    dur: Duration,
    payload: &str,
) -> Result<(Vec<McpClient>, LevelResult), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let seq = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let (stop, done, seq, payload) =
                (stop.clone(), done.clone(), seq.clone(), payload.to_string());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let id = seq.fetch_add(1, Ordering::Relaxed) + 10_000_000;
                    if let Err(e) = c.echo(id, &payload) {
                        return (c, Err(e));
                    }
                    done.fetch_add(1, Ordering::AcqRel);
                }
                (c, Ok(()))
            })
        })
        .collect();
    let warm = dur / 4;
    std::thread::sleep(warm);
    let (n0, cpu0, t0) = (
        done.load(Ordering::Acquire),
        procstat::cpu_time(pid),
        Instant::now(),
    );
    while t0.elapsed() < dur - warm {
        if let Some(k) = procstat::rss_kib(pid) {
            peak.fetch_max(k, Ordering::AcqRel);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (n1, cpu1, wall) = (
        done.load(Ordering::Acquire),
        procstat::cpu_time(pid),
        t0.elapsed(),
    );
    let (rss_end, threads) = (procstat::rss_kib(pid), procstat::threads(pid));
    stop.store(true, Ordering::Release);
    let mut back = Vec::new();
    let mut err = None;
    for h in handles {
        match h.join() {
            Ok((c, r)) => {
                back.push(c);
                if let Err(e) = r {
                    err.get_or_insert(e);
                }
            }
            Err(_) => {
                err.get_or_insert("a caller thread panicked".into());
            }
        }
    }
    if let Some(e) = err {
        return Err(e);
    }
    let calls = n1.saturating_sub(n0);
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) if calls > 0 => Some((b - a) / calls as u32),
        _ => None,
    };
    let p = peak.load(Ordering::Acquire);
    Ok((
        back,
        LevelResult {
            rate: calls as f64 / wall.as_secs_f64(),
            rss_end,
            rss_peak: (p > 0).then_some(p),
            threads,
            cpu,
        },
    ))
}
