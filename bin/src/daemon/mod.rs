//! `tunnel-client run`: the long-lived daemon.
//!
//! Start order: logger → (embedded demo stub) → runtime (polling starts) → health listener
//! → `--health.url-file` / `--pid.file` → signal handler. Stop order is the reverse: the
//! first SIGTERM/SIGINT starts a graceful drain (no new polls; in-flight commands finish
//! within their deadlines and [`settings::DRAIN_TIMEOUT`]; their responses are posted); a
//! second signal exits at once. The files are removed when `run` returns.

mod devtools;
mod fdlimit;
pub mod files;
pub mod health;
pub mod listener;
pub mod metrics;
pub mod notify;
pub mod process_metrics;
pub mod settings;
mod signals;

use std::sync::Arc;

use tunnel_blocking::Runtime;

use crate::admin::{self, Admin};
use crate::config::{Loaded, LogFormat, RunConfig};
use crate::logging;

use devtools::{record_trace, start_embedded_stub};
use files::OwnedFile;
use health::{App, HealthServer};
use metrics::Metrics;

/// Why `run` could not start (every variant names the setting involved).
#[derive(Debug)]
pub enum StartupError {
    /// The configuration is valid but cannot be carried out.
    Config(String),
    /// A listener, file or thread could not be set up.
    Io(String),
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartupError::Config(m) | StartupError::Io(m) => f.write_str(m),
        }
    }
}

fn init_logging(c: &RunConfig) -> Result<(), StartupError> {
    let level = logging::parse_level(&c.log.level).unwrap_or(log::LevelFilter::Info);
    let format = match c.log.format {
        LogFormat::Plain => logging::Format::Text,
        LogFormat::StructText => logging::Format::StructText,
        LogFormat::Json => logging::Format::Json,
    };
    logging::init(level, format, c.log.file.as_deref()).map_err(|e| {
        StartupError::Io(format!(
            "--log.file {}: cannot open for append: {e}; fix: choose a writable path",
            c.log
                .file
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        ))
    })
}

