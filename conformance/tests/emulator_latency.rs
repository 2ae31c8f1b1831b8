//! The emulator's latency knob over real loopback HTTP: a poll that carries commands and a
//! response POST each take at least the added round trip, and the service sees the POST
//! only after it (issue #22: "across the internet" on loopback).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig, Latency};

const RTT: Duration = Duration::from_millis(150);

#[test]
fn polls_with_commands_and_response_posts_take_the_added_round_trip() {
    let emu = Emulator::start(EmulatorConfig {
        latency: Latency::uniform(RTT),
        ..EmulatorConfig::default()
    })
    .expect("emulator starts");
    assert_eq!(emu.latency().post, RTT);
    let a = agent();
    let id = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
    ));
    let t0 = Instant::now();
    let r = poll(&a, &emu, "limit=1&timeout_ms=2000");
    assert_eq!(r.status, 200);
    assert!(t0.elapsed() >= RTT, "poll answered in {:?}", t0.elapsed());
    assert_eq!(emu.pending_commands(), 0, "the command left the queue");
    let token = r.json()["commands"][0]["shard_token"]
        .as_str()
        .unwrap()
        .to_string();
    let payload = json!({"request_id": id, "channel": "main", "resp_code": 200,
        "resp_type": "jsonrpc_response", "resp_headers": {"Content-Type": ["application/json"]},
        "resp_json": {"jsonrpc":"2.0","id":1,"result":{}}});
    let t0 = Instant::now();
    let r = std::thread::scope(|s| {
        let h = s.spawn(|| post_response(&a, &emu, &token, &payload));
        // Half-way through the round trip the service has not seen the response yet.
        std::thread::sleep(RTT / 2);
        assert!(
            emu.responses_for(&id).is_empty(),
            "recorded before the delay"
        );
        h.join().unwrap()
    });
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(t0.elapsed() >= RTT, "POST answered in {:?}", t0.elapsed());
    assert_eq!(emu.responses_for(&id).len(), 1);

    // Changeable while running (bench sweeps latencies on one emulator).
    emu.set_latency(Latency::default());
    assert!(emu.latency().is_zero());
}
