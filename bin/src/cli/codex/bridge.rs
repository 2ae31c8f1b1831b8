//! The process half of the Codex bridge: spawn `codex app-server`, move lines between its
//! pipes and the sans-IO [`Session`], keep recent stderr for diagnostics, stop it on drop
//! (close stdin — Codex exits 0 on EOF — then kill after a grace period).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::{json, Value};
use tunnel_core::codex::{Event, Session, Snapshot};

use super::detect::which;

const KEEP_STDERR: usize = 32;
const MAX_LINE: u64 = 8 << 20;
const SHOW: usize = 6;

enum ChildEvent {
    Line(String),
    Stderr(String),
    Closed,
    /// The child's stderr reached its end (after its last `Stderr` line).
    StderrClosed,
}

/// What was started, for `status --json`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ProcessInfo {
    pub command: String,
    pub command_args: Vec<String>,
    pub command_cwd: String,
    pub pid: u32,
    pub running: bool,
    pub started_at: String,
}

pub struct Bridge {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<ChildEvent>,
    session: Session,
    queue: VecDeque<Event>,
    stderr: VecDeque<String>,
    recent: VecDeque<String>,
    exited: Option<String>,
    pub info: ProcessInfo,
}

/// `TUNNEL_CLIENT_CODEX_APP_SERVER_COMMAND` → `sh -lc <value>`; otherwise
/// `TUNNEL_CLIENT_CODEX_APP_SERVER_CMD` (default `codex`) with
/// `TUNNEL_CLIENT_CODEX_APP_SERVER_ARGS` (default `app-server`); a command missing from
/// PATH is retried through a login shell (`sh -lc`), which may have a fuller PATH. Go used
/// zsh for both; `sh` exists everywhere.
pub fn command_line() -> (String, Vec<String>) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(c) = env("TUNNEL_CLIENT_CODEX_APP_SERVER_COMMAND") {
        return ("sh".into(), vec!["-lc".into(), c]);
    }
    let cmd = env("TUNNEL_CLIENT_CODEX_APP_SERVER_CMD").unwrap_or_else(|| "codex".into());
    let args: Vec<String> = env("TUNNEL_CLIENT_CODEX_APP_SERVER_ARGS")
        .map(|a| a.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_else(|| vec!["app-server".into()]);
    let found = if cmd.contains('/') {
        std::path::Path::new(&cmd).exists()
    } else {
        which(&cmd).is_some()
    };
    if found {
        return (cmd, args);
    }
    let quoted: Vec<String> = std::iter::once(&cmd)
        .chain(args.iter())
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    ("sh".into(), vec!["-lc".into(), quoted.join(" ")])
}

pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    httpdate_rfc3339(secs)
}

