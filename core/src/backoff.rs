//! Exponential backoff with jitter, randomness injected.
//!
//! The schedule reproduces the Go client's (jpillora/backoff with jitter, factor 2) so that a
//! fleet of Rust and Go clients recovering from the same control-plane outage spreads out the
//! same way: for the n-th consecutive failure (n = 0, 1, …) the ceiling is `min · 2ⁿ`, the
//! delay is uniform in `[min, ceiling)`, then clamped to `[min, max]`. The first retry is
//! therefore exactly `min`, which keeps a single blip cheap, while sustained failure spreads
//! retries across the whole window instead of synchronising clients.
//!
//! Randomness is an argument ([`fastrand::Rng`], seeded by the adapter) so the core stays
//! deterministic: the same seed replays the same schedule in conformance traces.

use std::time::Duration;

/// Floor of the poll backoff (also the POST retry backoff).
pub const POLL_MIN: Duration = Duration::from_millis(200);
/// Ceiling of the poll backoff.
pub const POLL_MAX: Duration = Duration::from_secs(10);
/// Floor of the backoff while the control plane answers 401/403.
pub const AUTH_MIN: Duration = Duration::from_secs(5);
/// Ceiling of the backoff while the control plane answers 401/403.
pub const AUTH_MAX: Duration = Duration::from_secs(60);

/// Backoff state for one retry sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    /// Consecutive failures seen since the last [`Backoff::reset`].
    attempt: u32,
}

impl Backoff {
    /// A backoff between `min` and `max`; a `max` below `min` is raised to `min`.
    pub const fn new(min: Duration, max: Duration) -> Self {
        let max = if max.as_nanos() < min.as_nanos() {
            min
        } else {
            max
        };
        Backoff {
            min,
            max,
            attempt: 0,
        }
    }

    /// The poll loop's (and response POST's) schedule: 200 ms up to 10 s, as in Go.
    pub const fn poll() -> Self {
        Backoff::new(POLL_MIN, POLL_MAX)
    }

    /// The schedule while the control plane rejects our credentials (401/403).
    ///
    /// Go retries those like any transient error (200 ms → 10 s), which hammers the service
    /// with requests that cannot succeed until an operator acts. A bad key is an operator
    /// problem, so we start at 5 s (the first delay after the initial rejection) and double
    /// up to 60 s: a fixed key is picked up within a minute, and a tunnel left misconfigured
    /// overnight costs about one request a minute.
    pub const fn auth() -> Self {
        Backoff::new(AUTH_MIN, AUTH_MAX)
    }

