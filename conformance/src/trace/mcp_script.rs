//! A Streamable HTTP server that plays a trace's MCP lines for one channel.
//!
//! Each incoming request is matched to the first unused MCP line of the channel whose
//! request it fits (same method and, when the line records one, the same body); the line's
//! answer is then played back: the head, the body pieces one by one (chunked, flushed, with
//! the line's pauses), then the end — or a dropped connection (`error`, `body_error`), or
//! silence until the replay ends (`hang`). Requests no line accounts for are logged and
//! answered 599 so that the replay reports them.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::check::Seen;
use super::format::{expand_header_value, McpLine};
use crate::emulator::server::{read_body, respond, ChunkedStream, Head, HttpServer};
use crate::emulator::sockdrop;

struct Ctx {
    lines: Vec<McpLine>,
    /// Per line: the JSON-RPC message its command carried (from the poll bodies), which
    /// identifies the request when the line records no body of its own.
    implied: Vec<Option<serde_json::Value>>,
    used: Mutex<Vec<bool>>,
    /// (request id of the matched line, what was received).
    log: Mutex<Vec<(Option<String>, Seen)>>,
    t0: Instant,
    stop: Mutex<bool>,
    addr: std::sync::OnceLock<SocketAddr>,
}

impl Ctx {
    fn stopped(&self) -> bool {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `d`, or less when the server stops.
    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && !self.stopped() {
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
        }
    }
}

/// A scripted MCP server for one channel. Dropping it stops it.
pub struct ScriptedMcp {
    ctx: Arc<Ctx>,
    server: Option<HttpServer>,
}

/// Longest a `hang` holds a request (the replay ends long before).
const HANG: Duration = Duration::from_secs(60);

impl ScriptedMcp {
    /// Serves `lines` (the channel's MCP lines, in trace order) on a loopback port.
    /// `t0` is when the replay began (for the `at_ms` of what is logged).
    /// `messages` maps request ids to the JSON-RPC message of their command.
    pub fn start(
        lines: Vec<McpLine>,
        messages: &std::collections::HashMap<String, serde_json::Value>,
        t0: Instant,
    ) -> io::Result<ScriptedMcp> {
        let n = lines.len();
        let implied = lines
            .iter()
            .map(|l| messages.get(&l.request_id).cloned())
            .collect();
        let ctx = Arc::new(Ctx {
            lines,
            implied,
            used: Mutex::new(vec![false; n]),
            log: Mutex::new(Vec::new()),
            t0,
            stop: Mutex::new(false),
            addr: std::sync::OnceLock::new(),
        });
        let h = Arc::clone(&ctx);
        // One request per connection: see `HttpServer::start_closing` for why.
        let server = HttpServer::start_closing(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            8,
            "mcp-script",
            Arc::new(move |rq| handle(&h, rq)),
            true,
        )?;
        let _ = ctx.addr.set(server.addr());
        Ok(ScriptedMcp {
            ctx,
            server: Some(server),
        })
    }

    /// The MCP endpoint URL.
    pub fn url(&self) -> String {
        format!(
            "http://{}/mcp",
            self.ctx
                .addr
                .get()
                .copied()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
        )
    }

    /// Lines not played yet.
    pub fn unused(&self) -> usize {
        self.ctx
            .used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|u| !**u)
            .count()
    }

    /// What was received: (request id of the matched line, or `None`, and the request).
    pub fn log(&self) -> Vec<(Option<String>, Seen)> {
        self.ctx
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn stop(&mut self) {
        *self.ctx.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        if let Some(mut s) = self.server.take() {
            s.stop(Duration::from_secs(2));
        }
    }
}

impl Drop for ScriptedMcp {
    fn drop(&mut self) {
        self.stop();
    }
}

fn fits(line: &McpLine, implied: Option<&serde_json::Value>, seen: &Seen) -> bool {
    let req = line.request.clone().unwrap_or_default();
    let method = req.method.as_deref().unwrap_or("POST");
    if !method.eq_ignore_ascii_case(&seen.method) {
        return false;
    }
    if req.target.as_ref().is_some_and(|t| *t != seen.target) {
        return false;
    }
    let same_json = |j: &serde_json::Value| {
        serde_json::from_slice::<serde_json::Value>(&seen.body).is_ok_and(|v| &v == j)
    };
    match (&req.body, &req.json, implied) {
        (Some(b), _, _) => b.as_bytes() == seen.body.as_slice(),
        (None, Some(j), _) => same_json(j),
        (None, None, Some(j)) if seen.method == "POST" => same_json(j),
        _ => true,
    }
}

fn handle(ctx: &Ctx, mut rq: tiny_http::Request) {
    let head = Head::of(&rq);
    let body = read_body(&mut rq, 16 * 1024 * 1024).unwrap_or_default();
    let at_ms = u64::try_from(ctx.t0.elapsed().as_millis()).unwrap_or(u64::MAX);
    let seen = Seen {
        method: head.method.clone(),
        target: head.url.clone(),
        headers: head
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        body,
        at_ms,
    };
    let line = {
        let mut used = ctx.used.lock().unwrap_or_else(|e| e.into_inner());
        let i = (0..ctx.lines.len())
            .find(|&i| !used[i] && fits(&ctx.lines[i], ctx.implied[i].as_ref(), &seen));
        if let Some(i) = i {
            used[i] = true;
        }
        i.map(|i| ctx.lines[i].clone())
    };
    ctx.log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((line.as_ref().map(|l| l.request_id.clone()), seen));
    let Some(line) = line else {
        respond(rq, 599, &[], b"no trace line matches this request");
        return;
    };
    let listener = ctx.addr.get().copied();
    ctx.sleep(Duration::from_millis(line.delay_ms));
    if line.error.is_some() {
        if let Some(l) = listener {
            crate::emulator::server::drop_connection(rq, l);
        }
        return;
    }
    let Some(resp) = &line.response else {
        ctx.sleep(HANG);
        return;
    };
    let wall = std::time::SystemTime::now();
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), expand_header_value(v, wall)))
        .collect();
    let pieces = resp.pieces();
    let streamed = pieces.len() > 1 || line.hang || line.body_error.is_some();
    if !streamed {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        respond(rq, resp.status, &h, &pieces.concat());
        return;
    }
    if line.body_error.is_some() && pieces.len() <= 1 {
        // A body cut short of its Content-Length.
        let peer = rq.remote_addr().copied();
        let mut w = rq.into_writer();
        let body = pieces.concat();
        let mut text = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", resp.status);
        for (k, v) in &headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len() + 64));
        let _ = io::Write::write_all(&mut w, text.as_bytes());
        let _ = io::Write::write_all(&mut w, &body);
        let _ = io::Write::flush(&mut w);
        if let Some(l) = listener {
            sockdrop::shutdown_matching(l, peer);
        }
        return;
    }
    let peer = rq.remote_addr().copied();
    let Ok(mut stream) = ChunkedStream::start(rq, resp.status, &headers) else {
        return;
    };
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            ctx.sleep(Duration::from_millis(line.chunk_delay_ms));
        }
        if stream.send(p).is_err() {
            return;
        }
    }
    if line.body_error.is_some() {
        if let Some(l) = listener {
            sockdrop::shutdown_matching(l, peer);
        }
        return;
    }
    if line.hang {
        ctx.sleep(HANG);
        return;
    }
    let _ = stream.finish();
}
