//! The trace format: JSON lines, one exchange per line (see `docs/traces.md`).
//!
//! A trace is what the client exchanged with the world — long polls and response POSTs with
//! the control plane, requests to MCP targets — with the answers it got. Replaying it means
//! giving a client the same answers and checking it asks the same questions: the request
//! parts recorded in a line are the expectation, the response parts are the script.
//!
//! This module only knows the format; it does not depend on tunnel-core.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::stdio_script::StdioLine;

/// The value of `format` in the header line.
pub const FORMAT: &str = "tunnel-trace/1";

/// Header names are compared case-insensitively; traces write them in lower case.
pub type Headers = BTreeMap<String, String>;

/// One line of a trace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    Header(Header),
    Poll(PollLine),
    Mcp(McpLine),
    Post(PostLine),
    Stdio(StdioLine),
    Expect(Expect),
}

/// The first line: what the trace is and how the client was configured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub format: String,
    /// The scenario; authored traces are stored as `<name>.jsonl`.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `authored` or `recorded`.
    #[serde(default = "default_source")]
    pub source: String,
    /// Catalogue items of `go-runtime.md` §11 (or design rules) the trace covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covers: Vec<String>,
    /// Jitter seed for the virtual-time replay.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Virtual time after which the core replay stops (default 10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_ms: Option<u64>,
    /// Real time a live replay may take before it reports what is missing (default 15 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// How long a live replay keeps watching after every scripted exchange happened, to
    /// catch requests the client must not make (default 300 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_ms: Option<u64>,
    /// Replays that must skip this trace, with the reason (e.g. `{"smol": "…"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skip: BTreeMap<String, String>,
    pub config: TraceConfig,
}

fn default_source() -> String {
    "authored".into()
}

fn default_seed() -> u64 {
    7
}

/// The client settings a replay must use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TraceConfig {
    pub tunnel_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url_path: String,
    #[serde(default = "default_inflight")]
    pub max_inflight: usize,
    #[serde(default = "default_concurrent")]
    pub max_concurrent: usize,
    #[serde(default = "default_poll_timeout")]
    pub poll_timeout_ms: u64,
    #[serde(default = "default_guardrail")]
    pub poll_guardrail_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_channels: Option<Vec<String>>,
    #[serde(default = "default_bindings")]
    pub bindings: Vec<BindingSpec>,
    /// Operator headers for the MCP requests of every HTTP binding (`--mcp.extra-headers`).
    /// Authored traces only: the recorder never writes operator headers (they are secrets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mcp_extra_headers: BTreeMap<String, String>,
    /// Operator headers for OAuth discovery requests (`--mcp.discovery-extra-headers`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub discovery_extra_headers: BTreeMap<String, String>,
}

fn default_inflight() -> usize {
    20
}
fn default_concurrent() -> usize {
    10
}
fn default_poll_timeout() -> u64 {
    30_000
}
fn default_guardrail() -> u64 {
    5_000
}
fn default_bindings() -> Vec<BindingSpec> {
    vec![BindingSpec {
        channel: "main".into(),
        kind: "http".into(),
    }]
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            tunnel_id: "tunnel_0123456789abcdef0123456789abcdef".into(),
            url_path: String::new(),
            max_inflight: default_inflight(),
            max_concurrent: default_concurrent(),
            poll_timeout_ms: default_poll_timeout(),
            poll_guardrail_ms: default_guardrail(),
            poll_channels: None,
            bindings: default_bindings(),
            mcp_extra_headers: BTreeMap::new(),
            discovery_extra_headers: BTreeMap::new(),
        }
    }
}

/// One MCP binding: its channel and transport (`http`, `stdio`, `in_process`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BindingSpec {
    pub channel: String,
    pub kind: String,
}

/// A request as the client sent it. Only what is written is compared: a header listed here
/// must be sent with this value; `absent_headers` must not be sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Req {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path and query (control plane only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: Headers,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent_headers: Vec<String>,
    /// Body text, compared byte for byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Body as JSON, compared as JSON values (key order and spacing do not matter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
}