/// Runs until a signal ends a drain. Returns `Ok` after a clean drain.
pub fn run(loaded: Loaded) -> Result<(), StartupError> {
    let mut cfg = loaded.config.clone();
    // Before the first log line: configured secrets are scrubbed from everything logged.
    Admin::register_secrets(&loaded);
    init_logging(&cfg)?;
    let log_buffer = Arc::new(admin::logbuf::LogBuffer::new(
        cfg.admin_ui.log_buffer_events as usize,
    ));
    {
        let buf = log_buffer.clone();
        logging::set_sink(Box::new(move |e| buf.push(e)));
    }
    let instance_id = tunnel_blocking::entropy::instance_id();
    logging::set_context(vec![
        ("client_instance_id", instance_id.clone()),
        ("tunnel_id", cfg.control_plane.tunnel_id.clone()),
    ]);
    if let Some(n) = fdlimit::raise() {
        log::debug!("open-file limit raised to {n}");
    }
    for w in &loaded.warnings {
        log::warn!("{w}");
    }
    let _stub = if cfg.embedded_mcp.enabled {
        Some(start_embedded_stub(&mut cfg)?)
    } else {
        None
    };

    let mut engine_cfg = settings::engine_config(&cfg)
        .map_err(|e| StartupError::Config(format!("configure tunnel-client: {e}")))?;
    engine_cfg.instance_id = instance_id.clone();
    let mut opts = settings::runtime_options(&cfg)
        .map_err(|e| StartupError::Config(format!("configure tunnel-client: {e}")))?;
    let metrics = Arc::new(Metrics::new(
        &cfg.control_plane.tunnel_id,
        engine_cfg.max_inflight,
        engine_cfg.max_concurrent,
    ));
    {
        let m = metrics.clone();
        opts.http_observer = Some(Arc::new(move |t| m.record_http(t)));
    }
    let activity = Arc::new(admin::activity::Activity::default());
    {
        let (m, a) = (metrics.clone(), activity.clone());
        opts.observer = Some(Arc::new(move |e| {
            m.record(e);
            a.record(e);
        }));
    }

    if let Some(path) = &cfg.record_trace {
        opts.tap = Some(record_trace(
            path,
            &engine_cfg,
            cfg.control_plane.api_key.expose(),
        )?);
    }

    // Bind the health listener before polling starts, so a port clash fails the start
    // instead of leaving a client that serves but cannot be checked.
    let health_addr = health::resolve_listen_addr(&cfg.health.listen_addr).map_err(|e| {
        StartupError::Config(format!(
            "--health.listen-addr {:?}: {e}; fix: use host:port, e.g. 127.0.0.1:8080 or 127.0.0.1:0",
            cfg.health.listen_addr
        ))
    })?;
    let probe = std::net::TcpListener::bind(health_addr).map_err(|e| {
        StartupError::Io(format!(
            "--health.listen-addr {}: cannot listen: {e}; fix: choose a free port (127.0.0.1:0 picks one) or stop the other process",
            cfg.health.listen_addr
        ))
    })?;
    let health_addr = probe.local_addr().unwrap_or(health_addr);
    drop(probe);

    // `--mcp.startup-wait-timeout` is the engine's: its startup probe retries refused
    // connections and holds the first poll until it settles.
    let argv: Vec<String> = std::env::args().collect();
    let env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let mut info = admin::Info::from_config(&cfg, &instance_id, &loaded.warnings);
    info.health_listen_addr = health_addr.to_string();
    let admin = Arc::new(Admin {
        allow_remote: cfg.admin_ui.allow_remote,
        logs: log_buffer,
        activity,
        info,
        bundle: admin::bundle::Inputs::capture(&loaded, &argv, &env),
    });
    let runtime = Runtime::start(engine_cfg, opts)
        .map_err(|e| StartupError::Config(format!("configure tunnel-client: {e}")))?;
    let handle = runtime.handle();
    let server = HealthServer::start(
        health_addr,
        Arc::new(App {
            runtime: handle.clone(),
            metrics: metrics.clone(),
            admin,
        }),
    )
    .map_err(|e| {
        StartupError::Io(format!(
            "--health.listen-addr {health_addr}: cannot listen: {e}; fix: choose a free port"
        ))
    })?;
    let base_url = server.base_url();
    let _url_file = match &cfg.health.url_file {
        Some(p) => Some(OwnedFile::write(p, &base_url, 0o600).map_err(|e| {
            StartupError::Io(format!(
                "--health.url-file {}: cannot write: {e}; fix: choose a writable path",
                p.display()
            ))
        })?),
        None => None,
    };
    let _pid_file = match &cfg.process.pid_file {
        Some(p) => Some(
            OwnedFile::write(p, &format!("{}\n", std::process::id()), 0o644).map_err(|e| {
                StartupError::Io(format!(
                    "--pid.file {}: cannot write: {e}; fix: choose a writable path",
                    p.display()
                ))
            })?,
        ),
        None => None,
    };
    let signals = signals::install(handle.clone())
        .map_err(|e| StartupError::Io(format!("cannot install signal handlers: {e}")))?;
    // Under systemd `Type=notify`: READY=1 once /readyz would say ready.
    notify::spawn_ready_watch(handle.clone());

    log::info!(
        "tunnel-client started: tunnel_id={} tunnel_url={}/v1/tunnel/{} channels={}",
        cfg.control_plane.tunnel_id,
        cfg.control_plane.base_url.trim_end_matches('/'),
        cfg.control_plane.tunnel_id,
        channel_list(&cfg)
    );
    log::info!("health URL: {base_url} (/healthz, /readyz, /metrics)");
    log::info!("web UI: {base_url}/ui");
    if cfg.admin_ui.allow_remote && !server.addr().ip().is_loopback() {
        log::warn!(
            "--allow-remote-ui: the admin UI and its API (log level, support bundle) answer any client that reaches {}; they have no authentication",
            server.addr()
        );
    }
    if cfg.admin_ui.open_browser {
        admin::browser::open(format!("{base_url}/ui"));
    }

    let finished = runtime.join();
    signals.close();
    drop(server);
    match finished {
        Ok(f) => {
            log::info!(
                "tunnel-client stopped (abandoned on hard stop: {})",
                f.abandoned
            );
            Ok(())
        }
        Err(e) => Err(StartupError::Io(format!("runtime failed: {e}"))),
    }
}

fn channel_list(c: &RunConfig) -> String {
    let mut v: Vec<String> = c
        .mcp
        .server_urls
        .iter()
        .map(|b| format!("{}(http)", b.channel))
        .chain(
            c.mcp
                .commands
                .iter()
                .map(|b| format!("{}(stdio)", b.channel)),
        )
        .collect();
    v.sort();
    v.join(",")
}
