//! The supervision policy of a stdio child, shared by the adapters so that both restart on
//! the same schedule and say the same things to the operator; the adapters keep only the
//! processes and the pipes.
//!
//! - [`ChildGone`]: why a child went away (log line, `/readyz` reason).
//! - [`RestartSchedule`]: when to start the next child (backoff, reset after a long run).
//! - [`EventLog`]: the log line (and level) for each [`MuxEvent`], with malformed stdout
//!   lines rate-limited per child.
//! - [`StderrLines`]: a child's stderr cut into bounded log lines.
//!
//! Pure: time, randomness and bytes come in as arguments; so does a child's exit status,
//! as anything displayable (the adapters pass `std::process::ExitStatus`), so that the core
//! never names a process type.

use std::fmt;
use std::time::Duration;

use crate::backoff::Backoff;

use super::{MuxEvent, RestartReason, StdioOptions};

/// Malformed stdout lines logged at warn level per child before only every 100th is.
const MALFORMED_LOGGED: u64 = 5;
/// Longest stderr line logged; the rest of the line is dropped (a child must not be able
/// to exhaust memory through its log).
pub const MAX_STDERR_LINE: usize = 4096;

/// Why a child went away, for the log and `/readyz`.
#[derive(Debug)]
pub enum ChildGone {
    /// Its stdout reached EOF.
    StdoutClosed,
    /// The process exited while something else (a grandchild) kept stdout open.
    Exited,
    /// A write to its stdin failed.
    StdinBroken(std::io::Error),
    /// The multiplexer asked for a restart.
    Restart(RestartReason),
}

impl fmt::Display for ChildGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildGone::StdoutClosed => f.write_str("its stdout closed"),
            ChildGone::Exited => f.write_str("it exited"),
            ChildGone::StdinBroken(e) => write!(f, "writing to its stdin failed ({e})"),
            ChildGone::Restart(r) => write!(f, "{r}"),
        }
    }
}

impl ChildGone {
    /// The `/readyz` reason while the channel has no child.
    pub fn readiness(&self, status: Option<impl fmt::Display>) -> String {
        format!("stdio child down: {self}, {}", describe_exit(status))
    }

    /// The warning logged once the child is reaped (without the `[stdio:<channel>]`
    /// prefix): which child, how long it ran, why and how it ended, when the next one comes.
    pub fn went_away(
        &self,
        generation: u64,
        pid: u32,
        lived: Duration,
        status: Option<impl fmt::Display>,
        restart_in: Duration,
    ) -> String {
        format!(
            "child #{generation} (pid {pid}) went away after {:.1}s: {self}, {}; restarting in {} ms",
            lived.as_secs_f64(),
            describe_exit(status),
            restart_in.as_millis()
        )
    }
}

/// An exit status for the log (`exit status: 3`, `signal: 9 (SIGKILL)`), or that it is
/// unknown (the child could not be reaped).
pub fn describe_exit(status: Option<impl fmt::Display>) -> String {
    match status {
        Some(s) => s.to_string(),
        None => "exit status unknown".to_string(),
    }
}

/// The readiness reason while a restart cannot even spawn the program.
pub fn spawn_failed_readiness(error: &std::io::Error) -> String {
    format!("stdio child down: cannot start it: {error}")
}

/// When the next child starts: exponential backoff with jitter between `restart_min` and
/// `restart_max`, started over when the child that went away had run for
/// `restart_reset_after`. It never gives up.
#[derive(Debug, Clone)]
pub struct RestartSchedule {
    backoff: Backoff,
    reset_after: Duration,
    rng: fastrand::Rng,
}

