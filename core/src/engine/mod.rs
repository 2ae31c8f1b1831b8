//! The tunnel engine: one state machine for polling, command lifecycles and response POSTs.
//!
//! Drive it like quinn-proto: feed what happened with [`Engine::handle`] (one [`Input`]
//! vocabulary for every driver; the current `Instant` always passed in), then drain
//! [`Engine::poll_action`] and [`Engine::poll_event`] until they return `None`, and wake up
//! again at [`Engine::poll_timeout`] to call [`Engine::handle_timeout`]. The engine never
//! sleeps, reads a clock or opens a socket; when a command's MCP exchange is over it asks
//! for it to be closed itself ([`Action::CancelMcp`]), so a driver never has to ask.

#[cfg(test)]
mod backpressure_tests;
mod config;
mod cp_request;
mod describe;
mod discovery;
mod dispatch;
mod fetch_buf;
mod harpoon;
mod input;
pub mod outcome;
mod poll;
mod post;
mod served;
mod startup;
mod stats;
mod status;
mod stdio;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request};
use serde_json::value::RawValue;

pub use config::{Binding, BindingKind, EngineConfig};
pub use cp_request::SetupError;
pub use harpoon::HARPOON;
pub use input::{Input, McpEvent};
pub use outcome::{McpOutput, Terminal};
pub use poll::{DRAIN_POLL_GRACE, MAX_CONCURRENT_POLLS, MAX_POLL_LIMIT};
pub use served::{check_bindings, parse_target_url, BindingError, Served, Targets};
pub use startup::{ProbeState, StartupChecks, StartupReport, DISCOVERY_ID, PROBE_ID};
pub use stats::{Stats, MAX_REJECTED_CHANNEL_SERIES};
pub use status::Status;

use crate::channel::ChannelName;
use crate::classify::{TransportError, TunnelFailure};
use crate::mcp_http::HttpExchange;
use crate::wire::api_error::ApiError;
use crate::wire::command::{DropReason, PolledCommand, ShardToken};
use crate::wire::metadata::TunnelMetadata;
use crate::wire::response::RespType;

/// Identifies one command inside the engine (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u64);
/// Identifies one poll request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PollId(pub u64);
/// Identifies one response-POST attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostId(pub u64);

/// An HTTP response as the adapter received it (body bounded by the adapter).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A failed response POST attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostError {
    pub error: TransportError,
    /// Whether the request had been fully written before the failure. A notification whose
    /// request may have reached the service is not re-sent (it could be enqueued twice).
    pub written: bool,
}

/// MCP work for the adapter to perform.
#[derive(Debug, Clone)]
pub struct McpWork {
    pub cmd: CommandId,
    pub request_id: String,
    pub channel: ChannelName,
    pub kind: BindingKind,
    /// Past this instant the work is worthless: nothing will be posted for it.
    pub deadline: Option<Instant>,
    pub op: McpOp,
    /// Dial this unix socket instead of the URL's host (a Harpoon hop to a target
    /// registered with `unix-socket=`): the URL still gives the scheme, `Host` and path,
    /// and no proxy is used. Always `None` for the binding's own requests.
    pub unix_socket: Option<String>,
}

/// How long after a command's deadline an adapter keeps its MCP I/O bounded (connect, write,
/// read): the engine's deadline timer must always be the one that ends the command.
///
/// An I/O timeout set to exactly the deadline races that timer: socket timeouts round to
/// whole milliseconds (a connect may give up up to 1 ms early) and the thread that reports
/// it is not the one that runs the timer, so the failure could reach the engine just before
/// the deadline and become a `tunnel_failure {source: timeout}` posted as the deadline
/// passes. With this slack the deadline always comes first and nothing is posted; the late
/// I/O error is then ignored (the command is gone).
pub const MCP_IO_DEADLINE_SLACK: Duration = Duration::from_millis(50);

/// How long one MCP exchange may take in all: the command's deadline (plus
/// [`MCP_IO_DEADLINE_SLACK`]) or the connection TTL (`mcp.connection-max-ttl`), whichever
/// comes first. The rule is the core's so both adapters bound, and end, an exchange the same
/// way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeBound {
    pub timeout: Duration,
    /// The TTL, not the deadline, sets the bound. When it expires the adapter reports
    /// `TransportError::Canceled` (nothing is posted, as in the Go client: "TTL reached,
    /// stopping response forwarding") instead of a failure; when the deadline is the bound,
    /// the engine's own timer ends the command.
    pub by_ttl: bool,
}

