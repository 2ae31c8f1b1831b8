//! Scale-out: several `tunnel-client run` replicas polling one tunnel, as operators run them
//! behind a Deployment. The control plane (here the emulator) hands each command to exactly
//! one poller; these tests show that nothing is answered twice, that a rolling update
//! (SIGTERM, graceful drain) loses nothing, and that a crash (SIGKILL) loses only what the
//! crashed replica had already taken. Everything is on 127.0.0.1 and bounded in time and
//! count.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Client;
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig, PostedResponse};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
use tunnel_conformance::peers::Peers;

/// Commands in the load run, and the gap between two enqueues (≈3 s of load).
const COMMANDS: usize = 360;
const GAP: Duration = Duration::from_millis(8);
/// Each command is a `slow` tool call this long, so every replica has work in flight when
/// it is signalled.
const CALL_MS: u64 = 60;
/// Upper bound on the whole run once the load is queued.
const SETTLE: Duration = Duration::from_secs(60);

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        workers: 64,
        ..EmulatorConfig::default()
    })
    .expect("emulator")
}

/// Starts a replica and returns it with its `X-Tunnel-Client-Instance-Id`, learnt from the
/// first poll carrying an id not seen before.
fn replica(emu: &Emulator, args: &[String], known: &mut BTreeSet<String>) -> (Client, String) {
    let client = Client::start(emu, args);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fresh = emu.polls().into_iter().find_map(|p| {
            p.header("X-Tunnel-Client-Instance-Id")
                .filter(|id| !known.contains(*id))
                .map(str::to_string)
        });
        if let Some(id) = fresh {
            known.insert(id.clone());
            return (client, id);
        }
        assert!(
            Instant::now() < deadline,
            "replica never polled:\n{}",
            client.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn slow_call(n: usize) -> CommandSpec {
    CommandSpec::jsonrpc(json!({
        "jsonrpc": "2.0", "id": n, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": CALL_MS, "steps": 1}}
    }))
}

/// Terminal posts per request id.
fn terminals(posts: &[PostedResponse]) -> BTreeMap<String, Vec<&PostedResponse>> {
    let mut out: BTreeMap<String, Vec<&PostedResponse>> = BTreeMap::new();
    for p in posts.iter().filter(|p| p.is_terminal()) {
        out.entry(p.request_id.clone()).or_default().push(p);
    }
    out
}

#[test]
fn three_replicas_rolling_restart_loses_nothing_and_a_crash_loses_only_what_it_held() {
    let emu = emulator();
    let stub = McpStub::start(StubConfig {
        require_session: false,
        workers: 48,
        ..StubConfig::default()
    })
    .expect("MCP stub");
    let args = vec!["--mcp.server-url".to_string(), stub.url()];
    let mut known = BTreeSet::new();
    let (mut drained, drained_id) = replica(&emu, &args, &mut known);
    let (mut crashed, crashed_id) = replica(&emu, &args, &mut known);
    let (survivor, survivor_id) = replica(&emu, &args, &mut known);
    for c in [&drained, &crashed, &survivor] {
        c.wait_for("/readyz", 200, "ready", Duration::from_secs(20));
    }

    // The load: a steady stream of calls; one replica gets SIGTERM a third of the way in
    // (a rolling update), another SIGKILL two thirds in (a crash).
    let mut ids = Vec::with_capacity(COMMANDS);
    let mut term_at = None;
    let mut kill_at = None;
    let mut drained_exit = None;
    for n in 0..COMMANDS {
        ids.push(emu.enqueue(slow_call(n)));
        if n == COMMANDS / 3 {
            drained.signal("TERM");
            term_at = Some(Instant::now());
        }
        if n == 2 * COMMANDS / 3 {
            crashed.signal("KILL");
            kill_at = Some(Instant::now());
        }
        if let (Some(t), None) = (term_at, drained_exit) {
            if let Ok(Some(status)) = drained.child.try_wait() {
                drained_exit = Some((t.elapsed(), status));
            }
        }
        std::thread::sleep(GAP);
    }
    let term_at = term_at.unwrap();
    let _ = kill_at.unwrap();

    // The drained replica finishes what it took and exits 0, within the drain bound.
    let status = drained.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "drain exit: {status}\n{}", drained.logs());
    let drain_took = drained_exit.map_or_else(|| term_at.elapsed(), |(d, _)| d);
    assert!(
        drained.logs().contains("drain complete"),
        "{}",
        drained.logs()
    );
    let _ = crashed.wait_exit(Duration::from_secs(10));

    // Wait until every command the crashed replica did not hold has its terminal response.
    let held_by = |id: &str| {
        emu.handouts()
            .into_iter()
            .find(|h| h.request_id == id)
            .and_then(|h| h.poller)
    };
    let name = |id: &str| {
        if id == drained_id {
            "SIGTERM (drained)"
        } else if id == crashed_id {
            "SIGKILL (crashed)"
        } else if id == survivor_id {
            "survivor"
        } else {
            "unknown"
        }
    };
    let deadline = Instant::now() + SETTLE;
    for id in &ids {
        if held_by(id).as_deref() == Some(crashed_id.as_str()) {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            emu.wait_terminal(id, left).is_some(),
            "{id} (taken by the {} replica) never answered; its logs:\n{}",
            held_by(id).as_deref().map_or("no", name),
            if held_by(id).as_deref() == Some(drained_id.as_str()) {
                drained.logs()
            } else {
                survivor.logs()
            }
        );
    }
    assert_eq!(emu.pending_commands(), 0, "commands left in the queue");

    let handouts = emu.handouts();
    let posts = emu.responses();
    let terms = terminals(&posts);

    // Each command went to exactly one poller.
    let mut handed: BTreeMap<&str, &str> = BTreeMap::new();
    for h in &handouts {
        let poller = h.poller.as_deref().expect("polls carry an instance id");
        assert!(
            handed.insert(&h.request_id, poller).is_none(),
            "{} handed out twice",
            h.request_id
        );
    }
    assert_eq!(handed.len(), COMMANDS, "every command was handed out");

    let mut per_replica: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut lost = Vec::new();
    for id in &ids {
        let poller = handed[id.as_str()];
        let answers = terms.get(id).map_or(0, Vec::len);
        assert!(answers <= 1, "{id} answered {answers} times");
        let e = per_replica.entry(poller).or_default();
        e.0 += 1;
        e.1 += answers;
        if answers == 0 {
            assert_eq!(
                poller, crashed_id,
                "{id} lost by a replica that was not killed"
            );
            lost.push(id.clone());
            continue;
        }
        let t = terms[id][0];
        assert_eq!(t.resp_type, "jsonrpc_response", "{t:?}");
        assert_eq!(t.resp_code, 200, "{t:?}");
        let result: &Value = &t.resp_json.as_ref().expect("resp_json")["result"];
        assert!(result.get("content").is_some(), "{result}");
        // The replica that posted is the one that took it.
        let poster = t
            .http_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("X-Tunnel-Client-Instance-Id"))
            .map(|(_, v)| v.as_str());
        assert_eq!(poster, Some(poller), "{id}");
    }
    let violations = emu.violations();
    assert!(violations.is_empty(), "{violations:#?}");
    // HTTP replicas declare their channel without proc_affinity (any replica may serve it).
    for p in emu.polls() {
        let info: Value =
            serde_json::from_str(p.header("X-Tunnel-MCP-Server-Info").expect("server info"))
                .expect("server info is JSON");
        assert_eq!(info, json!({"version": 1, "channels": [{"name": "main"}]}));
    }

    println!("replicas: {COMMANDS} commands of {CALL_MS} ms over 3 replicas");
    for (id, (taken, answered)) in &per_replica {
        println!("  {:<18} took {taken:>4}, answered {answered:>4}", name(id));
    }
    println!(
        "  drained replica exited 0 within {:.2} s of SIGTERM",
        drain_took.as_secs_f64()
    );
    println!(
        "  lost to SIGKILL: {} (taken by the killed replica, never answered)",
        lost.len()
    );
    assert!(
        per_replica
            .get(drained_id.as_str())
            .is_some_and(|t| t.0 > 0),
        "the drained replica took part in the load: {per_replica:?}"
    );
    assert!(
        per_replica
            .get(survivor_id.as_str())
            .is_some_and(|t| t.0 > 0),
        "the survivor took part in the load: {per_replica:?}"
    );
    // The crashed replica can only have been holding what fits in its prefetch buffer and
    // its MCP workers (20 + 10 by default).
    assert!(lost.len() <= 30, "lost {} commands", lost.len());
}

