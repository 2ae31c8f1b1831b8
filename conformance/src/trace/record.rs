//! Recording a live session as a trace (`tunnel-client run --record-trace FILE`).
//!
//! [`Recorder`] is a [`Tap`]: the adapter's driver shows it every action of the engine and
//! every input fed back. It pairs requests with their outcomes and writes one line per
//! finished exchange, secrets redacted ([`super::redact`]). Lines are written as exchanges
//! finish (a slow MCP call is written after a quick poll that started later); replays key
//! lines by kind and command, so order across kinds does not matter. Exchanges still open
//! when the session ends are written as `hang`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use http::HeaderMap;
use tunnel_core::classify::TransportError;
use tunnel_core::engine::{
    Action, BindingKind, CommandId, EngineConfig, HttpResponse, Input, McpEvent, McpOp, PollId,
    PostId,
};
use tunnel_core::tap::{Observed, Tap};

use super::engine::{error_name, trace_config};
use super::format::{Header, Headers, Line, McpLine, PollLine, PostLine, Req, Resp, FORMAT};
use super::record_stdio::StdioRecording;
use super::redact::Redactor;

/// Control-plane request headers worth recording (stable across processes and versions).
const CP_HEADERS: &[&str] = &[
    "authorization",
    "accept",
    "content-type",
    "x-tunnel-client-name",
    "x-tunnel-mcp-server-info",
    "x-tunnel-shard-token",
    "x-client-request-id",
    "openai-organization",
];
/// Response headers that only frame one connection.
const FRAMING: &[&str] = &[
    "connection",
    "content-length",
    "date",
    "keep-alive",
    "transfer-encoding",
];

