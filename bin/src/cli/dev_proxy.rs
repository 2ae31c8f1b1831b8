//! `tunnel-client dev proxy`: a local stand-in for the tunnel service, so an MCP client
//! (MCP Inspector, an SDK) can talk to `/v1/mcp/<tunnel_id>` on this machine through the
//! real tunnel protocol and a real `run` — the Go client's `dev proxy` (§3.5).
//!
//! It is the control-plane emulator (`tunnel-conformance`, the same one `dev
//! control-plane` serves) in its dev-proxy mode — Go's request-header blocklist, the
//! `oauth_discovery` well-known route, `WWW-Authenticate` rewritten to point here, SSE when
//! the MCP client accepts it — plus this process's own `run`, configured as Go configures
//! its in-process client: the local key `local-tunnel-client-dev-proxy`, 500 ms polls with
//! a 100 ms guardrail, the MCP bindings given here or in a profile.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tunnel_conformance::emulator::{parse_duration, Emulator, EmulatorConfig};

use super::args::{Args, CliError};
use crate::config::{self, Command, Env, ProcessEnv};

/// Go's defaults.
pub const DEFAULT_TUNNEL_ID: &str = "tunnel_22222222222222222222222222222222";
/// The only key the local control plane accepts (exact `Authorization: Bearer …`).
pub const LOCAL_API_KEY: &str = "local-tunnel-client-dev-proxy";
const DEFAULT_READINESS: Duration = Duration::from_secs(10);
const DEFAULT_RESPONSE: Duration = Duration::from_secs(30);

const HELP: &str = "Usage: tunnel-client dev proxy [flags]

Runs a local stand-in for the tunnel service and a tunnel-client in this process, so an
MCP client on this machine can use the MCP URL it prints (POST /v1/mcp/<tunnel_id>[/<channel>])
as if through the hosted tunnel. Prints `MCP URL: …` once the client polls; runs until
Ctrl-C (or --duration).

Flags:
  --listen ADDR                  loopback address of the MCP ingress (default 127.0.0.1:0)
  --listen-unix-socket PATH      not supported yet by this build
  --tunnel-id ID                 tunnel id in the MCP URL (default tunnel_22222222222222222222222222222222)
  --mcp-server-url V             an MCP server (URL, or url=…,channel=…); repeatable
  --mcp-command V                a stdio MCP server command (or command=…,channel=…); repeatable
  --profile NAME                 load the MCP bindings from this profile
  --profile-file PATH            … or from this profile file
  --profile-dir DIR              directory of --profile
  --health-listen-addr ADDR      health/admin listener of the client (default a free loopback port)
  --health-url-file PATH         write the client's health base URL here
  --url-file PATH                write the connection JSON here once ready
  --print-json                   print the connection JSON instead of `MCP URL: …`
  --duration D                   stop after D (default: run until Ctrl-C)
  --readiness-timeout D          how long to wait for the client's first poll (default 10s)
  --response-timeout D           how long an MCP request waits for its answer (default 30s)
  --client-last-seen-timeout D   accepted for compatibility (default 20s)
  --backend auto|rust            accepted for compatibility: this build is the Rust client
  --engine-queue-backend inmem   only the in-memory queue
";

#[derive(Debug)]
struct Opts {
    listen: SocketAddr,
    tunnel_id: String,
    servers: Vec<String>,
    commands: Vec<String>,
    profile: Option<String>,
    profile_file: Option<String>,
    profile_dir: Option<String>,
    health_listen: Option<String>,
    health_url_file: Option<PathBuf>,
    url_file: Option<PathBuf>,
    print_json: bool,
    duration: Option<Duration>,
    readiness: Duration,
    response: Duration,
}

fn duration(flag: &str, v: &str) -> Result<Duration, CliError> {
    match parse_duration(v) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(CliError::Usage(format!(
            "dev proxy: --{flag} must be positive"
        ))),
        Err(e) => Err(CliError::Usage(format!("dev proxy: --{flag}: {e}"))),
    }
}

