//! `/api/harpoon/status`, `/api/harpoon/targets` and `/api/harpoon/calls` (Go's shapes,
//! §1.15): what Harpoon may reach and what it did. Like every admin route they are
//! loopback-only unless `--allow-remote-ui`; targets show their full URLs (the support
//! bundle redacts them). Call receipts are kept in a ring of 100, fed by the engine's
//! `HarpoonCall` events on the driver thread (one short mutex).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::{json, Value};
use tunnel_core::engine::Event;
use tunnel_core::harpoon::url::HUrl;

use crate::config::RunConfig;

/// Receipts kept (Go: 100).
pub const MAX_CALLS: usize = 100;

/// One finished call.
#[derive(Debug, Clone)]
struct Receipt {
    at: SystemTime,
    label: String,
    url: String,
    method: String,
    status: u16,
    latency_ms: u128,
    content_type: String,
    req_bytes: usize,
    resp_bytes: usize,
    error: String,
    /// `--harpoon.capture-payloads`: request body, response body as received, and the
    /// rewritten one when the rewrite changed it.
    payloads: Option<Payloads>,
}

/// Bodies kept with `--harpoon.capture-payloads`.
#[derive(Debug, Clone)]
struct Payloads {
    request: Vec<u8>,
    response: Vec<u8>,
    transformed: Option<Vec<u8>>,
}

/// A captured body for JSON: UTF-8 text as is, anything else base64 (then `true`).
fn body_text(b: &[u8]) -> (String, bool) {
    match std::str::from_utf8(b) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (tunnel_core::harpoon::b64::encode(b), true),
    }
}

/// Harpoon's admin state.
#[derive(Debug)]
pub struct HarpoonAdmin {
    /// The `/harpoon/mcp` endpoint, when `--harpoon.additional-transport http-streamable`.
    pub mcp: Option<super::harpoon_mcp::HarpoonMcp>,
    status: Value,
    /// Configured targets, then those OAuth discovery registered (with their routes).
    targets: Mutex<(Vec<Value>, Vec<Value>)>,
    /// The proxy route of Harpoon requests (`None`: direct).
    proxy: Option<(String, String)>,
    calls: Mutex<VecDeque<Receipt>>,
    capture: bool,
}

/// Go's route summary of one target (unix-socket targets never use the proxy).
fn route(proxy: &Option<(String, String)>, label: &str, url: &str, unix: bool) -> Value {
    let target = HUrl::parse(url)
        .ok()
        .map(|u| format!("{}:{}", u.hostname(), u.port_or_default().unwrap_or(0)))
        .unwrap_or_default();
    match proxy {
        Some((proxy_url, source)) if !unix => json!({
            "kind": "harpoon_target", "name": label, "target": target,
            "route_mode": "proxy", "proxy_source": source, "proxy_url": proxy_url,
        }),
        _ => json!({
            "kind": "harpoon_target", "name": label, "target": target,
            "route_mode": "direct", "proxy_source": if unix { "ignored" } else { "none" }, "proxy_url": "",
        }),
    }
}

/// `scheme://host` of a proxy URL (never its credentials).
fn proxy_origin(url: &str) -> String {
    HUrl::parse(url).map(|u| u.origin()).unwrap_or_default()
}

impl HarpoonAdmin {
    pub fn from_config(c: &RunConfig) -> HarpoonAdmin {
        let h = &c.harpoon;
        let reason = if h.targets.is_empty() {
            "no targets configured"
        } else {
            ""
        };
        let proxy = h
            .http_proxy
            .as_ref()
            .map(|p| (p, "harpoon.http-proxy"))
            .or(c.http_proxy.as_ref().map(|p| (p, "http-proxy")));
        let proxy = proxy.map(|(p, source)| {
            let source = if p.source.is_empty() {
                source
            } else {
                p.source.as_str()
            };
            (proxy_origin(&p.url), source.to_string())
        });
        let routes: Vec<Value> = h
            .targets
            .iter()
            .map(|t| route(&proxy, &t.label, &t.url, t.unix_socket.is_some()))
            .collect();
        let status = json!({
            "enabled": !h.targets.is_empty(),
            "reason": reason,
            "capture_payloads": h.capture_payloads,
            "allow_plaintext_http": h.allow_plaintext_http,
            "max_response_bytes": h.max_response_bytes,
            "max_redirects": h.max_redirects,
            "proxy_routes": [],
        });
        let targets: Vec<Value> = h
            .targets
            .iter()
            .map(|t| {
                json!({
                    "label": t.label,
                    "url": t.url,
                    "description": t.description.clone().unwrap_or_default(),
                    "category": "config",
                    "source": "config",
                    "tags": [],
                    "inclusion_reason": "",
                })
            })
            .collect();
        HarpoonAdmin {
            mcp: None,
            status,
            targets: Mutex::new((targets, routes)),
            proxy,
            calls: Mutex::new(VecDeque::new()),
            capture: h.capture_payloads,
        }
    }

