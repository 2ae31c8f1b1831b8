//! Invariants checked by the fuzz targets, shared with `core/tests/fuzz_corpus.rs`, which
//! replays the kept corpus on stable Rust (CI has no nightly guarantee).
//!
//! Each check panics when an invariant is violated; "does not panic" alone is the weakest of
//! them. Inputs that carry parameters (bounds, split points) take them from their first
//! bytes, so the fuzzer explores those too and a saved input replays exactly.
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use tunnel_core::http_head::{parse_head, HeadProgress, HeadReader};
use tunnel_core::ndjson::{encode_line, Frame, LineFramer};
use tunnel_core::retry_after::{parse_retry_after, RETRY_AFTER_CAP};
use tunnel_core::sse::{SseDecoder, SseEvent};
use tunnel_core::timeout::{parse_duration_literal, parse_response_timeout};

/// Splits `data` into (bound, cut point, payload). The bound is large for half the inputs
/// (so that event content is exercised) and tiny for the other half (so that the size
/// limits are).
fn params(data: &[u8]) -> (usize, usize, &[u8]) {
    match data {
        [b, c0, c1, rest @ ..] => {
            let bound = if *b < 128 {
                1 << 16
            } else {
                usize::from(b & 127)
            };
            let cut = usize::from(u16::from_le_bytes([*c0, *c1])) % (rest.len() + 1);
            (bound, cut, rest)
        }
        _ => (1 << 16, 0, data),
    }
}

fn sse_run(bound: usize, pieces: &[&[u8]]) -> (Vec<SseEvent>, bool) {
    let mut decoder = SseDecoder::new(bound);
    let mut out = Vec::new();
    let mut failed = false;
    for piece in pieces {
        failed |= decoder.push(piece, &mut out).is_err();
    }
    failed |= decoder.finish(&mut out).is_err();
    (out, failed)
}

/// SSE: one-shot, split at a data-derived point, and byte-at-a-time decoding agree; no
/// event's data exceeds the bound.
pub fn check_sse(data: &[u8]) {
    let (bound, cut, input) = params(data);
    let whole = sse_run(bound, &[input]);
    let (a, b) = input.split_at(cut);
    assert_eq!(sse_run(bound, &[a, b]), whole, "split at {cut} differs");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(sse_run(bound, &bytes), whole, "byte-at-a-time differs");
    for event in &whole.0 {
        assert!(event.data.len() <= bound, "event data over the bound");
        assert!(
            event.event.as_deref() != Some(""),
            "empty event type must be None"
        );
    }
}

fn frames_run(bound: usize, pieces: &[&[u8]]) -> Vec<Frame> {
    let mut framer = LineFramer::new(bound);
    let mut out = Vec::new();
    for piece in pieces {
        framer.push(piece, &mut out);
    }
    framer.finish(&mut out);
    out
}

/// stdio framing: any split gives the same frames; lines are bounded, single-line and not
/// blank; re-encoding the lines frames back to the same lines.
pub fn check_stdio_frames(data: &[u8]) {
    let (bound, cut, input) = params(data);
    let whole = frames_run(bound, &[input]);
    let (a, b) = input.split_at(cut);
    assert_eq!(frames_run(bound, &[a, b]), whole, "split at {cut} differs");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(frames_run(bound, &bytes), whole, "byte-at-a-time differs");

    let mut reencoded = Vec::new();
    let mut lines = Vec::new();
    for frame in &whole {
        match frame {
            Frame::Line(line) => {
                assert!(line.len() <= bound, "line over the bound");
                assert!(!line.contains(&b'\n'), "line contains a newline");
                // Only one trailing CR is stripped (as by line readers in general): a line
                // may still end with CR when it ended with two.
                assert!(
                    line.iter().any(|b| !matches!(b, b' ' | b'\t' | b'\r')),
                    "blank line delivered"
                );
                // A line may still contain a bare CR in the middle; only CR-free lines
                // can be re-encoded.
                if let Ok(encoded) = encode_line(line) {
                    reencoded.extend(encoded);
                    lines.push(frame.clone());
                }
            }
            Frame::Oversized { len } => assert!(*len > bound, "oversized frame within bound"),
        }
    }
    assert_eq!(
        frames_run(bound, &[&reencoded]),
        lines,
        "re-encoded lines differ"
    );
}

