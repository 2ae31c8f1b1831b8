//! Whether the HTTP MCP server answers at its URL, probed the way `run` would reach it (same
//! CA bundle, proxy, client certificate and headers); a timeout is told apart from "nothing
//! listens there" by a plain TCP dial.

use std::collections::BTreeMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{tls_evidence, why};
use crate::cli::doctor::probe::{self, Agents, Resp};
use crate::cli::doctor::report::Check;
use crate::config::{self, redact_url, HttpBinding, Loaded};

/// MCP extra headers, with the discovery headers overriding them (probe requests).
pub(super) fn mcp_headers(l: &Loaded, include_extra: bool) -> Vec<(String, String)> {
    let m = &l.config.mcp;
    let mut map: BTreeMap<String, (String, String)> = BTreeMap::new();
    let extra = if include_extra {
        probe::header_pairs(&m.extra_headers)
    } else {
        Vec::new()
    };
    for (k, v) in extra
        .into_iter()
        .chain(probe::header_pairs(&m.discovery_extra_headers))
    {
        map.insert(k.to_ascii_lowercase(), (k, v));
    }
    map.into_values().collect()
}

pub(super) fn reachability(l: &Loaded, b: &HttpBinding, a: &Agents) -> (Check, Option<Resp>) {
    let url = &b.url;
    let shown = redact_url(url);
    let c = &l.config;
    let mut evidence = vec![format!("GET {shown}")];
    evidence.extend(tls_evidence(
        l,
        b.http_proxy.as_ref(),
        b.client_cert.as_ref(),
    ));
    match probe::request(&a.mcp, url, &mcp_headers(l, true), Duration::from_secs(2)) {
        Ok(r) if r.status >= 500 => (
            Check::warn(
                "mcp_server_reachable",
                format!("HTTP {} from {shown}", r.status),
            )
            .why("the server answers, but with a server error; MCP requests may fail the same way.")
            .evidence(evidence)
            .next(["check the MCP server's logs"]),
            Some(r),
        ),
        Ok(r) => (
            Check::pass(
                "mcp_server_reachable",
                format!("HTTP {} from {shown}", r.status),
            ),
            Some(r),
        ),
        Err(e) => {
            let mut next = vec![
                e.hint().to_string(),
                format!(
                    "check the URL given by {} (now {shown})",
                    l.source("mcp.server-url")
                        .origin(config::setting("mcp.server-url").expect("table row"))
                ),
                "for a quick test, start the demo server: tunnel-client dev mcp-stub".into(),
            ];
            let direct = b.http_proxy.is_none() && c.http_proxy.is_none();
            if e.kind == tunnel_core::classify::TransportError::Timeout && direct {
                if let Some(addr) = probe::origin_and_path(url)
                    .and_then(|(o, _)| o.split_once("://").map(|(_, hp)| hp.to_string()))
                {
                    if tcp_dial(&addr) {
                        return (
                            Check::warn(
                                "mcp_server_reachable",
                                format!(
                                    "TCP connect succeeded to {addr}, but no HTTP answer within 2s"
                                ),
                            )
                            .why("something listens there but did not answer an HTTP GET in time.")
                            .evidence(evidence)
                            .next([
                                "check that the URL points at the MCP endpoint of an HTTP server",
                            ]),
                            None,
                        );
                    }
                }
            }
            next.dedup();
            (
                Check::fail("mcp_server_reachable", e.describe(&shown))
                    .why(why("mcp_server_reachable"))
                    .evidence(evidence)
                    .next(next),
                None,
            )
        }
    }
}

fn tcp_dial(host_port: &str) -> bool {
    let port_default = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:80")
    };
    port_default
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}
