//! Raises the soft open-file limit to the hard one at start, as the Go runtime does (since Go
//! 1.19): the health listener holds a socket per waiting connection, and a soft limit of
//! 1,024 (or macOS's 256) would otherwise be reached by a few hundred idle clients. Past the
//! limit the listener still evicts its oldest waiting connection to accept a new one, so
//! this is headroom, not correctness.

/// Returns the new soft limit when it was raised.
#[cfg(unix)]
pub fn raise() -> Option<libc::rlim_t> {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 || lim.rlim_cur >= lim.rlim_max {
            return None;
        }
        // macOS refuses more than OPEN_MAX for the soft limit.
        #[cfg(target_os = "macos")]
        let want = lim.rlim_max.min(libc::OPEN_MAX as libc::rlim_t);
        #[cfg(not(target_os = "macos"))]
        let want = lim.rlim_max;
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        (want > lim.rlim_cur && libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0).then_some(want)
    }
}

#[cfg(not(unix))]
pub fn raise() -> Option<u32> {
    None
}
