//! One supervised stdio channel as a sans-IO machine: the [`StdioMux`] plus everything the
//! adapters used to do around it with threads or futures — when to start a child, when a
//! child counts as gone, how long it may take to exit, when the next one starts, what the
//! operator reads in the log and `/readyz`, and what the trace tap sees.
//!
//! The adapter only performs [`ChildAction`]s (spawn the channel's program, write a line,
//! close stdin, ask "has it exited?", kill the group and reap it) and reports what the
//! process did as a [`ChildReport`]. Every timer — restart backoff, the exit grace, EOF
//! lagging behind the exit, the exit probe, the mux's deadlines and initialize replay —
//! lives here, under [`StdioChannel::poll_timeout`] / [`StdioChannel::handle_timeout`].
//!
//! Every action and report names the child's generation, so a late report about a child
//! that was already replaced is ignored here and never mistaken for its successor's.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use crate::channel::ChannelName;
use crate::classify::TransportError;
use crate::engine::{CommandId, McpOutput};
use crate::tap::{Observed, Tap};

use super::{
    spawn_failed_readiness, ChildGone, EventLog, MuxOutput, RestartSchedule, StdioMux,
    StdioOptions, WriteTicket,
};

/// How often a running child is asked whether it exited while something it started keeps
/// its stdout open.
pub const EXIT_CHECK: Duration = Duration::from_millis(500);
/// After a child went away (stdin closed), how long it may take to exit on its own (for an
/// honest exit status in the log) before its group is killed.
pub const EXIT_GRACE: Duration = Duration::from_millis(200);
/// How often a child within its exit grace is asked whether it exited.
const GRACE_PROBE: Duration = Duration::from_millis(10);
/// How long stdout EOF may lag behind the process exit before the child is torn down
/// anyway (a grandchild may hold stdout open forever).
pub const EOF_AFTER_EXIT: Duration = Duration::from_secs(1);

/// What the adapter does to the channel's process. Report the outcome with
/// [`StdioChannel::handle_report`] under the same generation.
#[derive(Debug)]
pub enum ChildAction {
    /// Start the channel's program (own process group, piped stdio): report
    /// [`ChildReport::Spawned`] or [`ChildReport::SpawnFailed`].
    Spawn { generation: u64 },
    /// Write this line to stdin, in order: report [`ChildReport::Written`] or
    /// [`ChildReport::WriteFailed`].
    Write {
        generation: u64,
        ticket: WriteTicket,
        line: Vec<u8>,
    },
    /// Close stdin (the child is going away).
    CloseStdin { generation: u64 },
    /// Report [`ChildReport::Exited`] if the process has exited (without reaping it).
    CheckExit { generation: u64 },
    /// Kill the process group and reap the child: report [`ChildReport::Reaped`].
    Reap { generation: u64 },
}

/// What the adapter saw the process do.
#[derive(Debug)]
pub enum ChildReport {
    Spawned {
        generation: u64,
        pid: u32,
    },
    SpawnFailed {
        generation: u64,
        error: std::io::Error,
    },
    Stdout {
        generation: u64,
        bytes: Vec<u8>,
    },
    /// stdout reached EOF (or reading it failed).
    StdoutEnd {
        generation: u64,
    },
    Written {
        generation: u64,
        ticket: WriteTicket,
    },
    WriteFailed {
        generation: u64,
        error: std::io::Error,
    },
    /// The process has exited (not reaped yet).
    Exited {
        generation: u64,
    },
    /// The process is reaped; `status` is its exit status for the log, if known.
    Reaped {
        generation: u64,
        status: Option<String>,
    },
}

/// What the channel hands back: process actions, and what the engine and the log must hear.
#[derive(Debug)]
pub enum StdioOut {
    Child(ChildAction),
    /// A step of a command (`Input::Mcp` with `McpEvent::Output`).
    Deliver {
        cmd: CommandId,
        output: McpOutput,
    },
    /// The channel is down (`/readyz` reason) or up again (`Input::Binding`).
    Availability(Option<String>),
    /// A child was restarted (counted).
    Restarted,
    /// A line for the operator log, `[stdio:<channel>]` prefix included.
    Log(log::Level, String),
}

#[derive(Debug)]
struct Running {
    generation: u64,
    pid: u32,
    started: Instant,
    next_check: Instant,
    /// When the process was first seen exited while stdout was still open.
    exit_seen: Option<Instant>,
}