/// `response_timeout` (and `Retry-After`, which shares the shape of the problem): accepted
/// strings are exactly digits + unit within Go's range, the JSON path agrees with the string
/// path, and the value survives a round trip through its nanosecond spelling.
pub fn check_response_timeout(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(d) = parse_duration_literal(&text) {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let unit = text.get(digits..).unwrap_or_default();
        assert!(digits > 0, "accepted without digits: {text:?}");
        assert!(
            ["ns", "us", "ms", "s", "m", "h"].contains(&unit),
            "unit {unit:?}"
        );
        assert!(d.as_nanos() <= i64::MAX as u128, "over Go's maximum");
        let nanos = format!("{}ns", d.as_nanos());
        assert_eq!(
            parse_duration_literal(&nanos),
            Some(d),
            "round trip via {nanos}"
        );
    }

    // The same text as a JSON string decodes to the same answer ...
    let json = serde_json::to_string(&*text).unwrap_or_default();
    if let Ok(raw) = serde_json::value::RawValue::from_string(json) {
        assert_eq!(
            parse_response_timeout(Some(&raw)),
            parse_duration_literal(&text)
        );
    }
    // ... and raw bytes that happen to be JSON never panic; non-strings mean no deadline.
    if let Ok(raw) = serde_json::from_slice::<Box<serde_json::value::RawValue>>(data) {
        let got = parse_response_timeout(Some(&raw));
        match serde_json::from_str::<String>(raw.get()) {
            Ok(s) => assert_eq!(got, parse_duration_literal(&s)),
            Err(_) => assert_eq!(got, None),
        }
    }

    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    if let Some(d) = parse_retry_after(&text, now) {
        assert!(d <= RETRY_AFTER_CAP, "Retry-After over the cap");
    }
}

