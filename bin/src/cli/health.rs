//! `tunnel-client health`: probe a live daemon's `/healthz` and `/readyz` (and optionally
//! its last successful poll and its process), for scripts and supervisors
//! (go-cli-config.md §1.5, §10.3). Exit 0 when everything checked is OK, 2 when not, 1 for
//! bad flags. Output (text and `--json`) has the Go client's lines and fields.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::args::CliError;

const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
const METRICS_TIMEOUT: Duration = Duration::from_secs(2);
/// Body kept from `/healthz` / `/readyz` (Go: 4 KB).
const PROBE_BODY: usize = 4096;
const METRICS_BODY: usize = 16 * 1024 * 1024;
const POLL_METRIC: &str = "commands_poll_last_successful_timestamp_seconds";

const HELP: &str = "\
tunnel-client health — probe a live tunnel-client daemon

Probe /healthz and /readyz of a running daemon, found by its admin base URL, a health URL
file (written by 'run --health.url-file') or a loopback port. Optional PID checks verify
that the expected process is still running.

Usage: tunnel-client health (--url URL | --url-file FILE | --port N) [flags]

Flags:
  --url string                    admin base URL, or its /healthz or /readyz URL
                                  (http://host:port or http+unix://<socket>)
  --url-file string               file containing the admin base URL
  --port int                      loopback port of the admin server (http://127.0.0.1:N)
  --pid int                       also require this process to be running
  --pid-file string               also require the process in this file to be running
  --require-control-plane-poll    also require one successful control-plane poll (/metrics)
  --json                          machine-readable output

Exit status: 0 when OK, 2 when not OK, 1 for invalid flags.";

#[derive(Debug, Default)]
struct Flags {
    json: bool,
    url: String,
    url_file: String,
    port: i64,
    pid: i64,
    pid_file: String,
    require_poll: bool,
}

fn parse_bool(flag: &str, v: Option<String>) -> Result<bool, CliError> {
    match v.as_deref() {
        None => Ok(true),
        Some(v) => crate::config::parse_go_bool(v).ok_or_else(|| {
            CliError::Usage(format!(
                "invalid argument {v:?} for \"--{flag}\" flag: use true or false"
            ))
        }),
    }
}

fn parse_flags(args: &[String]) -> Result<Option<Flags>, CliError> {
    const KNOWN: &str =
        "--json, --url, --url-file, --port, --pid, --pid-file, --require-control-plane-poll";
    let mut f = Flags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if matches!(arg.as_str(), "-h" | "--help" | "help") {
            return Ok(None);
        }
        let Some(body) = arg.strip_prefix("--") else {
            return Err(CliError::Usage(format!(
                "health: unexpected argument {arg:?}; flags look like --name value"
            )));
        };
        let (name, attached) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        // Bool flags take a value only as --flag=value (pflag); others also as --flag value.
        let mut value = |name: &str| -> Result<String, CliError> {
            match &attached {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| CliError::Usage(format!("health: --{name} needs a value"))),
            }
        };
        let int = |name: &str, v: String| -> Result<i64, CliError> {
            v.trim().parse().map_err(|_| {
                CliError::Usage(format!(
                    "invalid argument {v:?} for \"--{name}\" flag: not a number"
                ))
            })
        };
        match name {
            "json" => f.json = parse_bool(name, attached.clone())?,
            "require-control-plane-poll" => f.require_poll = parse_bool(name, attached.clone())?,
            "url" => f.url = value(name)?,
            "url-file" => f.url_file = value(name)?,
            "port" => f.port = int(name, value(name)?)?,
            "pid" => f.pid = int(name, value(name)?)?,
            "pid-file" => f.pid_file = value(name)?,
            other => {
                return Err(CliError::Usage(format!(
                    "health: unknown flag --{other}; known flags: {KNOWN}"
                )))
            }
        }
    }
    Ok(Some(f))
}

