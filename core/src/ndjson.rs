//! Newline-delimited JSON framing for stdio MCP servers.
//!
//! An MCP stdio child writes one JSON-RPC message per line. Its output is untrusted in one
//! specific way: a buggy or hostile child can write a line that never ends. The framer
//! therefore keeps at most `max_line_bytes` (+1, see below) of any line in memory; a longer
//! line is counted while its bytes are thrown away, reported once as [`Frame::Oversized`]
//! when its `\n` finally arrives, and framing resumes cleanly on the next line. One bad
//! message costs one command, not the whole child.
//!
//! Frames do not depend on how the byte stream was split into chunks.

use std::fmt;

/// One unit of output from a stdio child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One line, without its `\n` and without a trailing `\r`. Never empty or blank.
    Line(Vec<u8>),
    /// A line longer than the bound; its content was discarded. `len` counts its bytes
    /// excluding the `\n` and a trailing `\r`.
    Oversized { len: usize },
}

/// Bytes that make a line blank: JSON's insignificant whitespace.
fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits a byte stream into lines, with bounded memory.
#[derive(Debug, Clone)]
pub struct LineFramer {
    max_line_bytes: usize,
    /// The current line so far (at most `max_line_bytes + 1` bytes: one extra byte so a
    /// line of exactly the maximum followed by `\r\n` is still accepted).
    buf: Vec<u8>,
    /// Set while discarding an oversized line: its length so far.
    discarding: Option<usize>,
    /// Whether the last byte of an oversized line seen so far is `\r`.
    discard_last_cr: bool,
}

impl LineFramer {
    pub fn new(max_line_bytes: usize) -> Self {
        LineFramer {
            max_line_bytes,
            buf: Vec::new(),
            discarding: None,
            discard_last_cr: false,
        }
    }

    /// The configured bound.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// Bytes of an unfinished line (counted even while it is being discarded).
    pub fn pending_len(&self) -> usize {
        self.discarding.unwrap_or(self.buf.len())
    }

    /// Feeds bytes; complete lines are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) {
        let mut rest = chunk;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let (line, after) = rest.split_at(i);
                    self.extend(line);
                    self.end_line(out);
                    rest = after.get(1..).unwrap_or_default();
                }
                None => {
                    self.extend(rest);
                    rest = &[];
                }
            }
        }
    }

    /// End of stream: a final line without `\n` is still delivered (a child that exits
    /// right after writing its last message should not lose it).
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        if self.pending_len() > 0 {
            self.end_line(out);
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(len) = self.discarding.as_mut() {
            *len = len.saturating_add(bytes.len());
            self.discard_last_cr = bytes.last() == Some(&b'\r');
            return;
        }
        let total = self.buf.len().saturating_add(bytes.len());
        if total > self.max_line_bytes.saturating_add(1) {
            self.discarding = Some(total);
            self.discard_last_cr = bytes.last() == Some(&b'\r');
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, out: &mut Vec<Frame>) {
        if let Some(len) = self.discarding.take() {
            let len = if self.discard_last_cr {
                len.saturating_sub(1)
            } else {
                len
            };
            self.discard_last_cr = false;
            out.push(Frame::Oversized { len });
            return;
        }
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > self.max_line_bytes {
            out.push(Frame::Oversized { len: line.len() });
        } else if !line.iter().all(|&b| is_json_whitespace(b)) {
            out.push(Frame::Line(line));
        }
    }
}

/// Why a message cannot be written as one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedNewline {
    /// Byte offset of the first `\n` or `\r`.
    pub offset: usize,
}

impl fmt::Display for EmbeddedNewline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "JSON message contains a raw line break at byte {}; stdio messages must be compact single-line JSON",
            self.offset
        )
    }
}

impl std::error::Error for EmbeddedNewline {}

