//! The supervisor thread of one stdio channel: owns the core's [`StdioMux`] and the child,
//! turns pipe events into mux inputs and mux outputs into writes and reports, and restarts
//! the child with backoff whenever it goes away. It never exits because of the child; only
//! the runtime's shutdown ends it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tunnel_core::channel::ChannelName;
use tunnel_core::classify::TransportError;
use tunnel_core::engine::{CommandId, McpOp, McpOutput, McpWork, Terminal};
use tunnel_core::stdio::{
    describe_exit, spawn_failed_readiness, ChildGone, EventLog, MuxOutput, RestartSchedule,
    StdioMux, WriteTicket,
};
use tunnel_core::tap::{Observed, Tap};

use super::child::{self, ChildProc};
use crate::binding::McpSink;
use tunnel_core::engine::Input;

use crate::driver::ToDriver;
use crate::options::StdioOptions;
use crate::pool::Threads;

/// Longest the supervisor sleeps: it also watches for a child that exited while something
/// else (a grandchild) keeps its stdout open.
const TICK: Duration = Duration::from_millis(500);
/// After stdout closed, how long the child may take to exit on its own (for an honest exit
/// status in the log) before its group is killed.
const EXIT_GRACE: Duration = Duration::from_millis(200);
/// How long stdout EOF may lag behind the process exit before the child is torn down
/// anyway (a grandchild may hold stdout open forever).
const EOF_AFTER_EXIT: Duration = Duration::from_secs(1);
/// Messages handled before timers and the exit check run again.
const MAX_BATCH: usize = 256;

/// What the binding and the pipe threads tell the supervisor.
pub(crate) enum Msg {
    Submit(Box<McpWork>, McpSink),
    Cancel(CommandId),
    Stdout {
        generation: u64,
        bytes: Vec<u8>,
    },
    StdoutEnd {
        generation: u64,
        error: Option<std::io::Error>,
    },
    Written {
        generation: u64,
        ticket: WriteTicket,
    },
    WriteFailed {
        generation: u64,
        error: std::io::Error,
    },
    Shutdown,
}

/// Everything the supervisor thread owns.
pub(crate) struct Supervisor {
    pub(crate) channel: ChannelName,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) opts: StdioOptions,
    pub(crate) ttl: Duration,
    pub(crate) rx: Receiver<Msg>,
    pub(crate) tx: Sender<Msg>,
    pub(crate) driver: Sender<ToDriver>,
    pub(crate) threads: Threads,
    /// Shown the child's side of the channel (trace recording).
    pub(crate) tap: Option<Arc<dyn Tap>>,
}

struct State {
    sup: Supervisor,
    mux: StdioMux,
    child: Option<ChildProc>,
    sinks: HashMap<CommandId, McpSink>,
    schedule: RestartSchedule,
    restart_at: Option<Instant>,
    restarts: u64,
    events: EventLog,
    /// When the process was first seen exited while stdout was still open.
    exit_seen: Option<Instant>,
}

impl Supervisor {
    /// Runs the channel: starts the first child (its pid or the error goes to `started`),
    /// then serves until [`Msg::Shutdown`].
    pub(crate) fn run(self, started: SyncSender<std::io::Result<u32>>) {
        let mut st = State {
            mux: StdioMux::new(self.opts.mux_config(self.ttl)),
            child: None,
            sinks: HashMap::new(),
            schedule: RestartSchedule::new(&self.opts, crate::entropy::seed()),
            restart_at: None,
            restarts: 0,
            events: EventLog::new(self.opts.max_line_bytes),
            exit_seen: None,
            sup: self,
        };
        match st.spawn() {
            Ok(pid) => {
                let _ = started.send(Ok(pid));
            }
            Err(e) => {
                let _ = started.send(Err(e));
                return;
            }
        }
        st.serve();
        st.shutdown();
    }
}

impl State {
    fn log_prefix(&self) -> String {
        format!("[stdio:{}]", self.sup.channel)
    }

    fn spawn(&mut self) -> std::io::Result<u32> {
        let generation = self.mux.generation() + 1;
        let proc = child::spawn(
            &self.sup.program,
            &self.sup.args,
            &self.sup.channel,
            generation,
            &self.sup.tx,
            &self.sup.threads,
        )?;
        let pid = proc.pid;
        self.child = Some(proc);
        self.events.child_started();
        self.mux.handle_child_started(Instant::now());
        Ok(pid)
    }

