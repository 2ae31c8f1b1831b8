//! The `response_timeout` grammar and the deadline it implies.
//!
//! A command may say how long the control plane will wait for its answer. Past that point an
//! answer is useless (the caller has given up), so the client drops the command instead of
//! doing the work. The field is deliberately *fail-open*: anything that is not exactly a
//! well-formed duration means "no deadline" and the command is still served, because refusing
//! work over a malformed hint would turn a cosmetic bug on the service into an outage.
//!
//! The grammar is narrower than Go's `time.ParseDuration` on purpose (it is the subset both
//! clients agree on): one unsigned decimal integer followed by one unit, `ns us ms s m h`,
//! with the value fitting Go's `time.Duration` (at most `i64::MAX` nanoseconds, ≈ 292
//! years). No whitespace, signs, fractions, exponents, compounds (`1m30s`) or `µs`.

use std::time::{Duration, Instant};

use serde_json::value::RawValue;

/// Largest representable timeout: Go's `time.Duration` maximum.
pub const MAX_RESPONSE_TIMEOUT_NANOS: u64 = i64::MAX as u64;

/// Nanoseconds per unit of the grammar.
fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// Parses the string form: `^[0-9]+(ns|us|ms|s|m|h)$` bounded by `i64::MAX` nanoseconds.
///
/// Returns `None` for anything else. `0s` is valid and yields [`Duration::ZERO`] (a command
/// that is already expired).
pub fn parse_duration_literal(s: &str) -> Option<Duration> {
    let digits_end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let (digits, unit) = s.split_at_checked(digits_end)?;
    if digits.is_empty() {
        return None;
    }
    let per_unit = unit_nanos(unit)?;
    // Leading zeros are allowed by the grammar; the value check is on the number itself.
    let value = digits.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })?;
    let nanos = value.checked_mul(per_unit)?;
    if nanos > MAX_RESPONSE_TIMEOUT_NANOS {
        return None;
    }
    Some(Duration::from_nanos(nanos))
}

/// Parses a command's raw `response_timeout` member.
///
/// Only a JSON *string* is considered (JSON escapes are decoded first, as any JSON reader
/// would); absent, `null`, numbers, booleans, arrays and objects all mean "no deadline".
pub fn parse_response_timeout(raw: Option<&RawValue>) -> Option<Duration> {
    let text = raw?.get();
    // Cheap pre-check so a large object or array is not decoded just to be rejected.
    if !text.trim_start().starts_with('"') {
        return None;
    }
    let s: String = serde_json::from_str(text).ok()?;
    parse_duration_literal(&s)
}

