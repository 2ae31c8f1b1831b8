//! The stdio channels the engine supervises itself: one [`StdioChannel`] (multiplexer,
//! restart schedule, exit timers, log lines) per channel registered with
//! [`Engine::add_stdio`]. Commands for such a channel never leave the engine as
//! `StartMcp`/`CancelMcp`: they go to the channel's multiplexer here, and what the adapter
//! sees are process actions only ([`Action::Stdio`]: spawn, write, close stdin, probe,
//! kill and reap), answered with [`Input::Stdio`].
//!
//! Routing happens in one place, [`Engine::settle`], after every input and timer: the
//! work queued for owned channels is taken out of the action queue, and what the channels
//! produce (command outputs, availability, log lines, process actions) goes back in as the
//! engine's own inputs, events and actions. The tap still sees each command's `StartMcp`
//! and its outputs, so a trace records a stdio command the same way whoever supervises it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::{Action, CommandId, Engine, Event, Input, McpEvent, McpOp, McpOutput, Terminal};
use crate::channel::ChannelName;
use crate::stdio::{ChildReport, StdioChannel, StdioOptions, StdioOut};

/// The owned channels and the commands they hold.
#[derive(Debug, Default)]
pub(super) struct StdioChannels {
    channels: BTreeMap<ChannelName, StdioChannel>,
    held: HashMap<CommandId, ChannelName>,
}

impl StdioChannels {
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.channels
            .values()
            .filter_map(StdioChannel::poll_timeout)
            .min()
    }
}

impl Engine {
    /// Makes the engine supervise stdio channel `channel` itself. The adapter has already
    /// started its first child (`pid`: a program that cannot start must fail the adapter's
    /// start) and from now on performs the channel's [`Action::Stdio`]s. `ttl` bounds
    /// requests without a deadline (`--mcp.connection-max-ttl`); `seed` jitters restarts.
    pub fn add_stdio(
        &mut self,
        now: Instant,
        channel: ChannelName,
        opts: &StdioOptions,
        ttl: Duration,
        seed: u64,
        pid: u32,
    ) {
        let tap = self.tap.0.clone();
        let mut ch = StdioChannel::new(channel.clone(), opts, ttl, seed, tap);
        ch.adopt_first(now, pid);
        self.stdio.channels.insert(channel, ch);
        self.settle(now);
    }

    /// The pid of a supervised channel's running child, if one runs.
    pub fn stdio_pid(&self, channel: &ChannelName) -> Option<u32> {
        self.stdio.channels.get(channel).and_then(StdioChannel::pid)
    }

    pub(super) fn stdio_report(&mut self, now: Instant, channel: &ChannelName, r: ChildReport) {
        if let Some(ch) = self.stdio.channels.get_mut(channel) {
            ch.handle_report(now, r);
        }
    }

    pub(super) fn stdio_timeout(&mut self, now: Instant) {
        for ch in self.stdio.channels.values_mut() {
            if ch.poll_timeout().is_some_and(|t| t <= now) {
                ch.handle_timeout(now);
            }
        }
    }

    /// Routes between the engine and its stdio channels until neither has anything more
    /// for the other. See the module docs.
    pub(super) fn settle(&mut self, now: Instant) {
        if self.stdio.channels.is_empty() {
            return;
        }
        loop {
            let mut moved = self.take_stdio_work(now);
            let outs: Vec<(ChannelName, StdioOut)> = self
                .stdio
                .channels
                .iter_mut()
                .flat_map(|(name, ch)| {
                    std::iter::from_fn(|| ch.poll_output()).map(|o| (name.clone(), o))
                })
                .collect();
            for (channel, out) in outs {
                moved = true;
                match out {
                    StdioOut::Child(action) => {
                        self.actions.push_back(Action::Stdio { channel, action })
                    }
                    StdioOut::Deliver { cmd, output } => {
                        if matches!(output, McpOutput::Terminal(_)) {
                            self.stdio.held.remove(&cmd);
                        }
                        let event = McpEvent::Output(output);
                        self.tap_and_route(now, Input::Mcp { cmd, event });
                    }
                    StdioOut::Availability(down) => {
                        self.tap_and_route(now, Input::Binding { channel, down })
                    }
                    StdioOut::Restarted => self.events.push_back(Event::StdioRestarted { channel }),
                    StdioOut::Log(level, line) => {
                        self.events.push_back(Event::StdioLog { level, line })
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Takes the work for owned channels out of the action queue and hands it to them;
    /// true if there was any.
    fn take_stdio_work(&mut self, now: Instant) -> bool {
        let mut moved = false;
        let mut keep = std::collections::VecDeque::with_capacity(self.actions.len());
        let mut refused = Vec::new();
        while let Some(action) = self.actions.pop_front() {
            match action {
                Action::StartMcp(work) if self.stdio.channels.contains_key(&work.channel) => {
                    moved = true;
                    self.tap_action(&Action::StartMcp(work.clone()));
                    let McpOp::Send { message, .. } = work.op else {
                        // The engine answers session_termination and oauth_discovery for
                        // stdio channels itself; nothing else reaches here.
                        refused.push(work.cmd);
                        continue;
                    };
                    if let Some(ch) = self.stdio.channels.get_mut(&work.channel) {
                        self.stdio.held.insert(work.cmd, work.channel.clone());
                        ch.submit(now, work.cmd, message, work.deadline);
                    }
                }
                Action::CancelMcp { cmd } if self.stdio.held.contains_key(&cmd) => {
                    moved = true;
                    self.tap_action(&action);
                    if let Some(ch) = self
                        .stdio
                        .held
                        .remove(&cmd)
                        .and_then(|c| self.stdio.channels.get_mut(&c))
                    {
                        ch.cancel(now, cmd);
                    }
                }
                other => keep.push_back(other),
            }
        }
        self.actions = keep;
        for cmd in refused {
            let output = McpOutput::Terminal(Terminal::Abandon {
                reason: "operation not supported on a stdio channel",
            });
            let event = McpEvent::Output(output);
            self.tap_and_route(now, Input::Mcp { cmd, event });
        }
        moved
    }
}
