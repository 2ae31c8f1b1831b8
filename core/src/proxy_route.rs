//! Which proxy (if any) each outbound destination uses, decided once from the configuration
//! and a snapshot of the process environment.
//!
//! Pure logic shared by both adapters and the CLI (route reporting): no environment reads,
//! no sockets. The precedence is the Go client's (go-harpoon-oauth-security.md §3.3):
//!
//! * an **explicit** proxy (per-entry `http-proxy=`, `--mcp.http-proxy`,
//!   `--control-plane.http-proxy`, `--harpoon.http-proxy`, `--http-proxy`; the caller has
//!   already applied that order) is used for every request to the destination and bypasses
//!   `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` completely — loopback targets included, as in Go;
//! * otherwise the **environment**, with the semantics of Go's `ProxyFromEnvironment`:
//!   `HTTPS_PROXY`/`https_proxy` for https targets, `HTTP_PROXY`/`http_proxy` for http
//!   targets (upper case first, first non-empty wins), `localhost` and loopback IPs are never
//!   proxied, and `NO_PROXY`/`no_proxy` is matched as in [`NoProxy`];
//! * a unix-socket destination is never proxied (source `ignored`).
//!
//! Reporting and transport use this one function, so what `/api/status` says is what the
//! client does.

use std::fmt;
use std::net::IpAddr;

/// What kind of destination a route is for (the `kind` field of a route summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    ControlPlane,
    McpChannel,
    HarpoonTarget,
}

impl RouteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::ControlPlane => "control_plane",
            RouteKind::McpChannel => "mcp_channel",
            RouteKind::HarpoonTarget => "harpoon_target",
        }
    }
}

/// A proxy given by the configuration, with its source label (`control-plane.http-proxy`,
/// `MCP_HTTP_PROXY`, `env:CORP_PROXY`, `mcp.server-url`, ...).
#[derive(Clone, PartialEq, Eq)]
pub struct ExplicitProxy {
    /// May carry credentials (`http://user:pass@proxy:3128`): never log it.
    pub url: String,
    pub source: String,
}

impl fmt::Debug for ExplicitProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExplicitProxy")
            .field("url", &display_url(&self.url))
            .field("source", &self.source)
            .finish()
    }
}

/// The proxy variables of the process environment, read once by the caller.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// `(variable name, value)` of the first non-empty of `HTTP_PROXY`, `http_proxy`.
    pub http_proxy: Option<(String, String)>,
    /// `(variable name, value)` of the first non-empty of `HTTPS_PROXY`, `https_proxy`.
    pub https_proxy: Option<(String, String)>,
    /// The first non-empty of `NO_PROXY`, `no_proxy`.
    pub no_proxy: NoProxy,
}

impl fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<(String, String)>| {
            v.as_ref().map(|(n, u)| format!("{n}={}", display_url(u)))
        };
        f.debug_struct("ProxyEnv")
            .field("http_proxy", &show(&self.http_proxy))
            .field("https_proxy", &show(&self.https_proxy))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxyEnv {
    /// Builds the snapshot from a lookup (`std::env::var(..).ok()` in a binary, a map in a
    /// test).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let first = |names: [&str; 2]| {
            names.iter().find_map(|n| {
                get(n)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (n.to_string(), v.trim().to_string()))
            })
        };
        ProxyEnv {
            http_proxy: first(["HTTP_PROXY", "http_proxy"]),
            https_proxy: first(["HTTPS_PROXY", "https_proxy"]),
            no_proxy: NoProxy::parse(
                &first(["NO_PROXY", "no_proxy"])
                    .map(|(_, v)| v)
                    .unwrap_or_default(),
            ),
        }
    }
}

/// Direct or through a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMode {
    Direct,
    Proxy,
}

impl RouteMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteMode::Direct => "direct",
            RouteMode::Proxy => "proxy",
        }
    }
}

/// The decision for one destination.
#[derive(Clone, PartialEq, Eq)]
pub struct Route {
    pub kind: RouteKind,
    /// The binding's channel, the Harpoon label, or `control-plane`.
    pub name: String,
    /// `host:port` of the destination, default port filled in (IPv6 in brackets); for a
    /// unix socket, `unix:<path>`.
    pub target: String,
    pub mode: RouteMode,
    /// Where the decision came from: the setting or variable name, `env:HTTPS_PROXY`-style
    /// for the process environment, `none`, or `ignored` (unix sockets).
    pub source: String,
    /// The proxy URL to connect through, credentials included: for the transport only.
    proxy: Option<String>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("target", &self.target)
            .field("mode", &self.mode)
            .field("source", &self.source)
            .field("proxy_url", &self.proxy_url())
            .finish()
    }
}