/// Go's input rules (violations exit 1).
fn validate(f: &Flags) -> Result<(), CliError> {
    let locators = [
        !f.url.trim().is_empty(),
        !f.url_file.trim().is_empty(),
        f.port != 0,
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if locators != 1 {
        return Err(CliError::Usage(
            "choose exactly one of --url, --url-file, or --port".into(),
        ));
    }
    if f.port < 0 || f.port > 65535 {
        return Err(CliError::Usage("--port must be positive".into()));
    }
    if f.pid < 0 {
        return Err(CliError::Usage("--pid must be positive".into()));
    }
    if f.pid > 0 && !f.pid_file.trim().is_empty() {
        return Err(CliError::Usage(
            "choose at most one of --pid or --pid-file".into(),
        ));
    }
    Ok(())
}

#[derive(Debug, Default, Serialize)]
struct Locator {
    #[serde(skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    url_file: String,
    #[serde(skip_serializing_if = "is_zero")]
    port: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    resolved_base_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
}

#[derive(Debug, Default, Serialize)]
struct Process {
    #[serde(skip_serializing_if = "is_zero")]
    pid: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pid_file: String,
    running: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
}

/// One probed endpoint (`/healthz`, `/readyz`), as `health --json` and `runtimes` report it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "is_zero_u16")]
    pub status: u16,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

#[derive(Debug, Default, Serialize)]
struct MetricProbe {
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
    #[serde(skip_serializing_if = "is_zero_f64")]
    value: f64,
    ok: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    locator: Locator,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<Process>,
    #[serde(skip_serializing_if = "String::is_empty")]
    base_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    ui_url: String,
    healthz: Endpoint,
    readyz: Endpoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    control_plane_poll: Option<MetricProbe>,
    result: &'static str,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}
fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}
fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// Trims whitespace, a trailing `/healthz` or `/readyz`, then trailing slashes (Go).
pub fn normalize_base_url(raw: &str) -> String {
    let v = raw.trim();
    let v = v.strip_suffix("/healthz").unwrap_or(v);
    let v = v.strip_suffix("/readyz").unwrap_or(v);
    v.trim_end_matches('/').to_string()
}

/// Where to connect and what to send as `Host` / path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Tcp {
        hostport: String,
        prefix: String,
    },
    #[cfg(unix)]
    Unix {
        path: PathBuf,
        prefix: String,
    },
}

fn parse_target(base: &str) -> Result<Target, String> {
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| format!("health URL {base:?} has no scheme; use http://host:port"))?;
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, String::new()),
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" => {
            if authority.is_empty() {
                return Err(format!("health URL {base:?} has no host"));
            }
            let authority = authority.rsplit('@').next().unwrap_or(authority);
            let hostport = if authority.starts_with('[') {
                if authority.contains("]:") {
                    authority.to_string()
                } else {
                    format!("{authority}:80")
                }
            } else if authority.contains(':') {
                authority.to_string()
            } else {
                format!("{authority}:80")
            };
            Ok(Target::Tcp { hostport, prefix })
        }
        "http+unix" => {
            #[cfg(unix)]
            {
                let bytes = base64url_decode(authority).ok_or_else(|| {
                    "decode health unix socket path: invalid base64url".to_string()
                })?;
                let path = String::from_utf8(bytes)
                    .map_err(|_| "decode health unix socket path: not UTF-8".to_string())?;
                if path.is_empty() {
                    return Err("health unix socket path is empty".into());
                }
                Ok(Target::Unix {
                    path: PathBuf::from(path),
                    prefix,
                })
            }
            #[cfg(not(unix))]
            {
                Err("http+unix health URLs need a Unix system".into())
            }
        }
        "https" => {
            Err("https health URLs are not supported: the health listener serves plain HTTP".into())
        }
        other => Err(format!(
            "unsupported health URL scheme {other:?}; use http://"
        )),
    }
}

/// RFC 4648 §5 without padding (Go's `base64.RawURLEncoding`).
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    };
    let b = s.as_bytes();
    if b.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() * 3 / 4);
    for chunk in b.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

