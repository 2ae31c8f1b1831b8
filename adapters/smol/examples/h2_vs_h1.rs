//! HTTP/2 against HTTP/1.1 to a control plane 80 ms away: the measurement behind the
//! transport decision in `docs/reliability.md` (issue #22).
//!
//! The client side is what is compared, in a process of its own (pinned to core 0 when
//! `taskset` exists): N callers POST 1 KiB and read a small answer, as response delivery
//! does, for a few seconds.
//! - **HTTP/1.1**: ureq (the blocking adapter's client), N threads over up to N kept-alive
//!   connections.
//! - **HTTP/2**: the `h2` crate driven by async-io on one thread (how the smol adapter would
//!   run it), N concurrent streams over one connection.
//!
//! The server is this program again (`--serve h1|h2`, pinned to core 1), which answers every
//! request after the delay. Cleartext on both sides: TLS would add the same record cost per
//! byte to both, and per connection only to HTTP/1.1, whose connections are reused.
//!
//! ```sh
//! cargo run --release -p tunnel-smol --example h2_vs_h1 [-- --quick]
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use bytes::Bytes;
use futures_lite::future;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let delay = Duration::from_millis(args[2].parse().expect("delay ms"));
        return match args[1].as_str() {
            "h1" => serve_h1(delay),
            _ => serve_h2(delay),
        };
    }
    if args.first().map(String::as_str) == Some("--client") {
        return client_main(&args);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let run_for = Duration::from_secs(if quick { 2 } else { 6 });
    let delay_ms = 80;
    println!("| protocol | callers | requests/s | client CPU per request | client RSS | threads | connections |");
    println!("|---|---|---|---|---|---|---|");
    for callers in [64usize, 256] {
        for proto in ["h1", "h2"] {
            let row = measure(proto, callers, delay_ms, run_for);
            println!("{row}");
        }
    }
}

/// Runs one client configuration in a child process and returns its table row.
fn measure(proto: &str, callers: usize, delay_ms: u64, run_for: Duration) -> String {
    let exe = std::env::current_exe().expect("own path");
    let (mut server, port) = spawn_pinned(&exe, "1", &["--serve", proto, &delay_ms.to_string()]);
    let out = pinned(&exe, "0")
        .args(["--client", proto, &port, &callers.to_string()])
        .arg(run_for.as_millis().to_string())
        .output();
    let _ = server.kill();
    let _ = server.wait();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => format!(
            "| {proto} | {callers} | failed: {} |",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("| {proto} | {callers} | failed: {e} |"),
    }
}

/// `exe` under `taskset -c <cpu>` when taskset exists (figures then are one core's).
fn pinned(exe: &std::path::Path, cpu: &str) -> Command {
    if Command::new("taskset").arg("-V").output().is_ok() {
        let mut c = Command::new("taskset");
        c.args(["-c", cpu]).arg(exe);
        c
    } else {
        Command::new(exe)
    }
}

fn spawn_pinned(exe: &std::path::Path, cpu: &str, args: &[&str]) -> (std::process::Child, String) {
    let mut child = pinned(exe, cpu)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server prints its port");
    (child, line.trim().to_string())
}

// ---- the client process ------------------------------------------------------------------

/// `--client h1|h2 PORT CALLERS MS`: one measured client run; prints its table row.
fn client_main(args: &[String]) {
    let (proto, port) = (&args[1], &args[2]);
    let callers: usize = args[3].parse().expect("callers");
    let run_for = Duration::from_millis(args[4].parse().expect("ms"));
    let done = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    // Threads are counted mid-run (the callers' threads are gone at the end).
    let mid = std::thread::spawn(move || {
        std::thread::sleep(run_for / 2);
        status_kib_threads().1.saturating_sub(1)
    });
    let connections = if proto == "h1" {
        client_h1(port, callers, run_for, &done)
    } else {
        client_h2(port, callers, run_for, &done)
    };
    let secs = t0.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed).max(1);
    let cpu = cpu_seconds() - cpu0;
    let (rss, _) = status_kib_threads();
    let threads = mid.join().unwrap_or(0);
    println!(
        "| HTTP/{} | {callers} | {:.0} | {:.0} µs | {:.1} MiB | {threads} | {connections} |",
        if proto == "h1" { "1.1" } else { "2" },
        n as f64 / secs,
        cpu / n as f64 * 1e6,
        rss as f64 / 1024.0,
    );
}

/// N threads, one ureq agent: every thread loops POST → read until the time is up.
fn client_h1(port: &str, callers: usize, run_for: Duration, done: &Arc<AtomicU64>) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_idle_connections(callers + 1)
        .max_idle_connections_per_host(callers + 1)
        .build()
        .into();
    let url = format!("http://127.0.0.1:{port}/response");
    let body = vec![b'x'; 1024];
    let end = Instant::now() + run_for;
    std::thread::scope(|s| {
        for _ in 0..callers {
            let (agent, url, body, done) = (agent.clone(), url.clone(), body.clone(), done.clone());
            s.spawn(move || {
                while Instant::now() < end {
                    match agent.post(&url).send(&body[..]) {
                        Ok(r) => {
                            let _ = r.into_body().read_to_vec();
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => eprintln!("h1: {e}"),
                    }
                }
            });
        }
    });
    format!("{callers} (one per caller)")
}