impl RestartSchedule {
    /// `seed` comes from the adapter's entropy (jitter spreads a fleet's restarts).
    pub fn new(opts: &StdioOptions, seed: u64) -> Self {
        RestartSchedule {
            backoff: Backoff::new(opts.restart_min, opts.restart_max),
            reset_after: opts.restart_reset_after,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// A child that ran for `lived` went away: the delay before the next one starts.
    pub fn after_down(&mut self, lived: Duration) -> Duration {
        if lived >= self.reset_after {
            self.backoff.reset();
        }
        self.backoff.next_delay(&mut self.rng)
    }

    /// Starting a child failed: the delay before the next attempt.
    pub fn after_failed_start(&mut self) -> Duration {
        self.backoff.next_delay(&mut self.rng)
    }
}

/// Turns [`MuxEvent`]s into log lines. Keeps the per-child count of malformed stdout lines
/// (a chatty child logs the first few, then every hundredth).
#[derive(Debug, Clone)]
pub struct EventLog {
    max_line_bytes: usize,
    malformed: u64,
}

impl EventLog {
    pub fn new(max_line_bytes: usize) -> Self {
        EventLog {
            max_line_bytes,
            malformed: 0,
        }
    }

    /// A new child: its malformed lines are counted afresh.
    pub fn child_started(&mut self) {
        self.malformed = 0;
    }

    /// The level and text (without the `[stdio:<channel>]` prefix) to log for `e`, or
    /// `None` when it is not worth a line.
    pub fn line(&mut self, e: &MuxEvent) -> Option<(log::Level, String)> {
        use log::Level::{Debug, Info, Warn};
        Some(match e {
            MuxEvent::ChildDown { failed, .. } if *failed > 0 => (
                Warn,
                format!("{failed} in-flight command(s) failed (transport_closed)"),
            ),
            MuxEvent::ChildDown { .. } => return None,
            MuxEvent::MalformedLine { len, error, preview } => {
                self.malformed += 1;
                let n = self.malformed;
                if n > MALFORMED_LOGGED && n % 100 != 0 {
                    return None;
                }
                (Warn, format!("dropped a {len}-byte stdout line that is not a JSON-RPC message ({error}; {n} so far): {preview:?} — stdout is reserved for MCP messages, log to stderr"))
            }
            MuxEvent::OversizedLine { len } => (
                Warn,
                format!(
                    "dropped a {len}-byte stdout line: over the {}-byte bound",
                    self.max_line_bytes
                ),
            ),
            MuxEvent::LateMessageDiscarded { tunnel_id } => (
                Debug,
                format!("discarded a late message for retired request {tunnel_id}"),
            ),
            MuxEvent::UnknownResponse { id } => (
                Warn,
                format!("dropped a response with id {id}, which matches no request"),
            ),
            MuxEvent::Unroutable { method, request: true, in_flight, recently_retired } => (
                Warn,
                format!("cannot relay the child's {method} request ({in_flight} request(s) in flight, {recently_retired} recently given up); answered it with an error"),
            ),
            MuxEvent::Unroutable { method, request: false, in_flight, recently_retired } => (
                Debug,
                format!("dropped the child's {method} notification ({in_flight} request(s) in flight, {recently_retired} recently given up)"),
            ),
            MuxEvent::Retired { tunnel_id, reason, .. } => {
                (Debug, format!("request {tunnel_id} retired: {reason}"))
            }
            MuxEvent::CancelNotForwarded { matches, .. } => (
                Info,
                format!("a connector's notifications/cancelled matched {matches} in-flight requests; not forwarded"),
            ),
            MuxEvent::StaleServerResponse { .. } => (
                Info,
                "a connector answered a server request that is no longer pending; not forwarded (410)".to_string(),
            ),
            MuxEvent::Refused { reason, .. } => (
                Warn,
                format!("a command's message could not be forwarded: {reason}"),
            ),
            MuxEvent::ReplayStarted { generation } => (
                Info,
                format!("replaying the last initialize into child #{generation}"),
            ),
            MuxEvent::ReplayFinished { accepted: true } => (
                Info,
                "the restarted child accepted the replayed initialize".to_string(),
            ),
            MuxEvent::ReplayFinished { accepted: false } => (
                Warn,
                "the restarted child rejected the replayed initialize; connectors must initialize again".to_string(),
            ),
        })
    }
}

/// A child's stderr cut into log lines: split at `\n` (a trailing `\r` dropped), each line
/// cut at [`MAX_STDERR_LINE`] bytes (marked ` […]`), invalid UTF-8 replaced. Memory stays
/// bounded whatever the child writes.
#[derive(Debug, Default)]
pub struct StderrLines {
    line: Vec<u8>,
    cut: bool,
}

impl StderrLines {
    pub fn new() -> Self {
        StderrLines::default()
    }

    /// Feeds bytes read from stderr; `emit` gets each completed line.
    pub fn push(&mut self, bytes: &[u8], mut emit: impl FnMut(String)) {
        for &b in bytes {
            if b == b'\n' {
                self.emit(&mut emit);
            } else if self.line.len() < MAX_STDERR_LINE {
                self.line.push(b);
            } else {
                self.cut = true;
            }
        }
    }

    /// stderr ended: a last unterminated line is emitted too.
    pub fn finish(&mut self, mut emit: impl FnMut(String)) {
        self.emit(&mut emit);
    }

    fn emit(&mut self, emit: &mut impl FnMut(String)) {
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        if !self.line.is_empty() || self.cut {
            let more = if self.cut { " […]" } else { "" };
            emit(format!("{}{more}", String::from_utf8_lossy(&self.line)));
        }
        self.line.clear();
        self.cut = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_lines_are_split_cut_and_flushed() {
        let mut s = StderrLines::new();
        let mut out = Vec::new();
        s.push(b"one\r\ntw", |l| out.push(l));
        s.push(b"o\n\n", |l| out.push(l));
        let long = vec![b'x'; MAX_STDERR_LINE + 10];
        s.push(&long, |l| out.push(l));
        s.push(b"\nlast", |l| out.push(l));
        s.finish(|l| out.push(l));
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!((out[0].as_str(), out[1].as_str()), ("one", "two"));
        assert_eq!(out[2].len(), MAX_STDERR_LINE + " […]".len());
        assert_eq!(out[3], "last");
    }

    #[test]
    fn restarts_back_off_and_start_over_after_a_long_run() {
        let opts = StdioOptions::default();
        let mut r = RestartSchedule::new(&opts, 7);
        let first = r.after_down(Duration::from_secs(1));
        assert_eq!(first, opts.restart_min);
        let later: Vec<_> = (0..8).map(|_| r.after_failed_start()).collect();
        assert!(later.iter().all(|d| *d <= opts.restart_max));
        assert!(later.iter().any(|d| *d > opts.restart_min), "{later:?}");
        assert_eq!(r.after_down(opts.restart_reset_after), opts.restart_min);
    }

    #[test]
    fn malformed_lines_are_rate_limited_per_child() {
        let mut log = EventLog::new(10);
        let e = MuxEvent::MalformedLine {
            len: 3,
            error: "x".into(),
            preview: "abc".into(),
        };
        let logged = (0..200).filter(|_| log.line(&e).is_some()).count();
        assert_eq!(logged, 5 + 2, "five, then the 100th and the 200th");
        log.child_started();
        assert!(log.line(&e).is_some());
        let down = MuxEvent::ChildDown {
            generation: 1,
            failed: 0,
        };
        assert!(log.line(&down).is_none());
    }

    #[test]
    fn readiness_reasons_say_the_child_is_down() {
        assert_eq!(
            ChildGone::StdoutClosed.readiness(None::<String>),
            "stdio child down: its stdout closed, exit status unknown"
        );
        let line = ChildGone::Exited.went_away(
            2,
            42,
            Duration::from_millis(1500),
            None::<String>,
            Duration::from_millis(100),
        );
        assert_eq!(
            line,
            "child #2 (pid 42) went away after 1.5s: it exited, exit status unknown; restarting in 100 ms"
        );
    }
}
