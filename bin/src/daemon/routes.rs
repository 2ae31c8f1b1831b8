//! Route reporting: which proxy each destination uses and why, for the startup log and
//! `/api/status` (Go's route summary: kind, name, target, route_mode, proxy_source,
//! proxy_url, proxy_id).
//!
//! The decision is `tunnel_core::proxy_route::select` with the same inputs the runtime
//! gets from `settings::runtime_options`, so the report is what the transport does.
//! Proxy URLs are shown without credentials; `proxy_id` is the hex SHA-256 of that shown
//! URL, so logs, metrics and the UI can name a proxy without its address.

use serde_json::{json, Value};
use tunnel_core::proxy_route::{self, ExplicitProxy, ProxyEnv, Route, RouteKind};

use crate::config::{Proxy, RunConfig};

/// One destination's route, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSummary {
    pub kind: &'static str,
    pub name: String,
    pub target: String,
    pub route_mode: &'static str,
    pub proxy_source: String,
    /// Lower-case `scheme://host[:port]`, no credentials.
    pub proxy_url: Option<String>,
    pub proxy_id: Option<String>,
}

fn explicit(p: &Option<Proxy>) -> Option<ExplicitProxy> {
    p.as_ref().map(|p| ExplicitProxy {
        url: p.url.clone(),
        source: p.source.clone(),
    })
}

