//! A scripted stdio child for live replays: a real child process whose answers come from
//! the trace.
//!
//! The adapter under test spawns `python3 peers/stdio_relay.py PORT`: a process that only
//! relays its stdin to a loopback TCP port and what comes back to its stdout. This module
//! listens on that port and plays the channel's stdio lines with the same [`StdioScript`]
//! the core replay uses, so the adapter deals with real pipes, a real process that exits and
//! is restarted (each restart is a new connection), and real timing — while the script stays
//! in one place. A script's `exit` step closes the connection; the relay then exits, which
//! closes the child's stdout.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::check::StdioSeen;
use super::stdio_script::{StdioLine, StdioScript, Step};

/// The relay the adapter runs as the child.
pub const RELAY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/stdio_relay.py");

/// Longest line read from the child's stdin (the replay's lines are small).
const MAX_LINE: u64 = 16 * 1024 * 1024;

struct Inner {
    channel: String,
    script: Mutex<StdioScript>,
    seen: Mutex<Vec<StdioSeen>>,
    t0: Instant,
    stop: AtomicBool,
    /// Child processes that connected so far.
    connections: std::sync::atomic::AtomicUsize,
}

impl Inner {
    fn at_ms(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Sleeps for `d`, or less when the replay stops.
    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(10)));
        }
    }
}

/// One child process's connection.
struct Conn {
    writer: Mutex<TcpStream>,
    alive: AtomicBool,
}

impl Conn {
    fn close(&self) {
        self.alive.store(false, Ordering::SeqCst);
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(Shutdown::Both);
        }
    }
}

/// The scripted child of one stdio channel. Dropping it stops it.
pub struct ScriptedChild {
    inner: Arc<Inner>,
    port: u16,
    accept: Option<JoinHandle<()>>,
}

impl ScriptedChild {
    /// Listens for the relay of `channel`, playing `lines` (the channel's stdio lines).
    pub fn start(channel: &str, lines: Vec<StdioLine>, t0: Instant) -> io::Result<ScriptedChild> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let inner = Arc::new(Inner {
            channel: channel.to_string(),
            script: Mutex::new(StdioScript::new(lines)),
            seen: Mutex::new(Vec::new()),
            t0,
            stop: AtomicBool::new(false),
            connections: Default::default(),
        });
        let i = Arc::clone(&inner);
        let accept = std::thread::Builder::new()
            .name(format!("stdio-script-{channel}"))
            .spawn(move || accept_loop(&i, &listener))?;
        Ok(ScriptedChild {
            inner,
            port,
            accept: Some(accept),
        })
    }

    /// The child's command line.
    pub fn argv(&self) -> Vec<String> {
        vec!["python3".into(), RELAY.into(), self.port.to_string()]
    }

    /// Whether a child process has connected (it is up and its pipes are relayed).
    pub fn connected(&self) -> bool {
        self.inner.connections.load(Ordering::SeqCst) > 0
    }

    /// Lines with `receive` that the child has not received yet.
    pub fn unused(&self) -> usize {
        lock(&self.inner.script).unused()
    }

    /// What the child received, in order.
    pub fn seen(&self) -> Vec<StdioSeen> {
        lock(&self.inner.seen).clone()
    }

    pub fn stop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for ScriptedChild {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(inner: &Arc<Inner>, listener: &TcpListener) {
    let mut conns: Vec<(Arc<Conn>, JoinHandle<()>)> = Vec::new();
    while !inner.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                let Ok(writer) = stream.try_clone() else {
                    continue;
                };
                let conn = Arc::new(Conn {
                    writer: Mutex::new(writer),
                    alive: AtomicBool::new(true),
                });
                let (i, c) = (Arc::clone(inner), Arc::clone(&conn));
                inner.connections.fetch_add(1, Ordering::SeqCst);
                let steps = lock(&inner.script).on_start();
                play(inner, &conn, steps);
                if let Ok(h) = std::thread::Builder::new()
                    .name("stdio-script-read".into())
                    .spawn(move || read_loop(&i, &c, stream))
                {
                    conns.push((conn, h));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    for (c, h) in conns {
        c.close();
        let _ = h.join();
    }
}

/// Reads the lines the child received until its stdin closes (or the replay stops).
fn read_loop(inner: &Arc<Inner>, conn: &Arc<Conn>, stream: TcpStream) {
    let mut r = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        match Read::by_ref(&mut r)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let received = lock(&inner.script).on_line(text);
        let seen = StdioSeen::new(&inner.channel, text, inner.at_ms(), &received);
        lock(&inner.seen).push(seen);
        play(inner, conn, received.steps);
    }
    conn.close();
}

/// Plays steps on their own thread, so a slow answer does not hold up the next request.
fn play(inner: &Arc<Inner>, conn: &Arc<Conn>, steps: Vec<Step>) {
    if steps.is_empty() {
        return;
    }
    let (i, c) = (Arc::clone(inner), Arc::clone(conn));
    let _ = std::thread::Builder::new()
        .name("stdio-script-send".into())
        .spawn(move || {
            for s in steps {
                if !c.alive.load(Ordering::SeqCst) {
                    return;
                }
                match s {
                    Step::Pause(d) => i.sleep(d),
                    Step::Write(b) => {
                        let mut w = lock(&c.writer);
                        if w.write_all(&b).and_then(|()| w.flush()).is_err() {
                            return;
                        }
                    }
                    Step::Exit => {
                        c.close();
                        return;
                    }
                }
            }
        });
}
