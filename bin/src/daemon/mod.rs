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
pub mod proxy_health;
pub mod proxy_metrics;
pub mod routes;
mod scavenge;
pub mod settings;
mod signals;
pub mod tunnel;

use std::sync::Arc;

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
    // Before any thread of the runtime allocates (see `scavenge`).
    scavenge::limit_arenas();
    let mut cfg = loaded.config.clone();
    // Before the first log line: configured secrets are scrubbed from everything logged.
    Admin::register_secrets(&loaded);
    // The proxies' routes, as the runtime will decide them (same inputs, same process
    // environment); their passwords are scrubbed like the other secrets.
    let proxy_env = tunnel_core::proxy_route::ProxyEnv::from_lookup(|n| std::env::var(n).ok());
    for pw in routes::proxy_passwords(&cfg, &proxy_env) {
        admin::redact::register_secret(&pw);
    }
    let net_routes = routes::routes(&cfg, &proxy_env);
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
    // After the context, so every route line carries the instance and tunnel ids.
    routes::log(&net_routes);
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
    let mut harpoon_admin = admin::harpoon::HarpoonAdmin::from_config(&cfg);
    let streamable = cfg
        .harpoon
        .additional_transports
        .iter()
        .any(|t| t == "http-streamable");
    if let (true, Some(server)) = (streamable, engine_cfg.harpoon.as_ref()) {
        let agent = tunnel_blocking::agents::harpoon_agent(
            &opts.tls,
            &server.registry,
            opts.mcp_connect_timeout,
        )
        .map_err(|e| StartupError::Config(format!("configure tunnel-client: {e}")))?;
        let mcp = admin::harpoon_mcp::HarpoonMcp::new(server.clone(), agent);
        #[cfg(unix)]
        let mcp = mcp.with_unix(
            tunnel_blocking::agents::harpoon_unix_agent_set(&opts.tls, opts.mcp_connect_timeout)
                .map_err(|e| StartupError::Config(format!("configure tunnel-client: {e}")))?,
        );
        harpoon_admin.mcp = Some(mcp);
    }
    let app_harpoon_mcp = harpoon_admin.mcp.is_some();
    let harpoon_admin = Arc::new(harpoon_admin);
    {
        let (m, a, h) = (metrics.clone(), activity.clone(), harpoon_admin.clone());
        opts.observer = Some(Arc::new(move |e| {
            m.record(e);
            a.record(e);
            h.record(e);
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
    // instead of leaving a client that serves but cannot be checked. With
    // --health.unix-socket no TCP port is opened at all.
    let unix_health = cfg.health.unix_socket.clone();
    let health_addr = if unix_health.is_some() {
        listener::stream::UNIX_PEER
    } else {
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
        probe.local_addr().unwrap_or(health_addr)
    };

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
    // The proxy health checker (Go: `proxyhealth`), first round at once; it checks the
    // routes the runtime uses, with the same trust store for https proxies.
    let proxy_health = {
        let m = metrics.clone();
        proxy_health::ProxyHealth::start(
            routes::health_routes(&cfg, &proxy_env),
            cfg.proxy.check_interval,
            &opts.tls,
            Some(Arc::new(move |r, rec| m.proxy.record(r, rec))),
        )
        .map_err(|e| StartupError::Config(format!("configure tunnel-client: {e}")))?
    };
    metrics.proxy.watch(proxy_health.handle());
    let mut info = admin::Info::from_config(&cfg, &instance_id, &loaded.warnings);
    info.health_listen_addr = match &unix_health {
        Some(p) => format!("unix:{}", p.display()),
        None => health_addr.to_string(),
    };
    info.routes = routes::to_json(&net_routes);
    info.proxy_identity_map = routes::identity_map_json(&net_routes);
    let admin = Arc::new(Admin {
        allow_remote: cfg.admin_ui.allow_remote,
        logs: log_buffer,
        activity,
        info,
        bundle: admin::bundle::Inputs::capture(&loaded, &argv, &env),
        harpoon: harpoon_admin,
        proxy_health: Some(proxy_health.handle()),
    });
    let (runtime, handle) = tunnel::start(engine_cfg, opts)
        .map_err(|e| StartupError::Config(format!("configure tunnel-client: {e}")))?;
    let app = Arc::new(App {
        runtime: handle.clone(),
        metrics: metrics.clone(),
        admin,
    });
    let server = match &unix_health {
        #[cfg(unix)]
        Some(path) => HealthServer::start_unix(path, app).map_err(|e| {
            StartupError::Io(format!(
                "--health.unix-socket {}: cannot listen: {e}; fix: choose a path in a writable directory, or remove what is there",
                path.display()
            ))
        })?,
        _ => HealthServer::start(health_addr, app).map_err(|e| {
            StartupError::Io(format!(
                "--health.listen-addr {health_addr}: cannot listen: {e}; fix: choose a free port"
            ))
        })?,
    };
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
    // Freed memory goes back to the OS after bursts, so the resident size stays flat.
    scavenge::spawn();

    log::info!(
        "tunnel-client started: tunnel_id={} tunnel_url={}/v1/tunnel/{} channels={}",
        cfg.control_plane.tunnel_id,
        cfg.control_plane.base_url.trim_end_matches('/'),
        cfg.control_plane.tunnel_id,
        channel_list(&cfg)
    );
    log_harpoon(&cfg);
    if app_harpoon_mcp {
        log::info!(
            "harpoon streamable transport enabled: path={} http_endpoint={base_url}{} (loopback only)",
            admin::harpoon_mcp::PATH,
            admin::harpoon_mcp::PATH
        );
    }
    log::info!("health URL: {base_url} (/healthz, /readyz, /metrics)");
    log::info!("web UI: {base_url}/ui");
    if cfg.admin_ui.allow_remote && !server.addr().ip().is_loopback() {
        log::warn!(
            "--allow-remote-ui: the admin UI and its API (log level, support bundle) answer any client that reaches {}; they have no authentication",
            server.addr()
        );
    }
    if cfg.admin_ui.open_browser && unix_health.is_none() {
        admin::browser::open(format!("{base_url}/ui"));
    }

    let finished = runtime.join();
    signals.close();
    drop(server);
    match finished {
        Ok(abandoned) => {
            log::info!("tunnel-client stopped (abandoned on hard stop: {abandoned})");
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
    let harpoon_polled = c
        .control_plane
        .poll_channels
        .as_ref()
        .is_none_or(|l| l.iter().any(|n| n == "harpoon"));
    if !c.harpoon.targets.is_empty() && harpoon_polled {
        v.push("harpoon(in_memory)".to_string());
    }
    v.sort();
    v.join(",")
}

/// Go's "harpoon enabled" line: what the model can reach, URLs reduced to their origin.
fn log_harpoon(c: &RunConfig) {
    let h = &c.harpoon;
    if h.targets.is_empty() {
        return;
    }
    let targets: Vec<String> = h
        .targets
        .iter()
        .map(|t| {
            let origin = tunnel_core::harpoon::url::HUrl::parse(&t.url)
                .map(|u| u.origin())
                .unwrap_or_else(|_| "(invalid url)".into());
            format!(
                "{{label={} url={origin} desc={:?}}}",
                t.label,
                t.description.as_deref().unwrap_or("")
            )
        })
        .collect();
    log::info!(
        "harpoon enabled: target_count={} allow_plaintext_http={} max_response_bytes={} max_redirects={} transports={} targets=[{}]",
        h.targets.len(),
        h.allow_plaintext_http,
        h.max_response_bytes,
        h.max_redirects,
        if h.additional_transports.iter().any(|t| t == "http-streamable") {
            r#"["in_memory","http_streamable"]"#
        } else {
            r#"["in_memory"]"#
        },
        targets.join(", ")
    );
}
