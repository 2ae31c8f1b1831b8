//! One running stdio child and its three pipes, polled by the driver (no task, no thread
//! of ours).
//!
//! - **stdin**: lines wait in a queue and are written as the pipe accepts them, so a child
//!   that stops reading stalls only its own queue, never the driver (which must keep
//!   reading stdout, or both sides would wait on full pipes).
//! - **stdout**: raw chunks go to the core's multiplexer, which frames and parses them.
//! - **stderr**: cut into lines by the core's [`StderrLines`] (bounded) and logged with a
//!   `[stdio:<channel>]` prefix.
//!
//! Process control is safe Rust: std's `process_group(0)` puts the child in its own group,
//! and rustix signals that group and asks "has it exited?" without reaping it (`waitid`
//! with `WNOWAIT`): while the leader is unreaped its pid cannot be reused, so signalling the
//! group afterwards can never hit an unrelated process. async-process reaps it at the end
//! ([`ChildProc::stop`]) or, when the driver future is dropped, in the background.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Timer;
use async_process::{Child, ChildStderr, ChildStdin, ChildStdout};
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{future, FutureExt};
use tunnel_core::channel::ChannelName;
use tunnel_core::stdio::{StderrLines, WriteTicket};

/// Read size for stdout and stderr.
const CHUNK: usize = 64 * 1024;
/// Reads per pipe per poll before the other pipes get their turn.
const READS_PER_POLL: usize = 16;
/// How often a stopping child is checked for having exited.
const EXIT_POLL: Duration = Duration::from_millis(10);
/// After SIGTERM, how long the group has before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(1);

/// What the pipes produced during one poll.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Lines written completely, in order.
    pub written: Vec<WriteTicket>,
    /// Bytes read from stdout, in order.
    pub stdout: Vec<u8>,
    /// stdout reached EOF (or failed: the error is logged at debug level).
    pub stdout_closed: bool,
    /// Writing to stdin failed.
    pub write_failed: Option<io::Error>,
}

/// A running child.
pub(crate) struct ChildProc {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) generation: u64,
    prefix: String,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    /// Lines waiting for stdin; the first one may be partly written.
    queue: std::collections::VecDeque<(WriteTicket, Vec<u8>)>,
    written: usize,
    buf: Vec<u8>,
    stderr_lines: StderrLines,
    /// Once reaped, the pid (and group id) may belong to someone else: no more signals.
    reaped: bool,
}

/// Starts `program` with `args`: piped stdio, inherited environment and working directory,
/// no shell, its own process group, and whatever the host's `setup` adds (the death signal).
pub(crate) fn spawn(
    program: &Path,
    args: &[String],
    channel: &ChannelName,
    generation: u64,
    setup: Option<fn(&mut std::process::Command)>,
) -> io::Result<ChildProc> {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    if let Some(setup) = setup {
        setup(&mut cmd);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own group: a terminal's Ctrl-C reaches only the client, which then shuts the
        // child down in order; and one signal reaches everything the child started.
        cmd.process_group(0);
    }
    let mut cmd = async_process::Command::from(cmd);
    // Reaped by `stop`; if the driver is dropped first, `Drop` kills the group and
    // async-process reaps the leader in the background.
    cmd.reap_on_drop(true)
        .kill_on_drop(false)
        // Set here, not on the std command: async-process resets the pipes of a converted
        // command to "inherit" unless told again.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let missing = || io::Error::other("child pipe missing");
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    if stdin.is_none() || stdout.is_none() || stderr.is_none() {
        let _ = child.kill();
        return Err(missing());
    }
    Ok(ChildProc {
        pid: child.id(),
        child,
        generation,
        prefix: format!("[stdio:{channel}]"),
        stdin,
        stdout,
        stderr,
        queue: Default::default(),
        written: 0,
        buf: vec![0; CHUNK],
        stderr_lines: StderrLines::new(),
        reaped: false,
    })
}

impl ChildProc {
    /// Queues a line for stdin (written by [`ChildProc::poll_io`]).
    pub(crate) fn write(&mut self, ticket: WriteTicket, line: Vec<u8>) {
        self.queue.push_back((ticket, line));
    }

