//! Stdio channels in the core replay: a scripted child process under virtual time.
//!
//! The engine supervises its stdio channels itself (multiplexer, restarts, exit timers);
//! like an adapter, the replay only performs the engine's process actions
//! ([`ChildAction`]) and reports what the "process" did ([`ChildReport`]) — with the
//! process replaced by the trace's [`StdioScript`]. Writes complete at once; the child's
//! answers are scheduled at the virtual instants its script says; a child exits when its
//! script says so or when its stdin is closed.

use std::time::Instant;

use tunnel_core::stdio::{ChildAction, ChildReport};

use super::check::StdioSeen;
use super::stdio_script::{StdioScript, Step};

/// Something the simulated child does at a virtual instant.
#[derive(Debug)]
pub enum ChildInput {
    /// Bytes on stdout of child `generation`.
    Output(u64, Vec<u8>),
    /// Child `generation` exits (stdout closes).
    Exit(u64),
}

/// What the runner must do after the simulated child moved.
#[derive(Debug)]
pub enum Effect {
    /// Report this to the engine (`Input::Stdio`), now.
    Report(ChildReport),
    /// Schedule `input` for this child at `at`.
    Schedule(Instant, ChildInput),
}

/// The scripted process of one stdio channel.
pub struct SimChild {
    pub channel: String,
    script: StdioScript,
    /// The running child's generation (0 before the first one).
    generation: u64,
    /// Its stdout is open.
    up: bool,
    /// It has exited.
    exited: bool,
}

impl SimChild {
    pub fn new(channel: &str, script: StdioScript) -> Self {
        SimChild {
            channel: channel.to_string(),
            script,
            generation: 0,
            up: false,
            exited: false,
        }
    }

    /// The first child, started before the engine is told about the channel (as an
    /// adapter's start does); its pid is its generation.
    pub fn start(&mut self, now: Instant) -> (u32, Vec<Effect>) {
        self.generation = 1;
        self.up = true;
        self.exited = false;
        let steps = self.script.on_start();
        (1, self.play(now, steps))
    }

    /// Performs one of the engine's process actions.
    pub fn perform(
        &mut self,
        now: Instant,
        action: ChildAction,
        seen: &mut Vec<StdioSeen>,
        at_ms: u64,
    ) -> Vec<Effect> {
        let current = |g: u64| g == self.generation;
        match action {
            ChildAction::Spawn { generation } => {
                self.generation = generation;
                self.up = true;
                self.exited = false;
                let pid = u32::try_from(generation).unwrap_or(u32::MAX);
                let mut fx = vec![Effect::Report(ChildReport::Spawned { generation, pid })];
                let steps = self.script.on_start();
                fx.extend(self.play(now, steps));
                fx
            }
            ChildAction::Write {
                generation,
                ticket,
                line,
            } if current(generation) && self.up => {
                let mut fx = vec![Effect::Report(ChildReport::Written { generation, ticket })];
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let r = self.script.on_line(text);
                seen.push(StdioSeen::new(&self.channel, text, at_ms, &r));
                fx.extend(self.play(now, r.steps));
                fx
            }
            // A scripted child ends when its stdin closes.
            ChildAction::CloseStdin { generation } if current(generation) => {
                self.up = false;
                self.exited = true;
                Vec::new()
            }
            ChildAction::CheckExit { generation } if current(generation) && self.exited => {
                vec![Effect::Report(ChildReport::Exited { generation })]
            }
            ChildAction::Reap { generation } => {
                self.up = false;
                self.exited = true;
                let status = None;
                vec![Effect::Report(ChildReport::Reaped { generation, status })]
            }
            _ => Vec::new(),
        }
    }

    /// A scheduled child input is due.
    pub fn handle(&mut self, input: ChildInput) -> Vec<Effect> {
        match input {
            ChildInput::Output(generation, bytes) if self.up && generation == self.generation => {
                vec![Effect::Report(ChildReport::Stdout { generation, bytes })]
            }
            ChildInput::Exit(generation) if self.up && generation == self.generation => {
                self.up = false;
                self.exited = true;
                vec![Effect::Report(ChildReport::StdoutEnd { generation })]
            }
            // Output or exit of a child already replaced.
            ChildInput::Output(..) | ChildInput::Exit(_) => Vec::new(),
        }
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
