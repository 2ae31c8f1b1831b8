//! The multiplexer's rules, each proven with a fake clock and a scripted child.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::*;
use crate::classify::{Source, TransportError, TunnelFailure};
use crate::engine::{CommandId, McpOutput, Terminal};

struct H {
    mux: StdioMux,
    now: Instant,
    writes: Vec<(WriteTicket, String)>,
    delivered: Vec<(CommandId, McpOutput)>,
    restarts: Vec<RestartReason>,
    events: Vec<MuxEvent>,
}

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_string()).unwrap()
}

impl H {
    fn with(cfg: MuxConfig) -> H {
        let now = Instant::now();
        let mut mux = StdioMux::new(cfg);
        mux.handle_child_started(now);
        H {
            mux,
            now,
            writes: Vec::new(),
            delivered: Vec::new(),
            restarts: Vec::new(),
            events: Vec::new(),
        }
    }

    fn new() -> H {
        H::with(MuxConfig::default())
    }

    fn pump(&mut self) {
        while let Some(o) = self.mux.poll_output() {
            match o {
                MuxOutput::Write { ticket, line } => {
                    assert_eq!(line.last(), Some(&b'\n'));
                    let body = &line[..line.len() - 1];
                    assert!(!body.contains(&b'\n') && !body.contains(&b'\r'));
                    self.writes
                        .push((ticket, String::from_utf8(body.to_vec()).unwrap()));
                }
                MuxOutput::Deliver { cmd, output } => self.delivered.push((cmd, output)),
                MuxOutput::Restart { reason } => self.restarts.push(reason),
            }
        }
        while let Some(e) = self.mux.poll_event() {
            self.events.push(e);
        }
    }

    fn submit_at(&mut self, cmd: u64, msg: &str, deadline: Option<Duration>) {
        let deadline = deadline.map(|d| self.now + d);
        self.mux
            .handle_submit(self.now, CommandId(cmd), raw(msg), deadline);
        self.pump();
    }

    fn submit(&mut self, cmd: u64, msg: &str) {
        self.submit_at(cmd, msg, None);
    }

    /// Confirms every write so far; returns the written messages.
    fn written(&mut self) -> Vec<String> {
        let writes = std::mem::take(&mut self.writes);
        for (t, _) in &writes {
            self.mux.handle_written(self.now, *t);
        }
        self.pump();
        writes.into_iter().map(|(_, w)| w).collect()
    }

    fn last_written(&mut self) -> Value {
        serde_json::from_str(self.written().last().expect("a write")).unwrap()
    }

    fn child(&mut self, line: &str) {
        self.mux
            .handle_child_output(self.now, format!("{line}\n").as_bytes());
        self.pump();
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.mux.handle_timeout(self.now);
        self.pump();
    }

    fn take(&mut self) -> Vec<(CommandId, McpOutput)> {
        std::mem::take(&mut self.delivered)
    }

    fn terminal_json(&mut self, cmd: u64) -> String {
        let all = self.take();
        for (c, o) in all {
            if c == CommandId(cmd) {
                if let McpOutput::Terminal(Terminal::JsonRpc { json, status, .. }) = o {
                    assert_eq!(status, 200);
                    return json.get().to_string();
                }
            }
        }
        panic!("no JSON-RPC terminal for {cmd}");
    }
}

fn is_abandon(o: &McpOutput) -> bool {
    matches!(o, McpOutput::Terminal(Terminal::Abandon { .. }))
}

fn failure_of(o: &McpOutput) -> Option<TunnelFailure> {
    match o {
        McpOutput::Terminal(Terminal::Failure { failure, .. }) => Some(*failure),
        _ => None,
    }
}

