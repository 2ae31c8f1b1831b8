//! MCP ingress: `POST|DELETE /v1/mcp/{tunnel_id}[/{channel}]`.
//!
//! An MCP client's request becomes a queued command; the client's posted responses become
//! the HTTP answer. Notifications stream as SSE when the caller accepts `text/event-stream`,
//! so progress reaches the MCP client while the call is still running. This is what lets
//! curl, an SDK or MCP Inspector reach a private server through the real tunnel protocol.

use std::time::Instant;

use serde_json::Value;

use super::command::{effective_channel, CommandSpec};
use super::faults::api_error;
use super::router::{check_tunnel, enqueue_with_default, Incoming};
use super::server::{respond, respond_json, ChunkedStream};
use super::state::{posts_for, PostedResponse};
use super::Ctx;

/// Request headers not forwarded into command `headers` (hop-by-hop, proxy and client-
/// address headers, and the body framing the tunnel re-creates).
const STRIP_REQUEST: [&str; 26] = [
    "accept-encoding",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "forwarded",
    "host",
    "keep-alive",
    "openai-organization",
    "origin",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "via",
    "x-client-ip",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-real-ip",
    "true-client-ip",
];

/// The Go client's `dev proxy` request-header blocklist (its Harpoon list plus
/// `content-type`, `openai-organization` and the OpenAI-internal names), used with
/// [`super::EmulatorConfig::dev_proxy`]. Names `Connection` nominates are dropped too.
const DEV_PROXY_STRIP_REQUEST: [&str; 40] = [
    "accept-encoding",
    "cf-connecting-ip",
    "connection",
    "cookie",
    "content-length",
    "content-type",
    "forwarded",
    "host",
    "keep-alive",
    "openai-organization",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "true-client-ip",
    "upgrade",
    "via",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-custom-cf-witness-actor",
    "x-custom-cf-witness-authorization",
    "x-envoy-external-address",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-oai-brte-redeemable-token",
    "x-openai-actor-authorization",
    "x-openai-authorization",
    "x-openai-authorization-error",
    "x-openai-brte-redeemable-token",
    "x-openai-internal-caller",
    "x-openai-request-path",
    "x-openai-skip-auth",
    "x-original-forwarded-for",
    "x-real-ip",
    "x-tunnel-traffic-source",
    "user-agent",
];

