//! Reachability of direct HTTP MCP targets, for readiness (as the blocking adapter's
//! probe): a TCP connect, no MCP request, so no session and nothing in the server's log
//! beyond a connection. A failed connect marks the channel down ("MCP target unreachable:
//! …") and the next good one marks it up; commands that fail to connect mark it down too
//! (in the engine), so the two agree. Targets behind a proxy or a unix socket are not
//! probed: a connect to the host says nothing about the way requests take.

use std::collections::HashMap;
use std::time::Duration;

use async_io::Timer;
use async_net::TcpStream;
use futures_lite::future;
use http::Uri;
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::Input;

use crate::driver::{Msg, Task};
use crate::mcp::Binding;

/// Connect bound of one probe.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Probe interval while a target is down (recovery is noticed quickly)...
const INTERVAL_DOWN: Duration = Duration::from_secs(2);
/// ...and while every target is up.
const INTERVAL_UP: Duration = Duration::from_secs(15);

/// Opens (and closes) one TCP connection to `uri`'s host; `Err` is the operator's reason.
async fn reachable(uri: &Uri) -> Result<(), String> {
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addrs = async_net::resolve((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host}:{port} resolves to no address");
    for addr in addrs {
        let timeout = async {
            Timer::after(CONNECT_TIMEOUT).await;
            Err(std::io::ErrorKind::TimedOut.into())
        };
        match future::or(TcpStream::connect(addr), timeout).await {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// The probe loop of the bindings' direct HTTP targets as a driver task, if there are any;
/// it ends when the driver is gone (or is dropped with the driver's other tasks).
pub(crate) fn task(
    bindings: &HashMap<ChannelName, Binding>,
    tx: async_channel::Sender<Msg>,
) -> Option<Task> {
    let targets: Vec<(ChannelName, Uri)> = bindings
        .iter()
        .filter_map(|(ch, b)| match b {
            Binding::Http(uri, dialer) if dialer.is_direct() => Some((ch.clone(), uri.clone())),
            _ => None,
        })
        .collect();
    if targets.is_empty() {
        return None;
    }
    Some(Box::pin(async move {
        loop {
            let mut any_down = false;
            for (channel, uri) in &targets {
                let down = reachable(uri)
                    .await
                    .err()
                    .map(|e| format!("MCP target unreachable: {e}"));
                any_down |= down.is_some();
                let channel = channel.clone();
                if tx
                    .send(Msg::Engine(Input::Binding { channel, down }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Timer::after(if any_down { INTERVAL_DOWN } else { INTERVAL_UP }).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_port_is_reachable_and_a_closed_one_names_the_address() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let up: Uri = format!("http://127.0.0.1:{port}/mcp").parse().unwrap();
        assert_eq!(future::block_on(reachable(&up)), Ok(()));
        drop(l);
        let err = future::block_on(reachable(&up)).unwrap_err();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    }
}
