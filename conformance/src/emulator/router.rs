//! Request routing, the checks every control-plane request gets (tunnel id, bearer key,
//! headers), fault application and command queueing.

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::command::{self, CommandSpec};
use super::faults::{api_error, default_error_body, Endpoint, Fault};
use super::server::{self, respond, respond_json, BodyError, Head};
use super::{admin, ingress, poll, response, Ctx};

/// A request after routing, with its body (POST only) and log index.
pub(crate) struct Incoming {
    pub rq: tiny_http::Request,
    pub head: Head,
    pub body: Vec<u8>,
    pub idx: usize,
}

/// Modifiers a fault leaves for the normal handler.
#[derive(Default, Clone, Copy)]
pub(crate) struct Mods {
    pub poll_wait: Option<Duration>,
    pub ignore_limit: bool,
    pub drop_after_accept: bool,
    pub truncate_after: Option<usize>,
}

pub(crate) fn handle(ctx: &Ctx, mut rq: tiny_http::Request) {
    let head = Head::of(&rq);
    let body = if head.method == "POST" {
        match server::read_body(&mut rq, ctx.cfg.max_body_bytes) {
            Ok(b) => b,
            Err(e) => {
                let idx = ctx.state.record(&head, None);
                let (status, msg, code) = match e {
                    BodyError::TooLarge => (
                        413,
                        "request body too large",
                        Some("request_body_too_large"),
                    ),
                    BodyError::Io => (400, "unreadable request body", None),
                };
                respond_json(rq, status, &api_error(msg, "invalid_request_error", code));
                ctx.state.finish(idx, Some(status));
                return;
            }
        }
    } else {
        Vec::new()
    };
    let logged_body = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
    let idx = ctx.state.record(&head, logged_body);
    let inc = Incoming {
        rq,
        head,
        body,
        idx,
    };
    let status = route(ctx, inc);
    ctx.state.finish(idx, status);
}