fn parse(args: &[String]) -> Result<Opts, CliError> {
    let mut a = Args::new("dev proxy", args);
    let mut o = Opts {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tunnel_id: DEFAULT_TUNNEL_ID.into(),
        servers: Vec::new(),
        commands: Vec::new(),
        profile: None,
        profile_file: None,
        profile_dir: None,
        health_listen: None,
        health_url_file: None,
        url_file: None,
        print_json: false,
        duration: None,
        readiness: DEFAULT_READINESS,
        response: DEFAULT_RESPONSE,
    };
    let mut listen_set = false;
    let mut unix = None;
    while let Some(flag) = a.next_flag()? {
        match flag.as_str() {
            "listen" => {
                o.listen = a.value_parsed(&flag)?;
                listen_set = true;
            }
            "listen-unix-socket" => unix = Some(a.value(&flag)?),
            "tunnel-id" => o.tunnel_id = a.value(&flag)?,
            "mcp-server-url" => o.servers.push(a.value(&flag)?),
            "mcp-command" => o.commands.push(a.value(&flag)?),
            "profile" => o.profile = Some(a.value(&flag)?),
            "profile-file" => o.profile_file = Some(a.value(&flag)?),
            "profile-dir" => o.profile_dir = Some(a.value(&flag)?),
            "health-listen-addr" => o.health_listen = Some(a.value(&flag)?),
            "health-url-file" => o.health_url_file = Some(a.value(&flag)?.into()),
            "url-file" => o.url_file = Some(a.value(&flag)?.into()),
            "print-json" => o.print_json = a.switch(&flag)?,
            "duration" => o.duration = Some(duration(&flag, &a.value(&flag)?)?),
            "readiness-timeout" => o.readiness = duration(&flag, &a.value(&flag)?)?,
            "response-timeout" => o.response = duration(&flag, &a.value(&flag)?)?,
            "client-last-seen-timeout" => {
                let _ = duration(&flag, &a.value(&flag)?)?;
            }
            "backend" => match a.value(&flag)?.as_str() {
                "auto" | "rust" => {}
                other => {
                    return Err(CliError::Usage(format!(
                        "dev proxy: --backend {other:?}: this build runs the Rust client; use auto or rust"
                    )))
                }
            },
            "engine-queue-backend" => match a.value(&flag)?.as_str() {
                "inmem" => {}
                "redis" => {
                    return Err(CliError::Usage(
                        "dev proxy: --engine-queue-backend redis is not supported yet; use inmem".into(),
                    ))
                }
                other => {
                    return Err(CliError::Usage(format!(
                        "dev proxy: unknown engine queue backend {other:?} (supported: inmem, redis)"
                    )))
                }
            },
            "engine-redis-url" => {
                let _ = a.value(&flag)?;
            }
            _ => {
                return Err(a.unknown(
                    &flag,
                    &[
                        "listen",
                        "listen-unix-socket",
                        "tunnel-id",
                        "mcp-server-url",
                        "mcp-command",
                        "profile",
                        "profile-file",
                        "profile-dir",
                        "health-listen-addr",
                        "health-url-file",
                        "url-file",
                        "print-json",
                        "duration",
                        "readiness-timeout",
                        "response-timeout",
                        "client-last-seen-timeout",
                        "backend",
                        "engine-queue-backend",
                        "engine-redis-url",
                    ],
                ))
            }
        }
    }
    if unix.is_some() {
        if listen_set {
            return Err(CliError::Usage(
                "--listen and --listen-unix-socket are mutually exclusive".into(),
            ));
        }
        return Err(CliError::Usage(
            "dev proxy: --listen-unix-socket is not supported yet; use --listen 127.0.0.1:PORT"
                .into(),
        ));
    }
    if o.servers.is_empty()
        && o.commands.is_empty()
        && o.profile.is_none()
        && o.profile_file.is_none()
    {
        return Err(CliError::Usage(
            "dev proxy: set --mcp-server-url, --mcp-command, --profile, or --profile-file".into(),
        ));
    }
    if o.profile.is_some() && o.profile_file.is_some() {
        return Err(CliError::Usage(
            "--profile and --profile-file are mutually exclusive".into(),
        ));
    }
    Ok(o)
}

/// The process environment with the local control plane's key.
struct WithLocalKey;

impl Env for WithLocalKey {
    fn var(&self, name: &str) -> Option<String> {
        if name == "CONTROL_PLANE_API_KEY" {
            return Some(LOCAL_API_KEY.into());
        }
        ProcessEnv.var(name)
    }
}

