//! Incremental Server-Sent Events decoder (WHATWG HTML "event stream" parsing).
//!
//! Streamable HTTP MCP servers answer a request with `text/event-stream` when they want to
//! send notifications before the response. The adapter hands body chunks over exactly as the
//! socket produced them, so every boundary — inside a UTF-8 sequence, between the `\r` and
//! `\n` of a CRLF, inside the BOM — must be invisible in the output: the same bytes always
//! decode to the same events, however they were chunked (property-tested below).
//!
//! We follow the WHATWG algorithm rather than the Go SDK's stricter variant (which fails the
//! whole connection on a line without a colon) because servers in the wild are written
//! against browsers, and browsers are lenient. Deciding what an event *means* (ignore
//! `event: ping`, parse `data` as JSON-RPC, find the terminal response) is the caller's job.
//!
//! Memory is bounded by `max_event_bytes`: an event whose data is longer than that, or a
//! single line longer than that plus [`LINE_OVERHEAD`], is [`SseError::EventTooLarge`] — including a line that never ends, which
//! is detected as soon as it crosses the bound rather than when (if ever) it ends. After an
//! error the decoder stays failed; the stream is not trustworthy any more.

use std::fmt;

/// Room on a line beyond `max_event_bytes` for the field name, colon and space, so an event
/// whose data is exactly at the bound still fits on one `data: ` line.
pub const LINE_OVERHEAD: usize = 64;

/// The UTF-8 byte-order mark, stripped once at the very start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event` field; `None` when unset or empty, which means `message`.
    pub event: Option<String>,
    /// The `data` lines joined with `\n`. Empty only when the event's `data` lines were
    /// themselves empty; an event with no `data` line at all is never dispatched.
    pub data: String,
    /// The last event id in effect when this event was dispatched (ids persist across
    /// events until changed). `None` when never set or reset by an empty `id:` line.
    pub id: Option<String>,
    /// The reconnection time in milliseconds in effect (the latest valid `retry:` field seen
    /// so far on this decoder), if any.
    pub retry: Option<u64>,
}

/// Why decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// A line or an event's data exceeded the bound.
    EventTooLarge { limit: usize },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::EventTooLarge { limit } => write!(
                f,
                "server-sent event exceeds {limit} bytes; the MCP server's stream was abandoned"
            ),
        }
    }
}

impl std::error::Error for SseError {}

/// Progress through a possible BOM at the start of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bom {
    /// This many leading bytes matched the BOM so far (0..=2).
    Matching(usize),
    /// Past the start of the stream.
    Done,
}

/// Incremental SSE decoder; see the module documentation.
#[derive(Debug, Clone)]
pub struct SseDecoder {
    max_event_bytes: usize,
    bom: Bom,
    /// The current line's raw bytes (at most `max_event_bytes + LINE_OVERHEAD`).
    line: Vec<u8>,
    /// The previous byte was a `\r` that ended a line: a following `\n` belongs to it.
    after_cr: bool,
    /// Data buffer: each data line followed by `\n`.
    data: String,
    /// Event type buffer.
    event_type: String,
    /// Last event id buffer (set by `id:` lines, persists across events).
    id_buffer: Option<String>,
    /// Last event id string (the buffer as of the latest dispatch).
    last_event_id: Option<String>,
    retry: Option<u64>,
    comments: u64,
    failed: Option<SseError>,
}

