//! The session and turn tracker replayed against traffic recorded from codex-cli 0.169.0
//! (`core/tests/data/codex-app-server-0.169.0-transcripts.jsonl`, 10 flows).
//!
//! The replay drives our session the way the bridge does and feeds it the server's recorded
//! lines, with the server's ids rewritten to the ids our session chose for the same requests.
//! Handshake answers a flow did not record (some flows skipped `getAuthStatus`) are filled
//! with the logged-out answers recorded in the first flow.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::session::{Event, Session};
use super::turn::{TurnStep, TurnTracker};

const TRANSCRIPTS: &str =
    include_str!("../../tests/data/codex-app-server-0.169.0-transcripts.jsonl");

fn flow(name: &str) -> Vec<(String, Value)> {
    let out: Vec<(String, Value)> = TRANSCRIPTS
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["flow"] == name)
        .map(|r| (r["dir"].as_str().unwrap().to_string(), r["msg"].clone()))
        .collect();
    assert!(!out.is_empty(), "flow {name} missing from the transcripts");
    out
}

fn client_info() -> Value {
    json!({"name":"tunnel-client-adminui","title":"tunnel-client admin UI","version":"0.1.0"})
}

struct Replay {
    s: Session,
    now: Instant,
    events: Vec<Event>,
    sent: Vec<Value>,
    /// transcript id (as JSON text) → our id; `None` = the request was not ours to send.
    ids: HashMap<String, Option<u64>>,
    /// our handshake ids not yet answered, by method.
    handshake: Vec<(String, u64)>,
    tracker: TurnTracker,
    steps: Vec<TurnStep>,
    turn_request: Option<u64>,
}

impl Replay {
    fn new() -> Replay {
        let now = Instant::now();
        let mut s = Session::new(client_info());
        s.start(now);
        let mut r = Replay {
            s,
            now,
            events: vec![],
            sent: vec![],
            ids: HashMap::new(),
            handshake: vec![],
            tracker: TurnTracker::new(),
            steps: vec![],
            turn_request: None,
        };
        r.pump();
        r
    }

    fn pump(&mut self) {
        while let Some(line) = self.s.poll_transmit() {
            assert!(line.ends_with('\n'), "one JSON object per line");
            let v: Value = serde_json::from_str(line.trim_end()).unwrap();
            assert!(
                v.get("jsonrpc").is_none(),
                "the server never needs a jsonrpc field"
            );
            if let (Some(id), Some(m)) = (v["id"].as_u64(), v["method"].as_str()) {
                if matches!(m, "initialize" | "getAuthStatus" | "account/read")
                    && !self.s.is_ready()
                {
                    self.handshake.push((m.to_string(), id));
                }
            }
            self.sent.push(v);
        }
        while let Some(e) = self.s.poll_event() {
            match &e {
                Event::Notification(n) => {
                    let steps = self.tracker.on_notice(n);
                    self.steps.extend(steps);
                }
                Event::Response {
                    id, result: Ok(r), ..
                } if Some(*id) == self.turn_request => {
                    let steps = self.tracker.on_response(r);
                    self.steps.extend(steps);
                }
                _ => {}
            }
            self.events.push(e);
        }
    }

    fn feed(&mut self, v: &Value) {
        self.s.handle_line(&v.to_string(), self.now);
        self.pump();
    }

    /// Answer our outstanding handshake requests the flow never recorded.
    fn finish_handshake(&mut self) {
        let pending = std::mem::take(&mut self.handshake);
        for (m, id) in pending {
            if m == "initialize" {
                self.handshake.push((m, id));
                continue;
            }
            let result = match m.as_str() {
                "getAuthStatus" => {
                    json!({"authMethod":null,"authToken":null,"requiresOpenaiAuth":true})
                }
                _ => {
                    json!({"account":null,"userId":null,"requiresOpenaiAuth":true,"workspaceRouting":null})
                }
            };
            self.feed(&json!({"id": id, "result": result}));
        }
    }

