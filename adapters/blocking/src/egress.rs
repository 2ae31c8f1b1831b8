//! How each agent reaches its destination, from the route `tunnel_core::proxy_route`
//! decided: directly, through a `CONNECT` tunnel (https targets), with absolute-form
//! requests to the proxy (http targets), or over a unix socket.
//!
//! Every agent serves one origin (the control plane, one MCP binding), so the route is
//! decided once when the agent is built. OAuth discovery steps that leave the binding's
//! origin go through [`Egress::foreign`], which decides per request and never carries the
//! binding's client certificate.

use std::path::Path;
use std::time::Duration;

use tunnel_core::proxy_route::{self, ExplicitProxy, ProxyEnv, Route, RouteKind, TargetAddr};
use ureq::config::Config;
use ureq::unversioned::transport::{Connector, DefaultConnector, RustlsConnector, TcpConnector};
use ureq::Proxy;

use crate::forward::{AbsoluteForm, ToProxy};
use crate::lifetime::{Lifetime, CONNECTION_LIFETIME};
use crate::options::StartError;
use crate::resolver::LiteralFirst;
use crate::unix::{NoLookup, UnixConnector};

/// The transport for a route.
#[derive(Debug, Clone)]
pub(crate) enum Way {
    Direct,
    /// ureq's `CONNECT` tunnel (https targets).
    Connect(Proxy),
    /// Absolute-form requests to the proxy (http targets).
    AbsoluteForm(Proxy),
    Unix(std::path::PathBuf),
}

/// Parses a proxy URL without ever echoing it (it may carry credentials).
pub(crate) fn parse_proxy(url: &str, what: &str) -> Result<Proxy, StartError> {
    let ok_scheme = url.contains("://")
        && matches!(
            url.split("://")
                .next()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("http" | "https")
        );
    let proxy = ok_scheme.then(|| Proxy::new(url).ok()).flatten();
    proxy.ok_or_else(|| {
        StartError::Tls(format!(
            "{what} proxy {}: not a valid http:// or https:// proxy URL",
            proxy_route::display_url(url)
        ))
    })
}

/// The way for `route` to `url`.
pub(crate) fn way(route: &Route, url: &str, unix: Option<&Path>) -> Result<Way, StartError> {
    if let Some(p) = unix {
        return Ok(Way::Unix(p.to_path_buf()));
    }
    let Some(proxy_url) = route.proxy_with_credentials() else {
        return Ok(Way::Direct);
    };
    let proxy = parse_proxy(
        proxy_url,
        &format!("{} {}", route.kind.as_str(), route.name),
    )?;
    let https = TargetAddr::parse(url).is_some_and(|t| t.https);
    // An https proxy needs TLS to the proxy before the absolute-form request; ureq only
    // does that inside its CONNECT path, so such routes tunnel http targets too.
    let tls_proxy = proxy.protocol() == ureq::ProxyProtocol::Https;
    Ok(if https || tls_proxy {
        Way::Connect(proxy)
    } else {
        Way::AbsoluteForm(proxy)
    })
}

/// The route of a destination, from the explicit proxy (if any) and the environment.
pub(crate) fn route(
    kind: RouteKind,
    name: &str,
    url: &str,
    explicit: Option<ExplicitProxy>,
    unix: Option<&Path>,
    env: &ProxyEnv,
) -> Route {
    let unix = unix.map(|p| p.display().to_string());
    proxy_route::select(kind, name, url, explicit.as_ref(), unix.as_deref(), env)
}

/// An agent for `way`; `config` builds the agent configuration with the ureq proxy it is
/// given (only `CONNECT` routes get one). Its pooled connections are recycled after
/// [`CONNECTION_LIFETIME`] (see `lifetime`).
pub(crate) fn agent(config: impl Fn(Option<Proxy>) -> Config, way: &Way) -> ureq::Agent {
    agent_with_lifetime(config, way, CONNECTION_LIFETIME)
}

/// [`agent`] with a given connection lifetime (tests use short ones).
pub(crate) fn agent_with_lifetime(
    config: impl Fn(Option<Proxy>) -> Config,
    way: &Way,
    lifetime: Duration,
) -> ureq::Agent {
    let aged = Lifetime::new(lifetime);
    match way {
        Way::Direct => ureq::Agent::with_parts(
            config(None),
            DefaultConnector::new().chain(aged),
            LiteralFirst::default(),
        ),
        Way::Connect(p) => ureq::Agent::with_parts(
            config(Some(p.clone())),
            DefaultConnector::new().chain(aged),
            LiteralFirst::default(),
        ),
        Way::AbsoluteForm(p) => ureq::Agent::with_parts(
            config(None),
            ().chain(TcpConnector::default())
                .chain(AbsoluteForm::new(p))
                .chain(aged),
            ToProxy::new(p),
        ),
        Way::Unix(path) => ureq::Agent::with_parts(
            config(None),
            ().chain(UnixConnector { path: path.clone() })
                .chain(RustlsConnector::default())
                .chain(aged),
            NoLookup,
        ),
    }
}