/// `dev proxy [flags]`; see [`HELP`].
pub fn proxy(args: &[String]) -> Result<(), CliError> {
    if args.iter().any(|a| matches!(a.as_str(), "--help" | "-h")) {
        print!("{HELP}");
        return Ok(());
    }
    let o = parse(args)?;
    let emu = Emulator::start(EmulatorConfig {
        listen_addr: o.listen,
        tunnel_id: o.tunnel_id.clone(),
        tunnel_name: "local tunnel-client dev proxy".into(),
        tunnel_description: "in-memory control plane for local MCP tests".into(),
        api_key: LOCAL_API_KEY.into(),
        // Go: a poll without timeout_ms waits 500 ms, none longer than 5 s.
        default_poll_wait: Duration::from_millis(500),
        max_poll_wait: Duration::from_secs(5),
        ingress_timeout: o.response,
        ingress_response_timeout: None,
        dev_proxy: true,
        // A long-running local service: bounded memory (each poll is recorded).
        history_limit: Some(1000),
        ..EmulatorConfig::default()
    })
    .map_err(|e| CliError::Io(format!("dev proxy: cannot listen on {}: {e}", o.listen)))?;

    // The client's health URL, to report it (Go: only when a health listener was asked for).
    let health_wanted = o.health_listen.is_some() || o.health_url_file.is_some();
    let health_file = o.health_url_file.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "tunnel-client-dev-proxy-{}.url",
            std::process::id()
        ))
    });
    let mut argv: Vec<String> = vec![
        "--control-plane.base-url".into(),
        emu.control_plane_url(),
        "--control-plane.tunnel-id".into(),
        o.tunnel_id.clone(),
        "--control-plane.poll-timeout".into(),
        "500ms".into(),
        "--control-plane.poll-deadline-guardrail".into(),
        "100ms".into(),
        "--open-web-ui=false".into(),
        "--health.listen-addr".into(),
        o.health_listen
            .clone()
            .unwrap_or_else(|| "127.0.0.1:0".into()),
        "--health.url-file".into(),
        health_file.display().to_string(),
    ];
    for (flag, v) in [
        ("--profile", &o.profile),
        ("--profile-file", &o.profile_file),
        ("--profile-dir", &o.profile_dir),
    ] {
        if let Some(v) = v {
            argv.extend([flag.to_string(), v.clone()]);
        }
    }
    for s in &o.servers {
        argv.extend(["--mcp.server-url".to_string(), s.clone()]);
    }
    for c in &o.commands {
        argv.extend(["--mcp.command".to_string(), c.clone()]);
    }
    let loaded = config::load(Command::Run, &argv, &WithLocalKey, &config::RealFiles)
        .map_err(|errs| CliError::Config(format!("dev proxy: configure tunnel-client: {errs}")))?;
    let unsupported = config::unsupported_in_use(&loaded);
    if !unsupported.is_empty() {
        let lines: Vec<String> = unsupported.iter().map(|e| e.to_string()).collect();
        return Err(CliError::Config(format!(
            "dev proxy: configure tunnel-client: {}",
            lines.join("\n")
        )));
    }

    let failed = Arc::new(AtomicBool::new(false));
    let info = Info {
        tunnel_id: o.tunnel_id.clone(),
        mcp_url: format!("{}/v1/mcp/{}", emu.base_url(), o.tunnel_id),
        control_plane_base_url: emu.base_url(),
        health_file: health_file.clone(),
        health_wanted,
        url_file: o.url_file.clone(),
        print_json: o.print_json,
    };
    let emu = Arc::new(emu);
    {
        let (emu, failed, readiness) = (emu.clone(), failed.clone(), o.readiness);
        std::thread::Builder::new()
            .name("dev-proxy-ready".into())
            .spawn(move || {
                if let Err(why) = wait_ready(&emu, readiness).and_then(|_| info.announce()) {
                    eprintln!("dev proxy: {why}");
                    failed.store(true, Ordering::SeqCst);
                    stop_self();
                }
            })
            .map_err(|e| CliError::Io(format!("dev proxy: {e}")))?;
    }
    if let Some(d) = o.duration {
        std::thread::Builder::new()
            .name("dev-proxy-duration".into())
            .spawn(move || {
                std::thread::sleep(d);
                stop_self();
            })
            .map_err(|e| CliError::Io(format!("dev proxy: {e}")))?;
    }
    let result = crate::daemon::run(loaded);
    if o.health_url_file.is_none() {
        let _ = std::fs::remove_file(&health_file);
    }
    result.map_err(|e| match e {
        crate::daemon::StartupError::Config(m) => CliError::Config(format!("dev proxy: {m}")),
        crate::daemon::StartupError::Io(m) => CliError::Io(format!("dev proxy: {m}")),
    })?;
    if failed.load(Ordering::SeqCst) {
        return Err(CliError::Io(
            "dev proxy: stopped because the local tunnel-client did not become ready".into(),
        ));
    }
    Ok(())
}