    pub fn min(&self) -> Duration {
        self.min
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// Consecutive failures recorded so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Records one more failure and returns how long to wait before retrying.
    pub fn next_delay(&mut self, rng: &mut fastrand::Rng) -> Duration {
        let delay = self.delay_for(self.attempt, rng);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Back to the first delay, after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn delay_for(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let min = self.min.as_nanos();
        let max = self.max.as_nanos();
        let ceiling = saturating_pow2_mul(min, attempt);
        let jittered = match ceiling.checked_sub(min) {
            Some(span) if span > 0 => min.saturating_add(rng.u128(0..span)),
            _ => min,
        };
        nanos_to_duration(jittered.clamp(min, max))
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::poll()
    }
}

/// `value · 2^exp`, saturating at `u128::MAX`.
fn saturating_pow2_mul(value: u128, exp: u32) -> u128 {
    if value == 0 {
        return 0;
    }
    if exp >= value.leading_zeros() {
        return u128::MAX;
    }
    value << exp
}

/// Nanoseconds (at most some `Duration`'s `as_nanos()`) back into a `Duration`.
fn nanos_to_duration(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10⁹ and always fits.
    let sub = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, sub)
}

/// The pause before a retry when the server also sent `Retry-After`: whichever is longer.
///
/// The server's hint is a floor, never a way to retry *sooner* than our own schedule; it is
/// already capped at 60 s by [`crate::retry_after::parse_retry_after`].
pub fn with_retry_after(backoff: Duration, retry_after: Option<Duration>) -> Duration {
    retry_after.map_or(backoff, |ra| backoff.max(ra))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rng() -> fastrand::Rng {
        fastrand::Rng::with_seed(7)
    }

    #[test]
    fn backoff_first_delay_is_exactly_min() {
        let mut r = rng();
        assert_eq!(
            Backoff::poll().next_delay(&mut r),
            Duration::from_millis(200)
        );
        assert_eq!(Backoff::auth().next_delay(&mut r), Duration::from_secs(5));
    }

    #[test]
    fn backoff_nth_delay_is_within_min_and_doubling_ceiling() {
        let mut r = rng();
        for _ in 0..200 {
            let mut b = Backoff::poll();
            b.next_delay(&mut r);
            let second = b.next_delay(&mut r);
            assert!(
                second >= POLL_MIN && second < Duration::from_millis(400),
                "{second:?}"
            );
            let third = b.next_delay(&mut r);
            assert!(
                third >= POLL_MIN && third < Duration::from_millis(800),
                "{third:?}"
            );
        }
    }

    #[test]
    fn backoff_never_exceeds_max_even_after_many_failures() {
        let mut r = rng();
        let mut b = Backoff::poll();
        for _ in 0..1_000 {
            let d = b.next_delay(&mut r);
            assert!(d >= POLL_MIN && d <= POLL_MAX, "{d:?}");
        }
        assert_eq!(b.attempt(), 1_000);
    }

    #[test]
    fn backoff_late_attempts_reach_the_ceiling() {
        let mut r = rng();
        let mut b = Backoff::auth();
        let delays: Vec<_> = (0..40).map(|_| b.next_delay(&mut r)).collect();
        assert!(delays
            .iter()
            .skip(10)
            .all(|d| *d >= AUTH_MIN && *d <= AUTH_MAX));
        assert!(delays.iter().any(|d| *d > Duration::from_secs(30)));
    }

    #[test]
    fn backoff_reset_restarts_at_min() {
        let mut r = rng();
        let mut b = Backoff::poll();
        for _ in 0..10 {
            b.next_delay(&mut r);
        }
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.next_delay(&mut r), POLL_MIN);
    }

    #[test]
    fn backoff_same_seed_same_schedule() {
        let run = || {
            let mut r = fastrand::Rng::with_seed(42);
            let mut b = Backoff::poll();
            (0..20).map(|_| b.next_delay(&mut r)).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn backoff_max_below_min_is_raised_to_min() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(b.max(), Duration::from_secs(2));
        let mut r = rng();
        assert!((0..10).all(|_| b.next_delay(&mut r) == Duration::from_secs(2)));
    }

    #[test]
    fn backoff_handles_extreme_bounds_without_overflow() {
        let mut r = rng();
        let mut b = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(b.next_delay(&mut r), Duration::MAX);
        assert_eq!(b.next_delay(&mut r), Duration::MAX);
        let mut z = Backoff::new(Duration::ZERO, Duration::from_secs(1));
        assert!((0..10).all(|_| z.next_delay(&mut r) == Duration::ZERO));
    }

    #[test]
    fn retry_after_is_a_floor_under_backoff() {
        let b = Duration::from_millis(200);
        assert_eq!(with_retry_after(b, None), b);
        assert_eq!(
            with_retry_after(b, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            with_retry_after(Duration::from_secs(8), Some(Duration::from_secs(3))),
            Duration::from_secs(8)
        );
        assert_eq!(with_retry_after(b, Some(Duration::ZERO)), b);
    }

    proptest! {
        #[test]
        fn prop_delays_stay_within_bounds(
            seed in any::<u64>(),
            min_ms in 0u64..100_000,
            extra_ms in 0u64..1_000_000,
            failures in 0usize..200,
        ) {
            let min = Duration::from_millis(min_ms);
            let max = min + Duration::from_millis(extra_ms);
            let mut b = Backoff::new(min, max);
            let mut r = fastrand::Rng::with_seed(seed);
            for n in 0..failures {
                let d = b.next_delay(&mut r);
                prop_assert!(d >= min && d <= max);
                let ceiling = min.saturating_mul(1u32.checked_shl(n as u32).unwrap_or(u32::MAX));
                prop_assert!(d <= ceiling.max(min));
            }
        }
    }
}
