//! Starting, observing, draining and stopping the blocking runtime.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{BindingError, Engine, EngineConfig, Served, Stats, Status};
use tunnel_core::proxy_route::{ExplicitProxy, RouteKind};
use tunnel_core::snapshot::DriverState;

use crate::binding::McpBinding;
use crate::control_plane::Limits;
use crate::driver::{Driver, ToDriver};
use crate::egress;
use crate::entropy;
use crate::http_timing::{self, HttpClientKind};
use crate::mcp_http::HttpBinding;
use crate::options::{RuntimeOptions, StartError, StdioTarget};
use crate::pool::{Pool, Threads};
use crate::probe;
use crate::status::{Published, Snapshot};
use crate::stdio::StdioProcs;
use crate::tls;

/// How long `join` waits for I/O threads after the driver stopped. They were interrupted
/// (agents shut down), so this only covers a connect in progress.
const THREADS_GRACE: Duration = Duration::from_secs(5);

/// How a runtime ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Commands abandoned by a hard stop (a drain reports its own in the `Drained` event).
    pub abandoned: usize,
    /// False if some I/O thread was still running when `join` gave up waiting for it.
    pub threads_stopped: bool,
}

/// A cheap, cloneable handle for other threads: the signal handler (drain) and the admin
/// server (status). Never blocks on the driver.
#[derive(Clone)]
pub struct RuntimeHandle {
    tx: Sender<ToDriver>,
    published: Published,
    trust: Arc<tls::TrustReport>,
}

impl RuntimeHandle {
    /// Starts a graceful drain: stop polling, finish what was taken, post, then stop.
    /// Idempotent; callable from any thread.
    pub fn begin_drain(&self) {
        let _ = self.tx.send(ToDriver::Drain);
    }

    /// The latest published snapshot (shared: cloning the `Arc` is all a reader pays).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.published.get()
    }

    /// The trust store every agent of this runtime uses (`/api/system`).
    pub fn trust_report(&self) -> &tls::TrustReport {
        &self.trust
    }

    pub fn status(&self) -> Status {
        self.published.get().status.clone()
    }

    /// `Ok` when ready to serve; otherwise the reason (401/403 names the fix).
    pub fn readiness(&self) -> Result<(), String> {
        self.published.get().readiness.clone()
    }

    /// The engine's counters as of the last published batch.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.published.get().stats)
    }

    /// stdio children restarted so far (all channels).
    pub fn stdio_restarts(&self) -> u64 {
        self.published.get().stdio_restarts
    }
}

/// The running tunnel client: a driver thread owning the engine, a poller thread, a poster
/// pool and an MCP worker pool. Dropping it stops everything without waiting for a drain.
pub struct Runtime {
    handle: RuntimeHandle,
    driver: Option<JoinHandle<usize>>,
    threads: Threads,
}

/// The validated targets: HTTP endpoints and stdio commands, one per binding.
type Checked = (HashMap<ChannelName, http::Uri>, Vec<StdioTarget>);

/// The core's binding check (`tunnel_core::engine::check_bindings`); in-process bindings
/// are not run by this adapter.
fn check_bindings(cfg: &EngineConfig, opts: &RuntimeOptions) -> Result<Checked, StartError> {
    let targets = tunnel_core::engine::Targets {
        http: opts
            .mcp_targets
            .iter()
            .map(|t| (&t.channel, t.url.as_str()))
            .collect(),
        stdio: opts.stdio_targets.iter().map(|t| &t.channel).collect(),
        ..Default::default()
    };
    let served = tunnel_core::engine::check_bindings(cfg, &targets).map_err(|e| match e {
        BindingError::Unsupported(..) => StartError::Unsupported(e.to_string()),
        e => StartError::Target(e.to_string()),
    })?;
    let http = served
        .into_iter()
        .filter_map(|(ch, s)| match s {
            Served::Http(uri) => Some((ch, uri)),
            _ => None,
        })
        .collect();
    Ok((http, opts.stdio_targets.clone()))
}

