//! Recording stdio channels: the lines a child received and what it sent back become
//! `stdio` trace lines.
//!
//! The adapter shows the tap every line written to a child's stdin, the bytes read from its
//! stdout, and the child going away. This module turns them into [`StdioLine`]s a replay
//! can play: the ids the multiplexer assigned become `"<$tN>"` placeholders (a replay's
//! multiplexer may number differently), each output line goes to the exchange it belongs
//! to (a response or progress by its id, anything else to the latest request still open),
//! pauses between outputs become `delay_ms` steps, and an exit becomes an `exit` step.
//! A written line is attributed to the command whose message it is (the same message apart
//! from the ids the multiplexer rewrites).
//!
//! Lines are released per channel in the order the child received them, once complete, so
//! a replay's first-unmatched-line rule sees identical requests in their original order.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use serde_json::Value;
use tunnel_core::engine::{McpOp, McpWork};

use super::stdio_script::{Send, StdioLine};

struct Pending {
    channel: String,
    request_id: String,
    message: Value,
}

struct Building {
    line: StdioLine,
    /// The id the multiplexer gave the request (requests only).
    tunnel_id: Option<Value>,
    done: bool,
    last: Instant,
}

impl Building {
    fn step(&mut self, at: Instant, s: Send) {
        let gap = u64::try_from(at.saturating_duration_since(self.last).as_millis()).unwrap_or(0);
        if gap > 0 {
            self.line.send.push(Send::DelayMs(gap));
        }
        self.line.send.push(s);
        self.last = at;
    }
}

#[derive(Default)]
struct Chan {
    queue: VecDeque<Building>,
    /// Stdout bytes after the last newline.
    partial: Vec<u8>,
    /// Whether anything was written to a child of this channel yet.
    received: bool,
}

/// Stdio exchanges being recorded, per channel.
#[derive(Default)]
pub struct StdioRecording {
    pending: Vec<Pending>,
    chans: HashMap<String, Chan>,
}

/// The placeholder a tunnel id becomes.
fn placeholder(id: &Value) -> Value {
    let name: String = id
        .to_string()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    Value::String(format!("<$t{name}>"))
}

/// A message without the members the multiplexer rewrites, for attributing a written line.
fn normalized(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        if let Some(p) = o.get_mut("params").and_then(Value::as_object_mut) {
            p.remove("requestId");
            if let Some(m) = p.get_mut("_meta").and_then(Value::as_object_mut) {
                m.remove("progressToken");
            }
        }
    }
    v
}

fn progress_token(v: &Value) -> Option<&Value> {
    v.get("params")?.get("progressToken")
}

impl StdioRecording {
    /// The engine handed a stdio channel a command.
    pub fn submit(&mut self, work: &McpWork) {
        if let McpOp::Send { message, .. } = &work.op {
            if let Ok(message) = serde_json::from_str(message.get()) {
                self.pending.push(Pending {
                    channel: work.channel.to_string(),
                    request_id: work.request_id.clone(),
                    message,
                });
            }
        }
    }

    /// A line was written to the child's stdin.
    pub fn written(&mut self, at: Instant, t_ms: u64, channel: &str, line: &[u8]) {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let Ok(mut v) = serde_json::from_slice::<Value>(text) else {
            return;
        };
        let norm = normalized(&v);
        let request_id = self
            .pending
            .iter()
            .position(|p| p.channel == channel && normalized(&p.message) == norm)
            .map(|i| self.pending.remove(i).request_id)
            .unwrap_or_default();
        let chan = self.chans.entry(channel.to_string()).or_default();
        chan.received = true;
        // What the child printed at start is complete once it is asked something.
        for b in chan.queue.iter_mut().filter(|b| b.line.receive.is_none()) {
            b.done = true;
        }
        let is_request = v.get("method").is_some() && v.get("id").is_some();
        let mut tunnel_id = None;
        if is_request {
            let id = v["id"].clone();
            let ph = placeholder(&id);
            if let Some(m) = v
                .get_mut("params")
                .and_then(|p| p.get_mut("_meta"))
                .and_then(|m| m.get_mut("progressToken"))
            {
                if *m == id {
                    *m = ph.clone();
                }
            }
            v["id"] = ph;
            tunnel_id = Some(id);
        } else if v.get("method").and_then(Value::as_str) == Some("notifications/cancelled") {
            // The request it cancels, under the id the child knows.
            let known: Vec<Value> = chan
                .queue
                .iter()
                .filter_map(|b| b.tunnel_id.clone())
                .collect();
            if let Some(r) = v.get_mut("params").and_then(|p| p.get_mut("requestId")) {
                if known.contains(r) {
                    *r = placeholder(r);
                }
            }
        }
        chan.queue.push_back(Building {
            line: StdioLine {
                t: Some(t_ms),
                request_id,
                channel: Some(channel.to_string()),
                receive: Some(v),
                ..StdioLine::default()
            },
            tunnel_id,
            done: !is_request,
            last: at,
        });
    }

