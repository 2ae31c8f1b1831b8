//! `bench`: overhead, throughput, stdio concurrency and footprint of `tunnel-client run`,
//! all on loopback, in one run, printed as one table. It never asserts a time.
//!
//! ```sh
//! cargo build --release -p tunnel-client
//! cargo run --release -p tunnel-conformance --bin bench            # full run
//! cargo run --release -p tunnel-conformance --bin bench -- --quick # smaller counts
//! cargo run --release -p tunnel-conformance --bin bench -- --quick --strict # CI smoke run
//! ```
//!
//! `--latency D` (`80ms`, `0.15s`) makes the emulator add D to every poll answer that carries
//! commands and to every response POST (`--latency-jitter D` ± around it), so every section
//! runs "across the internet" on loopback.
//!
//! `--strict` exits 1 when any row has no figure (a step failed or a peer is missing); it
//! still judges no timing. CI runs it so the bench cannot rot unnoticed.
//!
//! `--soak [--target stdio|http] [--rate N] [--duration D] [--max-inflight N]
//! [--max-concurrent N]` runs the long check of `soak.rs` instead (with `--latency`).
//!
//! `BENCH_CLIENT_CPU=0` runs the client under `taskset -c 0` (one core) and moves the bench
//! itself (the load: MCP clients, emulator, MCP server) to the other cores, so each side's
//! CPU per call is its own.
//!
//! The client under test is a separate process (the release binary), so its CPU time and
//! memory are read from `/proc/<pid>` and never include the emulator's or the MCP
//! server's cost, which run inside this process.

mod bridges;
mod latency;
mod procstat;
mod relay_floor;
mod soak;
mod stdio;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tunnel_conformance::emulator::{parse_duration, Emulator, EmulatorConfig, Latency};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

/// One figure of the table.
struct Row {
    section: &'static str,
    what: String,
    value: String,
}

struct Table(Vec<Row>);

impl Table {
    fn add(&mut self, section: &'static str, what: impl Into<String>, value: impl Into<String>) {
        let (what, value) = (what.into(), value.into());
        eprintln!("  {section:<12} {what:<58} {value}");
        self.0.push(Row {
            section,
            what,
            value,
        });
    }

    /// Rows that did not produce a figure ("failed: …" or "n/a: …").
    fn missing(&self) -> Vec<&Row> {
        self.0
            .iter()
            .filter(|r| r.value.starts_with("failed") || r.value.starts_with("n/a"))
            .collect()
    }

    fn print(&self) {
        println!("| section | measurement | value |");
        println!("|---|---|---|");
        for r in &self.0 {
            println!("| {} | {} | {} |", r.section, r.what, r.value);
        }
    }
}

/// Latency percentiles of a sample, in microseconds.
fn percentiles(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_micros();
    format!(
        "p50 {} µs, p95 {} µs, p99 {} µs (n={})",
        p(0.50),
        p(0.95),
        p(0.99),
        v.len()
    )
}

pub fn kib(v: Option<u64>) -> String {
    v.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

/// A minimal MCP client over Streamable HTTP (JSON responses), with a session.
struct McpClient {
    agent: ureq::Agent,
    url: String,
    session: Option<String>,
}

impl McpClient {
    fn connect(url: &str) -> Result<McpClient, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Bounded per phase, not globally: with a global (or resolve) timeout ureq
            // resolves every request's host on a new thread, an IP literal included, and
            // that load-side cost would crowd the emulator and the MCP server off their core.
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_send_body(Some(Duration::from_secs(60)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut c = McpClient {
            agent,
            url: url.to_string(),
            session: None,
        };
        c.call(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}))?;
        c.call(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))?;
        Ok(c)
    }

    fn call(&mut self, msg: &Value) -> Result<Value, String> {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("Mcp-Protocol-Version", "2025-11-25");
        if let Some(s) = &self.session {
            req = req.header("Mcp-Session-Id", s);
        }
        let mut resp = req
            .send(serde_json::to_vec(msg).unwrap_or_default())
            .map_err(|e| format!("{e}"))?;
        if let Some(s) = resp.headers().get("mcp-session-id") {
            self.session = s.to_str().ok().map(str::to_string);
        }
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{e}"))?;
        if !(200..300).contains(&status) {
            return Err(format!("HTTP {status}: {body}"));
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        let json_text = if body.starts_with('{') {
            body.as_str()
        } else {
            last_sse_data(&body).unwrap_or("null")
        };
        serde_json::from_str(json_text).map_err(|e| format!("{e}: {body}"))
    }

    fn echo(&mut self, id: u64, payload: &str) -> Result<(), String> {
        let v = self.call(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":"echo","arguments":{"input":payload}}}))?;
        if v["result"]["isError"] == json!(false) {
            Ok(())
        } else {
            Err(format!("unexpected echo result: {v}"))
        }
    }
}

/// The JSON-RPC answer of an SSE body: its last non-empty `data:` line.
pub fn last_sse_data(body: &str) -> Option<&str> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|d| !d.is_empty())
}

