//! Launching, finding and stopping a runtime (go-cli-config.md §8.5).
//!
//! The runtime is always this executable re-run as `<self> run --profile-dir <dir>
//! --profile <name>`: a fixed argv, never a shell line, so nothing from a profile is ever
//! interpreted by a shell. Two supervisors:
//! - **tmux** (when `tmux -V` works): a detached session per alias and state root. When the
//!   runtime key comes from an `env:` variable, the session is created empty, the variable
//!   is set with `tmux source-file -` (on stdin, so the key is in no command line), and the
//!   pane is respawned with the runtime.
//! - **process**: a child in its own session (`setsid`), stdin from /dev/null, stdout and
//!   stderr appended to `logs/<alias>.log`; an exit within 50 ms is reported with its code
//!   and the log tail.
//!
//! `TUNNEL_CLIENT_RUNTIMES_SUPERVISOR=tmux|process` picks one explicitly (default `auto`:
//! tmux when present); the Go client has no such switch, it exists so a machine with tmux
//! can still run detached processes (and test both).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::probe::{probe, HealthProbe};
use super::state::{Root, MODE_PROCESS, MODE_TMUX};
use super::RtError;
use crate::config::Env;

const SETTLE: Duration = Duration::from_millis(50);
const HEALTH_WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(50);
/// A runtime drains on SIGTERM (in-flight commands finish, the stdio child gets its own
/// grace period), which takes longer than the Go client's 1 s; past this a second SIGTERM
/// makes it stop at once.
const DRAIN_WAIT: Duration = Duration::from_secs(10);
const HARD_STOP_WAIT: Duration = Duration::from_secs(3);

/// What launching (or finding) a runtime gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Launch {
    pub mode: String,
    pub command: String,
    pub launched: bool,
    pub started: bool,
    pub running: bool,
    pub healthy: bool,
    pub ready: bool,
    pub already_running: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session_name: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub pid: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub log_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub log_tail: String,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// Which supervisor to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supervisor {
    Tmux,
    Process,
}

/// `TUNNEL_CLIENT_RUNTIMES_SUPERVISOR`, else tmux when `tmux -V` works.
pub fn choose(env: &dyn Env) -> Result<Supervisor, RtError> {
    match env
        .var("TUNNEL_CLIENT_RUNTIMES_SUPERVISOR")
        .unwrap_or_default()
        .trim()
    {
        "" | "auto" => Ok(if tmux_available() {
            Supervisor::Tmux
        } else {
            Supervisor::Process
        }),
        "tmux" if tmux_available() => Ok(Supervisor::Tmux),
        "tmux" => Err(RtError::Usage(
            "TUNNEL_CLIENT_RUNTIMES_SUPERVISOR=tmux but `tmux -V` does not run; install tmux or unset the variable".into(),
        )),
        "process" => Ok(Supervisor::Process),
        other => Err(RtError::Usage(format!(
            "TUNNEL_CLIENT_RUNTIMES_SUPERVISOR={other:?}: use tmux, process or auto"
        ))),
    }
}

/// Output of one `tmux` command.
struct Tmux {
    ok: bool,
    out: String,
}

fn tmux(args: &[&str], stdin: Option<&str>) -> Result<Tmux, RtError> {
    let mut c = Command::new("tmux");
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c
        .spawn()
        .map_err(|e| RtError::Io(format!("run tmux {}: {e}", args[0])))?;
    if let (Some(text), Some(mut i)) = (stdin, child.stdin.take()) {
        let _ = i.write_all(text.as_bytes());
    }
    let o = child
        .wait_with_output()
        .map_err(|e| RtError::Io(format!("run tmux {}: {e}", args[0])))?;
    let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    Ok(Tmux {
        ok: o.status.success(),
        out: if out.is_empty() { err } else { out },
    })
}

pub fn tmux_available() -> bool {
    tmux(&["-V"], None).is_ok_and(|t| t.ok)
}

/// `tmux has-session -t =<name>` (exact match).
pub fn tmux_has_session(name: &str) -> bool {
    tmux(&["has-session", "-t", &format!("={name}")], None).is_ok_and(|t| t.ok)
}

