//! Stdio lines of a trace, and the scripted child that plays them.
//!
//! A stdio binding's "target" is a child process, so its exchanges are lines, not HTTP
//! requests: a `stdio` line says what the child must **receive** on stdin (one JSON-RPC
//! message, compared as JSON) and what it **sends** back on stdout. Because the tunnel gives
//! every request an id of its own before the child sees it (see `docs/stdio.md`), a trace
//! cannot know those ids; instead a string `"<$name>"` in `receive` matches any value and
//! names it, and the same string in `send` writes that value back — in that line's `send`,
//! or in any later line's (a name matched again is matched afresh; `send` uses the latest).
//! Everything else in `receive` must match exactly.
//!
//! [`StdioScript`] is the matcher both kinds of replay share: the core replay feeds it the
//! multiplexer's writes under virtual time, the live replays feed it what a real child
//! process relays from its stdin (`stdio_child`). Each received line goes to the first
//! unused `stdio` line of its channel whose `receive` fits; a line none fits is a divergence.
//! The script also checks the rule the multiplexer exists for: the child never sees the same
//! request id twice.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scripted exchange with a stdio child.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StdioLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<u64>,
    /// The command this exchange belongs to (empty for a line sent when the child starts).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// The stdio channel (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// What the child must receive: one JSON-RPC message. Without it, `send` is played once
    /// when the first child starts (a banner, a stray log line, an unsolicited message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<Value>,
    /// What the child does then, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub send: Vec<Send>,
    /// Pause before the first step.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One step of what a scripted child sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Send {
    /// A message, written as one line (`"<$name>"` strings replaced by what they matched).
    Json(Value),
    /// Bytes written exactly as given (no newline added): stray output, a line split in two.
    Text(String),
    /// A pause.
    DelayMs(u64),
    /// The child exits (its stdout closes).
    Exit(i32),
}

/// What a scripted child does, step by step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Pause(Duration),
    Write(Vec<u8>),
    Exit,
}

/// What became of one line the child received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The trace line it matched, if any.
    pub index: Option<usize>,
    pub request_id: Option<String>,
    /// What the child does in answer.
    pub steps: Vec<Step>,
    /// A rule the client broke by sending this line (a request id seen before).
    pub problem: Option<String>,
}

/// The channel's stdio lines and which of them were played.
#[derive(Debug, Clone)]
pub struct StdioScript {
    lines: Vec<StdioLine>,
    used: Vec<bool>,
    /// Ids of requests the child received (ids are never reused by the multiplexer).
    ids: HashSet<String>,
    started: bool,
    /// Every name matched so far, latest value.
    vars: BTreeMap<String, Value>,
}

impl StdioScript {
    pub fn new(lines: Vec<StdioLine>) -> Self {
        let n = lines.len();
        StdioScript {
            lines,
            used: vec![false; n],
            ids: HashSet::new(),
            started: false,
            vars: BTreeMap::new(),
        }
    }

    pub fn line(&self, i: usize) -> &StdioLine {
        &self.lines[i]
    }

    /// A child started: the steps of the lines without `receive` (first child only).
    pub fn on_start(&mut self) -> Vec<Step> {
        if std::mem::replace(&mut self.started, true) {
            return Vec::new();
        }
        let mut steps = Vec::new();
        for i in 0..self.lines.len() {
            if self.lines[i].receive.is_none() {
                self.used[i] = true;
                steps.extend(steps_of(&self.lines[i], &self.vars));
            }
        }
        steps
    }

    /// The child received `line` (without its newline).
    pub fn on_line(&mut self, line: &[u8]) -> Received {
        let got: Option<Value> = serde_json::from_slice(line).ok();
        let problem = got.as_ref().and_then(|v| self.repeated_id(v));
        let mut found = None;
        if let Some(got) = &got {
            for i in 0..self.lines.len() {
                if self.used[i] {
                    continue;
                }
                let Some(pattern) = &self.lines[i].receive else {
                    continue;
                };
                let mut vars = BTreeMap::new();
                if bind(pattern, got, &mut vars) {
                    found = Some((i, vars));
                    break;
                }
            }
        }
        match found {
            Some((i, vars)) => {
                self.used[i] = true;
                self.vars.extend(vars);
                let vars = self.vars.clone();
                Received {
                    index: Some(i),
                    request_id: Some(self.lines[i].request_id.clone()),
                    steps: steps_of(&self.lines[i], &vars),
                    problem,
                }
            }
            None => Received {
                index: None,
                request_id: None,
                steps: Vec::new(),
                problem,
            },
        }
    }

    /// `Some` when `msg` is a request whose id the child has already seen.
    fn repeated_id(&mut self, msg: &Value) -> Option<String> {
        let id = msg.get("id")?;
        msg.get("method")?;
        let key = id.to_string();
        (!self.ids.insert(key.clone()))
            .then(|| format!("the child received request id {key} a second time"))
    }

    /// Lines with `receive` that no received line matched yet.
    pub fn unused(&self) -> usize {
        (0..self.lines.len())
            .filter(|&i| !self.used[i] && self.lines[i].receive.is_some())
            .count()
    }
}

fn steps_of(line: &StdioLine, vars: &BTreeMap<String, Value>) -> Vec<Step> {
    let mut steps = Vec::new();
    if line.delay_ms > 0 {
        steps.push(Step::Pause(Duration::from_millis(line.delay_ms)));
    }
    for s in &line.send {
        steps.push(match s {
            Send::Json(v) => {
                let mut text = fill(v, vars).to_string();
                text.push('\n');
                Step::Write(text.into_bytes())
            }
            Send::Text(t) => Step::Write(t.as_bytes().to_vec()),
            Send::DelayMs(ms) => Step::Pause(Duration::from_millis(*ms)),
            Send::Exit(_) => Step::Exit,
        });
    }
    steps
}

