//! The admin UI's log buffer: the last `--admin-ui.log-buffer-events` records (default 2000)
//! that passed the level filter, already redacted by the logger, with sequence numbers
//! monotonic from 1 so the page can ask for "everything after N".

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::SystemTime;

use log::Level;

use crate::logging::Entry;

/// One buffered record.
#[derive(Debug, Clone)]
pub struct LogEvent {
    pub seq: u64,
    pub time: SystemTime,
    pub level: Level,
    pub target: String,
    pub message: String,
}

impl LogEvent {
    /// The shape of `/api/logs` events and of the bundle's NDJSON lines (Go's names:
    /// `seq`, `time`, `level` in upper case, `message`, `attrs`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seq": self.seq,
            "time": crate::logging::rfc3339_millis(self.time),
            "level": go_level(self.level),
            "message": self.message,
            "attrs": {"target": self.target},
        })
    }
}

/// Go's level names (`slog`): there is no TRACE, it is DEBUG-4.
pub fn go_level(l: Level) -> &'static str {
    match l {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "DEBUG-4",
    }
}

/// A bounded ring of log events.
#[derive(Debug)]
pub struct LogBuffer {
    capacity: usize,
    inner: Mutex<Ring>,
    /// Wakes `/api/logs/stream` subscribers when an event arrives.
    arrived: Condvar,
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<LogEvent>,
    next_seq: u64,
}

impl LogBuffer {
    pub fn new(capacity: usize) -> LogBuffer {
        LogBuffer {
            capacity: capacity.max(1),
            inner: Mutex::new(Ring {
                events: VecDeque::new(),
                next_seq: 1,
            }),
            arrived: Condvar::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends one record (called from the logger: must never log).
    pub fn push(&self, e: &Entry) {
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let seq = r.next_seq;
        r.next_seq += 1;
        if r.events.len() == self.capacity {
            r.events.pop_front();
        }
        r.events.push_back(LogEvent {
            seq,
            time: e.time,
            level: e.level,
            target: e.target.clone(),
            message: e.message.clone(),
        });
        drop(r);
        self.arrived.notify_all();
    }

    /// The newest `limit` events with `seq > after`, waiting up to `timeout` for one to
    /// arrive when there is none yet (empty on timeout).
    pub fn wait_after(
        &self,
        after: u64,
        limit: usize,
        timeout: std::time::Duration,
    ) -> Vec<LogEvent> {
        let r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (r, _) = self
            .arrived
            .wait_timeout_while(r, timeout, |r| r.next_seq <= after + 1)
            .unwrap_or_else(|p| p.into_inner());
        let newer: Vec<&LogEvent> = r.events.iter().filter(|e| e.seq > after).collect();
        let skip = newer.len().saturating_sub(limit);
        newer.into_iter().skip(skip).cloned().collect()
    }

    /// The newest `limit` events with `seq > after`, oldest first.
    pub fn recent(&self, limit: usize, after: u64) -> Vec<LogEvent> {
        let r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let newer: Vec<&LogEvent> = r.events.iter().filter(|e| e.seq > after).collect();
        let skip = newer.len().saturating_sub(limit);
        newer.into_iter().skip(skip).cloned().collect()
    }

    /// Every event at or after `since`, oldest first.
    pub fn since(&self, since: SystemTime) -> Vec<LogEvent> {
        let r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        r.events
            .iter()
            .filter(|e| e.time >= since)
            .cloned()
            .collect()
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(msg: &str) -> Entry {
        Entry {
            time: SystemTime::now(),
            level: Level::Info,
            target: "t".into(),
            message: msg.into(),
        }
    }

    #[test]
    fn ring_keeps_the_newest_with_monotonic_seq() {
        let b = LogBuffer::new(3);
        for i in 0..5 {
            b.push(&entry(&format!("m{i}")));
        }
        let all = b.recent(100, 0);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(all[0].message, "m2");
        assert_eq!(b.recent(1, 0)[0].seq, 5);
        assert_eq!(b.recent(100, 4).len(), 1);
        assert_eq!(b.next_seq(), 6);
        assert_eq!(b.to_owned_json_level(), "INFO");
    }

    impl LogBuffer {
        fn to_owned_json_level(&self) -> String {
            self.recent(1, 0)[0].to_json()["level"]
                .as_str()
                .unwrap()
                .to_string()
        }
    }
}
