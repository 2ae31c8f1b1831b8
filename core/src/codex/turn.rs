//! Following one `turn/start` through the notification stream.
//!
//! `turn/started` may arrive before or after the `turn/start` response (both orders were
//! observed with codex-cli 0.169.0), so notifications for a turn whose id we do not know
//! yet are buffered and replayed once it is known.

use serde_json::Value;

use super::session::Notice;

/// What the terminal should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnStep {
    /// Streamed model text, to print as is.
    Delta(String),
    /// Codex is retrying (`error` with `willRetry:true`): a status line, not a failure.
    Retrying(String),
    /// The turn ended (`completed` or `interrupted`). `final_text` is the remembered
    /// agent message when nothing was streamed; `streamed` says whether a newline is owed.
    Finished {
        status: String,
        final_text: Option<String>,
        streamed: bool,
    },
    /// The turn failed; the message is for the operator.
    Failed(String),
}

#[derive(Debug, Default)]
pub struct TurnTracker {
    turn_id: Option<String>,
    buffered: Vec<Notice>,
    streamed: bool,
    final_text: String,
    done: bool,
}

impl TurnTracker {
    pub fn new() -> TurnTracker {
        TurnTracker::default()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn turn_id(&self) -> Option<&str> {
        self.turn_id.as_deref()
    }

    /// The `turn/start` response arrived.
    pub fn on_response(&mut self, result: &Value) -> Vec<TurnStep> {
        let id = result
            .get("turn")
            .and_then(|t| t.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match id {
            Some(id) => self.learn_id(id),
            None => Vec::new(),
        }
    }

    fn learn_id(&mut self, id: String) -> Vec<TurnStep> {
        if self.turn_id.is_some() {
            return Vec::new();
        }
        self.turn_id = Some(id);
        let buffered = std::mem::take(&mut self.buffered);
        let mut steps = Vec::new();
        for n in buffered {
            steps.extend(self.on_notice(&n));
        }
        steps
    }

    /// Whether `n` belongs to this turn (for idle-timer resets). Unknown-turn notices are
    /// counted as ours until the id is known.
    pub fn concerns(&self, n: &Notice) -> bool {
        match (&self.turn_id, &n.turn_id) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => true,
        }
    }

    /// One notification from the session.
    pub fn on_notice(&mut self, n: &Notice) -> Vec<TurnStep> {
        if self.done {
            return Vec::new();
        }
        if n.method == "turn/started" && self.turn_id.is_none() {
            if let Some(id) = &n.turn_id {
                return self.learn_id(id.clone());
            }
        }
        match (&self.turn_id, &n.turn_id) {
            (None, Some(_)) => {
                self.buffered.push(n.clone());
                return Vec::new();
            }
            (Some(mine), Some(theirs)) if mine != theirs => return Vec::new(),
            _ => {}
        }
        match n.method.as_str() {
            "item/agentMessage/delta" => {
                if n.summary.is_empty() {
                    return Vec::new();
                }
                self.streamed = true;
                vec![TurnStep::Delta(n.summary.clone())]
            }
            "item/completed" => {
                let is_agent = n
                    .params
                    .get("item")
                    .and_then(|i| i.get("type"))
                    .and_then(Value::as_str)
                    == Some("agentMessage");
                if is_agent && !n.summary.is_empty() {
                    self.final_text = n.summary.clone();
                }
                Vec::new()
            }
            "error" => {
                // An error without a turn id before we know ours is still about this turn.
                let will_retry = n.params.get("willRetry").and_then(Value::as_bool) == Some(true);
                if will_retry {
                    vec![TurnStep::Retrying(n.summary.clone())]
                } else {
                    self.done = true;
                    vec![TurnStep::Failed(format!(
                        "assistant turn failed: {}",
                        if n.summary.is_empty() {
                            "unknown error"
                        } else {
                            &n.summary
                        }
                    ))]
                }
            }
            "turn/completed" => {
                self.done = true;
                let turn = n.params.get("turn").cloned().unwrap_or(Value::Null);
                let status = turn
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("completed")
                    .to_string();
                if status == "failed" {
                    let msg = turn
                        .get("error")
                        .and_then(|e| e.get("message"))
                        .and_then(Value::as_str)
                        .filter(|m| !m.is_empty())
                        .map(|m| format!("assistant turn failed: {m}"))
                        .unwrap_or_else(|| "assistant turn failed".into());
                    return vec![TurnStep::Failed(msg)];
                }
                let final_text = if self.streamed || self.final_text.is_empty() {
                    None
                } else {
                    Some(self.final_text.clone())
                };
                vec![TurnStep::Finished {
                    status,
                    final_text,
                    streamed: self.streamed,
                }]
            }
            _ => Vec::new(),
        }
    }
}