/// Hop-by-hop headers of an `oauth_discovery` answer not rendered to the caller (Go's list).
const DISCOVERY_SKIP_RESPONSE: [&str; 9] = [
    "connection",
    "content-length",
    "date",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Posted `resp_headers` not copied onto the MCP client's response.
const STRIP_RESPONSE: [&str; 9] = [
    "connection",
    "content-length",
    "content-type",
    "date",
    "keep-alive",
    "proxy-authenticate",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub(crate) fn handle(ctx: &Ctx, inc: Incoming, id: &str, channel: Option<&str>) -> Option<u16> {
    if check_tunnel(ctx, id).is_err() {
        respond_json(
            inc.rq,
            404,
            &api_error("tunnel not found", "invalid_request_error", None),
        );
        return Some(404);
    }
    let query_channel = inc.head.query_all("channel").first().map(|s| s.to_string());
    let channel = channel.map(str::to_string).or(query_channel);
    if let Some(c) = &channel {
        let canon = effective_channel(Some(c));
        let ok = canon == *c
            && c.len() <= 64
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            respond_json(
                inc.rq,
                400,
                &api_error(
                    &format!("invalid channel {c:?}"),
                    "invalid_request_error",
                    Some("invalid_channel_format"),
                ),
            );
            return Some(400);
        }
    }
    let mut spec = match inc.head.method.as_str() {
        "POST" => match serde_json::from_slice::<Value>(&inc.body) {
            Ok(v @ Value::Object(_)) => CommandSpec::jsonrpc(v),
            _ => {
                respond_json(
                    inc.rq,
                    400,
                    &api_error(
                        "MCP request body must be a JSON object",
                        "invalid_request_error",
                        Some("invalid_json_payload"),
                    ),
                );
                return Some(400);
            }
        },
        "DELETE" => {
            if inc.head.header("Mcp-Session-Id").is_none_or(str::is_empty) {
                respond_json(
                    inc.rq,
                    400,
                    &api_error(
                        "DELETE requires Mcp-Session-Id",
                        "invalid_request_error",
                        Some("missing_mcp_session_id"),
                    ),
                );
                return Some(400);
            }
            CommandSpec::of_type("session_termination")
        }
        _ => {
            respond(
                inc.rq,
                405,
                &[
                    ("Allow", "POST, DELETE"),
                    ("Content-Type", "application/json"),
                ],
                api_error("method not allowed", "invalid_request_error", None)
                    .to_string()
                    .as_bytes(),
            );
            return Some(405);
        }
    };
    spec.channel = channel;
    let nominated = connection_options(&inc.head.headers);
    for (k, v) in &inc.head.headers {
        let lower = k.to_ascii_lowercase();
        let blocked = if ctx.cfg.dev_proxy {
            DEV_PROXY_STRIP_REQUEST.contains(&lower.as_str()) || nominated.contains(&lower)
        } else {
            STRIP_REQUEST.contains(&lower.as_str())
        };
        if v.is_empty() || blocked {
            continue;
        }
        // One canonical entry per name, whatever spelling the MCP client used (HTTP/2-era
        // clients send lower case), as a Go service's header map would hold it.
        spec.headers
            .entry(canonical(k))
            .or_default()
            .push(v.clone());
    }
    let streamable = spec
        .jsonrpc
        .as_ref()
        .is_some_and(|j| j.get("method").is_some() && j.get("id").is_some_and(|i| !i.is_null()));
    let wants_sse = inc
        .head
        .header("Accept")
        .is_some_and(|a| a.contains("text/event-stream"));
    let rid = enqueue_with_default(ctx, &spec, ctx.cfg.ingress_response_timeout.as_deref());
    let public = ctx
        .cfg
        .dev_proxy
        .then(|| public_mcp_url(ctx, &inc.head, id));
    let status = relay(
        ctx,
        inc.rq,
        &rid,
        wants_sse && streamable,
        public.as_deref(),
    );
    forget_if_bounded(ctx, &rid);
    status
}

/// With `history_limit`, a command whose caller has its answer leaves nothing behind: its
/// posts and its issued record go (a late post for it then gets 404, as an expired one).
fn forget_if_bounded(ctx: &Ctx, rid: &str) {
    if ctx.cfg.history_limit.is_none() {
        return;
    }
    let mut g = ctx.state.lock();
    g.posted.retain(|p| p.request_id != rid);
    g.posts_by_id.remove(rid);
    g.terminal_ids.remove(rid);
    g.issued.remove(rid);
    g.queue.retain(|(_, t)| t.request_id != rid);
}

/// `GET /.well-known/oauth-protected-resource/v1/mcp/{id}`: an `oauth_discovery` command
/// (no request headers forwarded: the caller's `Authorization` or cookies never reach the
/// MCP server this way), answered with the upstream status and headers (hop-by-hop and
/// `Connection`-nominated ones dropped) and the metadata JSON with `resource` set to this
/// ingress's MCP URL, so a local MCP client's OAuth flow points back here. A body that is
/// not a JSON object is a 502.
pub(crate) fn oauth_discovery(ctx: &Ctx, inc: Incoming, id: &str) -> Option<u16> {
    if check_tunnel(ctx, id).is_err() {
        respond_json(
            inc.rq,
            404,
            &api_error("tunnel not found", "invalid_request_error", None),
        );
        return Some(404);
    }
    let public = public_mcp_url(ctx, &inc.head, id);
    let rid = enqueue_with_default(
        ctx,
        &CommandSpec::oauth_discovery(),
        ctx.cfg.ingress_response_timeout.as_deref(),
    );
    let deadline = Instant::now() + ctx.cfg.ingress_timeout;
    let terminal = ctx.state.wait_until(deadline, |g| {
        posts_for(g, &rid).into_iter().find(|p| p.is_terminal())
    });
    forget_if_bounded(ctx, &rid);
    let Some(p) = terminal else {
        expire(ctx, &rid);
        respond_json(
            inc.rq,
            504,
            &api_error(
                "timed out waiting for the tunnel client's OAuth discovery response",
                "server_error",
                None,
            ),
        );
        return Some(504);
    };
    let raw = p.resp_json_raw.clone().unwrap_or_default();
    let mut body = if raw.trim().is_empty() {
        serde_json::Map::new()
    } else {
        match serde_json::from_str::<Value>(&raw) {
            Ok(Value::Object(m)) => m,
            _ => {
                respond(
                    inc.rq,
                    502,
                    &[("Content-Type", "text/plain; charset=utf-8")],
                    b"invalid OAuth discovery response\n",
                );
                return Some(502);
            }
        }
    };
    body.insert("resource".into(), Value::String(public));
    let status = u16::try_from(p.resp_code)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .unwrap_or(200);
    let status = if p.resp_code == 0 { 200 } else { status };
    let nominated = connection_options_map(&p.resp_headers);
    let mut headers: Vec<(String, String)> = Vec::new();
    for (k, vals) in &p.resp_headers {
        let lower = k.to_ascii_lowercase();
        if DISCOVERY_SKIP_RESPONSE.contains(&lower.as_str())
            || nominated.contains(&lower)
            || lower == "content-type"
        {
            continue;
        }
        for v in vals {
            headers.push((k.clone(), v.clone()));
        }
    }
    headers.push(("Content-Type".into(), "application/json".into()));
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let text = format!("{}\n", Value::Object(body));
    respond(inc.rq, status, &refs, text.as_bytes());
    Some(status)
}

/// `http://<Host>/v1/mcp/<id>`: the MCP URL as the caller reached it (Go's `publicMCPURL`).
fn public_mcp_url(ctx: &Ctx, head: &super::server::Head, id: &str) -> String {
    let host = head
        .header("Host")
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| ctx.listener().to_string());
    format!("http://{host}/v1/mcp/{id}")
}

