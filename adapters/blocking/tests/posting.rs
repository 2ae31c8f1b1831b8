//! Response delivery behind a slow control plane (issue #22): POSTs run concurrently, up to
//! the configured bound, so a fast response never waits behind slow ones.

use std::time::Duration;

use serde_json::json;
use tunnel_blocking::{HttpTarget, Runtime, RuntimeOptions};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig, Fault};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::EngineConfig;

/// More slow POSTs than the old fixed pool had threads (4), fewer than `max_inflight`.
const SLOW: usize = 6;
const SLOW_POST: Duration = Duration::from_secs(6);

#[test]
fn a_fast_response_is_posted_while_slow_posts_are_still_in_flight() {
    let emu = Emulator::start(EmulatorConfig {
        ingress_response_timeout: None,
        ..EmulatorConfig::default()
    })
    .expect("emulator");
    let stub = McpStub::start(StubConfig {
        require_session: false,
        ..StubConfig::default()
    })
    .expect("stub");
    let mut cfg = EngineConfig::new(
        emu.control_plane_url().parse().unwrap(),
        emu.tunnel_id(),
        emu.api_key(),
    );
    cfg.poll_timeout = Duration::from_secs(2);
    cfg.max_inflight = 20;
    cfg.max_concurrent = 4;
    let rt = Runtime::start(
        cfg,
        RuntimeOptions {
            mcp_targets: vec![HttpTarget::new(ChannelName::main(), stub.url())],
            drain_timeout: Duration::from_secs(1),
            ..RuntimeOptions::default()
        },
    )
    .expect("runtime starts");
    let ping = |i: u64| CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":i,"method":"ping"}));

    let slow: Vec<String> = (0..SLOW as u64)
        .map(|i| {
            let id = emu.enqueue(ping(i));
            emu.script_response_for(&id, Fault::Delay(SLOW_POST));
            id
        })
        .collect();
    // Every slow POST has reached the service and is being held there.
    emu.wait_requests("/response", SLOW, Duration::from_secs(5))
        .expect("the slow POSTs are all in flight at once");

    let fast = emu.enqueue(ping(100));
    let posted = emu.wait_terminal(&fast, SLOW_POST - Duration::from_secs(1));
    assert!(
        posted.is_some(),
        "the fast response waited behind the slow POSTs"
    );
    for id in &slow {
        assert!(
            emu.responses_for(id).is_empty(),
            "{id}: slow POST already answered, the test proved nothing"
        );
    }
    // The slow ones land too, once the service answers them.
    for id in &slow {
        assert!(
            emu.wait_terminal(id, SLOW_POST + Duration::from_secs(5))
                .is_some(),
            "{id} lost"
        );
    }
    drop(rt);
}