/// The name in a `"<$name>"` placeholder.
fn placeholder(v: &Value) -> Option<&str> {
    v.as_str()?.strip_prefix("<$")?.strip_suffix('>')
}

/// Whether `got` fits `pattern`, binding placeholders in `vars` (a name bound twice must
/// match the same value). Objects must have the same keys.
pub fn bind(pattern: &Value, got: &Value, vars: &mut BTreeMap<String, Value>) -> bool {
    if let Some(name) = placeholder(pattern) {
        return match vars.get(name) {
            Some(v) => v == got,
            None => {
                vars.insert(name.to_string(), got.clone());
                true
            }
        };
    }
    match (pattern, got) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, pa)| b.get(k).is_some_and(|gb| bind(pa, gb, vars)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(pa, gb)| bind(pa, gb, vars))
        }
        _ => pattern == got,
    }
}

/// `template` with its placeholders replaced (unbound ones are left as they are).
pub fn fill(template: &Value, vars: &BTreeMap<String, Value>) -> Value {
    if let Some(v) = placeholder(template).and_then(|n| vars.get(n)) {
        return v.clone();
    }
    match template {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), fill(v, vars))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, vars)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(receive: Value, send: Vec<Send>) -> StdioLine {
        StdioLine {
            request_id: "r1".into(),
            receive: Some(receive),
            send,
            ..StdioLine::default()
        }
    }

    #[test]
    fn placeholders_match_any_value_and_are_written_back() {
        let mut s = StdioScript::new(vec![line(
            json!({"jsonrpc":"2.0","id":"<$id>","method":"tools/list"}),
            vec![Send::Json(
                json!({"jsonrpc":"2.0","id":"<$id>","result":{}}),
            )],
        )]);
        let r = s.on_line(br#"{"jsonrpc":"2.0","method":"tools/list","id":17}"#);
        assert_eq!(r.index, Some(0));
        assert_eq!(
            r.steps,
            vec![Step::Write(
                b"{\"id\":17,\"jsonrpc\":\"2.0\",\"result\":{}}\n".to_vec()
            )]
        );
        assert_eq!(s.unused(), 0);
    }

    #[test]
    fn anything_else_must_match_exactly() {
        let mut s = StdioScript::new(vec![line(
            json!({"jsonrpc":"2.0","id":"<$id>","method":"tools/list"}),
            vec![],
        )]);
        let r = s.on_line(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#);
        assert_eq!(r.index, None);
        let r = s.on_line(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#);
        assert_eq!(r.index, None, "an extra member is a difference");
        assert_eq!(s.unused(), 1);
    }

    #[test]
    fn a_name_bound_twice_must_be_the_same_value() {
        let p = json!({"id":"<$id>","params":{"_meta":{"progressToken":"<$id>"}}});
        let mut v = BTreeMap::new();
        assert!(bind(
            &p,
            &json!({"id":3,"params":{"_meta":{"progressToken":3}}}),
            &mut v
        ));
        let mut v = BTreeMap::new();
        assert!(!bind(
            &p,
            &json!({"id":3,"params":{"_meta":{"progressToken":4}}}),
            &mut v
        ));
    }

    #[test]
    fn names_matched_earlier_can_be_sent_later() {
        let mut s = StdioScript::new(vec![
            line(json!({"id":"<$call>","method":"tools/call"}), vec![]),
            line(
                json!({"id":"srv","result":{}}),
                vec![Send::Json(json!({"id":"<$call>","result":{}}))],
            ),
        ]);
        s.on_line(br#"{"id":41,"method":"tools/call"}"#);
        let r = s.on_line(br#"{"id":"srv","result":{}}"#);
        assert_eq!(
            r.steps,
            vec![Step::Write(b"{\"id\":41,\"result\":{}}\n".to_vec())]
        );
    }

    #[test]
    fn a_repeated_request_id_is_reported() {
        let any = json!({"jsonrpc":"2.0","id":"<$id>","method":"ping"});
        let mut s = StdioScript::new(vec![line(any.clone(), vec![]), line(any, vec![])]);
        assert!(s
            .on_line(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .problem
            .is_none());
        let r = s.on_line(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        assert!(r.problem.unwrap().contains("id 1 a second time"));
    }

    #[test]
    fn start_lines_play_once() {
        let mut s = StdioScript::new(vec![StdioLine {
            send: vec![Send::Text("booting\n".into()), Send::DelayMs(5)],
            ..StdioLine::default()
        }]);
        assert_eq!(
            s.on_start(),
            vec![
                Step::Write(b"booting\n".to_vec()),
                Step::Pause(Duration::from_millis(5))
            ]
        );
        assert!(s.on_start().is_empty());
    }

    #[test]
    fn send_steps_have_the_documented_spelling() {
        let l: StdioLine = serde_json::from_str(
            r#"{"request_id":"r1","receive":{"id":"<$id>"},"send":[{"json":{"id":"<$id>"}},{"text":"x"},{"delay_ms":5},{"exit":1}]}"#,
        )
        .unwrap();
        assert_eq!(l.send.len(), 4);
        assert!(serde_json::from_str::<StdioLine>(r#"{"recieve":{}}"#).is_err());
    }
}