/// Poll bodies: bytes → envelope → engine. The engine gets `data` as the body of a 200
/// poll and is driven to quiescence (every MCP exchange answered, every POST accepted).
/// Invariants: the engine's verdict on the body matches `decode_poll_body`; every POST body
/// is a JSON object naming a polled `request_id` and its channel; each command gets at most
/// one terminal POST; each MCP exchange belongs to a polled command; nothing is left in
/// flight once everything was answered.
pub fn check_poll_frames(data: &[u8]) {
    use std::collections::{HashMap, HashSet};
    use std::time::Instant;

    use tunnel_core::channel::ChannelName;
    use tunnel_core::engine::{
        Action, Binding, BindingKind, Engine, EngineConfig, Event, HttpResponse, McpOp, McpOutput,
        Terminal,
    };
    use tunnel_core::wire::command::decode_poll_body;

    let decoded = decode_poll_body(data);

    let mut cfg = EngineConfig::new(
        http::Uri::from_static("https://cp.invalid"),
        "tunnel_fuzz",
        "fuzz-key",
    );
    // Large enough that every command of one poll is dispatched at once.
    cfg.max_inflight = 10_000;
    cfg.max_concurrent = 10_000;
    if let Ok(tools) = ChannelName::from_wire(Some("tools")) {
        cfg.bindings.push(Binding {
            channel: tools,
            kind: BindingKind::Stdio,
            extra_headers: Vec::new(),
        });
    }
    let t0 = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let Ok(mut engine) = Engine::new(cfg, 7, t0) else {
        panic!("the fuzz configuration must be valid");
    };

    let first_poll = loop {
        match engine.poll_action() {
            Some(Action::Poll { id, .. }) => break id,
            Some(_) => continue,
            None => panic!("a fresh engine must poll"),
        }
    };
    engine.handle_poll_response(
        t0,
        wall,
        first_poll,
        Ok(HttpResponse {
            status: 200,
            headers: http::HeaderMap::new(),
            body: data.to_vec().into(),
        }),
    );

    // A repeated request_id in one batch is dropped as a duplicate: the first one the
    // engine accepts counts (unknown command types are skipped before that).
    let mut polled: HashMap<String, String> = HashMap::new();
    if let Ok(batch) = &decoded {
        for c in &batch.commands {
            if matches!(
                c.kind,
                tunnel_core::wire::command::CommandKind::Unknown { .. }
            ) {
                continue;
            }
            polled
                .entry(c.request_id.clone())
                .or_insert_with(|| c.channel.to_string());
        }
    }
    let mut terminals: HashSet<String> = HashSet::new();
    let mut verdict = None;
    let now = t0 + Duration::from_millis(1);
    let ok_result = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
    for _round in 0..10_000 {
        let mut progressed = false;
        while let Some(event) = engine.poll_event() {
            match event {
                Event::PollSucceeded { .. } => verdict = Some(true),
                Event::PollFailed { .. } if verdict.is_none() => verdict = Some(false),
                _ => {}
            }
        }
        while let Some(action) = engine.poll_action() {
            progressed = true;
            match action {
                Action::StartMcp(work) => {
                    assert!(
                        polled.contains_key(&work.request_id),
                        "MCP work for a command that was not polled"
                    );
                    let terminal = match work.op {
                        McpOp::Send {
                            expects_response: true,
                            ..
                        } => Terminal::JsonRpc {
                            json: serde_json::value::RawValue::from_string(ok_result.into())
                                .unwrap_or_else(|_| unreachable!()),
                            status: 200,
                            headers: Default::default(),
                        },
                        McpOp::Send { .. } => Terminal::Ack {
                            status: 202,
                            headers: Default::default(),
                        },
                        McpOp::TerminateSession { .. } => Terminal::SessionTerminated {
                            status: 200,
                            headers: Default::default(),
                        },
                        McpOp::Fetch { .. } => Terminal::OAuthDiscovery {
                            json: serde_json::value::RawValue::from_string("{}".into())
                                .unwrap_or_else(|_| unreachable!()),
                            status: 200,
                            headers: Default::default(),
                        },
                    };
                    engine.handle_mcp_output(now, work.cmd, McpOutput::Terminal(terminal));
                }
                Action::Post { id, request, .. } => {
                    let body: serde_json::Value = serde_json::from_slice(request.body())
                        .unwrap_or_else(|e| panic!("POST body is not JSON: {e}"));
                    let request_id = body["request_id"].as_str().unwrap_or_default();
                    let channel = polled
                        .get(request_id)
                        .unwrap_or_else(|| panic!("POST for unknown request {request_id:?}"));
                    assert_eq!(body["channel"].as_str(), Some(channel.as_str()));
                    let resp_type = body["resp_type"].as_str().unwrap_or_default();
                    if resp_type != "jsonrpc_notify" {
                        assert!(
                            terminals.insert(request_id.to_string()),
                            "two terminal POSTs for {request_id:?}"
                        );
                    }
                    engine.handle_post_result(
                        now,
                        wall,
                        id,
                        Ok(HttpResponse {
                            status: 200,
                            headers: http::HeaderMap::new(),
                            body: Default::default(),
                        }),
                    );
                }
                // Later polls stay outstanding: the batch under test is the only one.
                Action::Poll { .. }
                | Action::CancelPoll { .. }
                | Action::FetchMetadata { .. }
                | Action::CancelMcp { .. }
                | Action::Stdio { .. } => {}
            }
        }
        if !progressed {
            break;
        }
    }
    assert_eq!(
        verdict,
        Some(decoded.is_ok()),
        "the engine's verdict on the poll body disagrees with decode_poll_body"
    );
    let status = engine.status();
    assert_eq!(
        (status.queued, status.running, status.posting),
        (0, 0, 0),
        "commands left in flight after every exchange was answered"
    );
}

/// A byte cursor for `check_prmd`: the input is read as a script of peer behaviour.
struct Script<'a>(&'a [u8]);

impl<'a> Script<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    /// A length-prefixed slice (length from one byte, so at most 255 bytes).
    fn slice(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte().unwrap_or(0)).min(self.0.len());
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        s
    }
}

/// Scheme, host (lowercased) and effective port: what "same origin" means for discovery.
fn fuzz_origin(uri: &http::Uri) -> Option<(String, String, Option<u16>)> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    });
    Some((scheme, host, port))
}

