//! Streamable HTTP for the stub: routing, era detection, sessions, JSON or SSE answers, and
//! the OAuth metadata documents.

use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use serde_json::{json, Value};

use super::rpc::{self, RpcError, MODERN};
use super::{StubCtx, StubRequest};
use crate::emulator::server::{
    base_url_from_host, read_body, respond, respond_json, ChunkedStream, Head,
};

pub(crate) fn handle(ctx: &StubCtx, mut rq: tiny_http::Request) {
    let head = Head::of(&rq);
    let body = if head.method == "POST" {
        match read_body(&mut rq, ctx.cfg.max_body_bytes) {
            Ok(b) => b,
            Err(_) => {
                record(ctx, &head, "", None);
                respond(rq, 413, &[], b"");
                return;
            }
        }
    } else {
        Vec::new()
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let msg: Option<Value> = serde_json::from_str(&text).ok();
    let rpc_method = msg
        .as_ref()
        .and_then(|m| m.get("method"))
        .and_then(Value::as_str)
        .map(str::to_string);
    record(ctx, &head, &text, rpc_method);

    let base = base_url_from_host(&head, ctx.listener());
    let prm = "/.well-known/oauth-protected-resource";
    let path = head.path.as_str();
    let oauth = ctx.cfg.oauth_metadata;
    if oauth && head.method == "GET" && (path == prm || path == format!("{prm}{}", ctx.cfg.path)) {
        let servers = ctx
            .cfg
            .authorization_servers
            .clone()
            .unwrap_or_else(|| vec![base.clone()]);
        let doc = json!({
            "resource": format!("{base}{}", ctx.cfg.path),
            "authorization_servers": servers,
            "scopes_supported": ["read", "write"],
            "bearer_methods_supported": ["header"],
            "resource_name": ctx.cfg.server_name,
        });
        return respond_json(rq, 200, &doc);
    }
    if oauth && head.method == "GET" && path == "/.well-known/oauth-authorization-server" {
        return respond_json(rq, 200, &as_metadata(&base));
    }
    if head.method == "GET" && path == "/jwks" {
        return respond_json(rq, 200, &json!({"keys": []}));
    }
    if path != ctx.cfg.path {
        return respond(rq, 404, &[("Content-Type", "text/plain")], b"not found");
    }
    let modern = head.header("MCP-Protocol-Version") == Some(MODERN);
    match head.method.as_str() {
        "POST" => post(ctx, rq, &head, msg, modern),
        "DELETE" => delete(ctx, rq, &head, modern),
        _ => respond(
            rq,
            405,
            &[("Allow", "POST, DELETE"), ("Content-Type", "text/plain")],
            b"no GET stream on this server",
        ),
    }
}

fn record(ctx: &StubCtx, head: &Head, body: &str, rpc_method: Option<String>) {
    ctx.lock().requests.push(StubRequest {
        method: head.method.clone(),
        path: head.path.clone(),
        headers: head.headers.clone(),
        body: body.to_string(),
        rpc_method,
        received_at: Instant::now(),
    });
    ctx.cv.notify_all();
}

/// RFC 8414 metadata naming endpoints the stub does not implement (as the Go stub): enough
/// for discovery and diagnostics, not for a real login.
fn as_metadata(base: &str) -> Value {
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "registration_endpoint": format!("{base}/register"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    })
}

fn rpc_error(rq: tiny_http::Request, status: u16, id: &Value, e: &RpcError) {
    respond_json(rq, status, &e.to_json(id));
}