    /// A target OAuth discovery registered: listed, routed, and served on `/harpoon/mcp`.
    fn registered(&self, t: &tunnel_core::harpoon::Target) {
        let mut g = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        g.0.push(json!({
            "label": t.label,
            "url": t.exact,
            "description": t.description,
            "category": t.category,
            "source": t.source,
            "tags": t.tags,
            "inclusion_reason": t.inclusion_reason,
        }));
        g.1.push(route(
            &self.proxy,
            &t.label,
            &t.exact,
            t.unix_socket.is_some(),
        ));
        drop(g);
        if let Some(m) = &self.mcp {
            m.register(t);
        }
    }

    /// Keeps a receipt of a finished call.
    pub fn record(&self, event: &Event) {
        if let Event::HarpoonHost {
            target: Some(t), ..
        } = event
        {
            self.registered(t);
            return;
        }
        let Event::HarpoonCall {
            latency, outcome, ..
        } = event
        else {
            return;
        };
        if !outcome.decoded {
            return;
        }
        let (status, content_type, resp_bytes, error) = match &outcome.result {
            Ok(r) => (r.status, r.content_type.clone(), r.body_size, String::new()),
            Err(e) => (0, String::new(), 0, e.cause()),
        };
        let receipt = Receipt {
            at: SystemTime::now(),
            label: outcome.metrics_label.clone(),
            url: outcome.url.clone(),
            method: outcome.method.clone(),
            status,
            latency_ms: latency.as_millis(),
            content_type,
            req_bytes: outcome.request_bytes,
            resp_bytes,
            error,
            payloads: self.capture.then(|| {
                let request = outcome.request_body.to_vec();
                let (response, transformed) = match &outcome.result {
                    Ok(r) => match &r.original_body {
                        Some(orig) => (orig.clone(), Some(r.body.clone())),
                        None => (r.body.clone(), None),
                    },
                    Err(_) => (Vec::new(), None),
                };
                Payloads {
                    request,
                    response,
                    transformed,
                }
            }),
        };
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.len() == MAX_CALLS {
            calls.pop_front();
        }
        calls.push_back(receipt);
    }

    pub fn status(&self) -> Value {
        let g = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = self.status.clone();
        if !g.0.is_empty() {
            s["enabled"] = json!(true);
            s["reason"] = json!("");
        }
        s["proxy_routes"] = json!(g.1);
        s
    }

    pub fn targets(&self) -> Value {
        let g = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        json!({ "targets": g.0 })
    }

    /// Newest first, optionally for one label; `limit` 1…100 (default 100; invalid →
    /// default).
    pub fn calls(&self, label: Option<&str>, limit: Option<&str>) -> Value {
        let limit = limit
            .and_then(|l| l.trim().parse::<usize>().ok())
            .filter(|n| (1..=MAX_CALLS).contains(n))
            .unwrap_or(MAX_CALLS);
        let label = label.map(str::trim).filter(|l| !l.is_empty());
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let out: Vec<Value> = calls
            .iter()
            .rev()
            .filter(|r| label.is_none_or(|l| r.label == l))
            .take(limit)
            .map(|r| {
                let mut v = json!({
                    "timestamp": crate::logging::rfc3339_millis(r.at),
                    "label": r.label,
                    "url": r.url,
                    "method": r.method,
                    "status": r.status,
                    "latency_ms": r.latency_ms,
                    "response_content_type": r.content_type,
                    "req_bytes": r.req_bytes,
                    "resp_bytes": r.resp_bytes,
                    "error": r.error,
                });
                if let (Some(p), Some(obj)) = (&r.payloads, v.as_object_mut()) {
                    let (req, req64) = body_text(&p.request);
                    let (resp, resp64) = body_text(&p.response);
                    let transformed = &p.transformed;
                    obj.insert("request_body".into(), json!(req));
                    obj.insert("response_body".into(), json!(resp));
                    if let Some(t) = transformed {
                        obj.insert("response_body_transformed".into(), json!(body_text(t).0));
                    }
                    if req64 || resp64 {
                        obj.insert("body_is_base64".into(), json!(true));
                    }
                }
                v
            })
            .collect();
        json!({ "calls": out })
    }

    /// Status, targets and the last calls, for the support bundle (redacted there).
    pub fn snapshot(&self) -> Value {
        json!({
            "status": self.status(),
            "targets": self.targets()["targets"],
            "calls": self.calls(None, None)["calls"],
        })
    }
}
