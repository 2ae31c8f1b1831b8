//! How each request reaches its destination: the trust store (platform roots plus
//! `--ca-bundle`), client certificates, the route `tunnel_core::proxy_route` decides
//! (direct, `CONNECT` through a proxy, absolute-form to a proxy, a unix socket), and for
//! Harpoon the address guard on what was resolved.
//!
//! A [`Dialer`] serves one destination (the control plane, one MCP binding, the `harpoon`
//! channel). Its own origin gets its client certificate and unix socket; any other origin
//! (an OAuth discovery step) gets neither and its own route from the same precedence, so a
//! certificate never leaves its origin. What goes on the wire to a proxy is
//! `tunnel_core::egress`, shared with the blocking adapter.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_io::Timer;
use futures_lite::future;

use async_net::TcpStream;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::TlsConnector;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tunnel_core::classify::TransportError;
use tunnel_core::egress::{connect_reply, ConnectReply, ProxyAddr, TlsOptions};
use tunnel_core::explain::Explainer;
use tunnel_core::harpoon::guard::AddressPolicy;
use tunnel_core::http_timing::{HttpClientKind, HttpObserver};
use tunnel_core::mcp_http::{ClientCertPaths, HttpTarget};
use tunnel_core::proxy_route::{self, ExplicitProxy, ProxyEnv, Route, RouteKind, TargetAddr};
use tunnel_core::trust;

use crate::h1::{classify, Conn, Origin, Phase, Pool, Stream};
use crate::StartError;

/// What every dialer of a runtime shares: the trust store, the proxy variables read once,
/// and the idle-connection pool.
pub(crate) struct Net {
    roots: Arc<rustls::RootCertStore>,
    /// What the trust store holds (`/api/system`), as the blocking adapter reports it.
    report: Arc<trust::TrustReport>,
    plain: TlsConnector,
    env: ProxyEnv,
    pool: Pool,
    ids: AtomicUsize,
    /// The route of each destination with a URL, in the order they were set up.
    routes: Mutex<Vec<Route>>,
    /// Hears of every request (`RuntimeOptions::http_observer`).
    http_observer: Option<HttpObserver>,
    /// `RuntimeOptions::mcp_connect_timeout`.
    mcp_connect_timeout: Duration,
}

/// Hex SHA-256 of a proxy's shown URL (its `proxy_id`), as `run` prints it.
fn sha256_hex(bytes: &[u8]) -> String {
    tunnel_core::sha256::hex_prefix(bytes, 32)
}

/// One destination's way out (see the module doc).
pub(crate) struct Dialer {
    /// Part of the pool key: connections are only reused by the dialer that opened them.
    id: usize,
    pub(crate) pool: Pool,
    /// No client certificate: other origins, and TLS to an `https://` proxy.
    plain: TlsConnector,
    own: Option<Own>,
    kind: RouteKind,
    name: String,
    explicit: Option<ExplicitProxy>,
    env: ProxyEnv,
    guard: Option<AddressPolicy>,
    http_observer: Option<HttpObserver>,
    /// Bound on opening a connection (TCP, and the proxy's when there is one) for MCP
    /// destinations, as Go's dialer; a control-plane request is bounded by its own timeout.
    connect_timeout: Option<Duration>,
    /// Its own origin is reached by a plain TCP connect (no proxy, no unix socket): only
    /// then does a connect probe say anything about the path requests take.
    direct: bool,
    /// Proxy refusals already logged (once per distinct reason).
    warned: Mutex<HashSet<String>>,
    /// TLS failures of the control plane already explained.
    explained: Mutex<Explainer>,
}

/// The destination's own origin, with its certificate and socket.
struct Own {
    origin: TargetAddr,
    tls: TlsConnector,
    unix: Option<PathBuf>,
}

/// The platform's roots, read once per process (the system store an enterprise adds its
/// CA to, as in the blocking adapter); the Mozilla roots where there is none.
fn platform_roots() -> &'static (Vec<CertificateDer<'static>>, &'static str) {
    static ROOTS: OnceLock<(Vec<CertificateDer<'static>>, &'static str)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() {
            let mozilla = webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec();
            (
                mozilla,
                "built-in Mozilla roots (no system trust store found)",
            )
        } else {
            (found.certs, "system cert pool")
        }
    })
}