/// A response the client received.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resp {
    pub status: u16,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: Headers,
    /// Body text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Body as JSON (written compactly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// Body as separate pieces, delivered one by one (SSE streams). Wins over `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<String>>,
}

impl Resp {
    /// The body pieces, in delivery order (one piece for `body`/`json`, none for neither).
    pub fn pieces(&self) -> Vec<Vec<u8>> {
        if let Some(c) = &self.chunks {
            return c.iter().map(|s| s.as_bytes().to_vec()).collect();
        }
        if let Some(b) = &self.body {
            return vec![b.as_bytes().to_vec()];
        }
        if let Some(j) = &self.json {
            return vec![j.to_string().into_bytes()];
        }
        Vec::new()
    }

    /// The whole body.
    pub fn body_bytes(&self) -> Vec<u8> {
        self.pieces().concat()
    }
}

/// A long poll and its answer. The n-th poll line answers the client's n-th poll.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PollLine {
    /// When the request was sent, in ms since the session began (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<u64>,
    /// How long the exchange took when recorded (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Req>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Resp>,
    /// The exchange failed at the transport level (a `transport_error_kind` spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The service never answered (the client gave up, or the session ended first).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hang: bool,
    /// The replay answers after this long.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
}

/// One exchange with an MCP target, for the command `request_id`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct McpLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Req>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Resp>,
    /// Failed before a response head (`connection_refused`, `eof`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The body failed after the pieces of `response` (`unexpected_eof`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_error: Option<String>,
    /// The target never answered (or never finished: after the pieces of `response`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hang: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
    /// Pause before each piece after the first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub chunk_delay_ms: u64,
}

/// One response POST attempt for `request_id` and the service's answer (default: 200).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PostLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    pub request_id: String,
    pub request: Req,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Resp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// With `error`: whether the request had been written (notifications are re-sent only
    /// when it had not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_written: Option<bool>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
}

/// A rule a replay checks besides the exchanges themselves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Expect {
    /// `no_mcp` / `no_post` (`request_id`): the client must not contact the MCP target for
    /// the command / post anything for it. `poll_gap_at_least` / `poll_gap_at_most`
    /// (`after_poll`, `ms`): time from the start of poll n to the start of poll n+1.
    /// `polls_at_most` (`value`): no more polls than this within the replay.
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_poll: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u64>,
    /// Replays that do not check this rule (timing rules in real time, for instance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Keys allowed per line kind: a misspelt key is an error, not a silently ignored field.
fn allowed_keys(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "header" => &[
            "kind",
            "format",
            "name",
            "description",
            "source",
            "covers",
            "seed",
            "horizon_ms",
            "timeout_ms",
            "settle_ms",
            "skip",
            "config",
        ],
        "poll" => &[
            "kind",
            "t",
            "elapsed_ms",
            "request",
            "response",
            "error",
            "hang",
            "delay_ms",
        ],
        "mcp" => &[
            "kind",
            "t",
            "elapsed_ms",
            "request_id",
            "channel",
            "request",
            "response",
            "error",
            "body_error",
            "hang",
            "delay_ms",
            "chunk_delay_ms",
        ],
        "post" => &[
            "kind",
            "t",
            "elapsed_ms",
            "request_id",
            "request",
            "response",
            "error",
            "error_written",
            "delay_ms",
        ],
        "stdio" => &[
            "kind",
            "t",
            "request_id",
            "channel",
            "receive",
            "send",
            "delay_ms",
        ],
        "expect" => &[
            "kind",
            "rule",
            "request_id",
            "after_poll",
            "ms",
            "value",
            "only",
        ],
        _ => return None,
    })
}

const REQ_KEYS: &[&str] = &[
    "method",
    "target",
    "headers",
    "absent_headers",
    "body",
    "json",
];
const RESP_KEYS: &[&str] = &["status", "headers", "body", "json", "chunks"];
const CONFIG_KEYS: &[&str] = &[
    "tunnel_id",
    "url_path",
    "max_inflight",
    "max_concurrent",
    "poll_timeout_ms",
    "poll_guardrail_ms",
    "poll_channels",
    "bindings",
    "mcp_extra_headers",
    "discovery_extra_headers",
];