/// Invariants of the OAuth metadata discovery on peer-controlled input:
/// - `prmd::validate` and `resource_metadata` never panic on the whole input, and
///   `validate` accepts only a JSON object with a non-empty string `resource`;
/// - a `Discovery` answered from the input (statuses, `Location`s, `WWW-Authenticate`s and
///   bodies, tabled or raw) ends within 5 chains × (1 + `MAX_REDIRECTS`) requests; every
///   request either starts a chain (the MCP URL, a well-known URL on its origin, or a URL a
///   `WWW-Authenticate` offered) or follows a redirect on the same origin; one attempt per
///   request; a selected body validates; once done it stays done.
pub fn check_prmd(data: &[u8]) {
    use tunnel_core::classify::TransportError;
    use tunnel_core::oauth::discovery::MAX_REDIRECTS;
    use tunnel_core::oauth::www_authenticate::resource_metadata;
    use tunnel_core::oauth::{prmd, Discovery, Step, MAX_BODY};

    if prmd::validate(data).is_ok() {
        let v: serde_json::Value = serde_json::from_slice(data).expect("validated means JSON");
        let r = v.get("resource").and_then(|r| r.as_str());
        assert!(
            r.is_some_and(|r| !r.is_empty()),
            "validated without resource"
        );
    }
    let text = String::from_utf8_lossy(data);
    if let Some(v) = resource_metadata(&text) {
        assert!(!v.is_empty());
        assert!(text.to_ascii_lowercase().contains("bearer"));
    }

    const DOC: &[u8] = br#"{"resource":"https://mcp.example/mcp"}"#;
    const MCPS: [&str; 4] = [
        "https://mcp.example/mcp",
        "https://mcp.example",
        "http://mcp.example:8080/a/b/",
        "https://u:pw@mcp.example/.well-known/oauth-protected-resource/x",
    ];
    const LOCATIONS: [&str; 8] = [
        "/meta",
        "../x",
        "https://mcp.example/y",
        "https://MCP.example:443/z",
        "http://mcp.example/y",
        "https://evil.example/",
        "//evil.example/y",
        "https://mcp.example:8443/y",
    ];
    const CHALLENGES: [&str; 3] = [
        r#"Bearer resource_metadata="https://other.example/prm""#,
        r#"Bearer resource_metadata="https://mcp.example/prm""#,
        r#"Basic realm="x", resource_metadata="https://evil.example/prm""#,
    ];
    static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    const STATUSES: [u16; 12] = [200, 401, 404, 500, 503, 301, 302, 303, 307, 308, 304, 204];

    let mut s = Script(data);
    let mcp_str = MCPS[usize::from(s.byte().unwrap_or(0)) % MCPS.len()];
    let mcp: http::Uri = mcp_str.parse().expect("tabled URL");
    let mcp_origin = fuzz_origin(&mcp);
    let mut starts: Vec<String> = vec![mcp.to_string()];
    let mut d = Discovery::new(&mcp);
    let max_requests = 5 * (1 + MAX_REDIRECTS as usize);
    let mut prev: Option<(http::Uri, bool)> = None;
    let mut n = 0;
    let done = loop {
        match d.poll() {
            Step::Done(r) => break r,
            Step::Request { uri, .. } => {
                n += 1;
                assert!(n <= max_requests, "more than {max_requests} requests");
                let o = fuzz_origin(&uri);
                let start = starts.contains(&uri.to_string())
                    || (o == mcp_origin
                        && uri
                            .path()
                            .starts_with("/.well-known/oauth-protected-resource"));
                let hop = matches!(&prev, Some((p, true)) if fuzz_origin(p) == o);
                assert!(start || hop, "request to {uri} after {prev:?}");

                let Some(kind) = s.byte() else {
                    d.handle_error(TransportError::Timeout);
                    prev = Some((uri, false));
                    continue;
                };
                if kind % 8 == 0 {
                    d.handle_error(TransportError::ConnectionRefused);
                    prev = Some((uri, false));
                    continue;
                }
                let b = s.byte().unwrap_or(0);
                let status = if kind & 0x80 != 0 {
                    u16::from(b) * 4 % 1000
                } else {
                    STATUSES[usize::from(b) % STATUSES.len()]
                };
                let mut headers = http::HeaderMap::new();
                let mut add = |name: http::header::HeaderName, raw: &[u8]| {
                    if let Ok(v) = http::HeaderValue::from_bytes(raw) {
                        headers.append(name, v);
                    }
                };
                match kind & 0x0c {
                    0x04 => {
                        let i = usize::from(s.byte().unwrap_or(0)) % LOCATIONS.len();
                        add(http::header::LOCATION, LOCATIONS[i].as_bytes())
                    }
                    0x08 => add(http::header::LOCATION, s.slice()),
                    _ => {}
                }
                match kind & 0x30 {
                    0x10 => {
                        let i = usize::from(s.byte().unwrap_or(0)) % CHALLENGES.len();
                        add(http::header::WWW_AUTHENTICATE, CHALLENGES[i].as_bytes())
                    }
                    0x20 => add(http::header::WWW_AUTHENTICATE, s.slice()),
                    _ => {}
                }
                for v in headers.get_all(http::header::WWW_AUTHENTICATE) {
                    if let Some(url) = resource_metadata(&String::from_utf8_lossy(v.as_bytes())) {
                        if let Ok(u) = url.parse::<http::Uri>() {
                            starts.push(u.to_string());
                        }
                    }
                }
                let body: &[u8] = match kind & 0x43 {
                    0x01 => DOC,
                    0x02 => b"",
                    0x03 => BIG.get_or_init(|| vec![b' '; MAX_BODY + 1]),
                    _ => s.slice(),
                };
                let redirected = matches!(status, 301 | 302 | 303 | 307 | 308)
                    && headers.contains_key(http::header::LOCATION);
                d.handle_response(status, &headers, body);
                prev = Some((uri, redirected));
            }
        }
    };
    assert_eq!(d.attempts().len(), n, "one attempt per request");
    if let Ok(found) = &done {
        assert!(prmd::validate(&found.body).is_ok());
        assert!(!found.url.contains("pw@"), "userinfo in {}", found.url);
    }
    assert!(matches!(d.poll(), Step::Done(_)), "done stays done");
}

