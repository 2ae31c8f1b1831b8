//! Tunnel management (`/v1/tunnels*`): what `tunnel-client admin tunnels` talks to.
//!
//! Not part of the client contract in `spec/openapi.json` (which has only the runtime
//! `GET /v1/tunnels/{id}`); the shapes follow the Go admin client (go-cli-config.md §7):
//! `GET /v1/tunnels?organization_id=…|workspace_id=…|tenant_id=…` lists,
//! `POST /v1/tunnels` creates, `GET|POST|DELETE /v1/tunnels/{id}` reads, updates, deletes.
//! Every answer carries `x-request-id`.
//!
//! Keys: the management routes need the emulator's *admin* key. The runtime key gets
//! `403 tunnel_management_permission_required` there (so a client's key rules are tested
//! for real), any other key `401 invalid_api_key`. `GET /v1/tunnels/{id}` with the runtime
//! key keeps being the runtime metadata route (see `router`).

use serde::Serialize;
use serde_json::{json, Value};

use super::faults::api_error;
use super::router::Incoming;
use super::server::{respond, Head};
use super::Ctx;

/// One tunnel as the management API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelRecord {
    pub id: String,
    pub name: String,
    pub description: String,
    pub creator: String,
    pub organization_ids: Vec<String>,
    pub workspace_ids: Vec<String>,
    pub tenant_ids: Vec<String>,
}

/// The management API's store: every tunnel, in creation order.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub tunnels: Vec<TunnelRecord>,
    pub created: u64,
    pub request_ids: u64,
}

/// The principal families a tunnel is attached to (request field, list query parameter).
const FAMILIES: [(&str, &str); 3] = [
    ("organization_ids", "organization_id"),
    ("workspace_ids", "workspace_id"),
    ("tenant_ids", "tenant_id"),
];

/// Whether a request carries the admin key (so a `GET /v1/tunnels/{id}` is a management read).
pub(crate) fn has_admin_key(ctx: &Ctx, head: &Head) -> bool {
    head.header("Authorization") == Some(format!("Bearer {}", ctx.cfg.admin_key).as_str())
}

fn request_id(ctx: &Ctx) -> String {
    let mut g = ctx.state.lock();
    g.admin.request_ids += 1;
    format!("req_emu_{:06}", g.admin.request_ids)
}

fn answer(ctx: &Ctx, inc: Incoming, status: u16, body: &Value) -> Option<u16> {
    let rid = request_id(ctx);
    let text = serde_json::to_vec(body).unwrap_or_default();
    respond(
        inc.rq,
        status,
        &[("Content-Type", "application/json"), ("x-request-id", &rid)],
        &text,
    );
    Some(status)
}

fn fail(ctx: &Ctx, inc: Incoming, status: u16, msg: &str, code: Option<&str>) -> Option<u16> {
    let kind = if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    answer(ctx, inc, status, &api_error(msg, kind, code))
}

/// Admin key required; the runtime key is refused with the management-permission code.
fn authorize(ctx: &Ctx, head: &Head) -> Result<(), (u16, &'static str, Option<&'static str>)> {
    if has_admin_key(ctx, head) {
        return Ok(());
    }
    let runtime = format!("Bearer {}", ctx.cfg.api_key);
    if head.header("Authorization") == Some(runtime.as_str()) {
        return Err((
            403,
            "This key can use the tunnel but cannot manage tunnels.",
            Some("tunnel_management_permission_required"),
        ));
    }
    Err((401, "Incorrect API key provided.", Some("invalid_api_key")))
}

/// `/v1/tunnels`: GET lists, POST creates.
pub(crate) fn collection(ctx: &Ctx, inc: Incoming) -> Option<u16> {
    if let Err((s, m, c)) = authorize(ctx, &inc.head) {
        return fail(ctx, inc, s, m, c);
    }
    match inc.head.method.as_str() {
        "GET" => list(ctx, inc),
        "POST" => create(ctx, inc),
        _ => fail(ctx, inc, 405, "method not allowed", None),
    }
}

/// `/v1/tunnels/{id}` with the admin key: GET reads, POST updates, DELETE deletes.
pub(crate) fn item(ctx: &Ctx, inc: Incoming, id: &str) -> Option<u16> {
    if let Err((s, m, c)) = authorize(ctx, &inc.head) {
        return fail(ctx, inc, s, m, c);
    }
    if super::router::check_tunnel_format(id).is_err() {
        return fail(
            ctx,
            inc,
            400,
            "malformed tunnel id",
            Some("invalid_tunnel_id_format"),
        );
    }
    let found = ctx
        .state
        .lock()
        .admin
        .tunnels
        .iter()
        .position(|t| t.id == id);
    let Some(pos) = found else {
        return fail(ctx, inc, 404, "tunnel not found", None);
    };
    match inc.head.method.as_str() {
        "GET" => {
            let t = ctx.state.lock().admin.tunnels[pos].clone();
            answer(ctx, inc, 200, &record_json(&t))
        }
        "POST" => update(ctx, inc, id),
        "DELETE" => {
            let t = {
                let mut g = ctx.state.lock();
                match g.admin.tunnels.iter().position(|t| t.id == id) {
                    Some(p) => g.admin.tunnels.remove(p),
                    None => return fail(ctx, inc, 404, "tunnel not found", None),
                }
            };
            answer(ctx, inc, 200, &record_json(&t))
        }
        _ => fail(ctx, inc, 405, "method not allowed", None),
    }
}

