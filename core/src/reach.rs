//! The reachability probe of direct HTTP MCP targets, for readiness: what both drivers
//! probe, how often, how long a connect may take and what the operator reads. The drivers
//! only open (and close) the TCP connection.
//!
//! Without a probe, `/readyz` would say "ready" for a target that is down until the first
//! command fails against it. A probe sends no MCP request, so it creates no session and
//! leaves nothing in the server's logs beyond a connection. Targets reached through a proxy
//! or a unix socket are not probed: a connect to the host says nothing about that path.

use std::net::SocketAddr;
use std::time::Duration;

use http::Uri;

/// Connect bound of one probe.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Probe interval while a target is down (recovery is noticed quickly)...
pub const INTERVAL_DOWN: Duration = Duration::from_secs(2);
/// ...and while every target is up.
pub const INTERVAL_UP: Duration = Duration::from_secs(15);

/// When to probe again after a round.
pub fn next_round(any_down: bool) -> Duration {
    if any_down {
        INTERVAL_DOWN
    } else {
        INTERVAL_UP
    }
}

/// Host (without IPv6 brackets) and port of an `http`/`https` URI, the port defaulting by
/// scheme.
pub fn host_port(uri: &Uri) -> Option<(&str, u16)> {
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })?;
    Some((host, port))
}

/// Why a target is unreachable, in the operator's words; `Input::Binding`'s `down`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    NoHostOrPort(String),
    Resolve { host: String, error: String },
    NoAddress { host: String, port: u16 },
    Connect { addr: SocketAddr, error: String },
}

impl Unreachable {
    /// The readiness reason.
    pub fn reason(&self) -> String {
        format!("MCP target unreachable: {self}")
    }
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreachable::NoHostOrPort(uri) => write!(f, "{uri} has no host or port"),
            Unreachable::Resolve { host, error } => write!(f, "cannot resolve {host}: {error}"),
            Unreachable::NoAddress { host, port } => {
                write!(f, "{host}:{port} resolves to no address")
            }
            Unreachable::Connect { addr, error } => write!(f, "cannot connect to {addr}: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_default_by_scheme_and_reasons_name_the_address() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(host_port(&u("https://[::1]/mcp")), Some(("::1", 443)));
        assert_eq!(host_port(&u("http://h:8080/")), Some(("h", 8080)));
        assert_eq!(host_port(&u("/relative")), None);
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let why = Unreachable::Connect {
            addr,
            error: "refused".into(),
        };
        assert_eq!(
            why.reason(),
            "MCP target unreachable: cannot connect to 127.0.0.1:9: refused"
        );
        assert_eq!(next_round(true), INTERVAL_DOWN);
        assert_eq!(next_round(false), INTERVAL_UP);
    }
}
