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
