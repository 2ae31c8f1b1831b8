//! Stdio channels in the core replay: the core's [`StdioMux`] wired to a scripted child
//! under virtual time.
//!
//! This is what the blocking and smol adapters do with threads or futures — feed the mux
//! the engine's work, write its lines to the child, feed it the child's output, restart the
//! child when it goes away — with the child replaced by the trace's [`StdioScript`]. Writes
//! complete at once; the child's answers are scheduled at the virtual instants its script
//! says; a child that exits is restarted after the adapters' first backoff step
//! (`StdioOptions::restart_min`, without jitter). The multiplexer is configured from the
//! adapters' default `StdioOptions` too.

use std::time::Instant;

use tunnel_core::classify::TransportError;
use tunnel_core::engine::{CommandId, McpOp, McpOutput, McpWork, Terminal};
use tunnel_core::stdio::{MuxConfig, MuxOutput, StdioMux, StdioOptions};

use super::check::StdioSeen;
use super::stdio_script::{StdioScript, Step};

/// Something the simulated child does at a virtual instant.
#[derive(Debug)]
pub enum ChildInput {
    /// Bytes on stdout of child `generation`.
    Output(u64, Vec<u8>),
    /// Child `generation` exits (stdout closes).
    Exit(u64),
    /// A new child starts.
    Start,
}

/// What the runner must do after the simulated channel moved.
#[derive(Debug)]
pub enum Effect {
    /// Hand this to the engine (`Engine::handle_mcp_output`).
    Deliver(CommandId, McpOutput),
    /// Schedule `input` for this channel at `at`.
    Schedule(Instant, ChildInput),
}

/// One stdio channel: its multiplexer and its scripted child.
pub struct SimChannel {
    pub channel: String,
    mux: StdioMux,
    opts: StdioOptions,
    script: StdioScript,
    /// The running child's generation (0 before the first one).
    generation: u64,
    up: bool,
}

impl SimChannel {
    pub fn new(channel: &str, script: StdioScript) -> Self {
        let opts = StdioOptions::default();
        SimChannel {
            channel: channel.to_string(),
            // The default connection TTL (`--mcp.connection-max-ttl`), as the adapters use.
            mux: StdioMux::new(opts.mux_config(MuxConfig::default().ttl)),
            opts,
            script,
            generation: 0,
            up: false,
        }
    }

    /// The engine's work for a command on this channel.
    pub fn submit(&mut self, now: Instant, work: McpWork) -> Vec<Effect> {
        match work.op {
            McpOp::Send { message, .. } => {
                self.mux
                    .handle_submit(now, work.cmd, message, work.deadline)
            }
            // The engine answers the others itself on stdio channels.
            _ => {
                let output = McpOutput::Terminal(Terminal::Abandon {
                    reason: "operation not supported on a stdio channel",
                });
                return vec![Effect::Deliver(work.cmd, output)];
            }
        }
        Vec::new()
    }

    pub fn cancel(&mut self, now: Instant, cmd: CommandId) {
        self.mux.handle_cancel(now, cmd);
    }

    pub fn timeout(&self) -> Option<Instant> {
        self.mux.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.mux.handle_timeout(now);
    }

    /// A scheduled child input is due.
    pub fn handle(
        &mut self,
        now: Instant,
        input: ChildInput,
        seen: &mut Vec<StdioSeen>,
        at_ms: u64,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        match input {
            ChildInput::Output(g, bytes) if self.up && g == self.generation => {
                self.mux.handle_child_output(now, &bytes)
            }
            ChildInput::Exit(g) if self.up && g == self.generation => {
                self.mux.handle_child_eof(now);
                self.mux.handle_child_down(now, TransportError::Eof);
                self.up = false;
                fx.push(Effect::Schedule(
                    now + self.opts.restart_min,
                    ChildInput::Start,
                ));
            }
            ChildInput::Start => {
                self.generation += 1;
                self.up = true;
                self.mux.handle_child_started(now);
                let steps = self.script.on_start();
                fx.extend(self.play(now, steps));
            }
            // Output or exit of a child already replaced.
            ChildInput::Output(..) | ChildInput::Exit(_) => {}
        }
        fx.extend(self.pump(now, seen, at_ms));
        fx
    }

    /// Performs the mux's outputs: lines reach the scripted child (whose answers are
    /// scheduled), deliveries go to the engine, restarts restart.
    pub fn pump(&mut self, now: Instant, seen: &mut Vec<StdioSeen>, at_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        while let Some(out) = self.mux.poll_output() {
            match out {
                MuxOutput::Write { ticket, line } => {
                    if !self.up {
                        continue;
                    }
                    self.mux.handle_written(now, ticket);
                    let text = line.strip_suffix(b"\n").unwrap_or(&line);
                    let r = self.script.on_line(text);
                    seen.push(StdioSeen::new(&self.channel, text, at_ms, &r));
                    fx.extend(self.play(now, r.steps));
                }
                MuxOutput::Deliver { cmd, output } => fx.push(Effect::Deliver(cmd, output)),
                MuxOutput::Restart { .. } => {
                    self.mux.handle_child_down(now, TransportError::Eof);
                    self.up = false;
                    fx.push(Effect::Schedule(
                        now + self.opts.restart_min,
                        ChildInput::Start,
                    ));
                }
            }
        }
        // Events are the adapters' logging; the replay's findings come from the script.
        while self.mux.poll_event().is_some() {}
        fx
    }

    /// Schedules a script's steps for the running child, from `now`.
    fn play(&self, now: Instant, steps: Vec<Step>) -> Vec<Effect> {
        let mut at = now;
        let mut fx = Vec::new();
        for s in steps {
            match s {
                Step::Pause(d) => at += d,
                Step::Write(b) => {
                    fx.push(Effect::Schedule(at, ChildInput::Output(self.generation, b)))
                }
                Step::Exit => {
                    fx.push(Effect::Schedule(at, ChildInput::Exit(self.generation)));
                    break;
                }
            }
        }
        fx
    }
}
