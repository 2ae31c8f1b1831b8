//! Whether `run` can bind its health listener, and when not, whether another tunnel-client
//! already answers there.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use super::why;
use crate::cli::doctor::report::Check;
use crate::config::{self, Loaded};

pub(super) fn health_check(l: &Loaded) -> Check {
    let h = &l.config.health;
    let addr_s = &h.listen_addr;
    let Ok(addr) = crate::daemon::health::resolve_listen_addr(addr_s) else {
        return Check::fail(
            "health_listener",
            format!("{addr_s:?} does not resolve to an address"),
        )
        .why(why("health_listener"))
        .next(["set --health.listen-addr (HEALTH_LISTEN_ADDR, health.listen_addr) to host:port, e.g. 127.0.0.1:8080"]);
    };
    let shown_host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        match addr {
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
            SocketAddr::V4(a) => a.ip().to_string(),
        }
    };
    match TcpListener::bind(addr) {
        Ok(listener) => {
            let port = listener
                .local_addr()
                .map(|a| a.port())
                .unwrap_or(addr.port());
            drop(listener);
            if addr.port() == 0 {
                Check::pass(
                    "health_listener",
                    format!("ephemeral bind ok on http://{shown_host}:{port}"),
                )
                .evidence([
                    "with :0 the port changes each start; set --health.url-file to learn it",
                ])
            } else {
                Check::pass(
                    "health_listener",
                    format!("will bind http://{shown_host}:{port}"),
                )
            }
        }
        Err(e) => {
            let origin = l
                .source("health.listen-addr")
                .origin(config::setting("health.listen-addr").expect("table row"));
            let mut evidence = vec![format!("bind {addr} (from {origin}): {e}")];
            let probe_url = format!("http://{shown_host}:{}/healthz", addr.port());
            if let Ok(r) = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .proxy(None)
                .timeout_global(Some(Duration::from_millis(500)))
                .build()
                .new_agent()
                .get(&probe_url)
                .call()
            {
                evidence.push(format!(
                    "{probe_url} answers HTTP {}: another tunnel-client (or another service) is already running there",
                    r.status().as_u16()
                ));
            }
            let summary = if e.kind() == std::io::ErrorKind::AddrInUse {
                format!("port {} on {shown_host} is already in use", addr.port())
            } else {
                format!("cannot bind {addr}: {e}")
            };
            Check::fail("health_listener", summary)
                .why(why("health_listener"))
                .evidence(evidence)
                .next([
                    format!("stop the process holding {addr}, or choose another address: --health.listen-addr 127.0.0.1:0 (HEALTH_LISTEN_ADDR, health.listen_addr)"),
                    "if a tunnel-client with this profile is already running, it is doing the job: check it with curl <its address>/readyz".to_string(),
                ])
        }
    }
}