impl SseDecoder {
    /// A decoder for one stream whose lines and event data are bounded by `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        SseDecoder {
            max_event_bytes,
            bom: Bom::Matching(0),
            line: Vec::new(),
            after_cr: false,
            data: String::new(),
            event_type: String::new(),
            id_buffer: None,
            last_event_id: None,
            retry: None,
            comments: 0,
            failed: None,
        }
    }

    /// The last event id as of the latest dispatch: what a resuming client sends as
    /// `Last-Event-ID`.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The latest valid `retry:` value (milliseconds).
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Comment lines seen (servers use them as keep-alives).
    pub fn comments_seen(&self) -> u64 {
        self.comments
    }

    /// Feeds bytes; dispatched events are appended to `out`.
    ///
    /// On error, events dispatched before the offending line are still in `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let result = self
            .skip_bom(chunk)
            .and_then(|rest| self.push_bytes(rest, out));
        if let Err(err) = result {
            self.failed = Some(err);
        }
        result
    }

    /// End of stream. Per the spec an event not yet terminated by a blank line is discarded
    /// (so is an unterminated final line): a stream cut mid-event must not deliver half of
    /// it. The decoder is then ready for a resumed stream on a new connection: buffers and
    /// BOM detection reset, while the last event id and retry persist.
    pub fn finish(&mut self, _out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        self.bom = Bom::Matching(0);
        self.line.clear();
        self.after_cr = false;
        self.data.clear();
        self.event_type.clear();
        self.id_buffer = self.last_event_id.clone();
        Ok(())
    }

    /// Consumes whatever part of a leading BOM `chunk` holds; returns the rest. Bytes that
    /// started like a BOM but turned out not to be one are fed through as data.
    fn skip_bom<'a>(&mut self, chunk: &'a [u8]) -> Result<&'a [u8], SseError> {
        let mut rest = chunk;
        while let Bom::Matching(matched) = self.bom {
            let Some((&b, tail)) = rest.split_first() else {
                break;
            };
            if BOM.get(matched) == Some(&b) {
                rest = tail;
                self.bom = if matched + 1 == BOM.len() {
                    Bom::Done
                } else {
                    Bom::Matching(matched + 1)
                };
            } else {
                self.bom = Bom::Done;
                if matched > 0 {
                    // Not a BOM after all. Those bytes contain no line breaks, and no
                    // event can be dispatched by them alone, so appending is exact.
                    let prefix = BOM.get(..matched).unwrap_or_default();
                    self.extend_line(prefix)?;
                }
            }
        }
        Ok(rest)
    }

    fn push_bytes(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if let Some(tail) = rest.strip_prefix(b"\n") {
                    rest = tail;
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    let (content, tail) = rest.split_at(i);
                    self.extend_line(content)?;
                    self.after_cr = tail.first() == Some(&b'\r');
                    rest = tail.get(1..).unwrap_or_default();
                    self.end_line(out)?;
                }
                None => {
                    self.extend_line(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    fn too_large(&self) -> SseError {
        SseError::EventTooLarge {
            limit: self.max_event_bytes,
        }
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let max_line = self.max_event_bytes.saturating_add(LINE_OVERHEAD);
        if self.line.len().saturating_add(bytes.len()) > max_line {
            return Err(self.too_large());
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let raw = std::mem::take(&mut self.line);
        let line = String::from_utf8_lossy(&raw);
        let result = self.process_line(&line, out);
        // Keep the allocation for the next line.
        let mut raw = raw;
        raw.clear();
        self.line = raw;
        result
    }

    fn process_line(&mut self, line: &str, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line.starts_with(':') {
            self.comments = self.comments.saturating_add(1);
            return Ok(());
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        self.field(name, value)
    }

    fn field(&mut self, name: &str, value: &str) -> Result<(), SseError> {
        match name {
            "event" => {
                self.event_type.clear();
                self.event_type.push_str(value);
            }
            "data" => {
                // The joined data is the buffer without its trailing `\n` plus this value.
                if self.data.len().saturating_add(value.len()) > self.max_event_bytes {
                    return Err(self.too_large());
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            // An id containing NUL is ignored (it could not be sent back as a header).
            "id" if !value.contains('\0') => {
                self.id_buffer = Some(value.to_string()).filter(|v| !v.is_empty());
            }
            // Only plain digits count; absurdly large values (beyond u64 milliseconds) are
            // ignored too.
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        self.last_event_id.clone_from(&self.id_buffer);
        let event_type = std::mem::take(&mut self.event_type);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        out.push(SseEvent {
            event: Some(event_type).filter(|e| !e.is_empty()),
            data,
            id: self.last_event_id.clone(),
            retry: self.retry,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BIG: usize = 1 << 20;

    fn decode(input: &[u8]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new(BIG);
        let mut out = Vec::new();
        d.push(input, &mut out).unwrap();
        d.finish(&mut out).unwrap();
        out
    }

    fn ev(data: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: data.into(),
            id: None,
            retry: None,
        }
    }

    #[test]
    fn sse_blank_line_dispatches_event() {
        assert_eq!(decode(b"data: hello\n\n"), vec![ev("hello")]);
    }

    #[test]
    fn sse_multiple_data_lines_join_with_newline() {
        assert_eq!(decode(b"data: a\ndata: b\ndata\n\n"), vec![ev("a\nb\n")]);
    }

    #[test]
    fn sse_only_one_leading_space_is_removed() {
        assert_eq!(
            decode(b"data:  two\n\ndata:none\n\n"),
            vec![ev(" two"), ev("none")]
        );
    }

    #[test]
    fn sse_all_three_line_endings_work() {
        assert_eq!(
            decode(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"),
            vec![ev("a"), ev("b"), ev("c")]
        );
    }

    #[test]
    fn sse_crlf_split_across_chunks_is_one_line_ending() {
        let mut d = SseDecoder::new(BIG);
        let mut out = Vec::new();
        d.push(b"data: a\r", &mut out).unwrap();
        d.push(b"\ndata: b\r", &mut out).unwrap();
        d.push(b"\n\r", &mut out).unwrap();
        d.push(b"\n", &mut out).unwrap();
        assert_eq!(out, vec![ev("a\nb")]);
    }

    #[test]
    fn sse_comments_are_skipped_and_counted() {
        let mut d = SseDecoder::new(BIG);
        let mut out = Vec::new();
        d.push(b": keep-alive\n:\ndata: x\n\n", &mut out).unwrap();
        assert_eq!(out, vec![ev("x")]);
        assert_eq!(d.comments_seen(), 2);
    }

    #[test]
    fn sse_event_without_data_is_not_dispatched() {
        assert_eq!(decode(b"event: ping\n\n"), vec![]);
    }

    #[test]
    fn sse_event_type_resets_after_dispatch() {
        let got = decode(b"event: custom\ndata: 1\n\ndata: 2\n\n");
        assert_eq!(got[0].event.as_deref(), Some("custom"));
        assert_eq!(got[1].event, None);
    }

    #[test]
    fn sse_empty_event_type_means_message() {
        assert_eq!(decode(b"event:\ndata: 1\n\n")[0].event, None);
    }

    #[test]
    fn sse_line_without_colon_is_a_field_with_empty_value() {
        assert_eq!(decode(b"data\n\n"), vec![ev("")]);
        assert_eq!(decode(b"data\ndata: x\n\n"), vec![ev("\nx")]);
    }

    #[test]
    fn sse_unknown_fields_are_ignored() {
        assert_eq!(decode(b"foo: bar\ndata: x\nData: y\n\n"), vec![ev("x")]);
    }

    #[test]
    fn sse_id_persists_across_events() {
        let got = decode(b"id: 7\ndata: a\n\ndata: b\n\n");
        assert_eq!(got[0].id.as_deref(), Some("7"));
        assert_eq!(got[1].id.as_deref(), Some("7"));
    }

    #[test]
    fn sse_id_without_data_still_updates_last_event_id() {
        let mut d = SseDecoder::new(BIG);
        let mut out = Vec::new();
        d.push(b"id: 42\n\n", &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(d.last_event_id(), Some("42"));
    }

    #[test]
    fn sse_id_with_nul_is_ignored() {
        let got = decode(b"id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n");
        assert_eq!(got[1].id.as_deref(), Some("1"));
    }

    #[test]
    fn sse_empty_id_resets_last_event_id() {
        let got = decode(b"id: 1\ndata: a\n\nid\ndata: b\n\n");
        assert_eq!(got[1].id, None);
    }

    #[test]
    fn sse_retry_accepts_only_digits() {
        let got = decode(
            b"retry: 1500\ndata: a\n\nretry: 1.5\ndata: b\n\nretry: x\nretry: \ndata: c\n\n",
        );
        assert!(got.iter().all(|e| e.retry == Some(1500)));
        let got = decode(b"retry: 99999999999999999999999\ndata: a\n\n");
        assert_eq!(got[0].retry, None);
    }

    #[test]
    fn sse_leading_bom_is_stripped_once() {
        assert_eq!(decode(b"\xEF\xBB\xBFdata: a\n\n"), vec![ev("a")]);
        // A second BOM is part of the first field name, which is then unknown.
        assert_eq!(decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"), vec![]);
    }

    #[test]
    fn sse_bom_split_across_chunks_is_stripped() {
        let mut d = SseDecoder::new(BIG);
        let mut out = Vec::new();
        for b in b"\xEF\xBB\xBFdata: a\n\n" {
            d.push(&[*b], &mut out).unwrap();
        }
        assert_eq!(out, vec![ev("a")]);
    }

    #[test]
    fn sse_partial_bom_is_kept_as_bytes() {
        assert_eq!(decode(b"\xEF\xBBdata: a\n\n"), vec![]);
        assert_eq!(decode(b"\xEF\xBB\n\ndata: a\n\n"), vec![ev("a")]);
    }

    #[test]
    fn sse_invalid_utf8_is_replaced() {
        assert_eq!(decode(b"data: a\xFFb\n\n"), vec![ev("a\u{FFFD}b")]);
    }

    #[test]
    fn sse_utf8_split_across_chunks_decodes() {
        let mut d = SseDecoder::new(BIG);
        let mut out = Vec::new();
        let bytes = "data: é€😀\n\n".as_bytes();
        for b in bytes {
            d.push(&[*b], &mut out).unwrap();
        }
        assert_eq!(out, vec![ev("é€😀")]);
    }

    #[test]
    fn sse_unterminated_event_is_discarded_at_end_of_stream() {
        assert_eq!(decode(b"data: a\n\ndata: b\n"), vec![ev("a")]);
        assert_eq!(decode(b"data: a\n\ndata: b"), vec![ev("a")]);
    }

    #[test]
    fn sse_finish_keeps_last_event_id_for_resumption() {
        let mut d = SseDecoder::new(BIG);
        let mut out = Vec::new();
        d.push(b"id: 5\ndata: a\n\nid: 6\ndata: partial", &mut out)
            .unwrap();
        d.finish(&mut out).unwrap();
        assert_eq!(d.last_event_id(), Some("5"));
        d.push(b"data: b\n\n", &mut out).unwrap();
        assert_eq!(out[1].id.as_deref(), Some("5"));
        assert_eq!(out[1].data, "b");
    }

    #[test]
    fn sse_data_over_the_bound_is_an_error() {
        let mut d = SseDecoder::new(8);
        let mut out = Vec::new();
        d.push(b"data: 1234\ndata: 123\n\n", &mut out).unwrap();
        assert_eq!(out, vec![ev("1234\n123")]);
        let err = d.push(b"data: 1234\ndata: 1234\n\n", &mut out).unwrap_err();
        assert_eq!(err, SseError::EventTooLarge { limit: 8 });
    }

    #[test]
    fn sse_endless_line_fails_without_unbounded_memory() {
        let mut d = SseDecoder::new(64);
        let mut out = Vec::new();
        let mut failed = false;
        for _ in 0..1000 {
            if d.push(&[b'x'; 7], &mut out).is_err() {
                failed = true;
                break;
            }
            assert!(d.line.len() <= 64 + LINE_OVERHEAD);
        }
        assert!(failed);
        assert!(
            d.push(b"\n\n", &mut out).is_err(),
            "the decoder stays failed"
        );
        assert!(d.finish(&mut out).is_err());
    }

    #[test]
    fn sse_events_before_an_error_are_delivered() {
        let mut d = SseDecoder::new(10);
        let mut out = Vec::new();
        assert!(d
            .push(b"data: ok\n\ndata: far too long\n\n", &mut out)
            .is_err());
        assert_eq!(out, vec![ev("ok")]);
    }

    #[test]
    fn sse_error_message_names_the_limit() {
        assert_eq!(
            SseError::EventTooLarge { limit: 5 }.to_string(),
            "server-sent event exceeds 5 bytes; the MCP server's stream was abandoned"
        );
    }

    /// Feeds `input` in pieces cut at `cuts`; returns the events and whether it failed.
    fn chunked(max: usize, input: &[u8], cuts: &[usize]) -> (Vec<SseEvent>, bool) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut d = SseDecoder::new(max);
        let mut out = Vec::new();
        let mut start = 0;
        let mut failed = false;
        for end in cuts.into_iter().chain(std::iter::once(input.len())) {
            failed |= d.push(&input[start..end], &mut out).is_err();
            start = end;
        }
        failed |= d.finish(&mut out).is_err();
        (out, failed)
    }

    /// A deliberately naive whole-buffer implementation of the WHATWG rules.
    fn reference(input: &[u8]) -> Vec<SseEvent> {
        let input = input.strip_prefix(&BOM[..]).unwrap_or(input);
        let text = String::from_utf8_lossy(input);
        let mut lines = Vec::new();
        let mut cur = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    lines.push(std::mem::take(&mut cur));
                }
                '\n' => lines.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        // `cur` is an unterminated line: discarded.
        let (mut data, mut etype, mut idbuf, mut retry) =
            (String::new(), String::new(), String::new(), None);
        let mut out = Vec::new();
        for line in lines {
            if line.is_empty() {
                let id = if idbuf.is_empty() {
                    None
                } else {
                    Some(idbuf.clone())
                };
                if !data.is_empty() {
                    data.pop();
                    out.push(SseEvent {
                        event: if etype.is_empty() {
                            None
                        } else {
                            Some(etype.clone())
                        },
                        data: std::mem::take(&mut data),
                        id,
                        retry,
                    });
                }
                data.clear();
                etype.clear();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (name, value) = match line.find(':') {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(' ').unwrap_or(v))
                }
                None => (&line[..], ""),
            };
            match name {
                "event" => etype = value.to_string(),
                "data" => {
                    data.push_str(value);
                    data.push('\n');
                }
                "id" if !value.contains('\0') => idbuf = value.to_string(),
                "retry" if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) => {
                    if let Ok(v) = value.parse() {
                        retry = Some(v);
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
        let token = prop_oneof![
            Just(b"data: ".to_vec()),
            Just(b"data:".to_vec()),
            Just(b"data".to_vec()),
            Just(b"event: ".to_vec()),
            Just(b"id: ".to_vec()),
            Just(b"id".to_vec()),
            Just(b"retry: ".to_vec()),
            Just(b":".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n\n".to_vec()),
            Just(BOM.to_vec()),
            Just(b"\xE2\x82".to_vec()),
            Just("é".as_bytes().to_vec()),
            Just(b"\0".to_vec()),
            Just(b"12".to_vec()),
            Just(b" ".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..4),
            "[a-z{}\":,]{0,6}".prop_map(String::into_bytes),
        ];
        proptest::collection::vec(token, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn prop_any_split_gives_the_same_events(
            input in sse_bytes(),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            max in prop_oneof![Just(BIG), 0usize..24],
        ) {
            let whole = chunked(max, &input, &[]);
            prop_assert_eq!(chunked(max, &input, &cuts), whole);
        }

        #[test]
        fn prop_byte_at_a_time_equals_reference(input in sse_bytes()) {
            let cuts: Vec<usize> = (0..input.len()).collect();
            let (events, failed) = chunked(BIG, &input, &cuts);
            prop_assert!(!failed);
            prop_assert_eq!(events, reference(&input));
        }

        #[test]
        fn prop_arbitrary_bytes_never_panic_and_respect_the_bound(
            input in proptest::collection::vec(any::<u8>(), 0..512),
            max in 0usize..64,
        ) {
            let mut d = SseDecoder::new(max);
            let mut out = Vec::new();
            let _ = d.push(&input, &mut out);
            prop_assert!(d.line.len() <= max + LINE_OVERHEAD && d.data.len() <= max.saturating_add(1));
            for e in &out {
                prop_assert!(e.data.len() <= max);
            }
        }
    }
}