/// A replica serving a stdio MCP server tells the control plane its channel needs process
/// affinity (an MCP session lives in one child process), and HTTP replicas do not.
#[test]
fn stdio_replicas_declare_proc_affinity_and_share_the_tunnel() {
    let peers = Peers::require();
    let emu = emulator();
    let command = peers.python_stdio_argv().join(" ");
    let args = vec!["--mcp.command".to_string(), command];
    let mut known = BTreeSet::new();
    let (a, a_id) = replica(&emu, &args, &mut known);
    let (b, b_id) = replica(&emu, &args, &mut known);
    for c in [&a, &b] {
        c.wait_for("/readyz", 200, "ready", Duration::from_secs(20));
    }
    for p in emu.polls() {
        let info = p
            .header("X-Tunnel-MCP-Server-Info")
            .expect("server info on every poll");
        let info: Value = serde_json::from_str(info).expect("server info is JSON");
        assert_eq!(
            info,
            json!({"version": 1, "channels": [{"name": "main", "proc_affinity": true}]}),
        );
    }
    // Both answer tools/list; each command exactly once, by the replica that took it.
    let ids: Vec<String> = (0..20)
        .map(|n| {
            emu.enqueue(CommandSpec::jsonrpc(
                json!({"jsonrpc": "2.0", "id": n, "method": "tools/list"}),
            ))
        })
        .collect();
    for id in &ids {
        let posts = emu
            .wait_terminal(id, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{id} unanswered:\n{}\n{}", a.logs(), b.logs()));
        assert_eq!(posts.iter().filter(|p| p.is_terminal()).count(), 1);
        assert_eq!(posts.last().unwrap().resp_code, 200);
    }
    let handouts = emu.handouts();
    assert_eq!(handouts.len(), ids.len(), "each command handed out once");
    assert!(handouts
        .iter()
        .all(|h| [&a_id, &b_id].contains(&h.poller.as_ref().unwrap())));
    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());
}