impl McpWork {
    /// The instant the adapter's I/O for this work should give up: the deadline plus
    /// [`MCP_IO_DEADLINE_SLACK`], or `None` when the command has no deadline.
    pub fn io_deadline(&self) -> Option<Instant> {
        self.deadline
            .map(|d| d.checked_add(MCP_IO_DEADLINE_SLACK).unwrap_or(d))
    }

    /// The bound of this work's exchange, started at `now` under connection TTL `ttl`. A
    /// zero `timeout` means the deadline (and its slack) has passed: the engine has ended,
    /// or is about to end, the command.
    pub fn bound(&self, now: Instant, ttl: Duration) -> ExchangeBound {
        match self.io_deadline() {
            None => ExchangeBound {
                timeout: ttl,
                by_ttl: true,
            },
            Some(d) => {
                let left = d.saturating_duration_since(now);
                ExchangeBound {
                    timeout: left.min(ttl),
                    by_ttl: ttl < left,
                }
            }
        }
    }
}

impl ExchangeBound {
    /// The operator log line when the TTL ends an exchange.
    pub fn ttl_reached(&self, cmd: CommandId) -> String {
        format!(
            "MCP connection TTL ({:?}) reached for command {cmd:?}; stopping response forwarding",
            self.timeout
        )
    }
}

/// The MCP operation itself.
#[derive(Debug, Clone)]
pub enum McpOp {
    /// Send a JSON-RPC message (HTTP: `POST`; stdio: a line). `headers` are the request
    /// headers for HTTP bindings, already filtered and layered.
    Send {
        message: Box<RawValue>,
        headers: HeaderMap,
        expects_response: bool,
    },
    /// `DELETE` the session (HTTP only).
    TerminateSession {
        session_id: String,
        headers: HeaderMap,
    },
    /// One HTTP request the engine makes itself (a step of an `oauth_discovery` command,
    /// a hop of a Harpoon `call_target`): send it with redirects **not** followed and
    /// report the response or the error. The engine bounds what it keeps of the body
    /// (`oauth::MAX_BODY` + 1, a Harpoon call's limit + 1) and cancels past that.
    Fetch {
        method: http::Method,
        uri: http::Uri,
        headers: HeaderMap,
        /// Empty for discovery and GETs.
        body: Bytes,
    },
}

/// Something for the adapter to do.
#[derive(Debug)]
pub enum Action {
    /// Send a long poll; report with [`Engine::handle_poll_response`]. `timeout` bounds the
    /// whole exchange (poll timeout + guardrail).
    Poll {
        id: PollId,
        request: Request<()>,
        timeout: Duration,
    },
    /// Abort an outstanding poll (drain); no report is needed.
    CancelPoll { id: PollId },
    /// POST a response; report with [`Engine::handle_post_result`].
    Post {
        id: PostId,
        request: Request<Bytes>,
        timeout: Duration,
    },
    /// Fetch tunnel metadata once; report with [`Engine::handle_metadata_response`].
    FetchMetadata {
        request: Request<()>,
        timeout: Duration,
    },
    /// Start MCP work; report through the `handle_mcp_*` calls.
    StartMcp(McpWork),
    /// Stop MCP work and release what it holds (connection, stdio request id): the engine
    /// has the terminal, or no longer wants one (deadline passed, drain timed out). Further
    /// reports for the command are ignored.
    CancelMcp { cmd: CommandId },
    /// Do this to the process of a stdio channel the engine owns ([`Engine::add_stdio`]);
    /// report what happened with [`Input::Stdio`].
    Stdio {
        channel: ChannelName,
        action: crate::stdio::ChildAction,
    },
}

/// Why a poll failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollError {
    Transport(TransportError),
    Status {
        status: u16,
        api_error: Option<ApiError>,
    },
    MalformedBody(String),
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::Transport(e) => write!(f, "transport error: {e:?}"),
            PollError::Status { status, api_error } => {
                write!(f, "HTTP {status}")?;
                if let Some(e) = api_error {
                    if let Some(code) = &e.code {
                        write!(f, " ({code})")?;
                    }
                    if let Some(m) = &e.message {
                        write!(f, ": {m}")?;
                    }
                    // Display has no configuration: the settings are named in plain prose.
                    let names = crate::wire::api_error::SettingNames::default();
                    if let Some(mit) = e.mitigation(&names) {
                        write!(f, "; fix: {mit}")?;
                    }
                }
                Ok(())
            }
            PollError::MalformedBody(m) => write!(f, "malformed poll body: {m}"),
        }
    }
}