/// Lower-case names listed in `Connection` headers.
fn connection_options(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|o| o.trim().to_ascii_lowercase())
        .filter(|o| !o.is_empty())
        .collect()
}

fn connection_options_map(
    headers: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, vs)| vs.iter().flat_map(|v| v.split(',')))
        .map(|o| o.trim().to_ascii_lowercase())
        .filter(|o| !o.is_empty())
        .collect()
}

/// Points `resource_metadata` of a `WWW-Authenticate` value at this ingress's well-known
/// URL (quoted or bare), as Go's dev proxy does.
fn rewrite_resource_metadata(value: &str, public: &str) -> String {
    let Some((base, id)) = public.rsplit_once("/v1/mcp/") else {
        return value.to_string();
    };
    let local = format!("{base}/.well-known/oauth-protected-resource/v1/mcp/{id}");
    for quote in ["\"", ""] {
        let prefix = format!("resource_metadata={quote}");
        let Some(start) = value.find(&prefix) else {
            continue;
        };
        let from = start + prefix.len();
        let end = if quote.is_empty() {
            value[from..]
                .find([',', ' '])
                .map_or(value.len(), |e| from + e)
        } else {
            value[from..].find('"').map_or(value.len(), |e| from + e)
        };
        return format!("{}{local}{}", &value[..from], &value[end..]);
    }
    value.to_string()
}

/// `mcp-session-id` → `Mcp-Session-Id`.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Waits for the client's posts for `rid` and turns them into the HTTP answer.
fn relay(
    ctx: &Ctx,
    rq: tiny_http::Request,
    rid: &str,
    sse: bool,
    public: Option<&str>,
) -> Option<u16> {
    let deadline = Instant::now() + ctx.cfg.ingress_timeout;
    let mut rq = Some(rq);
    let mut stream: Option<ChunkedStream> = None;
    let mut seen = 0usize;
    loop {
        let new = ctx.state.wait_until(deadline, |g| {
            let posts = posts_for(g, rid);
            (posts.len() > seen).then(|| posts[seen..].to_vec())
        });
        let Some(new) = new else {
            expire(ctx, rid);
            if let Some(s) = stream {
                // Headers are gone already: all we can do is end the stream.
                let _ = s.finish();
                return Some(200);
            }
            let shutting_down = ctx.state.lock().shutdown;
            let (status, msg) = if shutting_down {
                (503, "emulator shutting down")
            } else {
                (504, "timed out waiting for the tunnel client's response")
            };
            if let Some(rq) = rq.take() {
                respond_json(rq, status, &api_error(msg, "server_error", None));
            }
            return Some(status);
        };
        for p in new {
            seen += 1;
            let json = p.resp_json_raw.clone().unwrap_or_default();
            if !p.is_terminal() {
                if !sse || json.is_empty() {
                    continue;
                }
                if stream.is_none() {
                    let r = rq.take()?;
                    match ChunkedStream::start(r, 200, &sse_headers(&p, public)) {
                        Ok(s) => stream = Some(s),
                        Err(_) => return None,
                    }
                }
                if let Some(s) = stream.as_mut() {
                    if s.send_event(&json).is_err() {
                        // The MCP client went away; the command still runs to completion.
                        return Some(200);
                    }
                }
                continue;
            }
            if let Some(mut s) = stream.take() {
                if !json.is_empty() {
                    let _ = s.send_event(&json);
                }
                let _ = s.finish();
                return Some(200);
            }
            let rq = rq.take()?;
            return Some(answer(rq, &p, sse, &json, public));
        }
    }
}