/// Frames one compact JSON message for a stdio child: the bytes plus `\n`.
///
/// Refuses a message containing a raw `\n` (it would be read as two messages) or `\r` (some
/// readers treat it as a line end too). Compact JSON contains neither: inside strings they
/// are always escaped, so only pretty-printing whitespace can produce them.
pub fn encode_line(json: &[u8]) -> Result<Vec<u8>, EmbeddedNewline> {
    if let Some(offset) = json.iter().position(|&b| b == b'\n' || b == b'\r') {
        return Err(EmbeddedNewline { offset });
    }
    let mut line = Vec::with_capacity(json.len().saturating_add(1));
    line.extend_from_slice(json);
    line.push(b'\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(max: usize, input: &[u8]) -> Vec<Frame> {
        let mut f = LineFramer::new(max);
        let mut out = Vec::new();
        f.push(input, &mut out);
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn ndjson_lines_split_on_newline() {
        assert_eq!(
            frames(100, b"{\"a\":1}\n{\"b\":2}\n"),
            vec![line("{\"a\":1}"), line("{\"b\":2}")]
        );
    }

    #[test]
    fn ndjson_trailing_cr_is_stripped() {
        assert_eq!(frames(100, b"{}\r\n"), vec![line("{}")]);
        assert_eq!(frames(100, b"a\rb\n"), vec![line("a\rb")]);
    }

    #[test]
    fn ndjson_blank_lines_are_skipped() {
        assert_eq!(frames(100, b"\n \t\r\n\r\n{}\n\n"), vec![line("{}")]);
    }

    #[test]
    fn ndjson_incomplete_line_waits_for_newline() {
        let mut f = LineFramer::new(100);
        let mut out = Vec::new();
        f.push(b"{\"a\"", &mut out);
        assert!(out.is_empty());
        assert_eq!(f.pending_len(), 4);
        f.push(b":1}\n", &mut out);
        assert_eq!(out, vec![line("{\"a\":1}")]);
    }

    #[test]
    fn ndjson_finish_delivers_unterminated_last_line() {
        let mut f = LineFramer::new(100);
        let mut out = Vec::new();
        f.push(b"{}\n{\"last\":true}", &mut out);
        f.finish(&mut out);
        assert_eq!(out, vec![line("{}"), line("{\"last\":true}")]);
        f.finish(&mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn ndjson_line_at_the_bound_is_accepted() {
        assert_eq!(frames(4, b"abcd\n"), vec![line("abcd")]);
        assert_eq!(frames(4, b"abcd\r\n"), vec![line("abcd")]);
    }

    #[test]
    fn ndjson_oversized_line_is_reported_and_framing_resumes() {
        assert_eq!(
            frames(4, b"abcde\n{}\n"),
            vec![Frame::Oversized { len: 5 }, line("{}")]
        );
        assert_eq!(frames(4, b"abcde\r\n"), vec![Frame::Oversized { len: 5 }]);
        assert_eq!(frames(4, b"abcd\r\r\n"), vec![Frame::Oversized { len: 5 }]);
    }

    #[test]
    fn ndjson_oversized_line_keeps_memory_bounded() {
        let mut f = LineFramer::new(16);
        let mut out = Vec::new();
        for _ in 0..10_000 {
            f.push(&[b'x'; 1024], &mut out);
            assert!(f.buf.capacity() <= 1024 + 17);
        }
        assert!(out.is_empty());
        assert_eq!(f.pending_len(), 10_240_000);
        f.push(b"\n{}\n", &mut out);
        assert_eq!(out, vec![Frame::Oversized { len: 10_240_000 }, line("{}")]);
    }

    #[test]
    fn ndjson_encode_appends_newline() {
        assert_eq!(encode_line(b"{\"a\":1}").unwrap(), b"{\"a\":1}\n".to_vec());
    }

    #[test]
    fn ndjson_encode_refuses_raw_line_breaks() {
        assert_eq!(encode_line(b"{\n}"), Err(EmbeddedNewline { offset: 1 }));
        assert_eq!(encode_line(b"{}\r"), Err(EmbeddedNewline { offset: 2 }));
        assert_eq!(encode_line(br#"{"a":"x\ny"}"#).unwrap().len(), 13);
    }

    fn split_frames(max: usize, input: &[u8], cuts: &[usize]) -> Vec<Frame> {
        let mut f = LineFramer::new(max);
        let mut out = Vec::new();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut start = 0;
        for c in cuts {
            f.push(&input[start..c], &mut out);
            start = c;
        }
        f.push(&input[start..], &mut out);
        f.finish(&mut out);
        out
    }

    /// Obviously-correct framing over the whole buffer.
    fn reference(max: usize, input: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        if parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        for p in parts {
            let p = p.strip_suffix(b"\r").unwrap_or(p);
            if p.len() > max {
                out.push(Frame::Oversized { len: p.len() });
            } else if !p.iter().all(|&b| is_json_whitespace(b)) {
                out.push(Frame::Line(p.to_vec()));
            }
        }
        out
    }

    proptest! {
        #[test]
        fn prop_any_split_gives_the_same_frames(
            input in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'a'), any::<u8>()], 0..300),
            cuts in proptest::collection::vec(any::<usize>(), 0..10),
            max in 0usize..40,
        ) {
            let whole = split_frames(max, &input, &[]);
            prop_assert_eq!(&split_frames(max, &input, &cuts), &whole);
            prop_assert_eq!(whole, reference(max, &input));
        }

        #[test]
        fn prop_encoded_lines_frame_back(msgs in proptest::collection::vec("[^\r\n]{1,30}", 0..10)) {
            let mut stream = Vec::new();
            for m in &msgs {
                stream.extend(encode_line(m.as_bytes()).unwrap());
            }
            let got = frames(1000, &stream);
            let want: Vec<Frame> = msgs
                .iter()
                .filter(|m| !m.bytes().all(is_json_whitespace))
                .map(|m| Frame::Line(m.as_bytes().to_vec()))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
