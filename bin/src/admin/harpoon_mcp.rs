//! `--harpoon.additional-transport http-streamable`: the same Harpoon server mounted at
//! `/harpoon/mcp` on the health listener (§1.13), **loopback-only whatever
//! `--allow-remote-ui` says** (403 `harpoon transport is restricted to loopback`).
//!
//! Stateless Streamable HTTP: a `POST` carries one JSON-RPC message and gets its answer as
//! `application/json` (a notification gets `202`); no session id is issued and there is no
//! `GET` stream. A `call_target` runs here, on the listener's worker thread, with the same
//! core state machine as on the tunnel channel: each hop is decided by the core before it
//! is sent, through the Harpoon agent (proxy, CA bundle, address guard), and the body is
//! read at most to the call's limit + 1.

use std::io::Read;
use std::time::Instant;

use serde_json::value::RawValue;
use tunnel_core::engine::Event;
use tunnel_core::harpoon::{guard, Call, Outcome, Reply, Server, Step};

use super::access::is_loopback;
use crate::daemon::listener::{Request, Response};

/// The mount path.
pub const PATH: &str = "/harpoon/mcp";
const REFUSED: &str = "harpoon transport is restricted to loopback\n";

/// The server and the agent that performs its hops.
pub struct HarpoonMcp {
    /// Written only when OAuth discovery registers a target (the engine's registry gets
    /// the same ones).
    server: std::sync::RwLock<Server>,
    agent: ureq::Agent,
    /// Agents of targets behind a unix socket (never proxied).
    #[cfg(unix)]
    unix: Option<tunnel_blocking::agents::UnixAgents>,
}

impl std::fmt::Debug for HarpoonMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HarpoonMcp")
    }
}

fn json(status: u16, body: &str) -> Response {
    Response::new(status, "application/json", format!("{body}\n"))
}

impl HarpoonMcp {
    pub fn new(server: Server, agent: ureq::Agent) -> HarpoonMcp {
        HarpoonMcp {
            server: std::sync::RwLock::new(server),
            agent,
            #[cfg(unix)]
            unix: None,
        }
    }

    /// Lets hops to `unix-socket=` targets dial their socket.
    #[cfg(unix)]
    pub fn with_unix(mut self, agents: tunnel_blocking::agents::UnixAgents) -> HarpoonMcp {
        self.unix = Some(agents);
        self
    }

    /// The agent of one hop: its target's socket, else the (guarded, proxied) TCP agent.
    fn agent_for(&self, unix_socket: Option<&str>) -> Option<ureq::Agent> {
        match unix_socket {
            None => Some(self.agent.clone()),
            #[cfg(unix)]
            Some(p) => self.unix.as_ref().map(|u| u.get(std::path::Path::new(p))),
            #[cfg(not(unix))]
            Some(_) => None,
        }
    }

    /// A target OAuth discovery registered in the engine: reachable here too.
    pub fn register(&self, t: &tunnel_core::harpoon::Target) {
        let mut s = self.server.write().unwrap_or_else(|e| e.into_inner());
        let spec = tunnel_core::harpoon::TargetSpec {
            label: t.label.clone(),
            url: t.exact.clone(),
            unix_socket: t.unix_socket.clone(),
            description: t.description.clone(),
            category: t.category.clone(),
            source: t.source.clone(),
            tags: t.tags.clone(),
            inclusion_reason: t.inclusion_reason.clone(),
            allow_link_local: t.allow_link_local,
        };
        if let Err(e) = s.registry.register(spec) {
            log::warn!("harpoon http-streamable transport: {e}");
        }
    }

