//! Running the real `tunnel-client` binary in tests: spawn with flags and env, wait for
//! its health URL, talk to `/healthz` `/readyz` `/metrics`, signal it, collect its logs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tunnel_conformance::emulator::Emulator;

pub const BIN: &str = env!("CARGO_BIN_EXE_tunnel-client");

/// A unique scratch directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("tc-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running client process. Killed on drop.
pub struct Client {
    pub child: Child,
    pub health: String,
    pub url_file: PathBuf,
    pub pid_file: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
    _scratch: Scratch,
}

/// Flags that point a client at `emu` with a health listener on a free port.
pub fn base_args(emu: &Emulator) -> Vec<String> {
    vec![
        "--control-plane.base-url".into(),
        emu.control_plane_url(),
        "--control-plane.tunnel-id".into(),
        emu.tunnel_id().into(),
        "--control-plane.poll-timeout".into(),
        "2s".into(),
        "--health.listen-addr".into(),
        "127.0.0.1:0".into(),
    ]
}

impl Client {
    /// Starts `tunnel-client run <args>` with the emulator's key in the environment and
    /// waits (up to 20 s) for `--health.url-file`.
    pub fn start(emu: &Emulator, args: &[String]) -> Client {
        Self::start_with_env(emu, args, &[])
    }

    pub fn start_with_env(emu: &Emulator, args: &[String], env: &[(&str, &str)]) -> Client {
        let scratch = Scratch::new("run");
        let url_file = scratch.path("health.url");
        let pid_file = scratch.path("client.pid");
        let mut cmd = Command::new(BIN);
        cmd.arg("run")
            .args(base_args(emu))
            .args(args)
            .arg("--health.url-file")
            .arg(&url_file)
            .arg("--pid.file")
            .arg(&pid_file)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("CONTROL_PLANE_API_KEY", emu.api_key())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        forward_driver(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn tunnel-client");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if std::env::var_os("CLIENT_LOG").is_some() {
                        eprintln!("[client] {line}");
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let health = loop {
            // Written atomically (a rename), so any content is the whole URL.
            if let Ok(s) = std::fs::read_to_string(&url_file) {
                if !s.is_empty() {
                    // Exactly the URL, no newline, as the Go client writes it: programs
                    // that read it without trimming must get a usable URL.
                    assert_eq!(s, s.trim(), "the health URL file holds the URL alone");
                    break s;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "tunnel-client exited early with {status}:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "no health URL within 20 s:\n{}",
                logs.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Client {
            child,
            health,
            url_file,
            pid_file,
            logs,
            _scratch: scratch,
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits (up to `timeout`) until the client has logged a line containing `needle`;
    /// the logs so far. A line the client writes after posting a response may arrive
    /// after the emulator has the response, so an assertion on it must wait for it.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let logs = self.logs();
            if logs.contains(needle) || Instant::now() >= deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET <health><path>` → (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.health, path)
    }

    /// Waits until `GET path` answers `status` (and the body contains `needle`).
    pub fn wait_for(&self, path: &str, status: u16, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let (s, body) = self.get(path);
            if s == status && body.contains(needle) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never answered {status} with {needle:?}; last: {s} {body:?}\nlogs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit (bounded).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                // Let the log threads catch the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "tunnel-client did not exit within {timeout:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET over loopback (no client crate needed for three endpoints).
pub fn http_get(base: &str, path: &str) -> (u16, String) {
    let hostport = base.trim_start_matches("http://");
    let Ok(mut s) = TcpStream::connect(hostport) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    );
    read_response(s)
}

/// Reads a `Connection: close` response to the end → (status, body as text).
fn read_response(mut s: TcpStream) -> (u16, String) {
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

/// Passes the test run's `TUNNEL_CLIENT_DRIVER` on (the environment is cleared otherwise),
/// so a suite can be run on the other driver: `TUNNEL_CLIENT_DRIVER=blocking cargo test`.
/// A test that sets it itself wins.
fn forward_driver(cmd: &mut Command) {
    if let Some(v) = std::env::var_os("TUNNEL_CLIENT_DRIVER") {
        cmd.env("TUNNEL_CLIENT_DRIVER", v);
    }
}

/// Runs `tunnel-client run <args>` to completion (for startup errors): (exit code, stderr).
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    forward_driver(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run tunnel-client");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Checks Prometheus text format: every sample belongs to a family declared by `# TYPE`,
/// names and label syntax are valid, values parse, histogram buckets are cumulative and
/// end in `+Inf` = `_count`. Returns (family → type) and the samples.
pub fn parse_prometheus(text: &str) -> Result<Vec<(String, String, f64)>, String> {
    use std::collections::HashMap;
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or(format!("line {i}: bad TYPE"))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("line {i}: unknown type {kind}"));
            }
            if types.insert(name.to_string(), kind.to_string()).is_some() {
                return Err(format!("line {i}: family {name} declared twice"));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or(format!("line {i}: no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .map_err(|_| format!("line {i}: bad value {v:?}"))?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (
                n,
                l.strip_suffix('}')
                    .ok_or(format!("line {i}: unclosed labels"))?,
            ),
            None => (series, ""),
        };
        if !valid_name(name) {
            return Err(format!("line {i}: bad metric name {name:?}"));
        }
        let mut rest = labels;
        while !rest.is_empty() {
            let (k, after) = rest
                .split_once("=\"")
                .ok_or(format!("line {i}: bad label"))?;
            if !valid_name(k) {
                return Err(format!("line {i}: bad label name {k:?}"));
            }
            let mut end = None;
            let mut escaped = false;
            for (j, c) in after.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(j);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or(format!("line {i}: unterminated label value"))?;
            rest = after[end + 1..].trim_start_matches(',');
        }
        let family = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        if !types.contains_key(family) && !types.contains_key(name) {
            return Err(format!("line {i}: sample {name} has no # TYPE"));
        }
        samples.push((name.to_string(), labels.to_string(), value));
    }
    // Histogram buckets: cumulative, +Inf equals _count.
    for (fam, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let mut by_series: std::collections::BTreeMap<String, Vec<(String, f64)>> =
            Default::default();
        for (n, l, v) in &samples {
            if n == &format!("{fam}_bucket") {
                // `le` is the last label; it may also be the only one.
                let le_pos = match l.match_indices(",le=\"").last() {
                    Some((p, _)) => p,
                    None if l.starts_with("le=\"") => 0,
                    None => return Err(format!("{fam}{{{l}}}: bucket without le")),
                };
                by_series
                    .entry(l[..le_pos].to_string())
                    .or_default()
                    .push((l[le_pos..].to_string(), *v));
            }
        }
        for (series, buckets) in by_series {
            let mut last = 0.0;
            for (_, v) in &buckets {
                if *v < last {
                    return Err(format!("{fam}{{{series}}}: buckets not cumulative"));
                }
                last = *v;
            }
            let inf = buckets.last().filter(|(le, _)| le.contains("+Inf"));
            let count = samples
                .iter()
                .find(|(n, l, _)| n == &format!("{fam}_count") && l == &series)
                .map(|s| s.2);
            if inf.map(|b| b.1) != count {
                return Err(format!("{fam}{{{series}}}: +Inf bucket != _count"));
            }
        }
    }
    Ok(samples)
}

/// A minimal HTTP/1.1 POST of a JSON body (an MCP client's request) → (status, body).
pub fn http_post_json(url: &str, body: &str) -> (u16, String) {
    let rest = url.trim_start_matches("http://");
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut s) = TcpStream::connect(hostport) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    read_response(s)
}