/// `tmux kill-session -t =<name>`; `Err` holds tmux's complaint.
pub fn tmux_kill(name: &str) -> Result<(), String> {
    match tmux(&["kill-session", "-t", &format!("={name}")], None) {
        Ok(t) if t.ok => Ok(()),
        Ok(t) => Err(t.out),
        Err(e) => Err(e.to_string()),
    }
}

/// Stops a tmux-supervised runtime: the pane's process gets the same graceful stop as a
/// detached one (tmux's own kill-session would hang it up without a drain), then the
/// session, if still there, is killed.
pub fn stop_tmux(session: &str) -> Result<(), String> {
    let pid = tmux_pane_pid(session);
    let graceful = if pid > 0 { stop_pid(pid) } else { Ok(()) };
    if tmux_has_session(session) {
        tmux_kill(session)?;
    }
    graceful
}

/// The pid of the process in the session's first pane (0 when unknown).
pub fn tmux_pane_pid(name: &str) -> u32 {
    tmux(
        &["list-panes", "-t", &format!("={name}"), "-F", "#{pane_pid}"],
        None,
    )
    .ok()
    .filter(|t| t.ok)
    .and_then(|t| t.out.lines().next().and_then(|l| l.trim().parse().ok()))
    .unwrap_or(0)
}

/// `tunnel-mcp__<alias>__<first 4 bytes of sha256(state root) in hex>`.
pub fn session_name(alias: &str, root: &Root) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        root.path.display().to_string().as_bytes(),
    );
    let h: String = d.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("tunnel-mcp__{alias}__{h}")
}

/// Whether `pid` is a live process (EPERM counts as alive, a zombie does not).
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 || !crate::cli::health::pid_running(pid as i64) {
        return false;
    }
    // An exited child not yet reaped by its new parent still answers kill(pid, 0).
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(true),
        Err(_) => true,
    }
}

/// SIGTERM (a process already gone is fine).
#[cfg(unix)]
pub fn terminate(pid: u32) -> Result<(), String> {
    if pid == 0 {
        return Ok(());
    }
    // SAFETY: kill sends a signal; no memory is passed.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(format!("terminate process {pid}: {e}"));
        }
    }
    Ok(())
}

/// Stops a runtime: SIGTERM (graceful drain), and if it is still there after
/// [`DRAIN_WAIT`] a second SIGTERM (stop at once). `Err` says why it is still running.
pub fn stop_pid(pid: u32) -> Result<(), String> {
    if !pid_alive(pid) {
        return Ok(());
    }
    terminate(pid)?;
    if wait_exit(pid, DRAIN_WAIT) {
        return Ok(());
    }
    terminate(pid)?;
    if wait_exit(pid, HARD_STOP_WAIT) {
        return Ok(());
    }
    Err(format!(
        "process {pid} did not exit after SIGTERM (twice, {}s); kill it with `kill -9 {pid}`",
        (DRAIN_WAIT + HARD_STOP_WAIT).as_secs()
    ))
}

#[cfg(not(unix))]
pub fn terminate(pid: u32) -> Result<(), String> {
    Err(format!("stopping process {pid} needs a Unix system"))
}

/// Waits up to `limit` for `pid` to go.
pub fn wait_exit(pid: u32, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(POLL);
    }
    !pid_alive(pid)
}

