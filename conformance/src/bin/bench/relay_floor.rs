//! The client-side floor: a relay that performs the same exchanges as `tunnel-client run`
//! for each command (long poll, the MCP request, the response POST) on one thread, with
//! the same HTTP library and keep-alive, and nothing else: no engine, no deadlines, no
//! retries, no redaction, no metrics, no second thread.
//!
//! It runs as its own process (`bench --relay-floor`, started by the bench under the same
//! `taskset` as the client), so its CPU per command is read from `/proc` exactly as the
//! client's is. What the client spends above it is what its design costs; what the relay
//! spends is what loopback TCP and HTTP/1.1 cost on this machine whatever the design.
//! It is a measuring instrument, not a client: it handles only what the bench sends. Its
//! polls ask for 25 commands, the most the control plane hands out at once.

use std::time::Duration;

use serde_json::{json, Map, Value};

/// Headers of a command copied onto the MCP request, and of the MCP answer copied back.
const FORWARD: [&str; 4] = [
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
];

/// Runs until the control plane stops answering. Arguments from the environment:
/// `RELAY_CP` (the tunnel's control-plane base, `…/v1/tunnels/<id>`), `RELAY_MCP` (the MCP
/// server URL) and `CONTROL_PLANE_API_KEY`.
pub fn run() -> ! {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            eprintln!("relay-floor: {k} is not set");
            std::process::exit(2)
        })
    };
    let (cp, mcp, key) = (
        var("RELAY_CP"),
        var("RELAY_MCP"),
        var("CONTROL_PLANE_API_KEY"),
    );
    // No timeout: with one, ureq resolves each request's host on a thread of its own (an
    // IP literal included), which is a cost of that setting and not of relaying. The bench
    // kills the relay when it is done.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let bearer = format!("Bearer {key}");
    let poll = format!("{cp}/poll?limit=25&timeout_ms=2000");
    let post_url = format!("{cp}/response");
    let mut failures = 0;
    loop {
        let body = agent
            .get(&poll)
            .header("Authorization", &bearer)
            .header("Accept", "application/json")
            .call()
            .and_then(|mut r| {
                let status = r.status().as_u16();
                let body = r.body_mut().read_to_vec()?;
                // 204: the long poll ended without commands.
                if status != 200 && status != 204 {
                    eprintln!(
                        "relay-floor: poll: HTTP {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                    return Err(ureq::Error::StatusCode(status));
                }
                Ok(body)
            });
        let Ok(body) = body else {
            failures += 1;
            if failures > 20 {
                std::process::exit(0); // the bench stopped the emulator
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        failures = 0;
        let batch: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        for cmd in batch["commands"].as_array().into_iter().flatten() {
            let (resp_code, resp_headers, resp_json) = forward(&agent, &mcp, cmd);
            let resp_type = if resp_json.is_some() {
                "jsonrpc_response"
            } else {
                "notify_ack"
            };
            let post = json!({
                "request_id": cmd["request_id"],
                "channel": cmd["channel"],
                "resp_code": resp_code,
                "resp_headers": resp_headers,
                "resp_json": resp_json,
                "resp_type": resp_type,
            });
            let _ = agent
                .post(&post_url)
                .header("Authorization", &bearer)
                .header("Content-Type", "application/json")
                .header(
                    "X-Tunnel-Shard-Token",
                    cmd["shard_token"].as_str().unwrap_or_default(),
                )
                .send(serde_json::to_vec(&post).unwrap_or_default())
                .and_then(|mut r| {
                    let status = r.status().as_u16();
                    let body = r.body_mut().read_to_vec()?;
                    if !(200..300).contains(&status) {
                        eprintln!(
                            "relay-floor: response: HTTP {status}: {}",
                            String::from_utf8_lossy(&body)
                        );
                    }
                    Ok(())
                });
        }
    }
}

/// One MCP exchange: (status, headers to copy back, the JSON-RPC answer if any).
fn forward(agent: &ureq::Agent, url: &str, cmd: &Value) -> (u16, Value, Option<Value>) {
    let mut req = agent.post(url);
    if let Some(h) = cmd["headers"].as_object() {
        for (k, v) in h {
            let v = v.get(0).and_then(Value::as_str).unwrap_or_default();
            if FORWARD.contains(&k.to_ascii_lowercase().as_str()) {
                req = req.header(k.as_str(), v);
            }
        }
    }
    let sent = req
        .send(serde_json::to_vec(&cmd["jsonrpc"]).unwrap_or_default())
        .and_then(|mut r| {
            let status = r.status().as_u16();
            let mut headers = Map::new();
            for name in FORWARD {
                if let Some(v) = r.headers().get(name).and_then(|v| v.to_str().ok()) {
                    headers.insert(name.into(), json!([v]));
                }
            }
            r.body_mut()
                .read_to_string()
                .map(|body| (status, headers, body))
        });
    let Ok((status, headers, body)) = sent else {
        return (502, json!({}), None);
    };
    let text = if body.trim_start().starts_with('{') || body.trim().is_empty() {
        body.as_str()
    } else {
        crate::last_sse_data(&body).unwrap_or("")
    };
    let answer = serde_json::from_str(text).ok().filter(Value::is_object);
    (status, Value::Object(headers), answer)
}
