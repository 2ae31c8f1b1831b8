//! `fake-codex`: a stand-in for the Codex CLI in tests (never shipped: release builds use
//! `--bin tunnel-client`). It speaks the subset of `codex app-server` that tunnel-client
//! uses, with the shapes recorded from codex-cli 0.169.0, and switches:
//!
//! * `FAKE_CODEX_SCENARIO`: `ok` (default), `final_only`, `turn_error`, `retry_then_ok`,
//!   `stall_after_turn_start`, `stall_thread_start`, `exit_mid_turn`, `garbage_line`, `huge_line`,
//!   `server_request`, `interrupted`, `no_app_server`.
//! * `FAKE_CODEX_AUTH`: `chatgpt` (default), `logged_out`, `apikey`, `noauth`.
//! * `FAKE_CODEX_LOGIN`: `complete` (default), `fail`, `never`, `offline`.
//! * `FAKE_CODEX_CAPTURE=<file>`: append every received line.
//! * `FAKE_CODEX_VERSION_NOISE=1`: a warning on stderr before `--version`'s line.

use std::io::{BufRead, Write};

use serde_json::{json, Value};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scenario = std::env::var("FAKE_CODEX_SCENARIO").unwrap_or_else(|_| "ok".into());
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["--version"] => {
            if std::env::var("FAKE_CODEX_VERSION_NOISE").as_deref() == Ok("1") {
                eprintln!("WARNING: proceeding, even though we could not create PATH aliases");
            }
            println!("codex-cli 0.169.0");
        }
        ["app-server", "--help"] => {
            if scenario == "no_app_server" {
                eprintln!("error: unrecognized subcommand 'app-server'");
                std::process::exit(2);
            }
            println!("[experimental] Run the app server or related tooling\n\nUsage: codex app-server [OPTIONS]");
        }
        ["app-server"] if scenario != "no_app_server" => Server::new(scenario).run(),
        _ => {
            eprintln!("unexpected codex args: {}", args.join(" "));
            std::process::exit(1);
        }
    }
}

struct Server {
    scenario: String,
    auth: String,
    initialized: bool,
    threads: Vec<String>,
    turns: u32,
    out: std::io::Stdout,
    capture: Option<std::fs::File>,
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl Server {
    fn new(scenario: String) -> Server {
        let capture = std::env::var("FAKE_CODEX_CAPTURE").ok().map(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .expect("capture file")
        });
        Server {
            scenario,
            auth: std::env::var("FAKE_CODEX_AUTH").unwrap_or_else(|_| "chatgpt".into()),
            initialized: false,
            threads: vec![],
            turns: 0,
            out: std::io::stdout(),
            capture,
            lines: std::io::stdin().lock().lines(),
        }
    }

