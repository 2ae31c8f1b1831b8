//! The processes of the stdio channels.
//!
//! The engine supervises each stdio channel itself (`Engine::add_stdio`: multiplexer,
//! restart backoff, exit grace, log lines). This module only performs its process actions
//! (`Action::Stdio`: spawn, write a line, close stdin, "has it exited?", kill the group
//! and reap) and reports what the pipes and the process did (`Input::Stdio`):
//!
//! - this file: one thread per channel that owns its processes and performs the actions.
//!   Children are spawned *by that thread*: on Linux a child's death signal is tied to the
//!   spawning thread, which must live as long as the runtime.
//! - `child`: spawning (no shell, inherited environment, own process group, death signal)
//!   and the stdin/stdout/stderr threads, which report to the driver directly.
//! - `resolve`: finding the program on `PATH` at start.
//! - `sys`: the three libc calls behind orphan protection — the crate's only unsafe code.
//!
//! See `docs/stdio.md` for the behaviour an operator sees.

mod child;
mod resolve;
// The one exception to `deny(unsafe_code)`: std has no safe wrapper for the death signal,
// group signals or a non-reaping wait. Each call is commented in the module.
#[allow(unsafe_code)]
pub(crate) mod sys;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::time::Duration;

use tunnel_core::channel::ChannelName;
use tunnel_core::engine::Input;
use tunnel_core::stdio::{describe_exit, ChildAction, ChildReport};

use crate::driver::ToDriver;
use crate::options::{StartError, StdioCommandError, StdioOptions, StdioTarget};
use crate::pool::Threads;
use child::ChildProc;

/// How long `Runtime::start` waits for the first child to be spawned.
const START_TIMEOUT: Duration = Duration::from_secs(10);

enum Msg {
    Act(ChildAction),
    Shutdown,
}

/// A stdio channel's processes, as the driver sees them: a mailbox of their thread.
pub(crate) struct StdioProcs {
    tx: Sender<Msg>,
}

/// What the channel's thread owns.
struct Procs {
    channel: ChannelName,
    program: PathBuf,
    args: Vec<String>,
    shutdown_grace: Duration,
    driver: Sender<ToDriver>,
    threads: Threads,
    /// The running child and those within their exit grace.
    procs: Vec<ChildProc>,
}

impl StdioProcs {
    /// Resolves the program, starts the channel's thread and waits until the first child
    /// runs; its pid is returned for `Engine::add_stdio`.
    pub(crate) fn start(
        target: &StdioTarget,
        opts: &StdioOptions,
        driver: Sender<ToDriver>,
        threads: &Threads,
    ) -> Result<(StdioProcs, u32), StartError> {
        let channel: ChannelName = target.channel.clone();
        let command = target.argv.first().cloned().unwrap_or_default();
        let fail = |reason| StartError::StdioCommand {
            channel: channel.clone(),
            command: command.clone(),
            reason,
        };
        let program = resolve::resolve(&command).map_err(fail)?;
        let (tx, rx) = mpsc::channel();
        let (started_tx, started_rx) = mpsc::sync_channel(1);
        let procs = Procs {
            channel: channel.clone(),
            program: program.clone(),
            args: target.argv.iter().skip(1).cloned().collect(),
            shutdown_grace: opts.shutdown_grace,
            driver,
            threads: threads.clone(),
            procs: Vec::new(),
        };
        threads
            .spawn(&format!("stdio-{channel}"), move || {
                procs.run(rx, started_tx)
            })
            .map_err(StartError::Spawn)?;
        let handle = StdioProcs { tx };
        match started_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(pid)) => {
                // The program only: arguments may carry secrets.
                log::info!(
                    "[stdio:{channel}] started {} (pid {pid})",
                    program.display()
                );
                Ok((handle, pid))
            }
            Ok(Err(e)) => Err(fail(StdioCommandError::Spawn(e))),
            Err(_) => Err(fail(StdioCommandError::Timeout)),
        }
    }

    /// Performs one of the engine's process actions (on the channel's thread).
    pub(crate) fn perform(&self, action: ChildAction) {
        let _ = self.tx.send(Msg::Act(action));
    }

    /// Orderly stop of the running child (idempotent).
    pub(crate) fn shutdown(&self) {
        let _ = self.tx.send(Msg::Shutdown);
    }
}

impl Drop for StdioProcs {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Procs {
    fn run(mut self, rx: Receiver<Msg>, started: SyncSender<std::io::Result<u32>>) {
        let first = self.spawn(1);
        let ok = first.is_ok();
        let _ = started.send(first);
        if !ok {
            return;
        }
        while let Ok(Msg::Act(action)) = rx.recv() {
            self.perform(action);
        }
        self.shutdown();
    }

    fn spawn(&mut self, generation: u64) -> std::io::Result<u32> {
        let (channel, driver) = (&self.channel, &self.driver);
        let p = child::spawn(
            &self.program,
            &self.args,
            channel,
            generation,
            driver,
            &self.threads,
        )?;
        let pid = p.pid;
        self.procs.push(p);
        Ok(pid)
    }

    fn report(&self, report: ChildReport) {
        let channel = self.channel.clone();
        let _ = self
            .driver
            .send(ToDriver::Engine(Input::Stdio { channel, report }));
    }

    fn proc(&mut self, generation: u64) -> Option<&mut ChildProc> {
        self.procs.iter_mut().find(|p| p.generation == generation)
    }

    fn perform(&mut self, action: ChildAction) {
        match action {
            ChildAction::Spawn { generation } => match self.spawn(generation) {
                Ok(pid) => self.report(ChildReport::Spawned { generation, pid }),
                Err(error) => self.report(ChildReport::SpawnFailed { generation, error }),
            },
            ChildAction::Write {
                generation,
                ticket,
                line,
            } => {
                if let Some(p) = self.proc(generation) {
                    p.write(ticket, line);
                }
            }
            ChildAction::CloseStdin { generation } => {
                if let Some(p) = self.proc(generation) {
                    p.close_stdin();
                }
            }
            ChildAction::CheckExit { generation } => {
                if self.proc(generation).is_some_and(|p| p.has_exited()) {
                    self.report(ChildReport::Exited { generation });
                }
            }
            ChildAction::Reap { generation } => {
                if let Some(i) = self.procs.iter().position(|p| p.generation == generation) {
                    let status = self.procs.swap_remove(i).stop(Duration::ZERO, false);
                    let status = status.map(|s| s.to_string());
                    self.report(ChildReport::Reaped { generation, status });
                }
            }
        }
    }

    /// Close stdin, wait, then terminate.
    fn shutdown(&mut self) {
        for proc in std::mem::take(&mut self.procs) {
            let pid = proc.pid;
            let status = proc.stop(self.shutdown_grace, true);
            log::info!(
                "[stdio:{}] child (pid {pid}) stopped: {}",
                self.channel,
                describe_exit(status)
            );
        }
    }
}
