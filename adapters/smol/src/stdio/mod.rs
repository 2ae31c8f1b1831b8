//! The stdio MCP binding: one supervised child per channel, many commands in flight on it,
//! all inside the driver future.
//!
//! A [`StdioChannel`] owns the core's [`StdioMux`] (every protocol decision: id remapping,
//! retired ids, routing, initialize replay) and the child; it only moves bytes. The driver
//! hands it commands ([`StdioChannel::submit`], [`StdioChannel::cancel`]) and polls it with
//! its other I/O ([`StdioChannel::poll`]), which writes queued lines, reads stdout and
//! stderr, runs the mux's timers, notices a dead child, reaps it and restarts it with the
//! core's [`RestartSchedule`]. What the engine must hear comes out of
//! [`StdioChannel::take`]: command outputs, the channel going down or up (readiness), and
//! restarts. Nothing is spawned: no task, no thread (async-process keeps one reaper
//! thread of its own, like async-io's reactor thread).
//!
//! The behaviour an operator sees is the blocking adapter's (`docs/stdio.md`): same
//! restart schedule, same `/readyz` reasons and log lines (both come from
//! `tunnel_core::stdio`), same shutdown sequence. One difference: no death signal
//! (`PR_SET_PDEATHSIG` needs an unsafe `pre_exec` hook and this crate forbids unsafe
//! code), so a child of a SIGKILLed host relies on its stdin closing.

mod child;

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::Timer;
use tunnel_core::channel::ChannelName;
use tunnel_core::classify::TransportError;
use tunnel_core::engine::{CommandId, McpOp, McpOutput, McpWork, Terminal};
use tunnel_core::stdio::{
    describe_exit, find_program, spawn_failed_readiness, ChildGone, EventLog, MuxOutput,
    RestartSchedule, StdioCommandError, StdioMux, StdioOptions, StdioTarget,
};

use tunnel_core::tap::{Observed, Tap};

use crate::StartError;
use child::ChildProc;

/// How often a running child is checked for having exited while something it started
/// keeps its stdout open.
const TICK: Duration = Duration::from_millis(500);
/// After stdout closed, how long the child may take to exit on its own (for an honest exit
/// status in the log) before its group is killed.
const EXIT_GRACE: Duration = Duration::from_millis(200);
/// How long stdout EOF may lag behind the process exit before the child is torn down
/// anyway (a grandchild may hold stdout open forever).
const EOF_AFTER_EXIT: Duration = Duration::from_secs(1);
/// Rounds of I/O and timers per poll before the driver gets its turn.
const MAX_ROUNDS: usize = 32;

/// What the driver must tell the engine.
#[derive(Debug)]
pub(crate) enum ToDriver {
    /// A step of a command (`Engine::handle_mcp_output`).
    Deliver(CommandId, McpOutput),
    /// The channel is down (`/readyz` reason) or up again (`None`).
    Availability(Option<String>),
    /// A child was restarted (counted).
    Restarted,
}

/// A child on its way out: reaped (after a short grace) by a future the channel polls.
type Dying = Pin<Box<dyn Future<Output = Gone> + Send>>;

/// A child that went away and has been reaped.
struct Gone {
    why: ChildGone,
    generation: u64,
    pid: u32,
    lived: Duration,
    status: Option<ExitStatus>,
    at: Instant,
}

/// One stdio channel. See the module docs.
pub(crate) struct StdioChannel {
    prefix: String,
    channel: ChannelName,
    program: PathBuf,
    args: Vec<String>,
    opts: StdioOptions,
    mux: StdioMux,
    child: Option<ChildProc>,
    dying: Option<Dying>,
    schedule: RestartSchedule,
    restart_at: Option<Instant>,
    restarts: u64,
    events: EventLog,
    /// When the running child is next checked for having exited.
    next_check: Instant,
    /// When the process was first seen exited while stdout was still open.
    exit_seen: Option<Instant>,
    timer: Timer,
    armed: Option<Instant>,
    out: VecDeque<ToDriver>,
    /// Shown the child's side of the channel (trace recording), as in the blocking adapter.
    tap: Option<Arc<dyn Tap>>,
}

/// The file to execute for `program`: the core's `PATH` search over this process's
/// environment and file system.
fn resolve(program: &str) -> Result<PathBuf, StdioCommandError> {
    let path = std::env::var_os("PATH");
    let pathext = std::env::var("PATHEXT").ok();
    find_program(program, path.as_deref(), pathext.as_deref(), is_executable)
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    let runnable = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
    #[cfg(not(unix))]
    let runnable = true;
    meta.is_file() && runnable
}