impl Route {
    /// The proxy URL with credentials, for the transport. `None` for a direct route.
    pub fn proxy_with_credentials(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// The proxy as it may be shown: lower-case `scheme://host[:port]`, no credentials, no
    /// path. `None` for a direct route.
    pub fn proxy_url(&self) -> Option<String> {
        self.proxy.as_deref().map(display_url)
    }
}

/// Decides the route of one destination.
///
/// `target_url` is the destination URL (`https://api.openai.com`, the MCP endpoint);
/// `explicit` the configured proxy after the caller's precedence; `unix_socket` the socket
/// path when the destination is dialled over a unix socket.
pub fn select(
    kind: RouteKind,
    name: &str,
    target_url: &str,
    explicit: Option<&ExplicitProxy>,
    unix_socket: Option<&str>,
    env: &ProxyEnv,
) -> Route {
    let parsed = TargetAddr::parse(target_url);
    let target = match (unix_socket, &parsed) {
        (Some(p), _) => format!("unix:{p}"),
        (None, Some(t)) => t.host_port(),
        (None, None) => target_url.to_string(),
    };
    let route = |mode, source: &str, proxy: Option<String>| Route {
        kind,
        name: name.to_string(),
        target: target.clone(),
        mode,
        source: source.to_string(),
        proxy,
    };
    if unix_socket.is_some() {
        return route(RouteMode::Direct, "ignored", None);
    }
    if let Some(p) = explicit {
        return route(RouteMode::Proxy, &p.source, Some(p.url.clone()));
    }
    let Some(t) = parsed else {
        return route(RouteMode::Direct, "none", None);
    };
    let var = if t.https {
        &env.https_proxy
    } else {
        &env.http_proxy
    };
    let Some((var, value)) = var else {
        return route(RouteMode::Direct, "none", None);
    };
    let source = format!("env:{var}");
    if !env_proxy_applies(&t, &env.no_proxy) {
        return route(RouteMode::Direct, &source, None);
    }
    // Go accepts a scheme-less value and means http.
    let url = if value.contains("://") {
        value.clone()
    } else {
        format!("http://{value}")
    };
    route(RouteMode::Proxy, &source, Some(url))
}

/// True when an environment proxy is used for `t`: not `localhost`, not a loopback IP, not
/// matched by `NO_PROXY`.
fn env_proxy_applies(t: &TargetAddr, no_proxy: &NoProxy) -> bool {
    if t.host == "localhost" {
        return false;
    }
    if t.ip().is_some_and(|ip| ip.is_loopback()) {
        return false;
    }
    !no_proxy.matches(&t.host, t.port)
}

/// A destination's scheme, host and effective port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAddr {
    pub https: bool,
    /// Lower case, IPv6 without brackets.
    pub host: String,
    pub port: u16,
}

