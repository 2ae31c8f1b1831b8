//! The stdio MCP binding: one supervised child per channel, many commands in flight on it.
//!
//! Protocol decisions (id remapping, retired ids, routing, initialize replay) live in the
//! core's [`tunnel_core::stdio::StdioMux`]; this module only moves bytes and processes:
//!
//! - `supervisor`: the channel's thread, owner of the mux and the child; restarts the
//!   child with backoff and reports the channel down/up to the driver (readiness, counters).
//! - `child`: spawning (no shell, inherited environment, own process group, death signal)
//!   and the stdin/stdout/stderr threads.
//! - `resolve`: finding the program on `PATH` at start.
//! - `sys`: the three libc calls behind orphan protection — the crate's only unsafe code.
//!
//! See `docs/stdio.md` for the behaviour an operator sees.

mod child;
mod resolve;
mod supervisor;
// The one exception to `deny(unsafe_code)`: std has no safe wrapper for the death signal,
// group signals or a non-reaping wait. Each call is commented in the module.
#[allow(unsafe_code)]
mod sys;

use std::sync::mpsc::{self, SendError, Sender};
use std::sync::Arc;
use std::time::Duration;

use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{CommandId, McpOutput, McpWork, Terminal};
use tunnel_core::tap::Tap;

use crate::binding::{McpBinding, McpSink};
use crate::driver::ToDriver;
use crate::options::{StartError, StdioCommandError, StdioOptions, StdioTarget};
use crate::pool::Threads;
use supervisor::{Msg, Supervisor};

/// How long `Runtime::start` waits for the first child to be spawned.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A stdio channel, as the driver sees it: a mailbox of its supervisor thread.
pub(crate) struct StdioBinding {
    tx: Sender<Msg>,
}

impl StdioBinding {
    /// Resolves the program, starts the supervisor thread and waits until the first child
    /// runs. The child is spawned *by the supervisor thread*: on Linux its death signal is
    /// tied to the spawning thread, which must live as long as the runtime.
    pub(crate) fn start(
        target: &StdioTarget,
        opts: &StdioOptions,
        ttl: Duration,
        driver: Sender<ToDriver>,
        threads: &Threads,
        tap: Option<Arc<dyn Tap>>,
    ) -> Result<StdioBinding, StartError> {
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
        let sup = Supervisor {
            channel: channel.clone(),
            program: program.clone(),
            args: target.argv.iter().skip(1).cloned().collect(),
            opts: opts.clone(),
            ttl,
            rx,
            tx: tx.clone(),
            driver,
            threads: threads.clone(),
            tap,
        };
        threads
            .spawn(&format!("stdio-{channel}"), move || sup.run(started_tx))
            .map_err(StartError::Spawn)?;
        let binding = StdioBinding { tx };
        match started_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(pid)) => {
                // The program only: arguments may carry secrets.
                log::info!(
                    "[stdio:{channel}] started {} (pid {pid})",
                    program.display()
                );
                Ok(binding)
            }
            Ok(Err(e)) => Err(fail(StdioCommandError::Spawn(e))),
            Err(_) => Err(fail(StdioCommandError::Timeout)),
        }
    }
}

impl McpBinding for StdioBinding {
    fn start(&self, work: McpWork, sink: McpSink) {
        if let Err(SendError(Msg::Submit(_, sink))) =
            self.tx.send(Msg::Submit(Box::new(work), sink))
        {
            // Only after shutdown; the runtime is stopping and nothing will be posted.
            sink.output(McpOutput::Terminal(Terminal::Abandon {
                reason: "the stdio channel is shut down",
            }));
        }
    }

    fn cancel(&self, cmd: CommandId) {
        let _ = self.tx.send(Msg::Cancel(cmd));
    }

    fn shutdown(&self) {
        let _ = self.tx.send(Msg::Shutdown);
    }
}

impl Drop for StdioBinding {
    /// The supervisor holds a sender of its own mailbox, so it would never notice the
    /// binding is gone: tell it (idempotent after `shutdown`).
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
    }
}
