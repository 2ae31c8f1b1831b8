//! The listener's event loop: accepts connections and reads request heads without a thread
//! per connection, so that slow, idle or trickling clients cost a socket and a small buffer
//! each, never the capacity a probe needs (issue #25).
//!
//! One thread owns every connection that is waiting for a head: new ones, kept-alive ones a
//! worker handed back, and refused ones being drained. It wakes on readiness (`polling`,
//! oneshot interest re-armed after each read) and every [`SWEEP`] to apply deadlines. A
//! complete head leaves the loop for a worker thread; a worker hands a kept-alive
//! connection back through [`Shared::back`] and wakes the loop.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};
use tunnel_core::http_head::{parse_head, HeadProgress, HeadReader};

use super::stream::{Acceptor, Stream};
use super::{encode_response, is_probe, serve_request, Handler, Limits, Response};

/// How often deadlines are checked: a late head is cut within this of its timeout.
const SWEEP: Duration = Duration::from_millis(50);
/// A refused connection is drained (so the peer reads the answer, not a reset) for at most
/// this long and this many bytes.
pub(super) const DRAIN_TIME: Duration = Duration::from_secs(1);
pub(super) const DRAIN_BYTES: usize = 1024 * 1024;
/// Connections accepted per wake-up, so a connect flood cannot starve reads.
const ACCEPT_BATCH: usize = 256;
const LISTENER_KEY: usize = 0;

/// What the loop shares with the listener handle and the workers.
pub(super) struct Shared {
    poller: Poller,
    stop: AtomicBool,
    /// Kept-alive connections that workers handed back.
    back: Mutex<Vec<Returned>>,
    busy: AtomicUsize,
    probe_busy: AtomicUsize,
}

impl Shared {
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.poller.notify();
    }
}

struct Returned {
    stream: Stream,
    peer: SocketAddr,
    carry: Vec<u8>,
    served: u32,
}

enum State {
    /// Reading a head. `started`: the header deadline runs (not the idle one).
    Head {
        reader: HeadReader,
        deadline: Instant,
        started: bool,
    },
    /// An answer was written and the write side shut; reading what the peer still sends.
    Draining { deadline: Instant, drained: usize },
}

struct Conn {
    stream: Stream,
    peer: SocketAddr,
    /// Requests already served on this connection.
    served: u32,
    registered: bool,
    state: State,
}

/// Counts a worker while it runs (even if it panics).
struct Slot(Arc<Shared>, bool);

impl Drop for Slot {
    fn drop(&mut self) {
        let count = if self.1 {
            &self.0.probe_busy
        } else {
            &self.0.busy
        };
        count.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(super) fn start(
    listener: Acceptor,
    limits: Limits,
    handler: Handler,
) -> io::Result<(Arc<Shared>, JoinHandle<()>)> {
    listener.set_nonblocking(true)?;
    deepen_backlog(&listener);
    let poller = Poller::new()?;
    // SAFETY: the listener is deleted from the poller before it is dropped (end of `run`).
    unsafe { poller.add(&listener, Event::readable(LISTENER_KEY))? };
    let shared = Arc::new(Shared {
        poller,
        stop: AtomicBool::new(false),
        back: Mutex::new(Vec::new()),
        busy: AtomicUsize::new(0),
        probe_busy: AtomicUsize::new(0),
    });
    let io = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("health-io".into())
            .spawn(move || {
                let mut lp = Loop {
                    shared,
                    limits,
                    handler,
                    conns: BTreeMap::new(),
                    next_key: LISTENER_KEY + 1,
                    accept_paused: None,
                };
                lp.run(&listener);
                let _ = lp.shared.poller.delete(&listener);
                for (_, c) in std::mem::take(&mut lp.conns) {
                    lp.forget(c);
                }
            })?
    };
    Ok((shared, io))
}

/// Raises the listen backlog from std's 128 to the system's limit (`somaxconn`, as Go does):
/// a burst of connects while the loop is descheduled on a busy machine would otherwise
/// overflow the accept queue, and a probe whose SYN is dropped waits a whole second for the
/// retransmission. Linux applies a second `listen` to a listening socket.
#[cfg(unix)]
fn deepen_backlog(listener: &Acceptor) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a socket this function borrows; no memory is passed.
    let _ = unsafe { libc::listen(listener.as_raw_fd(), 4096) };
}

#[cfg(not(unix))]
fn deepen_backlog(_: &Acceptor) {}

struct Loop {
    shared: Arc<Shared>,
    limits: Limits,
    handler: Handler,
    /// Keyed by arrival order, so the first entry is the oldest connection.
    conns: BTreeMap<usize, Conn>,
    next_key: usize,
    /// Accepting stopped until then after the fd table was full with nothing to evict.
    accept_paused: Option<Instant>,
}

