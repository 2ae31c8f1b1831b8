//! Invariants checked by the fuzz targets, shared with `core/tests/fuzz_corpus.rs`, which
//! replays the kept corpus on stable Rust (CI has no nightly guarantee).
//!
//! Each check panics when an invariant is violated; "does not panic" alone is the weakest of
//! them. Inputs that carry parameters (bounds, split points) take them from their first
//! bytes, so the fuzzer explores those too and a saved input replays exactly.
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

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

/// Poll bodies: for now only that JSON which parses re-serializes to JSON that parses
/// again (not necessarily to an equal value: float parsing may round differently by one
/// ulp). The engine's poll decoder will take over this target.
pub fn check_poll_frames(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let again = serde_json::to_vec(&value).unwrap_or_default();
        assert!(
            serde_json::from_slice::<serde_json::Value>(&again).is_ok(),
            "re-serialized JSON does not parse"
        );
    }
}