/// Hex SHA-256 of the shown proxy URL.
pub fn proxy_id(shown: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, shown.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn summary(r: &Route) -> RouteSummary {
    let proxy_url = r.proxy_url();
    RouteSummary {
        kind: r.kind.as_str(),
        name: r.name.clone(),
        target: r.target.clone(),
        route_mode: r.mode.as_str(),
        proxy_source: r.source.clone(),
        proxy_id: proxy_url.as_deref().map(proxy_id),
        proxy_url,
    }
}

/// The control plane's route and every HTTP MCP binding's, as `run` takes them: what both
/// the route report and the proxy health checker start from.
fn network_routes(c: &RunConfig, env: &ProxyEnv) -> Vec<Route> {
    let mut out = vec![proxy_route::select(
        RouteKind::ControlPlane,
        "control-plane",
        &c.control_plane.base_url,
        explicit(&c.control_plane.http_proxy).as_ref(),
        None,
        env,
    )];
    for b in &c.mcp.server_urls {
        let unix = b.unix_socket.as_ref().map(|p| p.display().to_string());
        out.push(proxy_route::select(
            RouteKind::McpChannel,
            &b.channel,
            &b.url,
            explicit(&b.http_proxy).as_ref(),
            unix.as_deref(),
            env,
        ));
    }
    out
}

/// The routes of the control plane and every HTTP MCP binding (stdio bindings have no
/// network route and are listed as `ignored`).
pub fn routes(c: &RunConfig, env: &ProxyEnv) -> Vec<RouteSummary> {
    let mut out: Vec<RouteSummary> = network_routes(c, env).iter().map(summary).collect();
    for b in &c.mcp.commands {
        out.push(RouteSummary {
            kind: RouteKind::McpChannel.as_str(),
            name: b.channel.clone(),
            target: "stdio".into(),
            route_mode: "direct",
            proxy_source: "ignored".into(),
            proxy_url: None,
            proxy_id: None,
        });
    }
    out
}

/// The routes the proxy health checker watches (Go's `buildRoutes`): the control plane,
/// every MCP binding (stdio ones as `ignored`, never checked) and every Harpoon target, the
/// last through `--harpoon.http-proxy` (else the global proxy) or directly, as the runtime
/// sends them (Harpoon ignores the proxy variables of the environment). Each route keeps
/// its proxy's credentials, for the check's `Proxy-Authorization`.
pub fn health_routes(c: &RunConfig, env: &ProxyEnv) -> Vec<Route> {
    let mut out = network_routes(c, env);
    for b in &c.mcp.commands {
        let mut r = proxy_route::select(
            RouteKind::McpChannel,
            &b.channel,
            "",
            None,
            Some("stdio"),
            env,
        );
        r.target = "stdio".into();
        out.push(r);
    }
    let harpoon_proxy = explicit(&c.harpoon.http_proxy).or_else(|| explicit(&c.http_proxy));
    for t in &c.harpoon.targets {
        let unix = t.unix_socket.as_ref().map(|p| p.display().to_string());
        out.push(proxy_route::select(
            RouteKind::HarpoonTarget,
            &t.label,
            &t.url,
            harpoon_proxy.as_ref(),
            unix.as_deref(),
            &ProxyEnv::default(),
        ));
    }
    out
}

/// A route as shown (credentials dropped, `proxy_id` added).
pub fn summarize(r: &Route) -> RouteSummary {
    summary(r)
}

pub fn to_json(routes: &[RouteSummary]) -> Value {
    Value::Array(
        routes
            .iter()
            .map(|r| {
                json!({
                    "kind": r.kind,
                    "name": r.name,
                    "target": r.target,
                    "route_mode": r.route_mode,
                    "proxy_source": r.proxy_source,
                    "proxy_url": r.proxy_url,
                    "proxy_id": r.proxy_id,
                })
            })
            .collect(),
    )
}

/// Go's `RouteHealthSummary` list for `/api/system` `proxy_health`: each route (as
/// shown, no credentials), its `health_state` (`direct`, `healthy`, `unhealthy`),
/// `last_check` / `last_success` (RFC 3339, absent before the first) and its last ten
/// check records, oldest first, with Go's field names (zero durations and absent errors
/// omitted, as Go's `omitempty`).
pub fn health_json(routes: &[tunnel_core::proxy_health::RouteHealth]) -> Value {
    let time = |t: std::time::SystemTime| crate::logging::rfc3339_millis(t);
    Value::Array(
        routes
            .iter()
            .map(|r| {
                let s = summary(&r.route);
                let mut route = json!({
                    "kind": s.kind,
                    "name": s.name,
                    "target": s.target,
                    "route_mode": s.route_mode,
                    "proxy_source": s.proxy_source,
                });
                if let (Some(url), Some(id)) = (s.proxy_url, s.proxy_id) {
                    route["proxy_url"] = json!(url);
                    route["proxy_id"] = json!(id);
                }
                let history: Vec<Value> = r
                    .history
                    .iter()
                    .map(|h| {
                        let mut v = json!({"timestamp": time(h.timestamp), "success": h.success});
                        let ms = |d: std::time::Duration| d.as_millis() as u64;
                        if ms(h.tcp_duration) > 0 {
                            v["tcp_duration_ms"] = json!(ms(h.tcp_duration));
                        }
                        if ms(h.connect_duration) > 0 {
                            v["connect_duration_ms"] = json!(ms(h.connect_duration));
                        }
                        if let Some((phase, reason)) = h.error {
                            v["error_phase"] = json!(phase.as_str());
                            v["error_reason"] = json!(reason.as_str());
                        }
                        if let Some(c) = &h.http_status_category {
                            v["http_status_category"] = json!(c);
                        }
                        v
                    })
                    .collect();
                let mut v = json!({"route": route, "health_state": r.state.as_str()});
                if let Some(t) = r.last_check {
                    v["last_check"] = json!(time(t));
                }
                if let Some(t) = r.last_success {
                    v["last_success"] = json!(time(t));
                }
                if !history.is_empty() {
                    v["history"] = json!(history);
                }
                v
            })
            .collect(),
    )
}

/// One log line per route, then the proxy identity map (each proxy once).
pub fn log(routes: &[RouteSummary]) {
    for r in routes {
        log::info!(
            "route kind={} name={} target={} route_mode={} proxy_source={} proxy_url={} proxy_id={}",
            r.kind,
            r.name,
            r.target,
            r.route_mode,
            r.proxy_source,
            r.proxy_url.as_deref().unwrap_or("-"),
            r.proxy_id.as_deref().unwrap_or("-"),
        );
    }
    let ids: Vec<String> = identity_map(routes)
        .iter()
        .map(|(id, url, source)| format!("{}={url} ({source})", &id[..12.min(id.len())]))
        .collect();
    if !ids.is_empty() {
        log::info!("proxy identity map: {}", ids.join(", "));
    }
}

/// Each proxy the routes use once: `(proxy_id, proxy_url, proxy_source)`, sorted. The log's
/// proxy identity map and `/api/system`'s `proxy_identity_map`.
pub fn identity_map(routes: &[RouteSummary]) -> Vec<(String, String, String)> {
    let mut ids: Vec<(String, String, String)> = routes
        .iter()
        .filter_map(|r| {
            Some((
                r.proxy_id.clone()?,
                r.proxy_url.clone()?,
                r.proxy_source.clone(),
            ))
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// [`identity_map`] as JSON objects.
pub fn identity_map_json(routes: &[RouteSummary]) -> Value {
    Value::Array(
        identity_map(routes)
            .into_iter()
            .map(|(id, url, source)| json!({"proxy_id": id, "proxy_url": url, "proxy_source": source}))
            .collect(),
    )
}

/// Passwords of every proxy a route may use (explicit or from the environment), for the
/// redactor.
pub fn proxy_passwords(c: &RunConfig, env: &ProxyEnv) -> Vec<String> {
    let explicit = [
        c.http_proxy.as_ref(),
        c.mcp.http_proxy.as_ref(),
        c.control_plane.http_proxy.as_ref(),
        c.harpoon.http_proxy.as_ref(),
    ]
    .into_iter()
    .flatten()
    .chain(
        c.mcp
            .server_urls
            .iter()
            .filter_map(|b| b.http_proxy.as_ref()),
    )
    .map(|p| p.url.clone());
    let from_env = [&env.http_proxy, &env.https_proxy]
        .into_iter()
        .flatten()
        .map(|(_, v)| v.clone());
    explicit
        .chain(from_env)
        .filter_map(|url| {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let authority = rest.split(['/', '?', '#']).next()?;
            let (info, _) = authority.rsplit_once('@')?;
            let pw = info.split_once(':').map_or(info, |(_, p)| p);
            (!pw.is_empty()).then(|| pw.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpBinding;

    fn cfg() -> RunConfig {
        let mut c = RunConfig::default();
        c.control_plane.base_url = "https://api.openai.com".into();
        c.control_plane.http_proxy = Some(Proxy {
            url: "http://user:pw1@Proxy.Corp:3128".into(),
            source: "control-plane.http-proxy".into(),
        });
        c.mcp.server_urls = vec![
            HttpBinding {
                channel: "main".into(),
                url: "http://127.0.0.1:3000/mcp".into(),
                unix_socket: None,
                http_proxy: None,
                client_cert: None,
                client_key: None,
            },
            HttpBinding {
                channel: "docs".into(),
                url: "https://docs.internal/mcp".into(),
                unix_socket: None,
                http_proxy: Some(Proxy {
                    url: "http://u:pw2@other:8080".into(),
                    source: "mcp.server-url".into(),
                }),
                client_cert: None,
                client_key: None,
            },
            HttpBinding {
                channel: "sock".into(),
                url: "http://localhost/mcp".into(),
                unix_socket: Some("/run/mcp.sock".into()),
                http_proxy: None,
                client_cert: None,
                client_key: None,
            },
        ];
        c
    }

    #[test]
    fn every_destination_is_reported_without_credentials() {
        let env =
            ProxyEnv::from_lookup(|n| (n == "HTTP_PROXY").then(|| "http://e:pw3@envp:1".into()));
        let r = routes(&cfg(), &env);
        let cp = &r[0];
        assert_eq!(
            (cp.kind, cp.target.as_str(), cp.route_mode),
            ("control_plane", "api.openai.com:443", "proxy")
        );
        assert_eq!(cp.proxy_source, "control-plane.http-proxy");
        assert_eq!(cp.proxy_url.as_deref(), Some("http://proxy.corp:3128"));
        assert_eq!(
            cp.proxy_id.as_deref(),
            Some(proxy_id("http://proxy.corp:3128").as_str())
        );
        assert_eq!(cp.proxy_id.as_ref().unwrap().len(), 64);
        // loopback is not sent to the environment proxy
        assert_eq!(
            (r[1].route_mode, r[1].proxy_source.as_str()),
            ("direct", "env:HTTP_PROXY")
        );
        assert_eq!(
            (r[2].route_mode, r[2].proxy_source.as_str()),
            ("proxy", "mcp.server-url")
        );
        assert_eq!(
            (r[3].route_mode, r[3].proxy_source.as_str()),
            ("direct", "ignored")
        );
        assert_eq!(r[3].target, "unix:/run/mcp.sock");
        let text = to_json(&r).to_string();
        for pw in ["pw1", "pw2", "pw3"] {
            assert!(!text.contains(pw), "{text}");
        }
        let mut pws = proxy_passwords(&cfg(), &env);
        pws.sort();
        assert_eq!(pws, ["pw1", "pw2", "pw3"]);
    }
}
