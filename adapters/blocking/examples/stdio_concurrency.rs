//! Benchmark: 64 concurrent 100 ms tool calls on one stdio child, through the control-plane
//! emulator and a real `Runtime`. Prints wall times next to the 6.4 s a serialising client
//! (the Go one: one request at a time per stdio child) needs at least. Never asserts.
//!
//! ```sh
//! .ci/install-peers   # once
//! cargo run --release -p tunnel-blocking --example stdio_concurrency
//! ```
//!
//! The child is the Python `mcp` SDK peer (`slow` tool, `ms=100`), once without and once
//! with progress notifications (4 per call, each posted to the control plane).

use std::time::{Duration, Instant};

use serde_json::json;
use tunnel_blocking::{Runtime, RuntimeOptions, StdioTarget};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
use tunnel_conformance::peers::Peers;
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{Binding, BindingKind, EngineConfig};

const CALLS: usize = 64;
const CALL_MS: u64 = 100;
const RUNS: usize = 5;
const WAIT: Duration = Duration::from_secs(60);

fn wait_all(emu: &Emulator, ids: &[String]) -> Option<()> {
    for id in ids {
        let posts = emu.wait_terminal(id, WAIT)?;
        let ok = posts
            .last()
            .and_then(|p| p.resp_json.as_ref())
            .is_some_and(|v| v.get("result").is_some());
        if !ok {
            eprintln!("call {id} failed: {:?}", posts.last().map(|p| &p.body));
            return None;
        }
    }
    Some(())
}

fn batch(emu: &Emulator, progress: bool) -> Option<Duration> {
    let t0 = Instant::now();
    let ids: Vec<String> = (0..CALLS)
        .map(|i| {
            let mut params = json!({"name":"slow","arguments":{"ms":CALL_MS}});
            if progress {
                params["_meta"] = json!({"progressToken": i});
            }
            emu.enqueue(CommandSpec::jsonrpc(
                json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":params}),
            ))
        })
        .collect();
    wait_all(emu, &ids)?;
    Some(t0.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let Some(peers) = Peers::find() else {
        println!("MCP peers not installed: run .ci/install-peers");
        return;
    };
    let emu = Emulator::start(EmulatorConfig {
        ingress_response_timeout: None,
        workers: 64,
        ..EmulatorConfig::default()
    })
    .expect("emulator");
    let mut cfg = EngineConfig::new(
        emu.control_plane_url().parse().expect("URL"),
        emu.tunnel_id(),
        emu.api_key(),
    );
    cfg.poll_timeout = Duration::from_secs(5);
    cfg.max_concurrent = CALLS;
    cfg.max_inflight = 2 * CALLS;
    cfg.bindings = vec![Binding {
        channel: ChannelName::main(),
        kind: BindingKind::Stdio,
        extra_headers: Vec::new(),
    }];
    let opts = RuntimeOptions {
        stdio_targets: vec![StdioTarget::new(
            ChannelName::main(),
            peers.python_stdio_argv(),
        )],
        ..RuntimeOptions::default()
    };
    let rt = Runtime::start(cfg, opts).expect("runtime");

    // Warm up: the Python peer takes about a second to import; initialize as a connector.
    let init = emu.enqueue(CommandSpec::jsonrpc(json!({"jsonrpc":"2.0","id":0,"method":"initialize",
        "params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}})));
    emu.wait_terminal(&init, WAIT).expect("initialize");
    let note = emu.enqueue(CommandSpec::jsonrpc(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    ));
    emu.wait_terminal(&note, WAIT).expect("initialized");
    batch(&emu, false).expect("warm-up batch");

    let serial = Duration::from_millis(CALL_MS * CALLS as u64);
    println!(
        "{CALLS} concurrent {CALL_MS} ms tool calls on one stdio child (Python mcp SDK), {RUNS} runs each; serial bound {:.2} s",
        serial.as_secs_f64()
    );
    for progress in [false, true] {
        let mut walls = Vec::new();
        for _ in 0..RUNS {
            match batch(&emu, progress) {
                Some(w) => walls.push(w),
                None => {
                    println!("a batch failed; stopping");
                    return;
                }
            }
        }
        let m = median(walls.clone());
        println!(
            "  {:<28} median {:>4} ms (runs: {}) = {:.1}x faster than serial",
            if progress {
                "with 4 progress notes/call:"
            } else {
                "without progress:"
            },
            m.as_millis(),
            walls
                .iter()
                .map(|w| format!("{}", w.as_millis()))
                .collect::<Vec<_>>()
                .join(", "),
            serial.as_secs_f64() / m.as_secs_f64()
        );
    }
    rt.begin_drain();
    let _ = rt.join();
}