impl TargetAddr {
    /// `None` for a URL without an http(s) scheme or a host.
    pub fn parse(url: &str) -> Option<TargetAddr> {
        let uri: http::Uri = url.trim().parse().ok()?;
        let https = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return None;
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Some(TargetAddr {
            https,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// `host:port`, IPv6 in brackets.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A proxy URL as it may be shown: lower-case `scheme://host[:port]`, credentials and path
/// dropped. A value that is not a URL shows as `[invalid proxy url]` (it could be anything,
/// including a secret).
pub fn display_url(url: &str) -> String {
    let with_scheme = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let Ok(uri) = with_scheme.trim().parse::<http::Uri>() else {
        return "[invalid proxy url]".into();
    };
    let (Some(scheme), Some(auth)) = (uri.scheme_str(), uri.authority()) else {
        return "[invalid proxy url]".into();
    };
    let host_port = auth.as_str().rsplit('@').next().unwrap_or_default();
    format!("{}://{}", scheme, host_port).to_ascii_lowercase()
}

/// A parsed `NO_PROXY` list with Go's matching (`golang.org/x/net/http/httpproxy`):
///
/// * `*` alone bypasses every host;
/// * `10.0.0.0/8`, `fd00::/8`: CIDR ranges, for IP targets;
/// * `10.1.2.3`, `::1`, `[::1]:8443`: an IP, optionally with a port;
/// * `example.com` matches `example.com` and every subdomain; `.example.com` and
///   `*.example.com` match subdomains only;
/// * `host:port` also requires the target's effective port (443/80 filled in) to match.
///
/// Entries are trimmed and compared case-insensitively; empty or unparsable entries are
/// skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    cidrs: Vec<(IpAddr, u8)>,
    ips: Vec<(IpAddr, Option<u16>)>,
    domains: Vec<Domain>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Domain {
    /// With a leading `.`.
    suffix: String,
    port: Option<u16>,
    /// The entry had no leading `.`/`*.`: the bare domain matches too.
    exact_too: bool,
}

impl NoProxy {
    pub fn parse(list: &str) -> NoProxy {
        let mut np = NoProxy::default();
        for entry in list.split(',') {
            let e = entry.trim().to_ascii_lowercase();
            if e.is_empty() {
                continue;
            }
            if e == "*" {
                np.all = true;
                continue;
            }
            if let Some(c) = parse_cidr(&e) {
                np.cidrs.push(c);
                continue;
            }
            let (host, port) = split_host_port(&e);
            let Ok(port) = port.map(str::parse::<u16>).transpose() else {
                continue;
            };
            if let Ok(ip) = host.parse::<IpAddr>() {
                np.ips.push((ip, port));
                continue;
            }
            let host = host.strip_prefix('*').unwrap_or(host);
            if host.is_empty() || host == "." {
                continue;
            }
            let (suffix, exact_too) = match host.strip_prefix('.') {
                Some(_) => (host.to_string(), false),
                None => (format!(".{host}"), true),
            };
            np.domains.push(Domain {
                suffix,
                port,
                exact_too,
            });
        }
        np
    }

    /// True when `host` (lower case, IPv6 without brackets) on `port` bypasses the proxy.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = host.to_ascii_lowercase();
        if let Ok(ip) = host.parse::<IpAddr>() {
            if self.cidrs.iter().any(|&(net, bits)| in_cidr(ip, net, bits)) {
                return true;
            }
            if self
                .ips
                .iter()
                .any(|&(m, p)| m == ip && p.is_none_or(|p| p == port))
            {
                return true;
            }
        }
        self.domains.iter().any(|d| {
            let hit = host.ends_with(&d.suffix) || (d.exact_too && host == d.suffix[1..]);
            hit && d.port.is_none_or(|p| p == port)
        })
    }
}

/// `host:port`, `[v6]:port`, or a bare host (an IPv6 literal without brackets is a host).
fn split_host_port(e: &str) -> (&str, Option<&str>) {
    if let Some(rest) = e.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':'));
        }
        return (e, None);
    }
    if e.matches(':').count() == 1 {
        let (h, p) = e.split_once(':').unwrap_or((e, ""));
        return (h, Some(p));
    }
    (e, None)
}