#[derive(Debug)]
struct Dying {
    generation: u64,
    pid: u32,
    lived: Duration,
    why: ChildGone,
    at: Instant,
    grace_until: Instant,
    next_probe: Instant,
    reaping: bool,
}

/// One stdio channel. See the module docs.
pub struct StdioChannel {
    channel: ChannelName,
    prefix: String,
    mux: StdioMux,
    schedule: RestartSchedule,
    events: EventLog,
    running: Option<Running>,
    dying: Option<Dying>,
    /// A spawn was asked for and not reported yet.
    spawning: Option<u64>,
    restart_at: Option<Instant>,
    restarts: u64,
    out: VecDeque<StdioOut>,
    tap: Option<Arc<dyn Tap>>,
}

impl std::fmt::Debug for StdioChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdioChannel")
            .field("channel", &self.channel)
            .field("running", &self.running)
            .field("dying", &self.dying)
            .finish_non_exhaustive()
    }
}

impl StdioChannel {
    /// A channel with no child yet; the first [`ChildAction::Spawn`] is queued. `ttl`
    /// bounds requests without a deadline; `seed` jitters the restart backoff.
    pub fn new(
        channel: ChannelName,
        opts: &StdioOptions,
        ttl: Duration,
        seed: u64,
        tap: Option<Arc<dyn Tap>>,
    ) -> Self {
        let mut ch = StdioChannel {
            prefix: format!("[stdio:{channel}]"),
            channel,
            mux: StdioMux::new(opts.mux_config(ttl)),
            schedule: RestartSchedule::new(opts, seed),
            events: EventLog::new(opts.max_line_bytes),
            running: None,
            dying: None,
            spawning: None,
            restart_at: None,
            restarts: 0,
            out: VecDeque::new(),
            tap,
        };
        ch.spawn();
        ch
    }

    /// The adapter started the first child itself (a start error must fail its start):
    /// takes the queued first [`ChildAction::Spawn`] back and counts the child as running.
    pub fn adopt_first(&mut self, now: Instant, pid: u32) {
        self.out
            .retain(|o| !matches!(o, StdioOut::Child(ChildAction::Spawn { generation: 1 })));
        self.handle_report(now, ChildReport::Spawned { generation: 1, pid });
    }

    pub fn channel(&self) -> &ChannelName {
        &self.channel
    }

    /// The multiplexer, read-only (counts for tests and status).
    pub fn mux(&self) -> &StdioMux {
        &self.mux
    }

    /// The next thing to do or report.
    pub fn poll_output(&mut self) -> Option<StdioOut> {
        self.out.pop_front()
    }

    /// A command's message for the child.
    pub fn submit(
        &mut self,
        now: Instant,
        cmd: CommandId,
        message: Box<RawValue>,
        deadline: Option<Instant>,
    ) {
        self.mux.handle_submit(now, cmd, message, deadline);
        self.flush(now);
    }

    /// The engine gave up on a command (deadline, drain, terminal seen).
    pub fn cancel(&mut self, now: Instant, cmd: CommandId) {
        self.mux.handle_cancel(now, cmd);
        self.flush(now);
    }