    fn send(&mut self, v: Value) {
        let mut o = self.out.lock();
        let _ = writeln!(o, "{v}");
        let _ = o.flush();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"method": method, "params": params, "emittedAtMs": 1795635048000u64}));
    }

    fn error(&mut self, id: &Value, code: i64, msg: &str) {
        self.send(json!({"error": {"code": code, "message": msg}, "id": id}));
    }

    fn next_line(&mut self) -> Option<String> {
        let line = self.lines.next()?.ok()?;
        if let Some(c) = self.capture.as_mut() {
            let _ = writeln!(c, "{line}");
        }
        Some(line)
    }

    fn run(mut self) {
        if std::env::var("FAKE_CODEX_STDERR_NOISE").as_deref() == Ok("1") {
            eprintln!(
                "\x1b[2m2026-11-25T00:00:00Z\x1b[0m \x1b[33m WARN\x1b[0m codex_core: fake noise"
            );
        }
        while let Some(line) = self.next_line() {
            let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                eprintln!("Failed to deserialize JSONRPCMessage: {line}");
                continue;
            };
            let Some(method) = msg.get("method").and_then(Value::as_str).map(str::to_owned) else {
                continue; // a response to one of our requests
            };
            let Some(id) = msg.get("id").cloned() else {
                continue; // notification (initialized)
            };
            let params = msg.get("params").cloned().unwrap_or(Value::Null);
            self.handle(&method, id, params);
        }
    }

    fn account(&self) -> Value {
        match self.auth.as_str() {
            "logged_out" => json!({"account": null, "requiresOpenaiAuth": true}),
            "apikey" => json!({"account": {"type": "apiKey"}, "requiresOpenaiAuth": true}),
            "noauth" => json!({"account": null, "requiresOpenaiAuth": false}),
            _ => {
                json!({"account": {"type": "chatgpt", "email": "worker@example.com", "planType": "business"}, "requiresOpenaiAuth": true})
            }
        }
    }

    fn handle(&mut self, method: &str, id: Value, params: Value) {
        if method == "initialize" {
            if self.initialized {
                return self.error(&id, -32600, "Already initialized");
            }
            self.initialized = true;
            let name = params["clientInfo"]["name"].as_str().unwrap_or("client");
            let home = std::env::var("CODEX_HOME").unwrap_or_default();
            return self.send(json!({"id": id, "result": {"userAgent": format!("{name}/fake"), "codexHome": home, "platformFamily": "unix", "platformOs": "linux"}}));
        }
        if !self.initialized {
            return self.error(&id, -32600, "Not initialized");
        }
        match method {
            "getAuthStatus" => {
                let a = self.account();
                let m = a["account"]["type"].as_str().map(|t| t.to_lowercase());
                self.send(json!({"id": id, "result": {"authMethod": m, "authToken": null, "requiresOpenaiAuth": a["requiresOpenaiAuth"]}}));
            }
            "account/read" => {
                let a = self.account();
                self.send(json!({"id": id, "result": {"account": a["account"], "userId": null, "requiresOpenaiAuth": a["requiresOpenaiAuth"], "workspaceRouting": null}}));
            }
            "account/login/start" => self.login(id),
            "account/login/cancel" => {
                self.send(json!({"id": id, "result": {"status": "canceled"}}));
                self.notify("account/login/completed", json!({"loginId": "login_123", "success": false, "error": "canceled"}));
            }
            "thread/start" => self.thread_start(id, params),
            "thread/inject_items" => {
                let t = params["threadId"].as_str().unwrap_or("").to_string();
                if !self.threads.contains(&t) {
                    return self.error(&id, -32600, &format!("thread not found: {t}"));
                }
                self.send(json!({"id": id, "result": {}}));
            }
            "turn/start" => self.turn_start(id, params),
            "turn/interrupt" => {
                self.send(json!({"id": id, "result": {}}));
                let t = params["threadId"].clone();
                self.notify("turn/completed", json!({"threadId": t, "turn": {"id": params["turnId"], "status": "interrupted", "error": null, "items": []}}));
            }
            "model/list" => self.send(json!({"id": id, "result": {"data": [
                {"id": "gpt-fake-1", "model": "gpt-fake-1", "displayName": "Fake 1", "isDefault": true, "defaultReasoningEffort": "medium",
                 "supportedReasoningEfforts": [{"reasoningEffort": "low"}, {"reasoningEffort": "medium"}, {"reasoningEffort": "high"}, {"reasoningEffort": "xhigh"}]},
                {"id": "gpt-fake-2", "model": "gpt-fake-2", "displayName": "Fake 2", "isDefault": false, "defaultReasoningEffort": "low",
                 "supportedReasoningEfforts": [{"reasoningEffort": "low"}, {"reasoningEffort": "medium"}]}
            ], "nextCursor": null}})),
            other => {
                let msg = format!("Invalid request: unknown variant `{other}`, expected one of `initialize`, `thread/start`, `turn/start`");
                self.error(&id, -32600, &msg);
            }
        }
    }

    fn login(&mut self, id: Value) {
        let mode = std::env::var("FAKE_CODEX_LOGIN").unwrap_or_else(|_| "complete".into());
        if mode == "offline" {
            return self.error(&id, -32603, "failed to request device code: error sending request for url (https://auth.openai.com/api/accounts/deviceauth/usercode)");
        }
        self.send(json!({"id": id, "result": {"type": "chatgptDeviceCode", "loginId": "login_123", "verificationUrl": "https://auth.openai.com/codex/device", "userCode": "ABCD-EFGH"}}));
        std::thread::sleep(std::time::Duration::from_millis(300));
        match mode.as_str() {
            "fail" => self.notify("account/login/completed", json!({"loginId": "login_123", "success": false, "error": "Login was not completed"})),
            "never" => {}
            _ => {
                self.auth = "chatgpt".into();
                self.notify("account/login/completed", json!({"loginId": "login_123", "success": true, "error": null}));
                self.notify("account/updated", json!({"authMode": "chatgpt", "planType": "business"}));
            }
        }
    }

    fn thread_start(&mut self, id: Value, params: Value) {
        if params.is_null() {
            return self.error(&id, -32600, "Invalid request: missing field `params`");
        }
        let sandbox = params["sandbox"]
            .as_str()
            .unwrap_or("read-only")
            .to_string();
        if !["read-only", "workspace-write", "danger-full-access"].contains(&sandbox.as_str()) {
            return self.error(&id, -32600, &format!("Invalid request: unknown variant `{sandbox}`, expected one of `read-only`, `workspace-write`, `danger-full-access`"));
        }
        if self.scenario == "stall_thread_start" {
            eprintln!("thread/start is stuck");
            return;
        }
        let tid = format!("01a21430-0000-7000-8000-{:012}", self.threads.len() + 1);
        self.threads.push(tid.clone());
        let camel = match sandbox.as_str() {
            "workspace-write" => "workspaceWrite",
            "danger-full-access" => "dangerFullAccess",
            _ => "readOnly",
        };
        let thread = json!({"id": tid, "preview": "", "ephemeral": true, "cwd": params["cwd"], "createdAt": 1795635048, "updatedAt": 1795635048, "status": {"type": "idle"}, "turns": []});
        self.send(json!({"id": id, "result": {"thread": thread, "model": "gpt-fake-1", "modelProvider": "openai", "cwd": params["cwd"],
            "approvalPolicy": params["approvalPolicy"], "sandbox": {"type": camel, "writableRoots": [], "networkAccess": false}, "reasoningEffort": null}}));
        self.notify("thread/started", json!({"thread": thread}));
    }

    fn turn_start(&mut self, id: Value, params: Value) {
        let t = params["threadId"].as_str().unwrap_or("").to_string();
        if !self.threads.contains(&t) {
            return self.error(&id, -32600, &format!("thread not found: {t}"));
        }
        self.turns += 1;
        let u = format!("01a21435-0000-7000-8000-{:012}", self.turns);
        let text = params["input"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let turn = json!({"id": u, "rootTurnId": u, "items": [], "itemsView": "notLoaded", "status": "inProgress", "error": null});
        let ids = json!({"threadId": t, "turnId": u});
        // Both orders of turn/started vs the response were seen with real Codex: alternate.
        let started = json!({"threadId": t, "turn": turn});
        if self.turns % 2 == 1 {
            self.notify("turn/started", started);
            self.send(json!({"id": id, "result": {"turn": turn}}));
        } else {
            self.send(json!({"id": id, "result": {"turn": turn}}));
            self.notify("turn/started", started);
        }
        let item = |extra: Value| {
            let mut p = ids.clone();
            for (k, v) in extra.as_object().unwrap() {
                p[k] = v.clone();
            }
            p
        };
        self.notify("item/started", item(json!({"item": {"type": "userMessage", "id": "u1", "content": [{"type": "text", "text": text}]}})));
        self.notify("item/completed", item(json!({"item": {"type": "userMessage", "id": "u1", "content": [{"type": "text", "text": text}]}})));
        let reply = format!("assistant heard: {text}");
        let done = |status: &str, err: Value| json!({"threadId": t, "turn": {"id": u, "status": status, "error": err, "items": []}});
        match self.scenario.as_str() {
            "stall_after_turn_start" => {
                eprintln!("turn started but no completion arrived");
                return;
            }
            "exit_mid_turn" => std::process::exit(3),
            "turn_error" => {
                let msg = "{\"error\": {\"message\": \"mock says bad request\"}}";
                self.notify("error", item(json!({"error": {"message": msg, "codexErrorInfo": "other"}, "willRetry": false})));
                self.notify("turn/completed", done("failed", json!({"message": msg})));
                return;
            }
            "interrupted" => {
                self.notify("turn/completed", done("interrupted", Value::Null));
                return;
            }
            "retry_then_ok" => {
                for n in 2..4 {
                    self.notify("error", item(json!({"error": {"message": format!("Reconnecting... {n}/5")}, "willRetry": true})));
                }
            }
            "garbage_line" => {
                let mut o = self.out.lock();
                let _ = writeln!(o, "this is not json");
                let _ = o.flush();
            }
            "huge_line" => {
                // Over the client's 8 MiB line cap: must be skipped, not buffered whole.
                let mut o = self.out.lock();
                let _ = o.write_all(&vec![b'x'; 9 << 20]);
                let _ = o.write_all(b"\n");
                let _ = o.flush();
            }
            "server_request" => {
                // Id 0 never collides with a real client id in practice; 2 does (the bridge's
                // getAuthStatus). Wait for the answer before continuing, as Codex would.
                self.send(json!({"id": 2, "method": "item/commandExecution/requestApproval", "params": item(json!({"command": "rm -rf /", "itemId": "c1"}))}));
                loop {
                    let Some(l) = self.next_line() else { return };
                    let v: Value = serde_json::from_str(&l).unwrap_or(Value::Null);
                    if v.get("method").is_none() && v["id"] == 2 {
                        if v["result"]["decision"] != "decline" {
                            eprintln!("approval was not declined: {l}");
                            std::process::exit(4);
                        }
                        break;
                    }
                }
            }
            _ => {}
        }
        self.notify(
            "item/started",
            item(json!({"item": {"type": "agentMessage", "id": "msg_1", "text": ""}})),
        );
        if self.scenario != "final_only" {
            let mid = reply.len() / 2;
            let cut = (mid..reply.len())
                .find(|i| reply.is_char_boundary(*i))
                .unwrap_or(reply.len());
            for part in [
                &reply[..cut.min(10)],
                &reply[cut.min(10)..cut],
                &reply[cut..],
            ] {
                if !part.is_empty() {
                    self.notify(
                        "item/agentMessage/delta",
                        item(json!({"itemId": "msg_1", "delta": part})),
                    );
                }
            }
        }
        self.notify(
            "item/completed",
            item(json!({"item": {"type": "agentMessage", "id": "msg_1", "text": reply}})),
        );
        self.notify("thread/tokenUsage/updated", item(json!({"tokenUsage": {}})));
        self.notify(
            "thread/status/changed",
            json!({"threadId": t, "status": {"type": "idle"}}),
        );
        self.notify("turn/completed", done("completed", Value::Null));
    }
}