/// A graceful stop, as Ctrl-C: the daemon drains and `run` returns.
fn stop_self() {
    #[cfg(unix)]
    {
        let _ = signal_hook::low_level::raise(signal_hook::consts::SIGTERM);
    }
    #[cfg(not(unix))]
    std::process::exit(1);
}

/// Ready once the client has polled (its startup probe holds the first poll until the
/// MCP server answered or the startup wait ended).
fn wait_ready(emu: &Emulator, timeout: Duration) -> Result<(), String> {
    let until = Instant::now() + timeout;
    while emu.polls().is_empty() {
        if Instant::now() >= until {
            return Err(format!(
                "the local tunnel-client did not poll within {timeout:?} (--readiness-timeout); see its log above"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// What is printed (and written to `--url-file`) once ready: Go's `Info`.
struct Info {
    tunnel_id: String,
    mcp_url: String,
    control_plane_base_url: String,
    health_file: PathBuf,
    health_wanted: bool,
    url_file: Option<PathBuf>,
    print_json: bool,
}

impl Info {
    fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "tunnel_id": self.tunnel_id,
            "mcp_url": self.mcp_url,
            "mcp_transport": "tcp",
            "control_plane_base_url": self.control_plane_base_url,
            "control_plane_transport": "tcp",
            "backend": "rust",
        });
        if self.health_wanted {
            let until = Instant::now() + Duration::from_secs(5);
            let mut base = None;
            while base.is_none() && Instant::now() < until {
                base = std::fs::read_to_string(&self.health_file)
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty());
                if base.is_none() {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            if let Some(b) = base {
                v["health_url"] = serde_json::json!(format!("{b}/readyz"));
            }
        }
        v
    }

    fn announce(&self) -> Result<(), String> {
        let v = self.json();
        if let Some(p) = &self.url_file {
            let text = serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
            std::fs::write(p, text)
                .map_err(|e| format!("--url-file {}: cannot write: {e}", p.display()))?;
        }
        let mut out = std::io::stdout().lock();
        let printed = if self.print_json {
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            )
        } else {
            writeln!(out, "MCP URL: {}", self.mcp_url)
        };
        printed
            .and_then(|_| out.flush())
            .map_err(|e| format!("stdout: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn gos_defaults_and_refusals() {
        let o = parse(&args(&["--mcp-server-url", "http://127.0.0.1:1/mcp"])).unwrap();
        assert_eq!(o.tunnel_id, DEFAULT_TUNNEL_ID);
        assert_eq!(o.listen, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!(o.readiness, Duration::from_secs(10));
        assert_eq!(o.response, Duration::from_secs(30));
        let err = |a: &[&str]| parse(&args(a)).unwrap_err().to_string();
        assert!(err(&[]).contains("set --mcp-server-url"));
        assert!(err(&["--profile", "a", "--profile-file", "b"]).contains("mutually exclusive"));
        assert!(err(&[
            "--mcp-command",
            "x",
            "--listen",
            "127.0.0.1:0",
            "--listen-unix-socket",
            "/s"
        ])
        .contains("mutually exclusive"));
        assert!(err(&["--mcp-command", "x", "--backend", "go"]).contains("Rust"));
        assert!(err(&["--mcp-command", "x", "--response-timeout", "0s"]).contains("positive"));
        let o = parse(&args(&["--mcp-command", "x", "--print-json"])).unwrap();
        assert!(o.print_json);
    }
}
