//! The engine's one input vocabulary: everything the world can tell it.
//!
//! Every driver (the blocking and smol adapters, the conformance core replay) feeds the
//! engine through [`Engine::handle`] with these values and nothing else, so routing between
//! what happened and the machine that cares is written once, here. A [`Tap`] set with
//! [`Engine::set_tap`] sees each input and each action at the engine boundary, in order:
//! a recorded trace comes from one place whatever drives the engine.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderMap;

use super::{CommandId, Engine, HttpResponse, McpOutput, PollId, PostError, PostId};
use crate::channel::ChannelName;
use crate::classify::TransportError;
use crate::tap::{Observed, Tap};

/// Something that happened, for [`Engine::handle`].
#[derive(Debug)]
pub enum Input {
    /// A poll finished. `received` is when its response head arrived (or it failed): it
    /// anchors the commands' `response_timeout`, whenever the driver gets to hand it over.
    Poll {
        id: PollId,
        received: Instant,
        wall: SystemTime,
        result: Result<HttpResponse, TransportError>,
    },
    /// The metadata fetch finished.
    Metadata {
        result: Result<HttpResponse, TransportError>,
    },
    /// A response-POST attempt finished.
    Post {
        id: PostId,
        wall: SystemTime,
        result: Result<HttpResponse, PostError>,
    },
    /// A command's MCP exchange progressed.
    Mcp { cmd: CommandId, event: McpEvent },
    /// A binding's availability changed (reachability probe, stdio child down/up).
    Binding {
        channel: ChannelName,
        down: Option<String>,
    },
    /// SIGTERM/SIGINT: stop polling, finish what was taken within `timeout`.
    Drain { timeout: Duration },
    /// What the process of an engine-owned stdio channel did ([`super::Action::Stdio`]).
    Stdio {
        channel: ChannelName,
        report: crate::stdio::ChildReport,
    },
}

/// One step of a command's MCP exchange.
#[derive(Debug)]
pub enum McpEvent {
    /// A Streamable HTTP response head.
    Head { status: u16, headers: HeaderMap },
    /// A piece of the response body.
    Body(Bytes),
    /// The body ended.
    End,
    /// A whole response at once (head, complete body, end): one input for a small body.
    Response {
        status: u16,
        headers: HeaderMap,
        body: Bytes,
    },
    /// The exchange failed at the transport level.
    Error(TransportError),
    /// A stdio or in-process binding's framed output (or an `oauth_discovery` outcome).
    Output(McpOutput),
}

/// The optional tap, kept out of the engine's `Debug`.
#[derive(Default)]
pub(super) struct TapSlot(pub(super) Option<std::sync::Arc<dyn Tap>>);

impl std::fmt::Debug for TapSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(tap)"
        } else {
            "None"
        })
    }
}

impl Engine {
    /// Feeds one input. The one entry point for drivers; the finer `handle_*` methods it
    /// routes to stay public for unit tests and fuzz targets that drive a single machine.
    pub fn handle(&mut self, now: Instant, input: Input) {
        let at = match &input {
            Input::Poll { received, .. } => *received,
            _ => now,
        };
        if let Some(tap) = &self.tap.0 {
            tap.observe(at, Observed::Input(&input));
        }
        self.last_now = self.last_now.max(now);
        self.route(now, input);
        self.settle(now);
    }

    /// Shows `input` to the tap and hands it to the machine it concerns, without settling.
    pub(super) fn tap_and_route(&mut self, now: Instant, input: Input) {
        if let Some(tap) = &self.tap.0 {
            tap.observe(now, Observed::Input(&input));
        }
        self.route(now, input);
    }

    fn route(&mut self, now: Instant, input: Input) {
        match input {
            Input::Poll {
                id,
                received,
                wall,
                result,
            } => self.handle_poll_response(received, wall, id, result),
            Input::Metadata { result } => self.handle_metadata_response(now, result),
            Input::Post { id, wall, result } => self.handle_post_result(now, wall, id, result),
            Input::Mcp { cmd, event } => {
                let Some(event) = self.startup_event(now, cmd, event) else {
                    return;
                };
                let event = self
                    .discovery_event(now, cmd, event)
                    .and_then(|e| self.harpoon_event(now, cmd, e));
                if let Some(event) = event {
                    self.route_mcp(now, cmd, event);
                }
            }
            Input::Binding { channel, down } => self.set_binding_down(&channel, down),
            Input::Drain { timeout } => self.begin_drain(now, timeout),
            Input::Stdio { channel, report } => self.stdio_report(now, &channel, report),
        }
    }

    fn route_mcp(&mut self, now: Instant, cmd: CommandId, event: McpEvent) {
        match event {
            McpEvent::Head { status, headers } => self.handle_mcp_head(now, cmd, status, &headers),
            McpEvent::Body(chunk) => self.handle_mcp_body(now, cmd, &chunk),
            McpEvent::End => self.handle_mcp_end(now, cmd),
            McpEvent::Response {
                status,
                headers,
                body,
            } => {
                // Stop at the terminal: a head that already decided the outcome (an
                // error status without a JSON-RPC body) makes the rest irrelevant.
                self.handle_mcp_head(now, cmd, status, &headers);
                if self.mcp_running(cmd) {
                    self.handle_mcp_body(now, cmd, &body);
                }
                if self.mcp_running(cmd) {
                    self.handle_mcp_end(now, cmd);
                }
            }
            McpEvent::Error(e) => self.handle_mcp_error(now, cmd, e),
            McpEvent::Output(o) => self.handle_mcp_output(now, cmd, o),
        }
    }

    /// Shows every later input and action to `tap` (`tunnel-client run --record-trace`).
    pub fn set_tap(&mut self, tap: Option<std::sync::Arc<dyn Tap>>) {
        self.tap = TapSlot(tap);
    }

    /// The tap, for a driver's own observations below the engine (stdio bytes).
    pub fn tap(&self) -> Option<&std::sync::Arc<dyn Tap>> {
        self.tap.0.as_ref()
    }

    /// Shows an action to the tap as it leaves the engine.
    pub(super) fn tap_action(&self, action: &super::Action) {
        if let Some(tap) = &self.tap.0 {
            tap.observe(self.last_now, Observed::Action(action));
        }
    }
}