/// The client under test, as a process.
pub struct ClientProc {
    child: Child,
    pub pid: u32,
    pub health: String,
    _dir: PathBuf,
}

impl ClientProc {
    pub fn start(bin: &Path, emu: &Emulator, mcp_args: &[String]) -> Result<ClientProc, String> {
        Self::start_with(bin, emu, (256, 64), mcp_args, &[])
    }

    /// With `(max_inflight, max_concurrent)` for `--control-plane.max-inflight` and
    /// `--mcp.max-concurrent-requests`.
    pub fn start_with(
        bin: &Path,
        emu: &Emulator,
        limits: (usize, usize),
        mcp_args: &[String],
        env: &[(&str, &str)],
    ) -> Result<ClientProc, String> {
        let (inflight, concurrent) = (limits.0.to_string(), limits.1.to_string());
        let dir =
            std::env::temp_dir().join(format!("tc-bench-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let url_file = dir.join("health.url");
        let mut child = pinned(bin)
            .arg("run")
            .args(["--control-plane.base-url", &emu.control_plane_url()])
            .args(["--control-plane.tunnel-id", emu.tunnel_id()])
            .args(["--control-plane.max-inflight", &inflight])
            .args(["--mcp.max-concurrent-requests", &concurrent])
            .args(["--health.listen-addr", "127.0.0.1:0"])
            .arg("--health.url-file")
            .arg(&url_file)
            // BENCH_CLIENT_LOG=debug shows what the client does (on this stderr).
            .args([
                "--log.level",
                &std::env::var("BENCH_CLIENT_LOG").unwrap_or_else(|_| "warn".into()),
                "--log.format",
                "struct-text",
            ])
            .args(mcp_args)
            .env("CONTROL_PLANE_API_KEY", emu.api_key())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stderr = child.stderr.take();
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(s) = stderr {
            let log = log.clone();
            std::thread::spawn(move || {
                let echo = std::env::var_os("BENCH_CLIENT_LOG").is_some();
                for line in BufReader::new(s).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("[client] {line}");
                    }
                    let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                    if l.len() < 64 * 1024 {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // The client writes the file atomically (temp file + rename) and, like the Go
            // client, without a trailing newline: any non-empty content is the whole URL.
            if let Ok(s) = std::fs::read_to_string(&url_file) {
                if !s.trim().is_empty() {
                    let pid = child.id();
                    return Ok(ClientProc {
                        child,
                        pid,
                        health: s.trim().to_string(),
                        _dir: dir,
                    });
                }
            }
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!(
                    "tunnel-client exited ({st}): {}",
                    log.lock().unwrap_or_else(|e| e.into_inner())
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("tunnel-client did not start within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ClientProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

/// `program` as a command; with `BENCH_CLIENT_CPU=N`, under `taskset -c N`, so the figures
/// of the process under test (the client, the floor relay) are for one core whatever else
/// the machine runs.
fn pinned(program: &Path) -> Command {
    match std::env::var("BENCH_CLIENT_CPU") {
        Ok(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu]).arg(program);
            c
        }
        Err(_) => Command::new(program),
    }
}

/// With `BENCH_CLIENT_CPU=N`, moves this process (the load: MCP clients, emulator, MCP
/// server) to every other CPU, so the client's core is its own and the load's CPU per call
/// is the load's. Done first, before any thread exists; threads inherit it.
fn pin_load_away_from_client() {
    let Ok(cpu) = std::env::var("BENCH_CLIENT_CPU") else {
        return;
    };
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let others: Vec<String> = (0..n)
        .map(|c| c.to_string())
        .filter(|c| *c != cpu.trim())
        .collect();
    if others.is_empty() {
        eprintln!("bench: one CPU only: the load shares it with the client");
        return;
    }
    let pid = std::process::id().to_string();
    let list = others.join(",");
    match Command::new("taskset")
        .args(["-a", "-p", "-c", &list, &pid])
        .stdout(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => eprintln!("bench: client on CPU {cpu}, load on CPU {list}"),
        _ => eprintln!("bench: could not pin the load to CPU {list} (taskset)"),
    }
}

/// The HTTP-target throughput and the footprint at 256 in flight again, with the client on
/// the blocking adapter's threads (`TUNNEL_CLIENT_DRIVER=blocking`; the rows above run the
/// default, smol), against a fresh emulator.
fn blocking_driver(bin: &Path, stub: &McpStub, scale: usize, payload: &str, t: &mut Table) {
    const SECTION: &str = "blocking driver";
    let emu = emulator();
    let env = [("TUNNEL_CLIENT_DRIVER", "blocking")];
    let mcp = ["--mcp.server-url".to_string(), stub.url()];
    let client = match ClientProc::start_with(bin, &emu, (256, 64), &mcp, &env) {
        Ok(c) => c,
        Err(e) => {
            t.add(
                SECTION,
                "all blocking driver figures",
                format!("failed: {e}"),
            );
            return;
        }
    };
    std::thread::sleep(Duration::from_millis(500));
    t.add(SECTION, "RSS idle", kib(procstat::rss_kib(client.pid)));
    let url = emu.mcp_url();
    for (c, total) in [(16, 1000 * scale), (64, 2000 * scale)] {
        let row = format!("concurrency {c}: echo 1 KiB calls/s, client CPU per call");
        match throughput(&url, client.pid, c, total, payload) {
            Ok(rate) => t.add(SECTION, row, rate.to_string()),
            Err(e) => t.add(SECTION, row, format!("failed: {e}")),
        }
    }
    rss_at_256_in_flight(&url, client.pid, SECTION, t);
    t.add(
        SECTION,
        "threads after the run",
        procstat::threads(client.pid).map_or("n/a".into(), |n| n.to_string()),
    );
}

/// The floor relay (`relay_floor.rs`) as a process of its own, pinned like the client.
struct RelayProc {
    child: Child,
    pid: u32,
}

impl RelayProc {
    fn start(emu: &Emulator, mcp_url: &str) -> Result<RelayProc, String> {
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let child = pinned(&me)
            .arg("--relay-floor")
            .env(
                "RELAY_CP",
                format!("{}/v1/tunnels/{}", emu.control_plane_url(), emu.tunnel_id()),
            )
            .env("RELAY_MCP", mcp_url)
            .env("CONTROL_PLANE_API_KEY", emu.api_key())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the relay: {e}"))?;
        let pid = child.id();
        // Its first long poll is out well before the first MCP client has initialised.
        std::thread::sleep(Duration::from_millis(300));
        Ok(RelayProc { child, pid })
    }
}

impl Drop for RelayProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Added latency for every emulator of the run (`--latency`, `--latency-jitter`).
static LATENCY: std::sync::OnceLock<Latency> = std::sync::OnceLock::new();

pub fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        // Each delayed poll or POST holds a worker for the added latency, on top of one
        // per outstanding ingress request.
        workers: 600,
        latency: LATENCY.get().copied().unwrap_or_default(),
        ..EmulatorConfig::default()
    })
    .expect("emulator")
}

/// The value after `flag` parsed as a duration; exits with the reason when malformed.
fn duration_flag(args: &[String], flag: &str) -> Option<Duration> {
    let v = args
        .windows(2)
        .find(|w| w[0] == flag)
        .map(|w| w[1].clone())?;
    match parse_duration(&v) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("bench: {flag}: {e}");
            std::process::exit(2);
        }
    }
}

/// `n` sequential echo calls; their latencies.
fn sequential(url: &str, n: usize, payload: &str) -> Result<Vec<Duration>, String> {
    let mut c = McpClient::connect(url)?;
    for i in 0..20 {
        c.echo(i, payload)?; // warm-up: connections, caches
    }
    (0..n)
        .map(|i| {
            let t = Instant::now();
            c.echo(1000 + i as u64, payload).map(|()| t.elapsed())
        })
        .collect()
}

/// The floor: two raw HTTP exchanges on loopback (MCP client → emulator, client → server
/// would be the minimum a tunnel adds), against a server that answers at once.
fn floor(n: usize) -> Vec<Duration> {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("floor server");
    let addr = server.server_addr().to_ip().expect("ip");
    let server = Arc::new(server);
    let s2 = server.clone();
    std::thread::spawn(move || {
        for mut rq in s2.incoming_requests() {
            let mut sink = Vec::new();
            let _ = rq.as_reader().read_to_end(&mut sink);
            let _ = rq.respond(tiny_http::Response::from_string("{}"));
        }
    });
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let url = format!("http://{addr}/");
    let body = vec![b'x'; 1024];
    let one = || {
        let _ = agent
            .post(&url)
            .send(&body[..])
            .and_then(|mut r| r.body_mut().read_to_string());
    };
    for _ in 0..20 {
        one();
    }
    let out = (0..n)
        .map(|_| {
            let t = Instant::now();
            one();
            one();
            t.elapsed()
        })
        .collect();
    server.unblock();
    out
}

/// Calls per second, and the CPU per call of the process under test and of the load side.
struct Rate {
    per_second: f64,
    cpu: Option<Duration>,
    /// This process: the MCP clients, the emulator and the MCP server (all pinned away
    /// from the client by `BENCH_CLIENT_CPU`).
    load_cpu: Option<Duration>,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = |d: Option<Duration>| d.map_or("n/a".into(), |d| format!("{} µs", d.as_micros()));
        write!(
            f,
            "{:.0}/s, {} (load side {})",
            self.per_second,
            us(self.cpu),
            us(self.load_cpu)
        )
    }
}

/// `workers` threads share `total` echo calls through the tunnel.
fn throughput(
    url: &str,
    pid: u32,
    workers: usize,
    total: usize,
    payload: &str,
) -> Result<Rate, String> {
    let clients: Vec<McpClient> = (0..workers)
        .map(|_| McpClient::connect(url))
        .collect::<Result<_, _>>()?;
    let left = Arc::new(AtomicUsize::new(total));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let cpu0 = procstat::cpu_time(pid);
    let load0 = procstat::cpu_time(std::process::id());
    let t0 = Instant::now();
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(w, mut c)| {
            let (left, errors, payload) = (left.clone(), errors.clone(), payload.to_string());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while left
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    i += 1;
                    if let Err(e) = c.echo(w as u64 * 1_000_000 + i, &payload) {
                        errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                        return;
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let wall = t0.elapsed();
    let per_call = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) / total as u32),
        _ => None,
    };
    let cpu = per_call(cpu0, procstat::cpu_time(pid));
    let load_cpu = per_call(load0, procstat::cpu_time(std::process::id()));
    if let Some(e) = errors.lock().unwrap_or_else(|e| e.into_inner()).first() {
        return Err(e.clone());
    }
    Ok(Rate {
        per_second: total as f64 / wall.as_secs_f64(),
        cpu,
        load_cpu,
    })
}