/// Things worth logging, counting or showing; the engine's only way to talk to operators.
#[derive(Debug, Clone)]
pub enum Event {
    PollSucceeded {
        commands: usize,
        dropped: usize,
        /// `created_at` of the commands taken into the queue, as sent (for a command-age
        /// figure; unparsed: a malformed value must not drop a command).
        created_at: Vec<String>,
    },
    PollFailed {
        error: PollError,
        retry_in: Duration,
        consecutive: u32,
    },
    PollRecovered {
        after_failures: u32,
    },
    /// The control plane answered 401/403. Emitted at most once a minute while it lasts.
    AuthRejected {
        status: u16,
        api_error: Option<ApiError>,
        retry_in: Duration,
    },
    /// The service returned more commands than `limit`; all are processed.
    OverLimit {
        returned: usize,
        limit: usize,
    },
    CommandDropped {
        request_id: Option<String>,
        reason: DropReason,
    },
    UnknownCommandType {
        request_id: String,
        command_type: String,
    },
    InvalidResponseTimeout {
        request_id: String,
    },
    ChannelRejected {
        request_id: String,
        channel: ChannelName,
        command_type: String,
    },
    /// The command's `response_timeout` passed; nothing is (or will be) posted for it.
    DeadlineExpired {
        request_id: String,
        channel: ChannelName,
        stage: &'static str,
    },
    /// A failure was synthesized for the command.
    FailureSynthesized {
        request_id: String,
        channel: ChannelName,
        failure: TunnelFailure,
        resp_code: u16,
        method: &'static str,
    },
    /// The terminal response was delivered (or the service already had one: 404).
    CommandCompleted {
        request_id: String,
        channel: ChannelName,
        resp_type: RespType,
        resp_code: u16,
        request_kind: &'static str,
        method: &'static str,
        poll_to_response: Duration,
        created_at: Option<String>,
        already_fulfilled: bool,
    },
    NotifyDeliveryFailed {
        request_id: String,
        status: Option<u16>,
    },
    /// The service refused the terminal response (413 is reported here, with its advice).
    ResponseRejected {
        request_id: String,
        status: u16,
        api_error: Option<ApiError>,
    },
    ResponseDeliveryFailed {
        request_id: String,
        status: Option<u16>,
        attempts: u32,
    },
    /// The command ended without a response (cancelled, drain timeout, client response).
    Abandoned {
        request_id: String,
        reason: &'static str,
    },
    BindingAvailability {
        channel: ChannelName,
        down: Option<String>,
    },
    MetadataFetched(TunnelMetadata),
    MetadataFailed {
        error: PollError,
    },
    /// An operator control-plane extra header names a header the client sets itself
    /// (`X-Tunnel-Client-Instance-Id`, `X-Tunnel-Shard-Token`, …): it is never sent. Emitted
    /// once per name when the engine starts, so the operator learns why it has no effect.
    ProtectedHeaderIgnored {
        name: String,
    },
    /// A drain began: polling stopped, what was taken is finished within `timeout`.
    Draining {
        timeout: Duration,
    },
    /// Draining finished or timed out; the adapter may exit.
    Drained {
        abandoned: usize,
    },
    /// A stdio channel's supervision has something for the operator log (the text carries
    /// the `[stdio:<channel>]` prefix).
    StdioLog {
        level: log::Level,
        line: String,
    },
    /// An `oauth_discovery` command found (or did not find) the metadata; `what` says
    /// which document or why not.
    OAuthDiscovered {
        request_id: String,
        found: bool,
        what: String,
    },
    /// A stdio child was restarted (counted for `/metrics`).
    StdioRestarted {
        channel: ChannelName,
    },
    /// A Harpoon `call_target` ended (one log line, the `harpoon_*` metrics).
    HarpoonCall {
        request_id: String,
        latency: Duration,
        outcome: Box<crate::harpoon::Outcome>,
    },
    /// A poll got 401/403. Every one is counted (Go counts it in `commands_poll_errors_total`);
    /// [`Event::AuthRejected`] is the operator's line, at most once a minute.
    PollAuthFailed {
        status: u16,
    },
    /// The startup checks (MCP probe, OAuth discovery) have something for the operator log.
    StartupCheck {
        level: log::Level,
        line: String,
    },
    /// OAuth discovery found hosts for Harpoon (§1.14): one registration, refusal or
    /// no-op; `target` is set when a target was registered.
    HarpoonHost {
        level: log::Level,
        line: String,
        target: Option<Box<crate::harpoon::Target>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Poll,
    /// Failing polls turn readiness false once they have failed for the grace period:
    /// a wake-up at that instant, so a driver republishes readiness without polling it.
    Readiness,
    Deadline(CommandId),
    PostRetry(CommandId),
    Drain,
    /// A drain's grace for the poll in flight ran out.
    PollGrace,
    Discovery(CommandId),
    /// A Harpoon call's deadline.
    Harpoon(CommandId),
    /// The startup probe's attempt timed out.
    StartupProbe,
    /// The startup probe is retried (startup wait), or the checks run again after a failure.
    StartupRetry,
    /// A startup discovery step timed out.
    StartupDiscovery,
}

/// A response waiting to be POSTed.
#[derive(Debug, Clone)]
struct Outgoing {
    body: Bytes,
    resp_type: RespType,
    resp_code: u16,
}

#[derive(Debug)]
enum PostState {
    Idle,
    InFlight { id: PostId, attempt: u32 },
    RetryAt { attempt: u32 },
}

#[derive(Debug)]
enum Phase {
    Queued(Box<PolledCommand>),
    Running {
        exchange: Option<Box<HttpExchange>>,
    },
    /// MCP is done; only POSTs remain.
    Posting,
}

#[derive(Debug)]
struct Cmd {
    request_id: String,
    shard: ShardToken,
    channel: ChannelName,
    client_request_id: Option<String>,
    created_at: Option<String>,
    polled_at: Instant,
    deadline: Option<Instant>,
    /// The request id to put into a synthesized error (None for notifications).
    rpc_id: Option<Box<RawValue>>,
    request_kind: &'static str,
    method: &'static str,
    phase: Phase,
    outbox: VecDeque<Outgoing>,
    post: PostState,
    post_backoff: crate::backoff::Backoff,
    notify_failed: bool,
}

/// The engine. See the module docs for how to drive it.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    req: cp_request::RequestBuilder,
    rng: fastrand::Rng,
    poll: poll::PollScheduler,
    cmds: HashMap<CommandId, Cmd>,
    queue: VecDeque<CommandId>,
    running: usize,
    next_cmd: u64,
    next_post: u64,
    posts: HashMap<PostId, CommandId>,
    timers: BTreeSet<(Instant, Timer)>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    /// Counters of the events taken so far (copy-on-write: see [`stats`]).
    stats: std::sync::Arc<Stats>,
    binding_down: HashMap<ChannelName, String>,
    metadata: Option<TunnelMetadata>,
    draining: Option<Instant>,
    drained_reported: bool,
    tap: input::TapSlot,
    /// The latest instant the engine was given (when actions are shown to the tap).
    last_now: Instant,
    /// The stdio channels the engine supervises itself, and which of them holds a command.
    stdio: stdio::StdioChannels,
    /// The main channel's MCP URL (`oauth_discovery`), and the discoveries running.
    oauth_url: Option<http::Uri>,
    /// The unix socket `main` dials, if any (OAuth-discovered targets on its origin use it).
    oauth_unix_socket: Option<String>,
    /// Host-registration refusals already logged at their own level.
    harpoon_said: std::collections::HashSet<String>,
    discoveries: HashMap<CommandId, discovery::Running>,
    /// The Harpoon calls running.
    harpoon_calls: HashMap<CommandId, harpoon::Running>,
    /// The startup checks of the `main` binding (probe, OAuth discovery).
    startup: startup::Startup,
}

