//! JSON-RPC methods and tools of the stub, independent of HTTP.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::StubCtx;

/// The sessionless revision.
pub(crate) const MODERN: &str = "2026-07-28";
/// Versions `initialize` accepts as asked; anything else gets the newest of them.
pub(crate) const LEGACY: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// A JSON-RPC error plus the HTTP status to send it with (JSON mode only).
pub(crate) struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
    pub http_status: u16,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: &str, http_status: u16) -> Self {
        Self {
            code,
            message: message.to_string(),
            data: None,
            http_status,
        }
    }

    pub(crate) fn to_json(&self, id: &Value) -> Value {
        let mut err = json!({"code": self.code, "message": self.message});
        if let Some(d) = &self.data {
            err["data"] = d.clone();
        }
        json!({"jsonrpc": "2.0", "id": id, "error": err})
    }
}

/// The protocol version `initialize` answers for a requested one.
pub(crate) fn negotiate(requested: Option<&str>) -> &'static str {
    requested
        .and_then(|r| LEGACY.iter().find(|v| **v == r))
        .copied()
        .unwrap_or(LEGACY[0])
}

/// Runs one request. `emit` receives notifications to send before the result (only called
/// when the caller can stream them).
pub(crate) fn dispatch(
    ctx: &StubCtx,
    msg: &Value,
    modern: bool,
    emit: &mut dyn FnMut(Value) -> bool,
) -> Result<Value, RpcError> {
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let mut result = match method {
        "initialize" if !modern => {
            let requested = params.get("protocolVersion").and_then(Value::as_str);
            Ok(json!({
                "protocolVersion": negotiate(requested),
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": server_info(ctx),
                "instructions": "Demo MCP server of tunnel-client: try the echo, uppercase and slow tools.",
            }))
        }
        "server/discover" => Ok(json!({
            "supportedVersions": [MODERN, LEGACY[0], LEGACY[1]],
            "capabilities": {"tools": {"listChanged": false}},
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": {"io.modelcontextprotocol/serverInfo": server_info(ctx)},
        })),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": tool_list()})),
        "tools/call" => call_tool(ctx, &params, emit),
        _ => Err(RpcError::new(
            -32601,
            &format!("Method not found: {method}"),
            if modern { 404 } else { 200 },
        )),
    };
    if modern {
        if let Ok(Value::Object(m)) = &mut result {
            m.insert("resultType".into(), json!("complete"));
        }
    }
    result
}

fn server_info(ctx: &StubCtx) -> Value {
    json!({"name": ctx.cfg.server_name, "version": ctx.cfg.server_version})
}

fn tool_list() -> Value {
    let text_arg = |desc: &str| {
        json!({"type": "object", "properties": {
            "input": {"type": "string", "description": desc},
            "text": {"type": "string", "description": "Alias of input."}}})
    };
    json!([
        {"name": "server_info", "description": "Name, version and tools of this demo server.",
         "inputSchema": {"type": "object", "properties": {}}},
        {"name": "echo", "description": "Returns its input unchanged.",
         "inputSchema": text_arg("Text to echo.")},
        {"name": "uppercase", "description": "Returns its input in upper case.",
         "inputSchema": text_arg("Text to upper-case.")},
        {"name": "slow", "description": "Sleeps `ms` milliseconds in `steps` steps, sending a progress notification per step when the request has _meta.progressToken.",
         "inputSchema": {"type": "object", "properties": {
             "ms": {"type": "integer", "minimum": 0, "maximum": 60000},
             "steps": {"type": "integer", "minimum": 1, "maximum": 100}}}},
        {"name": "fail", "description": "Fails with a JSON-RPC error (default code -32003), optionally with a non-200 HTTP status.",
         "inputSchema": {"type": "object", "properties": {
             "code": {"type": "integer"}, "message": {"type": "string"},
             "data": {}, "http_status": {"type": "integer"}}}},
    ])
}

fn text_result(text: &str, structured: Value) -> Value {
    json!({"content": [{"type": "text", "text": text}], "structuredContent": structured, "isError": false})
}

fn call_tool(
    ctx: &StubCtx,
    params: &Value,
    emit: &mut dyn FnMut(Value) -> bool,
) -> Result<Value, RpcError> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    let text_arg = || {
        ["input", "text", "message"]
            .iter()
            .find_map(|k| args.get(*k).and_then(Value::as_str))
            .unwrap_or("")
            .to_string()
    };
    match name {
        "server_info" => {
            let tools = ["server_info", "echo", "uppercase", "slow", "fail"];
            let text = format!(
                "{} {} demo tools: {}",
                ctx.cfg.server_name,
                ctx.cfg.server_version,
                tools.join(", ")
            );
            Ok(text_result(
                &text,
                json!({
                    "name": ctx.cfg.server_name,
                    "version": ctx.cfg.server_version,
                    "available_tools": tools,
                    "sample_prompts": [
                        "Call the echo tool with the text 'hello through the tunnel'.",
                        "Upper-case 'secure mcp tunnel' with the uppercase tool.",
                        "What server is behind this connector? Use server_info.",
                    ],
                }),
            ))
        }
        "echo" => {
            let t = text_arg();
            Ok(text_result(&t, json!({"echoed": t})))
        }
        "uppercase" => {
            let t = text_arg().to_uppercase();
            Ok(text_result(&t, json!({"uppercase": t})))
        }
        "slow" => Ok(slow(ctx, params, &args, emit)),
        "fail" => {
            let code = args.get("code").and_then(Value::as_i64).unwrap_or(-32003);
            let message = args
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("stub tool failure");
            let http_status = args
                .get("http_status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .filter(|s| (200..=599).contains(s))
                .unwrap_or(200);
            let mut e = RpcError::new(code, message, http_status);
            e.data = Some(
                args.get("data")
                    .cloned()
                    .unwrap_or_else(|| json!({"tool": "fail", "reason": "requested"})),
            );
            Err(e)
        }
        _ => Err(RpcError::new(-32602, &format!("Unknown tool: {name}"), 200)),
    }
}

/// Sleeps in steps, reporting progress after each, and stops early on shutdown or when the
/// stream to the caller breaks (closing the stream is cancellation in 2026-07-28).
fn slow(ctx: &StubCtx, params: &Value, args: &Value, emit: &mut dyn FnMut(Value) -> bool) -> Value {
    let ms = args
        .get("ms")
        .and_then(Value::as_u64)
        .unwrap_or(1000)
        .min(60_000);
    let steps = args
        .get("steps")
        .and_then(Value::as_u64)
        .unwrap_or(3)
        .clamp(1, 100);
    let token = params
        .get("_meta")
        .and_then(|m| m.get("progressToken"))
        .cloned();
    let started = Instant::now();
    for i in 1..=steps {
        let step_end = started + Duration::from_millis(ms * i / steps);
        while Instant::now() < step_end {
            if ctx.lock().shutdown {
                break;
            }
            thread::sleep((step_end - Instant::now()).min(Duration::from_millis(50)));
        }
        if let Some(t) = &token {
            let note = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
                "progressToken": t, "progress": i, "total": steps,
                "message": format!("step {i}/{steps}")}});
            if !emit(note) {
                break;
            }
        }
    }
    text_result(
        &format!("slept {ms} ms in {steps} steps"),
        json!({"ms": ms, "steps": steps}),
    )
}
