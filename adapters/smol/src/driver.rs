//! The driver: one future owning the engine and every I/O task.
//!
//! Each turn performs the engine's actions (each becomes a boxed task future kept in a map,
//! or a command handed to a stdio channel), hands events to the observer, publishes the
//! status, then waits for the first of: an input from a task (over a channel), a task
//! making progress, a stdio channel with something for the engine, or the engine's timer.
//! A task is cancelled by dropping it, which closes its socket. When the engine is done
//! (drain over) or on a hard stop, the stdio children are stopped in order before the
//! future returns. The tasks themselves: `control_plane` (poll, POST, metadata), `mcp`
//! (HTTP and in-process exchanges), `probe` (reachability of direct targets).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Instant, SystemTime};

use async_channel::{Receiver, Sender};
use async_io::Timer;
use futures_lite::future;
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{
    Action, CommandId, Engine, EngineConfig, Input, McpEvent, McpOutput, McpWork, PollId, PostId,
    Terminal,
};
use tunnel_core::snapshot::{DriverState, Published, Snapshot};
use tunnel_core::tap::Tap;

use crate::control_plane;
use crate::mcp::{self, Binding, Reply};
use crate::net::Dialer;
use crate::stdio::StdioProcs;
use crate::{Observer, RuntimeOptions, StartError};

/// How a driver ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Commands dropped by a hard stop (a drain reports its own in the `Drained` event).
    pub abandoned: usize,
}

/// What a task can tell the driver: an input for the engine as it is, or stop.
pub(crate) enum Msg {
    Engine(Input),
    /// A step of an MCP exchange, from the `generation`-th start of a task for `cmd`. A
    /// command id can be started again (the startup probe re-sends with the same id), and
    /// the cancelled task's last steps may still be queued here: they are dropped, not
    /// taken for the new attempt's.
    Mcp {
        cmd: CommandId,
        generation: u64,
        event: McpEvent,
    },
    /// Graceful drain (SIGTERM/SIGINT).
    Drain,
    /// Stop now (the runtime was dropped): abandon everything.
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Poll(PollId),
    Post(PostId),
    Metadata,
    Mcp(CommandId),
    /// The reachability probe of direct HTTP targets (`crate::probe`).
    Probe,
}

pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

pub(crate) struct Driver {
    engine: Engine,
    opts: RuntimeOptions,
    bindings: HashMap<ChannelName, Binding>,
    /// The control plane's way out (its proxy, trust and client certificate).
    cp: Arc<Dialer>,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    tasks: HashMap<Key, Task>,
    /// The current start of each MCP exchange (see `Msg::Mcp`), until the engine
    /// cancels it; `next_generation` numbers the starts.
    mcp_generation: HashMap<CommandId, u64>,
    next_generation: u64,
    stdio: Vec<StdioProcs>,
    status: Published,
    /// What the driver adds to the engine's state in each snapshot.
    state: DriverState,
    observer: Option<Observer>,
    tap: Option<Arc<dyn Tap>>,
}

/// A seed for the jitter PRNG from the OS (std's per-process random hasher keys).
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