/// `GET path` within `timeout` (connect to last byte) with ureq. Returns (status, body ≤
/// `max`). No proxy (the listener is local; an operator's `HTTP_PROXY` must not capture the
/// check), no redirects, any status is an answer.
fn http_get(
    target: &Target,
    path: &str,
    timeout: Duration,
    max: usize,
) -> Result<(u16, Vec<u8>), String> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .user_agent(format!(
            "tunnel-client-health/{}",
            env!("CARGO_PKG_VERSION")
        ))
        .build();
    let (agent, url) = match target {
        Target::Tcp { hostport, prefix } => (
            ureq::Agent::new_with_config(config),
            format!("http://{hostport}{prefix}{path}"),
        ),
        #[cfg(unix)]
        Target::Unix {
            path: socket,
            prefix,
        } => (
            ureq::Agent::with_parts(
                config,
                unix::Connector(socket.clone()),
                ureq::unversioned::resolver::DefaultResolver::default(),
            ),
            format!("http://localhost{prefix}{path}"),
        ),
    };
    let mut resp = agent.get(&url).call().map_err(|e| match e {
        ureq::Error::Timeout(_) => format!("timed out after {timeout:?}"),
        ureq::Error::Io(e) => format!("connect: {e}"),
        e => e.to_string(),
    })?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(max as u64)
        .read_to_end(&mut body)
        .map_err(|e| format!("read: {e}"))?;
    Ok((status, body))
}

/// ureq over a Unix socket (`http+unix` health URLs): a connector that ignores the URL's
/// host and dials the socket, and the transport that moves ureq's buffers over it.
#[cfg(unix)]
mod unix {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::path::PathBuf;

    use ureq::unversioned::transport::{
        Buffers, ConnectionDetails, LazyBuffers, NextTimeout, Transport,
    };

    #[derive(Debug)]
    pub(super) struct Connector(pub PathBuf);

    impl<In: Transport> ureq::unversioned::transport::Connector<In> for Connector {
        type Out = Unix;

        fn connect(
            &self,
            details: &ConnectionDetails,
            _chained: Option<In>,
        ) -> Result<Option<Unix>, ureq::Error> {
            let stream = UnixStream::connect(&self.0)?;
            let buffers = LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            );
            Ok(Some(Unix { stream, buffers }))
        }
    }

    #[derive(Debug)]
    pub(super) struct Unix {
        stream: UnixStream,
        buffers: LazyBuffers,
    }

    /// The socket timeout for what is left of ureq's budget (`None` when unbounded).
    fn left(t: &NextTimeout) -> Option<std::time::Duration> {
        (!t.after.is_not_happening()).then(|| (*t.after).max(std::time::Duration::from_millis(1)))
    }

    fn timed_out(e: std::io::Error, t: &NextTimeout) -> ureq::Error {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                ureq::Error::Timeout(t.reason)
            }
            _ => e.into(),
        }
    }

    impl Transport for Unix {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }

        fn transmit_output(
            &mut self,
            amount: usize,
            timeout: NextTimeout,
        ) -> Result<(), ureq::Error> {
            self.stream.set_write_timeout(left(&timeout))?;
            let output = &self.buffers.output()[..amount];
            self.stream
                .write_all(output)
                .map_err(|e| timed_out(e, &timeout))
        }

        fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
            self.stream.set_read_timeout(left(&timeout))?;
            let n = loop {
                match self.stream.read(self.buffers.input_append_buf()) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    r => break r.map_err(|e| timed_out(e, &timeout))?,
                }
            };
            self.buffers.input_appended(n);
            Ok(n > 0)
        }

        fn is_open(&mut self) -> bool {
            // One request per agent: never reused.
            false
        }
    }
}

fn probe(target: &Target, base: &str, path: &str) -> Endpoint {
    let url = format!("{base}{path}");
    match http_get(target, path, PROBE_TIMEOUT, PROBE_BODY) {
        Ok((status, body)) => Endpoint {
            url,
            ok: (200..300).contains(&status),
            status,
            body: String::from_utf8_lossy(&body).trim().to_string(),
            error: String::new(),
        },
        Err(e) => Endpoint {
            url,
            error: format!("GET {base}{path}: {e}"),
            ..Endpoint::default()
        },
    }
}