impl Loop {
    fn run(&mut self, listener: &Acceptor) {
        let mut events = Events::new();
        let mut next_sweep = Instant::now() + SWEEP;
        let mut ready = Vec::new();
        loop {
            events.clear();
            let wait = next_sweep.saturating_duration_since(Instant::now());
            if let Err(e) = self.shared.poller.wait(&mut events, Some(wait)) {
                if e.kind() != ErrorKind::Interrupted {
                    log::warn!("health listener: waiting for connections failed: {e}");
                    std::thread::sleep(SWEEP);
                }
            }
            if self.shared.stop.load(Ordering::SeqCst) {
                return;
            }
            let mut accept = false;
            ready.clear();
            for ev in events.iter() {
                if ev.key == LISTENER_KEY {
                    accept = true;
                } else {
                    ready.push(ev.key);
                }
            }
            let back =
                std::mem::take(&mut *self.shared.back.lock().unwrap_or_else(|e| e.into_inner()));
            for r in back {
                self.admit(r.stream, r.peer, r.carry, r.served);
            }
            for key in ready.drain(..) {
                self.on_readable(key);
            }
            if accept {
                self.accept(listener);
            }
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now, listener);
                next_sweep = now + SWEEP;
            }
        }
    }

    fn accept(&mut self, listener: &Acceptor) {
        for _ in 0..ACCEPT_BATCH {
            match listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer, Vec::new(), 0),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionAborted | ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    // EMFILE and friends: make room by closing the oldest waiting connection
                    // rather than letting slow clients keep everyone else out.
                    if !self.evict_oldest() {
                        log::warn!("health listener: cannot accept: {e}");
                        self.accept_paused = Some(Instant::now() + SWEEP);
                        return;
                    }
                }
            }
        }
        self.rearm_listener(listener);
    }

    fn rearm_listener(&self, listener: &Acceptor) {
        let _ = self
            .shared
            .poller
            .modify(listener, Event::readable(LISTENER_KEY));
    }

    /// Takes a connection into the loop: a new one, or a kept-alive one a worker finished
    /// with (its `carry` may already hold the next request).
    fn admit(&mut self, stream: Stream, peer: SocketAddr, carry: Vec<u8>, served: u32) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        if self.conns.len() >= self.limits.max_waiting {
            self.evict_oldest();
        }
        let now = Instant::now();
        // The head deadline runs from the connection for a first request, from the first
        // byte for a later one; before that a kept-alive connection may idle.
        let started = served == 0 || !carry.is_empty();
        let deadline = now
            + if started {
                self.limits.header_timeout
            } else {
                self.limits.idle_timeout
            };
        let conn = Conn {
            stream,
            peer,
            served,
            registered: false,
            state: State::Head {
                reader: HeadReader::new(self.limits.max_header_bytes, carry),
                deadline,
                started,
            },
        };
        let key = self.next_key;
        self.next_key += 1;
        self.advance(key, conn);
    }

    /// Reads what a ready connection has.
    fn on_readable(&mut self, key: usize) {
        let Some(mut conn) = self.conns.remove(&key) else {
            return;
        };
        let mut chunk = [0u8; 8192];
        loop {
            match &mut conn.state {
                State::Head {
                    reader,
                    deadline,
                    started,
                } => {
                    let want = reader.room().min(chunk.len());
                    match conn.stream.read(&mut chunk[..want]) {
                        Ok(0) => return self.forget(conn),
                        Ok(n) => {
                            if !*started {
                                *started = true;
                                *deadline = Instant::now() + self.limits.header_timeout;
                            }
                            if reader.push(&chunk[..n]) != HeadProgress::Partial {
                                return self.advance(key, conn);
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => return self.forget(conn),
                    }
                }
                State::Draining { drained, .. } => match conn.stream.read(&mut chunk) {
                    Ok(n) if n > 0 && *drained + n < DRAIN_BYTES => *drained += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    _ => return self.forget(conn),
                },
            }
        }
        self.park(key, conn);
    }

    /// Acts on a connection's head as it stands: hand a complete one to a worker, refuse a
    /// bad one, or wait for more.
    fn advance(&mut self, key: usize, mut conn: Conn) {
        let State::Head { reader, .. } = &mut conn.state else {
            return self.park(key, conn);
        };
        match reader.progress() {
            HeadProgress::Partial => self.park(key, conn),
            HeadProgress::TooLarge => self.refuse(
                key,
                conn,
                Response::text(431, "request header fields too large\n"),
            ),
            HeadProgress::NotHttp => {
                self.refuse(key, conn, Response::text(400, "bad request: not HTTP\n"))
            }
            HeadProgress::Complete => {
                let State::Head { reader, .. } = std::mem::replace(
                    &mut conn.state,
                    State::Draining {
                        deadline: Instant::now(),
                        drained: 0,
                    },
                ) else {
                    return;
                };
                let Some((head, rest)) = reader.take() else {
                    return self.forget(conn);
                };
                match parse_head(&head) {
                    Ok(head) => self.dispatch(key, conn, head, rest),
                    Err(why) => self.refuse(
                        key,
                        conn,
                        Response::text(400, format!("bad request: {why}\n")),
                    ),
                }
            }
        }
    }

    /// Starts a worker for a complete head, or answers `503` when there is none to spare.
    fn dispatch(
        &mut self,
        key: usize,
        mut conn: Conn,
        head: tunnel_core::http_head::RequestHead,
        rest: Vec<u8>,
    ) {
        let shared = &self.shared;
        let probe_lane = if shared.busy.fetch_add(1, Ordering::SeqCst) < self.limits.max_workers {
            false
        } else {
            shared.busy.fetch_sub(1, Ordering::SeqCst);
            if is_probe(&head, conn.served)
                && shared.probe_busy.fetch_add(1, Ordering::SeqCst) < self.limits.probe_workers
            {
                true
            } else {
                if is_probe(&head, conn.served) {
                    shared.probe_busy.fetch_sub(1, Ordering::SeqCst);
                }
                return self.refuse(
                    key,
                    conn,
                    Response::text(503, "too many requests at once\n"),
                );
            }
        };
        if conn.registered {
            let _ = shared.poller.delete(&conn.stream);
            conn.registered = false;
        }
        let slot = Slot(shared.clone(), probe_lane);
        let limits = self.limits;
        let handler = self.handler.clone();
        let Conn {
            stream,
            peer,
            served,
            ..
        } = conn;
        let spawned = std::thread::Builder::new()
            .name("health-conn".into())
            .spawn(move || {
                let slot = slot;
                if let Some((stream, carry)) =
                    serve_request(stream, peer, head, rest, &limits, &handler)
                {
                    let shared = &slot.0;
                    if !shared.stop.load(Ordering::SeqCst) {
                        shared
                            .back
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(Returned {
                                stream,
                                peer,
                                carry,
                                served: served.saturating_add(1),
                            });
                        let _ = shared.poller.notify();
                    }
                }
            });
        if let Err(e) = spawned {
            log::warn!("health listener: cannot start a request thread: {e}");
        }
    }

    /// Writes an error answer without blocking (a fresh socket buffer holds it), shuts the
    /// write side and drains what the peer still sends, so it reads the answer, not a reset.
    fn refuse(&mut self, key: usize, mut conn: Conn, resp: Response) {
        let bytes = encode_response(&resp, false, false);
        if conn.stream.write(&bytes).is_err() {
            return self.forget(conn);
        }
        let _ = conn.stream.shutdown(Shutdown::Write);
        conn.state = State::Draining {
            deadline: Instant::now() + DRAIN_TIME,
            drained: 0,
        };
        self.park(key, conn);
    }

    /// Keeps a connection in the loop, waiting for its next bytes.
    fn park(&mut self, key: usize, mut conn: Conn) {
        let interest = Event::readable(key);
        let armed = if conn.registered {
            self.shared.poller.modify(&conn.stream, interest)
        } else {
            // SAFETY: every path that drops a registered stream deletes it first (`forget`,
            // `dispatch`).
            unsafe { self.shared.poller.add(&conn.stream, interest) }
        };
        if armed.is_err() {
            return self.forget(conn);
        }
        conn.registered = true;
        self.conns.insert(key, conn);
    }

    /// Closes a connection the loop holds (no longer in `conns`).
    fn forget(&self, conn: Conn) {
        if conn.registered {
            let _ = self.shared.poller.delete(&conn.stream);
        }
    }

    fn evict_oldest(&mut self) -> bool {
        match self.conns.pop_first() {
            Some((_, conn)) => {
                log::debug!(
                    "health listener: closing the oldest waiting connection ({}) to make room",
                    conn.peer
                );
                self.forget(conn);
                true
            }
            None => false,
        }
    }

    /// Applies deadlines: a late head gets `408` (a connection that sent nothing, or a
    /// kept-alive one that idled, is closed quietly); a drain that ran its time is closed.
    fn sweep(&mut self, now: Instant, listener: &Acceptor) {
        if self.accept_paused.is_some_and(|t| now >= t) {
            self.accept_paused = None;
            self.rearm_listener(listener);
        }
        let late: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| match &c.state {
                State::Head { deadline, .. } | State::Draining { deadline, .. } => now >= *deadline,
            })
            .map(|(k, _)| *k)
            .collect();
        for key in late {
            let Some(conn) = self.conns.remove(&key) else {
                continue;
            };
            match &conn.state {
                State::Head { reader, .. } if !reader.is_empty() => {
                    self.refuse(key, conn, Response::text(408, "request timeout\n"))
                }
                _ => self.forget(conn),
            }
        }
    }
}
