//! One running stdio child: the process and its three pipe threads.
//!
//! - **stdin**: a writer thread takes lines from a channel, so a child that stops reading
//!   blocks only that thread, never the supervisor (which must keep reading stdout, or both
//!   sides would wait on full pipes). Dropping the channel closes stdin.
//! - **stdout**: a reader thread forwards raw chunks; framing and parsing happen in the
//!   core's multiplexer.
//! - **stderr**: forwarded to the log line by line with a `[stdio:<channel>]` prefix, lines
//!   cut at 4 KiB (the core's `StderrLines`: a child must not be able to exhaust memory
//!   through its log).
//!
//! The threads report to the driver as the engine's own `Input::Stdio`; every report
//! carries the child's generation, so output of a dead child can never be mistaken for its
//! successor's.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use tunnel_core::channel::ChannelName;
use tunnel_core::engine::Input;
use tunnel_core::stdio::{ChildReport, StderrLines, WriteTicket};

use crate::driver::ToDriver;
use crate::pool::Threads;

/// Sends the engine a report about this child.
#[derive(Clone)]
struct Reporter {
    channel: ChannelName,
    driver: Sender<ToDriver>,
}

impl Reporter {
    /// False once the driver is gone.
    fn send(&self, report: ChildReport) -> bool {
        let channel = self.channel.clone();
        let input = Input::Stdio { channel, report };
        self.driver.send(ToDriver::Engine(input)).is_ok()
    }
}

/// Read size for stdout and stderr.
const CHUNK: usize = 64 * 1024;

/// A line for the child's stdin.
pub(crate) type Line = (WriteTicket, Vec<u8>);

/// A running child.
pub(crate) struct ChildProc {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) generation: u64,
    stdin: Option<Sender<Line>>,
}

/// Starts `program` with `args` and its pipe threads.
pub(crate) fn spawn(
    program: &Path,
    args: &[String],
    channel: &ChannelName,
    generation: u64,
    driver: &Sender<ToDriver>,
    threads: &Threads,
) -> io::Result<ChildProc> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own group: a terminal's Ctrl-C reaches only the client, which then shuts the
        // child down in order; and one signal reaches everything the child started.
        cmd.process_group(0);
        super::sys::die_with_parent(&mut cmd);
    }
    let mut child = cmd.spawn()?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    match start_threads(stdin, stdout, stderr, channel, generation, driver, threads) {
        Ok(tx) => Ok(ChildProc {
            pid: child.id(),
            child,
            generation,
            stdin: Some(tx),
        }),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

fn start_threads(
    stdin: Option<std::process::ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    channel: &ChannelName,
    generation: u64,
    driver: &Sender<ToDriver>,
    threads: &Threads,
) -> io::Result<Sender<Line>> {
    let missing = || io::Error::other("child pipe missing");
    let (stdin, stdout, stderr) = (
        stdin.ok_or_else(missing)?,
        stdout.ok_or_else(missing)?,
        stderr.ok_or_else(missing)?,
    );
    let (tx, rx) = std::sync::mpsc::channel::<Line>();
    let to = Reporter {
        channel: channel.clone(),
        driver: driver.clone(),
    };
    let sup = to.clone();
    threads.spawn(&format!("stdio-{channel}-in"), move || {
        writer(stdin, rx, generation, sup)
    })?;
    threads.spawn(&format!("stdio-{channel}-out"), move || {
        reader(stdout, generation, to)
    })?;
    let ch = channel.clone();
    threads.spawn(&format!("stdio-{channel}-err"), move || {
        log_stderr(stderr, &ch)
    })?;
    Ok(tx)
}

fn writer(mut stdin: std::process::ChildStdin, rx: Receiver<Line>, generation: u64, sup: Reporter) {
    while let Ok((ticket, line)) = rx.recv() {
        match stdin.write_all(&line).and_then(|()| stdin.flush()) {
            Ok(()) => {
                if !sup.send(ChildReport::Written { generation, ticket }) {
                    return;
                }
            }
            Err(error) => {
                sup.send(ChildReport::WriteFailed { generation, error });
                return;
            }
        }
    }
    // The channel closed: dropping `stdin` closes the child's stdin (orderly shutdown).
}

fn reader(mut stdout: ChildStdout, generation: u64, sup: Reporter) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match stdout.read(&mut buf) {
            Ok(0) => {
                sup.send(ChildReport::StdoutEnd { generation });
                return;
            }
            Ok(n) => {
                let bytes = buf.get(..n).unwrap_or_default().to_vec();
                if !sup.send(ChildReport::Stdout { generation, bytes }) {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::debug!("[stdio:{}] reading stdout failed: {e}", sup.channel);
                sup.send(ChildReport::StdoutEnd { generation });
                return;
            }
        }
    }
}

fn log_stderr(mut stderr: ChildStderr, channel: &ChannelName) {
    let mut buf = vec![0u8; CHUNK];
    let mut lines = StderrLines::new();
    let log = |line: String| log::info!("[stdio:{channel}] {line}");
    loop {
        match stderr.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => lines.push(buf.get(..n).unwrap_or_default(), log),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    lines.finish(log);
}

impl ChildProc {
    /// Queues a line for stdin; false once the writer is gone (the child is going down).
    pub(crate) fn write(&self, ticket: WriteTicket, line: Vec<u8>) -> bool {
        self.stdin
            .as_ref()
            .is_some_and(|tx| tx.send((ticket, line)).is_ok())
    }

    /// Closes stdin (the writer thread ends and drops it); queued lines are dropped.
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Whether the process has exited (without reaping it on Unix; see `sys`).
    pub(crate) fn has_exited(&mut self) -> bool {
        #[cfg(unix)]
        {
            super::sys::exited_unreaped(self.pid)
        }
        #[cfg(not(unix))]
        {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }
    }

    fn wait_exit(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        loop {
            if self.has_exited() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(Duration::from_millis(10)));
        }
    }

    /// Stops the child: closes stdin, gives it `grace` to exit, then (if `polite`) SIGTERM
    /// and one more second, then SIGKILL to the whole process group — also when the leader
    /// exited by itself, so nothing it started survives — and reaps it.
    pub(crate) fn stop(mut self, grace: Duration, polite: bool) -> Option<ExitStatus> {
        self.stdin = None;
        if !self.wait_exit(grace) && polite {
            self.signal_term();
            self.wait_exit(Duration::from_secs(1));
        }
        self.signal_kill();
        self.child.wait().ok()
    }

    #[cfg(unix)]
    fn signal_term(&mut self) {
        if let Err(e) = super::sys::signal_group(self.pid, super::sys::Signal::Term) {
            log::debug!("SIGTERM to process group {}: {e}", self.pid);
        }
    }

    #[cfg(not(unix))]
    fn signal_term(&mut self) {}

    #[cfg(unix)]
    fn signal_kill(&mut self) {
        if let Err(e) = super::sys::signal_group(self.pid, super::sys::Signal::Kill) {
            log::debug!("SIGKILL to process group {}: {e}", self.pid);
            let _ = self.child.kill();
        }
    }

    #[cfg(not(unix))]
    fn signal_kill(&mut self) {
        let _ = self.child.kill();
    }
}
