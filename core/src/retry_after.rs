//! `Retry-After` parsing, shared by the poll loop and the response POST retries.
//!
//! The header lets the control plane slow the client down under load; the client honours it
//! as a *floor* under its own backoff (see [`crate::backoff::with_retry_after`]). It is also
//! capped at [`RETRY_AFTER_CAP`]: a misconfigured proxy answering `Retry-After: 86400` must
//! not silence a tunnel for a day, and one minute is already longer than any sensible
//! overload pause for a long-poll client.
//!
//! Wall-clock time is an argument because an HTTP-date is only meaningful relative to "now",
//! and the core never reads clocks itself.

use std::time::{Duration, SystemTime};

/// Longest pause a `Retry-After` can impose.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// Parses a `Retry-After` value into the pause it asks for, capped at [`RETRY_AFTER_CAP`].
///
/// * surrounding whitespace is ignored; an empty value is `None`;
/// * all ASCII digits: delta-seconds (`0` is `Some(ZERO)`, a no-op as a floor); values above
///   the cap, including ones too large for any integer type, become the cap;
/// * otherwise an HTTP-date (IMF-fixdate, RFC 850 or asctime): the time until then; a date
///   that is now or in the past is `None`;
/// * anything else (`-1`, `1.5`, `later`) is `None`, so the caller's backoff applies.
pub fn parse_retry_after(value: &str, now_wall: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(delta_seconds(value));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at.duration_since(now_wall).ok()?;
    if wait.is_zero() {
        return None;
    }
    Some(wait.min(RETRY_AFTER_CAP))
}

/// Delta-seconds from a non-empty all-digit string, saturating at the cap.
fn delta_seconds(digits: &str) -> Duration {
    let cap = RETRY_AFTER_CAP.as_secs();
    let secs = digits
        .bytes()
        .try_fold(0u64, |acc, b| {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
        .unwrap_or(u64::MAX);
    Duration::from_secs(secs.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Tue, 15 Nov 1994 08:12:31 GMT — the RFC's example date, as a fixed "now".
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(784_887_151)
    }

    #[test]
    fn retry_after_delta_seconds_are_honoured() {
        assert_eq!(parse_retry_after("5", now()), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("  7 \t", now()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("0", now()), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_delta_seconds_clamp_to_sixty() {
        assert_eq!(parse_retry_after("60", now()), Some(RETRY_AFTER_CAP));
        assert_eq!(parse_retry_after("61", now()), Some(RETRY_AFTER_CAP));
        assert_eq!(
            parse_retry_after("99999999999999999999999999999", now()),
            Some(RETRY_AFTER_CAP)
        );
    }

    #[test]
    fn retry_after_empty_is_ignored() {
        assert_eq!(parse_retry_after("", now()), None);
        assert_eq!(parse_retry_after("   ", now()), None);
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        for bad in [
            "-1",
            "+1",
            "1.5",
            "later",
            "1e3",
            "0x10",
            "5 s",
            "Tue, 15 Nov 1994",
        ] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_http_date_in_future_is_the_difference() {
        let v = "Tue, 15 Nov 1994 08:12:41 GMT";
        assert_eq!(parse_retry_after(v, now()), Some(Duration::from_secs(10)));
    }

    #[test]
    fn retry_after_http_date_in_all_three_formats() {
        let ten = Some(Duration::from_secs(10));
        assert_eq!(
            parse_retry_after("Tue, 15 Nov 1994 08:12:41 GMT", now()),
            ten
        );
        assert_eq!(
            parse_retry_after("Tuesday, 15-Nov-94 08:12:41 GMT", now()),
            ten
        );
        assert_eq!(parse_retry_after("Tue Nov 15 08:12:41 1994", now()), ten);
    }

    #[test]
    fn retry_after_http_date_far_in_future_clamps_to_sixty() {
        let v = "Wed, 16 Nov 1994 08:12:31 GMT";
        assert_eq!(parse_retry_after(v, now()), Some(RETRY_AFTER_CAP));
    }

    #[test]
    fn retry_after_http_date_in_past_is_ignored() {
        assert_eq!(
            parse_retry_after("Tue, 15 Nov 1994 08:12:30 GMT", now()),
            None
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now()),
            None
        );
    }

    #[test]
    fn retry_after_http_date_equal_to_now_is_ignored() {
        assert_eq!(
            parse_retry_after("Tue, 15 Nov 1994 08:12:31 GMT", now()),
            None
        );
    }

    #[test]
    fn retry_after_http_date_compares_with_subsecond_now() {
        let now = now() + Duration::from_millis(250);
        assert_eq!(
            parse_retry_after("Tue, 15 Nov 1994 08:12:32 GMT", now),
            Some(Duration::from_millis(750))
        );
    }

    proptest! {
        #[test]
        fn prop_never_panics_and_never_exceeds_cap(s in any::<String>(), secs in any::<u64>()) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(secs % 10_000_000_000);
            if let Some(d) = parse_retry_after(&s, now) {
                prop_assert!(d <= RETRY_AFTER_CAP);
            }
        }

        #[test]
        fn prop_delta_seconds_round_trip(n in any::<u64>()) {
            let got = parse_retry_after(&n.to_string(), now());
            prop_assert_eq!(got, Some(Duration::from_secs(n.min(60))));
        }

        #[test]
        fn prop_formatted_dates_round_trip(ahead in 1u64..200) {
            let at = now() + Duration::from_secs(ahead);
            let v = httpdate::fmt_http_date(at);
            prop_assert_eq!(parse_retry_after(&v, now()), Some(Duration::from_secs(ahead.min(60))));
        }
    }
}