/// One connection, N concurrent streams, all on this thread's async-io reactor.
fn client_h2(port: &str, callers: usize, run_for: Duration, done: &Arc<AtomicU64>) -> String {
    let ex = async_executor::LocalExecutor::new();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    future::block_on(ex.run(async {
        let tcp = Async::<TcpStream>::connect(addr).await.expect("connect");
        tcp.get_ref().set_nodelay(true).expect("nodelay");
        let (client, conn) = h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(1 << 24)
            .handshake::<_, Bytes>(Io(tcp))
            .await
            .expect("h2 handshake");
        ex.spawn(async move {
            if let Err(e) = conn.await {
                eprintln!("h2 connection: {e}");
            }
        })
        .detach();
        let end = Instant::now() + run_for;
        let body = Bytes::from(vec![b'x'; 1024]);
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let (client, body, done) = (client.clone(), body.clone(), done.clone());
                ex.spawn(async move {
                    while Instant::now() < end {
                        let mut ready = match client.clone().ready().await {
                            Ok(c) => c,
                            Err(e) => return eprintln!("h2 ready: {e}"),
                        };
                        let rq = http::Request::post("http://127.0.0.1/response")
                            .body(())
                            .expect("request");
                        let (resp, mut stream) = match ready.send_request(rq, false) {
                            Ok(x) => x,
                            Err(e) => return eprintln!("h2 send: {e}"),
                        };
                        if let Err(e) = stream.send_data(body.clone(), true) {
                            return eprintln!("h2 data: {e}");
                        }
                        let Ok(resp) = resp.await else { return };
                        let mut recv = resp.into_body();
                        while let Some(chunk) = recv.data().await {
                            if let Ok(c) = chunk {
                                let _ = recv.flow_control().release_capacity(c.len());
                            }
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    }));
    "1".to_string()
}

// ---- the server process ------------------------------------------------------------------

/// HTTP/1.1 with keep-alive, a thread per connection, each answer after `delay`.
fn serve_h1(delay: Duration) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("{}", l.local_addr().expect("addr").port());
    for conn in l.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = conn.set_nodelay(true);
            let mut w = conn.try_clone().expect("clone");
            let mut r = BufReader::new(conn);
            loop {
                let mut len = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let l = line.to_ascii_lowercase();
                    if let Some(v) = l.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                std::thread::sleep(delay);
                let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                if w.write_all(answer).is_err() {
                    return;
                }
            }
        });
    }
}

/// HTTP/2 (prior knowledge), every stream answered after `delay`, on one async-io thread.
fn serve_h2(delay: Duration) {
    let ex = Arc::new(async_executor::Executor::new());
    let l = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).expect("bind");
    println!("{}", l.get_ref().local_addr().expect("addr").port());
    let ex2 = ex.clone();
    future::block_on(ex.run(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                continue;
            };
            let _ = tcp.get_ref().set_nodelay(true);
            let ex3 = ex2.clone();
            ex2.spawn(async move {
                let Ok(mut conn) = h2::server::Builder::new()
                    .initial_window_size(1 << 20)
                    .initial_connection_window_size(1 << 24)
                    .max_concurrent_streams(1024)
                    .handshake::<_, Bytes>(Io(tcp))
                    .await
                else {
                    return;
                };
                while let Some(Ok((rq, mut respond))) = conn.accept().await {
                    ex3.spawn(async move {
                        let mut body = rq.into_body();
                        while let Some(Ok(c)) = body.data().await {
                            let _ = body.flow_control().release_capacity(c.len());
                        }
                        Timer::after(delay).await;
                        let resp = http::Response::builder()
                            .status(200)
                            .header("content-type", "application/json")
                            .body(())
                            .expect("response");
                        if let Ok(mut send) = respond.send_response(resp, false) {
                            let _ = send.send_data(Bytes::from_static(b"{}"), true);
                        }
                    })
                    .detach();
                }
            })
            .detach();
        }
    }));
}

// ---- plumbing ----------------------------------------------------------------------------

/// tokio's I/O traits (what `h2` speaks) over an async-io socket, so no tokio runtime is
/// needed: the smol family's reactor drives the connection.
struct Io(Async<TcpStream>);

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures_lite::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_lite::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_lite::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_lite::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

/// This process's user + system CPU seconds (`/proc/self/stat`, clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat are utime and stime; after ")" they are 12th and 13th.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak RSS (KiB) and thread count from `/proc/self/status`.
fn status_kib_threads() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("Threads:"))
}