/// A complete head and the bytes after it.
type Taken = Option<(Vec<u8>, Vec<u8>)>;

fn head_run(bound: usize, pieces: &[&[u8]]) -> (HeadProgress, Taken) {
    let mut reader = HeadReader::new(bound, Vec::new());
    let mut progress = reader.progress();
    // As the listener does: stop feeding once the head is decided.
    for piece in pieces {
        if progress != HeadProgress::Partial {
            break;
        }
        progress = reader.push(piece);
    }
    let taken = (progress == HeadProgress::Complete).then(|| reader.clone().take());
    (progress, taken.flatten())
}

/// The health listener's request heads: the reader's verdict does not depend on how the
/// bytes arrive; a complete head is within the bound, ends with the blank line and is a
/// prefix of the input; a parsed head holds no line breaks, has a well-formed method and
/// target, and parses back to itself when written out again.
pub fn check_http_head(data: &[u8]) {
    let (bound, cut, input) = params(data);
    let (progress, whole) = head_run(bound, &[input]);
    let (a, b) = input.split_at(cut);
    let split = head_run(bound, &[a, b]);
    assert_eq!(split.0, progress, "split at {cut} differs");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let one_by_one = head_run(bound, &bytes);
    assert_eq!(one_by_one.0, progress, "byte-at-a-time differs");
    // Pieces after the decision were not fed, so only the heads must agree.
    let head_of = |t: &Taken| t.as_ref().map(|(h, _)| h.clone());
    assert_eq!(head_of(&split.1), head_of(&whole));
    assert_eq!(head_of(&one_by_one.1), head_of(&whole));
    let Some((head, rest)) = whole else {
        assert_ne!(
            progress,
            HeadProgress::Complete,
            "complete but nothing to take"
        );
        return;
    };
    assert!(head.len() <= bound, "head over the bound");
    assert!(head.ends_with(b"\r\n\r\n"));
    assert_eq!([head.as_slice(), rest.as_slice()].concat(), input);
    let Ok(parsed) = parse_head(&head) else {
        return;
    };
    assert!(!parsed.method.is_empty() && parsed.method.bytes().all(|b| b.is_ascii_uppercase()));
    assert!(parsed.path.starts_with('/') || parsed.path == "*");
    let no_breaks = |s: &str| !s.contains(['\r', '\n']);
    assert!(no_breaks(&parsed.path) && no_breaks(&parsed.query));
    for (name, value) in &parsed.headers {
        assert!(
            no_breaks(name) && no_breaks(value),
            "line break in a header"
        );
        assert!(!name.is_empty() && !name.contains(':'));
        assert_eq!(*name, name.to_ascii_lowercase());
    }
    assert!(parsed.http10 || parsed.header("host").is_some());
    let mut again = format!(
        "{} {}{}{} HTTP/1.{}\r\n",
        parsed.method,
        parsed.path,
        if parsed.query.is_empty() { "" } else { "?" },
        parsed.query,
        if parsed.http10 { 0 } else { 1 }
    );
    for (name, value) in &parsed.headers {
        again.push_str(&format!("{name}: {value}\r\n"));
    }
    again.push_str("\r\n");
    assert_eq!(
        parse_head(again.as_bytes()).as_ref(),
        Ok(&parsed),
        "written out again: {again:?}"
    );
}

