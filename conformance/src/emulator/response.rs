//! `POST /v1/tunnels/{tunnel_id}/response`: validates a `TunnelResponsePayload` against the
//! contract and against what was handed out, records it, and acknowledges it.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::command::{allowed_types, TERMINAL_TYPES};
use super::faults::api_error;
use super::latency::Leg;
use super::router::{Incoming, Mods};
use super::server::{drop_connection, respond_json};
use super::state::{has_terminal, PostedResponse};
use super::Ctx;

/// Fields the contract allows (`additionalProperties: false`).
const FIELDS: [&str; 6] = [
    "request_id",
    "channel",
    "resp_json",
    "resp_headers",
    "resp_code",
    "resp_type",
];

/// Response types the emulator knows: the contract enum plus the undocumented
/// `oauth_discovery_response`.
const KNOWN_TYPES: [&str; 5] = [
    "jsonrpc_response",
    "jsonrpc_notify",
    "notify_ack",
    "session_termination_response",
    "oauth_discovery_response",
];

/// Just enough to recover `resp_json` byte for byte.
#[derive(Deserialize)]
struct RawPart<'a> {
    #[serde(borrow, default)]
    resp_json: Option<&'a RawValue>,
}

struct Rejection {
    status: u16,
    message: String,
    code: Option<&'static str>,
}

fn reject(status: u16, message: String, code: Option<&'static str>) -> Rejection {
    Rejection {
        status,
        message,
        code,
    }
}

pub(crate) fn handle(ctx: &Ctx, inc: Incoming, mods: Mods) -> Option<u16> {
    // The POST crosses the (emulated) internet before the service sees it.
    ctx.latency.sleep(Leg::Post);
    match validate(ctx, &inc) {
        Err(r) => {
            ctx.state.violation(format!(
                "response POST rejected ({}): {}",
                r.status, r.message
            ));
            respond_json(
                inc.rq,
                r.status,
                &api_error(&r.message, "invalid_request_error", r.code),
            );
            Some(r.status)
        }
        Ok(()) => {
            if mods.drop_after_accept {
                drop_connection(inc.rq, ctx.listener());
                return None;
            }
            respond_json(inc.rq, 200, &json!({"status": "ok"}));
            Some(200)
        }
    }
}

