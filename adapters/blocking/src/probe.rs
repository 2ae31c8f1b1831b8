//! Reachability of HTTP MCP targets, for readiness.
//!
//! Without a probe, `/readyz` would say "ready" for a target that is down until the first
//! command fails against it. The probe only opens (and closes) a TCP connection: it sends
//! no MCP request, so it creates no session and leaves nothing in the server's logs beyond
//! a connection. A failed connect marks the channel down ("MCP target unreachable: …");
//! the next successful one marks it up again. Commands that fail to connect mark the
//! channel down too (in the engine), so the two agree.
//!
//! Targets reached through a proxy are not probed: a direct connect says nothing about the
//! path the requests take.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use http::Uri;
use tunnel_core::channel::ChannelName;

use tunnel_core::engine::Input;

use crate::driver::ToDriver;
use crate::status::Published;

/// Connect bound of one probe.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Probe interval while a target is down (recovery is noticed quickly)...
const INTERVAL_DOWN: Duration = Duration::from_secs(2);
/// ...and while every target is up.
const INTERVAL_UP: Duration = Duration::from_secs(15);
/// How often the thread checks whether the runtime has stopped.
const TICK: Duration = Duration::from_millis(200);

/// One target to probe.
pub(crate) struct ProbeTarget {
    pub channel: ChannelName,
    pub uri: Uri,
}

/// Host (without IPv6 brackets) and port of an `http`/`https` URI, the port defaulting by
/// scheme. Shared by the probe, the startup wait and the resolver's literal shortcut.
pub(crate) fn host_port(uri: &Uri) -> Option<(&str, u16)> {
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })?;
    Some((host, port))
}

/// Opens (and closes) one TCP connection to the target; `Err` carries the operator-facing
/// reason. Also what `run --mcp.startup-wait-timeout` waits on.
pub fn reachable(uri: &Uri) -> Result<(), String> {
    let (host, port) = host_port(uri).ok_or_else(|| format!("{uri} has no host or port"))?;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host}:{port} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// The probe loop; returns when the runtime has stopped or the driver is gone.
pub(crate) fn run(targets: Vec<ProbeTarget>, tx: Sender<ToDriver>, published: Published) {
    if targets.is_empty() {
        return;
    }
    let mut next = Instant::now();
    loop {
        if published.get().stopped {
            return;
        }
        if Instant::now() >= next {
            let mut any_down = false;
            for t in &targets {
                let down = reachable(&t.uri)
                    .err()
                    .map(|e| format!("MCP target unreachable: {e}"));
                any_down |= down.is_some();
                let input = ToDriver::Engine(Input::Binding {
                    channel: t.channel.clone(),
                    down,
                });
                if tx.send(input).is_err() {
                    return;
                }
            }
            next = Instant::now() + if any_down { INTERVAL_DOWN } else { INTERVAL_UP };
        }
        std::thread::sleep(TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_port_is_reachable_and_a_closed_one_names_the_address() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let up: Uri = format!("http://127.0.0.1:{port}/mcp").parse().unwrap();
        assert_eq!(reachable(&up), Ok(()));
        drop(l);
        let err = reachable(&up).unwrap_err();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    }
}