    fn run(name: &str) -> Replay {
        let mut r = Replay::new();
        for (dir, msg) in flow(name) {
            if dir == "in" {
                let (Some(id), Some(m)) =
                    (msg.get("id"), msg.get("method").and_then(Value::as_str))
                else {
                    if let Some(raw) = msg.get("_raw_non_json_line") {
                        assert!(raw.is_string());
                    }
                    continue; // notifications we send ourselves (initialized) or raw probes
                };
                let key = id.to_string();
                if !r.s.is_ready() {
                    let hs = r.handshake.iter().position(|(hm, _)| hm == m);
                    if let Some(i) = hs {
                        let (_, ours) = r.handshake.remove(i);
                        r.ids.insert(key, Some(ours));
                        continue;
                    }
                    if r.handshake.iter().any(|(hm, _)| hm == "initialize") {
                        // e.g. account/read before initialize: our session never sends it.
                        assert!(r
                            .s
                            .request(m, json!({}), r.now, Duration::from_secs(5))
                            .is_err());
                        r.ids.insert(key, None);
                        continue;
                    }
                    r.finish_handshake();
                    assert!(r.s.is_ready(), "handshake completes once answered");
                }
                let params = msg.get("params").cloned().unwrap_or(json!({}));
                let ours =
                    r.s.request(m, params, r.now, Duration::from_secs(120))
                        .unwrap();
                if m == "turn/start" {
                    r.turn_request = Some(ours);
                }
                r.ids.insert(key, Some(ours));
                r.pump();
            } else {
                let mut msg = msg.clone();
                if msg.get("method").is_none() {
                    let key = msg["id"].to_string();
                    match r.ids.get(&key) {
                        Some(Some(ours)) => msg["id"] = json!(ours),
                        Some(None) => continue,
                        None => panic!("{name}: response to an id the flow never sent: {key}"),
                    }
                }
                r.feed(&msg);
            }
        }
        r
    }

