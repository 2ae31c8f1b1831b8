//! Reachability of direct HTTP MCP targets, for readiness: a driver task that connects to
//! each on `tunnel_core::reach`'s schedule and reports `Input::Binding` (what is probed, how
//! often and the reasons are the core's, shared with the blocking adapter).

use std::collections::HashMap;

use async_io::Timer;
use async_net::TcpStream;
use futures_lite::future;
use http::Uri;
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::Input;
use tunnel_core::reach::{self, Unreachable};

use crate::driver::{Msg, Task};
use crate::mcp::Binding;

/// Opens (and closes) one TCP connection to `uri`'s host.
async fn reachable(uri: &Uri) -> Result<(), Unreachable> {
    let (host, port) =
        reach::host_port(uri).ok_or_else(|| Unreachable::NoHostOrPort(uri.to_string()))?;
    let addrs = async_net::resolve((host, port))
        .await
        .map_err(|e| Unreachable::Resolve {
            host: host.into(),
            error: e.to_string(),
        })?;
    let mut last = Unreachable::NoAddress {
        host: host.into(),
        port,
    };
    for addr in addrs {
        let timeout = async {
            Timer::after(reach::CONNECT_TIMEOUT).await;
            Err(std::io::ErrorKind::TimedOut.into())
        };
        match future::or(TcpStream::connect(addr), timeout).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                last = Unreachable::Connect {
                    addr,
                    error: e.to_string(),
                }
            }
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
                let down = reachable(uri).await.err().map(|e| e.reason());
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
            Timer::after(reach::next_round(any_down)).await;
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
        let err = future::block_on(reachable(&up)).unwrap_err().reason();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    }
}