impl StdioChannel {
    /// Resolves the program and starts the first child: a command that cannot run fails
    /// the start, naming the channel and the fix.
    pub(crate) fn start(
        target: &StdioTarget,
        opts: &StdioOptions,
        ttl: Duration,
        seed: u64,
        tap: Option<Arc<dyn Tap>>,
    ) -> Result<StdioChannel, StartError> {
        let channel = target.channel.clone();
        let command = target.argv.first().cloned().unwrap_or_default();
        let fail = |reason| StartError::StdioCommand {
            channel: channel.clone(),
            command: command.clone(),
            reason,
        };
        let program = resolve(&command).map_err(fail)?;
        let mut ch = StdioChannel {
            prefix: format!("[stdio:{channel}]"),
            channel: channel.clone(),
            program,
            args: target.argv.iter().skip(1).cloned().collect(),
            mux: StdioMux::new(opts.mux_config(ttl)),
            child: None,
            dying: None,
            schedule: RestartSchedule::new(opts, seed),
            restart_at: None,
            restarts: 0,
            events: EventLog::new(opts.max_line_bytes),
            next_check: Instant::now(),
            exit_seen: None,
            timer: Timer::never(),
            armed: None,
            out: VecDeque::new(),
            tap,
            opts: opts.clone(),
        };
        let pid = ch.spawn().map_err(|e| fail(StdioCommandError::Spawn(e)))?;
        // The program only: arguments may carry secrets.
        log::info!("{} started {} (pid {pid})", ch.prefix, ch.program.display());
        Ok(ch)
    }

    pub(crate) fn channel(&self) -> &ChannelName {
        &self.channel
    }

    fn spawn(&mut self) -> std::io::Result<u32> {
        let generation = self.mux.generation() + 1;
        let proc = child::spawn(&self.program, &self.args, &self.channel, generation)?;
        let pid = proc.pid;
        let now = Instant::now();
        self.child = Some(proc);
        self.next_check = now + TICK;
        self.exit_seen = None;
        self.events.child_started();
        self.mux.handle_child_started(now);
        self.flush();
        Ok(pid)
    }

    /// A command for this channel.
    pub(crate) fn submit(&mut self, now: Instant, work: McpWork) {
        let (cmd, deadline) = (work.cmd, work.deadline);
        let McpOp::Send { message, .. } = work.op else {
            // The engine answers session_termination (405) and oauth_discovery (400) for
            // stdio channels itself; nothing else reaches here.
            let abandon = Terminal::Abandon {
                reason: "operation not supported on a stdio channel",
            };
            self.out
                .push_back(ToDriver::Deliver(cmd, McpOutput::Terminal(abandon)));
            return;
        };
        self.mux.handle_submit(now, cmd, message, deadline);
        self.flush();
    }

    /// The engine gave up on a command (deadline, drain); the mux retires its request.
    pub(crate) fn cancel(&mut self, now: Instant, cmd: CommandId) {
        self.mux.handle_cancel(now, cmd);
        self.flush();
    }

    /// The next thing for the engine.
    pub(crate) fn take(&mut self) -> Option<ToDriver> {
        self.out.pop_front()
    }