/// Routes a request; returns the status written (`None` when the connection was dropped).
fn route(ctx: &Ctx, inc: Incoming) -> Option<u16> {
    let path = inc.head.path.clone();
    let (prefixed, rest) = match path.strip_prefix(ctx.prefix.as_str()) {
        Some(r) if !ctx.prefix.is_empty() && (r.is_empty() || r.starts_with('/')) => (true, r),
        _ => (ctx.prefix.is_empty(), path.as_str()),
    };
    let segs: Vec<String> = rest
        .trim_start_matches('/')
        .split('/')
        .map(server::percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = inc.head.method.as_str();
    match segs.as_slice() {
        [".well-known", "oauth-protected-resource", "v1", "mcp", id] if method == "GET" => {
            ingress::oauth_discovery(ctx, inc, id)
        }
        ["v1", "mcp", id] => ingress::handle(ctx, inc, id, None),
        ["v1", "mcp", id, channel] => ingress::handle(ctx, inc, id, Some(channel)),
        ["v1", "tunnels"] if prefixed => management(ctx, inc, None),
        ["v1", "tunnels", id]
            if prefixed && (method != "GET" || admin::has_admin_key(ctx, &inc.head)) =>
        {
            let id = (*id).to_string();
            management(ctx, inc, Some(&id))
        }
        ["v1", "tunnels", id, tail @ ..] if prefixed => {
            let ep = match (tail, method) {
                ([], "GET") => Endpoint::Metadata,
                (["poll"], "GET") => Endpoint::Poll,
                (["response"], "POST") => Endpoint::Response,
                (["cloudflare", "runtime"], "GET") => {
                    return Some(not_found(inc.rq, "no managed Cloudflare runtime"))
                }
                ([] | ["poll"] | ["response"], _) => {
                    respond_json(
                        inc.rq,
                        405,
                        &api_error("method not allowed", "invalid_request_error", None),
                    );
                    return Some(405);
                }
                _ => return Some(not_found(inc.rq, "no such route")),
            };
            let id = (*id).to_string();
            control_plane(ctx, inc, ep, &id)
        }
        _ => Some(not_found(inc.rq, "no such route")),
    }
}

/// The tunnel management routes: faults, header checks, then [`admin`].
fn management(ctx: &Ctx, inc: Incoming, id: Option<&str>) -> Option<u16> {
    let mut mods = Mods::default();
    let mut inc = inc;
    if let Some(fault) = ctx.state.take_fault(Endpoint::Admin) {
        ctx.state.set_fault(inc.idx, &fault);
        match apply_fault(ctx, inc, &fault, &mut mods) {
            Ok(next) => inc = next,
            Err(status) => return status,
        }
    }
    check_headers(ctx, &inc.head);
    match id {
        None => admin::collection(ctx, inc),
        Some(id) => admin::item(ctx, inc, id),
    }
}

fn not_found(rq: tiny_http::Request, msg: &str) -> u16 {
    respond_json(rq, 404, &api_error(msg, "invalid_request_error", None));
    404
}

/// Faults, then the common checks, then the endpoint handler.
fn control_plane(ctx: &Ctx, inc: Incoming, ep: Endpoint, id: &str) -> Option<u16> {
    let mut mods = Mods::default();
    let mut inc = inc;
    if ep == Endpoint::Poll {
        let until = Instant::now() + Duration::from_secs(30);
        while ctx.state.lock().polls_held && Instant::now() < until {
            sleep_unless_shutdown(ctx, Duration::from_millis(5));
        }
    }
    let fault = ctx.state.take_fault(ep).or_else(|| match ep {
        Endpoint::Response => ctx.state.take_response_fault(&inc.body),
        _ => None,
    });
    if let Some(fault) = fault {
        ctx.state.set_fault(inc.idx, &fault);
        match apply_fault(ctx, inc, &fault, &mut mods) {
            Ok(next) => inc = next,
            Err(status) => return status,
        }
    }
    if let Err(status) = check_tunnel(ctx, id) {
        let (code, msg) = if status == 400 {
            (Some("invalid_tunnel_id_format"), "malformed tunnel id")
        } else {
            (None, "tunnel not found")
        };
        respond_json(
            inc.rq,
            status,
            &api_error(msg, "invalid_request_error", code),
        );
        return Some(status);
    }
    let expected = format!("Bearer {}", ctx.cfg.api_key);
    if inc.head.header("Authorization") != Some(expected.as_str()) {
        ctx.state.violation(format!(
            "{} {}: missing or wrong bearer key",
            inc.head.method, inc.head.path
        ));
        respond_json(
            inc.rq,
            401,
            &api_error(
                "Incorrect API key provided.",
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
        );
        return Some(401);
    }
    check_headers(ctx, &inc.head);
    match ep {
        Endpoint::Admin => Some(not_found(inc.rq, "no such route")),
        Endpoint::Poll => poll::handle(ctx, inc, mods),
        Endpoint::Response => response::handle(ctx, inc, mods),
        Endpoint::Metadata => {
            // Renames through the management API show up here, as they would in the service.
            let managed = ctx
                .state
                .lock()
                .admin
                .tunnels
                .iter()
                .find(|t| t.id == ctx.cfg.tunnel_id)
                .map(|t| (t.name.clone(), t.description.clone()));
            let (name, description) = managed.unwrap_or_else(|| {
                (
                    ctx.cfg.tunnel_name.clone(),
                    ctx.cfg.tunnel_description.clone(),
                )
            });
            let body = json!({
                "id": ctx.cfg.tunnel_id,
                "name": name,
                "description": description,
            });
            respond_json(inc.rq, 200, &body);
            Some(200)
        }
    }
}

/// 404 for another tunnel, 400 when the id is not `tunnel_<32 lowercase alphanumerics>`.
pub(crate) fn check_tunnel(ctx: &Ctx, id: &str) -> Result<(), u16> {
    if id == ctx.cfg.tunnel_id {
        return Ok(());
    }
    check_tunnel_format(id)?;
    Err(404)
}

/// `Err(400)` unless `id` is `tunnel_<32 lowercase alphanumerics>`.
pub(crate) fn check_tunnel_format(id: &str) -> Result<(), u16> {
    let well_formed = id.strip_prefix("tunnel_").is_some_and(|s| {
        s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    });
    if well_formed {
        Ok(())
    } else {
        Err(400)
    }
}

/// Headers every control-plane request should carry (recorded as violations, not refused).
fn check_headers(ctx: &Ctx, head: &Head) {
    let what = format!("{} {}", head.method, head.path);
    if head.header("Accept") != Some("application/json") {
        ctx.state
            .violation(format!("{what}: Accept is {:?}", head.header("Accept")));
    }
    if head.header("User-Agent").is_none_or(str::is_empty) {
        ctx.state.violation(format!("{what}: no User-Agent"));
    }
    if head.method == "POST"
        && !head
            .header("Content-Type")
            .is_some_and(|c| c.starts_with("application/json"))
    {
        ctx.state.violation(format!(
            "{what}: Content-Type is {:?}",
            head.header("Content-Type")
        ));
    }
}

/// Applies a fault. `Err(status)` when the fault answered the request itself.
fn apply_fault(
    ctx: &Ctx,
    inc: Incoming,
    fault: &Fault,
    mods: &mut Mods,
) -> Result<Incoming, Option<u16>> {
    match fault {
        Fault::Status {
            status,
            retry_after,
            body,
        } => {
            let text = body
                .clone()
                .unwrap_or_else(|| default_error_body(*status).to_string());
            let mut headers = vec![("Content-Type", "application/json")];
            if let Some(ra) = retry_after {
                headers.push(("Retry-After", ra.as_str()));
            }
            respond(inc.rq, *status, &headers, text.as_bytes());
            Err(Some(*status))
        }
        Fault::RawBody {
            status,
            content_type,
            body,
        } => {
            respond(inc.rq, *status, &[("Content-Type", content_type)], body);
            Err(Some(*status))
        }
        Fault::Reply {
            status,
            headers,
            body,
            delay,
        } => {
            sleep_unless_shutdown(ctx, *delay);
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            respond(inc.rq, *status, &h, body);
            Err(Some(*status))
        }
        Fault::Drop => {
            server::drop_connection(inc.rq, ctx.listener());
            Err(None)
        }
        Fault::Delay(d) => {
            sleep_unless_shutdown(ctx, *d);
            Ok(inc)
        }
        Fault::DropAfterAccept => {
            mods.drop_after_accept = true;
            Ok(inc)
        }
        Fault::IgnoreLimit => {
            mods.ignore_limit = true;
            Ok(inc)
        }
        Fault::PollWait(d) => {
            mods.poll_wait = Some(*d);
            Ok(inc)
        }
        Fault::TruncatedTransfer { sent } => {
            mods.truncate_after = Some(*sent);
            Ok(inc)
        }
    }
}

/// Sleeps in slices so shutdown is never held up by a scripted delay.
pub(crate) fn sleep_unless_shutdown(ctx: &Ctx, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !ctx.state.lock().shutdown {
        thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
}

/// Writes a 200 whose body stops after `sent` bytes, then closes the connection.
pub(crate) fn truncated_transfer(ctx: &Ctx, rq: tiny_http::Request, body: &[u8], sent: usize) {
    let peer = rq.remote_addr().copied();
    let mut w = rq.into_writer();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = w.write_all(head.as_bytes());
    let _ = w.write_all(&body[..sent.min(body.len())]);
    let _ = w.flush();
    super::sockdrop::shutdown_matching(ctx.listener(), peer);
}

/// Records a command handed out by a scripted poll (not through the queue), so that its
/// response POSTs are validated and accepted like any other.
pub(crate) fn issue_raw(ctx: &Ctx, text: &str) -> String {
    let mut g = ctx.state.lock();
    g.seq += 1;
    let (_, tracked) = command::render(&CommandSpec::raw(text), g.seq, "", None);
    let id = tracked.request_id.clone();
    g.issued.insert(
        id.clone(),
        super::state::Issued {
            tracked,
            done: false,
        },
    );
    id
}

/// Renders and queues a command.
pub(crate) fn enqueue(ctx: &Ctx, spec: &CommandSpec) -> String {
    enqueue_with_default(ctx, spec, None)
}

pub(crate) fn enqueue_with_default(
    ctx: &Ctx,
    spec: &CommandSpec,
    default_timeout: Option<&str>,
) -> String {
    let mut g = ctx.state.lock();
    g.seq += 1;
    let (text, tracked) = command::render(spec, g.seq, &command::rfc3339_now(), default_timeout);
    let id = tracked.request_id.clone();
    g.queue.push_back((text, tracked));
    drop(g);
    ctx.state.notify();
    id
}
