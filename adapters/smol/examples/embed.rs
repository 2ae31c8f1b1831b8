//! Embedding the tunnel in a host that runs its own executor, with its MCP server in-process.
//!
//! The host here owns an `async_executor::Executor` (no tokio, no smol runtime) and runs
//! three kinds of work on it: its own business (a heartbeat task), the tunnel driver from
//! `tunnel_smol::start`, and — through `BindingKind::InProcess` — the MCP server itself: a
//! plain Rust value implementing `InProcessHandler`. No port is opened for MCP and no child
//! is started; commands from the control plane become function calls.
//!
//! For a self-contained run the control plane is the conformance emulator on 127.0.0.1.
//! The example queues a few commands as a connector would, checks the responses, drains the
//! tunnel and exits 0 (non-zero if anything is off). `cargo run -p tunnel-smol --example
//! embed`; `cargo test` runs it too (`tests/embedding_example.rs`). See docs/embedding.md.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_executor::Executor;
use serde_json::{json, Value};
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::{Binding, BindingKind, EngineConfig};
use tunnel_smol::{start, InProcessHandler, InProcessReply, ReplyFuture, RuntimeOptions};

/// The host's MCP server: a counter with two tools, living in the host's memory.
#[derive(Default)]
struct CounterServer {
    count: AtomicUsize,
}

impl CounterServer {
    fn answer(&self, msg: &Value) -> InProcessReply {
        let id = msg.get("id").cloned();
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let result = match method {
            "initialize" => json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "embedded-counter", "version": "1.0.0"}
            }),
            "tools/list" => json!({"tools": [
                {"name": "increment", "description": "add one", "inputSchema": {"type": "object"}},
                {"name": "read", "description": "current value", "inputSchema": {"type": "object"}}
            ]}),
            "tools/call" => {
                let tool = msg["params"]["name"].as_str().unwrap_or_default();
                let value = match tool {
                    "increment" => self.count.fetch_add(1, Ordering::SeqCst) + 1,
                    _ => self.count.load(Ordering::SeqCst),
                };
                json!({"content": [{"type": "text", "text": value.to_string()}],
                       "structuredContent": {"value": value}})
            }
            _ if id.is_none() => return InProcessReply::default(), // a notification
            _ => {
                return InProcessReply {
                    notifications: Vec::new(),
                    response: Some(
                        json!({"jsonrpc": "2.0", "id": id,
                               "error": {"code": -32601, "message": "method not found"}})
                        .to_string(),
                    ),
                }
            }
        };
        // A progress notification first, to show that streaming works in-process too.
        let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                              "params": {"progressToken": method, "progress": 1}});
        InProcessReply {
            notifications: vec![progress.to_string()],
            response: Some(json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()),
        }
    }
}

impl InProcessHandler for CounterServer {
    fn call(&self, message: &str) -> ReplyFuture {
        let reply = serde_json::from_str(message)
            .map(|m: Value| self.answer(&m))
            .unwrap_or_default();
        Box::pin(async move { reply })
    }
}

/// Runs the whole example; `Err` says what went wrong.
pub fn run() -> Result<(), String> {
    let emu = Emulator::start(EmulatorConfig::default()).map_err(|e| e.to_string())?;

    // The engine configuration a host builds from its own settings.
    let base = emu
        .control_plane_url()
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut cfg = EngineConfig::new(base, emu.tunnel_id(), emu.api_key());
    cfg.poll_timeout = Duration::from_secs(2);
    cfg.bindings = vec![Binding {
        channel: ChannelName::main(),
        kind: BindingKind::InProcess,
        extra_headers: Vec::new(),
    }];
    let server = Arc::new(CounterServer::default());
    let opts = RuntimeOptions {
        in_process: vec![(
            ChannelName::main(),
            server.clone() as Arc<dyn InProcessHandler>,
        )],
        drain_timeout: Duration::from_secs(5),
        ..RuntimeOptions::default()
    };
    let (tunnel, driver) = start(cfg, opts).map_err(|e| e.to_string())?;

    // The host's own executor, with the tunnel as one task among others.
    let ex = Executor::new();
    let beats = Arc::new(AtomicUsize::new(0));
    let heartbeat = {
        let beats = beats.clone();
        ex.spawn(async move {
            loop {
                async_io::Timer::after(Duration::from_millis(50)).await;
                beats.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let tunnel_task = ex.spawn(driver);

    // A connector's session, queued at the control plane.
    let calls = [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"example","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"increment","arguments":{}}}),
        json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"increment","arguments":{}}}),
        json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"read","arguments":{}}}),
    ];
    let main = async {
        let mut answers = Vec::new();
        for call in calls {
            let id = emu.enqueue(CommandSpec::jsonrpc(call));
            // The emulator's wait is blocking; keep the executor turning meanwhile.
            let posts = loop {
                if let Some(p) = emu.wait_terminal(&id, Duration::from_millis(1)) {
                    break p;
                }
                async_io::Timer::after(Duration::from_millis(10)).await;
            };
            answers.push(posts);
        }
        tunnel.begin_drain();
        let finished = tunnel_task.await;
        (answers, finished)
    };
    let (answers, finished) = futures_lite::future::block_on(ex.run(main));
    drop(heartbeat);

    for posts in &answers {
        let last = posts.last().ok_or("no response")?;
        println!(
            "{:<14} {} {}",
            last.resp_type,
            last.resp_code,
            last.resp_json
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default()
        );
    }
    let final_value = &answers[5].last().ok_or("no read")?.resp_json;
    let value = final_value
        .as_ref()
        .and_then(|v| v["result"]["structuredContent"]["value"].as_u64());
    if value != Some(2) {
        return Err(format!("counter read {value:?}, expected 2"));
    }
    if answers[1].last().map(|p| p.resp_type.as_str()) != Some("notify_ack") {
        return Err("notifications/initialized was not acknowledged".into());
    }
    if answers[2][0].resp_type != "jsonrpc_notify" {
        return Err("the progress notification was not relayed first".into());
    }
    if !emu.violations().is_empty() {
        return Err(format!("contract violations: {:?}", emu.violations()));
    }
    println!(
        "drained ({} abandoned); host heartbeat ticked {} times meanwhile",
        finished.abandoned,
        beats.load(Ordering::Relaxed)
    );
    Ok(())
}

#[cfg_attr(test, allow(dead_code))]
fn main() {
    if let Err(e) = run() {
        eprintln!("embedding example failed: {e}");
        std::process::exit(1);
    }
}