fn post(ctx: &StubCtx, rq: tiny_http::Request, head: &Head, msg: Option<Value>, modern: bool) {
    let Some(msg) = msg.filter(Value::is_object) else {
        let e = RpcError::new(-32700, "Parse error: body must be one JSON-RPC object", 400);
        return rpc_error(rq, 400, &Value::Null, &e);
    };
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    let method = msg
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string);
    if msg.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        let e = RpcError::new(-32600, "Invalid Request: jsonrpc must be \"2.0\"", 400);
        return rpc_error(rq, 400, &id, &e);
    }
    if modern {
        // 2026-07-28: the method travels in a header too, and the two must agree.
        if method.is_some() && head.header("Mcp-Method") != method.as_deref() {
            let e = RpcError::new(
                -32020,
                "HeaderMismatch: Mcp-Method does not match the body",
                400,
            );
            return rpc_error(rq, 400, &id, &e);
        }
    } else if let Some(v) = head.header("MCP-Protocol-Version") {
        if !rpc::LEGACY.contains(&v) {
            let e = RpcError::new(-32600, &format!("Unsupported protocol version: {v}"), 400);
            return rpc_error(rq, 400, &id, &e);
        }
    }
    let is_init = method.as_deref() == Some("initialize") && !modern;
    let session = head.header("Mcp-Session-Id").map(str::to_string);
    if !modern && !is_init && ctx.cfg.require_session {
        match &session {
            None => {
                let e = RpcError::new(-32600, "Bad Request: Mcp-Session-Id required", 400);
                return rpc_error(rq, 400, &id, &e);
            }
            Some(s) if !ctx.lock().sessions.contains_key(s) => {
                let e = RpcError::new(-32001, "Session not found", 404);
                return rpc_error(rq, 404, &id, &e);
            }
            Some(_) => {}
        }
    }
    // Notifications and responses (to server requests) are accepted without a body.
    if method.is_none() || id.is_null() {
        return respond(rq, 202, &[], b"");
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    if is_init {
        let sid = new_session_id();
        let requested = msg
            .get("params")
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str);
        ctx.lock()
            .sessions
            .insert(sid.clone(), rpc::negotiate(requested).to_string());
        headers.push(("Mcp-Session-Id".into(), sid));
    } else if let (Some(s), false) = (&session, modern) {
        headers.push(("Mcp-Session-Id".into(), s.clone()));
    }
    let accepts_sse = head
        .header("Accept")
        .is_some_and(|a| a.contains("text/event-stream"));
    let wants_progress = msg
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get("progressToken"))
        .is_some();
    if accepts_sse && (ctx.cfg.sse_responses || wants_progress) {
        return stream(ctx, rq, &msg, &id, modern, headers);
    }
    let result = rpc::dispatch(ctx, &msg, modern, &mut |_| true);
    let (status, body) = match result {
        Ok(r) => (200, json!({"jsonrpc": "2.0", "id": id, "result": r})),
        Err(e) => (e.http_status, e.to_json(&id)),
    };
    headers.push(("Content-Type".into(), "application/json".into()));
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    respond(
        rq,
        status,
        &refs,
        &serde_json::to_vec(&body).unwrap_or_default(),
    );
}

/// Answers as SSE: each notification as an event when it happens, then the result.
fn stream(
    ctx: &StubCtx,
    rq: tiny_http::Request,
    msg: &Value,
    id: &Value,
    modern: bool,
    mut headers: Vec<(String, String)>,
) {
    headers.push(("Content-Type".into(), "text/event-stream".into()));
    headers.push(("Cache-Control".into(), "no-cache".into()));
    let Ok(mut s) = ChunkedStream::start(rq, 200, &headers) else {
        return;
    };
    let result = rpc::dispatch(ctx, msg, modern, &mut |note| {
        s.send_event(&note.to_string()).is_ok()
    });
    let body = match result {
        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Err(e) => e.to_json(id),
    };
    if s.send_event(&body.to_string()).is_ok() {
        let _ = s.finish();
    }
}

fn delete(ctx: &StubCtx, rq: tiny_http::Request, head: &Head, modern: bool) {
    if modern {
        return respond(rq, 405, &[("Allow", "POST")], b"");
    }
    let Some(sid) = head.header("Mcp-Session-Id") else {
        return respond(
            rq,
            400,
            &[("Content-Type", "text/plain")],
            b"Mcp-Session-Id required",
        );
    };
    let removed = ctx.lock().sessions.remove(sid).is_some();
    respond(rq, if removed { 204 } else { 404 }, &[], b"");
}

/// 128 random bits as hex, from the OS-seeded hasher keys std already has (no extra crate).
fn new_session_id() -> String {
    let mut out = String::new();
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}