/// The health URL the runtime wrote (trimmed; empty when missing).
pub fn read_health_url(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The last `n` lines of a file.
pub fn log_tail(path: &Path, n: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Opens (creating, 0600) the runtime log for appending; refuses a symlink or anything
/// that is not a regular file, so a planted link cannot redirect the runtime's output.
pub fn open_private_log(path: &Path) -> Result<std::fs::File, RtError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| RtError::Io(format!("create log directory {}: {e}", d.display())))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(RtError::Io(format!(
                "log file {} must not be a symlink",
                path.display()
            )))
        }
        Ok(m) if !m.is_file() => {
            return Err(RtError::Io(format!(
                "log file {} must be a regular file",
                path.display()
            )))
        }
        _ => {}
    }
    let mut o = std::fs::OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let f = o
        .open(path)
        .map_err(|e| RtError::Io(format!("open log file {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = f.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    Ok(f)
}

/// What to run: `<self> run --profile-dir <dir> --profile <name>`.
pub struct Invocation {
    pub exe: PathBuf,
    pub profile_dir: String,
    pub profile_name: String,
}

impl Invocation {
    pub fn current(profile_dir: &str, profile_name: &str) -> Result<Invocation, RtError> {
        let exe = std::env::current_exe()
            .map_err(|e| RtError::Io(format!("resolve current tunnel-client executable: {e}")))?;
        Ok(Invocation {
            exe,
            profile_dir: profile_dir.into(),
            profile_name: profile_name.into(),
        })
    }
    pub fn argv(&self) -> Vec<String> {
        vec![
            self.exe.display().to_string(),
            "run".into(),
            "--profile-dir".into(),
            self.profile_dir.clone(),
            "--profile".into(),
            self.profile_name.clone(),
        ]
    }
    /// The argv shell-quoted, for display (`command` in payloads).
    pub fn display(&self) -> String {
        self.argv()
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What `start_or_reuse` needs to know about the alias.
pub struct Request<'a> {
    pub alias: &'a str,
    pub root: &'a Root,
    pub invocation: Invocation,
    /// Variables the runtime needs that may not be in its inherited environment (the
    /// runtime key named by an `env:` reference).
    pub env_overrides: BTreeMap<String, String>,
    pub existing_pid: u32,
    /// The alias now points at another tunnel: replace a running runtime.
    pub replace: bool,
}

/// Health after launch: polled every 50 ms for up to 2 s, until ready.
pub struct Observation {
    pub running: bool,
    pub probe: Option<HealthProbe>,
}

impl Observation {
    fn healthy(&self) -> bool {
        self.probe.as_ref().is_some_and(|p| p.healthz.ok)
    }
    fn ready(&self) -> bool {
        self.probe.as_ref().is_some_and(|p| p.readyz.ok)
    }
    fn url(&self) -> String {
        self.probe
            .as_ref()
            .map(|p| p.healthz.url.clone())
            .unwrap_or_default()
    }
}

pub fn running(mode: Supervisor, pid: u32, session: &str) -> bool {
    match mode {
        Supervisor::Tmux => tmux_has_session(session),
        Supervisor::Process => pid_alive(pid),
    }
}

pub fn wait_health(url_file: &Path, mode: Supervisor, pid: u32, session: &str) -> Observation {
    let end = Instant::now() + HEALTH_WAIT;
    loop {
        let running = running(mode, pid, session);
        let o = Observation {
            running,
            probe: probe(&read_health_url(url_file)),
        };
        // Go stops at healthy; waiting on (within the same 2 s) until ready lets one
        // `connect` answer "ready" once the MCP startup probe passes.
        if o.ready() || !running || Instant::now() >= end {
            return o;
        }
        std::thread::sleep(POLL);
    }
}

fn launch_result(mode: Supervisor, rq: &Request, o: &Observation, launched: bool) -> Launch {
    let log = rq.root.log_path(rq.alias);
    Launch {
        mode: match mode {
            Supervisor::Tmux => MODE_TMUX,
            Supervisor::Process => MODE_PROCESS,
        }
        .into(),
        command: rq.invocation.display(),
        launched,
        started: o.healthy(),
        running: o.running,
        healthy: o.healthy(),
        ready: o.ready(),
        already_running: !launched,
        health_url: o.url(),
        session_name: if mode == Supervisor::Tmux {
            session_name(rq.alias, rq.root)
        } else {
            String::new()
        },
        pid: 0,
        log_path: log.display().to_string(),
        exit_code: None,
        log_tail: log_tail(&log, 20),
    }
}

/// Starts the runtime of an alias, or reuses the one already running for the same tunnel.
pub fn start_or_reuse(mode: Supervisor, rq: Request) -> Result<Launch, RtError> {
    let url_file = rq.root.health_url_file(rq.alias);
    match mode {
        Supervisor::Tmux => {
            let session = session_name(rq.alias, rq.root);
            if tmux_has_session(&session) {
                if !rq.replace {
                    let o = wait_health(&url_file, mode, 0, &session);
                    return Ok(launch_result(mode, &rq, &o, false));
                }
                stop_tmux(&session)
                    .map_err(|e| RtError::Io(format!("stop the old runtime: {e}")))?;
            }
            let _ = std::fs::remove_file(&url_file);
            start_tmux(&session, &rq)?;
            let o = wait_health(&url_file, mode, 0, &session);
            Ok(launch_result(mode, &rq, &o, true))
        }
        Supervisor::Process => {
            if rq.existing_pid > 0 && pid_alive(rq.existing_pid) {
                if !rq.replace {
                    let o = wait_health(&url_file, mode, rq.existing_pid, "");
                    let mut l = launch_result(mode, &rq, &o, false);
                    l.pid = rq.existing_pid;
                    return Ok(l);
                }
                stop_pid(rq.existing_pid).map_err(RtError::Io)?;
            }
            let _ = std::fs::remove_file(&url_file);
            let log = rq.root.log_path(rq.alias);
            let mut child = spawn_detached(&rq, &log)?;
            let pid = child.id();
            let end = Instant::now() + SETTLE;
            let mut exited = None;
            loop {
                if let Ok(Some(st)) = child.try_wait() {
                    exited = Some(st.code().unwrap_or(1));
                    break;
                }
                if Instant::now() >= end {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            if let Some(code) = exited {
                let mut l = launch_result(
                    mode,
                    &rq,
                    &Observation {
                        running: false,
                        probe: None,
                    },
                    true,
                );
                l.pid = pid;
                l.exit_code = Some(code);
                return Ok(l);
            }
            let o = wait_health(&url_file, mode, pid, "");
            let mut l = launch_result(mode, &rq, &o, true);
            l.pid = pid;
            // A runtime that died during the wait is reaped (no zombie) and its code kept.
            if let Ok(Some(st)) = child.try_wait() {
                l.exit_code = Some(st.code().unwrap_or(1));
                l.running = false;
            }
            Ok(l)
        }
    }
}

fn spawn_detached(rq: &Request, log: &Path) -> Result<std::process::Child, RtError> {
    let out = open_private_log(log)?;
    let err = out
        .try_clone()
        .map_err(|e| RtError::Io(format!("open log file {}: {e}", log.display())))?;
    let argv = rq.invocation.argv();
    let mut c = Command::new(&rq.invocation.exe);
    c.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .envs(&rq.env_overrides);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            c.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    c.spawn()
        .map_err(|e| RtError::Io(format!("start {}: {e}", rq.invocation.exe.display())))
}

fn start_tmux(session: &str, rq: &Request) -> Result<(), RtError> {
    open_private_log(&rq.root.log_path(rq.alias))?;
    let argv = rq.invocation.argv();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let failed = |what: &str, t: Tmux| RtError::Io(format!("tmux {what} failed: {}", t.out));
    if rq.env_overrides.is_empty() {
        let mut args = vec!["new-session", "-d", "-s", session];
        args.extend(&argv);
        let t = tmux(&args, None)?;
        return if t.ok {
            Ok(())
        } else {
            Err(failed("launch", t))
        };
    }
    let t = tmux(&["new-session", "-d", "-s", session], None)?;
    if !t.ok {
        return Err(failed("launch", t));
    }
    let cleanup = |e: RtError| {
        let _ = tmux_kill(session);
        e
    };
    let t = tmux(
        &[
            "list-panes",
            "-t",
            &format!("={session}"),
            "-F",
            "#{pane_id}",
        ],
        None,
    )
    .map_err(cleanup)?;
    let pane = t
        .out
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string();
    if !t.ok || !pane.starts_with('%') || !pane[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(cleanup(RtError::Io(format!(
            "tmux list-panes returned no usable pane id for session {session}: {}",
            t.out
        ))));
    }
    let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut script = String::new();
    for (k, v) in &rq.env_overrides {
        script.push_str(&format!(
            "set-environment -t ={session} {} {}\n",
            q(k),
            q(v)
        ));
    }
    let t = tmux(&["source-file", "-"], Some(&script)).map_err(cleanup)?;
    if !t.ok {
        return Err(cleanup(failed("source-file", t)));
    }
    let mut args = vec!["respawn-pane", "-k", "-t", pane.as_str()];
    args.extend(&argv);
    let t = tmux(&args, None).map_err(cleanup)?;
    if !t.ok {
        return Err(cleanup(failed("respawn-pane", t)));
    }
    Ok(())
}
