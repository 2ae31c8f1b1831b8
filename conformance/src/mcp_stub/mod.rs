//! Demo MCP server over Streamable HTTP, for `tunnel-client dev mcp-stub`,
//! `run --embedded-mcp-stub`, tests and demos.
//!
//! It speaks both protocol eras on one endpoint: 2025-06-18 / 2025-11-25 with `initialize`
//! and `Mcp-Session-Id`, and sessionless 2026-07-28 with `server/discover` and the
//! `Mcp-Method` header. Tools: `server_info`, `echo`, `uppercase` (as the Go stub), plus
//! `slow` (progress notifications over SSE) and `fail` (a JSON-RPC error with a custom code)
//! so the tunnel's streaming and error paths can be exercised. It also serves RFC 9728
//! protected-resource metadata and RFC 8414 authorization-server metadata so OAuth discovery
//! through the tunnel succeeds; no authorization is enforced.

mod http;
mod rpc;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::emulator::server::HttpServer;

/// Stub settings. `Default` matches the Go stub: loopback ephemeral port, `mcp-stub` 0.1.0.
#[derive(Debug, Clone)]
pub struct StubConfig {
    pub listen_addr: SocketAddr,
    pub server_name: String,
    pub server_version: String,
    /// MCP endpoint path (default `/mcp`).
    pub path: String,
    /// `authorization_servers` in the protected-resource metadata. `None` advertises the stub
    /// itself (which serves AS metadata but implements no OAuth endpoints, like the Go stub);
    /// `Some(vec![])` advertises none.
    pub authorization_servers: Option<Vec<String>>,
    /// Serve the OAuth metadata documents at all. `false` makes every well-known path 404,
    /// like an MCP server that uses no OAuth (a valid setup the tunnel must accept).
    pub oauth_metadata: bool,
    /// Legacy-era requests other than `initialize` must carry a known `Mcp-Session-Id`
    /// (400 when missing, 404 when unknown), as the spec says.
    pub require_session: bool,
    /// Answer every request as SSE when the client accepts it (by default only calls that
    /// produce progress notifications stream).
    pub sse_responses: bool,
    pub workers: usize,
    pub max_body_bytes: usize,
}

impl Default for StubConfig {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            server_name: "mcp-stub".into(),
            server_version: "0.1.0".into(),
            path: "/mcp".into(),
            authorization_servers: None,
            oauth_metadata: true,
            require_session: true,
            sse_responses: false,
            workers: 16,
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// One HTTP request the stub received.
#[derive(Debug, Clone)]
pub struct StubRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// JSON-RPC `method` of the body, when there is one.
    pub rpc_method: Option<String>,
    pub received_at: Instant,
}

impl StubRequest {
    /// First value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::emulator::server::header_in(&self.headers, name)
    }
}

#[derive(Default)]
pub(crate) struct StubState {
    /// Session id → negotiated protocol version.
    pub sessions: HashMap<String, String>,
    pub requests: Vec<StubRequest>,
    pub shutdown: bool,
}

pub(crate) struct StubCtx {
    pub cfg: StubConfig,
    pub state: Mutex<StubState>,
    pub cv: Condvar,
    pub addr: std::sync::OnceLock<SocketAddr>,
}

impl StubCtx {
    pub(crate) fn lock(&self) -> MutexGuard<'_, StubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn listener(&self) -> SocketAddr {
        self.addr
            .get()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

/// A running stub. Dropping it shuts it down.
pub struct McpStub {
    ctx: Arc<StubCtx>,
    server: Option<HttpServer>,
}

impl McpStub {
    pub fn start(cfg: StubConfig) -> io::Result<McpStub> {
        let mut cfg = cfg;
        if !cfg.path.starts_with('/') {
            cfg.path.insert(0, '/');
        }
        let ctx = Arc::new(StubCtx {
            cfg,
            state: Mutex::new(StubState::default()),
            cv: Condvar::new(),
            addr: std::sync::OnceLock::new(),
        });
        let hctx = Arc::clone(&ctx);
        let server = HttpServer::start(
            ctx.cfg.listen_addr,
            ctx.cfg.workers,
            "mcp-stub",
            Arc::new(move |rq| http::handle(&hctx, rq)),
        )?;
        let _ = ctx.addr.set(server.addr());
        Ok(McpStub {
            ctx,
            server: Some(server),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.ctx.listener()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The MCP endpoint URL (`<base>/mcp`).
    pub fn url(&self) -> String {
        format!("{}{}", self.base_url(), self.ctx.cfg.path)
    }

    pub fn config(&self) -> &StubConfig {
        &self.ctx.cfg
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<StubRequest> {
        self.ctx.lock().requests.clone()
    }

    /// Waits until at least `n` requests were received; `None` on timeout.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> Option<Vec<StubRequest>> {
        let deadline = Instant::now() + timeout;
        let mut g = self.ctx.lock();
        loop {
            if g.requests.len() >= n {
                return Some(g.requests.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            g = self
                .ctx
                .cv
                .wait_timeout(g, (deadline - now).min(Duration::from_millis(250)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Live legacy-era session ids.
    pub fn sessions(&self) -> Vec<String> {
        self.ctx.lock().sessions.keys().cloned().collect()
    }

    /// Stops serving; in-progress `slow` calls end early. Idempotent.
    pub fn shutdown(&mut self) {
        self.ctx.lock().shutdown = true;
        self.ctx.cv.notify_all();
        if let Some(mut s) = self.server.take() {
            s.stop(Duration::from_secs(5));
        }
    }
}

impl Drop for McpStub {
    fn drop(&mut self) {
        self.shutdown();
    }
}