    /// Bytes were read from the child's stdout.
    pub fn read(&mut self, at: Instant, channel: &str, bytes: &[u8]) {
        let chan = self.chans.entry(channel.to_string()).or_default();
        chan.partial.extend_from_slice(bytes);
        while let Some(n) = chan.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = chan.partial.drain(..=n).collect();
            Self::output(chan, at, &line);
        }
    }

    /// One stdout line (newline included).
    fn output(chan: &mut Chan, at: Instant, line: &[u8]) {
        let Ok(mut v) = serde_json::from_slice::<Value>(line) else {
            let text = String::from_utf8_lossy(line).into_owned();
            if let Some(b) = Self::owner(chan, at, None) {
                b.step(at, Send::Text(text));
            }
            return;
        };
        let by_id = if v.get("method").is_none() {
            v.get("id")
        } else {
            None
        };
        let key = by_id.or_else(|| progress_token(&v)).cloned();
        let Some(b) = Self::owner(chan, at, key.as_ref()) else {
            return;
        };
        if let Some(id) = b.tunnel_id.clone().filter(|id| Some(id) == key.as_ref()) {
            if by_id.is_some() {
                v["id"] = placeholder(&id);
                b.done = true;
            } else if let Some(t) = v.get_mut("params").and_then(|p| p.get_mut("progressToken")) {
                *t = placeholder(&id);
            }
        }
        b.step(at, Send::Json(v));
    }

    /// The exchange an output belongs to: the request with that tunnel id, else the latest
    /// request still open, else the latest exchange.
    /// Output before anything was written to the child becomes a line without `receive`
    /// (played when the replay's child starts).
    fn owner<'a>(chan: &'a mut Chan, at: Instant, key: Option<&Value>) -> Option<&'a mut Building> {
        let q = &mut chan.queue;
        if q.is_empty() && !chan.received {
            q.push_back(Building {
                line: StdioLine::default(),
                tunnel_id: None,
                done: false,
                last: at,
            });
        }
        let i = key
            .and_then(|k| {
                q.iter()
                    .position(|b| !b.done && b.tunnel_id.as_ref() == Some(k))
            })
            .or_else(|| q.iter().rposition(|b| !b.done))
            .or_else(|| q.len().checked_sub(1))?;
        q.get_mut(i)
    }

    /// The child went away: it exited in the middle of whatever was open.
    pub fn exited(&mut self, at: Instant, channel: &str) {
        let Some(chan) = self.chans.get_mut(channel) else {
            return;
        };
        let rest = std::mem::take(&mut chan.partial);
        if let Some(b) = Self::owner(chan, at, None) {
            if !rest.is_empty() {
                b.step(at, Send::Text(String::from_utf8_lossy(&rest).into_owned()));
            }
            b.step(at, Send::Exit(0));
        }
        chan.queue.iter_mut().for_each(|b| b.done = true);
    }

    /// Complete lines, per channel in the order the child received them.
    pub fn ready(&mut self) -> Vec<StdioLine> {
        let mut out = Vec::new();
        for chan in self.chans.values_mut() {
            while chan.queue.front().is_some_and(|b| b.done) {
                out.extend(chan.queue.pop_front().map(|b| b.line));
            }
        }
        out
    }

    /// Everything still held (the session is over).
    pub fn finish(&mut self) -> Vec<StdioLine> {
        let mut out = Vec::new();
        for chan in self.chans.values_mut() {
            out.extend(chan.queue.drain(..).map(|b| b.line));
        }
        out
    }
}
