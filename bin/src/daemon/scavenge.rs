//! Hands freed heap memory back to the operating system, as Go's runtime scavenger does.
//!
//! glibc keeps what a program frees in its arenas (one per thread that allocated
//! concurrently, up to eight per core) and returns only the top of each heap. A burst of
//! responses makes the poster pool open threads and connections; when it subsides they are
//! freed, but their pages stay resident in scattered arenas, so the resident size steps up
//! with each burst larger than the last and never comes back down. The one-hour soak showed
//! it (`docs/reliability.md`). Every [`INTERVAL`], `malloc_trim(0)` releases whole free
//! pages in every arena (`madvise(MADV_DONTNEED)`): a walk over the free lists, well under a
//! millisecond for a heap this size, off the hot path in a thread of its own.
//!
//! The same soak showed the arenas themselves were most of the drift: with glibc's default
//! of up to sixteen arenas on two cores, each poster thread's frees land in its own
//! partly used pages. [`limit_arenas`] caps them at [`ARENAS`] before the runtime's threads
//! start (glibc's per-thread caches still serve small allocations without the arena
//! lock): RSS held at 10.5–10.6 MiB from the first to the fifth minute, where the default
//! went from 10.9 to 12.0 MiB, at no cost in CPU per command (225 µs against 246–275 µs).
//! An operator's `MALLOC_ARENA_MAX` wins.
//!
//! Other allocators and platforms return memory on their own or keep it; there both are
//! no-ops.

use std::time::Duration;

/// How often freed memory is returned.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Most malloc arenas `run` uses (see the module doc).
pub const ARENAS: i32 = 2;

/// Caps glibc's malloc arenas at [`ARENAS`] unless `MALLOC_ARENA_MAX` is set. Call before
/// threads start; returns whether the cap was set.
pub fn limit_arenas() -> bool {
    std::env::var_os("MALLOC_ARENA_MAX").is_none() && set_arena_max(ARENAS)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_arena_max(n: i32) -> bool {
    // SAFETY: mallopt only changes a malloc parameter; M_ARENA_MAX applies to arenas
    // created afterwards and is safe to set while other threads allocate.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, n) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_: i32) -> bool {
    false
}

/// Starts the scavenger thread (Linux with glibc only); it lives as long as the process.
pub fn spawn() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("scavenge".into())
        .stack_size(64 * 1024)
        .spawn(|| loop {
            std::thread::sleep(INTERVAL);
            trim();
        });
    if let Err(e) = spawned {
        log::debug!("cannot start the memory scavenger: {e}");
    }
}

/// Returns whole free pages of every arena to the OS now.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists; it takes
    // the arena locks itself and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    fn rss_anon_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssAnon:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    /// What a burst leaves behind: many small blocks allocated and freed by other threads
    /// (so in their arenas, not the main heap), with a few survivors keeping the heaps from
    /// shrinking at the top. Trimming gives most of it back.
    #[test]
    fn the_arena_cap_is_accepted_unless_the_operator_set_one() {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            assert!(limit_arenas(), "glibc refused M_ARENA_MAX");
        } else {
            assert!(!limit_arenas());
        }
    }

    #[test]
    fn trimming_returns_what_a_burst_freed() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    let mut blocks: Vec<Vec<u8>> =
                        (0..40_000).map(|i| vec![i as u8; 200]).collect();
                    // Keep every 1,000th block: the arena cannot shrink from its top.
                    let kept: Vec<Vec<u8>> = blocks.iter().step_by(1_000).cloned().collect();
                    blocks.clear();
                    blocks.shrink_to_fit();
                    kept
                })
            })
            .collect();
        let kept: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let before = rss_anon_kib();
        trim();
        let after = rss_anon_kib();
        assert!(
            before.saturating_sub(after) > 8 * 1024,
            "resident anonymous memory {before} KiB before the trim, {after} KiB after"
        );
        drop(kept);
    }
}
