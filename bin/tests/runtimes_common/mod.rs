//! Shared rig for the `runtimes` tests: a user shell with an isolated state root, profile
//! directory and tmux socket dir, the emulator as control plane, and checks that nothing
//! started by a test outlives it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../onboarding_common/mod.rs"]
mod onboarding;

#[allow(unused_imports)] // each test file uses a different part
pub use onboarding::{mode, Out, Shell, BIN};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::peers::Peers;

/// How the runtime is supervised in a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Tmux,
    Process,
}

impl Lane {
    pub fn word(self) -> &'static str {
        match self {
            Lane::Tmux => "tmux",
            Lane::Process => "process",
        }
    }
}

pub struct Rig {
    pub sh: Shell,
    pub emu: Emulator,
    pub state: PathBuf,
}

impl Rig {
    pub fn new(tag: &str, lane: Lane) -> Rig {
        if lane == Lane::Tmux {
            let ok = std::process::Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                ok,
                "the tmux lane needs tmux on PATH (apt-get install -y tmux)"
            );
        }
        let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
        let mut sh = Shell::new(tag);
        let state = sh.home.join("state");
        sh.set("TUNNEL_CLIENT_STATE_DIR", &state.display().to_string());
        // A private tmux server per test: its socket lives under the test's HOME.
        sh.set("TMUX_TMPDIR", &sh.home.display().to_string());
        sh.set("TUNNEL_CLIENT_RUNTIMES_SUPERVISOR", lane.word());
        sh.set("CONTROL_PLANE_BASE_URL", &emu.base_url());
        sh.set("CONTROL_PLANE_API_KEY", emu.api_key());
        Rig { sh, emu, state }
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.sh.run(args)
    }

    /// A stdio MCP server command line (the Python SDK peer).
    pub fn mcp_command(&self) -> String {
        let p = Peers::require();
        p.python_stdio_argv().join(" ")
    }

    /// Processes (not zombies) whose environment names this test's state root: the
    /// runtime, its MCP child, a tmux server.
    pub fn live_processes(&self) -> Vec<(u32, String)> {
        let needle = format!("TUNNEL_CLIENT_STATE_DIR={}", self.state.display());
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(env) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            if zombie || pid == std::process::id() {
                continue;
            }
            if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                out.push((
                    pid,
                    String::from_utf8_lossy(&cmd)
                        .replace('\0', " ")
                        .trim()
                        .to_string(),
                ));
            }
        }
        out
    }

    /// Waits (up to 10 s) until nothing of this test runs any more.
    pub fn assert_nothing_running(&self) {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let live = self.live_processes();
            if live.is_empty() {
                return;
            }
            assert!(Instant::now() < end, "still running after stop: {live:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Last resort for a failing test: stop what it started so no process outlives it.
    pub fn kill_all(&self) {
        for (pid, _) in self.live_processes() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.state.join(rel)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Passing tests have stopped everything already; this only matters when an
        // assertion failed half-way.
        let _ = self.sh.run(&["runtimes", "stop", "demo"]);
        self.kill_all();
        // Kept after a failure, for the post-mortem.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.sh.home);
        }
    }
}

/// Every file under `dir` whose content mentions `needle`.
pub fn files_mentioning(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read_to_string(&p).is_ok_and(|t| t.contains(needle)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `GET <url>` → (status, body).
pub fn http_get(url: &str) -> (u16, String) {
    let rest = url.trim_start_matches("http://");
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(hostport).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
