//! The crate's only unsafe code: three libc calls that std does not wrap, each needed so no
//! stdio child outlives the client.
//!
//! - `PR_SET_PDEATHSIG` (Linux) in a `pre_exec` hook: the kernel kills the child when the
//!   thread that spawned it dies — also when the client is SIGKILLed, which no cleanup code
//!   can handle. Children are spawned by their channel's supervisor thread, which lives as
//!   long as the runtime, so "the spawning thread died" means "the client died".
//! - `kill(-pgid, …)`: the child runs in its own process group (std's safe
//!   `process_group(0)`), so one signal also reaches what it started (`npx` → `node`).
//! - `waitid(…, WNOWAIT)`: notices that the child exited *without reaping it*. While the
//!   group leader is unreaped its pid cannot be reused, so signalling the group afterwards
//!   can never hit an unrelated process.
//!
//! Other Unixes (macOS) have no death signal: a killed client's child sees EOF on stdin
//! (MCP servers exit on it) and the process group is signalled on every orderly stop. On
//! Windows none of this exists; the child is terminated with `Child::kill` after the grace.

#[cfg(unix)]
use std::io;
#[cfg(unix)]
use std::process::Command;

/// A signal for [`signal_group`].
#[cfg(unix)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Term,
    Kill,
}

/// Arranges for the child to be SIGKILLed when the spawning thread (and so the client) dies.
#[cfg(target_os = "linux")]
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe
    // functions may be called. It makes two system calls (prctl, getppid) and builds
    // `io::Error`s from OS codes, which neither allocates nor takes locks.
    unsafe {
        cmd.pre_exec(move || {
            let sig = libc::SIGKILL as libc::c_ulong;
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                sig,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            ) == -1
            {
                return Err(io::Error::last_os_error());
            }
            // The client may have died between fork and prctl; the child was then already
            // re-parented and the signal will never come: do not start an orphan.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// No death signal outside Linux (see the module docs).
#[cfg(all(unix, not(target_os = "linux")))]
pub(crate) fn die_with_parent(_cmd: &mut Command) {}

/// Signals the process group led by `pgid` (a child started with `process_group(0)`).
/// Callers must not have reaped the leader yet (see the module docs).
#[cfg(unix)]
pub(crate) fn signal_group(pgid: u32, signal: Signal) -> io::Result<()> {
    let pgid =
        libc::pid_t::try_from(pgid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // kill(0) and kill(-1) would signal our own group or every process we may signal.
    if pgid <= 1 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let sig = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
    let rc = unsafe { libc::kill(-pgid, sig) };
    if rc == -1 {
        let e = io::Error::last_os_error();
        // The whole group is already gone: nothing to do.
        if e.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Whether the child `pid` has exited, leaving it unreaped (a zombie) for `Child::wait`.
#[cfg(unix)]
pub(crate) fn exited_unreaped(pid: u32) -> bool {
    let pid: libc::id_t = pid;
    // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct; waitid writes
    // into it and reads nothing from it, and `info` outlives the call.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        // With WNOHANG, si_pid stays 0 while the child is still running.
        rc == 0 && info.si_pid() != 0
    }
}
