//! Added latency: makes the loopback emulator answer like a control plane across the
//! internet (20–150 ms per exchange), so tests, `bench` and `dev control-plane` can show
//! what a round trip does to throughput and memory (issue #22).
//!
//! Two legs are delayed, each by `base ± jitter` drawn from a seeded generator:
//! - a poll answer that carries commands (after the commands are taken, before the answer
//!   is written: the commands are in transit, gone from the queue, as with the real
//!   service). An empty 204 is not delayed: the long-poll wait already was the time.
//! - a response POST, before it is handled (the service sees it one round trip later,
//!   which is also when the client learns it landed).
//!
//! The sequence of draws is fixed by the seed; which request gets which draw follows the
//! order requests arrive in, which threads decide.

use std::sync::Mutex;
use std::time::Duration;

/// Latency settings. `Default` adds nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Added to each poll answer that carries commands.
    pub poll: Duration,
    /// Added to each response POST.
    pub post: Duration,
    /// Each delay is uniform in `base - jitter ..= base + jitter` (never below zero).
    pub jitter: Duration,
    /// Seed of the jitter draws.
    pub seed: u64,
}

impl Latency {
    /// `d` on polls and posts alike, no jitter.
    pub fn uniform(d: Duration) -> Latency {
        Latency {
            poll: d,
            post: d,
            ..Latency::default()
        }
    }

    /// With `jitter` (see the field).
    pub fn with_jitter(self, jitter: Duration, seed: u64) -> Latency {
        Latency {
            jitter,
            seed,
            ..self
        }
    }

    pub fn is_zero(&self) -> bool {
        self.poll.is_zero() && self.post.is_zero() && self.jitter.is_zero()
    }
}

/// Parses a duration flag value: `80ms`, `1.5s`, or a bare number of milliseconds.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else {
        (v, 1e-3)
    };
    match num.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=600.0).contains(&(x * scale)) => {
            Ok(Duration::from_secs_f64(x * scale))
        }
        _ => Err(format!(
            "{v:?} is not a duration between 0 and 600 s (e.g. 80ms, 0.15s, 80)"
        )),
    }
}

/// The emulator's latency source: the settings and the generator, changeable while running.
pub(crate) struct Delayer {
    inner: Mutex<(Latency, u64)>,
}

/// Which leg is delayed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Leg {
    Poll,
    Post,
}

impl Delayer {
    pub(crate) fn new(l: Latency) -> Delayer {
        Delayer {
            inner: Mutex::new((l, l.seed)),
        }
    }

    pub(crate) fn set(&self, l: Latency) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = (l, l.seed);
    }

    pub(crate) fn get(&self) -> Latency {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// The delay for one request on `leg` (advances the generator when there is jitter).
    pub(crate) fn draw(&self, leg: Leg) -> Duration {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (l, state) = &mut *g;
        let base = match leg {
            Leg::Poll => l.poll,
            Leg::Post => l.post,
        };
        if l.jitter.is_zero() {
            return base;
        }
        let span = l.jitter.as_nanos().min(u64::MAX as u128 / 2) as u64;
        // Uniform in 0..=2*span, shifted down by span.
        let r = splitmix64(state) % (2 * span + 1);
        let nanos = base.as_nanos() as i128 + r as i128 - span as i128;
        Duration::from_nanos(nanos.clamp(0, u64::MAX as i128) as u64)
    }

    /// Sleeps for one draw on `leg` (nothing when it is zero).
    pub(crate) fn sleep(&self, leg: Leg) {
        let d = self.draw(leg);
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

/// SplitMix64: small, seedable, good enough for jitter (no dependency for ten lines).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_within_base_plus_minus_jitter_and_repeat_with_the_seed() {
        let ms = Duration::from_millis;
        let l = Latency::uniform(ms(80)).with_jitter(ms(20), 42);
        let a = Delayer::new(l);
        let b = Delayer::new(l);
        let xs: Vec<Duration> = (0..1000).map(|_| a.draw(Leg::Post)).collect();
        let ys: Vec<Duration> = (0..1000).map(|_| b.draw(Leg::Post)).collect();
        assert_eq!(xs, ys, "same seed, same sequence");
        assert!(xs.iter().all(|d| *d >= ms(60) && *d <= ms(100)));
        assert!(xs.iter().any(|d| *d < ms(70)) && xs.iter().any(|d| *d > ms(90)));
        let c = Delayer::new(Latency::uniform(ms(5)).with_jitter(ms(20), 1));
        assert!(
            (0..200).all(|_| c.draw(Leg::Poll) <= ms(25)),
            "never below zero"
        );
        let z = Delayer::new(Latency::default());
        assert_eq!(z.draw(Leg::Poll), Duration::ZERO);
    }

    #[test]
    fn durations_parse_with_or_without_units() {
        assert_eq!(parse_duration("80ms"), Ok(Duration::from_millis(80)));
        assert_eq!(parse_duration("80"), Ok(Duration::from_millis(80)));
        assert_eq!(parse_duration("0.15s"), Ok(Duration::from_millis(150)));
        assert!(parse_duration("-1ms").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