impl Runtime {
    /// Validates the bindings, builds the agents and the engine, and starts the threads.
    /// The first poll and the metadata fetch go out at once.
    pub fn start(
        mut engine_config: EngineConfig,
        opts: RuntimeOptions,
    ) -> Result<Runtime, StartError> {
        let (targets, stdio_targets) = check_bindings(&engine_config, &opts)?;
        if engine_config.instance_id.is_empty()
            || engine_config.instance_id == entropy::PLACEHOLDER_INSTANCE_ID
        {
            engine_config.instance_id = entropy::instance_id();
        }
        let trust = tls::Trust::load(&opts.tls)?;
        let timing = |client| {
            opts.http_observer
                .clone()
                .map(|observer| http_timing::Timing { client, observer })
        };
        let env = egress::env_of(&opts.tls);
        let cp_url = engine_config.base_url.to_string();
        let cp_route = egress::route(
            RouteKind::ControlPlane,
            "control-plane",
            &cp_url,
            opts.tls
                .control_plane_proxy
                .clone()
                .map(|url| ExplicitProxy {
                    url,
                    source: "control-plane.http-proxy".into(),
                }),
            None,
            &env,
        );
        let cp_way = egress::way(&cp_route, &cp_url, None)?;
        log::debug!("control-plane route: {cp_route:?}");
        let cp_client = opts
            .tls
            .control_plane_client_cert
            .as_ref()
            .map(tls::load_client_cert)
            .transpose()?;
        let cp_config = |proxy| {
            tls::control_plane_with(
                &trust,
                cp_client.clone(),
                proxy,
                timing(HttpClientKind::ControlPlane),
            )
        };
        // Separate pools: the long poll holds its connection for the whole wait, and a
        // drain must be able to interrupt it without touching posts in flight.
        let poll_agent = egress::agent(cp_config, &cp_way);
        let cp_agent = egress::agent(cp_config, &cp_way);

        let max_concurrent = engine_config.max_concurrent.max(1);
        let threads = Threads::default();
        let mcp_pool = Pool::new(
            "tunnel-mcp",
            max_concurrent,
            max_concurrent * 2 + 4,
            threads.clone(),
        );
        // Posting concurrency follows the configuration (pool::post_concurrency): one
        // POST per held command at most, so a slow round trip costs threads, not
        // throughput. Temporaries linger: restarting them for every burst of responses
        // showed up in the profile.
        let (post_core, post_max) =
            crate::pool::post_concurrency(engine_config.max_inflight, max_concurrent, opts.posters);
        let posters = Pool::new("tunnel-post", post_core, post_max, threads.clone())
            .linger(crate::pool::POSTER_LINGER);
        let mut bindings: HashMap<ChannelName, Arc<dyn McpBinding>> = HashMap::new();
        let mut probe_targets = Vec::new();
        let main_url = targets.get(&ChannelName::main()).cloned();
        for (channel, uri) in targets {
            let t = opts
                .mcp_targets
                .iter()
                .find(|t| t.channel == channel)
                .ok_or_else(|| StartError::Target(format!("channel {channel}: no target")))?;
            let explicit = t.proxy.clone().or_else(|| {
                opts.tls.mcp_proxy.clone().map(|url| ExplicitProxy {
                    url,
                    source: "mcp.http-proxy".into(),
                })
            });
            let unix = t.unix_socket.as_deref();
            let route = egress::route(
                RouteKind::McpChannel,
                channel.as_str(),
                &t.url,
                explicit.clone(),
                unix,
                &env,
            );
            let way = egress::way(&route, &t.url, unix)?;
            log::debug!("MCP route: {route:?}");
            // Through a proxy (or a socket) a TCP connect to the host proves nothing: probe
            // only direct targets.
            if matches!(way, egress::Way::Direct) {
                probe_targets.push(probe::ProbeTarget {
                    channel: channel.clone(),
                    uri: uri.clone(),
                });
            }
            let cert = t.client_cert.as_ref().or(opts.tls.mcp_client_cert.as_ref());
            let client = cert.map(tls::load_client_cert).transpose()?;
            let config = |client: &Option<ureq::tls::ClientCert>| {
                let client = client.clone();
                let trust = &trust;
                let timing = timing(HttpClientKind::Mcp);
                let connect = opts.mcp_connect_timeout;
                move |proxy| tls::mcp_with(trust, client.clone(), proxy, connect, timing.clone())
            };
            // One agent (connection pool) per binding.
            let agent = egress::agent(config(&client), &way);
            let foreign = egress::Foreign {
                agent: egress::agent(config(&None), &egress::Way::Direct),
                explicit,
                env: env.clone(),
                name: channel.as_str().to_string(),
            };
            bindings.insert(
                channel,
                Arc::new(HttpBinding::new(
                    uri,
                    agent,
                    foreign,
                    mcp_pool.clone(),
                    opts.mcp_connection_ttl,
                )),
            );
        }

        // Created even without configured targets: OAuth discovery may register some.
        if let Some(server) = engine_config.harpoon.as_ref() {
            // The `harpoon` channel's hops are plain fetches; this binding only performs
            // them (its own URL is never used), through an agent whose connections go only
            // to addresses the core's address guard accepts.
            let config = tls::harpoon_config_timed(
                &trust,
                &opts.tls,
                opts.mcp_connect_timeout,
                timing(HttpClientKind::Mcp),
            )?;
            let agent = crate::resolver::guarded_agent(config, harpoon_guard(&server.registry));
            let channel: ChannelName = tunnel_core::engine::HARPOON
                .parse()
                .map_err(|_| StartError::Target("harpoon channel name".into()))?;
            // Every hop is "another origin" of the placeholder URL, so it goes through the
            // guarded agent with the Harpoon proxy (or direct: Harpoon ignores the
            // environment's proxy variables, as `--harpoon.http-proxy` documents).
            let foreign = crate::egress::Foreign {
                agent: agent.clone(),
                explicit: opts.tls.harpoon_proxy.clone().map(|url| {
                    tunnel_core::proxy_route::ExplicitProxy {
                        url,
                        source: "harpoon.http-proxy".into(),
                    }
                }),
                env: tunnel_core::proxy_route::ProxyEnv::default(),
                name: tunnel_core::engine::HARPOON.to_string(),
            };
            let binding = HttpBinding::new(
                http::Uri::from_static("http://harpoon.invalid/"),
                agent,
                foreign,
                mcp_pool.clone(),
                opts.mcp_connection_ttl,
            );
            // Targets with `unix-socket=`: their socket, never the proxy.
            #[cfg(unix)]
            let binding = binding.with_unix(Arc::new(harpoon_unix_agents(
                &trust,
                &opts.tls,
                opts.mcp_connect_timeout,
            )?));
            bindings.insert(channel, Arc::new(binding));
        }

        let mut engine = Engine::new(engine_config, entropy::seed(), Instant::now())
            .map_err(StartError::Engine)?;
        engine.set_tap(opts.tap.clone());
        if let Some(url) = main_url {
            engine.set_oauth_target(url);
        }
        let main_socket = opts
            .mcp_targets
            .iter()
            .find(|t| t.channel == ChannelName::main())
            .and_then(|t| t.unix_socket.as_ref())
            .map(|p| p.display().to_string());
        engine.set_oauth_unix_socket(main_socket);
        if let Some(checks) = opts.startup_checks {
            engine.start_checks(Instant::now(), checks);
        }
        let published = Published::new(Snapshot::starting(&engine, Instant::now()));

        let (tx, rx) = mpsc::channel::<ToDriver>();
        let limits = Limits {
            ok_body: opts.max_poll_body,
            other_body: opts.max_error_body,
        };
        // stdio children start before polling does, so a missing program fails the start
        // (and the first commands find a running child). Bindings dropped on an error path
        // below stop their children.
        let mut stdio = HashMap::new();
        for t in &stdio_targets {
            let (procs, pid) = StdioProcs::start(t, &opts.stdio, tx.clone(), &threads)?;
            let (ttl, seed) = (opts.mcp_connection_ttl, entropy::seed());
            engine.add_stdio(
                Instant::now(),
                t.channel.clone(),
                &opts.stdio,
                ttl,
                seed,
                pid,
            );
            stdio.insert(t.channel.clone(), procs);
        }
        // One long poll, a few more while the service has a backlog (the engine decides;
        // extra threads linger so a backlog does not start a thread per poll).
        let pollers = Pool::new(
            "tunnel-poll",
            1,
            tunnel_core::engine::MAX_CONCURRENT_POLLS,
            threads.clone(),
        )
        .linger(crate::pool::POSTER_LINGER);
        if !probe_targets.is_empty() {
            let (tx, published) = (tx.clone(), published.clone());
            threads
                .spawn("tunnel-probe", move || {
                    probe::run(probe_targets, tx, published)
                })
                .map_err(StartError::Spawn)?;
        }
        let driver = Driver {
            engine,
            rx,
            tx: tx.clone(),
            pollers,
            poll_agent,
            cp_agent,
            posters,
            bindings,
            stdio,
            limits,
            drain_timeout: opts.drain_timeout,
            observer: opts.observer.clone(),
            tap: opts.tap.clone(),
            published: published.clone(),
            running: HashMap::new(),
            state: DriverState::default(),
        };
        let handle = std::thread::Builder::new()
            .name("tunnel-driver".into())
            .spawn(move || driver.run())
            .map_err(StartError::Spawn)?;
        Ok(Runtime {
            handle: RuntimeHandle {
                tx,
                published,
                trust: Arc::new(
                    (**trust.report())
                        .clone()
                        .with_binding_certs(&opts.mcp_targets),
                ),
            },
            driver: Some(handle),
            threads,
        })
    }

