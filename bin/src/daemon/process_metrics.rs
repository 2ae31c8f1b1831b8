//! The standard `process_*` families every Prometheus user expects (the Go client has them
//! from the default registry's process collector), read from `/proc/self` on each scrape.
//! Linux only; elsewhere the families are left out rather than reported as zero.

use std::fmt::Write as _;

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Process {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub open_fds: f64,
    pub max_fds: f64,
    pub start_time_seconds: f64,
}

#[cfg(target_os = "linux")]
pub fn read() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Field numbers of proc(5) minus 3 (pid and comm are gone, state is f[0]).
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    let (utime, stime, start, vsize, rss) = (num(11)?, num(12)?, num(19)?, num(20)?, num(21)?);
    // SAFETY: sysconf reads a constant of the running system.
    let (tck, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK) as f64,
            libc::sysconf(libc::_SC_PAGESIZE) as f64,
        )
    };
    if tck <= 0.0 {
        return None;
    }
    let btime = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    // SAFETY: getrlimit with a valid pointer to a local struct.
    let max_fds = unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        lim.rlim_cur as f64
    };
    Some(Process {
        cpu_seconds: (utime + stime) / tck,
        resident_bytes: rss * page,
        virtual_bytes: vsize,
        open_fds,
        max_fds,
        start_time_seconds: btime + start / tck,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn read() -> Option<Process> {
    None
}

/// Appends the families in Prometheus text format.
pub fn render(out: &mut String, p: &Process) {
    let mut one = |name: &str, kind: &str, help: &str, v: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    };
    one(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        p.cpu_seconds,
    );
    one(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        p.resident_bytes,
    );
    one(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        p.virtual_bytes,
    );
    one(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        p.open_fds,
    );
    one(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        p.max_fds,
    );
    one(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds,
    );
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn this_process_reads_plausibly() {
        let p = read().expect("readable /proc/self");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            p.start_time_seconds > now - 3600.0 && p.start_time_seconds <= now + 1.0,
            "{p:?}"
        );
        assert!(p.resident_bytes > 1_000_000.0, "{p:?}");
        assert!(p.virtual_bytes >= p.resident_bytes, "{p:?}");
        assert!(p.open_fds >= 3.0 && p.open_fds <= p.max_fds, "{p:?}");
        assert!(p.cpu_seconds >= 0.0, "{p:?}");
    }
}