/// `codex_app_server`: arbitrary bytes as the stdout of `codex app-server`, one line per
/// `\n`, after a completed handshake, with a user request and a turn in flight.
/// Invariants: every line we write is one JSON object without `jsonrpc` or inner newlines;
/// each server request gets exactly one answer; a response is never produced for an id we
/// did not send; the turn tracker never reports both success and failure.
pub fn check_codex_app_server(data: &[u8]) {
    use std::time::Instant;
    use tunnel_core::codex::{Event, Session, TurnStep, TurnTracker};

    let now = Instant::now();
    let mut s = Session::new(serde_json::json!({"name": "fuzz", "version": "0"}));
    s.start(now);
    s.handle_line(
        r#"{"id":1,"result":{"userAgent":"x","codexHome":"/h"}}"#,
        now,
    );
    s.handle_line(r#"{"id":2,"result":{"requiresOpenaiAuth":true}}"#, now);
    s.handle_line(
        r#"{"id":3,"result":{"account":{"type":"apiKey"},"requiresOpenaiAuth":true}}"#,
        now,
    );
    assert!(s.is_ready());
    let turn = s
        .request(
            "turn/start",
            serde_json::json!({}),
            now,
            Duration::from_secs(60),
        )
        .unwrap();
    let mut written = vec![];
    while let Some(l) = s.poll_transmit() {
        written.push(l);
    }
    while s.poll_event().is_some() {}
    let mut tracker = TurnTracker::new();
    let (mut requests, mut answers, mut finished, mut failed) = (0, 0, 0, 0);
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        s.handle_line(line, now);
        while let Some(l) = s.poll_transmit() {
            let v: serde_json::Value = serde_json::from_str(l.trim_end_matches('\n'))
                .unwrap_or_else(|e| panic!("we wrote non-JSON {l:?}: {e}"));
            assert!(v.is_object() && v.get("jsonrpc").is_none());
            assert_eq!(l.matches('\n').count(), 1, "one line per message");
            if v.get("method").is_none() {
                answers += 1;
            }
            written.push(l);
        }
        while let Some(e) = s.poll_event() {
            let steps = match &e {
                Event::ServerRequest { .. } => {
                    requests += 1;
                    vec![]
                }
                Event::Response { id, result, .. } => {
                    assert_eq!(*id, turn, "only our turn/start can be answered");
                    match result {
                        Ok(r) => tracker.on_response(r),
                        Err(_) => vec![],
                    }
                }
                Event::Notification(n) => tracker.on_notice(n),
                _ => vec![],
            };
            for st in steps {
                match st {
                    TurnStep::Finished { .. } => finished += 1,
                    TurnStep::Failed(_) => failed += 1,
                    _ => {}
                }
            }
        }
    }
    assert_eq!(
        requests, answers,
        "each server request answered exactly once"
    );
    assert!(finished + failed <= 1, "a turn ends once");
}