fn record_json(t: &TunnelRecord) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn list(ctx: &Ctx, inc: Incoming) -> Option<u16> {
    let given: Vec<(&str, &str)> = FAMILIES
        .iter()
        .filter_map(|(field, param)| {
            inc.head
                .query_all(param)
                .first()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (*field, *v))
        })
        .collect();
    let [(field, value)] = given.as_slice() else {
        return fail(
            ctx,
            inc,
            400,
            "exactly one of organization_id, workspace_id or tenant_id is required",
            Some("tunnel_active_organization_context_required"),
        );
    };
    let value = value.to_string();
    let tunnels: Vec<Value> = ctx
        .state
        .lock()
        .admin
        .tunnels
        .iter()
        .filter(|t| principals(t, field).contains(&value))
        .map(record_json)
        .collect();
    answer(ctx, inc, 200, &json!({ "tunnels": tunnels }))
}

fn principals<'a>(t: &'a TunnelRecord, field: &str) -> &'a Vec<String> {
    match field {
        "organization_ids" => &t.organization_ids,
        "workspace_ids" => &t.workspace_ids,
        _ => &t.tenant_ids,
    }
}

fn principals_mut<'a>(t: &'a mut TunnelRecord, field: &str) -> &'a mut Vec<String> {
    match field {
        "organization_ids" => &mut t.organization_ids,
        "workspace_ids" => &mut t.workspace_ids,
        _ => &mut t.tenant_ids,
    }
}

/// A parsed create/update body: `None` fields were absent.
#[derive(Default)]
struct Changes {
    name: Option<String>,
    description: Option<String>,
    lists: Vec<(&'static str, Vec<String>)>,
}

fn parse_changes(ctx: &Ctx, body: &[u8]) -> Result<Changes, (u16, String, Option<&'static str>)> {
    let bad = |m: String| (400, m, None);
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        (
            400,
            "body must be a JSON object".to_string(),
            Some("invalid_json_payload"),
        )
    })?;
    let Value::Object(o) = v else {
        return Err((
            400,
            "body must be a JSON object".into(),
            Some("invalid_json_payload"),
        ));
    };
    let mut c = Changes::default();
    for (k, val) in &o {
        match (k.as_str(), val) {
            ("name", Value::String(s)) => c.name = Some(s.trim().to_string()),
            ("description", Value::String(s)) => c.description = Some(s.clone()),
            (f @ ("organization_ids" | "workspace_ids" | "tenant_ids"), Value::Array(items)) => {
                let mut out = Vec::new();
                for it in items {
                    match it.as_str().map(str::trim) {
                        Some(s) if !s.is_empty() && !out.iter().any(|x| x == s) => {
                            out.push(s.to_string())
                        }
                        Some(s) if !s.is_empty() => {
                            return Err(bad(format!("{f}: duplicate value {s:?}")))
                        }
                        _ => return Err(bad(format!("{f}: items must be non-empty strings"))),
                    }
                }
                if out.len() > ctx.cfg.max_principals {
                    return Err((
                        400,
                        format!(
                            "{f} has {} entries; at most {} are allowed",
                            out.len(),
                            ctx.cfg.max_principals
                        ),
                        Some("tunnel_principal_limit_exceeded"),
                    ));
                }
                let field: &'static str = FAMILIES
                    .iter()
                    .map(|(f, _)| *f)
                    .find(|x| *x == f)
                    .unwrap_or("tenant_ids");
                c.lists.push((field, out));
            }
            (k, Value::Null) if k != "name" => {}
            (k, _) => return Err(bad(format!("unexpected field or type: {k}"))),
        }
    }
    Ok(c)
}

fn create(ctx: &Ctx, inc: Incoming) -> Option<u16> {
    let c = match parse_changes(ctx, &inc.body) {
        Ok(c) => c,
        Err((s, m, code)) => return fail(ctx, inc, s, &m, code),
    };
    let Some(name) = c.name.filter(|n| !n.is_empty()) else {
        return fail(ctx, inc, 400, "name is required", None);
    };
    if c.lists.iter().all(|(_, l)| l.is_empty()) {
        return fail(
            ctx,
            inc,
            400,
            "at least one of organization_ids, workspace_ids or tenant_ids is required",
            None,
        );
    }
    let t = {
        let mut g = ctx.state.lock();
        g.admin.created += 1;
        let mut t = TunnelRecord {
            id: format!(
                "tunnel_{:032x}",
                (0xad_u128 << 120) | u128::from(g.admin.created)
            ),
            name,
            description: c.description.unwrap_or_default(),
            creator: "emulator-admin".into(),
            organization_ids: Vec::new(),
            workspace_ids: Vec::new(),
            tenant_ids: Vec::new(),
        };
        for (f, l) in c.lists {
            *principals_mut(&mut t, f) = l;
        }
        g.admin.tunnels.push(t.clone());
        t
    };
    answer(ctx, inc, 200, &record_json(&t))
}

fn update(ctx: &Ctx, inc: Incoming, id: &str) -> Option<u16> {
    let c = match parse_changes(ctx, &inc.body) {
        Ok(c) => c,
        Err((s, m, code)) => return fail(ctx, inc, s, &m, code),
    };
    if c.name.is_none() && c.description.is_none() && c.lists.is_empty() {
        return fail(ctx, inc, 400, "nothing to update", None);
    }
    if c.name.as_deref() == Some("") {
        return fail(ctx, inc, 400, "name must not be blank", None);
    }
    let t = {
        let mut g = ctx.state.lock();
        let Some(t) = g.admin.tunnels.iter_mut().find(|t| t.id == id) else {
            drop(g);
            return fail(ctx, inc, 404, "tunnel not found", None);
        };
        if let Some(n) = c.name {
            t.name = n;
        }
        if let Some(d) = c.description {
            t.description = d;
        }
        for (f, l) in c.lists {
            *principals_mut(t, f) = l;
        }
        t.clone()
    };
    answer(ctx, inc, 200, &record_json(&t))
}