fn httpdate_rfc3339(secs: u64) -> String {
    let days = secs / 86400;
    let rem = secs % 86400;
    // Civil-from-days (Howard Hinnant), enough for timestamps in reports.
    let z = days as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Bridge {
    /// Spawn and complete the handshake within `budget`. The child is killed on failure.
    pub fn start(budget: Duration) -> Result<Bridge, String> {
        let (cmd, args) = command_line();
        let cwd = std::env::var("TUNNEL_CLIENT_CODEX_APP_SERVER_CWD")
            .ok()
            .filter(|c| !c.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| ".".into());
        let mut child = Command::new(&cmd)
            .args(&args)
            .current_dir(&cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start {cmd}: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                // Lines are capped (as Go's 8 MiB scanner): the rest of an overlong line is
                // skipped and what was kept is reported as undecodable, never buffered whole.
                match std::io::Read::take(&mut r, MAX_LINE).read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if !buf.ends_with(b"\n") && buf.len() as u64 == MAX_LINE {
                            let mut sink = Vec::new();
                            loop {
                                sink.clear();
                                let n = std::io::Read::take(&mut r, MAX_LINE)
                                    .read_until(b'\n', &mut sink)
                                    .unwrap_or(0);
                                if n == 0 || sink.ends_with(b"\n") {
                                    break;
                                }
                            }
                        }
                        let line = String::from_utf8_lossy(&buf).into_owned();
                        if tx.send(ChildEvent::Line(line)).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = tx.send(ChildEvent::Closed);
        });
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx2.send(ChildEvent::Stderr(line)).is_err() {
                    return;
                }
            }
            let _ = tx2.send(ChildEvent::StderrClosed);
        });
        let info = ProcessInfo {
            command: cmd,
            command_args: args,
            command_cwd: cwd.display().to_string(),
            pid: child.id(),
            running: true,
            started_at: rfc3339(SystemTime::now()),
        };
        let mut b = Bridge {
            stdin: child.stdin.take(),
            child,
            rx,
            session: Session::new(json!({
                "name": "tunnel-client-adminui",
                "title": "tunnel-client admin UI",
                "version": "0.1.0"
            })),
            queue: VecDeque::new(),
            stderr: VecDeque::new(),
            recent: VecDeque::new(),
            exited: None,
            info,
        };
        b.session.start(Instant::now());
        let deadline = Instant::now() + budget;
        loop {
            if let Some(e) = b.take_queued(|e| {
                matches!(
                    e,
                    Event::Ready | Event::HandshakeFailed(_) | Event::Exited(_)
                )
            }) {
                match e {
                    Event::Ready => return Ok(b),
                    Event::HandshakeFailed(m) => return Err(b.with_diagnostics(&m)),
                    Event::Exited(d) => {
                        return Err(b.with_diagnostics(&format!("codex app-server exited: {d}")))
                    }
                    _ => unreachable!(),
                }
            }
            if !b.pump(deadline) {
                return Err(b.with_diagnostics(&format!(
                    "codex app-server did not finish its handshake within {}",
                    fmt_duration(budget)
                )));
            }
        }
    }

    pub fn snapshot(&self) -> &Snapshot {
        self.session.snapshot()
    }

    fn take_queued(&mut self, f: impl Fn(&Event) -> bool) -> Option<Event> {
        let i = self.queue.iter().position(f)?;
        self.queue.remove(i)
    }

    /// Write what the session wants written, then wait for one input until `deadline`.
    /// `false` when the deadline passed with nothing new.
    fn pump(&mut self, deadline: Instant) -> bool {
        while let Some(line) = self.session.poll_transmit() {
            let ok = self
                .stdin
                .as_mut()
                .map(|s| s.write_all(line.as_bytes()).and_then(|_| s.flush()).is_ok())
                .unwrap_or(false);
            if !ok {
                break;
            }
        }
        let now = Instant::now();
        let wake = self
            .session
            .poll_timeout()
            .map_or(deadline, |t| t.min(deadline));
        if now >= deadline && self.queue.is_empty() {
            self.session.handle_timeout(now);
            self.drain_events();
            return !self.queue.is_empty();
        }
        match self.rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(ChildEvent::Line(l)) => self.session.handle_line(&l, Instant::now()),
            Ok(ChildEvent::Stderr(l)) => self.keep_stderr(&l),
            Ok(ChildEvent::StderrClosed) => {}
            Ok(ChildEvent::Closed) | Err(RecvTimeoutError::Disconnected) => {
                if self.exited.is_none() {
                    // Its last stderr lines say why it exited: read them before reporting
                    // (the stderr reader may still be behind the stdout one).
                    self.drain_stderr(Instant::now() + Duration::from_secs(1));
                    let detail = self.wait_exit();
                    self.exited = Some(detail.clone());
                    self.info.running = false;
                    self.session.handle_exit(&detail);
                } else {
                    std::thread::sleep(
                        Duration::from_millis(10)
                            .min(wake.saturating_duration_since(Instant::now())),
                    );
                }
            }
            Err(RecvTimeoutError::Timeout) => self.session.handle_timeout(Instant::now()),
        }
        self.drain_events();
        true
    }

    fn keep_stderr(&mut self, line: &str) {
        if !line.trim().is_empty() {
            if self.stderr.len() == KEEP_STDERR {
                self.stderr.pop_front();
            }
            self.stderr.push_back(strip_ansi(line));
        }
    }

    /// Takes the stderr lines still in flight until the child's stderr ends or `until`.
    fn drain_stderr(&mut self, until: Instant) {
        while let Ok(ev) = self
            .rx
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            match ev {
                ChildEvent::Stderr(l) => self.keep_stderr(&l),
                ChildEvent::StderrClosed => return,
                ChildEvent::Line(_) | ChildEvent::Closed => {}
            }
        }
    }

    fn wait_exit(&mut self) -> String {
        // stdout closed; give the process a moment to report its status.
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => return s.to_string(),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
                _ => return "stdout closed".into(),
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.session.poll_event() {
            if let Event::Notification(n) = &e {
                if self.recent.len() == SHOW {
                    self.recent.pop_front();
                }
                let s = if n.summary.is_empty() {
                    n.method.clone()
                } else {
                    format!("{} {}", n.method, n.summary)
                };
                self.recent.push_back(s);
            }
            self.queue.push_back(e);
        }
    }

    /// `err` plus the last stderr lines and bridge events.
    pub fn with_diagnostics(&self, err: &str) -> String {
        let mut s = err.to_string();
        let skip = self.stderr.len().saturating_sub(SHOW);
        let tail: Vec<&str> = self.stderr.iter().skip(skip).map(String::as_str).collect();
        if !tail.is_empty() {
            s.push_str("; recent stderr: ");
            s.push_str(&tail.join(" | "));
        }
        if !self.recent.is_empty() {
            s.push_str("; recent bridge events: ");
            s.push_str(&self.recent.iter().cloned().collect::<Vec<_>>().join(" | "));
        }
        s
    }

    /// Send a request and wait for its answer; notifications meanwhile stay queued.
    pub fn call(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        let id = self
            .session
            .request(method, params, Instant::now(), timeout)
            .map_err(|e| e.message)?;
        let deadline = Instant::now() + timeout + Duration::from_millis(50);
        loop {
            let mine = |e: &Event| matches!(e, Event::Response { id: i, .. } if *i == id);
            if let Some(Event::Response { result, .. }) = self.take_queued(mine) {
                return result.map_err(|e| {
                    if e.code == tunnel_core::codex::session::CODE_TIMEOUT {
                        self.with_diagnostics(&format!(
                            "{method} timed out after {}",
                            fmt_duration(timeout)
                        ))
                    } else {
                        format!("{method}: {}", e.message)
                    }
                });
            }
            if !self.pump(deadline) {
                return Err(self.with_diagnostics(&format!(
                    "{method} timed out after {}",
                    fmt_duration(timeout)
                )));
            }
        }
    }

    /// The next event (notification, server request, exit…) until `deadline`.
    pub fn next_event(&mut self, deadline: Instant) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if Instant::now() >= deadline || !self.pump(deadline) {
                return None;
            }
        }
    }

    pub fn exited(&self) -> Option<&str> {
        self.exited.as_deref()
    }

    /// Close stdin (Codex exits 0 on EOF), then kill after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        self.stdin.take();
        let until = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        self.info.running = false;
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 && ms >= 60_000 {
        format!("{}m0s", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' && it.peek() == Some(&'[') {
            it.next();
            for c2 in it.by_ref() {
                if c2.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(strip_ansi("\x1b[2mx\x1b[0m y"), "x y");
        assert_eq!(fmt_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(fmt_duration(Duration::from_secs(5)), "5s");
        assert_eq!(fmt_duration(Duration::from_millis(50)), "50ms");
        assert_eq!(httpdate_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(httpdate_rfc3339(1_795_635_048), "2026-11-25T19:30:48Z");
    }
}
