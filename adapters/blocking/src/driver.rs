//! The driver thread: the only owner of the [`Engine`].
//!
//! I/O threads (poller, posters, MCP workers) never touch the engine; they send the
//! engine's own [`Input`]s (in a [`ToDriver`]) over one channel. The loop: perform every pending action, log every event (the engine counts
//! them), publish one status snapshot per batch, then wait for the next input or the engine's next timer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{Action, CommandId, Engine, Input, McpEvent, McpOutput, Terminal};
use tunnel_core::snapshot::DriverState;

use crate::binding::{McpBinding, McpSink};
use crate::control_plane::{self, Limits, PollJob};
use crate::events::log_event;
use crate::options::Observer;
use crate::pool::Pool;
use crate::status::{Published, Snapshot};
use crate::stdio::StdioProcs;
use tunnel_core::tap::Tap;

/// Inputs handled before the next round of actions, events and publishing. Batching keeps
/// a fast SSE stream from paying for a status snapshot per chunk.
const MAX_BATCH: usize = 256;

/// What an I/O thread can tell the driver: an input for the engine as it is, or the
/// driver's own business.
pub(crate) enum ToDriver {
    Engine(Input),
    /// Graceful drain (SIGTERM/SIGINT).
    Drain,
    /// Stop now (the runtime was dropped): abandon everything.
    Stop,
}

/// What the driver needs besides the engine.
pub(crate) struct Driver {
    pub engine: Engine,
    pub rx: Receiver<ToDriver>,
    pub tx: Sender<ToDriver>,
    /// Threads that perform polls, one job per poll.
    pub pollers: Pool,
    /// The pollers' agent, kept to interrupt the outstanding long polls on drain.
    pub poll_agent: ureq::Agent,
    /// Posts and the metadata fetch.
    pub cp_agent: ureq::Agent,
    pub posters: Pool,
    pub bindings: HashMap<ChannelName, Arc<dyn McpBinding>>,
    /// The processes of the stdio channels the engine supervises.
    pub stdio: HashMap<ChannelName, StdioProcs>,
    pub limits: Limits,
    pub drain_timeout: Duration,
    pub observer: Option<Observer>,
    pub tap: Option<Arc<dyn Tap>>,
    pub published: Published,
    /// Cancel flags (and channels) of MCP work until the engine cancels it.
    pub running: HashMap<CommandId, (Arc<AtomicBool>, ChannelName)>,
    /// What the snapshots add to the engine's state (stdio restarts, tunnel metadata).
    pub state: DriverState,
}