/// Answers with a terminal post that arrived before any streamed notification.
fn answer(
    rq: tiny_http::Request,
    p: &PostedResponse,
    sse: bool,
    json: &str,
    public: Option<&str>,
) -> u16 {
    let status = u16::try_from(p.resp_code)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .unwrap_or(502);
    let upstream_sse = p
        .resp_header("Content-Type")
        .is_some_and(|c| c.starts_with("text/event-stream"));
    if sse && upstream_sse && !json.is_empty() && (200..300).contains(&status) {
        if let Ok(mut s) = ChunkedStream::start(rq, status, &sse_headers(p, public)) {
            let _ = s.send_event(json);
            let _ = s.finish();
        }
        return status;
    }
    let mut headers = passthrough(p, public);
    if !json.is_empty() {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    respond(rq, status, &refs, json.as_bytes());
    status
}

fn sse_headers(p: &PostedResponse, public: Option<&str>) -> Vec<(String, String)> {
    let mut h = passthrough(p, public);
    h.push(("Content-Type".into(), "text/event-stream".into()));
    h.push(("Cache-Control".into(), "no-cache".into()));
    h.push(("X-Accel-Buffering".into(), "no".into()));
    h
}

/// Posted response headers worth handing to the MCP client (e.g. `Mcp-Session-Id`); with
/// `public` (dev proxy), `WWW-Authenticate` points its `resource_metadata` here.
fn passthrough(p: &PostedResponse, public: Option<&str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, vals) in &p.resp_headers {
        if STRIP_RESPONSE.contains(&k.to_ascii_lowercase().as_str()) {
            continue;
        }
        for v in vals {
            let v = match public {
                Some(u) if k.eq_ignore_ascii_case("www-authenticate") => {
                    rewrite_resource_metadata(v, u)
                }
                _ => v.clone(),
            };
            out.push((k.clone(), v));
        }
    }
    out
}

/// Forgets a command whose MCP caller gave up: unqueue it if nobody polled it yet, and make
/// later posts for it 404 (the real service expires pending requests the same way).
fn expire(ctx: &Ctx, rid: &str) {
    let mut g = ctx.state.lock();
    g.queue.retain(|(_, t)| t.request_id != rid);
    if let Some(i) = g.issued.get_mut(rid) {
        i.done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite_resource_metadata;

    #[test]
    fn resource_metadata_is_pointed_at_the_local_well_known_url() {
        let public = "http://127.0.0.1:9/v1/mcp/tunnel_x";
        let local = "http://127.0.0.1:9/.well-known/oauth-protected-resource/v1/mcp/tunnel_x";
        assert_eq!(
            rewrite_resource_metadata(
                r#"Bearer realm="mcp", resource_metadata="https://up.example/.well-known/oauth-protected-resource/mcp", scope="a""#,
                public
            ),
            format!(r#"Bearer realm="mcp", resource_metadata="{local}", scope="a""#)
        );
        assert_eq!(
            rewrite_resource_metadata("Bearer resource_metadata=https://up/x, scope=a", public),
            format!("Bearer resource_metadata={local}, scope=a")
        );
        assert_eq!(
            rewrite_resource_metadata("Basic realm=x", public),
            "Basic realm=x"
        );
    }
}