impl Driver {
    pub(crate) fn new(
        mut cfg: EngineConfig,
        opts: RuntimeOptions,
        bindings: HashMap<ChannelName, Binding>,
        cp: Arc<Dialer>,
        tx: Sender<Msg>,
        rx: Receiver<Msg>,
    ) -> Result<Driver, StartError> {
        if cfg.instance_id.is_empty() || cfg.instance_id.bytes().all(|b| b == b'0') {
            cfg.instance_id = format!("{:016x}{:016x}", seed(), seed());
        }
        let mut engine = Engine::new(cfg, seed(), Instant::now()).map_err(StartError::Engine)?;
        engine.set_tap(opts.tap.clone());
        if let Some(Binding::Http(url, _)) = bindings.get(&ChannelName::main()) {
            engine.set_oauth_target(url.clone());
        }
        if let Some(checks) = opts.startup_checks {
            engine.start_checks(Instant::now(), checks);
        }
        // Last: a child is only started once nothing else can fail the start (a failing
        // second channel drops the first one's child, which kills it).
        let mut stdio = Vec::new();
        for t in &opts.stdio_targets {
            let (procs, pid) = StdioProcs::start(t, &opts.stdio, opts.child_setup)?;
            let (ttl, now) = (opts.mcp_connection_ttl, Instant::now());
            engine.add_stdio(now, t.channel.clone(), &opts.stdio, ttl, seed(), pid);
            stdio.push(procs);
        }
        let status = Published::new(Snapshot::starting(&engine, Instant::now()));
        let mut tasks: HashMap<Key, Task> = HashMap::new();
        if let Some(probe) = crate::probe::task(&bindings, tx.clone()) {
            tasks.insert(Key::Probe, probe);
        }
        Ok(Driver {
            state: DriverState::default(),
            stdio,
            engine,
            observer: opts.observer.clone(),
            tap: opts.tap.clone(),
            opts,
            bindings,
            cp,
            tx,
            rx,
            tasks,
            mcp_generation: HashMap::new(),
            next_generation: 0,
            status,
        })
    }

    pub(crate) async fn run(mut self) -> Finished {
        let mut hard_stop = false;
        loop {
            self.perform_actions();
            while self.pump_stdio() {
                self.perform_actions();
            }
            self.drain_events();
            self.publish();
            if self.engine.is_finished() {
                break;
            }
            let mut timer = self.engine.poll_timeout().map(Timer::at);
            let (rx, tasks, stdio) = (&self.rx, &mut self.tasks, &mut self.stdio);
            let input = future::or(async { rx.recv().await.ok() }, async {
                future::poll_fn(|cx| {
                    tasks.retain(|_, t| t.as_mut().poll(cx).is_pending());
                    // Every channel is polled (each registers its wakers) before returning.
                    let mut stdio_ready = false;
                    for ch in stdio.iter_mut() {
                        stdio_ready |= ch.poll(cx).is_ready();
                    }
                    if stdio_ready {
                        return Poll::Ready(None);
                    }
                    if let Some(t) = timer.as_mut() {
                        if Pin::new(t).poll(cx).is_ready() {
                            return Poll::Ready(None);
                        }
                    }
                    Poll::Pending
                })
                .await
            })
            .await;
            if let Some(input) = input {
                if !self.handle(input) {
                    hard_stop = true;
                    break;
                }
                while let Ok(input) = self.rx.try_recv() {
                    // The engine's answer to the last input first: a `CancelMcp` in it
                    // must take effect before that exchange's next queued step is read.
                    self.perform_actions();
                    if !self.handle(input) {
                        hard_stop = true;
                        break;
                    }
                }
                if hard_stop {
                    break;
                }
            }
            let now = Instant::now();
            if self.engine.poll_timeout().is_some_and(|t| t <= now) {
                self.engine.handle_timeout(now);
            }
        }
        let abandoned = if hard_stop {
            self.engine.status().unfinished()
        } else {
            0
        };
        self.tasks.clear();
        crate::stdio::shut_down(std::mem::take(&mut self.stdio)).await;
        self.drain_events();
        if let Some(tap) = &self.tap {
            tap.finish();
        }
        self.state.stopped = true;
        self.publish();
        Finished { abandoned }
    }

    /// The cell this driver publishes into (for the handle).
    pub(crate) fn published(&self) -> Published {
        self.status.clone()
    }

    fn publish(&self) {
        let last = self.status.get();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let snapshot = Snapshot::of(&self.engine, &last, &self.state, now, wall);
        self.status.set(snapshot);
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.engine.poll_event() {
            let (level, text) = self.engine.describe(&e);
            log::log!(level, "{text}");
            self.state.record(&e);
            if let Some(o) = &self.observer {
                o(&e);
            }
        }
    }