impl Driver {
    /// Runs until the engine has drained (or a hard stop); returns how many commands were
    /// abandoned by a hard stop.
    pub(crate) fn run(mut self) -> usize {
        let mut stopped_hard = false;
        loop {
            self.perform_actions();
            self.drain_events();
            self.publish(false);
            if self.engine.is_finished() {
                break;
            }
            // The engine's timers include the instant readiness changes on its own.
            let received = match self.engine.poll_timeout() {
                Some(t) => self
                    .rx
                    .recv_timeout(t.saturating_duration_since(Instant::now())),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok(input) => {
                    if !self.handle_input(input) {
                        stopped_hard = true;
                        break;
                    }
                    // Take what else is already waiting, bounded.
                    let mut n = 1;
                    while n < MAX_BATCH {
                        let Ok(input) = self.rx.try_recv() else { break };
                        if !self.handle_input(input) {
                            stopped_hard = true;
                            break;
                        }
                        n += 1;
                    }
                    if stopped_hard {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Impossible while we hold `tx`; treat it like a stop.
                Err(RecvTimeoutError::Disconnected) => {
                    stopped_hard = true;
                    break;
                }
            }
            // Timers fire even while inputs keep arriving.
            let now = Instant::now();
            if self.engine.poll_timeout().is_some_and(|t| t <= now) {
                self.engine.handle_timeout(now);
            }
        }
        let abandoned = if stopped_hard {
            self.engine.status().unfinished()
        } else {
            0
        };
        self.drain_events();
        self.shutdown_io();
        self.publish(true);
        if let Some(tap) = &self.tap {
            tap.finish();
        }
        abandoned
    }

    /// Returns false on a hard stop.
    fn handle_input(&mut self, msg: ToDriver) -> bool {
        let now = Instant::now();
        match msg {
            ToDriver::Engine(input) => self.engine.handle(now, input),
            ToDriver::Drain => {
                let timeout = self.drain_timeout;
                self.engine.handle(now, Input::Drain { timeout });
            }
            ToDriver::Stop => return false,
        }
        true
    }

    fn cancel_mcp(&mut self, cmd: CommandId) {
        if let Some((flag, channel)) = self.running.remove(&cmd) {
            flag.store(true, Ordering::Release);
            if let Some(binding) = self.bindings.get(&channel) {
                binding.cancel(cmd);
            }
        }
    }

    fn perform_actions(&mut self) {
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Poll {
                    id,
                    request,
                    timeout,
                } => {
                    let (agent, tx, limits) =
                        (self.poll_agent.clone(), self.tx.clone(), self.limits);
                    let job = PollJob {
                        id,
                        request,
                        timeout,
                    };
                    self.pollers
                        .submit(move || control_plane::poll_once(&agent, job, &tx, limits));
                }
                Action::CancelPoll { .. } => {
                    // Only a drain cancels polls, and no poll follows: stopping the pool ends
                    // its threads, and shutting the agent down interrupts the long polls in
                    // flight instead of waiting out `timeout_ms`.
                    self.pollers.stop();
                    self.poll_agent.clone().shutdown();
                }
                Action::Post {
                    id,
                    request,
                    timeout,
                } => {
                    let (agent, limits, tx) = (self.cp_agent.clone(), self.limits, self.tx.clone());
                    self.posters.submit(move || {
                        control_plane::post(&agent, id, request, timeout, limits, &tx)
                    });
                }
                Action::FetchMetadata { request, timeout } => {
                    let (agent, limits, tx) = (self.cp_agent.clone(), self.limits, self.tx.clone());
                    self.posters.submit(move || {
                        control_plane::metadata(&agent, request, timeout, limits, &tx)
                    });
                }
                Action::StartMcp(work) => {
                    let cmd = work.cmd;
                    match self.bindings.get(&work.channel) {
                        Some(binding) => {
                            let flag = Arc::new(AtomicBool::new(false));
                            self.running
                                .insert(cmd, (Arc::clone(&flag), work.channel.clone()));
                            binding.start(work, McpSink::new(cmd, self.tx.clone(), flag));
                        }
                        None => {
                            // Start() checked every binding has a runner; keep the engine
                            // consistent anyway.
                            let out = McpOutput::Terminal(Terminal::Abandon {
                                reason: "no MCP binding runner for this channel",
                            });
                            let event = McpEvent::Output(out);
                            self.engine
                                .handle(Instant::now(), Input::Mcp { cmd, event });
                        }
                    }
                }
                Action::CancelMcp { cmd } => self.cancel_mcp(cmd),
                Action::Stdio { channel, action } => {
                    if let Some(procs) = self.stdio.get(&channel) {
                        procs.perform(action);
                    }
                }
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            log_event(&self.engine, &event);
            self.state.record(&event);
            if let Some(observer) = &self.observer {
                observer(&event);
            }
        }
    }

    fn publish(&mut self, stopped: bool) {
        let last = self.published.get();
        self.state.stopped = stopped;
        let snapshot = Snapshot::of(
            &self.engine,
            &last,
            &self.state,
            Instant::now(),
            SystemTime::now(),
        );
        self.published.set(snapshot);
    }

    /// Interrupts and stops every I/O thread; none is joined here (see `Runtime::join`).
    fn shutdown_io(&mut self) {
        for (flag, _) in self.running.values() {
            flag.store(true, Ordering::Release);
        }
        self.running.clear();
        self.pollers.stop();
        self.posters.stop();
        self.poll_agent.clone().shutdown();
        self.cp_agent.clone().shutdown();
        for binding in self.bindings.values() {
            binding.shutdown();
        }
        for procs in self.stdio.values() {
            procs.shutdown();
        }
    }
}
