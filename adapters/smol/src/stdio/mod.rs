//! The processes of the stdio channels, all inside the driver future.
//!
//! The engine supervises each stdio channel itself (`Engine::add_stdio`: multiplexer,
//! restart backoff, exit grace, log lines). A [`StdioProcs`] only performs its process
//! actions — spawn, write a line, close stdin, "has it exited?", kill the group and reap —
//! and reports what the pipes and the process did ([`StdioProcs::take`]). A child being
//! torn down keeps its pipes drained (and stderr logged) until it is reaped, so one blocked
//! on a full pipe can still exit. Nothing is spawned: no task, no thread (async-process
//! keeps one reaper thread of its own, like async-io's reactor thread).
//!
//! The death signal (`PR_SET_PDEATHSIG`) needs an unsafe `pre_exec` hook and this crate
//! forbids unsafe code: the host supplies it (`RuntimeOptions::child_setup`). Without it, a
//! child of a SIGKILLed host relies on its stdin closing.

mod child;

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tunnel_core::channel::ChannelName;
use tunnel_core::stdio::{
    describe_exit, find_program, ChildAction, ChildReport, StdioCommandError, StdioOptions,
    StdioTarget,
};

use crate::driver::Task;
use crate::StartError;
use child::ChildProc;

/// A child being killed and reaped: its generation and exit status.
type Reaping = Pin<Box<dyn Future<Output = (u64, Option<String>)> + Send>>;

/// The processes of one stdio channel. See the module docs.
pub(crate) struct StdioProcs {
    channel: ChannelName,
    program: PathBuf,
    args: Vec<String>,
    /// The host's hook on each child's command (`RuntimeOptions::child_setup`).
    setup: Option<fn(&mut std::process::Command)>,
    shutdown_grace: Duration,
    /// The running child and those within their exit grace.
    procs: Vec<ChildProc>,
    reaping: Vec<Reaping>,
    reports: VecDeque<ChildReport>,
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

impl StdioProcs {
    /// Resolves the program and starts the first child (its pid is returned for
    /// `Engine::add_stdio`): a command that cannot run fails the start, naming the channel
    /// and the fix.
    pub(crate) fn start(
        target: &StdioTarget,
        opts: &StdioOptions,
        setup: Option<fn(&mut std::process::Command)>,
    ) -> Result<(StdioProcs, u32), StartError> {
        let channel = target.channel.clone();
        let command = target.argv.first().cloned().unwrap_or_default();
        let fail = |reason| StartError::StdioCommand {
            channel: channel.clone(),
            command: command.clone(),
            reason,
        };
        let program = resolve(&command).map_err(fail)?;
        let args: Vec<String> = target.argv.iter().skip(1).cloned().collect();
        let first = child::spawn(&program, &args, &channel, 1, setup)
            .map_err(|e| fail(StdioCommandError::Spawn(e)))?;
        let pid = first.pid;
        // The program only: arguments may carry secrets.
        log::info!(
            "[stdio:{channel}] started {} (pid {pid})",
            program.display()
        );
        let procs = StdioProcs {
            channel,
            program,
            args,
            setup,
            shutdown_grace: opts.shutdown_grace,
            procs: vec![first],
            reaping: Vec::new(),
            reports: VecDeque::new(),
        };
        Ok((procs, pid))
    }

    pub(crate) fn channel(&self) -> &ChannelName {
        &self.channel
    }

    /// What happened since the last call, for `Input::Stdio`.
    pub(crate) fn take(&mut self) -> Option<ChildReport> {
        self.reports.pop_front()
    }

    fn proc(&mut self, generation: u64) -> Option<&mut ChildProc> {
        self.procs.iter_mut().find(|p| p.generation == generation)
    }

    /// Performs one of the engine's process actions.
    pub(crate) fn perform(&mut self, action: ChildAction) {
        match action {
            ChildAction::Spawn { generation } => {
                let spawned = child::spawn(
                    &self.program,
                    &self.args,
                    &self.channel,
                    generation,
                    self.setup,
                );
                self.reports.push_back(match spawned {
                    Ok(p) => {
                        let pid = p.pid;
                        self.procs.push(p);
                        ChildReport::Spawned { generation, pid }
                    }
                    Err(error) => ChildReport::SpawnFailed { generation, error },
                });
            }
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
                    self.reports.push_back(ChildReport::Exited { generation });
                }
            }
            ChildAction::Reap { generation } => {
                if let Some(i) = self.procs.iter().position(|p| p.generation == generation) {
                    let p = self.procs.swap_remove(i);
                    self.reaping.push(Box::pin(async move {
                        let status = p.stop(Duration::ZERO, false).await;
                        (generation, status.map(|s| s.to_string()))
                    }));
                }
            }
        }
    }

    /// Moves bytes and reaps; `Ready` when [`StdioProcs::take`] has something. Registers
    /// wakers for everything it waits on when `Pending`.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for p in &mut self.procs {
            let generation = p.generation;
            let io = p.poll_io(cx);
            let r = &mut self.reports;
            for ticket in io.written {
                r.push_back(ChildReport::Written { generation, ticket });
            }
            if !io.stdout.is_empty() {
                let bytes = io.stdout;
                r.push_back(ChildReport::Stdout { generation, bytes });
            }
            if let Some(error) = io.write_failed {
                r.push_back(ChildReport::WriteFailed { generation, error });
            } else if io.stdout_closed {
                r.push_back(ChildReport::StdoutEnd { generation });
            }
        }
        let reports = &mut self.reports;
        self.reaping.retain_mut(|f| match f.as_mut().poll(cx) {
            Poll::Ready((generation, status)) => {
                reports.push_back(ChildReport::Reaped { generation, status });
                false
            }
            Poll::Pending => true,
        });
        if self.reports.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Orderly stop: children on their way out are reaped; the running one gets stdin
    /// closed, `shutdown_grace` to exit, SIGTERM, one more second, SIGKILL to the group.
    pub(crate) async fn shutdown(self) {
        for f in self.reaping {
            f.await;
        }
        for proc in self.procs {
            let pid = proc.pid;
            let status = proc.stop(self.shutdown_grace, true).await;
            log::info!(
                "[stdio:{}] child (pid {pid}) stopped: {}",
                self.channel,
                describe_exit(status)
            );
        }
    }
}

/// Stops every stdio child in order, all at once (each has its own grace period).
pub(crate) async fn shut_down(channels: Vec<StdioProcs>) {
    let mut stops: Vec<Task> = channels
        .into_iter()
        .map(|c| Box::pin(c.shutdown()) as Task)
        .collect();
    futures_lite::future::poll_fn(|cx| {
        stops.retain_mut(|s| s.as_mut().poll(cx).is_pending());
        if stops.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}
