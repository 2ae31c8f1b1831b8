//! Admin routes: the UI page and assets, `/api/status`, `/api/logs`, `/api/log-level`,
//! `/api/logs/export`. Every route is loopback-only unless `--allow-remote-ui`
//! ([`super::access`]); the level switch also requires a same-origin request.

use std::time::{Duration, Instant, SystemTime};

use crate::daemon::tunnel::TunnelHandle;
use serde_json::{json, Value};
use tunnel_blocking::Snapshot;

use super::access::{check_peer, check_same_origin};
use super::{assets, bundle, redact, Admin};
use crate::daemon::listener::{Request, Response};
use crate::daemon::metrics::Metrics;
use crate::logging;

/// `/api/logs` default and largest `limit` (Go: 200 and 5000, further capped by the buffer).
const LOGS_DEFAULT_LIMIT: usize = 200;
const LOGS_MAX_LIMIT: usize = 5000;

/// Levels the UI can switch between (Go's list).
pub const SUPPORTED_LEVELS: [&str; 3] = ["debug", "info", "warn"];

/// The admin paths, or `None` for anything else.
pub fn route(
    admin: &Admin,
    runtime: &TunnelHandle,
    metrics: &Metrics,
    req: &Request,
) -> Option<Response> {
    let path = req.path.as_str();
    let known = matches!(
        path,
        "/" | "/ui"
            | "/ui/"
            | "/favicon.ico"
            | "/api/status"
            | "/api/logs"
            | "/api/log-level"
            | "/api/logs/export"
            | "/api/harpoon/status"
            | "/api/harpoon/targets"
            | "/api/harpoon/calls"
            | "/api/oauth"
            | "/api/system"
            | "/api/logs/stream"
    ) || path.starts_with("/assets/");
    if !known {
        return None;
    }
    if let Err(refused) = check_peer(req, admin.allow_remote) {
        return Some(no_store(refused));
    }
    let get = matches!(req.method.as_str(), "GET" | "HEAD");
    let resp = match path {
        "/api/log-level" => log_level(req),
        _ if !get => {
            Response::text(405, "method not allowed: use GET\n").with_header("Allow", "GET, HEAD")
        }
        "/" | "/ui" | "/ui/" => assets::index(),
        "/favicon.ico" => Response::new(204, "image/x-icon", Vec::new()),
        "/api/status" => json_response(200, &status(admin, &runtime.snapshot())),
        "/api/logs" => logs(admin, req),
        "/api/logs/export" => export(admin, runtime, metrics, req),
        "/api/harpoon/status" => json_response(200, &admin.harpoon.status()),
        "/api/harpoon/targets" => json_response(200, &admin.harpoon.targets()),
        "/api/harpoon/calls" => json_response(
            200,
            &admin.harpoon.calls(
                req.query_param("label").as_deref(),
                req.query_param("limit").as_deref(),
            ),
        ),
        "/api/logs/stream" => super::log_stream::stream(&admin.logs, req),
        "/api/oauth" => json_response(200, &super::oauth_api::oauth(&runtime.snapshot())),
        "/api/system" => json_response(
            200,
            &super::oauth_api::system(admin, &runtime.snapshot(), runtime.trust_report()),
        ),
        p => assets::asset(p).unwrap_or_else(|| Response::text(404, "not found\n")),
    };
    Some(no_store(resp))
}

/// Go's cache headers for every admin answer, plus framing/sniffing protection.
fn no_store(r: Response) -> Response {
    r.with_header("Cache-Control", "no-store, max-age=0")
        .with_header("Pragma", "no-cache")
        .with_header("Expires", "0")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("X-Frame-Options", "DENY")
        .with_header("Referrer-Policy", "same-origin")
}

fn json_response(status: u16, v: &Value) -> Response {
    Response::new(status, "application/json; charset=utf-8", format!("{v}\n"))
}

/// Wall-clock time of an `Instant` in the past.
pub(crate) fn wall(t: Instant) -> SystemTime {
    SystemTime::now()
        .checked_sub(Instant::now().saturating_duration_since(t))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn rfc3339(t: SystemTime) -> String {
    logging::rfc3339_millis(t)
}

/// The running level as Go prints it (`debug`, `info`, …; `debug-4` for trace).
pub fn level_name(l: log::LevelFilter) -> &'static str {
    match l {
        log::LevelFilter::Off => "off",
        log::LevelFilter::Error => "error",
        log::LevelFilter::Warn => "warn",
        log::LevelFilter::Info => "info",
        log::LevelFilter::Debug => "debug",
        log::LevelFilter::Trace => "debug-4",
    }
}