    /// A handle for other threads (signal handler, admin server).
    pub fn handle(&self) -> RuntimeHandle {
        self.handle.clone()
    }

    /// See [`RuntimeHandle::begin_drain`].
    pub fn begin_drain(&self) {
        self.handle.begin_drain();
    }

    pub fn status(&self) -> Status {
        self.handle.status()
    }

    pub fn readiness(&self) -> Result<(), String> {
        self.handle.readiness()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.handle.snapshot()
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.handle.stats()
    }

    pub fn stdio_restarts(&self) -> u64 {
        self.handle.stdio_restarts()
    }

    /// Waits until the engine has finished draining (call [`Runtime::begin_drain`] first, or
    /// this waits for a drain some other thread starts), then for the I/O threads (bounded).
    pub fn join(mut self) -> Result<Finished, String> {
        self.wait_driver()
    }

    fn wait_driver(&mut self) -> Result<Finished, String> {
        let Some(h) = self.driver.take() else {
            return Ok(Finished {
                abandoned: 0,
                threads_stopped: true,
            });
        };
        let abandoned = h
            .join()
            .map_err(|_| "the driver thread panicked".to_string())?;
        let threads_stopped = self.threads.wait_idle(THREADS_GRACE);
        if !threads_stopped {
            log::warn!("some I/O threads were still running {THREADS_GRACE:?} after shutdown; leaving them");
        }
        Ok(Finished {
            abandoned,
            threads_stopped,
        })
    }
}

