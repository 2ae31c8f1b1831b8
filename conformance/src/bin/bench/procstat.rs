//! Figures about another process, read from `/proc` (Linux only; elsewhere they print as
//! "n/a").

use std::time::Duration;

/// User + system CPU time of `pid` so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name (which may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line: 11 and 12 after ")".
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let hz = clock_ticks_per_second();
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// `sysconf(_SC_CLK_TCK)` is 100 on every Linux this runs on; reading it would need libc.
fn clock_ticks_per_second() -> u64 {
    100
}

fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resident set size in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// The anonymous part of the resident set (heap, stacks) in KiB.
pub fn rss_anon_kib(pid: u32) -> Option<u64> {
    status_field(pid, "RssAnon:")
}

/// Peak resident set size in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

pub fn threads(pid: u32) -> Option<u64> {
    status_field(pid, "Threads:")
}

pub fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}