    /// The running child's pid, if one runs.
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.pid)
    }

    /// When [`StdioChannel::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let exit = self.running.as_ref().map(|r| match r.exit_seen {
            Some(t) => t + EOF_AFTER_EXIT,
            None => r.next_check,
        });
        let dying = self
            .dying
            .as_ref()
            .filter(|d| !d.reaping)
            .map(|d| d.next_probe.min(d.grace_until));
        let restart = self
            .restart_at
            .filter(|_| self.running.is_none() && self.dying.is_none());
        [self.mux.poll_timeout(), exit, dying, restart]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.mux.handle_timeout(now);
        self.flush(now);
        let mut torn_down = false;
        if let Some(r) = self.running.as_mut() {
            let generation = r.generation;
            match r.exit_seen {
                Some(t) => torn_down = now >= t + EOF_AFTER_EXIT,
                None if now >= r.next_check => {
                    r.next_check = now + EXIT_CHECK;
                    self.out
                        .push_back(StdioOut::Child(ChildAction::CheckExit { generation }));
                }
                None => {}
            }
        }
        if torn_down {
            self.mux.handle_child_down(now, TransportError::Eof);
            self.gone(now, ChildGone::Exited);
        }
        if let Some(d) = self.dying.as_mut().filter(|d| !d.reaping) {
            let generation = d.generation;
            if now >= d.grace_until {
                d.reaping = true;
                self.out
                    .push_back(StdioOut::Child(ChildAction::Reap { generation }));
            } else if now >= d.next_probe {
                d.next_probe = now + GRACE_PROBE;
                self.out
                    .push_back(StdioOut::Child(ChildAction::CheckExit { generation }));
            }
        }
        let due = self.restart_at.is_some_and(|t| t <= now);
        if due && self.running.is_none() && self.dying.is_none() {
            self.restart_at = None;
            self.spawn();
        }
        self.flush(now);
    }

    /// What the process did.
    pub fn handle_report(&mut self, now: Instant, report: ChildReport) {
        let cur = self.running.as_ref().map(|r| r.generation);
        let current = |g: u64| cur == Some(g);
        match report {
            ChildReport::Spawned { generation, pid } if self.spawning == Some(generation) => {
                self.spawning = None;
                self.running = Some(Running {
                    generation,
                    pid,
                    started: now,
                    next_check: now + EXIT_CHECK,
                    exit_seen: None,
                });
                self.events.child_started();
                self.mux.handle_child_started(now);
                if generation > 1 {
                    self.restarts += 1;
                    let line = format!(
                        "{} child #{generation} started (pid {pid}, restart {})",
                        self.prefix, self.restarts
                    );
                    self.out.push_back(StdioOut::Log(log::Level::Info, line));
                    self.out.push_back(StdioOut::Availability(None));
                    self.out.push_back(StdioOut::Restarted);
                }
            }
            ChildReport::SpawnFailed { generation, error } if self.spawning == Some(generation) => {
                self.spawning = None;
                let delay = self.schedule.after_failed_start();
                self.restart_at = Some(now + delay);
                let line = format!(
                    "{} could not restart the child ({error}); next attempt in {} ms",
                    self.prefix,
                    delay.as_millis()
                );
                self.out.push_back(StdioOut::Log(log::Level::Error, line));
                let reason = spawn_failed_readiness(&error);
                self.out.push_back(StdioOut::Availability(Some(reason)));
            }
            ChildReport::Stdout { generation, bytes } if current(generation) => {
                let bytes = &bytes[..];
                self.observe(now, |channel| Observed::StdioRead { channel, bytes });
                self.mux.handle_child_output(now, bytes);
            }
            ChildReport::StdoutEnd { generation } if current(generation) => {
                self.mux.handle_child_eof(now);
                self.gone(now, ChildGone::StdoutClosed);
            }
            ChildReport::Written { generation, ticket } if current(generation) => {
                self.mux.handle_written(now, ticket);
            }
            ChildReport::WriteFailed { generation, error } if current(generation) => {
                self.mux.handle_child_down(now, TransportError::ClosedPipe);
                self.gone(now, ChildGone::StdinBroken(error));
            }
            ChildReport::Exited { generation } => {
                if let Some(r) = self.running.as_mut().filter(|r| r.generation == generation) {
                    r.exit_seen.get_or_insert(now);
                } else if let Some(d) = self
                    .dying
                    .as_mut()
                    .filter(|d| d.generation == generation && !d.reaping)
                {
                    d.reaping = true;
                    self.out
                        .push_back(StdioOut::Child(ChildAction::Reap { generation }));
                }
            }
            ChildReport::Reaped { generation, status }
                if self.dying.as_ref().map(|d| d.generation) == Some(generation) =>
            {
                if let Some(d) = self.dying.take() {
                    self.reaped(d, status);
                }
            }
            // About a child already replaced (or a spawn nobody asked for).
            _ => {}
        }
        self.flush(now);
    }

    fn reaped(&mut self, d: Dying, status: Option<String>) {
        let delay = self.schedule.after_down(d.lived);
        self.restart_at = Some(d.at + delay);
        let line = d
            .why
            .went_away(d.generation, d.pid, d.lived, status.as_deref(), delay);
        self.out.push_back(StdioOut::Log(
            log::Level::Warn,
            format!("{} {line}", self.prefix),
        ));
        let reason = d.why.readiness(status.as_deref());
        self.out.push_back(StdioOut::Availability(Some(reason)));
    }

    fn spawn(&mut self) {
        let generation = self.mux.generation() + 1;
        self.spawning = Some(generation);
        self.act(ChildAction::Spawn { generation });
    }

    fn act(&mut self, a: ChildAction) {
        self.out.push_back(StdioOut::Child(a));
    }

    /// The running child is gone (or must go): the mux fails what it held, stdin is
    /// closed, and the child gets [`EXIT_GRACE`] to exit before its group is killed.
    fn gone(&mut self, now: Instant, why: ChildGone) {
        let Some(r) = self.running.take() else {
            return;
        };
        self.observe(now, |channel| Observed::StdioExited { channel });
        // A no-op when the mux already knows (EOF, broken stdin, its own restart).
        self.mux.handle_child_down(now, TransportError::Eof);
        let generation = r.generation;
        self.act(ChildAction::CloseStdin { generation });
        self.act(ChildAction::CheckExit { generation });
        self.dying = Some(Dying {
            generation,
            pid: r.pid,
            lived: now.saturating_duration_since(r.started),
            why,
            at: now,
            grace_until: now + EXIT_GRACE,
            next_probe: now + GRACE_PROBE,
            reaping: false,
        });
    }

    /// Performs the mux's outputs and turns its events into log lines.
    fn flush(&mut self, now: Instant) {
        while let Some(out) = self.mux.poll_output() {
            match out {
                MuxOutput::Write { ticket, line } => {
                    // Without a child (it is being torn down) there is nothing to write to.
                    if let Some(generation) = self.running.as_ref().map(|r| r.generation) {
                        self.observe(now, |channel| Observed::StdioWritten {
                            channel,
                            line: &line,
                        });
                        self.act(ChildAction::Write {
                            generation,
                            ticket,
                            line,
                        });
                    }
                }
                MuxOutput::Deliver { cmd, output } => {
                    self.out.push_back(StdioOut::Deliver { cmd, output })
                }
                MuxOutput::Restart { reason } => {
                    let line = format!("{} {reason}", self.prefix);
                    self.out.push_back(StdioOut::Log(log::Level::Warn, line));
                    self.gone(now, ChildGone::Restart(reason));
                }
            }
        }
        while let Some(e) = self.mux.poll_event() {
            if let Some((level, line)) = self.events.line(&e) {
                let line = format!("{} {line}", self.prefix);
                self.out.push_back(StdioOut::Log(level, line));
            }
        }
    }

    fn observe<'a>(&'a self, now: Instant, what: impl FnOnce(&'a ChannelName) -> Observed<'a>) {
        if let Some(tap) = &self.tap {
            tap.observe(now, what(&self.channel));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(ch: &mut StdioChannel) -> Vec<StdioOut> {
        std::iter::from_fn(|| ch.poll_output()).collect()
    }

    fn started(now: Instant) -> StdioChannel {
        let opts = StdioOptions::default();
        let mut ch =
            StdioChannel::new(ChannelName::main(), &opts, Duration::from_secs(60), 1, None);
        let out = drain(&mut ch);
        assert!(matches!(
            out[..],
            [StdioOut::Child(ChildAction::Spawn { generation: 1 })]
        ));
        ch.handle_report(
            now,
            ChildReport::Spawned {
                generation: 1,
                pid: 7,
            },
        );
        ch
    }

    #[test]
    fn a_child_that_closes_stdout_gets_its_grace_is_reaped_and_restarted() {
        let t0 = Instant::now();
        let mut ch = started(t0);
        assert!(
            drain(&mut ch).is_empty(),
            "a first start is the adapter's to log"
        );
        ch.handle_report(t0, ChildReport::StdoutEnd { generation: 1 });
        let out = drain(&mut ch);
        assert!(
            matches!(
                out[..],
                [
                    StdioOut::Child(ChildAction::CloseStdin { generation: 1 }),
                    StdioOut::Child(ChildAction::CheckExit { generation: 1 })
                ]
            ),
            "{out:?}"
        );
        // Not exited yet: probed again within the grace, then killed at its end.
        let probe = ch.poll_timeout().unwrap();
        assert_eq!(probe, t0 + GRACE_PROBE);
        ch.handle_timeout(t0 + EXIT_GRACE);
        let out = drain(&mut ch);
        assert!(
            matches!(
                out[..],
                [StdioOut::Child(ChildAction::Reap { generation: 1 })]
            ),
            "{out:?}"
        );
        // Reports about the dead child's stdout are ignored.
        ch.handle_report(
            t0,
            ChildReport::Stdout {
                generation: 1,
                bytes: b"{}\n".to_vec(),
            },
        );
        ch.handle_report(
            t0 + EXIT_GRACE,
            ChildReport::Reaped {
                generation: 1,
                status: Some("exit status: 3".into()),
            },
        );
        let out = drain(&mut ch);
        let (StdioOut::Log(log::Level::Warn, line), StdioOut::Availability(Some(reason))) =
            (&out[0], &out[1])
        else {
            panic!("{out:?}");
        };
        assert!(
            line.starts_with("[stdio:main] child #1 (pid 7) went away"),
            "{line}"
        );
        assert!(line.contains("exit status: 3"), "{line}");
        assert_eq!(
            reason,
            "stdio child down: its stdout closed, exit status: 3"
        );
        // The restart counts from when the child went away (first backoff step).
        let restart = ch.poll_timeout().unwrap();
        assert_eq!(restart, t0 + StdioOptions::default().restart_min);
        ch.handle_timeout(restart);
        let out = drain(&mut ch);
        assert!(
            matches!(
                out[..],
                [StdioOut::Child(ChildAction::Spawn { generation: 2 })]
            ),
            "{out:?}"
        );
        ch.handle_report(
            restart,
            ChildReport::Spawned {
                generation: 2,
                pid: 8,
            },
        );
        let out = drain(&mut ch);
        assert!(
            matches!(
                out[..],
                [
                    StdioOut::Log(..),
                    StdioOut::Availability(None),
                    StdioOut::Restarted
                ]
            ),
            "{out:?}"
        );
    }

    #[test]
    fn an_exit_with_stdout_held_open_tears_the_child_down_after_eof_had_its_chance() {
        let t0 = Instant::now();
        let mut ch = started(t0);
        let check = ch.poll_timeout().unwrap();
        assert_eq!(check, t0 + EXIT_CHECK);
        ch.handle_timeout(check);
        let out = drain(&mut ch);
        assert!(matches!(
            out[..],
            [StdioOut::Child(ChildAction::CheckExit { generation: 1 })]
        ));
        ch.handle_report(check, ChildReport::Exited { generation: 1 });
        assert_eq!(ch.poll_timeout(), Some(check + EOF_AFTER_EXIT));
        ch.handle_timeout(check + EOF_AFTER_EXIT);
        let out = drain(&mut ch);
        assert!(
            matches!(
                out[0],
                StdioOut::Child(ChildAction::CloseStdin { generation: 1 })
            ),
            "{out:?}"
        );
        // Already exited: reaped at once.
        ch.handle_report(
            check + EOF_AFTER_EXIT,
            ChildReport::Exited { generation: 1 },
        );
        let out = drain(&mut ch);
        assert!(
            matches!(
                out[..],
                [StdioOut::Child(ChildAction::Reap { generation: 1 })]
            ),
            "{out:?}"
        );
    }

    #[test]
    fn a_failed_restart_backs_off_and_reports_the_channel_down() {
        let t0 = Instant::now();
        let mut ch = started(t0);
        ch.handle_report(
            t0,
            ChildReport::WriteFailed {
                generation: 1,
                error: std::io::ErrorKind::BrokenPipe.into(),
            },
        );
        ch.handle_report(t0, ChildReport::Exited { generation: 1 });
        ch.handle_report(
            t0,
            ChildReport::Reaped {
                generation: 1,
                status: None,
            },
        );
        drain(&mut ch);
        let at = ch.poll_timeout().unwrap();
        ch.handle_timeout(at);
        drain(&mut ch);
        let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
        ch.handle_report(
            at,
            ChildReport::SpawnFailed {
                generation: 2,
                error: gone,
            },
        );
        let out = drain(&mut ch);
        assert!(
            matches!(&out[..], [StdioOut::Log(log::Level::Error, _), StdioOut::Availability(Some(r))] if r.starts_with("stdio child down: cannot start it")),
            "{out:?}"
        );
        let next = ch.poll_timeout().unwrap();
        assert!(next > at, "retried later, not at once");
    }
}