impl Drop for Runtime {
    /// Stops at once (no drain): the driver abandons what is in flight and interrupts every
    /// connection. Waits for the driver thread only — it never blocks on I/O — not for the
    /// I/O threads.
    fn drop(&mut self) {
        if let Some(h) = self.driver.take() {
            let _ = self.handle.tx.send(ToDriver::Stop);
            let _ = h.join();
        }
    }
}

/// The address guard of the Harpoon agent (`tunnel_core::harpoon::guard::AddressPolicy`).
fn harpoon_guard(registry: &tunnel_core::harpoon::Registry) -> crate::resolver::AddressPolicy {
    let policy = tunnel_core::harpoon::guard::AddressPolicy::new(registry);
    Arc::new(move |uri: &http::Uri, ip: std::net::IpAddr| {
        policy.check(uri.host().unwrap_or(""), ip)
    })
}

/// The agents of Harpoon hops to targets behind a unix socket: the Harpoon settings
/// without a proxy.
#[cfg(unix)]
fn harpoon_unix_agents(
    trust: &tls::Trust,
    tls: &crate::options::TlsOptions,
    connect_timeout: std::time::Duration,
) -> Result<crate::unix::UnixAgents, StartError> {
    let mut direct = tls.clone();
    direct.harpoon_proxy = None;
    let config = tls::harpoon_config_timed(trust, &direct, connect_timeout, None)?;
    Ok(crate::unix::UnixAgents::new(config))
}

/// [`harpoon_agent`]'s counterpart for targets behind a unix socket.
#[cfg(unix)]
pub fn harpoon_unix_agent_set(
    tls: &crate::options::TlsOptions,
    connect_timeout: std::time::Duration,
) -> Result<crate::unix::UnixAgents, StartError> {
    let trust = tls::Trust::load(tls)?;
    harpoon_unix_agents(&trust, tls, connect_timeout)
}

/// The agent the `harpoon` channel's hops use (Harpoon proxy, CA bundle, no redirects, the
/// address guard on every resolved address), for a host that serves Harpoon outside the
/// engine too (`--harpoon.additional-transport http-streamable`).
pub fn harpoon_agent(
    tls: &crate::options::TlsOptions,
    registry: &tunnel_core::harpoon::Registry,
    connect_timeout: std::time::Duration,
) -> Result<ureq::Agent, StartError> {
    let trust = tls::Trust::load(tls)?;
    let config = tls::harpoon_config_timed(&trust, tls, connect_timeout, None)?;
    Ok(crate::resolver::guarded_agent(
        config,
        harpoon_guard(registry),
    ))
}
