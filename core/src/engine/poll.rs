//! The poll scheduler: one long poll at a time while the service has no backlog, `limit`
//! from the free in-flight slots (queued + running + posting), exponential backoff with
//! jitter on failure, `Retry-After` as a floor, and 401/403 treated as an operator problem
//! (slow retries, a rate-limited event, readiness false).
//!
//! Why more than one poll at times: a poll that carries commands costs a round trip, so one
//! poll of at most [`MAX_POLL_LIMIT`] caps intake at about 25 ÷ round trip — ~300 commands/s
//! with the control plane 80 ms away, whatever `max-inflight` allows (issue #22). When the
//! last answered poll came back full (the service has more waiting) and slots are free
//! beyond what the polls in flight may bring, another poll goes out at once, up to
//! [`MAX_CONCURRENT_POLLS`]; each asks only for slots no other poll has claimed, so
//! `max-inflight` still bounds everything held. The first poll that comes back short ends
//! the backlog: back to one long poll, as the Go client always has. An idle tunnel therefore
//! holds one long poll, as in Go; a second poll goes out only after a full batch, while slots
//! are free that no poll in flight has claimed (a deliberate difference, `docs/go-parity.md`).

use std::time::{Duration, Instant, SystemTime};

use super::{
    Action, Cmd, CommandId, Engine, Event, HttpResponse, Phase, PollError, PollId, PostState, Timer,
};
use crate::backoff::{with_retry_after, Backoff};
use crate::classify::TransportError;
use crate::retry_after::parse_retry_after;
use crate::timeout::deadline as response_deadline;
use crate::wire::api_error::ApiError;
use crate::wire::command::{decode_poll_body, CommandKind};
use crate::wire::jsonrpc::{method_label, MessageShape};
use crate::wire::metadata::TunnelMetadata;

/// Most commands asked for in one poll.
pub const MAX_POLL_LIMIT: usize = 25;
/// How long a drain lets the poll in flight finish before cancelling it. A response that
/// arrives meanwhile is taken in and its commands run: the service removed them from the
/// tunnel's queue when it answered, so dropping the answer would lose them (under load a
/// poll is nearly always being answered, so a rolling update would lose that batch). An
/// idle long poll, answered only when a command comes, is cancelled once this has passed.
pub const DRAIN_POLL_GRACE: Duration = Duration::from_secs(1);
/// Most polls in flight at once, during a backlog (see the module docs): 8 × 25 commands
/// per round trip is ~2,500/s at 80 ms.
pub const MAX_CONCURRENT_POLLS: usize = 8;
/// How often an ongoing 401/403 is reported again.
const AUTH_REPORT_EVERY: Duration = Duration::from_secs(60);

/// A poll the adapter is performing and the slots it may fill.
#[derive(Debug, Clone, Copy)]
struct Flight {
    id: PollId,
    limit: usize,
}

#[derive(Debug)]
pub(crate) struct PollScheduler {
    /// When the next poll may go out (if there is a free slot); `None` once stopped by a
    /// drain: no poll follows.
    next_at: Option<Instant>,
    /// Polls in flight, oldest first.
    in_flight: Vec<Flight>,
    /// A drain began with polls in flight: their answers are still taken in. `Some(true)`
    /// once [`DRAIN_POLL_GRACE`] passed and the adapter was told to abort them; the drain
    /// no longer waits for them then.
    closing: Option<bool>,
    /// The last answered poll came back full: the service has more waiting.
    backlog: bool,
    next_id: u64,
    backoff: Backoff,
    auth_backoff: Backoff,
    pub(crate) consecutive_failures: u32,
    pub(crate) failing_since: Option<Instant>,
    pub(crate) last_success: Option<Instant>,
    pub(crate) last_error: Option<PollError>,
    pub(crate) auth_problem: Option<(u16, Option<ApiError>)>,
    last_auth_report: Option<Instant>,
    pub(crate) last_limit: usize,
}