fn headers_of(h: &HeaderMap, keep: impl Fn(&str) -> bool) -> Headers {
    let mut out = Headers::new();
    for (k, v) in h {
        let name = k.as_str().to_ascii_lowercase();
        if !keep(&name) {
            continue;
        }
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        out.entry(name)
            .and_modify(|e: &mut String| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct OpenMcp {
    line: McpLine,
    started: Instant,
    chunks: Vec<String>,
    head: Option<(u16, Headers)>,
}

struct Inner {
    out: Box<dyn Write + Send>,
    t0: Instant,
    red: Redactor,
    polls: HashMap<PollId, (PollLine, Instant)>,
    posts: HashMap<PostId, (PostLine, Instant)>,
    mcp: HashMap<CommandId, OpenMcp>,
    stdio: StdioRecording,
    failed: bool,
}

/// Writes a redacted trace of a live session.
pub struct Recorder {
    inner: Mutex<Inner>,
}

impl Recorder {
    /// Starts a trace on `out` for an engine configured with `cfg`; `api_key` is redacted
    /// wherever it appears. The header line is written at once.
    pub fn new(
        mut out: Box<dyn Write + Send>,
        name: &str,
        cfg: &EngineConfig,
        api_key: &str,
    ) -> std::io::Result<Recorder> {
        let header = Header {
            format: FORMAT.into(),
            name: name.into(),
            description: "recorded by tunnel-client run --record-trace".into(),
            source: "recorded".into(),
            covers: Vec::new(),
            seed: 7,
            horizon_ms: None,
            timeout_ms: None,
            settle_ms: None,
            skip: Default::default(),
            config: trace_config(cfg),
        };
        let line = serde_json::to_string(&Line::Header(header)).map_err(std::io::Error::other)?;
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(Recorder {
            inner: Mutex::new(Inner {
                out,
                t0: Instant::now(),
                red: Redactor::new(api_key),
                polls: HashMap::new(),
                posts: HashMap::new(),
                mcp: HashMap::new(),
                stdio: StdioRecording::default(),
                failed: false,
            }),
        })
    }
}

impl Inner {
    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.t0).as_millis()).unwrap_or(u64::MAX)
    }

    fn write(&mut self, line: Line) {
        if self.failed {
            return;
        }
        let ok = serde_json::to_string(&line)
            .map_err(std::io::Error::other)
            .and_then(|s| {
                writeln!(self.out, "{s}")?;
                self.out.flush()
            });
        if let Err(e) = ok {
            log::error!("--record-trace: cannot write the trace: {e}; recording stopped");
            self.failed = true;
        }
    }

    fn cp_req(&mut self, method: &str, uri: &http::Uri, h: &HeaderMap, body: Option<&[u8]>) -> Req {
        let headers = headers_of(h, |n| CP_HEADERS.contains(&n));
        let headers = self.red.headers(&headers);
        let mut req = Req {
            method: Some(method.to_string()),
            target: uri.path_and_query().map(|p| self.red.text(p.as_str())),
            headers,
            ..Req::default()
        };
        if let Some(b) = body {
            let t = self.red.text(&text(b));
            req.json = serde_json::from_str(&t).ok();
            if req.json.is_none() {
                req.body = Some(t);
            }
        }
        req
    }

    fn resp(&mut self, r: &HttpResponse) -> Resp {
        let headers = headers_of(&r.headers, |n| !FRAMING.contains(&n));
        Resp {
            status: r.status,
            headers: self.red.headers(&headers),
            body: (!r.body.is_empty()).then(|| self.red.text(&text(&r.body))),
            ..Resp::default()
        }
    }

    fn action(&mut self, at: Instant, a: &Action) {
        let t = Some(self.ms(at));
        match a {
            Action::Poll { id, request, .. } => {
                let req = self.cp_req("GET", request.uri(), request.headers(), None);
                let line = PollLine {
                    t,
                    request: Some(req),
                    ..PollLine::default()
                };
                self.polls.insert(*id, (line, at));
            }
            Action::Post { id, request, .. } => {
                let body = request.body();
                let req = self.cp_req("POST", request.uri(), request.headers(), Some(body));
                let rid = super::core_replay::post_request_id(body).unwrap_or_default();
                let line = PostLine {
                    t,
                    request_id: rid,
                    request: req,
                    ..PostLine::default()
                };
                self.posts.insert(*id, (line, at));
            }
            Action::StartMcp(work) if work.kind == BindingKind::Stdio => self.stdio.submit(work),
            // The startup checks (MCP probe, OAuth discovery) are not commands: a replay
            // does not run them, so their requests are not recorded.
            Action::StartMcp(work)
                if work.cmd == tunnel_core::engine::PROBE_ID
                    || work.cmd == tunnel_core::engine::DISCOVERY_ID => {}
            Action::StartMcp(work) => {
                let (method, headers, body) = match &work.op {
                    McpOp::Send {
                        message, headers, ..
                    } => ("POST", headers, Some(message.get().as_bytes())),
                    McpOp::TerminateSession { headers, .. } => ("DELETE", headers, None),
                    McpOp::Fetch {
                        method, headers, ..
                    } => (method.as_str(), headers, None),
                };
                // Operator static headers (a discovery step carries them in `headers`) are
                // secrets as much as a command's.
                for (k, v) in headers.iter() {
                    if super::redact::is_sensitive(k.as_str()) {
                        self.red
                            .header_value(k.as_str(), &String::from_utf8_lossy(v.as_bytes()));
                    }
                }
                let h = headers_of(headers, |_| true);
                let req = Req {
                    method: Some(method.into()),
                    headers: self.red.headers(&h),
                    body: body.map(|b| self.red.text(&text(b))),
                    ..Req::default()
                };
                let line = McpLine {
                    t,
                    request_id: self.red.text(&work.request_id),
                    channel: Some(work.channel.to_string()),
                    request: Some(req),
                    ..McpLine::default()
                };
                self.mcp.insert(
                    work.cmd,
                    OpenMcp {
                        line,
                        started: at,
                        chunks: Vec::new(),
                        head: None,
                    },
                );
            }
            Action::CancelMcp { cmd } => self.close_mcp(at, *cmd, None, true),
            Action::CancelPoll { id } => {
                if let Some((mut line, _)) = self.polls.remove(id) {
                    line.hang = true;
                    self.write(Line::Poll(line));
                }
            }
            // The child's side is recorded from the stdio observations.
            Action::FetchMetadata { .. } | Action::Stdio { .. } => {}
        }
    }

    fn close_mcp(
        &mut self,
        at: Instant,
        cmd: CommandId,
        error: Option<TransportError>,
        hang: bool,
    ) {
        let Some(open) = self.mcp.remove(&cmd) else {
            return;
        };
        let mut line = open.line;
        line.elapsed_ms = Some(
            u64::try_from(at.saturating_duration_since(open.started).as_millis())
                .unwrap_or(u64::MAX),
        );
        match open.head {
            None => {
                if let Some(e) = error {
                    line.error = Some(error_name(e).into());
                } else {
                    line.hang = hang;
                }
            }
            Some((status, headers)) => {
                let chunks: Vec<String> = open.chunks.iter().map(|c| self.red.text(c)).collect();
                line.response = Some(Resp {
                    status,
                    headers,
                    chunks: (!chunks.is_empty()).then_some(chunks),
                    ..Resp::default()
                });
                line.body_error = error.map(|e| error_name(e).into());
                line.hang = hang && error.is_none();
            }
        }
        self.write(Line::Mcp(line));
    }

    /// An input the engine was given, in the trace's terms.
    fn input(&mut self, at: Instant, input: &Input) {
        match input {
            Input::Poll { id, result, .. } => {
                let Some((mut line, started)) = self.polls.remove(id) else {
                    return;
                };
                let elapsed = self.ms(at).saturating_sub(self.ms(started));
                line.elapsed_ms = Some(elapsed);
                match result {
                    Ok(r) => {
                        // Replayed as recorded: a long poll that waited for its commands
                        // answers as late, so commands arrive in the order and with the
                        // gaps the client saw (what a child is asked when matters).
                        line.delay_ms = elapsed;
                        if r.status == 200 {
                            self.red.learn_poll_body(&r.body);
                        }
                        line.response = Some(self.resp(r));
                    }
                    Err(e) => line.error = Some(error_name(*e).into()),
                }
                self.write(Line::Poll(line));
            }
            Input::Post { id, result, .. } => {
                let Some((mut line, started)) = self.posts.remove(id) else {
                    return;
                };
                line.elapsed_ms = Some(self.ms(at).saturating_sub(self.ms(started)));
                match result {
                    Ok(r) => line.response = Some(self.resp(r)),
                    Err(e) => {
                        line.error = Some(error_name(e.error).into());
                        line.error_written = Some(e.written);
                    }
                }
                self.write(Line::Post(line));
            }
            Input::Metadata { .. }
            | Input::Binding { .. }
            | Input::Drain { .. }
            | Input::Stdio { .. } => {}
            Input::Mcp { cmd, event } => self.mcp_event(at, *cmd, event),
        }
    }

    fn mcp_event(&mut self, at: Instant, cmd: CommandId, event: &McpEvent) {
        match event {
            McpEvent::Head { status, headers } => self.mcp_head(cmd, *status, headers),
            McpEvent::Body(chunk) => self.mcp_body(cmd, chunk),
            McpEvent::End => self.close_mcp(at, cmd, None, false),
            // The trace keeps the pieces of a stream; a whole response is one piece.
            McpEvent::Response {
                status,
                headers,
                body,
            } => {
                self.mcp_head(cmd, *status, headers);
                self.mcp_body(cmd, body);
                self.close_mcp(at, cmd, None, false);
            }
            McpEvent::Error(error) => self.close_mcp(at, cmd, Some(*error), false),
            McpEvent::Output(_) => {}
        }
    }

    fn mcp_head(&mut self, cmd: CommandId, status: u16, headers: &HeaderMap) {
        let h = headers_of(headers, |n| !FRAMING.contains(&n));
        let h = self.red.headers(&h);
        if let Some(open) = self.mcp.get_mut(&cmd) {
            open.head = Some((status, h));
        }
    }

    fn mcp_body(&mut self, cmd: CommandId, chunk: &[u8]) {
        if let Some(open) = self.mcp.get_mut(&cmd) {
            open.chunks.push(text(chunk));
        }
    }

    fn observe(&mut self, at: Instant, what: Observed<'_>) {
        match what {
            Observed::Action(a) => self.action(at, a),
            Observed::Input(input) => self.input(at, input),
            Observed::StdioWritten { channel, line } => {
                let t = self.ms(at);
                self.stdio.written(at, t, channel.as_str(), line);
            }
            Observed::StdioRead { channel, bytes } => self.stdio.read(at, channel.as_str(), bytes),
            Observed::StdioExited { channel } => self.stdio.exited(at, channel.as_str()),
        }
        let ready = self.stdio.ready();
        self.write_stdio(ready);
    }

    /// Writes stdio lines, redacted like everything else (they carry payloads).
    fn write_stdio(&mut self, lines: Vec<super::stdio_script::StdioLine>) {
        for line in lines {
            let redacted = serde_json::to_string(&line)
                .ok()
                .map(|s| self.red.text(&s))
                .and_then(|s| serde_json::from_str(&s).ok());
            if let Some(l) = redacted {
                self.write(Line::Stdio(l));
            }
        }
    }

    fn finish(&mut self) {
        let stdio = self.stdio.finish();
        self.write_stdio(stdio);
        let now = Instant::now();
        let cmds: Vec<CommandId> = self.mcp.keys().copied().collect();
        for c in cmds {
            self.close_mcp(now, c, None, true);
        }
        let polls: Vec<PollId> = self.polls.keys().copied().collect();
        for id in polls {
            if let Some((mut line, _)) = self.polls.remove(&id) {
                line.hang = true;
                self.write(Line::Poll(line));
            }
        }
        let posts: Vec<PostId> = self.posts.keys().copied().collect();
        for id in posts {
            if let Some((mut line, _)) = self.posts.remove(&id) {
                line.error = Some("canceled".into());
                self.write(Line::Post(line));
            }
        }
        let _ = self.out.flush();
    }
}

impl Tap for Recorder {
    fn observe(&self, at: Instant, what: Observed<'_>) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(at, what);
    }

    fn finish(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finish();
    }
}