/// `harpoon_url`: the first line is a target URL, the rest a chain of redirect `Location`s.
/// Invariants: parsing and normalising never panic and normalising is idempotent; a
/// registered URL is allowlisted under its own normalised form; every request a call makes
/// goes exactly to a registered target's URL (whatever the redirects said); a refused
/// redirect never echoes the refused location to the caller.
pub fn check_harpoon_url(data: &[u8]) {
    use tunnel_core::harpoon::url::HUrl;
    use tunnel_core::harpoon::{Call, Registry, Settings, Step, TargetSpec};

    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    if let Ok(u) = HUrl::parse(first) {
        let n = u.normalized();
        let again = HUrl::parse(&n).expect("a normalised URL parses");
        assert_eq!(again.normalized(), n, "normalising is idempotent");
        assert!(
            !u.origin().contains(['@', '?', '#']),
            "origin carries no secrets"
        );
        let _ = u.check_traversal();
        let _ = u.resolve(first);
    }
    let mut reg = Registry::new(true);
    let registered = reg.register(TargetSpec::config("t", first)).is_ok();
    reg.register(TargetSpec::config("a", "https://h/a"))
        .unwrap();
    reg.register(TargetSpec::config("b", "http://h/b?x=1"))
        .unwrap();
    if registered {
        let u = HUrl::parse(first.trim()).expect("registered URLs parse");
        assert_eq!(reg.target_for(&u).map(|t| t.label.as_str()), Some("t"));
    }
    let _ = tunnel_core::harpoon::rewrite::rewrite_header_value(&reg, &text);
    let _ = tunnel_core::harpoon::rewrite::rewrite_body(&reg, data);
    let start = if registered { "t" } else { "a" };
    let args = serde_json::json!({"label": start, "method": "POST", "body": "x"});
    let mut call = Call::start(&reg, &Settings::default(), &args).expect("valid arguments");
    let mut locations = lines.map(str::to_string).collect::<Vec<_>>().into_iter();
    loop {
        match call.poll() {
            Some(Step::Request(req)) => {
                let target = reg.get(&req.label).expect("a request addresses a target");
                assert_eq!(
                    Some(req.uri.clone()),
                    target.url.request_uri().ok(),
                    "request went off the allowlist"
                );
                let Some(loc) = locations.next() else { return };
                let mut h = http::HeaderMap::new();
                match http::HeaderValue::from_str(&loc) {
                    Ok(v) => {
                        h.insert(http::header::LOCATION, v);
                    }
                    Err(_) => return,
                }
                let status = [301, 302, 303, 307, 308][loc.len() % 5];
                call.handle_response(status, &h, b"");
            }
            Some(Step::Done(o)) => {
                if let Err(e) = &o.result {
                    let msg = e.to_string();
                    assert!(
                        msg == "redirect blocked"
                            || msg == "redirect limit exceeded"
                            || msg == "request failed"
                            || msg.starts_with("redirect blocked: scheme mismatch (allowlisted "),
                        "unexpected error text {msg:?}"
                    );
                }
                return;
            }
            None => panic!("a call waiting for nothing"),
        }
    }
}