impl PollScheduler {
    pub(crate) fn new(now: Instant) -> Self {
        PollScheduler {
            next_at: Some(now),
            in_flight: Vec::new(),
            closing: None,
            backlog: false,
            next_id: 0,
            backoff: Backoff::poll(),
            auth_backoff: Backoff::auth(),
            consecutive_failures: 0,
            failing_since: None,
            last_success: None,
            last_error: None,
            auth_problem: None,
            last_auth_report: None,
            last_limit: 0,
        }
    }

    /// Stops polling. Returns true when polls are in flight: they are left to finish (see
    /// [`DRAIN_POLL_GRACE`]).
    pub(crate) fn stop(&mut self) -> bool {
        self.next_at = None;
        if self.in_flight.is_empty() || self.closing.is_some() {
            return false;
        }
        self.closing = Some(false);
        true
    }

    /// The polls left to finish by a drain, if they are still awaited; they are no longer.
    pub(crate) fn cancel_closing(&mut self) -> Vec<PollId> {
        if self.closing != Some(false) {
            return Vec::new();
        }
        self.closing = Some(true);
        self.in_flight.iter().map(|f| f.id).collect()
    }

    /// True while a drain waits for polls in flight.
    pub(crate) fn holds_drain(&self) -> bool {
        self.closing == Some(false) && !self.in_flight.is_empty()
    }

    /// How many polls are in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

impl Engine {
    /// Commands this client may still take: `max_inflight` less every command it holds,
    /// queued, running or posting. Counting only the queue let responses pile up unposted
    /// behind a slow control plane while polling went on (issue #22): memory grew without
    /// bound and commands expired here instead of staying at the service, where another
    /// replica could take them.
    fn free_slots(&self) -> usize {
        self.cfg.max_inflight.max(1).saturating_sub(self.cmds.len())
    }

    /// Takes back a poll queued but not yet handed to the adapter: the startup wait holds
    /// the first poll until the startup probe settles.
    pub(super) fn withhold_queued_poll(&mut self, now: Instant) {
        let mut withheld = Vec::new();
        self.actions.retain(|a| match a {
            Action::Poll { id, .. } => {
                withheld.push(*id);
                false
            }
            _ => true,
        });
        if !withheld.is_empty() {
            self.poll.in_flight.retain(|f| !withheld.contains(&f.id));
            if self.poll.next_at.is_some() {
                self.poll.next_at = Some(now);
            }
        }
    }

    pub(super) fn schedule_poll(&mut self, now: Instant) {
        let Some(at) = self.poll.next_at else {
            return;
        };
        if self.draining.is_some() {
            return;
        }
        // `--mcp.startup-wait-timeout`: the first poll waits for the startup probe.
        if self.startup.hold_poll {
            return;
        }
        loop {
            let room = if self.poll.backlog {
                MAX_CONCURRENT_POLLS
            } else {
                1
            };
            if self.poll.in_flight.len() >= room {
                return;
            }
            if at > now {
                self.set_timer(at, Timer::Poll);
                return;
            }
            // Slots the polls in flight may still fill are taken already.
            let claimed: usize = self.poll.in_flight.iter().map(|f| f.limit).sum();
            let free = self.free_slots().saturating_sub(claimed);
            if free == 0 {
                // Full: nothing is sent; a command leaving the engine (posted, expired,
                // abandoned) or a poll coming back calls drive() again.
                return;
            }
            let limit = free.min(MAX_POLL_LIMIT);
            let id = PollId(self.poll.next_id);
            self.poll.next_id += 1;
            self.poll.in_flight.push(Flight { id, limit });
            self.poll.last_limit = limit;
            let timeout = self.cp_timeout();
            self.actions.push_back(Action::Poll {
                id,
                request: self.req.poll(limit),
                timeout,
            });
        }
    }