    /// Returns false on a hard stop.
    fn handle(&mut self, msg: Msg) -> bool {
        let now = Instant::now();
        match msg {
            Msg::Engine(input) => {
                match &input {
                    Input::Poll { id, .. } => self.tasks.remove(&Key::Poll(*id)),
                    Input::Post { id, .. } => self.tasks.remove(&Key::Post(*id)),
                    _ => None,
                };
                self.engine.handle(now, input);
            }
            Msg::Mcp {
                cmd,
                generation,
                event,
            } => {
                if self.mcp_generation.get(&cmd) == Some(&generation) {
                    self.engine.handle(now, Input::Mcp { cmd, event });
                }
            }
            Msg::Drain => {
                let timeout = self.opts.drain_timeout;
                self.engine.handle(now, Input::Drain { timeout });
            }
            Msg::Stop => return false,
        }
        true
    }

    fn perform_actions(&mut self) {
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Poll {
                    id,
                    request,
                    timeout,
                } => {
                    let (cp, tx, limits) = (self.cp.clone(), self.tx.clone(), self.limits());
                    let task = control_plane::poll(cp, tx, id, request, timeout, limits);
                    self.tasks.insert(Key::Poll(id), task);
                }
                Action::CancelPoll { id } => {
                    self.tasks.remove(&Key::Poll(id));
                }
                Action::Post {
                    id,
                    request,
                    timeout,
                } => {
                    let (cp, tx, small) =
                        (self.cp.clone(), self.tx.clone(), self.opts.max_error_body);
                    let task = control_plane::post(cp, tx, id, request, timeout, small);
                    self.tasks.insert(Key::Post(id), task);
                }
                Action::FetchMetadata { request, timeout } => {
                    let (cp, tx, limits) = (self.cp.clone(), self.tx.clone(), self.limits());
                    let task = control_plane::metadata(cp, tx, request, timeout, limits);
                    self.tasks.insert(Key::Metadata, task);
                }
                Action::StartMcp(work) => self.start_mcp(work),
                Action::Stdio { channel, action } => {
                    if let Some(p) = self.stdio.iter_mut().find(|p| *p.channel() == channel) {
                        p.perform(action);
                    }
                }
                Action::CancelMcp { cmd } => {
                    self.tasks.remove(&Key::Mcp(cmd));
                    self.mcp_generation.remove(&cmd);
                }
            }
        }
    }

    /// The control plane's body bounds.
    fn limits(&self) -> control_plane::Limits {
        control_plane::Limits {
            ok_body: self.opts.max_poll_body,
            other_body: self.opts.max_error_body,
        }
    }

    fn start_mcp(&mut self, work: McpWork) {
        let (cmd, now) = (work.cmd, Instant::now());
        self.next_generation += 1;
        let generation = self.next_generation;
        self.mcp_generation.insert(cmd, generation);
        let reply = Reply {
            tx: self.tx.clone(),
            cmd,
            generation,
        };
        let task = match self.bindings.get(&work.channel) {
            // The engine runs the commands of its stdio channels itself.
            Some(Binding::Stdio) | None => Err(no_runner()),
            Some(Binding::InProcess(h)) => Ok(mcp::in_process(Arc::clone(h), work, reply)),
            Some(Binding::Http(uri, dialer)) => {
                let (uri, dialer) = (uri.clone(), Arc::clone(dialer));
                mcp::http(uri, work, dialer, self.opts.mcp_connection_ttl, reply)
            }
        };
        match task {
            Ok(task) => {
                self.tasks.insert(Key::Mcp(cmd), task);
            }
            Err(out) => self.output(now, cmd, out),
        }
    }

    fn output(&mut self, now: Instant, cmd: CommandId, out: McpOutput) {
        let event = McpEvent::Output(out);
        self.engine.handle(now, Input::Mcp { cmd, event });
    }

    /// Hands what the stdio processes did to the engine; true if there was anything.
    fn pump_stdio(&mut self) -> bool {
        let mut any = false;
        for p in &mut self.stdio {
            while let Some(report) = p.take() {
                any = true;
                let channel = p.channel().clone();
                self.engine
                    .handle(Instant::now(), Input::Stdio { channel, report });
            }
        }
        any
    }
}

fn no_runner() -> McpOutput {
    McpOutput::Terminal(Terminal::Abandon {
        reason: "no MCP binding runner for this channel",
    })
}