fn tls_err(m: String) -> StartError {
    StartError::Tls(m)
}

/// A PEM certificate chain and private key (what they must hold, and the errors: the
/// core's `trust`, shared with the blocking adapter).
fn load_client_cert(
    p: &ClientCertPaths,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), StartError> {
    Ok(trust::load_client_cert(p, &|path| std::fs::read(path))?)
}

/// A proxy URL checked at start; the error names the destination, never the URL's secrets.
fn check_proxy(p: &ExplicitProxy, what: &str) -> Result<(), StartError> {
    ProxyAddr::parse(&p.url).map(drop).map_err(|e| {
        tls_err(format!(
            "{what} proxy {} ({}): {e}",
            proxy_route::display_url(&p.url),
            p.source
        ))
    })
}

impl Net {
    /// The trust store: platform roots plus the `--ca-bundle` certificates (errors in the
    /// Go client's words).
    pub(crate) fn new(
        opts: &TlsOptions,
        http_observer: Option<HttpObserver>,
        mcp_connect_timeout: Duration,
    ) -> Result<Net, StartError> {
        let (system, source) = platform_roots();
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(system.iter().cloned());
        let (extra, report) = trust::load(opts, (system.len(), source), &|p| std::fs::read(p))?;
        report.log_summary();
        roots.add_parsable_certificates(extra);
        let roots = Arc::new(roots);
        Ok(Net {
            plain: connector(&roots, None)?,
            roots,
            report: Arc::new(report),
            env: opts.env(),
            pool: Pool::default(),
            ids: AtomicUsize::new(0),
            routes: Mutex::default(),
            http_observer,
            mcp_connect_timeout,
        })
    }

    /// What the trust store holds.
    pub(crate) fn trust_report(&self) -> Arc<trust::TrustReport> {
        Arc::clone(&self.report)
    }

    #[allow(clippy::too_many_arguments)]
    fn dialer(
        &self,
        kind: RouteKind,
        name: &str,
        url: Option<&str>,
        cert: Option<&ClientCertPaths>,
        unix: Option<PathBuf>,
        explicit: Option<ExplicitProxy>,
        env: ProxyEnv,
        guard: Option<AddressPolicy>,
    ) -> Result<Arc<Dialer>, StartError> {
        if let Some(p) = &explicit {
            check_proxy(p, &format!("{} {name}", kind.as_str()))?;
        }
        let mut direct = false;
        if let Some(url) = url {
            let unix_shown = unix.as_ref().map(|p| p.display().to_string());
            let route = proxy_route::select(
                kind,
                name,
                url,
                explicit.as_ref(),
                unix_shown.as_deref(),
                &env,
            );
            let proxy_url = route.proxy_url();
            let proxy_id = proxy_url.as_ref().map(|u| sha256_hex(u.as_bytes()));
            log::info!(
                "route kind={} name={} target={} route_mode={} proxy_source={} proxy_url={} proxy_id={}",
                kind.as_str(),
                route.name,
                route.target,
                route.mode.as_str(),
                route.source,
                proxy_url.as_deref().unwrap_or("-"),
                proxy_id.as_deref().unwrap_or("-"),
            );
            direct = route.proxy_url().is_none() && unix.is_none();
            self.routes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(route);
        }
        let own = match url.and_then(TargetAddr::parse) {
            Some(origin) => Some(Own {
                origin,
                tls: match cert {
                    Some(c) => connector(&self.roots, Some(load_client_cert(c)?))?,
                    None => self.plain.clone(),
                },
                unix,
            }),
            None => None,
        };
        Ok(Arc::new(Dialer {
            id: self.ids.fetch_add(1, Ordering::Relaxed),
            pool: self.pool.clone(),
            plain: self.plain.clone(),
            own,
            kind,
            name: name.to_string(),
            explicit,
            env,
            guard,
            http_observer: self.http_observer.clone(),
            connect_timeout: (kind != RouteKind::ControlPlane).then_some(self.mcp_connect_timeout),
            direct,
            warned: Mutex::default(),
            explained: Mutex::default(),
        }))
    }

