//! Shared helpers for the onboarding tests: run the built binary as a new user would, in a
//! clean environment (only PATH, a private HOME and profile directory, plus what the test
//! sets), and collect its output.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_tunnel-client");
pub const TID: &str = "tunnel_0123456789abcdef0123456789abcdef";

static N: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tc-onboard-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    /// The `CHECK <id> <STATUS> <summary>` line of a doctor text report.
    pub fn check(&self, id: &str) -> Option<(String, String)> {
        self.stdout.lines().find_map(|l| {
            let rest = l.strip_prefix("CHECK ")?;
            let mut it = rest.split_whitespace();
            (it.next()? == id).then(|| {
                let status = it.next().unwrap_or("").to_string();
                let summary = it.collect::<Vec<_>>().join(" ");
                (status, summary)
            })
        })
    }
}

/// A user's shell: a private HOME and profile directory, the real PATH.
pub struct Shell {
    pub home: PathBuf,
    pub profiles: PathBuf,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

impl Shell {
    pub fn new(tag: &str) -> Shell {
        let home = temp_dir(tag);
        let profiles = home.join("profiles");
        let mut env = BTreeMap::new();
        env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
        env.insert("HOME".into(), home.display().to_string());
        env.insert(
            "TUNNEL_CLIENT_PROFILE_DIR".into(),
            profiles.display().to_string(),
        );
        Shell {
            cwd: home.clone(),
            home,
            profiles,
            env,
        }
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.insert(k.into(), v.into());
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.env.remove(k);
        self
    }

    pub fn run(&self, args: &[&str]) -> Out {
        let o = Command::new(BIN)
            .args(args)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.cwd)
            .output()
            .expect("run tunnel-client");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn profile(&self, name: &str) -> PathBuf {
        self.profiles.join(format!("{name}.yaml"))
    }
}

/// Writes an executable script.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p
}

#[cfg(unix)]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}
