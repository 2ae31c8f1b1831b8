//! A small thread pool for blocking I/O jobs, and a count of live threads so `join` can wait
//! for them (bounded) and `Drop` never has to.
//!
//! Why not one thread per job: an MCP call is cheap next to a thread, but the brief (and an
//! operator's `ps`) want a bounded, steady set. Why not a hard bound either: a cancelled MCP
//! exchange may stay blocked in a socket read until its deadline (ureq cannot interrupt one
//! connection of a pool), and new work must not queue behind it. So the pool keeps `core`
//! threads and may grow to `max` temporary ones, which exit once the queue has stayed empty
//! and no job has lacked a thread for the pool's linger time (zero by default: at once).
//! The permanent threads are started on demand and rest too: after [`REST`] in which no
//! job lacked a thread, an idle one exits, down to one. So a burst's threads (and their
//! stacks and connections) do not outlive it by more than a minute, and a quiet tunnel
//! runs on one thread per pool whatever `--mcp.max-concurrent-requests` says.
//!
//! Response POSTs use the same pool shape (see [`post_concurrency`]): behind a control
//! plane 80 ms away each POST holds its thread for the round trip, so posting must run as
//! many at once as responses arrive per round trip, and no fast POST may wait behind slow
//! ones while a thread could still be started.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Counts live I/O threads.
#[derive(Clone, Default)]
pub(crate) struct Threads {
    inner: Arc<(Mutex<usize>, Condvar)>,
}

/// Decrements the live count when the thread ends (even by panic).
struct Alive(Threads);

impl Drop for Alive {
    fn drop(&mut self) {
        let (m, cv) = &*self.0.inner;
        let mut n = m.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        cv.notify_all();
    }
}

impl Threads {
    /// Spawns a named thread that is counted while it runs.
    pub(crate) fn spawn(
        &self,
        name: &str,
        f: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<()> {
        {
            let mut n = self.inner.0.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
        }
        let guard = Alive(self.clone());
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let _guard = guard;
                f();
            })?;
        Ok(())
    }

    /// Waits until every counted thread has ended or `timeout` passed; true if all ended.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.inner;
        let mut n = m.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            n = cv
                .wait_timeout(n, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        *self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct State {
    jobs: VecDeque<Job>,
    idle: usize,
    threads: usize,
    stop: bool,
    /// Last time a job found no idle thread. Temporary threads leave once this is `linger`
    /// ago: a spike grows the pool, and the pool shrinks back after it (under steady load
    /// every idle thread keeps getting some work, so "idle for `linger`" alone never ends).
    saturated_at: Instant,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    core: usize,
    max: usize,
    name: String,
    /// How long a temporary thread waits for more work before it exits.
    linger: Duration,
    /// How long a permanent thread (beyond the first) stays while no job lacked a thread.
    rest: Duration,
}

/// See the module docs: long enough that steady traffic never restarts threads, short
/// enough that a burst's threads are gone within the next minute.
pub(crate) const REST: Duration = Duration::from_secs(60);

/// Most response POSTs in flight at once, whatever the configuration: each holds a thread
/// and a pooled connection (with its 32 KiB of buffers) for a round trip.
pub(crate) const MAX_POSTERS: usize = 128;

/// How long an idle temporary poster stays: under steady load the queue empties between
/// bursts, and restarting threads for every burst showed up in the profile.
pub(crate) const POSTER_LINGER: Duration = Duration::from_secs(10);

/// The poster pool's (permanent, most) threads for an engine holding at most
/// `max_inflight` commands of which `max_concurrent` run MCP work at once.
///
/// Every command the engine holds may be posting at the same time (strict accounting:
/// `--control-plane.max-inflight` bounds queued + running + posting), so up to
/// `max_inflight` POSTs may be wanted at once, capped by [`MAX_POSTERS`]; below that bound
/// no response waits behind another. `--mcp.max-concurrent-requests` threads (at least
/// `floor`) stay permanently, like the Go client, whose every worker posts its own
/// response; the rest start on demand and linger ([`POSTER_LINGER`]). Throughput at a
/// round trip of R is then about `min(max_inflight, 128) / R`: 1,600/s at 80 ms with
/// `--control-plane.max-inflight 256`, 250/s with the defaults (20).
pub(crate) fn post_concurrency(
    max_inflight: usize,
    max_concurrent: usize,
    floor: usize,
) -> (usize, usize) {
    let core = max_concurrent.max(floor).clamp(1, MAX_POSTERS);
    let max = max_inflight.clamp(core, MAX_POSTERS);
    (core, max)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A pool of `core` permanent threads growing to `max` (see the module docs).
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
    threads: Threads,
}

impl Pool {
    pub(crate) fn new(name: &str, core: usize, max: usize, threads: Threads) -> Pool {
        let core = core.max(1);
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    jobs: VecDeque::new(),
                    idle: 0,
                    threads: 0,
                    stop: false,
                    saturated_at: Instant::now(),
                }),
                cv: Condvar::new(),
                core,
                max: max.max(core),
                name: name.to_string(),
                linger: Duration::ZERO,
                rest: REST,
            }),
            threads,
        }
    }

    /// Lets temporary threads wait this long for more work before exiting (call before
    /// the first `submit`).
    pub(crate) fn linger(mut self, d: Duration) -> Pool {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.linger = d;
        }
        self
    }

    /// How long an idle permanent thread stays while no job lacked a thread ([`REST`]).
    #[cfg(test)]
    pub(crate) fn rest(mut self, d: Duration) -> Pool {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.rest = d;
        }
        self
    }

    /// Queues a job; starts a thread when none is idle and the pool may grow.
    pub(crate) fn submit(&self, job: impl FnOnce() + Send + 'static) {
        let mut st = self.shared.lock();
        if st.stop {
            return;
        }
        st.jobs.push_back(Box::new(job));
        if st.jobs.len() > st.idle {
            st.saturated_at = Instant::now();
        }
        if st.jobs.len() <= st.idle {
            self.shared.cv.notify_one();
            return;
        }
        if st.threads < self.shared.max {
            st.threads += 1;
            let temporary = st.threads > self.shared.core;
            let n = st.threads;
            drop(st);
            let shared = Arc::clone(&self.shared);
            let name = format!("{}-{n}", self.shared.name);
            if let Err(e) = self.threads.spawn(&name, move || worker(shared, temporary)) {
                log::error!("could not start a {} thread: {e}", self.shared.name);
                self.shared.lock().threads -= 1;
            }
        } else {
            self.shared.cv.notify_one();
        }
    }

    /// Drops queued jobs and lets every thread end once its current job returns.
    pub(crate) fn stop(&self) {
        let mut st = self.shared.lock();
        st.stop = true;
        st.jobs.clear();
        self.shared.cv.notify_all();
    }
}