#[test]
fn request_ids_are_remapped_and_restored_byte_exactly() {
    let mut h = H::new();
    h.submit(
        1,
        r#"{"jsonrpc":"2.0","id":"a\u0062 c","method":"tools/list"}"#,
    );
    let w = h.last_written();
    assert_eq!(w["id"], 1, "the child sees a tunnel id");
    h.child(r#"{"result":{"tools":[] , "n":1.50},"jsonrpc":"2.0","id":1}"#);
    assert_eq!(
        h.terminal_json(1),
        r#"{"result":{"tools":[] , "n":1.50},"jsonrpc":"2.0","id":"a\u0062 c"}"#
    );
}

#[test]
fn colliding_ids_from_two_sessions_are_kept_apart() {
    let mut h = H::new();
    h.submit(1, r#"{"jsonrpc":"2.0","id":7,"method":"a"}"#);
    h.submit(2, r#"{"jsonrpc":"2.0","id":7,"method":"b"}"#);
    let w = h.written();
    let ids: Vec<Value> = w
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone())
        .collect();
    assert_ne!(ids[0], ids[1]);
    // The child answers the second first.
    h.child(&format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":"b"}}"#,
        ids[1]
    ));
    h.child(&format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":"a"}}"#,
        ids[0]
    ));
    let got = h.take();
    let by_cmd = |c: u64| {
        got.iter()
            .find_map(|(cmd, o)| match o {
                McpOutput::Terminal(Terminal::JsonRpc { json, .. }) if *cmd == CommandId(c) => {
                    Some(serde_json::from_str::<Value>(json.get()).unwrap())
                }
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(by_cmd(1), json!({"jsonrpc":"2.0","id":7,"result":"a"}));
    assert_eq!(by_cmd(2), json!({"jsonrpc":"2.0","id":7,"result":"b"}));
}

#[test]
fn progress_tokens_are_remapped_and_routed_to_their_command() {
    let mut h = H::new();
    let call = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"slow","_meta":{{"progressToken":"tok"}}}}}}"#
        )
    };
    h.submit(1, &call(1));
    h.submit(2, &call(1));
    let w: Vec<Value> = h
        .written()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tok2 = w[1]["params"]["_meta"]["progressToken"].clone();
    assert_eq!(tok2, w[1]["id"], "token rewritten to the tunnel id");
    h.child(&format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":{tok2},"progress":1}}}}"#
    ));
    let got = h.take();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, CommandId(2));
    let McpOutput::Notify(n) = &got[0].1 else {
        panic!("a notification")
    };
    assert_eq!(
        n.get(),
        r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok","progress":1}}"#
    );
}

/// The engine's cancel and the mux's own deadline fire at the same instant; whichever the
/// adapter delivers first, the child is told the same reason.
#[test]
fn a_cancel_at_the_deadline_names_the_deadline() {
    for engine_first in [true, false] {
        let mut h = H::new();
        h.submit_at(
            1,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            Some(Duration::from_secs(1)),
        );
        h.written();
        h.now += Duration::from_secs(1);
        if engine_first {
            h.mux.handle_cancel(h.now, CommandId(1));
        } else {
            h.mux.handle_timeout(h.now);
            h.mux.handle_cancel(h.now, CommandId(1));
        }
        h.pump();
        let cancel = h.last_written();
        assert_eq!(
            cancel["params"]["reason"], "tunnel-client: response deadline passed",
            "engine first: {engine_first}"
        );
    }
    // Before the deadline a cancel is a cancel.
    let mut h = H::new();
    h.submit_at(
        1,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
        Some(Duration::from_secs(1)),
    );
    h.written();
    h.mux.handle_cancel(h.now, CommandId(1));
    h.pump();
    assert_eq!(
        h.last_written()["params"]["reason"],
        "tunnel-client: cancelled"
    );
}

