//! Plain-http targets through an HTTP proxy: absolute-form requests
//! (`GET http://host:port/path HTTP/1.1`) sent to the proxy, as Go's transport does, instead
//! of a `CONNECT` tunnel (which proxies commonly allow to port 443 only).
//!
//! ureq 3 writes origin-form request lines and tunnels every proxied request with
//! `CONNECT`, so agents for such targets use no ureq proxy: [`ToProxy`] resolves the
//! *proxy's* address, the TCP connector dials it, and [`AbsoluteForm`] rewrites the first
//! line of each request head on its way out and adds `Proxy-Authorization` when the proxy
//! URL has credentials. A new request starts with the first write after the previous
//! response was read (HTTP/1.1 without pipelining, which ureq never does).

use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, Transport,
};

/// Resolves the proxy instead of the target.
#[derive(Debug)]
pub(crate) struct ToProxy {
    proxy: Uri,
    names: DefaultResolver,
}

impl ToProxy {
    pub fn new(proxy: &ureq::Proxy) -> ToProxy {
        let uri = format!("http://{}:{}/", bracket(proxy.host()), proxy.port());
        ToProxy {
            proxy: uri
                .parse()
                .unwrap_or_else(|_| Uri::from_static("http://0.0.0.0/")),
            names: DefaultResolver::default(),
        }
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

impl Resolver for ToProxy {
    fn resolve(
        &self,
        _uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = self.proxy.host().unwrap_or_default();
        let port = self.proxy.port_u16().unwrap_or(80);
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            let mut out = self.empty();
            out.push(SocketAddr::new(ip, port));
            return Ok(out);
        }
        self.names.resolve(&self.proxy, config, timeout)
    }
}

/// Wraps the TCP transport to the proxy (see the module doc).
#[derive(Debug, Clone)]
pub(crate) struct AbsoluteForm {
    /// `Proxy-Authorization` value, from the proxy URL's userinfo.
    auth: Option<String>,
}

impl AbsoluteForm {
    pub fn new(proxy: &ureq::Proxy) -> AbsoluteForm {
        let auth = (proxy.username().is_some() || proxy.password().is_some()).then(|| {
            let creds = format!(
                "{}:{}",
                proxy.username().unwrap_or_default(),
                proxy.password().unwrap_or_default()
            );
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(creds)
            )
        });
        AbsoluteForm { auth }
    }
}

impl<In: Transport> Connector<In> for AbsoluteForm {
    type Out = Either<In, Rewriting<In>>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(inner) = chained else {
            return Ok(None);
        };
        let authority = details
            .uri
            .authority()
            .map(|a| {
                a.as_str()
                    .rsplit('@')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        Ok(Some(Either::B(Rewriting {
            inner,
            prefix: format!("http://{authority}"),
            auth: self.auth.clone(),
            at_request_start: true,
        })))
    }
}

pub(crate) struct Rewriting<In> {
    inner: In,
    /// `http://host:port`, put before the origin-form target.
    prefix: String,
    auth: Option<String>,
    at_request_start: bool,
}

impl<In> std::fmt::Debug for Rewriting<In> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbsoluteForm")
            .field("to", &self.prefix)
            .finish()
    }
}

impl<In: Transport> Transport for Rewriting<In> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if !std::mem::take(&mut self.at_request_start) {
            return self.inner.transmit_output(amount, timeout);
        }
        let original = &self.inner.buffers().output()[..amount];
        let Some(head) =
            tunnel_core::egress::absolute_form(original, &self.prefix, self.auth.as_deref())
        else {
            return self.inner.transmit_output(amount, timeout);
        };
        for piece in head.chunks(self.inner.buffers().output().len().max(1)) {
            self.inner.buffers().output()[..piece.len()].copy_from_slice(piece);
            self.inner.transmit_output(piece.len(), timeout)?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.at_request_start = true;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_percent_decoded_into_basic() {
        let p = ureq::Proxy::new("http://us%40er:p%3Ass@proxy:3128").unwrap();
        let auth = AbsoluteForm::new(&p).auth.unwrap();
        let b64 = auth.strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw, b"us@er:p:ss");
    }
}