fn worker(shared: Arc<Shared>, temporary: bool) {
    let mut st = shared.lock();
    loop {
        if let Some(job) = st.jobs.pop_front() {
            drop(st);
            // A panicking job must not take the pool's thread count down with it silently.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                log::error!("a {} job panicked", shared.name);
            }
            st = shared.lock();
            continue;
        }
        // No job: a temporary thread leaves once no job has lacked a thread for `linger`.
        let quiet = st.saturated_at.elapsed() >= shared.linger;
        if st.stop || (temporary && quiet) {
            st.threads -= 1;
            return;
        }
        st.idle += 1;
        if temporary {
            st = shared
                .cv
                .wait_timeout(st, shared.linger)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            st.idle -= 1;
            continue;
        }
        // A permanent thread rests: it wakes after `rest` without a job and leaves if no
        // job has lacked a thread since, unless it is the last one.
        let (woken, waited) = shared
            .cv
            .wait_timeout(st, shared.rest)
            .unwrap_or_else(|e| e.into_inner());
        st = woken;
        st.idle -= 1;
        let rested = waited.timed_out() && st.saturated_at.elapsed() >= shared.rest;
        if rested && st.jobs.is_empty() && st.threads > 1 {
            st.threads -= 1;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Submits `n` jobs that block until released (one `send` each) and waits until `n`
    /// threads run them.
    fn spike(pool: &Pool, threads: &Threads, n: usize) -> std::sync::mpsc::Sender<()> {
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocked = Arc::new(Mutex::new(blocked));
        for _ in 0..n {
            let b = Arc::clone(&blocked);
            pool.submit(move || {
                let _ = b.lock().unwrap().recv_timeout(Duration::from_secs(5));
            });
        }
        let t0 = Instant::now();
        while threads.live() < n && t0.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(threads.live(), n, "the spike grew the pool");
        release
    }

    /// A burst's permanent threads do not stay for good: once no job has lacked a thread
    /// for the rest time, the idle ones leave, down to one, and the pool still works.
    #[test]
    fn permanent_threads_rest_down_to_one_after_a_burst() {
        let threads = Threads::default();
        let pool = Pool::new("r", 3, 3, threads.clone()).rest(Duration::from_millis(200));
        let release = spike(&pool, &threads, 3);
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        let t0 = Instant::now();
        while threads.live() > 1 && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            threads.live(),
            1,
            "idle permanent threads rested, one stays"
        );
        let (tx, rx) = std::sync::mpsc::channel();
        pool.submit(move || tx.send(()).unwrap());
        rx.recv_timeout(Duration::from_secs(2))
            .expect("the pool still runs jobs after resting");
        pool.stop();
        assert!(threads.wait_idle(Duration::from_secs(3)));
    }

    #[test]
    fn runs_jobs_grows_past_core_and_stops() {
        let threads = Threads::default();
        let pool = Pool::new("t", 1, 3, threads.clone());
        let done = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        // Two blocked jobs: the second must get a temporary thread, not wait.
        for _ in 0..2 {
            let rx = Arc::clone(&rx);
            let done = Arc::clone(&done);
            pool.submit(move || {
                let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(5));
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        let d2 = Arc::clone(&done);
        pool.submit(move || {
            d2.fetch_add(10, Ordering::SeqCst);
        });
        let t0 = Instant::now();
        while done.load(Ordering::SeqCst) < 10 && t0.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            done.load(Ordering::SeqCst) >= 10,
            "third job ran while two were blocked"
        );
        tx.send(()).unwrap();
        tx.send(()).unwrap();
        pool.stop();
        assert!(threads.wait_idle(Duration::from_secs(3)));
        assert_eq!(threads.live(), 0);
        assert_eq!(done.load(Ordering::SeqCst), 12);
    }

    /// A slow POST must not hold back a fast one while the pool may still grow: with one
    /// permanent thread blocked, the next job starts at once on a temporary thread, which
    /// then stays for the next burst instead of being restarted.
    #[test]
    fn a_fast_job_never_waits_behind_a_slow_one_and_temporaries_linger() {
        let threads = Threads::default();
        let pool = Pool::new("p", 1, 4, threads.clone()).linger(Duration::from_secs(30));
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        pool.submit(move || {
            let _ = blocked.recv_timeout(Duration::from_secs(10));
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let t = tx.clone();
        pool.submit(move || {
            t.send(std::thread::current().name().map(str::to_string))
                .unwrap()
        });
        let first = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the fast job ran while the slow one was blocked");
        // The temporary thread lingers: the next job runs on it, no third thread.
        std::thread::sleep(Duration::from_millis(50));
        pool.submit(move || {
            tx.send(std::thread::current().name().map(str::to_string))
                .unwrap()
        });
        let second = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(first, second, "same lingering thread");
        assert_eq!(threads.live(), 2);
        release.send(()).unwrap();
        pool.stop();
        assert!(threads.wait_idle(Duration::from_secs(3)));
    }

    /// After a spike the pool shrinks back to its permanent threads even while jobs keep
    /// coming, as long as none of them lacks a thread.
    #[test]
    fn temporaries_leave_once_no_job_lacked_a_thread_for_the_linger_time() {
        let threads = Threads::default();
        let pool = Pool::new("s", 1, 3, threads.clone()).linger(Duration::from_millis(200));
        let release = spike(&pool, &threads, 3);
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        // A trickle of quick jobs, one at a time: never more than one thread needed.
        let t0 = Instant::now();
        while threads.live() > 1 && t0.elapsed() < Duration::from_secs(5) {
            let (tx, rx) = std::sync::mpsc::channel();
            pool.submit(move || tx.send(()).unwrap());
            rx.recv_timeout(Duration::from_secs(2)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            threads.live(),
            1,
            "back to the permanent thread under a light load"
        );
        pool.stop();
        assert!(threads.wait_idle(Duration::from_secs(3)));
    }

    #[test]
    fn post_concurrency_follows_the_configuration_within_bounds() {
        // Defaults (20 in flight, 10 MCP workers, floor 4): 10 permanent, up to 20.
        assert_eq!(post_concurrency(20, 10, 4), (10, 20));
        // The issue's load: 256 in flight, 64 workers: capped at MAX_POSTERS.
        assert_eq!(post_concurrency(256, 64, 4), (64, MAX_POSTERS));
        // Tiny configurations keep the floor; the most never falls below the permanent.
        assert_eq!(post_concurrency(1, 1, 4), (4, 4));
        assert_eq!(
            post_concurrency(10_000, 10_000, 4),
            (MAX_POSTERS, MAX_POSTERS)
        );
    }
}
