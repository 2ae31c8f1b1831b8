//! Name resolution for the ureq agents without a thread per request.
//!
//! ureq resolves the target before every request (pooled connection or not), and when a
//! timeout is set its default resolver runs `getaddrinfo` on a fresh thread so it can give
//! up on time. With a timeout on every request, that was one thread created and destroyed
//! per HTTP exchange — most of the client's CPU per command in the benchmark. An IP
//! literal (`127.0.0.1`, `[::1]`, the common case for a local MCP server) needs no lookup at
//! all, so it is answered directly; names still go through the default resolver and keep
//! their timeout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// IP literals directly, names through [`DefaultResolver`].
#[derive(Debug, Default)]
pub(crate) struct LiteralFirst {
    names: DefaultResolver,
}

fn literal(uri: &Uri) -> Option<SocketAddr> {
    let (host, port) = crate::probe::host_port(uri)?;
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal(uri) {
            Some(addr) => {
                let mut out = self.empty();
                out.push(addr);
                Ok(out)
            }
            None => self.names.resolve(uri, config, timeout),
        }
    }
}

/// An agent with the default transport (TCP, TLS, proxies) and [`LiteralFirst`].
pub fn agent(config: Config) -> ureq::Agent {
    ureq::Agent::with_parts(config, DefaultConnector::new(), LiteralFirst::default())
}

/// Decides whether a resolved address may be connected to (`Err` says why not).
pub type AddressPolicy = Arc<dyn Fn(&Uri, IpAddr) -> Result<(), String> + Send + Sync>;

/// [`LiteralFirst`], then an address policy on what it resolved: the connection goes to
/// one of the addresses that passed, so there is no second lookup to rebind.
pub(crate) struct Guarded {
    inner: LiteralFirst,
    policy: AddressPolicy,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guarded")
    }
}

impl Resolver for Guarded {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let all = self.inner.resolve(uri, config, timeout)?;
        let mut out = self.empty();
        let mut refused = None;
        for addr in all.iter() {
            match (self.policy)(uri, addr.ip()) {
                Ok(()) => out.push(*addr),
                Err(why) => refused = Some(why),
            }
        }
        match (out.is_empty(), refused) {
            (true, Some(why)) => {
                let host = uri.host().unwrap_or("");
                log::warn!("harpoon request to {host} not sent: {why}");
                Err(ureq::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    why,
                )))
            }
            _ => Ok(out),
        }
    }
}

/// An agent whose connections only go to addresses `policy` accepts.
pub fn guarded_agent(config: Config, policy: AddressPolicy) -> ureq::Agent {
    let resolver = Guarded {
        inner: LiteralFirst::default(),
        policy,
    };
    ureq::Agent::with_parts(config, DefaultConnector::new(), resolver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_resolve_without_lookup_and_names_do_not() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(
            literal(&u("http://127.0.0.1:8080/mcp")),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            literal(&u("https://[::1]/x")),
            Some("[::1]:443".parse().unwrap())
        );
        assert_eq!(literal(&u("http://localhost:1/")), None);
        assert_eq!(literal(&u("https://api.openai.com/")), None);
    }

    #[test]
    fn guarded_agent_connects_only_to_checked_addresses() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        let refuse_loopback: AddressPolicy = Arc::new(|_: &Uri, ip: IpAddr| {
            if ip.is_loopback() {
                Err(format!("address guard refused {ip}"))
            } else {
                Ok(())
            }
        });
        let cfg = || {
            Config::builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(5)))
                .build()
        };
        // A name (resolved by the system) and a literal: both refused, nothing connects.
        let agent = guarded_agent(cfg(), refuse_loopback);
        for url in [
            format!("http://localhost:{port}/"),
            format!("http://127.0.0.1:{port}/"),
        ] {
            let err = agent.get(&url).call().unwrap_err();
            assert!(err.to_string().contains("address guard refused"), "{err}");
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        let allow: AddressPolicy = Arc::new(|_: &Uri, _: IpAddr| Ok(()));
        let agent = guarded_agent(cfg(), allow);
        let r = agent
            .get(&format!("http://127.0.0.1:{port}/"))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