/// The "RSS peak with 256 commands in flight" row (1 s `slow` calls) of `section`.
fn rss_at_256_in_flight(url: &str, pid: u32, section: &'static str, t: &mut Table) {
    match peak_in_flight(url, pid, 256, 1000) {
        Ok(peak) => t.add(section, "RSS peak with 256 commands in flight", kib(peak)),
        Err(e) => t.add(section, "RSS with 256 in flight", format!("failed: {e}")),
    }
}

/// RSS peak while `n` slow calls are in flight at once.
fn peak_in_flight(url: &str, pid: u32, n: usize, ms: u64) -> Result<Option<u64>, String> {
    let clients: Vec<McpClient> = (0..n)
        .map(|_| McpClient::connect(url))
        .collect::<Result<_, _>>()?;
    let peak = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, running) = (peak.clone(), running.clone());
        std::thread::spawn(move || {
            while running.load(Ordering::Acquire) {
                if let Some(k) = procstat::rss_kib(pid) {
                    peak.fetch_max(k as usize, Ordering::AcqRel);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                c.call(&json!({"jsonrpc":"2.0","id":i,"method":"tools/call",
                    "params":{"name":"slow","arguments":{"ms":ms,"steps":1}}}))
            })
        })
        .collect();
    let mut failed = None;
    for h in handles {
        if let Ok(Err(e)) = h.join() {
            failed = Some(e);
        }
    }
    running.store(false, Ordering::Release);
    let _ = sampler.join();
    match failed {
        Some(e) => Err(e),
        None => Ok(Some(peak.load(Ordering::Acquire) as u64)),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--relay-floor") {
        relay_floor::run();
    }
    pin_load_away_from_client();
    let quick = args.iter().any(|a| a == "--quick");
    let strict = args.iter().any(|a| a == "--strict");
    let bin = args
        .windows(2)
        .find(|w| w[0] == "--client")
        .map(|w| PathBuf::from(&w[1]))
        .unwrap_or_else(|| {
            tunnel_conformance::peers::workspace_root().join("target/release/tunnel-client")
        });
    if !bin.exists() {
        eprintln!(
            "bench: {} not found; build it first: cargo build --release -p tunnel-client (or pass --client PATH)",
            bin.display()
        );
        std::process::exit(1);
    }
    let base = duration_flag(&args, "--latency").unwrap_or_default();
    let jitter = duration_flag(&args, "--latency-jitter").unwrap_or_default();
    let _ = LATENCY.set(Latency::uniform(base).with_jitter(jitter, 1));
    if args.iter().any(|a| a == "--soak") {
        let num = |flag: &str, default: u64| -> u64 {
            match args.windows(2).find(|w| w[0] == flag) {
                None => default,
                Some(w) => w[1].parse().unwrap_or_else(|_| {
                    eprintln!("bench: {flag}: {:?} is not a whole number", w[1]);
                    std::process::exit(2);
                }),
            }
        };
        let target = args
            .windows(2)
            .find(|w| w[0] == "--target")
            .map_or("stdio", |w| w[1].as_str());
        if !["stdio", "http"].contains(&target) {
            eprintln!("bench: --target: {target:?}: use stdio or http");
            std::process::exit(2);
        }
        let s = soak::Soak {
            rate: num("--rate", 200) as u32,
            duration: args
                .windows(2)
                .find(|w| w[0] == "--duration")
                .map_or(Some(Duration::from_secs(60)), |w| soak::parse_span(&w[1]))
                .unwrap_or_else(|| {
                    eprintln!("bench: --duration: use e.g. 60s, 10m or 1h");
                    std::process::exit(2);
                }),
            latency: *LATENCY.get().expect("set above"),
            stdio: target == "stdio",
            max_inflight: num("--max-inflight", 64) as usize,
            max_concurrent: num("--max-concurrent", 32) as usize,
        };
        let failures = soak::run(&bin, &s);
        for f in &failures {
            eprintln!("soak: FAILED: {f}");
        }
        std::process::exit(if failures.is_empty() { 0 } else { 1 });
    }
    let scale = if quick { 1 } else { 4 };
    let payload = "x".repeat(1024);
    let mut t = Table(Vec::new());
    eprintln!("bench: client {}", bin.display());
    if !base.is_zero() || !jitter.is_zero() {
        eprintln!("bench: emulator adds {base:?} ± {jitter:?} per poll with commands and per POST");
    }

    // ---- footprint (binary) ----
    if let Ok(m) = std::fs::metadata(&bin) {
        t.add(
            "footprint",
            "release binary size (stripped)",
            format!("{:.2} MiB ({} bytes)", m.len() as f64 / 1048576.0, m.len()),
        );
    }

    // ---- HTTP target ----
    let emu = emulator();
    let stub = McpStub::start(StubConfig {
        workers: 128,
        ..StubConfig::default()
    })
    .expect("stub");
    let client = match ClientProc::start(&bin, &emu, &["--mcp.server-url".into(), stub.url()]) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
    };
    std::thread::sleep(Duration::from_millis(500));
    let fds_before = procstat::open_fds(client.pid);
    t.add("footprint", "RSS idle", kib(procstat::rss_kib(client.pid)));
    t.add(
        "footprint",
        "threads idle",
        procstat::threads(client.pid).map_or("n/a".into(), |n| n.to_string()),
    );
    let n = 250 * scale;
    let tunnel = emu.mcp_url();
    match sequential(&tunnel, n, &payload) {
        Ok(v) => t.add(
            "overhead",
            "echo 1 KiB via tunnel, Streamable HTTP target",
            percentiles(v),
        ),
        Err(e) => t.add("overhead", "echo via tunnel (HTTP)", format!("failed: {e}")),
    }
    match sequential(&stub.url(), n, &payload) {
        Ok(v) => t.add(
            "overhead",
            "echo 1 KiB direct to the same HTTP server",
            percentiles(v),
        ),
        Err(e) => t.add("overhead", "echo direct (HTTP)", format!("failed: {e}")),
    }
    t.add(
        "overhead",
        "floor: two raw loopback HTTP exchanges",
        percentiles(floor(n)),
    );

    for (c, total) in [(1, 250 * scale), (16, 1000 * scale), (64, 2000 * scale)] {
        match throughput(&tunnel, client.pid, c, total, &payload) {
            Ok(rate) => t.add(
                "throughput",
                format!("concurrency {c}: echo 1 KiB calls/s, client CPU per call"),
                rate.to_string(),
            ),
            Err(e) => t.add(
                "throughput",
                format!("concurrency {c}"),
                format!("failed: {e}"),
            ),
        }
    }
    // Across the internet: the same client and target at 0, 20, 80 and 150 ms per exchange.
    latency::run(
        &emu,
        &tunnel,
        client.pid,
        if quick { 64 } else { 256 },
        Duration::from_secs(if quick { 2 } else { 10 }),
        &payload,
        &mut |s, w, v| t.add(s, w, v),
    );
    rss_at_256_in_flight(&tunnel, client.pid, "footprint", &mut t);
    t.add(
        "footprint",
        "RSS high-water mark (VmHWM) of the run",
        kib(procstat::peak_rss_kib(client.pid)),
    );
    t.add(
        "footprint",
        "threads after the run",
        procstat::threads(client.pid).map_or("n/a".into(), |n| n.to_string()),
    );
    std::thread::sleep(Duration::from_secs(1));
    t.add(
        "footprint",
        "open fds before / after the run",
        format!(
            "{} / {}",
            fds_before.map_or("n/a".into(), |n| n.to_string()),
            procstat::open_fds(client.pid).map_or("n/a".into(), |n| n.to_string())
        ),
    );
    drop(client);

    // ---- the client-side floor: the same exchanges with no design around them ----
    // A fresh emulator: the killed client's long polls are still parked in this one, and
    // each would take a command off the queue and answer a socket nobody reads.
    let relay_emu = emulator();
    match RelayProc::start(&relay_emu, &stub.url()) {
        Ok(relay) => {
            let url = relay_emu.mcp_url();
            // What the emulator, the MCP server and loopback leave for a client to add:
            // the via-tunnel latency with a relay that adds nothing.
            match sequential(&url, 250 * scale, &payload) {
                Ok(v) => t.add(
                    "overhead",
                    "echo 1 KiB via the floor relay, Streamable HTTP target",
                    percentiles(v),
                ),
                Err(e) => t.add(
                    "overhead",
                    "echo via the floor relay",
                    format!("failed: {e}"),
                ),
            }
            for (c, total) in [(16, 1000 * scale), (64, 2000 * scale)] {
                let row = format!("floor relay, concurrency {c}: calls/s, relay CPU per call");
                match throughput(&url, relay.pid, c, total, &payload) {
                    Ok(rate) => t.add("throughput", row, rate.to_string()),
                    Err(e) => t.add("throughput", row, format!("failed: {e}")),
                }
            }
        }
        Err(e) => t.add("throughput", "floor relay", format!("failed: {e}")),
    }

    // ---- the same client on the blocking driver (TUNNEL_CLIENT_DRIVER=blocking) ----
    blocking_driver(&bin, &stub, scale, &payload, &mut t);

    // ---- stdio target ----
    stdio::run(&bin, &mut |s, w, v| t.add(s, w, v), scale, &payload);

    // ---- peers: other stdio→HTTP bridges of the same server ----
    bridges::run(&mut |s, w, v| t.add(s, w, v), 100 * scale, &payload);

    println!();
    t.print();
    // --strict (CI's smoke run): every row must carry a figure. Timings are never judged.
    let missing = t.missing();
    if strict && !missing.is_empty() {
        eprintln!();
        for r in &missing {
            eprintln!(
                "bench: no figure for {} / {}: {}",
                r.section, r.what, r.value
            );
        }
        eprintln!("bench: --strict: {} row(s) without a figure", missing.len());
        std::process::exit(1);
    }
}
