//! Reachability of direct HTTP MCP targets, for readiness: a thread that connects to each
//! on `tunnel_core::reach`'s schedule and reports `Input::Binding`. What is probed, how
//! often and the reasons are the core's; commands that fail to connect mark the channel
//! down too (in the engine), so the two agree.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use http::Uri;
use tunnel_core::channel::ChannelName;
use tunnel_core::reach::{self, Unreachable};

use tunnel_core::engine::Input;

use crate::driver::ToDriver;
use crate::status::Published;

/// How often the thread checks whether the runtime has stopped.
const TICK: Duration = Duration::from_millis(200);

/// One target to probe.
pub(crate) struct ProbeTarget {
    pub channel: ChannelName,
    pub uri: Uri,
}

/// Host and port of a target (`tunnel_core::reach::host_port`), also for the startup wait
/// and the resolver's literal shortcut.
pub(crate) use tunnel_core::reach::host_port;

/// Opens (and closes) one TCP connection to the target; `Err` carries the operator-facing
/// reason. Also what `run --mcp.startup-wait-timeout` waits on.
pub fn reachable(uri: &Uri) -> Result<(), String> {
    connect(uri).map_err(|e| e.to_string())
}

fn connect(uri: &Uri) -> Result<(), Unreachable> {
    let (host, port) = host_port(uri).ok_or_else(|| Unreachable::NoHostOrPort(uri.to_string()))?;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Unreachable::Resolve {
            host: host.into(),
            error: e.to_string(),
        })?
        .collect();
    let mut last = Unreachable::NoAddress {
        host: host.into(),
        port,
    };
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, reach::CONNECT_TIMEOUT) {
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
                let down = connect(&t.uri).err().map(|e| e.reason());
                any_down |= down.is_some();
                let input = ToDriver::Engine(Input::Binding {
                    channel: t.channel.clone(),
                    down,
                });
                if tx.send(input).is_err() {
                    return;
                }
            }
            next = Instant::now() + reach::next_round(any_down);
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
