//! Real MCP peers for end-to-end tests: finds what `.ci/install-peers` installed and
//! starts the servers on 127.0.0.1, killing them when dropped.
//!
//! Tests call [`Peers::require`], which fails the test, naming the fix, when the peers are
//! missing (a test must never pass because its peer is absent). Tools whose peer figures are
//! optional (the bench, examples) call [`Peers::find`].

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the installed peers are (from `target/peers/env.sh`).
#[derive(Debug, Clone)]
pub struct Peers {
    /// `node --require loopback.cjs …/server-everything/dist/index.js` (append a mode).
    pub everything: Vec<String>,
    pub python: PathBuf,
    pub py_stdio: PathBuf,
    pub py_http: PathBuf,
}

/// The workspace root (where `target/` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Parses the `export NAME='value'` lines of env.sh.
pub fn parse_env_sh(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

impl Peers {
    /// The installed peers, for a test: panics, naming the fix, when they are missing. A
    /// test that needs a real peer must never pass because the peer is absent; the README's
    /// test command (`.ci/test`) installs them first.
    pub fn require() -> Peers {
        match Self::locate() {
            Ok(p) => p,
            Err(why) => panic!("MCP peers missing: {why}; fix: run .ci/install-peers"),
        }
    }

    /// The installed peers, or `None` (after printing why) for tools whose peer figures are
    /// optional (the bench reports "n/a", examples say what to install). Panics under
    /// `CI=true`: CI installs them, so their absence is a broken pipeline.
    pub fn find() -> Option<Peers> {
        match Self::locate() {
            Ok(p) => Some(p),
            Err(why) => {
                if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                    panic!("MCP peers missing under CI: {why}");
                }
                eprintln!("SKIP: MCP peers not installed ({why}); run .ci/install-peers");
                None
            }
        }
    }

    fn locate() -> Result<Peers, String> {
        let path = workspace_root().join("target/peers/env.sh");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let env = parse_env_sh(&text);
        if env.get("PEERS_READY").map(String::as_str) != Some("1") {
            return Err(format!("{} has no PEERS_READY=1", path.display()));
        }
        let get = |k: &str| {
            env.get(k)
                .cloned()
                .ok_or_else(|| format!("{} lacks {k}", path.display()))
        };
        Ok(Peers {
            everything: get("PEER_EVERYTHING_BIN")?
                .split(' ')
                .map(str::to_string)
                .collect(),
            python: get("PEER_PY")?.into(),
            py_stdio: get("PEER_PY_STDIO")?.into(),
            py_http: get("PEER_PY_HTTP")?.into(),
        })
    }

    /// The command line of server-everything over stdio.
    pub fn everything_stdio_argv(&self) -> Vec<String> {
        let mut v = self.everything.clone();
        v.push("stdio".into());
        v
    }

    /// The command line of the Python stdio server.
    pub fn python_stdio_argv(&self) -> Vec<String> {
        vec![
            self.python.display().to_string(),
            self.py_stdio.display().to_string(),
        ]
    }

    /// Starts server-everything in Streamable HTTP mode on a free loopback port.
    pub fn everything_http(&self) -> io::Result<HttpPeer> {
        let mut cmd = Command::new(&self.everything[0]);
        cmd.args(&self.everything[1..])
            .arg("streamableHttp")
            .env("PORT", "0");
        HttpPeer::spawn(cmd, "server-everything", |line| {
            line.split("peer-loopback: listening on ")
                .nth(1)
                .map(|a| a.trim().to_string())
        })
    }

    /// Starts the Python `mcp` SDK server in Streamable HTTP mode on a free loopback port.
    pub fn python_http(&self) -> io::Result<HttpPeer> {
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.py_http).arg("0");
        HttpPeer::spawn(cmd, "python-mcp", |line| {
            line.split("Uvicorn running on http://")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string)
        })
    }
}

/// A running HTTP peer; killed when dropped.
pub struct HttpPeer {
    child: Child,
    /// `host:port`.
    pub addr: String,
}

impl HttpPeer {
    fn spawn(
        mut cmd: Command,
        name: &str,
        find_addr: fn(&str) -> Option<String>,
    ) -> io::Result<HttpPeer> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("no stderr"))?;
        let (tx, rx) = mpsc::channel();
        let label = name.to_string();
        // Keeps draining stderr for the peer's whole life (a full pipe would stall it).
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(a) = find_addr(&line) {
                        let _ = tx.send(a);
                        sent = true;
                    }
                }
                if std::env::var_os("PEER_LOG").is_some() {
                    eprintln!("[{label}] {line}");
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => Ok(HttpPeer { child, addr }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "{name} did not report its listening address within 30 s"
                )))
            }
        }
    }

    /// The MCP endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Stops the server (simulates "target down").
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HttpPeer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_sh_lines_are_parsed_with_quotes_removed() {
        let env = parse_env_sh("# c\nexport PEER_PY='/v/bin/python'\nexport PEERS_READY=1\n");
        assert_eq!(env["PEER_PY"], "/v/bin/python");
        assert_eq!(env["PEERS_READY"], "1");
        assert_eq!(env.len(), 2);
    }
}