#[test]
fn late_response_after_deadline_is_discarded_and_never_delivered() {
    let mut h = H::new();
    h.submit_at(
        1,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
        Some(Duration::from_secs(1)),
    );
    h.written();
    h.advance(Duration::from_secs(2));
    assert!(
        h.take().is_empty(),
        "the engine ends a command on its own deadline"
    );
    // The child is told to stop.
    let cancel = h.last_written();
    assert_eq!(cancel["method"], "notifications/cancelled");
    assert_eq!(cancel["params"]["requestId"], 1);
    assert_eq!(h.mux.retired(), 1);
    // A new command with the same original id, then the late answer for the old one.
    h.submit(2, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#);
    assert_eq!(h.last_written()["id"], 2);
    h.child(r#"{"jsonrpc":"2.0","id":1,"result":"late"}"#);
    assert!(h.take().is_empty(), "late response delivered to nobody");
    assert!(h
        .events
        .contains(&MuxEvent::LateMessageDiscarded { tunnel_id: 1 }));
    h.child(r#"{"jsonrpc":"2.0","id":2,"result":"mine"}"#);
    assert_eq!(
        h.terminal_json(2),
        r#"{"jsonrpc":"2.0","id":1,"result":"mine"}"#
    );
}

#[test]
fn evicted_retired_ids_are_still_never_confused() {
    let mut h = H::with(MuxConfig {
        max_retired: 1,
        ..MuxConfig::default()
    });
    for cmd in 1..=3 {
        h.submit(cmd, r#"{"jsonrpc":"2.0","id":1,"method":"x"}"#);
        h.mux.handle_cancel(h.now, CommandId(cmd));
        h.pump();
    }
    h.take();
    assert_eq!(h.mux.retired(), 1);
    h.child(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    assert!(h.take().is_empty());
    assert!(h
        .events
        .contains(&MuxEvent::UnknownResponse { id: "1".into() }));
}

#[test]
fn notification_from_tunnel_is_acked_once_written() {
    let mut h = H::new();
    h.submit(
        1,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert!(h.take().is_empty(), "not before the write completed");
    h.written();
    let got = h.take();
    assert!(matches!(
        &got[..],
        [(
            CommandId(1),
            McpOutput::Terminal(Terminal::Ack { status: 200, .. })
        )]
    ));
}

#[test]
fn unattributed_notification_goes_to_the_single_in_flight_request() {
    let mut h = H::new();
    h.submit(1, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#);
    let log = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#;
    h.child(log);
    let got = h.take();
    assert!(matches!(&got[..], [(CommandId(1), McpOutput::Notify(n))] if n.get() == log));
}

#[test]
fn unattributed_notification_is_dropped_when_ambiguous() {
    let mut h = H::new();
    h.child(r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#);
    h.submit(1, r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#);
    h.submit(2, r#"{"jsonrpc":"2.0","id":2,"method":"b"}"#);
    h.child(r#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#);
    assert!(h.take().is_empty());
    let unroutable: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            MuxEvent::Unroutable { in_flight, .. } => Some(*in_flight),
            _ => None,
        })
        .collect();
    assert_eq!(unroutable, vec![0, 2]);
}

#[test]
fn unattributed_message_is_dropped_shortly_after_a_retirement() {
    let mut h = H::new();
    h.submit(1, r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#);
    h.mux.handle_cancel(h.now, CommandId(1));
    h.submit(2, r#"{"jsonrpc":"2.0","id":2,"method":"b"}"#);
    h.take();
    let note = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#;
    h.child(note);
    assert!(h.take().is_empty(), "the retired request might own it");
    h.advance(MuxConfig::default().retired_quiet);
    h.child(note);
    assert_eq!(
        h.take().len(),
        1,
        "after the quiet period the single request gets it"
    );
}

#[test]
fn unroutable_server_request_is_answered_with_an_error() {
    let mut h = H::new();
    h.child(r#"{"jsonrpc":"2.0","id":0,"method":"roots/list"}"#);
    let w = h.last_written();
    assert_eq!(w["id"], 0);
    assert_eq!(w["error"]["code"], -32603);
    assert!(h.events.iter().any(|e| matches!(
        e,
        MuxEvent::Unroutable {
            request: true,
            method: "roots/list",
            ..
        }
    )));
}

#[test]
fn server_ping_is_answered_by_the_tunnel() {
    let mut h = H::new();
    h.submit(1, r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#);
    h.written();
    h.child(r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#);
    assert_eq!(
        h.last_written(),
        json!({"jsonrpc":"2.0","id":"p","result":{}})
    );
    assert!(h.take().is_empty());
}

#[test]
fn server_request_is_relayed_and_the_answer_written_back_under_the_childs_id() {
    let mut h = H::new();
    h.submit(1, r#"{"jsonrpc":"2.0","id":"c1","method":"tools/call"}"#);
    h.written();
    h.child(r#"{"jsonrpc":"2.0","id":0,"method":"sampling/createMessage","params":{}}"#);
    let got = h.take();
    let McpOutput::Notify(n) = &got[0].1 else {
        panic!("relayed")
    };
    assert_eq!(got[0].0, CommandId(1));
    let relayed: Value = serde_json::from_str(n.get()).unwrap();
    let tid = relayed["id"].clone();
    assert_ne!(tid, json!(0), "the connector sees a tunnel id");
    // The connector answers (a `jsonrpc` command shaped as a response).
    h.submit(
        9,
        &format!(r#"{{"jsonrpc":"2.0","id":{tid},"result":{{"role":"assistant"}}}}"#),
    );
    let w = h.last_written();
    assert_eq!(w["id"], 0, "written back under the child's id");
    let got = h.take();
    assert!(matches!(
        &got[..],
        [(
            CommandId(9),
            McpOutput::Terminal(Terminal::Ack { status: 200, .. })
        )]
    ));
    // A second answer to the same request is stale.
    h.submit(
        10,
        &format!(r#"{{"jsonrpc":"2.0","id":{tid},"result":{{}}}}"#),
    );
    assert!(h.written().is_empty());
    assert!(matches!(
        &h.take()[..],
        [(
            CommandId(10),
            McpOutput::Terminal(Terminal::Ack { status: 410, .. })
        )]
    ));
}

#[test]
fn connector_cancel_is_rewritten_to_the_tunnel_id_and_retires_the_request() {
    let mut h = H::new();
    h.submit(1, r#"{"jsonrpc":"2.0","id":"x","method":"tools/call"}"#);
    h.submit(2, r#"{"jsonrpc":"2.0","id":5,"method":"tools/call"}"#);
    h.written();
    h.submit(
        3,
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}"#,
    );
    let got = h.take();
    assert!(matches!(&got[..], [(CommandId(2), o)] if is_abandon(o)));
    let w = h.last_written();
    assert_eq!(w["params"]["requestId"], 2, "tunnel id of command 2");
    assert!(matches!(
        &h.take()[..],
        [(
            CommandId(3),
            McpOutput::Terminal(Terminal::Ack { status: 200, .. })
        )]
    ));
}

#[test]
fn connector_cancel_for_an_ambiguous_id_is_not_forwarded() {
    let mut h = H::new();
    h.submit(1, r#"{"jsonrpc":"2.0","id":5,"method":"a"}"#);
    h.submit(2, r#"{"jsonrpc":"2.0","id":5,"method":"b"}"#);
    h.written();
    h.submit(
        3,
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}"#,
    );
    assert!(h.written().is_empty(), "never forwarded with a raw id");
    assert!(matches!(
        &h.take()[..],
        [(
            CommandId(3),
            McpOutput::Terminal(Terminal::Ack { status: 200, .. })
        )]
    ));
    assert!(h.events.contains(&MuxEvent::CancelNotForwarded {
        cmd: CommandId(3),
        matches: 2
    }));
    assert_eq!(h.mux.awaiting_response(), 2);
}

#[test]
fn child_down_fails_every_command_with_transport_closed() {
    let mut h = H::new();
    h.submit(1, r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#);
    h.submit(2, r#"{"jsonrpc":"2.0","method":"notifications/x"}"#);
    h.mux.handle_child_eof(h.now);
    h.pump();
    let got = h.take();
    assert_eq!(got.len(), 2);
    for (_, o) in &got {
        let f = failure_of(o).expect("a failure");
        assert_eq!(f.source(), Source::TransportClosed);
        assert!(!f.upstream_response_received());
        assert_eq!(f.resp_code(), 502);
    }
    assert_eq!(h.mux.in_flight(), 0);
    assert!(h.events.contains(&MuxEvent::ChildDown {
        generation: 1,
        failed: 2
    }));
}

#[test]
fn commands_while_the_child_is_down_fail_at_once() {
    let mut h = H::new();
    h.mux.handle_child_down(h.now, TransportError::ClosedPipe);
    h.submit(1, r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#);
    let got = h.take();
    assert_eq!(
        failure_of(&got[0].1).map(|f| f.source()),
        Some(Source::TransportClosed)
    );
    assert!(h.written().is_empty());
    // Leftovers of the dead child are ignored.
    h.child(r#"{"jsonrpc":"2.0","id":0,"method":"roots/list"}"#);
    assert!(h.written().is_empty() && h.take().is_empty());
    // After a restart the same kind of command goes through.
    h.mux.handle_child_started(h.now);
    h.submit(2, r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#);
    assert_eq!(h.written().len(), 1);
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;

#[test]
fn initialize_timeout_restarts_the_child() {
    let mut h = H::new();
    h.submit_at(1, INIT, Some(Duration::from_secs(5)));
    h.submit(2, r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#);
    h.written();
    h.advance(Duration::from_secs(5));
    assert_eq!(h.restarts, vec![RestartReason::InitializeTimedOut]);
    let got = h.take();
    assert_eq!(got.len(), 1, "the initialize itself is ended by the engine");
    let f = failure_of(&got[0].1).unwrap();
    assert_eq!(f.source(), Source::TransportClosed);
    assert!(
        h.written()
            .iter()
            .all(|w| !w.contains("notifications/cancelled")),
        "initialize is never cancelled"
    );
    assert!(!h.mux.is_up());
}

#[test]
fn restarted_child_gets_the_last_initialize_replayed_before_held_commands() {
    let mut h = H::new();
    h.submit(1, INIT);
    assert_eq!(h.last_written()["id"], 1);
    h.child(r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25"}}"#);
    h.take();
    h.submit(
        2,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    h.written();
    h.take();
    h.mux.handle_child_eof(h.now);
    h.mux.handle_child_started(h.now);
    h.pump();
    let replay = h.last_written();
    assert_eq!(replay["method"], "initialize");
    assert_eq!(replay["params"]["clientInfo"]["name"], "c");
    let rid = replay["id"].clone();
    // A command arriving meanwhile waits.
    h.submit(3, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    assert!(h.written().is_empty());
    h.child(&format!(r#"{{"jsonrpc":"2.0","id":{rid},"result":{{}}}}"#));
    assert!(h.take().is_empty(), "the replay's answer is swallowed");
    let w = h.written();
    assert_eq!(w.len(), 2);
    assert!(w[0].contains("notifications/initialized"));
    assert!(w[1].contains("tools/list"));
    assert!(h
        .events
        .contains(&MuxEvent::ReplayFinished { accepted: true }));
}

#[test]
fn replay_timeout_restarts_again() {
    let mut h = H::new();
    h.submit(1, INIT);
    h.written();
    h.child(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    h.mux.handle_child_down(h.now, TransportError::Eof);
    h.mux.handle_child_started(h.now);
    h.pump();
    h.submit(2, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    h.take();
    h.advance(MuxConfig::default().replay_timeout);
    assert_eq!(h.restarts, vec![RestartReason::ReplayTimedOut]);
    let got = h.take();
    assert_eq!(
        failure_of(&got[0].1).map(|f| f.source()),
        Some(Source::TransportClosed)
    );
}

#[test]
fn garbage_and_oversized_lines_are_dropped_and_the_stream_goes_on() {
    let mut h = H::with(MuxConfig {
        max_line_bytes: 64,
        ..MuxConfig::default()
    });
    h.submit(1, r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#);
    h.mux.handle_child_output(
        h.now,
        b"Server listening on stdio\n\xff\xfe\n[1,\n{\"x\":1}\n",
    );
    h.mux.handle_child_output(h.now, &[b'x'; 1000]);
    h.mux
        .handle_child_output(h.now, b"\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n");
    h.pump();
    assert_eq!(
        h.terminal_json(1),
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
    );
    let malformed = h
        .events
        .iter()
        .filter(|e| matches!(e, MuxEvent::MalformedLine { .. }))
        .count();
    assert_eq!(malformed, 4);
    assert!(h.events.contains(&MuxEvent::OversizedLine { len: 1000 }));
}

#[test]
fn batches_from_the_child_are_split() {
    let mut h = H::new();
    h.submit(1, r#"{"jsonrpc":"2.0","id":"a","method":"a"}"#);
    h.submit(2, r#"{"jsonrpc":"2.0","id":"b","method":"b"}"#);
    h.child(r#"[{"jsonrpc":"2.0","id":2,"result":2},{"jsonrpc":"2.0","id":1,"result":1}]"#);
    let got = h.take();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, CommandId(2));
}

#[test]
fn pretty_printed_messages_are_written_on_one_line() {
    let mut h = H::new();
    h.submit(
        1,
        "{\r\n  \"jsonrpc\": \"2.0\",\n  \"id\": 1,\n  \"method\": \"a\\nb\"\n}",
    );
    let w = h.written();
    assert_eq!(
        w[0],
        "{    \"jsonrpc\": \"2.0\",   \"id\": 1,   \"method\": \"a\\nb\" }"
    );
}

#[test]
fn ttl_bounds_a_request_without_deadline() {
    let mut h = H::with(MuxConfig {
        ttl: Duration::from_secs(60),
        ..MuxConfig::default()
    });
    h.submit(1, r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#);
    assert_eq!(h.mux.poll_timeout(), Some(h.now + Duration::from_secs(60)));
    h.advance(Duration::from_secs(60));
    assert!(
        matches!(&h.take()[..], [(CommandId(1), o)] if is_abandon(o)),
        "the owner cannot know the TTL"
    );
    assert!(h.events.iter().any(|e| matches!(
        e,
        MuxEvent::Retired {
            reason: "connection TTL reached",
            ..
        }
    )));
}

#[test]
fn duplicate_id_member_is_refused() {
    let mut h = H::new();
    h.submit(1, r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"a"}"#);
    assert!(h.written().is_empty());
    assert_eq!(
        failure_of(&h.take()[0].1).map(|f| f.source()),
        Some(Source::ClientInternal)
    );
}

// ---- property: random interleavings never deliver to the wrong command ----------------

#[derive(Debug, Clone)]
enum Op {
    /// Submit a request with this original id (small range: collisions) and token.
    Submit {
        orig: u8,
        token: Option<u8>,
    },
    /// The child answers the i-th outstanding request it has seen (mod len).
    Answer(usize),
    /// The child sends progress for the i-th outstanding request.
    Progress(usize),
    /// The child sends a notification with no hint.
    Log,
    Cancel(usize),
    Advance(u8),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, proptest::option::of(0u8..2)).prop_map(|(orig, token)| Op::Submit { orig, token }),
        4 => any::<usize>().prop_map(Op::Answer),
        3 => any::<usize>().prop_map(Op::Progress),
        1 => Just(Op::Log),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => (0u8..8).prop_map(Op::Advance),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #[test]
    fn prop_interleavings_never_deliver_to_the_wrong_command(ops in proptest::collection::vec(op(), 1..60)) {
        let mut h = H::with(MuxConfig { ttl: Duration::from_secs(20), ..MuxConfig::default() });
        // What the child saw: (tunnel id, progress token, tag = command number).
        let mut seen: Vec<(Value, Option<Value>, u64)> = Vec::new();
        let mut orig_of: std::collections::HashMap<u64, (u8, Option<u8>)> = Default::default();
        let mut finished: std::collections::HashSet<u64> = Default::default();
        let mut next_cmd = 1u64;
        for op in ops {
            match op {
                Op::Submit { orig, token } => {
                    let cmd = next_cmd;
                    next_cmd += 1;
                    let meta = token.map(|t| format!(r#","_meta":{{"progressToken":{t}}}"#)).unwrap_or_default();
                    h.submit_at(cmd, &format!(r#"{{"jsonrpc":"2.0","id":{orig},"method":"m","params":{{"tag":{cmd}{meta}}}}}"#), Some(Duration::from_secs(5)));
                    orig_of.insert(cmd, (orig, token));
                }
                Op::Answer(i) if !seen.is_empty() => {
                    let (id, _, tag) = seen.remove(i % seen.len());
                    h.child(&format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tag":{tag}}}}}"#));
                }
                Op::Progress(i) if !seen.is_empty() => {
                    let (_, tok, tag) = &seen[i % seen.len()];
                    if let Some(tok) = tok {
                        h.child(&format!(r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":{tok},"tag":{tag}}}}}"#));
                    }
                }
                Op::Log => h.child(r#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#),
                Op::Cancel(i) if next_cmd > 1 => {
                    h.mux.handle_cancel(h.now, CommandId(1 + (i as u64 % (next_cmd - 1))));
                    h.pump();
                }
                Op::Advance(s) => h.advance(Duration::from_secs(u64::from(s))),
                Op::Restart => {
                    h.mux.handle_child_eof(h.now);
                    h.mux.handle_child_started(h.now);
                    h.pump();
                    seen.clear();
                }
                _ => {}
            }
            // The child reads what was written.
            for w in h.written() {
                let v: Value = serde_json::from_str(&w).unwrap();
                if v["method"] == "m" {
                    let tok = v["params"]["_meta"].get("progressToken").cloned();
                    seen.push((v["id"].clone(), tok, v["params"]["tag"].as_u64().unwrap()));
                }
            }
            for (cmd, out) in h.take() {
                let CommandId(c) = cmd;
                prop_assert!(!finished.contains(&c), "output after terminal for {}", c);
                let (orig, token) = orig_of[&c];
                match out {
                    McpOutput::Terminal(Terminal::JsonRpc { json, .. }) => {
                        let v: Value = serde_json::from_str(json.get()).unwrap();
                        prop_assert_eq!(&v["result"]["tag"], &json!(c), "wrong command");
                        prop_assert_eq!(&v["id"], &json!(orig), "original id restored");
                        finished.insert(c);
                    }
                    McpOutput::Notify(n) => {
                        let v: Value = serde_json::from_str(n.get()).unwrap();
                        if v["method"] == "notifications/progress" {
                            prop_assert_eq!(&v["params"]["tag"], &json!(c), "progress to the wrong command");
                            prop_assert_eq!(&v["params"]["progressToken"], &json!(token.unwrap()));
                        }
                    }
                    McpOutput::Terminal(_) => { finished.insert(c); }
                }
            }
        }
    }
}

/// Pieces that make random child output reach the parsing paths, not just the framer.
fn child_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.to_string()),
        Just(r#"{"jsonrpc":"2.0","id":"x","method":"sampling/createMessage"}"#.to_string()),
        Just(
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":2}}"#
                .to_string()
        ),
        Just(
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}}"#
                .to_string()
        ),
        Just(r#"[{"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"m"}}]"#.to_string()),
        Just(r#"{"jsonrpc":"2.0","id":1,"id":1,"result":1}"#.to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        "[ -~]{0,12}",
        any::<u8>().prop_map(|b| String::from_utf8_lossy(&[b]).into_owned()),
    ]
}

proptest! {
    #[test]
    fn prop_arbitrary_child_output_never_panics_or_misdelivers(
        pieces in proptest::collection::vec(child_piece(), 0..40),
        cut in any::<usize>(),
    ) {
        let mut h = H::with(MuxConfig { max_line_bytes: 64, ..MuxConfig::default() });
        h.submit(1, r#"{"jsonrpc":"2.0","id":"a","method":"a","params":{"_meta":{"progressToken":"t"}}}"#);
        h.submit(2, r#"{"jsonrpc":"2.0","id":"b","method":"b"}"#);
        let bytes = pieces.concat().into_bytes();
        let (a, b) = bytes.split_at(cut % (bytes.len() + 1));
        h.mux.handle_child_output(h.now, a);
        h.mux.handle_child_output(h.now, b);
        h.mux.handle_child_eof(h.now);
        h.pump();
        for (cmd, out) in h.take() {
            prop_assert!(cmd == CommandId(1) || cmd == CommandId(2));
            if let McpOutput::Terminal(Terminal::JsonRpc { json, .. }) = out {
                let v: Value = serde_json::from_str(json.get()).unwrap();
                let want = if cmd == CommandId(1) { "a" } else { "b" };
                prop_assert_eq!(&v["id"], &json!(want));
            }
        }
        prop_assert_eq!(h.mux.in_flight(), 0);
    }
}
