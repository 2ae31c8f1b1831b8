//! `GET /v1/tunnels/{tunnel_id}/poll`: the long poll.

use std::time::{Duration, Instant};

use super::faults::api_error;
use super::latency::Leg;
use super::router::{truncated_transfer, Incoming, Mods};
use super::server::{respond, respond_json};
use super::state::{Handout, Issued};
use super::Ctx;

/// Contract bounds on `limit`.
const MAX_LIMIT: usize = 25;
/// Cap on commands handed out when a fault says to ignore `limit`.
const IGNORE_LIMIT_CAP: usize = 100;

pub(crate) fn handle(ctx: &Ctx, inc: Incoming, mods: Mods) -> Option<u16> {
    let params = match parse(ctx, &inc) {
        Ok(p) => p,
        Err(msg) => {
            ctx.state.violation(format!("poll {}: {msg}", inc.head.url));
            respond_json(inc.rq, 400, &api_error(&msg, "invalid_request_error", None));
            return Some(400);
        }
    };
    let limit = if mods.ignore_limit {
        IGNORE_LIMIT_CAP
    } else {
        params.limit
    };
    let wait = mods
        .poll_wait
        .unwrap_or(params.wait)
        .min(ctx.cfg.max_poll_wait);
    let channels = params.channels;
    let poller = inc
        .head
        .header("X-Tunnel-Client-Instance-Id")
        .map(str::to_string);
    let taken = ctx.state.wait_until(Instant::now() + wait, |g| {
        let mut out = Vec::new();
        let mut i = 0;
        while i < g.queue.len() && out.len() < limit {
            if channels.is_empty() || channels.contains(&g.queue[i].1.channel) {
                if let Some(item) = g.queue.remove(i) {
                    out.push(item);
                }
            } else {
                i += 1;
            }
        }
        if out.is_empty() {
            return None;
        }
        for (_, t) in &out {
            g.handouts.push(Handout {
                request_id: t.request_id.clone(),
                poller: poller.clone(),
            });
            g.issued.insert(
                t.request_id.clone(),
                Issued {
                    tracked: t.clone(),
                    done: false,
                },
            );
        }
        g.polls_served += 1;
        Some(out)
    });
    let Some(taken) = taken else {
        if ctx.state.lock().shutdown {
            respond_json(
                inc.rq,
                503,
                &api_error(
                    "emulator shutting down",
                    "server_error",
                    Some("tunnel_transport_unavailable"),
                ),
            );
            return Some(503);
        }
        respond(inc.rq, 204, &[], b"");
        return Some(204);
    };
    // The answer crosses the (emulated) internet: the commands are already off the queue.
    ctx.latency.sleep(Leg::Poll);
    let items: Vec<&str> = taken.iter().map(|(text, _)| text.as_str()).collect();
    let body = format!("{{\"commands\":[{}]}}", items.join(","));
    if let Some(sent) = mods.truncate_after {
        truncated_transfer(ctx, inc.rq, body.as_bytes(), sent);
        return None;
    }
    respond(
        inc.rq,
        200,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    Some(200)
}

struct Params {
    limit: usize,
    wait: Duration,
    /// Lower-cased channel filter; empty means every channel.
    channels: Vec<String>,
}

/// Validates the query the way the contract's schema does (`limit` 1..=25, `timeout_ms` ≥ 1).
fn parse(ctx: &Ctx, inc: &Incoming) -> Result<Params, String> {
    let limit = match inc.head.query_all("limit").first() {
        None => ctx.cfg.default_limit.clamp(1, MAX_LIMIT),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(format!("limit must be an integer in 1..=25, got {v:?}")),
        },
    };
    let wait = match inc.head.query_all("timeout_ms").first() {
        None => ctx.cfg.default_poll_wait,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n >= 1 => Duration::from_millis(n),
            _ => return Err(format!("timeout_ms must be an integer >= 1, got {v:?}")),
        },
    };
    let mut channels = Vec::new();
    for c in inc.head.query_all("channel") {
        let valid = !c.is_empty()
            && c.len() <= 64
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(format!("invalid channel {c:?}"));
        }
        channels.push(c.to_string());
    }
    Ok(Params {
        limit,
        wait,
        channels,
    })
}