/// A trace that could not be read.
#[derive(Debug)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn check_keys(v: &Value, allowed: &[&str], what: &str) -> Result<(), String> {
    if let Some(obj) = v.as_object() {
        if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("unknown key {k:?} in {what}"));
        }
    }
    Ok(())
}

/// A whole trace, split by line kind (each list in file order).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub header: Header,
    pub polls: Vec<PollLine>,
    pub mcp: Vec<McpLine>,
    pub posts: Vec<PostLine>,
    /// Exchanges with stdio children (every channel), in file order.
    pub stdio: Vec<StdioLine>,
    pub expects: Vec<Expect>,
}

impl Trace {
    pub fn new(header: Header) -> Self {
        Trace {
            header,
            polls: Vec::new(),
            mcp: Vec::new(),
            posts: Vec::new(),
            stdio: Vec::new(),
            expects: Vec::new(),
        }
    }

    /// Parses JSON-lines text; blank lines and lines starting with `//` are skipped.
    pub fn parse(text: &str) -> Result<Trace, ParseError> {
        let mut header = None;
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let s = raw.trim();
            if s.is_empty() || s.starts_with("//") {
                continue;
            }
            let err = |message: String| ParseError { line: n, message };
            let v: Value = serde_json::from_str(s).map_err(|e| err(format!("not JSON: {e}")))?;
            let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
            let allowed =
                allowed_keys(kind).ok_or_else(|| err(format!("unknown line kind {kind:?}")))?;
            check_keys(&v, allowed, kind).map_err(err)?;
            for part in ["request", "response"] {
                if let Some(p) = v.get(part) {
                    let keys = if part == "request" {
                        REQ_KEYS
                    } else {
                        RESP_KEYS
                    };
                    check_keys(p, keys, part).map_err(err)?;
                }
            }
            if let Some(c) = v.get("config") {
                check_keys(c, CONFIG_KEYS, "config").map_err(err)?;
            }
            let line: Line = serde_json::from_value(v).map_err(|e| err(e.to_string()))?;
            match line {
                Line::Header(h) => {
                    if header.is_some() || !lines.is_empty() {
                        return Err(err("the header must be the first line, once".into()));
                    }
                    if h.format != FORMAT {
                        return Err(err(format!("format {:?}, expected {FORMAT:?}", h.format)));
                    }
                    header = Some(h);
                }
                other => lines.push((n, other)),
            }
        }
        let header = header.ok_or(ParseError {
            line: 1,
            message: "no header line".into(),
        })?;
        let mut t = Trace::new(header);
        for (n, line) in lines {
            match line {
                Line::Poll(p) => t.polls.push(p),
                Line::Mcp(m) => t.mcp.push(m),
                Line::Post(p) => {
                    if p.request.json.is_none() {
                        return Err(ParseError {
                            line: n,
                            message: "a post line needs request.json (the posted body)".into(),
                        });
                    }
                    t.posts.push(p)
                }
                Line::Stdio(s) => t.stdio.push(s),
                Line::Expect(e) => t.expects.push(e),
                Line::Header(_) => {}
            }
        }
        Ok(t)
    }

    pub fn load(path: &Path) -> Result<Trace, ParseError> {
        let text = std::fs::read_to_string(path).map_err(|e| ParseError {
            line: 0,
            message: format!("{}: {e}", path.display()),
        })?;
        Trace::parse(&text)
    }

    /// Post lines for one command, in order.
    pub fn posts_for(&self, request_id: &str) -> Vec<&PostLine> {
        self.posts
            .iter()
            .filter(|p| p.request_id == request_id)
            .collect()
    }

    /// MCP lines for one command, in order.
    pub fn mcp_for(&self, request_id: &str) -> Vec<&McpLine> {
        self.mcp
            .iter()
            .filter(|m| m.request_id == request_id)
            .collect()
    }

    /// The channels of the stdio bindings.
    pub fn stdio_channels(&self) -> impl Iterator<Item = &str> {
        self.header
            .config
            .bindings
            .iter()
            .filter(|b| b.kind == "stdio")
            .map(|b| b.channel.as_str())
    }

    /// Stdio lines of one channel, in order.
    pub fn stdio_for(&self, channel: &str) -> Vec<StdioLine> {
        self.stdio
            .iter()
            .filter(|s| s.channel.as_deref().unwrap_or("main") == channel)
            .cloned()
            .collect()
    }

    /// Whether a replay called `replay` checks `e`.
    pub fn applies(e: &Expect, replay: &str) -> bool {
        e.only.is_empty() || e.only.iter().any(|o| o == replay)
    }

    /// The JSON-lines text (header, polls, MCP exchanges, posts, expectations).
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        let mut push = |l: Line| {
            if let Ok(s) = serde_json::to_string(&l) {
                out.push_str(&s);
                out.push('\n');
            }
        };
        push(Line::Header(self.header.clone()));
        for p in &self.polls {
            push(Line::Poll(p.clone()));
        }
        for m in &self.mcp {
            push(Line::Mcp(m.clone()));
        }
        for s in &self.stdio {
            push(Line::Stdio(s.clone()));
        }
        for p in &self.posts {
            push(Line::Post(p.clone()));
        }
        for e in &self.expects {
            push(Line::Expect(e.clone()));
        }
        out
    }
}