    /// Tells the driver the channel is down (`/readyz` reason) or up again; `restarted`
    /// also counts a restart.
    fn report(&self, down: Option<String>, restarted: bool) {
        if restarted {
            let _ = self.sup.driver.send(ToDriver::StdioRestarted);
        }
        let channel = self.sup.channel.clone();
        let _ = self
            .sup
            .driver
            .send(ToDriver::Engine(Input::Binding { channel, down }));
    }

    fn serve(&mut self) {
        loop {
            let now = Instant::now();
            let exit_deadline = self.exit_seen.map(|t| t + EOF_AFTER_EXIT);
            let wake = [self.mux.poll_timeout(), self.restart_at, exit_deadline]
                .into_iter()
                .flatten()
                .fold(now + TICK, Instant::min);
            let mut next = match self
                .sup
                .rx
                .recv_timeout(wake.saturating_duration_since(now))
            {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Take what else is already queued (bounded), so a burst of output is handled
            // before the exit check below looks at the process.
            let mut handled = 0;
            while let Some(msg) = next {
                if matches!(msg, Msg::Shutdown) {
                    return;
                }
                self.handle(msg);
                handled += 1;
                next = if handled < MAX_BATCH {
                    self.sup.rx.try_recv().ok()
                } else {
                    None
                };
            }
            let now = Instant::now();
            self.mux.handle_timeout(now);
            self.flush();
            self.watch_exit(now);
            if self.restart_at.is_some_and(|t| t <= Instant::now()) {
                self.restart();
            }
        }
    }

    /// A child normally goes away through stdout EOF (which also delivers its last
    /// output). One that exited while something it started keeps stdout open is noticed
    /// here, and torn down once EOF has had [`EOF_AFTER_EXIT`] to arrive.
    fn watch_exit(&mut self, now: Instant) {
        let Some(child) = self.child.as_mut() else {
            self.exit_seen = None;
            return;
        };
        match self.exit_seen {
            None if child.has_exited() => self.exit_seen = Some(now),
            Some(t) if now >= t + EOF_AFTER_EXIT => {
                self.mux.handle_child_down(now, TransportError::Eof);
                self.child_gone(ChildGone::Exited);
            }
            _ => {}
        }
    }

    fn generation_is_current(&self, generation: u64) -> bool {
        self.child
            .as_ref()
            .is_some_and(|c| c.generation == generation)
    }

    fn handle(&mut self, msg: Msg) {
        let now = Instant::now();
        match msg {
            Msg::Submit(work, sink) => {
                let (cmd, deadline) = (work.cmd, work.deadline);
                let McpOp::Send { message, .. } = work.op else {
                    // The engine answers session_termination (405) and oauth_discovery
                    // (400) for stdio channels itself; nothing else reaches here.
                    sink.output(McpOutput::Terminal(Terminal::Abandon {
                        reason: "operation not supported on a stdio channel",
                    }));
                    return;
                };
                if sink.is_cancelled() {
                    return;
                }
                self.sinks.insert(cmd, sink);
                self.mux.handle_submit(now, cmd, message, deadline);
            }
            Msg::Cancel(cmd) => {
                self.sinks.remove(&cmd);
                self.mux.handle_cancel(now, cmd);
            }
            Msg::Stdout { generation, bytes } if self.generation_is_current(generation) => {
                if let Some(tap) = &self.sup.tap {
                    let channel = &self.sup.channel;
                    tap.observe(
                        now,
                        Observed::StdioRead {
                            channel,
                            bytes: &bytes,
                        },
                    );
                }
                self.mux.handle_child_output(now, &bytes);
            }
            Msg::StdoutEnd { generation, error } if self.generation_is_current(generation) => {
                if let Some(e) = error {
                    log::debug!("{} reading stdout failed: {e}", self.log_prefix());
                }
                self.mux.handle_child_eof(now);
                self.child_gone(ChildGone::StdoutClosed);
            }
            Msg::Written { generation, ticket } if self.generation_is_current(generation) => {
                self.mux.handle_written(now, ticket);
            }
            Msg::WriteFailed { generation, error } if self.generation_is_current(generation) => {
                self.mux.handle_child_down(now, TransportError::ClosedPipe);
                self.child_gone(ChildGone::StdinBroken(error));
            }
            // Output of a child that was already replaced.
            Msg::Stdout { .. }
            | Msg::StdoutEnd { .. }
            | Msg::Written { .. }
            | Msg::WriteFailed { .. } => {}
            Msg::Shutdown => {}
        }
        self.flush();
    }

    /// Performs the mux's outputs and logs its events.
    fn flush(&mut self) {
        while let Some(out) = self.mux.poll_output() {
            match out {
                MuxOutput::Write { ticket, line } => {
                    if let (Some(tap), Some(_)) = (&self.sup.tap, &self.child) {
                        let channel = &self.sup.channel;
                        let line = &line[..];
                        tap.observe(Instant::now(), Observed::StdioWritten { channel, line });
                    }
                    // A write to a gone writer is noticed through its WriteFailed/EOF.
                    if let Some(c) = &self.child {
                        c.write(ticket, line);
                    }
                }
                MuxOutput::Deliver { cmd, output } => self.deliver(cmd, output),
                MuxOutput::Restart { reason } => {
                    log::warn!("{} {reason}", self.log_prefix());
                    self.child_gone(ChildGone::Restart(reason));
                }
            }
        }
        self.log_events();
    }

    /// Hands one output to its command's sink; the terminal one retires the sink.
    fn deliver(&mut self, cmd: CommandId, output: McpOutput) {
        let sink = if matches!(output, McpOutput::Terminal(_)) {
            self.sinks.remove(&cmd)
        } else {
            self.sinks.get(&cmd).cloned()
        };
        if let Some(sink) = sink {
            sink.output(output);
        }
    }

    fn log_events(&mut self) {
        while let Some(e) = self.mux.poll_event() {
            if let Some((level, line)) = self.events.line(&e) {
                log::log!(level, "{} {line}", self.log_prefix());
            }
        }
    }

    /// The child is gone (or must go): make sure it is dead and reaped, report the channel
    /// down and schedule a restart.
    fn child_gone(&mut self, why: ChildGone) {
        let Some(proc) = self.child.take() else {
            return;
        };
        self.exit_seen = None;
        let now = Instant::now();
        if let Some(tap) = &self.sup.tap {
            let channel = &self.sup.channel;
            tap.observe(now, Observed::StdioExited { channel });
        }
        // The mux may not know yet (process exit noticed by the tick, or a restart request,
        // which the mux already handled: then this is a no-op).
        self.mux.handle_child_down(now, TransportError::Eof);
        self.flush_deliveries_only();
        let lived = now.saturating_duration_since(proc.started);
        let (pid, generation) = (proc.pid, proc.generation);
        let status = proc.stop(EXIT_GRACE, false);
        let delay = self.schedule.after_down(lived);
        self.restart_at = Some(now + delay);
        log::warn!(
            "{} {}",
            self.log_prefix(),
            why.went_away(generation, pid, lived, status, delay)
        );
        self.report(Some(why.readiness(status)), false);
    }

    /// Deliveries produced while a child is being torn down (never writes: there is no
    /// child to write to).
    fn flush_deliveries_only(&mut self) {
        let mut rest = Vec::new();
        while let Some(out) = self.mux.poll_output() {
            match out {
                MuxOutput::Deliver { cmd, output } => self.deliver(cmd, output),
                other => rest.push(other),
            }
        }
        drop(rest);
        self.log_events();
    }

    fn restart(&mut self) {
        self.restart_at = None;
        self.restarts += 1;
        match self.spawn() {
            Ok(pid) => {
                log::info!(
                    "{} child #{} started (pid {pid}, restart {})",
                    self.log_prefix(),
                    self.mux.generation(),
                    self.restarts
                );
                self.report(None, true);
                self.flush();
            }
            Err(e) => {
                let delay = self.schedule.after_failed_start();
                self.restart_at = Some(Instant::now() + delay);
                log::error!(
                    "{} could not restart the child ({e}); next attempt in {} ms",
                    self.log_prefix(),
                    delay.as_millis()
                );
                self.report(Some(spawn_failed_readiness(&e)), false);
            }
        }
    }

    /// Orderly stop: everything still held is cancelled by the runtime; close stdin, wait,
    /// then terminate.
    fn shutdown(&mut self) {
        self.sinks.clear();
        if let Some(proc) = self.child.take() {
            let pid = proc.pid;
            let status = proc.stop(self.sup.opts.shutdown_grace, true);
            log::info!(
                "{} child (pid {pid}) stopped: {}",
                self.log_prefix(),
                describe_exit(status)
            );
        }
    }
}