/// Checks the post and, when it is acceptable, records it (under the state lock, so two
/// racing terminal posts cannot both be accepted).
fn validate(ctx: &Ctx, inc: &Incoming) -> Result<(), Rejection> {
    let text = std::str::from_utf8(&inc.body)
        .map_err(|_| reject(400, "body is not UTF-8".into(), None))?;
    let obj: Map<String, Value> = serde_json::from_str(text)
        .map_err(|e| reject(400, format!("body is not a JSON object: {e}"), None))?;
    let raw: RawPart<'_> = serde_json::from_str(text)
        .map_err(|e| reject(400, format!("body is not a JSON object: {e}"), None))?;
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(reject(400, format!("unknown field {k:?}"), None));
    }
    let request_id = match obj.get("request_id") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(reject(400, "request_id must be a string".into(), None)),
    };
    let resp_code = obj
        .get("resp_code")
        .and_then(Value::as_i64)
        .ok_or_else(|| reject(400, "resp_code must be an integer".into(), None))?;
    let channel = match obj.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(reject(400, "channel must be a string or null".into(), None)),
    };
    if let Some(c) = &channel {
        let ok = !c.is_empty()
            && c.len() <= 64
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(reject(
                400,
                format!("invalid channel {c:?}"),
                Some("invalid_channel_format"),
            ));
        }
    }
    let resp_json = match obj.get("resp_json") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => {
            return Err(reject(
                400,
                "resp_json must be an object or null".into(),
                None,
            ))
        }
    };
    let resp_headers = parse_headers(obj.get("resp_headers"))?;
    let resp_type = match obj.get("resp_type") {
        None => "jsonrpc_response".to_string(),
        Some(Value::String(s)) if KNOWN_TYPES.contains(&s.as_str()) => s.clone(),
        Some(v) => return Err(reject(400, format!("unknown resp_type {v}"), None)),
    };
    let is_ack = matches!(
        resp_type.as_str(),
        "notify_ack" | "session_termination_response"
    );
    if is_ack && resp_json.is_some() {
        return Err(reject(
            400,
            format!("{resp_type} must not carry resp_json"),
            None,
        ));
    }
    if !is_ack && resp_json.is_none() {
        return Err(reject(400, format!("{resp_type} requires resp_json"), None));
    }
    let token = inc
        .head
        .header("X-Tunnel-Shard-Token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| reject(400, "X-Tunnel-Shard-Token header is required".into(), None))?;

    let mut g = ctx.state.lock();
    let issued = match g.issued.get(&request_id) {
        Some(i) if !i.done && !has_terminal(&g, &request_id) => i.clone(),
        Some(_) => {
            drop(g);
            return Err(reject(
                404,
                format!("request {request_id} was already fulfilled"),
                Some("pending_request_not_found"),
            ));
        }
        None => {
            drop(g);
            return Err(reject(
                404,
                format!("no pending request {request_id}"),
                Some("pending_request_not_found"),
            ));
        }
    };
    let t = &issued.tracked;
    if token != t.shard_token {
        drop(g);
        return Err(reject(
            400,
            format!("X-Tunnel-Shard-Token does not match request {request_id}"),
            None,
        ));
    }
    if let Some(allowed) = allowed_types(&t.command_type) {
        if !allowed.contains(&resp_type.as_str()) {
            drop(g);
            return Err(reject(
                400,
                format!(
                    "{resp_type} is not a response to a {} command",
                    t.command_type
                ),
                None,
            ));
        }
    }
    let mut soft = Vec::new();
    if channel.as_deref() != Some(t.channel.as_str()) {
        soft.push(format!(
            "response for {request_id}: channel {channel:?}, command was on {:?}",
            t.channel
        ));
    }
    if let Some(x) = &t.x_request_id {
        if inc.head.header("X-Client-Request-Id") != Some(x.as_str()) {
            soft.push(format!(
                "response for {request_id}: X-Client-Request-Id {:?}, command X-Request-Id {x:?}",
                inc.head.header("X-Client-Request-Id")
            ));
        }
    }
    let post = PostedResponse {
        request_id: request_id.clone(),
        channel,
        resp_type,
        resp_code,
        resp_json,
        resp_json_raw: raw.resp_json.map(|r| r.get().to_string()),
        resp_headers,
        http_headers: inc.head.headers.clone(),
        body: text.to_string(),
        received_at: Instant::now(),
    };
    if TERMINAL_TYPES.contains(&post.resp_type.as_str()) {
        g.terminal_posts += 1;
        g.terminal_ids.insert(request_id.clone());
        if let Some(i) = g.issued.get_mut(&request_id) {
            i.done = true;
        }
    }
    g.posts_by_id
        .entry(request_id.clone())
        .or_default()
        .push(post.clone());
    g.posted.push(post);
    g.violations.extend(soft);
    drop(g);
    ctx.state.notify();
    Ok(())
}

fn parse_headers(v: Option<&Value>) -> Result<BTreeMap<String, Vec<String>>, Rejection> {
    let bad = || {
        reject(
            400,
            "resp_headers must map names to string arrays".into(),
            None,
        )
    };
    let mut out = BTreeMap::new();
    match v {
        None => {}
        Some(Value::Object(m)) => {
            for (k, vals) in m {
                let arr = vals.as_array().ok_or_else(bad)?;
                let strs = arr
                    .iter()
                    .map(|s| s.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(bad)?;
                out.insert(k.clone(), strs);
            }
        }
        Some(_) => return Err(bad()),
    }
    Ok(out)
}
