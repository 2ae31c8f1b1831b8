//! Control-plane emulator: an independent implementation of `spec/openapi.json` (poll,
//! response, metadata), the tunnel management routes `admin tunnels` uses (`admin`), plus
//! an MCP ingress that turns ordinary MCP HTTP requests into tunnel
//! commands, so a real tunnel-client can be exercised end to end on one machine.
//!
//! It is deliberately written without tunnel-core types: as a test oracle it must not share
//! the client's mistakes. One implementation serves the integration tests, the benchmarks
//! and `tunnel-client dev control-plane`.
//!
//! ```no_run
//! use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
//! use std::time::Duration;
//! let emu = Emulator::start(EmulatorConfig::default()).unwrap();
//! let id = emu.enqueue(CommandSpec::jsonrpc(serde_json::json!(
//!     {"jsonrpc":"2.0","id":1,"method":"tools/list"})));
//! // ... point a tunnel-client at emu.base_url() ...
//! let posts = emu.wait_terminal(&id, Duration::from_secs(5));
//! ```

mod admin;
mod command;
mod faults;
mod ingress;
mod latency;
mod poll;
mod response;
mod router;
pub(crate) mod server;
pub(crate) mod sockdrop;
mod state;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use admin::TunnelRecord;
pub use command::{CommandSpec, TERMINAL_TYPES};
pub use faults::{Endpoint, Fault};
pub use latency::{parse_duration, Latency};
pub use state::{Handout, PostedResponse, RecordedRequest};

use server::HttpServer;
use state::State;

/// Emulator settings. `Default` gives a loopback emulator on an ephemeral port.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where to listen (default `127.0.0.1:0`).
    pub listen_addr: SocketAddr,
    /// Path prefix in front of `/v1/...` (the client's `control-plane.url-path`), e.g.
    /// `/chatgpttunnelgateway/dev/us`. Empty for none. Control-plane routes require it when
    /// set; the MCP ingress answers with and without it.
    pub url_path: String,
    /// The one tunnel this emulator serves; any other id gets 404 (400 when malformed).
    pub tunnel_id: String,
    pub tunnel_name: String,
    pub tunnel_description: String,
    /// Expected `Authorization: Bearer <api_key>`.
    pub api_key: String,
    /// Key of the tunnel management routes (`/v1/tunnels*`); distinct from `api_key`, which
    /// those routes refuse with 403 `tunnel_management_permission_required`.
    pub admin_key: String,
    /// Organization the served tunnel is attached to in the management API.
    pub organization_id: String,
    /// Most ids per principal family a created/updated tunnel may have (more → 400
    /// `tunnel_principal_limit_exceeded`).
    pub max_principals: usize,
    /// Long-poll wait when the client sends no `timeout_ms`.
    pub default_poll_wait: Duration,
    /// Upper bound on any long-poll wait.
    pub max_poll_wait: Duration,
    /// Commands per poll when the client sends no `limit`.
    pub default_limit: usize,
    /// Largest request body read (larger → 413).
    pub max_body_bytes: usize,
    /// How long an MCP ingress request waits for the client's terminal response (→ 504).
    pub ingress_timeout: Duration,
    /// `response_timeout` put on commands created by the MCP ingress (`None`: omitted).
    pub ingress_response_timeout: Option<String>,
    /// Worker threads. Each outstanding long poll or ingress request holds one, so size this
    /// for the concurrency you drive (benchmarks: at least concurrent MCP clients + pollers).
    pub workers: usize,
    /// Answer every request with `Connection: close` (no keep-alive). Off by default; trace
    /// replays turn it on to stay clear of a tiny_http thread-pool stall (see
    /// `server::HttpServer::start_closing`).
    pub close_connections: bool,
    /// Added round-trip time on polls that carry commands and on response POSTs (see
    /// [`Latency`]); changeable later with [`Emulator::set_latency`]. Each delayed request
    /// holds a worker for the delay: size `workers` for rate × latency.
    pub latency: Latency,
    /// Behave as the Go client's `tunnel-client dev proxy` local service where it differs
    /// from the hosted one: the MCP ingress drops Go's 40 request headers (and the names
    /// `Connection` nominates) instead of this emulator's list, and rewrites
    /// `resource_metadata` in `WWW-Authenticate` answers to the local well-known URL.
    pub dev_proxy: bool,
    /// Keep at most about this many recorded requests and handouts (the oldest go first),
    /// and forget each ingress command's posts once its MCP caller has its answer: for a
    /// long-running local service (`dev proxy`). `None` (tests): keep everything.
    pub history_limit: Option<usize>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            url_path: String::new(),
            tunnel_id: "tunnel_emulator000000000000000000000000".into(),
            tunnel_name: "Emulated tunnel".into(),
            tunnel_description: "tunnel-conformance control-plane emulator".into(),
            api_key: "emulator-api-key".into(),
            admin_key: "emulator-admin-key".into(),
            organization_id: "org-emulator".into(),
            max_principals: 10,
            default_poll_wait: Duration::from_secs(20),
            max_poll_wait: Duration::from_secs(60),
            default_limit: 25,
            max_body_bytes: 8 * 1024 * 1024,
            ingress_timeout: Duration::from_secs(60),
            ingress_response_timeout: Some("60s".into()),
            workers: 32,
            close_connections: false,
            latency: Latency::default(),
            dev_proxy: false,
            history_limit: None,
        }
    }
}