/// What the OAuth discovery of one binding needs to reach other origins: an agent without
/// the binding's client certificate, and the inputs of the per-request route.
#[derive(Clone)]
pub(crate) struct Foreign {
    pub agent: ureq::Agent,
    pub explicit: Option<ExplicitProxy>,
    pub env: ProxyEnv,
    pub name: String,
}

impl Foreign {
    /// The proxy for one request to `url` (`None`: direct). A proxy URL that does not parse
    /// was refused at startup for the binding's own route; here it means direct.
    pub fn proxy_for(&self, url: &str) -> Option<Proxy> {
        let r = route(
            RouteKind::McpChannel,
            &self.name,
            url,
            self.explicit.clone(),
            None,
            &self.env,
        );
        r.proxy_with_credentials().and_then(|p| Proxy::new(p).ok())
    }
}

/// The proxy variables `opts` asks for, or the process environment's.
pub(crate) fn env_of(opts: &crate::options::TlsOptions) -> ProxyEnv {
    opts.env()
}

/// A control-plane agent for `base_url` with `run`'s route, trust and client certificate
/// (`doctor`, the admin CLI).
pub fn control_plane_agent(
    trust: &crate::tls::Trust,
    opts: &crate::options::TlsOptions,
    base_url: &str,
) -> Result<ureq::Agent, StartError> {
    let r = route(
        RouteKind::ControlPlane,
        "control-plane",
        base_url,
        opts.control_plane_proxy.clone().map(|url| ExplicitProxy {
            url,
            source: "control-plane.http-proxy".into(),
        }),
        None,
        &env_of(opts),
    );
    let w = way(&r, base_url, None)?;
    let client = opts
        .control_plane_client_cert
        .as_ref()
        .map(crate::tls::load_client_cert)
        .transpose()?;
    Ok(agent(
        |p| crate::tls::control_plane_with(trust, client.clone(), p, None),
        &w,
    ))
}

/// An agent for one MCP binding with `run`'s route (its proxy or unix socket), trust and
/// client certificate, and one for other origins (no certificate, the same explicit proxy
/// or the environment's) (`doctor`).
pub fn mcp_agents(
    trust: &crate::tls::Trust,
    opts: &crate::options::TlsOptions,
    target: &crate::options::HttpTarget,
    connect_timeout: std::time::Duration,
) -> Result<(ureq::Agent, ureq::Agent), StartError> {
    let explicit = target.proxy.clone().or_else(|| {
        opts.mcp_proxy.clone().map(|url| ExplicitProxy {
            url,
            source: "mcp.http-proxy".into(),
        })
    });
    let unix = target.unix_socket.as_deref();
    let env = env_of(opts);
    let r = route(
        RouteKind::McpChannel,
        target.channel.as_str(),
        &target.url,
        explicit.clone(),
        unix,
        &env,
    );
    let w = way(&r, &target.url, unix)?;
    let client = target
        .client_cert
        .as_ref()
        .or(opts.mcp_client_cert.as_ref())
        .map(crate::tls::load_client_cert)
        .transpose()?;
    let own = agent(
        |p| crate::tls::mcp_with(trust, client.clone(), p, connect_timeout, None),
        &w,
    );
    let foreign_proxy = match &explicit {
        Some(p) => Some(parse_proxy(&p.url, "MCP")?),
        None => Proxy::try_from_env(),
    };
    let foreign = agent(
        |_| crate::tls::mcp_with(trust, None, foreign_proxy.clone(), connect_timeout, None),
        &Way::Direct,
    );
    Ok((own, foreign))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> ProxyEnv {
        ProxyEnv::default()
    }

    #[test]
    fn https_targets_tunnel_http_targets_go_absolute_form() {
        let p = ExplicitProxy {
            url: "http://u:p@proxy:3128".into(),
            source: "http-proxy".into(),
        };
        let r = route(
            RouteKind::McpChannel,
            "main",
            "https://a.example/mcp",
            Some(p.clone()),
            None,
            &env(),
        );
        assert!(matches!(
            way(&r, "https://a.example/mcp", None).unwrap(),
            Way::Connect(_)
        ));
        let r = route(
            RouteKind::McpChannel,
            "main",
            "http://a.example/mcp",
            Some(p),
            None,
            &env(),
        );
        assert!(matches!(
            way(&r, "http://a.example/mcp", None).unwrap(),
            Way::AbsoluteForm(_)
        ));
        let r = route(
            RouteKind::McpChannel,
            "main",
            "http://a.example/mcp",
            None,
            None,
            &env(),
        );
        assert!(matches!(
            way(&r, "http://a.example/mcp", None).unwrap(),
            Way::Direct
        ));
    }

    #[test]
    fn bad_proxy_url_is_refused_without_its_credentials() {
        let p = ExplicitProxy {
            url: "socks5://user:s3cret@proxy:1".into(),
            source: "mcp.server-url".into(),
        };
        let r = route(
            RouteKind::McpChannel,
            "main",
            "https://a.example",
            Some(p),
            None,
            &env(),
        );
        let e = way(&r, "https://a.example", None).unwrap_err().to_string();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(e.contains("mcp_channel main proxy"), "{e}");
    }
}