/// Every `*.jsonl` file of a directory, sorted by name.
pub fn trace_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The kept suite: `conformance/traces/`.
pub fn suite_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces")
}

/// Expands `<http-date:+Ns>` in a header value to the HTTP-date `N` seconds after `wall`,
/// so a trace can carry a `Retry-After` date that stays in the future whenever it is replayed.
pub fn expand_header_value(v: &str, wall: std::time::SystemTime) -> String {
    if let Some(rest) = v
        .strip_prefix("<http-date:")
        .and_then(|r| r.strip_suffix('>'))
    {
        let (sign, num) = rest.split_at(rest.len().min(1));
        let secs: i64 = num.trim_end_matches('s').parse().unwrap_or(0);
        let secs = if sign == "-" { -secs } else { secs };
        let at = if secs >= 0 {
            wall + std::time::Duration::from_secs(secs.unsigned_abs())
        } else {
            wall - std::time::Duration::from_secs(secs.unsigned_abs())
        };
        return httpdate::fmt_http_date(at);
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"{"kind":"header","format":"tunnel-trace/1","name":"mini","config":{"tunnel_id":"tunnel_0123456789abcdef0123456789abcdef"}}
// a comment
{"kind":"poll","response":{"status":204}}
{"kind":"post","request_id":"r1","request":{"json":{"request_id":"r1"}}}
{"kind":"expect","rule":"no_mcp","request_id":"r2"}
"#;

    #[test]
    fn parses_and_round_trips() {
        let t = Trace::parse(MINI).unwrap();
        assert_eq!(t.polls.len(), 1);
        assert_eq!(t.posts_for("r1").len(), 1);
        assert_eq!(t.header.config.max_inflight, 20);
        let again = Trace::parse(&t.to_jsonl()).unwrap();
        assert_eq!(t, again);
    }

    #[test]
    fn misspelt_keys_are_errors() {
        let bad = MINI.replace(r#""status":204"#, r#""stauts":204"#);
        let e = Trace::parse(&bad).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let bad = MINI.replace(r#""rule":"no_mcp""#, r#""rule":"no_mcp","extra":1"#);
        assert!(Trace::parse(&bad).is_err());
    }

    #[test]
    fn http_dates_are_expanded_relative_to_the_replay() {
        let wall = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        assert_eq!(
            expand_header_value("<http-date:+2s>", wall),
            "Fri, 15 Jan 2027 08:00:02 GMT"
        );
        assert_eq!(expand_header_value("5", wall), "5");
    }
}