fn parse_cidr(e: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = e.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> ProxyEnv {
        ProxyEnv::from_lookup(|n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
    }

    fn sel(url: &str, explicit: Option<&ExplicitProxy>, e: &ProxyEnv) -> Route {
        select(RouteKind::McpChannel, "main", url, explicit, None, e)
    }

    #[test]
    fn https_uses_https_proxy_and_http_uses_http_proxy() {
        let e = env(&[("HTTPS_PROXY", "http://s:1"), ("http_proxy", "h:2")]);
        let r = sel("https://api.example.com/v1", None, &e);
        assert_eq!(r.mode, RouteMode::Proxy);
        assert_eq!(r.source, "env:HTTPS_PROXY");
        assert_eq!(r.proxy_with_credentials(), Some("http://s:1"));
        assert_eq!(r.target, "api.example.com:443");
        let r = sel("http://mcp.example.com/mcp", None, &e);
        assert_eq!(r.source, "env:http_proxy");
        // Scheme-less values mean http, as in Go.
        assert_eq!(r.proxy_with_credentials(), Some("http://h:2"));
        // Go's transport does not fall back from HTTPS_PROXY to HTTP_PROXY.
        let only_http = env(&[("HTTP_PROXY", "http://h:2")]);
        assert_eq!(
            sel("https://x.example/", None, &only_http).mode,
            RouteMode::Direct
        );
    }

    #[test]
    fn upper_case_wins_and_empty_values_are_unset() {
        let e = env(&[("HTTPS_PROXY", " "), ("https_proxy", "http://low:1")]);
        assert_eq!(sel("https://a.example", None, &e).source, "env:https_proxy");
        let e = env(&[
            ("HTTPS_PROXY", "http://up:1"),
            ("https_proxy", "http://low:1"),
        ]);
        assert_eq!(sel("https://a.example", None, &e).source, "env:HTTPS_PROXY");
    }

    #[test]
    fn explicit_proxy_bypasses_env_and_no_proxy_and_loopback() {
        let e = env(&[("HTTPS_PROXY", "http://env:1"), ("NO_PROXY", "*")]);
        let p = ExplicitProxy {
            url: "http://u:p@corp:3128".into(),
            source: "mcp.http-proxy".into(),
        };
        for url in [
            "https://a.example",
            "http://127.0.0.1:3000/mcp",
            "http://localhost/",
        ] {
            let r = sel(url, Some(&p), &e);
            assert_eq!(r.mode, RouteMode::Proxy, "{url}");
            assert_eq!(r.source, "mcp.http-proxy");
            assert_eq!(r.proxy_url().as_deref(), Some("http://corp:3128"));
        }
    }

    #[test]
    fn unix_sockets_are_never_proxied() {
        let p = ExplicitProxy {
            url: "http://corp:3128".into(),
            source: "http-proxy".into(),
        };
        let r = select(
            RouteKind::McpChannel,
            "main",
            "http://localhost/mcp",
            Some(&p),
            Some("/run/mcp.sock"),
            &env(&[("HTTP_PROXY", "http://e:1")]),
        );
        assert_eq!((r.mode, r.source.as_str()), (RouteMode::Direct, "ignored"));
        assert_eq!(r.target, "unix:/run/mcp.sock");
    }

    #[test]
    fn env_proxy_skips_localhost_and_loopback() {
        let e = env(&[("HTTP_PROXY", "http://e:1")]);
        for url in [
            "http://localhost:3000/",
            "http://127.0.0.1/",
            "http://[::1]:8/",
            "http://127.9.9.9/",
        ] {
            let r = sel(url, None, &e);
            assert_eq!(r.mode, RouteMode::Direct, "{url}");
            assert_eq!(r.source, "env:HTTP_PROXY");
        }
        assert_eq!(sel("http://10.0.0.1/", None, &e).mode, RouteMode::Proxy);
    }

    #[test]
    fn no_proxy_matching_is_gos() {
        let np = NoProxy::parse(" Example.COM, .sub.test ,*.star.test, 10.0.0.0/8, 192.168.1.1, [fd00::1]:8443, api.test:8443, fe80::/10 ,,");
        // bare domain: itself and subdomains
        assert!(np.matches("example.com", 443));
        assert!(np.matches("a.b.example.com", 80));
        assert!(!np.matches("notexample.com", 443));
        // leading dot / star: subdomains only
        assert!(np.matches("x.sub.test", 443));
        assert!(!np.matches("sub.test", 443));
        assert!(np.matches("x.star.test", 443));
        assert!(!np.matches("star.test", 443));
        // CIDR and IPs
        assert!(np.matches("10.200.3.4", 80));
        assert!(!np.matches("11.0.0.1", 80));
        assert!(np.matches("192.168.1.1", 1));
        assert!(!np.matches("192.168.1.2", 1));
        assert!(np.matches("fd00::1", 8443));
        assert!(!np.matches("fd00::1", 443));
        assert!(np.matches("fe80::1234", 443));
        // host:port needs the effective port
        assert!(np.matches("api.test", 8443));
        assert!(!np.matches("api.test", 443));
        assert!(NoProxy::parse("*").matches("anything", 1));
        assert!(!NoProxy::parse("").matches("anything", 1));
    }

    #[test]
    fn no_proxy_bypass_reports_the_env_source_but_goes_direct() {
        let e = env(&[("HTTPS_PROXY", "http://e:1"), ("no_proxy", "internal.test")]);
        let r = sel("https://mcp.internal.test/mcp", None, &e);
        assert_eq!(
            (r.mode, r.source.as_str()),
            (RouteMode::Direct, "env:HTTPS_PROXY")
        );
        assert_eq!(r.proxy_url(), None);
        assert_eq!(
            sel("https://mcp.example/mcp", None, &e).mode,
            RouteMode::Proxy
        );
    }

    #[test]
    fn display_url_drops_credentials_path_and_case() {
        assert_eq!(
            display_url("HTTP://User:Secret@Proxy.Corp:3128/x?y"),
            "http://proxy.corp:3128"
        );
        assert_eq!(display_url("proxy:1"), "http://proxy:1");
        assert_eq!(display_url("https://[::1]:8"), "https://[::1]:8");
        assert_eq!(display_url("http://%zz"), "[invalid proxy url]");
        let dbg = format!(
            "{:?}",
            ExplicitProxy {
                url: "http://u:s3cret@p:1".into(),
                source: "x".into()
            }
        );
        assert!(!dbg.contains("s3cret"), "{dbg}");
    }
}
