//! A sandbox for `tunnel-client codex …` tests: a temp HOME and CODEX_HOME, and a PATH whose
//! only `codex` is the test-built `fake-codex` (never the developer's real Codex).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_tunnel-client");
pub const FAKE: &str = env!("CARGO_BIN_EXE_fake-codex");

pub struct Sandbox {
    pub root: PathBuf,
    pub home: PathBuf,
    pub codex_home: PathBuf,
    pub bin_dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Sandbox {
    /// `with_codex`: put the fake on PATH as `codex`.
    pub fn new(tag: &str, with_codex: bool) -> Sandbox {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("tc-codex-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let home = root.join("home");
        let codex_home = home.join(".codex");
        let bin_dir = root.join("bin");
        std::fs::create_dir_all(&codex_home).unwrap();
        std::fs::create_dir_all(&bin_dir).unwrap();
        if with_codex {
            std::os::unix::fs::symlink(FAKE, bin_dir.join("codex")).unwrap();
        }
        // Only the sandbox bin dir and the system dirs: no user-installed codex/brew/npm.
        let path = format!("{}:/usr/bin:/bin", bin_dir.display());
        for dir in ["/usr/bin", "/bin"] {
            assert!(
                !Path::new(dir).join("codex").exists(),
                "a real codex in {dir} would leak into tests"
            );
        }
        let env = vec![
            ("PATH".into(), path),
            ("HOME".into(), home.display().to_string()),
            ("CODEX_HOME".into(), codex_home.display().to_string()),
            ("NO_COLOR".into(), "1".into()),
        ];
        Sandbox {
            root,
            home,
            codex_home,
            bin_dir,
            env,
        }
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.retain(|(a, _)| a != k);
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).env_clear().current_dir(&self.root);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tunnel-client")
    }

    pub fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut c = self.command(args);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn config(&self) -> PathBuf {
        self.codex_home.join("config.toml")
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.codex_home.join("plugins/cache/debug/tunnel-mcp/local")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit 0, or panic with both streams.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

pub fn fail(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stderr)
}

/// A child whose stdin, stdout and stderr are one pseudo-terminal (so it sees a TTY), with
/// everything it prints collected from the master side.
pub struct Pty {
    pub child: std::process::Child,
    master: std::fs::File,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Pty {
    pub fn spawn(mut cmd: Command) -> Pty {
        use std::os::fd::{FromRawFd, OwnedFd};
        let (mut m, mut s) = (0, 0);
        // SAFETY: openpty writes two fds into the provided ints; null name/termios/winsize
        // ask for defaults.
        let rc = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty failed");
        // SAFETY: both fds were just returned by openpty and are owned by nobody else.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        let child = cmd.spawn().expect("spawn on pty");
        drop(cmd); // close our copies of the slave side
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Pty {
            child,
            master,
            seen,
        }
    }

    pub fn seen(&self) -> String {
        self.seen.lock().unwrap().clone()
    }

    /// Wait until the output contains `needle` `count` times (10 s at most).
    pub fn expect_n(&self, needle: &str, count: usize) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.seen().matches(needle).count() < count {
            assert!(
                std::time::Instant::now() < until,
                "waited for {needle:?} x{count}; saw:\n{}",
                self.seen()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn expect(&self, needle: &str) {
        self.expect_n(needle, 1)
    }

    pub fn send(&mut self, line: &str) {
        use std::io::Write;
        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\n").unwrap();
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if std::time::Instant::now() > until {
                let _ = self.child.kill();
                panic!("child did not exit; saw:\n{}", self.seen());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