    /// Reports the outcome of a poll. `now` must be the instant the response head arrived:
    /// it anchors every command's `response_timeout`. `wall` is used for HTTP-date
    /// `Retry-After` values only.
    pub fn handle_poll_response(
        &mut self,
        now: Instant,
        wall: SystemTime,
        id: PollId,
        result: Result<HttpResponse, TransportError>,
    ) {
        let Some(at) = self.poll.in_flight.iter().position(|f| f.id == id) else {
            return; // stale poll
        };
        let flight = self.poll.in_flight.remove(at);
        if self.poll.closing.is_some() {
            // Draining: take in what the service handed out, never poll again.
            if self.poll.in_flight.is_empty() {
                self.clear_timer(Timer::PollGrace);
            }
            if let Ok(resp) = &result {
                if resp.status == 200 {
                    if let Ok(batch) = decode_poll_body(&resp.body) {
                        let (n, d, created_at) = self.take_batch(now, batch, flight.limit);
                        self.poll_succeeded(now, n, d, created_at);
                    }
                }
            }
            self.drive(now);
            return;
        }
        self.poll.next_at = Some(now);
        self.poll.backlog = false;
        match result {
            Err(e) => self.poll_failed(now, PollError::Transport(e), None),
            Ok(resp) => match resp.status {
                204 => self.poll_succeeded(now, 0, 0, Vec::new()),
                200 => match decode_poll_body(&resp.body) {
                    Err(e) => self.poll_failed(now, PollError::MalformedBody(e.0), None),
                    Ok(batch) => {
                        let (n, d, created_at) = self.take_batch(now, batch, flight.limit);
                        // A full batch: the service has more waiting (see the module docs).
                        self.poll.backlog = n + d >= flight.limit;
                        self.poll_succeeded(now, n, d, created_at);
                    }
                },
                status => {
                    let retry_after = resp
                        .headers
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, wall));
                    let api_error = ApiError::parse(&resp.body);
                    self.poll_failed(now, PollError::Status { status, api_error }, retry_after);
                }
            },
        }
        self.drive(now);
    }

    /// Queues a poll's commands and reports the ones dropped; returns the counts and the
    /// `created_at` stamps of the accepted commands.
    fn take_batch(
        &mut self,
        now: Instant,
        batch: crate::wire::command::PollBatch,
        limit: usize,
    ) -> (usize, usize, Vec<String>) {
        let (n, d) = (batch.commands.len(), batch.dropped.len());
        if n + d > limit {
            self.events.push_back(Event::OverLimit {
                returned: n + d,
                limit,
            });
        }
        for dropped in batch.dropped {
            self.events.push_back(Event::CommandDropped {
                request_id: dropped.request_id,
                reason: dropped.reason,
            });
        }
        let mut created_at = Vec::new();
        for cmd in batch.commands {
            let stamp = cmd.created_at.clone();
            if self.accept_command(now, cmd) {
                created_at.extend(stamp);
            }
        }
        (n, d, created_at)
    }

    fn poll_succeeded(
        &mut self,
        now: Instant,
        commands: usize,
        dropped: usize,
        created_at: Vec<String>,
    ) {
        if self.poll.consecutive_failures > 0 {
            self.events.push_back(Event::PollRecovered {
                after_failures: self.poll.consecutive_failures,
            });
        }
        self.poll.consecutive_failures = 0;
        self.poll.failing_since = None;
        self.clear_timer(super::Timer::Readiness);
        self.poll.last_error = None;
        self.poll.auth_problem = None;
        self.poll.last_auth_report = None;
        self.poll.last_success = Some(now);
        self.poll.backoff.reset();
        self.poll.auth_backoff.reset();
        self.events.push_back(Event::PollSucceeded {
            commands,
            dropped,
            created_at,
        });
    }

    fn poll_failed(&mut self, now: Instant, error: PollError, retry_after: Option<Duration>) {
        self.poll.consecutive_failures = self.poll.consecutive_failures.saturating_add(1);
        if self.poll.failing_since.is_none() {
            self.poll.failing_since = Some(now);
            let at = now.checked_add(self.cfg.poll_failure_grace).unwrap_or(now);
            self.set_timer(at, super::Timer::Readiness);
        }
        let auth_status = match &error {
            PollError::Status {
                status: s @ (401 | 403),
                ..
            } => Some(*s),
            _ => None,
        };
        let delay = if let Some(status) = auth_status {
            let d = with_retry_after(
                self.poll.auth_backoff.next_delay(&mut self.rng),
                retry_after,
            );
            let api_error = match &error {
                PollError::Status { api_error, .. } => api_error.clone(),
                _ => None,
            };
            self.poll.auth_problem = Some((status, api_error.clone()));
            self.events.push_back(Event::PollAuthFailed { status });
            let due = self
                .poll
                .last_auth_report
                .is_none_or(|t| now.saturating_duration_since(t) >= AUTH_REPORT_EVERY);
            if due {
                self.poll.last_auth_report = Some(now);
                self.events.push_back(Event::AuthRejected {
                    status,
                    api_error,
                    retry_in: d,
                });
            }
            d
        } else {
            self.poll.auth_problem = None;
            let d = with_retry_after(self.poll.backoff.next_delay(&mut self.rng), retry_after);
            self.events.push_back(Event::PollFailed {
                error: error.clone(),
                retry_in: d,
                consecutive: self.poll.consecutive_failures,
            });
            d
        };
        self.poll.last_error = Some(error);
        let at = now.checked_add(delay).unwrap_or(now);
        self.poll.next_at = Some(at);
    }

    /// Takes one decoded command into the prefetch buffer (or reports why not and returns
    /// false).
    fn accept_command(&mut self, now: Instant, cmd: crate::wire::command::PolledCommand) -> bool {
        if let CommandKind::Unknown { command_type } = &cmd.kind {
            self.events.push_back(Event::UnknownCommandType {
                request_id: cmd.request_id.clone(),
                command_type: command_type.clone(),
            });
            return false;
        }
        if self.cmds.values().any(|c| c.request_id == cmd.request_id) {
            self.events.push_back(Event::CommandDropped {
                request_id: Some(cmd.request_id),
                reason: crate::wire::command::DropReason::DuplicateInFlight,
            });
            return false;
        }
        if cmd.response_timeout_invalid {
            self.events.push_back(Event::InvalidResponseTimeout {
                request_id: cmd.request_id.clone(),
            });
        }
        let id = CommandId(self.next_cmd);
        self.next_cmd += 1;
        let deadline = response_deadline(now, cmd.response_timeout);
        let (rpc_id, request_kind, method) = match &cmd.kind {
            CommandKind::JsonRpc(msg) => match msg.shape() {
                MessageShape::Request { id, method } => {
                    (Some(id.clone()), "request", method_label(method))
                }
                MessageShape::Notification { method } => {
                    (None, "notification", method_label(method))
                }
                MessageShape::Response { .. } => (None, "client_response", "other"),
            },
            CommandKind::SessionTermination { .. } => (None, "session_termination", "other"),
            _ => (None, "oauth_discovery", "other"),
        };
        let entry = Cmd {
            request_id: cmd.request_id.clone(),
            shard: cmd.shard_token.clone(),
            channel: cmd.channel.clone(),
            client_request_id: cmd.header("x-request-id").map(str::to_string),
            created_at: cmd.created_at.clone(),
            polled_at: now,
            deadline,
            rpc_id,
            request_kind,
            method,
            phase: Phase::Queued(Box::new(cmd)),
            outbox: Default::default(),
            post: PostState::Idle,
            post_backoff: Backoff::poll(),
            notify_failed: false,
        };
        self.cmds.insert(id, entry);
        self.queue.push_back(id);
        if let Some(at) = deadline {
            self.set_timer(at, Timer::Deadline(id));
        }
        true
    }

    /// Reports the metadata fetch. Failure only logs: it never blocks polling.
    pub fn handle_metadata_response(
        &mut self,
        now: Instant,
        result: Result<HttpResponse, TransportError>,
    ) {
        match result {
            Ok(r) if (200..300).contains(&r.status) => match TunnelMetadata::parse(&r.body) {
                Some(m) => {
                    self.metadata = Some(m.clone());
                    self.events.push_back(Event::MetadataFetched(m));
                }
                None => self.events.push_back(Event::MetadataFailed {
                    error: PollError::MalformedBody("not tunnel metadata".into()),
                }),
            },
            Ok(r) => self.events.push_back(Event::MetadataFailed {
                error: PollError::Status {
                    status: r.status,
                    api_error: ApiError::parse(&r.body),
                },
            }),
            Err(e) => self.events.push_back(Event::MetadataFailed {
                error: PollError::Transport(e),
            }),
        }
        self.drive(now);
    }
}
