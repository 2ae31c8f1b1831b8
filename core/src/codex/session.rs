//! One conversation with `codex app-server`: lines in, lines and events out, time passed in.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

/// How long the handshake (`initialize` … `account/read`) may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// Default limit for one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A JSON-RPC error answer, or a failure we synthesized (timeout, exit).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Codes for failures that never came over the wire.
pub const CODE_TIMEOUT: i64 = -32000;
pub const CODE_EXITED: i64 = -32001;

/// A notification, with the ids and one-line summary a renderer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub method: String,
    pub params: Value,
    pub thread_id: Option<String>,
    pub turn_id: Option<String>,
    pub item_id: Option<String>,
    /// Delta text, error message, or item text; empty when none applies.
    pub summary: String,
}

/// What the session tells its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Handshake complete: requests may be sent.
    Ready,
    /// The handshake failed; the session is dead.
    HandshakeFailed(String),
    /// The answer to a request made with [`Session::request`].
    Response {
        id: u64,
        method: String,
        result: Result<Value, RpcError>,
    },
    Notification(Notice),
    /// The server asked us something; the answer is already queued.
    ServerRequest {
        method: String,
        answer: String,
    },
    /// A line that is not a JSON object, or a response nobody waits for.
    Undecodable {
        line: String,
        error: String,
    },
    /// The process went away; every pending request has failed.
    Exited(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InitializeInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub codex_home: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub platform_family: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub platform_os: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Account {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plan_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Login {
    pub pending: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub login_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub verification_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_code: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ThreadInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model_provider: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cwd: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TurnInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// What the session knows, for `codex status --json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub ready: bool,
    pub initialized: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    pub initialize_info: InitializeInfo,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_method: String,
    pub requires_openai_auth: bool,
    pub account: Account,
    pub login: Login,
    pub thread: ThreadInfo,
    pub turn: TurnInfo,
}

impl Snapshot {
    /// Logged out in a way that needs a ChatGPT/API-key login before a turn can run.
    pub fn needs_login(&self) -> bool {
        self.account.kind.is_empty() && self.requires_openai_auth
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    New,
    Initializing,
    Handshake,
    Ready,
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Purpose {
    Initialize,
    AuthStatus,
    /// `account/read`; `handshake` when it completes the start.
    AccountRead {
        handshake: bool,
    },
    User,
}

#[derive(Debug)]
struct Pending {
    method: String,
    deadline: Instant,
    purpose: Purpose,
}

/// The client half of one app-server conversation.
#[derive(Debug)]
pub struct Session {
    client_info: Value,
    phase: Phase,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    out: VecDeque<String>,
    events: VecDeque<Event>,
    snapshot: Snapshot,
}

impl Session {
    /// `client_info` is sent as `initialize.params.clientInfo` (`name`, `title`, `version`).
    pub fn new(client_info: Value) -> Session {
        Session {
            client_info,
            phase: Phase::New,
            next_id: 1,
            pending: HashMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            snapshot: Snapshot::default(),
        }
    }

    /// Queue `initialize`. The rest of the handshake follows from the answers.
    pub fn start(&mut self, now: Instant) {
        if self.phase != Phase::New {
            return;
        }
        self.phase = Phase::Initializing;
        let params = json!({"clientInfo": self.client_info, "capabilities": null});
        self.send(
            "initialize",
            params,
            now + HANDSHAKE_TIMEOUT,
            Purpose::Initialize,
        );
    }

    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Send a request; its answer arrives as [`Event::Response`] with the returned id.
    /// Refused before the handshake finished (the server would answer "Not initialized").
    pub fn request(
        &mut self,
        method: &str,
        params: Value,
        now: Instant,
        timeout: Duration,
    ) -> Result<u64, RpcError> {
        match self.phase {
            Phase::Ready => Ok(self.send(method, params, now + timeout, Purpose::User)),
            Phase::Dead => Err(RpcError {
                code: CODE_EXITED,
                message: format!("{method}: codex app-server is not running"),
            }),
            _ => Err(RpcError {
                code: -32600,
                message: format!("{method}: the app-server handshake has not finished"),
            }),
        }
    }

    /// Send a notification (no answer expected).
    pub fn notify(&mut self, method: &str, params: Value) {
        self.push_line(json!({"method": method, "params": params}));
    }

    /// The next line to write to the server's stdin, newline included.
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest request deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Fail every request whose deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired.sort_unstable();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                let err = RpcError {
                    code: CODE_TIMEOUT,
                    message: format!("{} timed out", p.method),
                };
                self.complete(id, p, Err(err));
            }
        }
    }

    /// The process exited (or its stdout closed).
    pub fn handle_exit(&mut self, detail: &str) {
        let mut ids: Vec<u64> = self.pending.keys().copied().collect();
        ids.sort_unstable();
        let was_handshaking = matches!(self.phase, Phase::Initializing | Phase::Handshake);
        for id in ids {
            if let Some(p) = self.pending.remove(&id) {
                if p.purpose == Purpose::User {
                    self.events.push_back(Event::Response {
                        id,
                        method: p.method,
                        result: Err(RpcError {
                            code: CODE_EXITED,
                            message: "codex app-server exited".into(),
                        }),
                    });
                }
            }
        }
        if was_handshaking {
            self.fail_handshake(format!("codex app-server exited: {detail}"));
        }
        self.phase = Phase::Dead;
        self.snapshot.ready = false;
        self.snapshot.initialized = false;
        self.events.push_back(Event::Exited(detail.to_string()));
    }

    /// One line from the server's stdout (without the newline).
    pub fn handle_line(&mut self, line: &str, now: Instant) {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return;
        }
        let msg: Value = match serde_json::from_str(line) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return self.undecodable(line, "not a JSON object".into()),
            Err(e) => return self.undecodable(line, e.to_string()),
        };
        let method = msg.get("method").and_then(Value::as_str).map(str::to_owned);
        let id = msg.get("id").filter(|v| !v.is_null()).cloned();
        match (method, id) {
            (Some(m), Some(id)) => self.answer_server_request(&m, id),
            (Some(m), None) => self.handle_notification(m, msg, now),
            (None, Some(id)) => self.handle_response(id, &msg, now),
            (None, None) => self.undecodable(line, "neither a response nor a notification".into()),
        }
    }

    fn undecodable(&mut self, line: &str, error: String) {
        let mut line = line.to_string();
        if line.len() > 512 {
            let mut cut = 512;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        self.events.push_back(Event::Undecodable { line, error });
    }

    fn push_line(&mut self, v: Value) {
        let mut s = v.to_string();
        s.push('\n');
        self.out.push_back(s);
    }

    fn send(&mut self, method: &str, params: Value, deadline: Instant, purpose: Purpose) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.push_line(json!({"id": id, "method": method, "params": params}));
        self.pending.insert(
            id,
            Pending {
                method: method.to_string(),
                deadline,
                purpose,
            },
        );
        id
    }

    /// Server→client requests are answered at once: approvals declined (the assistant runs
    /// with `approvalPolicy: never` and nobody is there to approve), anything else refused
    /// with a JSON-RPC error, so a turn never hangs waiting for us.
    fn answer_server_request(&mut self, method: &str, id: Value) {
        let (reply, answer) = match method {
            "item/commandExecution/requestApproval" | "item/fileChange/requestApproval" => (
                json!({"id": id, "result": {"decision": "decline"}}),
                "declined",
            ),
            "applyPatchApproval" | "execCommandApproval" => (
                json!({"id": id, "result": {"decision": "denied"}}),
                "declined",
            ),
            "mcpServer/elicitation/request" => (
                json!({"id": id, "result": {"action": "decline", "content": null}}),
                "declined",
            ),
            _ => (
                json!({"id": id, "error": {"code": -32601, "message": format!("tunnel-client does not handle {method}")}}),
                "refused",
            ),
        };
        self.push_line(reply);
        self.events.push_back(Event::ServerRequest {
            method: method.to_string(),
            answer: answer.to_string(),
        });
    }

    fn handle_response(&mut self, id: Value, msg: &Value, now: Instant) {
        let Some(num) = id.as_u64() else {
            return self.undecodable(&msg.to_string(), "response with an id we never used".into());
        };
        let Some(p) = self.pending.remove(&num) else {
            return self.undecodable(&msg.to_string(), format!("response to unknown id {num}"));
        };
        let result = match msg.get("error").filter(|e| !e.is_null()) {
            Some(e) => Err(RpcError {
                code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
                    .to_string(),
            }),
            None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
        };
        let _ = now;
        self.complete(num, p, result);
    }

    fn complete(&mut self, id: u64, p: Pending, result: Result<Value, RpcError>) {
        let now_deadline = p.deadline;
        match p.purpose {
            Purpose::Initialize => match result {
                Ok(r) => {
                    self.snapshot.initialize_info = InitializeInfo {
                        user_agent: str_at(&r, "userAgent"),
                        codex_home: str_at(&r, "codexHome"),
                        platform_family: str_at(&r, "platformFamily"),
                        platform_os: str_at(&r, "platformOs"),
                    };
                    self.phase = Phase::Handshake;
                    self.notify("initialized", json!({}));
                    let d = now_deadline;
                    self.send(
                        "getAuthStatus",
                        json!({"includeToken": false, "refreshToken": false}),
                        d,
                        Purpose::AuthStatus,
                    );
                    self.send(
                        "account/read",
                        json!({"refreshToken": false}),
                        d,
                        Purpose::AccountRead { handshake: true },
                    );
                }
                Err(e) => self.fail_handshake(format!("initialize: {}", e.message)),
            },
            // Legacy v1 method; its errors do not matter (account/read carries the same).
            Purpose::AuthStatus => {
                if let Ok(r) = result {
                    self.snapshot.auth_method = str_at(&r, "authMethod");
                    if let Some(b) = r.get("requiresOpenaiAuth").and_then(Value::as_bool) {
                        self.snapshot.requires_openai_auth = b;
                    }
                }
            }
            Purpose::AccountRead { handshake } => match result {
                Ok(r) => {
                    self.apply_account(&r);
                    if handshake {
                        self.phase = Phase::Ready;
                        self.snapshot.ready = true;
                        self.snapshot.initialized = true;
                        self.events.push_back(Event::Ready);
                    }
                }
                Err(e) if handshake => self.fail_handshake(format!("account/read: {}", e.message)),
                Err(e) => self.snapshot.last_error = format!("account/read: {}", e.message),
            },
            Purpose::User => {
                if let Ok(r) = &result {
                    self.learn_from_result(&p.method, r);
                }
                self.events.push_back(Event::Response {
                    id,
                    method: p.method,
                    result,
                });
            }
        }
    }

    fn fail_handshake(&mut self, msg: String) {
        if self.phase == Phase::Dead {
            return;
        }
        self.phase = Phase::Dead;
        self.snapshot.last_error = msg.clone();
        self.events.push_back(Event::HandshakeFailed(msg));
    }

    fn apply_account(&mut self, r: &Value) {
        if let Some(b) = r.get("requiresOpenaiAuth").and_then(Value::as_bool) {
            self.snapshot.requires_openai_auth = b;
        }
        self.snapshot.account = match r.get("account") {
            Some(a) if a.is_object() => Account {
                kind: str_at(a, "type"),
                email: str_at(a, "email"),
                plan_type: str_at(a, "planType"),
            },
            _ => Account::default(),
        };
    }

    fn learn_from_result(&mut self, method: &str, r: &Value) {
        match method {
            "thread/start" => {
                if let Some(t) = r.get("thread") {
                    self.snapshot.thread.id = str_at(t, "id");
                }
                self.snapshot.thread.model = str_at(r, "model");
                self.snapshot.thread.model_provider = str_at(r, "modelProvider");
                self.snapshot.thread.cwd = str_at(r, "cwd");
            }
            "turn/start" => {
                if let Some(t) = r.get("turn") {
                    self.snapshot.turn.id = str_at(t, "id");
                    self.snapshot.turn.status = str_at(t, "status");
                }
            }
            "account/login/start" if str_at(r, "type") == "chatgptDeviceCode" => {
                self.snapshot.login = Login {
                    pending: true,
                    login_id: str_at(r, "loginId"),
                    verification_url: str_at(r, "verificationUrl"),
                    user_code: str_at(r, "userCode"),
                    error: String::new(),
                };
            }
            _ => {}
        }
    }

    fn reread_account(&mut self, now: Instant) {
        if self.phase == Phase::Ready {
            self.send(
                "account/read",
                json!({"refreshToken": false}),
                now + REQUEST_TIMEOUT,
                Purpose::AccountRead { handshake: false },
            );
        }
    }

    fn handle_notification(&mut self, method: String, msg: Value, now: Instant) {
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let mut thread_id = opt_str(&params, "threadId");
        let mut turn_id = opt_str(&params, "turnId");
        let item_id = opt_str(&params, "itemId");
        let mut summary = String::new();
        match method.as_str() {
            "mcpServer/startupStatus/updated" | "account/rateLimits/updated" => return,
            "account/updated" => {
                self.snapshot.auth_method = str_at(&params, "authMode");
                self.reread_account(now);
            }
            "account/login/completed" => {
                let ok = params.get("success").and_then(Value::as_bool) == Some(true);
                self.snapshot.login.pending = false;
                self.snapshot.login.error = str_at(&params, "error");
                if ok {
                    self.reread_account(now);
                } else if self.snapshot.login.error.is_empty() {
                    self.snapshot.login.error = "login was not completed".into();
                }
                summary = self.snapshot.login.error.clone();
            }
            "thread/started" => {
                if let Some(t) = params.get("thread") {
                    thread_id = opt_str(t, "id");
                    self.snapshot.thread.id = str_at(t, "id");
                }
            }
            "turn/started" | "turn/completed" => {
                if let Some(t) = params.get("turn") {
                    turn_id = opt_str(t, "id");
                    self.snapshot.turn.id = str_at(t, "id");
                    self.snapshot.turn.status = str_at(t, "status");
                    self.snapshot.turn.error = t
                        .get("error")
                        .map(|e| str_at(e, "message"))
                        .unwrap_or_default();
                    summary = self.snapshot.turn.status.clone();
                }
            }
            "item/agentMessage/delta" | "item/commandExecution/outputDelta" => {
                summary = str_at(&params, "delta");
            }
            "item/completed" => {
                if let Some(item) = params.get("item") {
                    if str_at(item, "type") == "agentMessage" {
                        summary = agent_text(item);
                    }
                }
            }
            "error" => {
                summary = params
                    .get("error")
                    .map(|e| str_at(e, "message"))
                    .unwrap_or_default();
            }
            "warning" | "configWarning" => {
                summary = str_at(&params, "message");
                if summary.is_empty() {
                    summary = str_at(&params, "summary");
                }
            }
            _ => {}
        }
        self.events.push_back(Event::Notification(Notice {
            method,
            params,
            thread_id,
            turn_id,
            item_id,
            summary,
        }));
    }
}

/// The text of an `agentMessage` item: `text`, or its `content[].text` joined.
pub fn agent_text(item: &Value) -> String {
    let t = str_at(item, "text");
    if !t.is_empty() {
        return t;
    }
    item.get("content")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<String>()
        })
        .unwrap_or_default()
}

fn str_at(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