/// `proxy_reply`: the adapters' reading of a proxy's answer to `CONNECT` and of proxy URLs.
/// The verdict on a reply never depends on how it arrived: every prefix shorter than the
/// head is `Partial`, and every prefix from the head's end on gives the whole input's
/// verdict; an established tunnel's head is bounded and ends in a blank line. The input
/// as a proxy URL parses or not without panicking, never shows its credentials in `Debug`,
/// and a `CONNECT` built from it is one head.
pub fn check_proxy_reply(data: &[u8]) {
    use tunnel_core::egress::{connect_reply, ConnectReply, ProxyAddr, MAX_CONNECT_REPLY};
    let whole = connect_reply(data);
    let end = tunnel_core::http_head::find_head_end(data);
    for cut in 0..=data.len() {
        let part = connect_reply(&data[..cut]);
        match end {
            Some(e) if cut >= e => assert_eq!(part, whole, "prefix {cut} differs"),
            _ if cut > MAX_CONNECT_REPLY => assert_eq!(part, ConnectReply::Malformed),
            _ => assert_eq!(part, ConnectReply::Partial, "prefix {cut} decided early"),
        }
    }
    if let ConnectReply::Established { head_len } = whole {
        assert!(head_len <= MAX_CONNECT_REPLY && data[..head_len].ends_with(b"\r\n\r\n"));
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = ProxyAddr::parse(&text) {
        if let Some(auth) = &p.authorization {
            assert!(auth.starts_with("Basic ") && !format!("{p:?}").contains(auth.as_str()));
        }
        let head = p.connect_request("h:1");
        assert_eq!(
            tunnel_core::http_head::find_head_end(&head),
            Some(head.len())
        );
    }
}

/// `harpoon_hostbus`: untrusted protected-resource and authorization-server metadata (split
/// at the first `0xff`; the first byte picks the MCP URL, the socket and the include rules)
/// through the OAuth bundle and host registration. Invariants: no panic; every registered
/// target has a valid, unique label and was admitted by a rule (classifier reason or the
/// protected-resource host); the authorization endpoint is never a target; registering the
/// same bundle again registers nothing (no Go-style duplicates).
pub fn check_harpoon_hostbus(data: &[u8]) {
    use tunnel_core::harpoon::hostbus::{bundle, register, Discovered, PROTECTED_RESOURCE_HOST};
    use tunnel_core::harpoon::hosts::HostRules;
    use tunnel_core::harpoon::Registry;
    use tunnel_core::oauth::auth_server::{AsOutcome, AuthServerMetadata};
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (prmd, meta) = match rest.iter().position(|b| *b == 0xff) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let mcp = [
        "http://localhost:8080/mcp",
        "https://mcp.example.com/mcp",
        "https://10.0.0.1/",
    ][usize::from(flags % 3)];
    let outcome = serde_json::from_slice::<AuthServerMetadata>(meta)
        .ok()
        .map(|m| AsOutcome {
            issuer_url: m.issuer.clone().unwrap_or_default(),
            selected_url: Some(format!("{mcp}/.well-known/oauth-authorization-server")),
            metadata: Some(m),
            body: None,
            error: None,
            attempts: Vec::new(),
        });
    let d = Discovered {
        prmd,
        source_url: Some("https://mcp.example.com/.well-known/oauth-protected-resource"),
        mcp_url: Some(mcp),
        unix_socket: (flags & 4 != 0).then_some("/run/mcp.sock"),
        auth_server: outcome.as_ref(),
    };
    let Ok(records) = bundle(&d) else {
        return;
    };
    let rules = HostRules::new(
        flags & 8 != 0,
        flags & 16 != 0,
        &["internal".to_string()],
        &["^auth\\.".to_string()],
    )
    .expect("fixed rules compile");
    let mut reg = Registry::new(flags & 32 != 0);
    register(&mut reg, &rules, &records);
    let before: Vec<String> = reg.targets().iter().map(|t| t.label.clone()).collect();
    let mut labels = std::collections::HashSet::new();
    for t in reg.targets() {
        assert!(
            tunnel_core::harpoon::registry::valid_label(&t.label),
            "{}",
            t.label
        );
        assert!(
            labels.insert(t.label.clone()),
            "duplicate label {}",
            t.label
        );
        let by_rule =
            rules.classify(&t.url.hostname()).as_deref() == Some(t.inclusion_reason.as_str());
        assert!(
            by_rule || t.inclusion_reason == PROTECTED_RESOURCE_HOST,
            "{t:?}"
        );
        // Only URLs of the bundle (never the authorization endpoint: it is no record).
        assert!(records.iter().any(|r| r.url.trim() == t.exact), "{t:?}");
        assert!(records.iter().all(|r| r.role != "authorization-endpoint"));
    }
    let again = register(&mut reg, &rules, &records);
    assert!(again.iter().all(|r| r.target.is_none()), "registered twice");
    let after: Vec<String> = reg.targets().iter().map(|t| t.label.clone()).collect();
    assert_eq!(before, after);
}