impl Engine {
    /// Builds the engine; the first poll and the metadata fetch are queued as actions.
    /// `seed` feeds the jitter PRNG (the adapter takes it from OS entropy, tests fix it).
    pub fn new(cfg: EngineConfig, seed: u64, now: Instant) -> Result<Engine, SetupError> {
        let req = cp_request::RequestBuilder::new(&cfg)?;
        let mut engine = Engine {
            req,
            rng: fastrand::Rng::with_seed(seed),
            poll: poll::PollScheduler::new(now),
            cmds: HashMap::new(),
            queue: VecDeque::new(),
            running: 0,
            next_cmd: 0,
            next_post: 0,
            posts: HashMap::new(),
            timers: BTreeSet::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            stats: std::sync::Arc::default(),
            binding_down: HashMap::new(),
            metadata: None,
            draining: None,
            drained_reported: false,
            tap: input::TapSlot::default(),
            last_now: now,
            stdio: stdio::StdioChannels::default(),
            oauth_url: None,
            oauth_unix_socket: None,
            harpoon_said: std::collections::HashSet::new(),
            discoveries: HashMap::new(),
            harpoon_calls: HashMap::new(),
            startup: startup::Startup::default(),
            cfg,
        };
        let mut ignored: Vec<String> = Vec::new();
        for (name, _) in &engine.cfg.extra_headers {
            if crate::headers::is_reserved_control_plane_header(name.as_str())
                && !ignored
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(name.as_str()))
            {
                ignored.push(name.as_str().to_string());
            }
        }
        for name in ignored {
            engine
                .events
                .push_back(Event::ProtectedHeaderIgnored { name });
        }
        let timeout = engine.cp_timeout();
        engine.actions.push_back(Action::FetchMetadata {
            request: engine.req.metadata(),
            timeout,
        });
        engine.drive(now);
        Ok(engine)
    }

    /// The operator log line for `event` (level and text), with this engine's auth fix.
    pub fn describe(&self, event: &Event) -> (log::Level, String) {
        event.describe_with(&self.cfg.auth_fix, &self.cfg.setting_names)
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Tunnel metadata, once fetched.
    pub fn metadata(&self) -> Option<&TunnelMetadata> {
        self.metadata.as_ref()
    }

    /// Bound for every control-plane exchange: poll timeout + guardrail, at most 10 minutes.
    fn cp_timeout(&self) -> Duration {
        (self.cfg.poll_timeout + self.cfg.poll_guardrail).min(Duration::from_secs(600))
    }

    /// The next action for the adapter.
    pub fn poll_action(&mut self) -> Option<Action> {
        let action = self.actions.pop_front()?;
        self.tap_action(&action);
        Some(action)
    }

    /// The next event for logs, metrics and readiness.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        std::sync::Arc::make_mut(&mut self.stats).record(&event);
        Some(event)
    }

    /// The counters of every event taken with [`Engine::poll_event`]. Cloning the `Arc` is
    /// how a driver publishes them: the engine copies the registry only when it changes
    /// while a published clone is still held.
    pub fn stats(&self) -> &std::sync::Arc<Stats> {
        &self.stats
    }

    /// When [`Engine::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = self.timers.iter().next().map(|(at, _)| *at);
        own.into_iter().chain(self.stdio.poll_timeout()).min()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        // A stdio multiplexer's deadline goes first when both are due: it retires the
        // request in its own terms before the engine's deadline cancels it.
        self.stdio_timeout(now);
        self.settle(now);
        while let Some(&(at, timer)) = self.timers.iter().next() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, timer));
            match timer {
                Timer::Poll | Timer::Readiness => {}
                Timer::Deadline(cmd) => self.on_deadline(now, cmd),
                Timer::PostRetry(cmd) => self.on_post_retry(now, cmd),
                Timer::Drain => self.on_drain_timeout(),
                Timer::PollGrace => self.cancel_closing_poll(),
                Timer::Discovery(cmd) => self.on_discovery_timeout(now, cmd),
                Timer::Harpoon(cmd) => self.on_harpoon_timeout(now, cmd),
                t @ (Timer::StartupProbe | Timer::StartupRetry | Timer::StartupDiscovery) => {
                    self.on_startup_timer(now, t)
                }
            }
        }
        self.drive(now);
        self.settle(now);
    }

    /// Stop polling and finish what was already taken from the control plane, within
    /// `timeout` (each command also within its own deadline). Commands already fetched but
    /// not started are still run: they are gone from the service's queue, and dropping them
    /// would lose them.
    pub fn begin_drain(&mut self, now: Instant, timeout: Duration) {
        if self.draining.is_some() {
            return;
        }
        let until = now.checked_add(timeout).unwrap_or(now);
        self.draining = Some(until);
        self.events.push_back(Event::Draining { timeout });
        self.timers.insert((until, Timer::Drain));
        // The poll in flight may be being answered right now: its commands are already
        // gone from the service's queue, so it gets a short grace to arrive and be run.
        if self.poll.stop() {
            let grace = now.checked_add(poll::DRAIN_POLL_GRACE).unwrap_or(now);
            self.set_timer(grace.min(until), Timer::PollGrace);
        }
        self.timers.retain(|(_, t)| *t != Timer::Poll);
        self.drive(now);
    }

    /// The drain's grace for the poll in flight is over: abort it.
    fn cancel_closing_poll(&mut self) {
        self.clear_timer(Timer::PollGrace);
        for id in self.poll.cancel_closing() {
            self.actions.push_back(Action::CancelPoll { id });
        }
    }

    /// True once a drain has finished: nothing is running or waiting to be posted, and no
    /// poll answer is awaited.
    pub fn is_finished(&self) -> bool {
        self.draining.is_some() && self.cmds.is_empty() && !self.poll.holds_drain()
    }

    fn set_timer(&mut self, at: Instant, t: Timer) {
        self.timers.insert((at, t));
    }

    fn clear_timer(&mut self, t: Timer) {
        self.timers.retain(|(_, x)| *x != t);
    }

    /// Everything that follows from the current state: the next poll, starting queued
    /// commands, sending pending POSTs, and noticing the end of a drain.
    fn drive(&mut self, now: Instant) {
        self.dispatch_queued(now);
        self.schedule_poll(now);
        let ids: Vec<CommandId> = self.cmds.keys().copied().collect();
        for id in ids {
            self.pump_posts(now, id);
        }
        // A command whose last POST just ended left the engine above: its slot may allow
        // the poll that the call before the loop had to hold back.
        self.schedule_poll(now);
        if self.is_finished() && !self.drained_reported {
            self.drained_reported = true;
            self.clear_timer(Timer::Drain);
            self.events.push_back(Event::Drained { abandoned: 0 });
        }
    }

    fn on_drain_timeout(&mut self) {
        self.cancel_closing_poll();
        let ids: Vec<CommandId> = self.cmds.keys().copied().collect();
        let abandoned = ids.len();
        for id in ids {
            self.abandon(id, "drain timeout reached");
        }
        self.queue.clear();
        if !self.drained_reported {
            self.drained_reported = true;
            self.events.push_back(Event::Drained { abandoned });
        }
    }

    /// Removes a command without posting anything more, cancelling its MCP work.
    fn abandon(&mut self, id: CommandId, reason: &'static str) {
        if let Some(cmd) = self.remove_cmd(id) {
            if matches!(cmd.phase, Phase::Running { .. }) {
                self.actions.push_back(Action::CancelMcp { cmd: id });
            }
            self.events.push_back(Event::Abandoned {
                request_id: cmd.request_id,
                reason,
            });
        }
    }

    fn remove_cmd(&mut self, id: CommandId) -> Option<Cmd> {
        let cmd = self.cmds.remove(&id)?;
        if matches!(cmd.phase, Phase::Running { .. }) {
            self.running = self.running.saturating_sub(1);
        }
        if let Phase::Queued(_) = cmd.phase {
            self.queue.retain(|q| *q != id);
        }
        self.clear_timer(Timer::Deadline(id));
        self.clear_timer(Timer::PostRetry(id));
        if self.discoveries.remove(&id).is_some() {
            self.clear_timer(Timer::Discovery(id));
        }
        if self.harpoon_calls.remove(&id).is_some() {
            self.clear_timer(Timer::Harpoon(id));
        }
        if let PostState::InFlight { id: post, .. } = cmd.post {
            self.posts.remove(&post);
        }
        Some(cmd)
    }

    /// Runs the deadline timers already due at `now` before an input is processed: an input
    /// that arrives at or after a command's deadline (an MCP timeout whose clock rounded the
    /// other way, a late wake-up) finds the command already expired instead of producing a
    /// response that would be posted too late.
    fn expire_due(&mut self, now: Instant) {
        let due: Vec<(Instant, Timer)> = self
            .timers
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter(|(_, t)| matches!(t, Timer::Deadline(_)))
            .copied()
            .collect();
        for (at, timer) in due {
            self.timers.remove(&(at, timer));
            if let Timer::Deadline(id) = timer {
                self.on_deadline(now, id);
            }
        }
    }

    fn on_deadline(&mut self, _now: Instant, id: CommandId) {
        let Some(cmd) = self.cmds.get(&id) else {
            return;
        };
        let stage = match cmd.phase {
            Phase::Queued(_) => "queued",
            Phase::Running { .. } => "mcp",
            Phase::Posting => "posting",
        };
        let (request_id, channel) = (cmd.request_id.clone(), cmd.channel.clone());
        if let Some(cmd) = self.remove_cmd(id) {
            if matches!(cmd.phase, Phase::Running { .. }) {
                self.actions.push_back(Action::CancelMcp { cmd: id });
            }
        }
        self.events.push_back(Event::DeadlineExpired {
            request_id,
            channel,
            stage,
        });
    }
}