/// `/api/status`: Go's field names where they exist, plus the runtime state the overview
/// shows (control plane, readiness, counts, latency).
pub fn status(admin: &Admin, snap: &Snapshot) -> Value {
    let info = &admin.info;
    let s = &snap.status;
    let now = SystemTime::now();
    let down = |name: &str| {
        s.bindings_down
            .iter()
            .find(|(c, _)| c.as_str() == name)
            .map(|(_, r)| r.clone())
    };
    let channels: Vec<Value> = info
        .channels
        .iter()
        .map(|c| {
            let reason = down(&c.name);
            json!({
                "name": c.name,
                "enabled": reason.is_none(),
                "server_kind": "external",
                "transport_kind": c.transport,
                "reason": reason,
                "details": [{"key": c.detail.0, "value": c.detail.1}],
            })
        })
        .collect();
    let cp_state = if snap.stopped {
        "stopped"
    } else if s.draining {
        "draining"
    } else if s.auth_problem.is_some() {
        "auth_rejected"
    } else if s.consecutive_poll_failures > 0 {
        "failing"
    } else if s.last_poll_success.is_some() {
        "ok"
    } else {
        "connecting"
    };
    let counters = &*snap.stats;
    let latency = admin.activity.latency().map(|l| {
        json!({
            "window": l.count,
            "p50_ms": round1(l.p50_ms),
            "p95_ms": round1(l.p95_ms),
            "max_ms": round1(l.max_ms),
            "last_ms": round1(l.last_ms),
        })
    });
    let recent: Vec<Value> = admin
        .activity
        .recent(20)
        .into_iter()
        .map(|c| {
            json!({
                "time": rfc3339(c.at),
                "channel": c.channel,
                "method": c.method,
                "resp_type": c.resp_type,
                "resp_code": c.resp_code,
                "latency_ms": round1(c.poll_to_response.as_secs_f64() * 1000.0),
            })
        })
        .collect();
    let uptime = now
        .duration_since(info.started_at)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let mut v = json!({
        "version": info.version,
        "implementation": "rust",
        "client_instance_id": info.instance_id,
        "started_at": rfc3339(info.started_at),
        "uptime_seconds": uptime,
        "health_listen_addr": info.health_listen_addr,
        "control_plane_base_url": info.control_plane_base_url,
        "control_plane_tunnel_id": info.tunnel_id,
        "control_plane_max_inflight": info.max_inflight,
        "control_plane_poll_timeout": info.poll_timeout,
        "control_plane_poll_deadline_guardrail": info.poll_deadline_guardrail,
        "mcp_max_concurrent_requests": info.max_concurrent,
        "config_source": info.config_source,
        "channels": channels,
        "raw_http_logging_enabled": false,
        "tunnel_metadata": snap.metadata.as_ref().map(|m| json!({
            "ID": m.id, "Name": m.name, "Description": m.description,
        })),
        "tunnel_metadata_error": admin.activity.metadata_error(),
        "warnings": info.warnings,
        "routes": info.routes,
        "control_plane": {
            "state": cp_state,
            "last_poll_success": s.last_poll_success.map(|t| rfc3339(wall(t))),
            "last_poll_success_seconds_ago": s.last_poll_success
                .map(|t| Instant::now().saturating_duration_since(t).as_secs()),
            "consecutive_poll_failures": s.consecutive_poll_failures,
            "last_poll_error": s.last_poll_error,
            "auth_problem": s.auth_problem,
        },
        "readiness": {
            "ready": snap.readiness.is_ok(),
            "reason": snap.readiness.as_ref().err(),
            "note": snap.ready_note,
        },
        "commands": {
            "in_flight": snap.in_flight,
            "queued": s.queued,
            "running": s.running,
            "posting": s.posting,
            "completed": counters.completed_total(),
            "failures_synthesized": counters.failures_total(),
            "deadlines_expired": counters.deadlines_expired,
            "delivery_failed": counters.response_delivery_failed,
        },
        "latency": latency,
        "recent_commands": recent,
        "draining": s.draining,
        "log": {
            "level": level_name(logging::level()),
            "format": info.log_format,
            "buffer_capacity": admin.logs.capacity(),
        },
    });
    super::oauth_api::extend_status(&mut v, snap);
    redact::json(&mut v);
    v
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// `GET /api/logs?limit=N&after=SEQ`: `{"events":[…], "next_seq": n, "capacity": n}`.
fn logs(admin: &Admin, req: &Request) -> Response {
    let limit = req
        .query_param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(LOGS_DEFAULT_LIMIT)
        .min(LOGS_MAX_LIMIT)
        .min(admin.logs.capacity());
    let after = req
        .query_param("after")
        .and_then(|a| a.parse::<u64>().ok())
        .unwrap_or(0);
    let events: Vec<Value> = admin
        .logs
        .recent(limit, after)
        .iter()
        .map(|e| e.to_json())
        .collect();
    json_response(
        200,
        &json!({
            "events": events,
            "next_seq": admin.logs.next_seq(),
            "capacity": admin.logs.capacity(),
        }),
    )
}

fn level_state() -> Value {
    json!({
        "level": level_name(logging::level()),
        "supported_levels": SUPPORTED_LEVELS,
    })
}

/// `GET|PUT /api/log-level` (Go's contract: PUT body exactly one JSON object
/// `{"level":"debug|info|warn"}`, case-insensitive, unknown fields refused).
fn log_level(req: &Request) -> Response {
    match req.method.as_str() {
        "GET" | "HEAD" => json_response(200, &level_state()),
        "PUT" => {
            if let Err(refused) = check_same_origin(req) {
                return refused;
            }
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                level: String,
            }
            let body: Body = match serde_json::from_slice(&req.body) {
                Ok(b) => b,
                Err(e) => {
                    return Response::text(400, format!("decode request: {e}\n"));
                }
            };
            let want = body.level.trim().to_ascii_lowercase();
            let filter = match want.as_str() {
                "debug" => log::LevelFilter::Debug,
                "info" => log::LevelFilter::Info,
                "warn" => log::LevelFilter::Warn,
                _ => {
                    return Response::text(
                        400,
                        format!(
                            "unsupported log level {:?} (expected one of: debug, info, warn)\n",
                            body.level
                        ),
                    )
                }
            };
            let previous = level_name(logging::level());
            logging::set_level(filter);
            let level = match filter {
                log::LevelFilter::Debug => log::Level::Debug,
                log::LevelFilter::Warn => log::Level::Warn,
                _ => log::Level::Info,
            };
            log::log!(
                target: "tunnel_client::admin",
                level,
                "runtime log level updated previous_level={previous} new_level={}",
                level_name(filter)
            );
            json_response(200, &level_state())
        }
        _ => Response::text(405, "method not allowed\n").with_header("Allow", "GET, PUT"),
    }
}

/// `GET /api/logs/export?minutes=N`: the support bundle download.
fn export(admin: &Admin, runtime: &TunnelHandle, metrics: &Metrics, req: &Request) -> Response {
    let minutes = bundle::parse_minutes(req.query_param("minutes").as_deref());
    let now = SystemTime::now();
    let since = now
        .checked_sub(Duration::from_secs(minutes * 60))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let logs = admin.logs.since(since);
    let snap = runtime.snapshot();
    let metrics_text = metrics.render(&snap);
    let (name, bytes) = bundle::build(
        &admin.bundle,
        bundle::Live {
            logs: &logs,
            log_capacity: admin.logs.capacity(),
            metrics: &metrics_text,
            status: status(admin, &snap),
            harpoon: admin.harpoon.snapshot(),
            system: super::oauth_api::system(admin, &snap, runtime.trust_report()),
            oauth: super::oauth_api::oauth(&snap),
            minutes,
            now,
        },
    );
    log::info!(
        "support bundle exported: {name} ({} bytes, {} log events, window {minutes}m)",
        bytes.len(),
        logs.len()
    );
    Response::new(200, "application/gzip", bytes).with_header(
        "Content-Disposition",
        &format!("attachment; filename=\"{name}\""),
    )
}