    /// Moves bytes, runs timers, reaps and restarts; `Ready` when [`StdioChannel::take`]
    /// has something. Registers wakers for everything it waits on when `Pending`.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..MAX_ROUNDS {
            let mut busy = self.poll_dying(cx);
            busy |= self.poll_pipes(cx);
            let now = Instant::now();
            if let Some(wake) = self.next_wake() {
                if wake <= now {
                    self.on_timers(now);
                    busy = true;
                } else if self.armed != Some(wake) {
                    self.timer.set_at(wake);
                    self.armed = Some(wake);
                }
            }
            if !self.out.is_empty() {
                return Poll::Ready(());
            }
            if !busy {
                if self.armed.is_some() && Pin::new(&mut self.timer).poll(cx).is_ready() {
                    self.armed = None;
                    continue;
                }
                return Poll::Pending;
            }
        }
        // Still busy: let the driver (and the host's other tasks) run, then come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn poll_dying(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(dying) = self.dying.as_mut() else {
            return false;
        };
        let Poll::Ready(gone) = dying.as_mut().poll(cx) else {
            return false;
        };
        self.dying = None;
        let delay = self.schedule.after_down(gone.lived);
        self.restart_at = Some(gone.at + delay);
        let line = gone
            .why
            .went_away(gone.generation, gone.pid, gone.lived, gone.status, delay);
        log::warn!("{} {line}", self.prefix);
        let reason = gone.why.readiness(gone.status);
        self.out.push_back(ToDriver::Availability(Some(reason)));
        true
    }

    /// One round on the pipes; true if anything moved.
    fn poll_pipes(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        let p = child.poll_io(cx);
        let busy = !p.written.is_empty()
            || !p.stdout.is_empty()
            || p.stdout_closed
            || p.write_failed.is_some();
        let now = Instant::now();
        for ticket in p.written {
            self.mux.handle_written(now, ticket);
        }
        if !p.stdout.is_empty() {
            self.observe(now, |channel| Observed::StdioRead {
                channel,
                bytes: &p.stdout,
            });
            self.mux.handle_child_output(now, &p.stdout);
        }
        if let Some(e) = p.write_failed {
            self.mux.handle_child_down(now, TransportError::ClosedPipe);
            self.child_gone(ChildGone::StdinBroken(e));
        } else if p.stdout_closed {
            self.mux.handle_child_eof(now);
            self.child_gone(ChildGone::StdoutClosed);
        }
        self.flush();
        busy
    }

    /// The earliest timer: the mux's deadlines, the exit check, the restart.
    fn next_wake(&self) -> Option<Instant> {
        let exit = self.child.as_ref().map(|_| match self.exit_seen {
            Some(t) => t + EOF_AFTER_EXIT,
            None => self.next_check,
        });
        let restart = self
            .restart_at
            .filter(|_| self.child.is_none() && self.dying.is_none());
        [self.mux.poll_timeout(), exit, restart]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_timers(&mut self, now: Instant) {
        self.mux.handle_timeout(now);
        self.flush();
        if self.child.is_some() && (now >= self.next_check || self.exit_seen.is_some()) {
            self.next_check = now + TICK;
            self.watch_exit(now);
        }
        let restart_due = self.restart_at.is_some_and(|t| t <= now);
        if restart_due && self.child.is_none() && self.dying.is_none() {
            self.restart();
        }
    }

    /// A child normally goes away through stdout EOF (which also delivers its last
    /// output). One that exited while something it started keeps stdout open is noticed
    /// here, and torn down once EOF has had [`EOF_AFTER_EXIT`] to arrive.
    fn watch_exit(&mut self, now: Instant) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        match self.exit_seen {
            None if child.has_exited() => self.exit_seen = Some(now),
            Some(t) if now >= t + EOF_AFTER_EXIT => {
                self.mux.handle_child_down(now, TransportError::Eof);
                self.child_gone(ChildGone::Exited);
                self.flush();
            }
            _ => {}
        }
    }

    /// Performs the mux's outputs and logs its events.
    fn flush(&mut self) {
        while let Some(out) = self.mux.poll_output() {
            match out {
                // Without a child (it is being torn down) there is nothing to write to.
                MuxOutput::Write { ticket, line } => {
                    if let (Some(tap), Some(_)) = (&self.tap, &self.child) {
                        let (channel, line) = (&self.channel, &line[..]);
                        tap.observe(Instant::now(), Observed::StdioWritten { channel, line });
                    }
                    if let Some(c) = self.child.as_mut() {
                        c.write(ticket, line);
                    }
                }
                MuxOutput::Deliver { cmd, output } => {
                    self.out.push_back(ToDriver::Deliver(cmd, output))
                }
                MuxOutput::Restart { reason } => {
                    log::warn!("{} {reason}", self.prefix);
                    self.child_gone(ChildGone::Restart(reason));
                }
            }
        }
        while let Some(e) = self.mux.poll_event() {
            if let Some((level, line)) = self.events.line(&e) {
                log::log!(level, "{} {line}", self.prefix);
            }
        }
    }

    /// The child is gone (or must go): the mux fails what it held, and the child is
    /// stopped and reaped in the background of [`StdioChannel::poll`]; then the channel
    /// is reported down and the restart scheduled.
    fn child_gone(&mut self, why: ChildGone) {
        let Some(proc) = self.child.take() else {
            return;
        };
        self.exit_seen = None;
        let now = Instant::now();
        self.observe(now, |channel| Observed::StdioExited { channel });
        // The mux may not know yet (exit noticed by the tick, or a restart request, which
        // the mux already handled: then this is a no-op).
        self.mux.handle_child_down(now, TransportError::Eof);
        let (generation, pid) = (proc.generation, proc.pid);
        let lived = now.saturating_duration_since(proc.started);
        self.dying = Some(Box::pin(async move {
            let status = proc.stop(EXIT_GRACE, false).await;
            Gone {
                why,
                generation,
                pid,
                lived,
                status,
                at: now,
            }
        }));
    }

    /// Shows the tap (if any) something about this channel's child.
    fn observe<'a>(&'a self, now: Instant, what: impl FnOnce(&'a ChannelName) -> Observed<'a>) {
        if let Some(tap) = &self.tap {
            tap.observe(now, what(&self.channel));
        }
    }

    fn restart(&mut self) {
        self.restart_at = None;
        self.restarts += 1;
        match self.spawn() {
            Ok(pid) => {
                log::info!(
                    "{} child #{} started (pid {pid}, restart {})",
                    self.prefix,
                    self.mux.generation(),
                    self.restarts
                );
                self.out.push_back(ToDriver::Availability(None));
                self.out.push_back(ToDriver::Restarted);
            }
            Err(e) => {
                let delay = self.schedule.after_failed_start();
                self.restart_at = Some(Instant::now() + delay);
                log::error!(
                    "{} could not restart the child ({e}); next attempt in {} ms",
                    self.prefix,
                    delay.as_millis()
                );
                let reason = spawn_failed_readiness(&e);
                self.out.push_back(ToDriver::Availability(Some(reason)));
            }
        }
    }

    /// Orderly stop: close stdin, `shutdown_grace` to exit, SIGTERM, one more second,
    /// SIGKILL to the group; a child already on its way out is reaped first.
    pub(crate) async fn shutdown(mut self) {
        if let Some(dying) = self.dying.take() {
            dying.await;
        }
        if let Some(proc) = self.child.take() {
            let pid = proc.pid;
            let status = proc.stop(self.opts.shutdown_grace, true).await;
            log::info!(
                "{} child (pid {pid}) stopped: {}",
                self.prefix,
                describe_exit(status)
            );
        }
    }
}