    /// Closes stdin (the child is going away); queued lines are dropped.
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
        self.queue.clear();
    }

    /// Moves bytes as far as the pipes allow without waiting; registers the waker for each
    /// pipe that is not ready. Returns what happened.
    pub(crate) fn poll_io(&mut self, cx: &mut Context<'_>) -> Progress {
        let mut p = Progress::default();
        self.poll_stdin(cx, &mut p);
        self.poll_stdout(cx, &mut p);
        self.poll_stderr(cx);
        p
    }

    fn poll_stdin(&mut self, cx: &mut Context<'_>, p: &mut Progress) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        while let Some((ticket, line)) = self.queue.front() {
            let rest = line.get(self.written..).unwrap_or_default();
            match Pin::new(&mut *stdin).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => {
                    p.write_failed = Some(io::ErrorKind::WriteZero.into());
                    return;
                }
                Poll::Ready(Ok(n)) => {
                    self.written += n;
                    if self.written >= line.len() {
                        p.written.push(*ticket);
                        self.queue.pop_front();
                        self.written = 0;
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    p.write_failed = Some(e);
                    return;
                }
                Poll::Pending => return,
            }
        }
    }

    fn poll_stdout(&mut self, cx: &mut Context<'_>, p: &mut Progress) {
        let Some(stdout) = self.stdout.as_mut() else {
            return;
        };
        for _ in 0..READS_PER_POLL {
            match Pin::new(&mut *stdout).poll_read(cx, &mut self.buf) {
                Poll::Ready(Ok(0)) => {
                    p.stdout_closed = true;
                    self.stdout = None;
                    return;
                }
                Poll::Ready(Ok(n)) => p
                    .stdout
                    .extend_from_slice(self.buf.get(..n).unwrap_or_default()),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    log::debug!("{} reading stdout failed: {e}", self.prefix);
                    p.stdout_closed = true;
                    self.stdout = None;
                    return;
                }
                Poll::Pending => return,
            }
        }
        // More may be waiting: come back after the other pipes had their turn.
        cx.waker().wake_by_ref();
    }

    /// Logs what stderr has; stops reading it at EOF or on an error.
    fn poll_stderr(&mut self, cx: &mut Context<'_>) {
        let Some(stderr) = self.stderr.as_mut() else {
            return;
        };
        let prefix = &self.prefix;
        let log = |line: String| log::info!("{prefix} {line}");
        for _ in 0..READS_PER_POLL {
            match Pin::new(&mut *stderr).poll_read(cx, &mut self.buf) {
                Poll::Ready(Ok(n)) if n > 0 => self
                    .stderr_lines
                    .push(self.buf.get(..n).unwrap_or_default(), log),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(_) => {
                    self.stderr_lines.finish(log);
                    self.stderr = None;
                    return;
                }
                Poll::Pending => return,
            }
        }
        cx.waker().wake_by_ref();
    }

    /// Whether the process has exited (without reaping it on Unix; see the module docs).
    pub(crate) fn has_exited(&mut self) -> bool {
        #[cfg(unix)]
        {
            use rustix::process::{waitid, Pid, WaitId, WaitIdOptions};
            let Some(pid) = i32::try_from(self.pid).ok().and_then(Pid::from_raw) else {
                return false;
            };
            let opts = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
            matches!(waitid(WaitId::Pid(pid), opts), Ok(Some(_)))
        }
        #[cfg(not(unix))]
        {
            matches!(self.child.try_status(), Ok(Some(_)))
        }
    }

    /// Polls [`ChildProc::has_exited`] until it is true or `within` has passed, reading
    /// (and dropping) stdout and logging stderr meanwhile, so a child blocked on a full
    /// pipe can still exit.
    async fn wait_exit(&mut self, within: Duration) -> bool {
        let exited = async {
            while !self.has_exited() {
                let drain = future::poll_fn(|cx| {
                    let _ = self.poll_io(cx);
                    Poll::<()>::Pending
                });
                drain
                    .or(async {
                        Timer::after(EXIT_POLL).await;
                    })
                    .await;
            }
            true
        };
        exited
            .or(async {
                Timer::after(within).await;
                false
            })
            .await
    }

    /// Stops the child: closes stdin, gives it `grace` to exit, then (if `polite`) SIGTERM
    /// and one more second, then SIGKILL to the whole process group — also when the leader
    /// exited by itself, so nothing it started survives — and reaps it.
    pub(crate) async fn stop(mut self, grace: Duration, polite: bool) -> Option<ExitStatus> {
        self.stdin = None;
        self.queue.clear();
        if !self.wait_exit(grace).await && polite {
            self.signal(Signal::Term);
            self.wait_exit(TERM_GRACE).await;
        }
        self.signal(Signal::Kill);
        self.stdout = None;
        self.stderr = None;
        let status = self.child.status().await;
        self.reaped = true;
        status.ok()
    }

    /// Signals the process group (Unix); elsewhere only a kill exists.
    fn signal(&mut self, signal: Signal) {
        if self.reaped {
            return;
        }
        #[cfg(unix)]
        {
            use rustix::process::{kill_process_group, Pid};
            let sig = match signal {
                Signal::Term => rustix::process::Signal::TERM,
                Signal::Kill => rustix::process::Signal::KILL,
            };
            // A pid of 0 or 1 would address our own group or init's: never signal those.
            let pid = i32::try_from(self.pid)
                .ok()
                .filter(|p| *p > 1)
                .and_then(Pid::from_raw);
            let result = match pid {
                Some(pid) => kill_process_group(pid, sig),
                None => Err(rustix::io::Errno::INVAL),
            };
            match result {
                // The whole group is already gone.
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(e) => {
                    log::debug!(
                        "{} signal {sig:?} to process group {}: {e}",
                        self.prefix,
                        self.pid
                    );
                    if signal == Signal::Kill {
                        let _ = self.child.kill();
                    }
                }
            }
        }
        #[cfg(not(unix))]
        if signal == Signal::Kill {
            let _ = self.child.kill();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Term,
    Kill,
}

impl Drop for ChildProc {
    /// The driver future was dropped with the child still running (after
    /// [`ChildProc::stop`] this does nothing): kill the group now; async-process reaps the
    /// leader in the background.
    fn drop(&mut self) {
        self.signal(Signal::Kill);
    }
}