    fn server(&self) -> std::sync::RwLockReadGuard<'_, Server> {
        self.server.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers one request; `record` sees the `HarpoonCall` event of a call (metrics,
    /// receipts).
    pub fn handle(&self, req: &Request, record: &dyn Fn(&Event)) -> Response {
        // Loopback whatever --allow-remote-ui says; the Host header too (DNS rebinding).
        let host_ok = req.header("host").is_none_or(|h| {
            let host = h.rsplit_once(':').map_or(h, |(a, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    a
                } else {
                    h
                }
            });
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        if !is_loopback(req.peer.ip()) || !host_ok {
            return Response::text(403, REFUSED);
        }
        if req.method != "POST" {
            return Response::text(405, "method not allowed: POST one JSON-RPC message\n")
                .with_header("Allow", "POST");
        }
        let Ok(text) = std::str::from_utf8(&req.body) else {
            return json(
                400,
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#,
            );
        };
        let Ok(raw) = RawValue::from_string(text.trim().to_string()) else {
            return json(
                400,
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#,
            );
        };
        let reply = self.server().handle(&raw);
        match reply {
            Reply::Ack => Response::new(202, "application/json", Vec::new()),
            Reply::Response(r) => json(200, r.get()),
            Reply::Refused { response, outcome } => {
                record(&Event::HarpoonCall {
                    request_id: "harpoon/mcp".into(),
                    latency: std::time::Duration::ZERO,
                    outcome,
                });
                json(200, response.get())
            }
            Reply::Call { id, call } => {
                let started = Instant::now();
                let outcome = self.run(*call);
                let body = self.server().call_result(&id, &outcome);
                record(&Event::HarpoonCall {
                    request_id: "harpoon/mcp".into(),
                    latency: started.elapsed(),
                    outcome: Box::new(outcome),
                });
                json(200, body.get())
            }
        }
    }

    /// Runs a call to its outcome, one hop at a time, within its one deadline.
    fn run(&self, mut call: Call) -> Outcome {
        let deadline = Instant::now() + call.timeout();
        loop {
            match call.poll() {
                Some(Step::Done(o)) => return *o,
                None => call.handle_refused("no request".into()),
                Some(Step::Request(hop)) => {
                    let literal = hop
                        .uri
                        .host()
                        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                        .and_then(|h| h.parse::<std::net::IpAddr>().ok());
                    if let Some(ip) = literal {
                        if let Err(why) = guard::check(ip, hop.allow_link_local) {
                            call.handle_refused(guard::refusal_text(ip, why));
                            continue;
                        }
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        call.handle_timeout(false);
                        continue;
                    }
                    let Some(agent) = self.agent_for(hop.unix_socket.as_deref()) else {
                        call.handle_refused("unix sockets are not available here".into());
                        continue;
                    };
                    let mut request = http::Request::new(hop.body.to_vec());
                    *request.method_mut() = hop.method;
                    *request.uri_mut() = hop.uri;
                    *request.headers_mut() = hop.headers;
                    let request = agent
                        .configure_request(request)
                        .timeout_global(Some(left))
                        .build();
                    let response = match agent.run(request) {
                        Ok(r) => r,
                        Err(ureq::Error::Timeout(_)) => {
                            call.handle_timeout(false);
                            continue;
                        }
                        Err(e) => {
                            call.handle_refused(e.to_string());
                            continue;
                        }
                    };
                    let (parts, body) = response.into_parts();
                    let cap = call.max_response_bytes() as u64 + 1;
                    let mut buf = Vec::new();
                    match body.into_reader().take(cap).read_to_end(&mut buf) {
                        Ok(_) => call.handle_response(parts.status.as_u16(), &parts.headers, &buf),
                        Err(_) if Instant::now() >= deadline => call.handle_timeout(true),
                        Err(_) => call.handle_error(
                            tunnel_core::classify::TransportError::ConnectionReset,
                            true,
                        ),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunnel_core::harpoon::{Registry, Settings, TargetSpec};

    fn mcp() -> HarpoonMcp {
        let mut r = Registry::new(true);
        r.register(TargetSpec::config("api", "http://127.0.0.1:1/x"))
            .unwrap();
        HarpoonMcp::new(
            Server::new(r, Settings::default()),
            ureq::Agent::new_with_defaults(),
        )
    }

    fn req(peer: &str, host: &str) -> Request {
        Request {
            method: "POST".into(),
            path: PATH.into(),
            query: String::new(),
            headers: vec![("host".into(), host.into())],
            body: br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec(),
            peer: peer.parse().unwrap(),
        }
    }

    #[test]
    fn only_loopback_peers_and_hosts_are_served() {
        let m = mcp();
        let ok = m.handle(&req("127.0.0.1:5000", "127.0.0.1:8080"), &|_| {});
        assert_eq!(ok.status, 200);
        let ok6 = m.handle(&req("[::1]:5000", "localhost:8080"), &|_| {});
        assert_eq!(ok6.status, 200);
        for (peer, host) in [
            ("10.0.0.5:5000", "127.0.0.1:8080"),
            ("192.168.1.2:5000", "localhost"),
            ("127.0.0.1:5000", "evil.example:8080"),
        ] {
            let r = m.handle(&req(peer, host), &|_| {});
            assert_eq!(r.status, 403, "{peer} {host}");
            assert_eq!(
                String::from_utf8_lossy(&r.body),
                "harpoon transport is restricted to loopback\n"
            );
        }
    }
}