    fn response(&self, method: &str) -> Vec<Result<Value, super::RpcError>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Response {
                    method: m, result, ..
                } if m == method => Some(result.clone()),
                _ => None,
            })
            .collect()
    }

    fn notices(&self, method: &str) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Notification(n) if n.method == method))
            .count()
    }

    fn streamed(&self) -> String {
        self.steps
            .iter()
            .filter_map(|s| match s {
                TurnStep::Delta(d) => Some(d.as_str()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn handshake_reads_camel_case_initialize_and_logged_out_account() {
    let r = Replay::run("handshake_logged_out_and_errors");
    assert!(r.events.contains(&Event::Ready));
    let snap = r.s.snapshot();
    assert!(snap
        .initialize_info
        .user_agent
        .starts_with("tunnel-client-adminui/0.169.0"));
    assert_eq!(snap.initialize_info.platform_family, "unix");
    assert_eq!(snap.initialize_info.platform_os, "linux");
    assert!(!snap.initialize_info.codex_home.is_empty());
    assert!(snap.needs_login(), "account null + requiresOpenaiAuth");
    // Our handshake, in order: initialize, initialized, getAuthStatus, account/read.
    let methods: Vec<&str> = r.sent.iter().filter_map(|v| v["method"].as_str()).collect();
    assert_eq!(
        &methods[..4],
        ["initialize", "initialized", "getAuthStatus", "account/read"]
    );
    assert_eq!(r.sent[0]["params"]["capabilities"], Value::Null);
    let unknown = r.response("no/such/method");
    assert_eq!(unknown.len(), 1);
    let err = unknown[0].clone().unwrap_err();
    assert_eq!(err.code, -32600);
    assert!(err.message.contains("unknown variant `no/such/method`"));
    assert!(r.response("model/list")[0].as_ref().unwrap()["data"].is_array());
}

#[test]
fn thread_start_is_remembered_and_notified() {
    let r = Replay::run("thread_start_plugin_list_logged_out");
    let snap = r.s.snapshot();
    assert_eq!(snap.thread.id, "01a21430-6f8a-7d70-b044-694796d942ad");
    assert!(!snap.thread.model.is_empty());
    assert_eq!(r.notices("thread/started"), 1);
    assert!(r.response("plugin/list")[0].is_ok());
}

#[test]
fn will_retry_errors_are_progress_not_failure() {
    let r = Replay::run("inject_and_turn_without_network");
    let retries: Vec<&TurnStep> = r
        .steps
        .iter()
        .filter(|s| matches!(s, TurnStep::Retrying(_)))
        .collect();
    assert_eq!(retries.len(), 2, "{:?}", r.steps);
    assert_eq!(
        retries[0],
        &TurnStep::Retrying("Reconnecting... 2/5".into())
    );
    assert!(
        !r.tracker.is_done(),
        "Codex is still retrying: the turn is not over"
    );
    assert!(!r.steps.iter().any(|s| matches!(s, TurnStep::Failed(_))));
    assert!(r.response("thread/inject_items")[0].is_ok());
}

#[test]
fn device_code_login_error_surfaces_and_turn_keeps_retrying() {
    let r = Replay::run("device_code_login_needs_network_and_turn_retries");
    let login = r.response("account/login/start");
    let err = login[0].clone().unwrap_err();
    assert_eq!(err.code, -32603);
    assert!(err.message.starts_with("failed to request device code"));
    assert!(!r.s.snapshot().login.pending);
    assert!(
        r.steps
            .iter()
            .filter(|s| matches!(s, TurnStep::Retrying(_)))
            .count()
            >= 4
    );
    assert!(!r.tracker.is_done());
}

#[test]
fn interrupted_is_a_terminal_status() {
    let r = Replay::run("turn_interrupt");
    assert!(r.tracker.is_done());
    assert!(matches!(
        r.steps.last(),
        Some(TurnStep::Finished { status, .. }) if status == "interrupted"
    ));
    assert_eq!(r.s.snapshot().turn.status, "interrupted");
}

#[test]
fn protocol_errors_come_back_as_rpc_errors() {
    let r = Replay::run("protocol_errors");
    let again = r.response("initialize");
    assert_eq!(again[0].clone().unwrap_err().message, "Already initialized");
    let ts = r.response("thread/start");
    assert!(ts[0]
        .clone()
        .unwrap_err()
        .message
        .contains("unknown variant `workspaceWrite`"));
    assert!(ts[1]
        .clone()
        .unwrap_err()
        .message
        .contains("missing field `params`"));
    let turn = r.response("turn/start");
    assert!(turn[0]
        .clone()
        .unwrap_err()
        .message
        .starts_with("thread not found"));
    assert!(turn[1]
        .clone()
        .unwrap_err()
        .message
        .starts_with("invalid thread id"));
    assert!(r.response("account/rateLimits/read")[0].is_err());
    // account/updated makes the session re-read the account on its own.
    let rereads = r
        .sent
        .iter()
        .filter(|v| v["method"] == "account/read")
        .count();
    assert_eq!(rereads, 2, "handshake read + re-read after account/updated");
}

#[test]
fn plugin_startup_status_is_dropped_and_mcp_list_seen() {
    let r = Replay::run("go_style_plugin_install_loaded");
    assert_eq!(r.notices("mcpServer/startupStatus/updated"), 0);
    let list = r.response("mcpServerStatus/list");
    let last = list.last().unwrap().as_ref().unwrap();
    let names: Vec<&str> = last["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"tunnelMcp"), "{names:?}");
}

#[test]
fn full_turn_streams_the_mock_text_then_completes() {
    let r = Replay::run("full_turn_with_loopback_mock_provider");
    assert_eq!(r.streamed(), "Hello from the mock.");
    assert!(matches!(
        r.steps.last(),
        Some(TurnStep::Finished { status, final_text: None, streamed: true }) if status == "completed"
    ));
}

#[test]
fn full_turn_is_the_same_when_the_response_comes_after_the_deltas() {
    // Move the turn/start response to the very end of the flow: the tracker must buffer the
    // notifications until it learns the turn id, then produce the same output.
    let records = flow("full_turn_with_loopback_mock_provider");
    let turn_id: String = records
        .iter()
        .find(|(d, m)| d == "out" && m["method"] == "turn/started")
        .map(|(_, m)| m["params"]["turn"]["id"].as_str().unwrap().to_string())
        .unwrap();
    let mut t = TurnTracker::new();
    let mut steps = vec![];
    for (dir, msg) in &records {
        if dir != "out" || msg["method"] == "turn/started" || msg.get("method").is_none() {
            continue;
        }
        let mut s = Session::new(client_info());
        let now = Instant::now();
        s.handle_line(&msg.to_string(), now);
        while let Some(Event::Notification(n)) = s.poll_event() {
            steps.extend(t.on_notice(&n));
        }
    }
    assert!(
        steps.is_empty(),
        "nothing is shown before the turn id is known"
    );
    steps.extend(t.on_response(&json!({"turn": {"id": turn_id}})));
    let text: String = steps
        .iter()
        .filter_map(|s| match s {
            TurnStep::Delta(d) => Some(d.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Hello from the mock.");
    assert!(t.is_done());
}

#[test]
fn failed_turn_reports_the_provider_error() {
    let r = Replay::run("turn_failure_http400_from_mock_provider");
    let failed: Vec<&String> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            TurnStep::Failed(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "one failure, not one per notification");
    assert!(failed[0].contains("mock says bad request"), "{}", failed[0]);
}

#[test]
fn api_key_login_updates_the_account() {
    let r = Replay::run("apikey_login_dummy_value");
    assert_eq!(
        r.response("account/login/start")[0].as_ref().unwrap()["type"],
        "apiKey"
    );
    // The flow ends logged out again (account/logout then account/read).
    let reads = r.response("account/read");
    assert_eq!(reads[0].as_ref().unwrap()["account"]["type"], "apiKey");
    assert_eq!(
        reads.last().unwrap().as_ref().unwrap()["account"],
        Value::Null
    );
}

#[test]
fn server_requests_are_answered_and_never_taken_for_responses() {
    let now = Instant::now();
    let mut s = Session::new(client_info());
    s.start(now);
    let init_id = 1;
    s.handle_line(
        &json!({"id": init_id, "result": {"userAgent":"x","codexHome":"/h","platformFamily":"unix","platformOs":"linux"}}).to_string(),
        now,
    );
    s.handle_line(
        &json!({"id": 2, "result": {"requiresOpenaiAuth": false}}).to_string(),
        now,
    );
    s.handle_line(
        &json!({"id": 3, "result": {"account": {"type":"apiKey"}, "requiresOpenaiAuth": true}})
            .to_string(),
        now,
    );
    assert!(s.is_ready());
    while s.poll_transmit().is_some() {}
    while s.poll_event().is_some() {}
    let mine = s
        .request("turn/start", json!({}), now, Duration::from_secs(5))
        .unwrap();
    s.poll_transmit();
    // The server asks for approval with an id equal to our pending request id.
    s.handle_line(
        &json!({"id": mine, "method": "item/commandExecution/requestApproval", "params": {"command": "rm -rf /"}}).to_string(),
        now,
    );
    s.handle_line(
        &json!({"id": "x-9", "method": "item/tool/requestUserInput", "params": {}}).to_string(),
        now,
    );
    let a: Value = serde_json::from_str(s.poll_transmit().unwrap().trim_end()).unwrap();
    assert_eq!(a, json!({"id": mine, "result": {"decision": "decline"}}));
    let b: Value = serde_json::from_str(s.poll_transmit().unwrap().trim_end()).unwrap();
    assert_eq!(b["id"], "x-9");
    assert_eq!(b["error"]["code"], -32601);
    let evs: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        evs.iter().all(|e| !matches!(e, Event::Response { .. })),
        "{evs:?}"
    );
    assert_eq!(evs.len(), 2);
    // Our request is still pending and resolves with the real answer.
    s.handle_line(
        &json!({"id": mine, "result": {"turn": {"id": "t1"}}}).to_string(),
        now,
    );
    assert!(
        matches!(s.poll_event(), Some(Event::Response { id, result: Ok(_), .. }) if id == mine)
    );
}

#[test]
fn garbage_lines_timeouts_and_exit_do_not_wedge_the_session() {
    let now = Instant::now();
    let mut s = Session::new(client_info());
    assert!(s
        .request("thread/start", json!({}), now, Duration::from_secs(1))
        .is_err());
    s.start(now);
    s.handle_line("this is not json", now);
    s.handle_line("[1,2]", now);
    let e1 = s.poll_event().unwrap();
    assert!(matches!(e1, Event::Undecodable { .. }));
    assert!(matches!(s.poll_event(), Some(Event::Undecodable { .. })));
    // initialize never answered: the handshake times out.
    s.handle_timeout(now + Duration::from_secs(21));
    assert!(matches!(s.poll_event(), Some(Event::HandshakeFailed(m)) if m.contains("initialize")));
    s.handle_exit("exit status: 3");
    assert!(matches!(s.poll_event(), Some(Event::Exited(_))));
    assert!(s
        .request("x", json!({}), now, Duration::from_secs(1))
        .is_err());
}