/// The value of the first sample of `name` (no labels or any labels).
/// Probes `/healthz` and `/readyz` (500 ms each) of a health URL as the URL file holds it;
/// `None` when it is empty or cannot be parsed. Used by `runtimes`.
pub fn probe_health(raw: &str) -> Option<(String, Endpoint, Endpoint)> {
    let base = normalize_base_url(raw);
    if base.is_empty() {
        return None;
    }
    let target = parse_target(&base).ok()?;
    let h = probe(&target, &base, "/healthz");
    let r = probe(&target, &base, "/readyz");
    Some((base, h, r))
}

/// `GET <base><path>` (500 ms) decoded as JSON, for a 2xx answer only.
pub fn get_json(base: &str, path: &str) -> Result<serde_json::Value, String> {
    let target = parse_target(base)?;
    let (status, body) = http_get(&target, path, PROBE_TIMEOUT, METRICS_BODY)?;
    if !(200..300).contains(&status) {
        return Err(format!("GET {base}{path} returned HTTP {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().map(str::trim).find_map(|l| {
        if l.is_empty() || l.starts_with('#') {
            return None;
        }
        let ok =
            l == name || l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{"));
        if !ok {
            return None;
        }
        l.split_whitespace().last()?.parse().ok()
    })
}

fn probe_poll(target: &Target, base: &str) -> MetricProbe {
    let url = format!("{base}/metrics");
    let mut p = MetricProbe {
        url,
        ..MetricProbe::default()
    };
    match http_get(target, "/metrics", METRICS_TIMEOUT, METRICS_BODY) {
        Err(e) => p.error = format!("GET {base}/metrics: {e}"),
        Ok((status, _)) if status != 200 => p.error = format!("HTTP {status}"),
        Ok((_, body)) => match metric_value(&String::from_utf8_lossy(&body), POLL_METRIC) {
            None => p.error = format!("missing {POLL_METRIC} metric"),
            Some(v) => {
                p.value = v;
                p.ok = v > 0.0;
                if !p.ok {
                    p.error = "no successful control-plane poll observed".into();
                }
            }
        },
    }
    p
}

/// Whether process `pid` exists (a zombie counts; so does one we may not signal).
#[cfg(unix)]
pub fn pid_running(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the pid exists and
    // that we may signal it. No memory is passed.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(windows)]
pub fn pid_running(pid: i64) -> bool {
    if pid <= 0 {
        return false;
    }
    std::process::Command::new("tasklist")
        .args(["/FI", &format!("PID eq {pid}"), "/NH", "/FO", "CSV"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("\"{pid}\"")))
        .unwrap_or(false)
}

fn process(pid: i64, pid_file: &str) -> Process {
    let mut p = Process::default();
    if !pid_file.trim().is_empty() {
        p.pid_file = pid_file.trim().to_string();
        let data = match std::fs::read_to_string(&p.pid_file) {
            Ok(d) => d,
            Err(e) => {
                p.error = format!("read {}: {e}", p.pid_file);
                return p;
            }
        };
        let value = data.trim();
        match value.parse::<i64>() {
            Ok(n) if n > 0 => p.pid = n,
            _ => {
                p.error = format!("parse {} as pid: {value:?}", p.pid_file);
                return p;
            }
        }
    } else {
        p.pid = pid;
    }
    p.running = pid_running(p.pid);
    p
}

fn inspect(f: &Flags) -> Report {
    let mut r = Report {
        result: "fail",
        ..Report::default()
    };
    r.locator = if !f.url.trim().is_empty() {
        let base = normalize_base_url(&f.url);
        Locator {
            kind: "url".into(),
            url: f.url.trim().to_string(),
            error: if base.is_empty() {
                "health URL is empty after normalization".into()
            } else {
                String::new()
            },
            resolved_base_url: base,
            ..Locator::default()
        }
    } else if !f.url_file.trim().is_empty() {
        let file = f.url_file.trim().to_string();
        match std::fs::read_to_string(&file) {
            Err(e) => Locator {
                kind: "url_file".into(),
                error: format!("read {file}: {e}"),
                url_file: file,
                ..Locator::default()
            },
            Ok(data) => {
                let base = normalize_base_url(&data);
                Locator {
                    kind: "url_file".into(),
                    error: if base.is_empty() {
                        format!("{file} did not contain a health URL")
                    } else {
                        String::new()
                    },
                    url_file: file,
                    resolved_base_url: base,
                    ..Locator::default()
                }
            }
        }
    } else {
        Locator {
            kind: "port".into(),
            port: f.port,
            resolved_base_url: format!("http://127.0.0.1:{}", f.port),
            ..Locator::default()
        }
    };
    let base = r.locator.resolved_base_url.clone();
    if !base.is_empty() {
        match parse_target(&base) {
            Ok(target) => {
                r.base_url = base.clone();
                r.ui_url = format!("{}/ui", base.trim_end_matches('/'));
                r.healthz = probe(&target, &base, "/healthz");
                r.readyz = probe(&target, &base, "/readyz");
                if f.require_poll {
                    r.control_plane_poll = Some(probe_poll(&target, &base));
                }
            }
            Err(e) => {
                if r.locator.error.is_empty() {
                    r.locator.error = e;
                }
                if f.require_poll {
                    r.control_plane_poll = Some(MetricProbe {
                        error: r.locator.error.clone(),
                        ..MetricProbe::default()
                    });
                }
            }
        }
    }
    if f.pid > 0 || !f.pid_file.trim().is_empty() {
        r.process = Some(process(f.pid, &f.pid_file));
    }
    let ok = r.locator.error.is_empty()
        && r.healthz.ok
        && r.readyz.ok
        && r.process
            .as_ref()
            .is_none_or(|p| p.error.is_empty() && p.running)
        && r.control_plane_poll.as_ref().is_none_or(|p| p.ok);
    if ok {
        r.result = "ok";
    }
    r
}

fn endpoint_line(label: &str, e: &Endpoint) -> String {
    let mut parts = vec![if e.ok { "PASS" } else { "FAIL" }.to_string()];
    if !e.url.is_empty() {
        parts.push(e.url.clone());
    }
    if e.status != 0 {
        parts.push(format!("HTTP {}", e.status));
    }
    if !e.error.is_empty() {
        parts.push(e.error.clone());
    } else if !e.body.is_empty() {
        parts.push(e.body.clone());
    }
    format!("{label}: {}", parts.join(" | "))
}

fn text(r: &Report) -> String {
    let mut out = Vec::new();
    let loc = match r.locator.kind.as_str() {
        "url" => format!("url={}", r.locator.url),
        "url_file" => format!("url_file={}", r.locator.url_file),
        "port" => format!("port={}", r.locator.port),
        _ => "unknown".into(),
    };
    out.push(format!("Locator: {loc}"));
    if !r.locator.error.is_empty() {
        out.push(format!("Locator error: {}", r.locator.error));
    }
    if !r.base_url.is_empty() {
        out.push(format!("Base URL: {}", r.base_url));
    }
    if !r.ui_url.is_empty() {
        out.push(format!("UI URL: {}", r.ui_url));
    }
    out.push(endpoint_line("Healthz", &r.healthz));
    out.push(endpoint_line("Readyz", &r.readyz));
    if let Some(p) = &r.control_plane_poll {
        let mut parts = vec![if p.ok { "PASS" } else { "FAIL" }.to_string()];
        if !p.url.is_empty() {
            parts.push(p.url.clone());
        }
        if p.ok {
            parts.push(format!("last_success_unix_seconds={:.0}", p.value));
        } else if !p.error.is_empty() {
            parts.push(p.error.clone());
        }
        out.push(format!("Control-plane poll: {}", parts.join(" | ")));
    }
    if let Some(p) = &r.process {
        let line = if !p.error.is_empty() {
            if p.pid_file.is_empty() {
                format!("FAIL | {}", p.error)
            } else {
                format!("FAIL | pid_file={} | {}", p.pid_file, p.error)
            }
        } else {
            let status = if p.running { "PASS" } else { "FAIL" };
            if p.pid_file.is_empty() {
                format!("{status} | pid={}", p.pid)
            } else {
                format!("{status} | pid={} | pid_file={}", p.pid, p.pid_file)
            }
        };
        out.push(format!("Process: {line}"));
    }
    out.push(format!("Result: {}", r.result.to_ascii_uppercase()));
    out.join("\n") + "\n"
}

/// Runs the command: `Ok` when OK (exit 0), `Err` for bad flags (exit 1), and exit 2
/// after printing the report when not OK.
pub fn run(args: &[String]) -> Result<(), CliError> {
    let Some(flags) = parse_flags(args)? else {
        println!("{HELP}");
        return Ok(());
    };
    validate(&flags)?;
    let report = inspect(&flags);
    let printed = if flags.json {
        serde_json::to_string_pretty(&report)
            .map(|s| s + "\n")
            .unwrap_or_default()
    } else {
        text(&report)
    };
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(printed.as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    if report.result != "ok" {
        super::opts::exit_now(2);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised_as_in_go() {
        assert_eq!(normalize_base_url(" http://h:1/healthz\n"), "http://h:1");
        assert_eq!(normalize_base_url("http://h:1/readyz"), "http://h:1");
        assert_eq!(normalize_base_url("http://h:1//"), "http://h:1");
        assert_eq!(normalize_base_url("http://h:1/x/"), "http://h:1/x");
        assert_eq!(normalize_base_url("  "), "");
    }

    #[test]
    fn targets_cover_tcp_prefixes_and_unix_sockets() {
        assert_eq!(
            parse_target("http://127.0.0.1:8080").unwrap(),
            Target::Tcp {
                hostport: "127.0.0.1:8080".into(),
                prefix: String::new()
            }
        );
        assert!(matches!(
            parse_target("http://localhost/admin").unwrap(),
            Target::Tcp { hostport, prefix, .. } if hostport == "localhost:80" && prefix == "/admin"
        ));
        assert!(parse_target("https://h")
            .unwrap_err()
            .contains("plain HTTP"));
        assert!(parse_target("h:1").is_err());
        #[cfg(unix)]
        {
            // base64url("/tmp/h.sock") without padding.
            assert_eq!(
                parse_target("http+unix://L3RtcC9oLnNvY2s").unwrap(),
                Target::Unix {
                    path: "/tmp/h.sock".into(),
                    prefix: String::new()
                }
            );
            assert!(parse_target("http+unix://!!").is_err());
        }
    }

    /// Serves one connection of `accept` with `answer` after reading the request head.
    fn answer_once<S: Read + Write + Send + 'static>(
        accept: impl FnOnce() -> S + Send + 'static,
        answer: &'static [u8],
    ) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut s = accept();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap() == 1 {
                head.push(b[0]);
            }
            s.write_all(answer).unwrap();
            String::from_utf8(head).unwrap()
        })
    }

    #[test]
    fn get_reads_length_chunked_and_close_delimited_answers_over_loopback() {
        let cases: [(&[u8], u16, &str); 3] = [
            (
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 6\r\n\r\nnot ok",
                503,
                "not ok",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nlive\r\n0\r\n\r\n",
                200,
                "live",
            ),
            (b"HTTP/1.0 200 OK\r\n\r\nready", 200, "ready"),
        ];
        for (answer, status, body) in cases {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://{}/admin", l.local_addr().unwrap());
            let server = answer_once(move || l.accept().unwrap().0, answer);
            let target = parse_target(&base).unwrap();
            let got = http_get(&target, "/readyz", PROBE_TIMEOUT, PROBE_BODY).unwrap();
            assert_eq!(got, (status, body.as_bytes().to_vec()));
            let head = server.join().unwrap();
            assert!(head.starts_with("GET /admin/readyz HTTP/1.1\r\n"), "{head}");
        }
        // A body past the cap is cut, a silent server times out, a closed port is named.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let server = answer_once(
            move || l.accept().unwrap().0,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
        );
        let got = http_get(&parse_target(&base).unwrap(), "/healthz", PROBE_TIMEOUT, 4);
        assert_eq!(got.unwrap(), (200, b"0123".to_vec()));
        server.join().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let err = http_get(
            &parse_target(&base).unwrap(),
            "/healthz",
            Duration::from_millis(200),
            4,
        )
        .unwrap_err();
        assert!(err.contains("timed out"), "{err}");
        drop(l);
        let err =
            http_get(&parse_target(&base).unwrap(), "/healthz", PROBE_TIMEOUT, 4).unwrap_err();
        assert!(err.contains("refused"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn get_speaks_http_over_a_unix_socket() {
        let dir = std::env::temp_dir().join(format!("tc-health-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("h.sock");
        let _ = std::fs::remove_file(&sock);
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let server = answer_once(
            move || l.accept().unwrap().0,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
        let target = Target::Unix {
            path: sock.clone(),
            prefix: "/p".into(),
        };
        let got = http_get(&target, "/healthz", PROBE_TIMEOUT, PROBE_BODY);
        let head = server.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(got.unwrap(), (200, b"ok".to_vec()));
        assert!(head.starts_with("GET /p/healthz HTTP/1.1\r\n"), "{head}");
    }

    #[test]
    fn metric_values_are_found_with_or_without_labels() {
        let t = "# HELP x\ncommands_poll_last_successful_timestamp_seconds_total 9\ncommands_poll_last_successful_timestamp_seconds{a=\"b\"} 17.5\n";
        assert_eq!(metric_value(t, POLL_METRIC), Some(17.5));
        assert_eq!(
            metric_value(
                "commands_poll_last_successful_timestamp_seconds 0\n",
                POLL_METRIC
            ),
            Some(0.0)
        );
        assert_eq!(metric_value("other 1\n", POLL_METRIC), None);
    }

    #[test]
    fn flags_follow_go_rules() {
        let v = |a: &[&str]| -> Vec<String> { a.iter().map(|s| s.to_string()).collect() };
        let f = parse_flags(&v(&["--port", "8080", "--json", "--pid=12"]))
            .unwrap()
            .unwrap();
        assert!(f.json && f.port == 8080 && f.pid == 12);
        assert!(validate(&f).is_ok());
        let f = parse_flags(&v(&["--url", "http://x", "--port", "1"]))
            .unwrap()
            .unwrap();
        assert!(validate(&f)
            .unwrap_err()
            .to_string()
            .contains("exactly one"));
        let f = parse_flags(&v(&[])).unwrap().unwrap();
        assert!(validate(&f).is_err());
        let f = parse_flags(&v(&["--port", "1", "--pid", "2", "--pid-file", "f"]))
            .unwrap()
            .unwrap();
        assert!(validate(&f)
            .unwrap_err()
            .to_string()
            .contains("at most one"));
        let f = parse_flags(&v(&["--port=-3"])).unwrap().unwrap();
        assert!(validate(&f).unwrap_err().to_string().contains("positive"));
        let f = parse_flags(&v(&["--port", "1", "--json=false"]))
            .unwrap()
            .unwrap();
        assert!(!f.json);
        assert!(parse_flags(&v(&["--bogus"])).is_err());
        assert!(parse_flags(&v(&["--port", "x"])).is_err());
        assert!(parse_flags(&v(&["--help"])).unwrap().is_none());
    }

    #[test]
    fn base64url_matches_go_raw_url_encoding() {
        assert_eq!(base64url_decode("L3RtcC9oLnNvY2s").unwrap(), b"/tmp/h.sock");
        assert_eq!(base64url_decode("YQ").unwrap(), b"a");
        assert_eq!(base64url_decode("YWI").unwrap(), b"ab");
        assert_eq!(base64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(base64url_decode("A").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn own_pid_runs_and_pid_zero_does_not() {
        assert!(pid_running(std::process::id() as i64));
        assert!(!pid_running(0));
        assert!(!pid_running(i64::MAX));
    }
}