/// The instant after which a command's answer is no longer wanted.
///
/// `receipt` is when the poll response carrying the command arrived (the one anchor both
/// sides can agree on; `created_at` is another machine's clock). A timeout too large for
/// `Instant` arithmetic (hundreds of years) cannot be reached either, so it is treated as no
/// deadline rather than clamped to some arbitrary far instant.
pub fn deadline(receipt: Instant, timeout: Option<Duration>) -> Option<Instant> {
    receipt.checked_add(timeout?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).unwrap()
    }

    fn parse_json(json: &str) -> Option<Duration> {
        parse_response_timeout(Some(&raw(json)))
    }

    #[test]
    fn timeout_every_unit_is_understood() {
        assert_eq!(parse_duration_literal("7ns"), Some(Duration::from_nanos(7)));
        assert_eq!(
            parse_duration_literal("7us"),
            Some(Duration::from_micros(7))
        );
        assert_eq!(
            parse_duration_literal("7ms"),
            Some(Duration::from_millis(7))
        );
        assert_eq!(parse_duration_literal("7s"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration_literal("7m"), Some(Duration::from_secs(420)));
        assert_eq!(
            parse_duration_literal("7h"),
            Some(Duration::from_secs(25_200))
        );
    }

    #[test]
    fn timeout_zero_is_valid_and_already_expired() {
        assert_eq!(parse_json(r#""0s""#), Some(Duration::ZERO));
        let now = Instant::now();
        assert_eq!(deadline(now, Some(Duration::ZERO)), Some(now));
    }

    #[test]
    fn timeout_leading_zeros_are_allowed() {
        assert_eq!(
            parse_duration_literal("0030s"),
            Some(Duration::from_secs(30))
        );
        let many = format!("{}1ns", "0".repeat(100));
        assert_eq!(parse_duration_literal(&many), Some(Duration::from_nanos(1)));
    }

    #[test]
    fn timeout_go_duration_maximum_is_the_bound() {
        assert_eq!(
            parse_duration_literal("9223372036854775807ns"),
            Some(Duration::from_nanos(i64::MAX as u64))
        );
        assert_eq!(parse_duration_literal("9223372036854775808ns"), None);
        assert_eq!(
            parse_duration_literal("2562047h"),
            Some(Duration::from_secs(2_562_047 * 3600))
        );
        assert_eq!(parse_duration_literal("2562048h"), None);
        assert_eq!(parse_duration_literal("99999999999999999999999s"), None);
    }

    #[test]
    fn timeout_rejects_everything_outside_the_grammar() {
        for bad in [
            "", "s", "10", "1.5s", "-1s", "+1s", " 1s", "1s ", "1 s", "1m30s", "1e3ms", "1µs",
            "1μs", "1d", "1S", "1Ms", "1sec", "0x10s", "１s", "1ss", "\u{0}1s",
        ] {
            assert_eq!(parse_duration_literal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn timeout_only_json_strings_count() {
        assert_eq!(parse_response_timeout(None), None);
        for bad in [
            "null",
            "30",
            "30.0",
            "true",
            "[\"1s\"]",
            "{\"a\":\"1s\"}",
            r#""0s ""#,
        ] {
            assert_eq!(parse_json(bad), None, "{bad}");
        }
        assert_eq!(parse_json(r#""30s""#), Some(Duration::from_secs(30)));
    }

    #[test]
    fn timeout_json_escapes_are_decoded_before_the_grammar() {
        assert_eq!(parse_json(r#""\u0031s""#), Some(Duration::from_secs(1)));
        assert_eq!(parse_json(r#""1s\n""#), None);
    }

    #[test]
    fn deadline_without_timeout_is_none() {
        assert_eq!(deadline(Instant::now(), None), None);
    }

    #[test]
    fn deadline_adds_timeout_to_receipt() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Some(Duration::from_secs(5))),
            Some(now + Duration::from_secs(5))
        );
    }

    #[test]
    fn deadline_that_overflows_instant_means_no_deadline() {
        assert_eq!(deadline(Instant::now(), Some(Duration::MAX)), None);
    }

    proptest! {
        #[test]
        fn prop_arbitrary_text_never_panics(s in any::<String>()) {
            let _ = parse_duration_literal(&s);
            if let Ok(json) = serde_json::to_string(&s) {
                let _ = parse_json(&json);
            }
        }

        #[test]
        fn prop_number_and_unit_round_trip(n in any::<u64>(), unit_idx in 0usize..6) {
            let units = ["ns", "us", "ms", "s", "m", "h"];
            let unit = units[unit_idx];
            let per = unit_nanos(unit).unwrap();
            let expected = n.checked_mul(per).filter(|v| *v <= MAX_RESPONSE_TIMEOUT_NANOS);
            let got = parse_duration_literal(&format!("{n}{unit}"));
            prop_assert_eq!(got, expected.map(Duration::from_nanos));
        }

        #[test]
        fn prop_whitespace_anywhere_invalidates(n in 0u32..100_000, pos in 0usize..8, ws_idx in 0usize..4) {
            let ws = [" ", "\t", "\n", "\r"][ws_idx];
            let s = format!("{n}ms");
            let pos = pos.min(s.len());
            let mut with_ws = s.clone();
            with_ws.insert_str(pos, ws);
            prop_assert_eq!(parse_duration_literal(&with_ws), None);
        }
    }
}
