//! `/api/logs/stream`: the log buffer as server-sent events, which the Logs tab follows
//! instead of polling `/api/logs` (Go's endpoint: `event: log`, `id: <seq>`,
//! `data: <event JSON>`, a `: ping` comment every 15 s).
//!
//! A subscriber starts after `?after=<seq>` (or the `Last-Event-ID` an `EventSource` sends
//! when it reconnects; without either, with new events only) and gets at most
//! [`BACKLOG`] events per wake-up: a subscriber that falls behind skips the oldest, and
//! logging never waits for it. Each stream holds one request thread, so at most
//! [`MAX_STREAMS`] run at once (a further one gets 503).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::logbuf::LogBuffer;
use crate::daemon::listener::{Request, Response, Streamer};

/// Events sent per wake-up at most (Go's per-subscriber buffer).
pub const BACKLOG: usize = 256;
/// Concurrent streams at most.
pub const MAX_STREAMS: usize = 8;
/// Keepalive comment interval.
const PING: Duration = Duration::from_secs(15);

static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Releases a stream slot when the stream ends.
struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::AcqRel);
    }
}

pub fn stream(logs: &Arc<LogBuffer>, req: &Request) -> Response {
    if OPEN.fetch_add(1, Ordering::AcqRel) >= MAX_STREAMS {
        OPEN.fetch_sub(1, Ordering::AcqRel);
        return Response::text(503, "too many log streams open; close a UI tab\n");
    }
    let slot = Arc::new(std::sync::Mutex::new(Some(Slot)));
    let start = req
        .query_param("after")
        .or_else(|| req.header("last-event-id").map(str::to_string))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| logs.next_seq().saturating_sub(1));
    let logs = logs.clone();
    let streamer = Streamer(Arc::new(move |out: &mut dyn Write| {
        // The slot lives as long as this stream runs.
        let _slot = slot.lock().ok().and_then(|mut s| s.take());
        let mut last = start;
        // An EventSource reconnects after `retry` ms if the stream drops.
        if out
            .write_all(b"retry: 2000\n\n")
            .and_then(|_| out.flush())
            .is_err()
        {
            return;
        }
        loop {
            let events = logs.wait_after(last, BACKLOG, PING);
            let mut buf = Vec::new();
            if events.is_empty() {
                buf.extend_from_slice(b": ping\n\n");
            }
            for e in &events {
                last = last.max(e.seq);
                let _ = write!(buf, "event: log\nid: {}\ndata: {}\n\n", e.seq, e.to_json());
            }
            if out.write_all(&buf).and_then(|_| out.flush()).is_err() {
                return;
            }
        }
    }));
    // The admin router adds `Cache-Control: no-store`.
    Response::streaming("text/event-stream", streamer).with_header("X-Accel-Buffering", "no")
}
