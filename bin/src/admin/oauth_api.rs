//! `/api/oauth` and `/api/system`, and the startup-check fields of `/api/status`: what the
//! engine's startup checks (MCP probe, OAuth discovery) found, in the Go client's field
//! names (`go-harpoon-oauth-security.md` §2.7, `go-runtime.md` §9.2), redacted like every
//! admin answer.

use serde_json::{json, Value};
use tunnel_blocking::{Snapshot, TrustReport};
use tunnel_core::engine::ProbeState;

use super::{redact, Admin};

/// `/api/oauth`: discovery's candidates, the selected metadata with every attempt, the
/// authorization server's metadata, and what is wrong (`error`, `auth_server_warning`).
/// `fix` is ours: what an operator does about the error.
pub fn oauth(snap: &Snapshot) -> Value {
    let s = &*snap.startup;
    let mut v = match &s.oauth {
        Some(r) => r.to_json(s.oauth_pending),
        None => json!({
            "pending": s.oauth_pending,
            "auth_server_metadata_mode": tunnel_core::oauth::startup::AUTH_SERVER_MODE,
            "authorization_server_count": 0,
            "metadata_source": "",
        }),
    };
    if v.get("discovery_urls")
        .is_none_or(|u| u.as_array().is_none_or(Vec::is_empty))
    {
        v["discovery_urls"] = json!(s.discovery_urls);
    }
    if v.get("error").is_some() {
        v["fix"] = json!(FIX);
    }
    // Go's `metadata.fetched_at`: the runtime stamps it (the core keeps no wall clock).
    if let (Some(t), Some(m)) = (snap.oauth_fetched_at, v.get_mut("metadata")) {
        if m.get("url").is_some() {
            m["fetched_at"] = json!(crate::logging::rfc3339_millis(t));
        }
    }
    v["started"] = json!(s.started);
    scrub(&mut v);
    v
}

/// Redaction for discovery documents: their field names (`authorization_servers`,
/// `token_endpoint`) are not secrets, so the key-based redaction of other admin answers
/// would hide what the operator came for. Secret-looking values are still rewritten, and
/// response headers with sensitive names (`Set-Cookie`) are hidden.
fn scrub(v: &mut Value) {
    match v {
        Value::String(s) => *s = redact::string(s),
        Value::Array(a) => a.iter_mut().for_each(scrub),
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "headers" {
                    if let Value::Object(h) = x {
                        for (name, value) in h.iter_mut() {
                            if redact::is_secret_key(name) {
                                *value = json!("[REDACTED]");
                            }
                        }
                    }
                }
                scrub(x);
            }
        }
        _ => {}
    }
}

/// What to do when discovery fails (Go's doctor advice, in our words).
const FIX: &str = "serve GET /.well-known/oauth-protected-resource<mcp path> (or name it in a 401 WWW-Authenticate Bearer resource_metadata) with {\"resource\": <mcp url>, \"authorization_servers\": [<issuer>]}, and the issuer's /.well-known/oauth-authorization-server; if the server uses no OAuth, let those paths answer 404; `tunnel-client doctor` runs the same discovery";

/// `/api/system`: the trust store and the proxy routes in effect (Go's TLS and proxy
/// report: the same routes as `/api/status` and the startup log, each proxy once in
/// `proxy_identity_map`), and the main channel's probe status.
pub fn system(admin: &Admin, snap: &Snapshot, trust: &TrustReport) -> Value {
    let probe = &snap.startup.probe;
    let mut v = json!({
        "tls": {
            "trust_source": trust.source,
            "system_cert_count": trust.system_certs,
            "ca_bundle": trust.ca_bundle,
            "ca_bundle_cert_ids": trust.ca_bundle_cert_ids,
            "control_plane_client_cert": trust.control_plane_client_cert,
            "mcp_client_cert": trust.mcp_client_cert,
            "system_trust": {"enabled": true, "source": trust.source},
            "extra_bundle": extra_bundle(trust),
        },
        "routes": admin.info.routes,
        "proxy_identity_map": admin.info.proxy_identity_map,
        "main_channel_probe_status": probe.status(),
        "channels": admin.info.channels.iter().map(|c| json!({
            "name": c.name, "transport_kind": c.transport,
        })).collect::<Vec<_>>(),
    });
    if let ProbeState::Done(o) = probe {
        if let Some(e) = o.error() {
            v["main_channel_probe_error"] = json!(e);
        }
    }
    if let Some(h) = &admin.proxy_health {
        let health = crate::daemon::routes::health_json(&h.summaries());
        if health.as_array().is_some_and(|a| !a.is_empty()) {
            v["proxy_health"] = health;
        }
    }
    scrub(&mut v);
    v
}

/// Go's `extra_bundle` (`null` without `--ca-bundle`): the bundle's path and each
/// certificate's id, names and validity, as the `tls trust summary` log line.
fn extra_bundle(trust: &TrustReport) -> Value {
    let Some(path) = &trust.ca_bundle else {
        return Value::Null;
    };
    let certs: Vec<Value> = trust
        .ca_bundle_certs
        .iter()
        .map(|c| {
            let mut v = json!({
                "cert_id": c.cert_id,
                "description": "extra CA bundle certificate",
                "source": path,
            });
            match &c.info {
                Ok(i) => {
                    v["name"] = json!(i.name());
                    v["subject_cn"] = json!(i.subject_cn.as_deref().unwrap_or(""));
                    v["issuer_cn"] = json!(i.issuer_cn.as_deref().unwrap_or(""));
                    v["not_before"] = json!(i.not_before);
                    v["not_after"] = json!(i.not_after);
                    v["parse_status"] = json!("ok");
                }
                Err(e) => v["parse_status"] = json!(e),
            }
            v
        })
        .collect();
    json!({
        "path": path,
        "cert_count": certs.len(),
        "parse_errors": trust.ca_bundle_certs.iter().filter(|c| c.info.is_err()).count(),
        "certificates": certs,
    })
}

/// Adds the startup-check fields to `/api/status`: `mcp_resource_metadata_urls` and the
/// main channel's `probe_status` / `probe_error`.
pub fn extend_status(v: &mut Value, snap: &Snapshot) {
    let s = &*snap.startup;
    let urls: Vec<String> = match &s.oauth {
        Some(r) if !r.discovery_urls.is_empty() => r.discovery_urls.clone(),
        _ => s.discovery_urls.clone(),
    };
    if !urls.is_empty() {
        v["mcp_resource_metadata_urls"] = json!(urls);
    }
    if !s.started {
        return;
    }
    if let Some(channels) = v.get_mut("channels").and_then(Value::as_array_mut) {
        for c in channels.iter_mut().filter(|c| c["name"] == "main") {
            c["probe_status"] = json!(s.probe.status());
            if let ProbeState::Done(o) = &s.probe {
                if let Some(e) = o.error() {
                    c["probe_error"] = json!(e);
                }
                // Go shows a main channel whose probe failed as disabled, with this reason.
                if o.readiness().is_err() && c["enabled"] == true {
                    c["enabled"] = json!(false);
                    c["reason"] = json!("initial mcp probe failed");
                }
            }
        }
    }
}