/// What request handlers share.
pub(crate) struct Ctx {
    pub cfg: EmulatorConfig,
    pub state: State,
    /// Listener address, filled in once bound.
    pub addr: std::sync::OnceLock<SocketAddr>,
    /// Normalised `url_path`: empty, or `/a/b` without a trailing slash.
    pub prefix: String,
    /// Added latency (starts as `cfg.latency`).
    pub latency: latency::Delayer,
}

impl Ctx {
    pub(crate) fn listener(&self) -> SocketAddr {
        self.addr
            .get()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

/// A running emulator. Dropping it shuts it down.
pub struct Emulator {
    ctx: Arc<Ctx>,
    server: Option<HttpServer>,
}

impl Emulator {
    /// Binds and starts serving.
    pub fn start(cfg: EmulatorConfig) -> io::Result<Emulator> {
        let trimmed = cfg.url_path.trim_matches('/');
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        let ctx = Arc::new(Ctx {
            state: State::new(),
            addr: std::sync::OnceLock::new(),
            prefix,
            latency: latency::Delayer::new(cfg.latency),
            cfg,
        });
        ctx.state.lock().history_limit = ctx.cfg.history_limit;
        ctx.state.lock().admin.tunnels.push(TunnelRecord {
            id: ctx.cfg.tunnel_id.clone(),
            name: ctx.cfg.tunnel_name.clone(),
            description: ctx.cfg.tunnel_description.clone(),
            creator: "emulator".into(),
            organization_ids: vec![ctx.cfg.organization_id.clone()],
            workspace_ids: Vec::new(),
            tenant_ids: Vec::new(),
        });
        let handler_ctx = Arc::clone(&ctx);
        let server = HttpServer::start_closing(
            ctx.cfg.listen_addr,
            ctx.cfg.workers,
            "emulator",
            Arc::new(move |rq| router::handle(&handler_ctx, rq)),
            ctx.cfg.close_connections,
        )?;
        let _ = ctx.addr.set(server.addr());
        Ok(Emulator {
            ctx,
            server: Some(server),
        })
    }

    /// Changes the added latency from now on (the jitter generator restarts at its seed).
    pub fn set_latency(&self, latency: Latency) {
        self.ctx.latency.set(latency);
    }

    /// The added latency in force.
    pub fn latency(&self) -> Latency {
        self.ctx.latency.get()
    }

    /// `http://127.0.0.1:<port>` (no path prefix).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.ctx.listener()
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.ctx.cfg
    }

    pub fn tunnel_id(&self) -> &str {
        &self.ctx.cfg.tunnel_id
    }

    pub fn api_key(&self) -> &str {
        &self.ctx.cfg.api_key
    }

    /// The admin key of the tunnel management routes.
    pub fn admin_key(&self) -> &str {
        &self.ctx.cfg.admin_key
    }

    /// Every tunnel of the management API (the served one first, unless deleted).
    pub fn tunnels(&self) -> Vec<TunnelRecord> {
        self.ctx.state.lock().admin.tunnels.clone()
    }

    /// Base URL plus the configured path prefix: where `/v1/tunnels/...` lives.
    pub fn control_plane_url(&self) -> String {
        format!("{}{}", self.base_url(), self.ctx.prefix)
    }

    /// The MCP ingress URL for the tunnel (`…/v1/mcp/<tunnel_id>`).
    pub fn mcp_url(&self) -> String {
        format!("{}/v1/mcp/{}", self.base_url(), self.ctx.cfg.tunnel_id)
    }

    /// Queues a command for the next poll(s); returns its request id.
    pub fn enqueue(&self, spec: CommandSpec) -> String {
        router::enqueue(&self.ctx, &spec)
    }

    /// Commands queued and not yet handed out.
    pub fn pending_commands(&self) -> usize {
        self.ctx.state.lock().queue.len()
    }

    /// Every command handed out by a poll so far, in order, with the poller that took it.
    /// A request id appears at most once: each command goes to exactly one poller.
    pub fn handouts(&self) -> Vec<Handout> {
        self.ctx.state.lock().handouts.clone()
    }

    /// Accepted posts for a request id, in arrival order.
    pub fn responses_for(&self, request_id: &str) -> Vec<PostedResponse> {
        state::posts_for(&self.ctx.state.lock(), request_id)
    }

    /// How many commands polls have handed out so far (without copying them).
    pub fn handout_count(&self) -> usize {
        self.ctx.state.lock().handouts.len()
    }

    /// How many accepted posts were terminal so far (without copying them).
    pub fn terminal_count(&self) -> usize {
        self.ctx.state.lock().terminal_posts
    }

    /// The request ids that have a terminal post.
    pub fn answered_ids(&self) -> std::collections::HashSet<String> {
        self.ctx.state.lock().terminal_ids.clone()
    }

    /// Every accepted post, in arrival order.
    pub fn responses(&self) -> Vec<PostedResponse> {
        self.ctx.state.lock().posted.clone()
    }

    /// Waits for a terminal post for `request_id`; returns every accepted post for it (any
    /// notifications first), or `None` on timeout.
    pub fn wait_terminal(
        &self,
        request_id: &str,
        timeout: Duration,
    ) -> Option<Vec<PostedResponse>> {
        self.ctx.state.wait_until(Instant::now() + timeout, |g| {
            state::has_terminal(g, request_id).then(|| state::posts_for(g, request_id))
        })
    }

    /// Waits until at least `n` requests have been received whose path ends with `suffix`
    /// (e.g. `/poll`); returns them, or `None` on timeout.
    pub fn wait_requests(
        &self,
        suffix: &str,
        n: usize,
        timeout: Duration,
    ) -> Option<Vec<RecordedRequest>> {
        self.ctx.state.wait_until(Instant::now() + timeout, |g| {
            let hits: Vec<_> = g
                .requests
                .iter()
                .filter(|r| r.path.ends_with(suffix))
                .cloned()
                .collect();
            (hits.len() >= n).then_some(hits)
        })
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.ctx.state.lock().requests.clone()
    }

    /// Polls (`GET …/poll`) received so far.
    pub fn polls(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/poll"))
            .collect()
    }

    /// Things the client did that the contract (or the Go client's documented behaviour)
    /// says it should not: missing `Accept`, posts after a terminal, a wrong shard token, a
    /// channel not echoed, a missing `X-Client-Request-Id`, … Rejected requests are listed too.
    pub fn violations(&self) -> Vec<String> {
        self.ctx.state.lock().violations.clone()
    }

    /// Queues a one-shot fault for the next request to `endpoint`.
    pub fn script(&self, endpoint: Endpoint, fault: Fault) {
        self.ctx
            .state
            .lock()
            .faults
            .entry(endpoint)
            .or_default()
            .push_back(fault);
    }

    /// Queues a one-shot fault for the next poll.
    pub fn script_poll(&self, fault: Fault) {
        self.script(Endpoint::Poll, fault);
    }

    /// Queues a one-shot fault for the next response POST.
    pub fn script_response(&self, fault: Fault) {
        self.script(Endpoint::Response, fault);
    }

    /// Queues a one-shot fault for the next response POST naming `request_id` (after any
    /// fault queued with [`Emulator::script_response`]). `Fault::Delay(Duration::ZERO)`
    /// lets one attempt through unchanged.
    pub fn script_response_for(&self, request_id: &str, fault: Fault) {
        self.ctx
            .state
            .lock()
            .response_faults
            .entry(request_id.to_string())
            .or_default()
            .push_back(fault);
    }

    /// Makes the emulator accept responses for a command it did not hand out itself (a
    /// trace replay scripts whole poll bodies with [`Fault::Reply`]). `text` is the
    /// command's JSON; returns its request id.
    pub fn issue_raw(&self, text: &str) -> String {
        router::issue_raw(&self.ctx, text)
    }

    /// Queues the same fault for the next `n` requests to `endpoint`.
    pub fn script_repeat(&self, endpoint: Endpoint, fault: Fault, n: usize) {
        for _ in 0..n {
            self.script(endpoint, fault.clone());
        }
    }

    /// Holds polls (`true`) before faults, checks or answers apply to them, until released
    /// (`false`), for at most 30 s each. A replay uses it to keep the first commands back
    /// until its scripted stdio children are up, so real process start-up time does not
    /// reorder what a trace says happens.
    pub fn hold_polls(&self, held: bool) {
        self.ctx.state.lock().polls_held = held;
        self.ctx.state.notify();
    }

    /// Faults still waiting for a request.
    pub fn pending_faults(&self, endpoint: Endpoint) -> usize {
        self.ctx
            .state
            .lock()
            .faults
            .get(&endpoint)
            .map_or(0, |q| q.len())
    }

    pub fn clear_faults(&self) {
        self.ctx.state.lock().faults.clear();
    }

    /// Stops serving: pending waits end (polls get 503), workers are joined (bounded), and
    /// open connections are closed. Idempotent.
    pub fn shutdown(&mut self) {
        self.ctx.state.lock().shutdown = true;
        self.ctx.state.notify();
        if let Some(mut s) = self.server.take() {
            s.stop(Duration::from_secs(5));
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}