    /// Every route set up so far (`RuntimeHandle::routes`).
    pub(crate) fn routes(&self) -> Vec<Route> {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The control plane: its explicit proxy or the environment, its client certificate.
    pub(crate) fn control_plane(
        &self,
        base: &str,
        o: &TlsOptions,
    ) -> Result<Arc<Dialer>, StartError> {
        let explicit = o.control_plane_proxy.clone().map(|url| ExplicitProxy {
            url,
            source: "control-plane.http-proxy".into(),
        });
        let cert = o.control_plane_client_cert.as_ref();
        let env = self.env.clone();
        self.dialer(
            RouteKind::ControlPlane,
            "control-plane",
            Some(base),
            cert,
            None,
            explicit,
            env,
            None,
        )
    }

    /// One MCP binding: per-entry proxy → common MCP proxy → environment; its certificate
    /// (else the common one) and socket for its own origin only.
    pub(crate) fn binding(
        &self,
        t: &HttpTarget,
        o: &TlsOptions,
    ) -> Result<Arc<Dialer>, StartError> {
        let explicit = t.proxy.clone().or_else(|| {
            o.mcp_proxy.clone().map(|url| ExplicitProxy {
                url,
                source: "mcp.http-proxy".into(),
            })
        });
        let cert = t.client_cert.as_ref().or(o.mcp_client_cert.as_ref());
        let (kind, name, env) = (RouteKind::McpChannel, t.channel.as_str(), self.env.clone());
        let unix = t.unix_socket.clone();
        self.dialer(kind, name, Some(&t.url), cert, unix, explicit, env, None)
    }

    /// The `harpoon` channel's hops: the Harpoon proxy or direct (the environment's proxy
    /// variables play no part, as in the blocking adapter), no client certificate, and the
    /// address guard on every address.
    pub(crate) fn harpoon(
        &self,
        registry: &tunnel_core::harpoon::Registry,
        o: &TlsOptions,
    ) -> Result<Arc<Dialer>, StartError> {
        let explicit = o.harpoon_proxy.clone().map(|url| ExplicitProxy {
            url,
            source: "harpoon.http-proxy".into(),
        });
        let guard = Some(AddressPolicy::new(registry));
        let (kind, name) = (RouteKind::HarpoonTarget, tunnel_core::engine::HARPOON);
        self.dialer(
            kind,
            name,
            None,
            None,
            None,
            explicit,
            ProxyEnv::default(),
            guard,
        )
    }
}

fn connector(
    roots: &Arc<rustls::RootCertStore>,
    cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<TlsConnector, StartError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(format!("TLS setup: {e}")))?
        .with_root_certificates(Arc::clone(roots));
    let config = match cert {
        // rustls presents it whatever CA list the server asks for, as Go does.
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err(format!("load client certificate/key pair: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

fn dial_failed(why: impl Into<String>) -> std::io::Error {
    std::io::Error::other(why.into())
}

impl Dialer {
    /// The pool key of `origin` (reached through `unix` when given) for this dialer.
    pub(crate) fn key(
        &self,
        origin: &Origin,
        unix: Option<&Path>,
    ) -> (usize, Origin, Option<PathBuf>) {
        (self.id, origin.clone(), unix.map(Path::to_path_buf))
    }

    /// Whether a TCP connect to the origin tests the way requests go (`crate::probe`).
    pub(crate) fn is_direct(&self) -> bool {
        self.direct
    }

    /// Who hears of this dialer's requests, and as which client.
    pub(crate) fn timing(&self) -> Option<(HttpClientKind, &HttpObserver)> {
        let client = match self.kind {
            RouteKind::ControlPlane => HttpClientKind::ControlPlane,
            _ => HttpClientKind::Mcp,
        };
        self.http_observer.as_ref().map(|o| (client, o))
    }

    /// Idle connections currently kept (all dialers of the runtime).
    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        self.pool.count()
    }

    /// A direct dialer without proxies or certificates (unit tests).
    #[cfg(test)]
    pub(crate) fn plain() -> Arc<Dialer> {
        Self::observed(None)
    }

    /// [`Dialer::plain`] with an HTTP observer (a control-plane dialer).
    #[cfg(test)]
    pub(crate) fn observed(observer: Option<HttpObserver>) -> Arc<Dialer> {
        let opts = TlsOptions {
            proxy_env: Some(ProxyEnv::default()),
            ..TlsOptions::default()
        };
        let net = Net::new(&opts, observer, Duration::from_secs(30)).unwrap();
        let (kind, env) = (RouteKind::ControlPlane, ProxyEnv::default());
        net.dialer(kind, "test", None, None, None, None, env, None)
            .unwrap()
    }

    /// Opens a connection to `origin` along its route, or through `unix` when given (a
    /// Harpoon hop to a `unix-socket=` target: no proxy, and no client certificate).
    pub(crate) async fn connect(
        &self,
        origin: &Origin,
        unix: Option<&Path>,
    ) -> Result<Conn, TransportError> {
        let (scheme, host, port) = origin;
        let target = TargetAddr {
            https: scheme == "https",
            host: host.to_ascii_lowercase(),
            port: *port,
        };
        if let Some(path) = unix {
            let io = self::unix(path).await?;
            return finish(io, &target, &self.plain, None).await;
        }
        let own = self.own.as_ref().filter(|o| o.origin == target);
        let tls = own.map_or(&self.plain, |o| &o.tls);
        if let Some(path) = own.and_then(|o| o.unix.as_ref()) {
            let io = self::unix(path).await?;
            return finish(io, &target, tls, self.explained()).await;
        }
        let url = format!("{scheme}://{}/", target.host_port());
        let route = proxy_route::select(
            self.kind,
            &self.name,
            &url,
            self.explicit.as_ref(),
            None,
            &self.env,
        );
        let Some(proxy) = route.proxy_with_credentials() else {
            let tcp = self
                .tcp(&target.host, target.port, self.guard.as_ref())
                .await?;
            return finish(Box::new(tcp), &target, tls, self.explained()).await;
        };
        // Through a proxy the proxy resolves the name; an IP literal is still checked.
        if let (Some(g), Ok(ip)) = (&self.guard, target.host.parse::<IpAddr>()) {
            g.check(&target.host, ip)
                .map_err(|why| self.refused(&target.host, why))?;
        }
        // Checked at start for explicit proxies; a bad environment value fails here.
        let proxy = ProxyAddr::parse(proxy).map_err(|_| TransportError::Dial)?;
        let tcp = self.tcp(&proxy.host, proxy.port, None).await?;
        let mut io: Box<dyn Stream> = Box::new(tcp);
        if proxy.tls {
            let to_proxy = TargetAddr {
                https: true,
                host: proxy.host.clone(),
                port: proxy.port,
            };
            io = finish(io, &to_proxy, &self.plain, None).await?.io;
        }
        if !target.https {
            let prefix = format!("http://{}", target.host_port());
            return Ok(Conn::absolute(io, prefix, proxy.authorization));
        }
        let sent = io
            .write_all(&proxy.connect_request(&target.host_port()))
            .await;
        sent.map_err(|e| classify(&e, Phase::Connect))?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match connect_reply(&reply) {
                ConnectReply::Partial => {}
                ConnectReply::Established { head_len } if head_len == reply.len() => break,
                other => {
                    let why = match other {
                        ConnectReply::Refused { status } => {
                            format!("answered CONNECT with HTTP {status}")
                        }
                        _ => "sent something that is not an HTTP reply to CONNECT".into(),
                    };
                    self.warn_once(&route, why);
                    return Err(TransportError::Dial);
                }
            }
            let n = io
                .read(&mut buf)
                .await
                .map_err(|e| classify(&e, Phase::Connect))?;
            if n == 0 {
                return Err(TransportError::UnexpectedEof);
            }
            reply.extend_from_slice(&buf[..n]);
        }
        finish(io, &target, tls, self.explained()).await
    }

    /// The control plane's explainer; other destinations' failures are their commands'.
    fn explained(&self) -> Option<&Mutex<Explainer>> {
        (self.kind == RouteKind::ControlPlane).then_some(&self.explained)
    }

    fn warn_once(&self, route: &proxy_route::Route, why: String) {
        let proxy = route.proxy_url().unwrap_or_default();
        let line = format!(
            "proxy {proxy} (source {}) {why} for {} {}; check the proxy URL and its credentials",
            route.source,
            route.kind.as_str(),
            route.name
        );
        if self
            .warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(line.clone())
        {
            log::warn!("{line}");
        }
    }

    fn refused(&self, host: &str, why: String) -> TransportError {
        log::warn!("{} request to {host} not sent: {why}", self.name);
        classify(
            &std::io::Error::new(std::io::ErrorKind::PermissionDenied, why),
            Phase::Connect,
        )
    }

    /// Resolves `host` once, keeps the addresses the guard (if any) accepts, and connects
    /// to one of exactly those: there is no second lookup to rebind.
    async fn tcp(
        &self,
        host: &str,
        port: u16,
        guard: Option<&AddressPolicy>,
    ) -> Result<TcpStream, TransportError> {
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => async_net::resolve((host, port))
                .await
                .map_err(|e| classify(&e, Phase::Connect))?,
        };
        let mut refused = None;
        let addrs: Vec<SocketAddr> = match guard {
            None => addrs,
            Some(g) => addrs
                .into_iter()
                .filter(|a| match g.check(host, a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refused = Some(why);
                        false
                    }
                })
                .collect(),
        };
        if let (true, Some(why)) = (addrs.is_empty(), refused) {
            return Err(self.refused(host, why));
        }
        let mut last = dial_failed(format!("{host}: no address"));
        for a in addrs {
            let connect = TcpStream::connect(a);
            let bounded = async {
                match self.connect_timeout {
                    None => connect.await,
                    Some(t) => {
                        let expired = async {
                            Timer::after(t).await;
                            Err(std::io::ErrorKind::TimedOut.into())
                        };
                        future::or(connect, expired).await
                    }
                }
            };
            match bounded.await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(classify(&last, Phase::Connect))
    }
}

#[cfg(unix)]
async fn unix(path: &std::path::Path) -> Result<Box<dyn Stream>, TransportError> {
    match async_net::unix::UnixStream::connect(path).await {
        Ok(s) => Ok(Box::new(s)),
        Err(e) => {
            log::debug!("unix socket {}: {e}", path.display());
            Err(classify(&e, Phase::Connect))
        }
    }
}

#[cfg(not(unix))]
async fn unix(_: &std::path::Path) -> Result<Box<dyn Stream>, TransportError> {
    Err(TransportError::Dial)
}

/// TLS over `io` for an `https` target (certificate checked against `target`'s name), or
/// `io` as it is. A control plane's TLS failure is explained to the operator
/// (`tunnel_core::explain`); any other is the command's `tls` failure.
async fn finish(
    io: Box<dyn Stream>,
    target: &TargetAddr,
    tls: &TlsConnector,
    explained: Option<&Mutex<Explainer>>,
) -> Result<Conn, TransportError> {
    if !target.https {
        return Ok(Conn::direct(io));
    }
    let name = ServerName::try_from(target.host.clone()).map_err(|_| TransportError::Tls)?;
    match tls.connect(name, io).await {
        Ok(s) => Ok(Conn::direct(Box::new(s))),
        Err(e) => {
            log::debug!("TLS to {}: {e}", target.host_port());
            let mut x = explained.map(|m| m.lock().unwrap_or_else(|p| p.into_inner()));
            if let Some(line) = x
                .as_mut()
                .and_then(|x| x.explain(TransportError::Tls, &e.to_string()))
            {
                log::warn!("{line}");
            }
            Err(TransportError::Tls)
        }
    }
}
