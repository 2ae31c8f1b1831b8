//! Properties of proxy selection (go-harpoon-oauth-security.md §3.3): an explicit proxy always
//! wins, the environment never proxies loopback, `NO_PROXY` behaves like Go's (a bare domain
//! covers itself and its subdomains, a leading dot only subdomains, `*` everything), unix
//! sockets are never proxied, and no credential ever reaches what may be shown.

use proptest::prelude::*;
use tunnel_core::proxy_route::{
    display_url, select, ExplicitProxy, NoProxy, ProxyEnv, RouteKind, RouteMode,
};

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,8}"
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|v| v.join("."))
}

fn env_with(vars: &[(&str, String)]) -> ProxyEnv {
    ProxyEnv::from_lookup(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
}

fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{8,16}".prop_map(|s| format!("S3cr3t{s}"))
}

proptest! {
    #[test]
    fn explicit_proxy_always_wins(
        host in domain(),
        https in any::<bool>(),
        port in 1u16..,
        no_proxy in prop::sample::select(vec!["*", "", "example.com", "10.0.0.0/8"]),
    ) {
        let scheme = if https { "https" } else { "http" };
        let url = format!("{scheme}://{host}:{port}/mcp");
        let env = env_with(&[
            ("HTTPS_PROXY", "http://env-proxy:1".into()),
            ("HTTP_PROXY", "http://env-proxy:1".into()),
            ("NO_PROXY", no_proxy.into()),
        ]);
        let p = ExplicitProxy { url: "http://corp:3128".into(), source: "http-proxy".into() };
        let r = select(RouteKind::ControlPlane, "control-plane", &url, Some(&p), None, &env);
        prop_assert_eq!(r.mode, RouteMode::Proxy);
        prop_assert_eq!(r.source.as_str(), "http-proxy");
        prop_assert_eq!(r.proxy_with_credentials(), Some("http://corp:3128"));
        prop_assert_eq!(r.target.clone(), format!("{host}:{port}"));
    }

    #[test]
    fn environment_never_proxies_loopback(
        a in 0u8.., b in 0u8.., c in 0u8.., port in 1u16..,
        https in any::<bool>(),
        v6 in any::<bool>(),
    ) {
        let scheme = if https { "https" } else { "http" };
        let host = if v6 { "[::1]".to_string() } else { format!("127.{a}.{b}.{c}") };
        let env = env_with(&[
            ("HTTPS_PROXY", "http://e:1".into()),
            ("HTTP_PROXY", "http://e:1".into()),
        ]);
        for url in [format!("{scheme}://{host}:{port}/"), format!("{scheme}://localhost:{port}/")] {
            let r = select(RouteKind::McpChannel, "main", &url, None, None, &env);
            prop_assert_eq!(r.mode, RouteMode::Direct, "{}", url);
        }
    }

    #[test]
    fn unix_socket_is_never_proxied(host in domain(), explicit in any::<bool>()) {
        let env = env_with(&[("HTTP_PROXY", "http://e:1".into())]);
        let p = ExplicitProxy { url: "http://corp:3128".into(), source: "mcp.http-proxy".into() };
        let r = select(
            RouteKind::McpChannel, "main", &format!("http://{host}/mcp"),
            explicit.then_some(&p), Some("/tmp/x.sock"), &env,
        );
        prop_assert_eq!(r.mode, RouteMode::Direct);
        prop_assert_eq!(r.source.as_str(), "ignored");
        prop_assert!(r.proxy_with_credentials().is_none());
    }

    #[test]
    fn bare_domain_covers_itself_and_subdomains_dot_only_subdomains(
        base in domain(), sub in label(), other in label(), port in 1u16..,
    ) {
        let bare = NoProxy::parse(&base);
        prop_assert!(bare.matches(&base, port));
        let subdomain = format!("{sub}.{base}");
        prop_assert!(bare.matches(&subdomain, port));
        let dotted = NoProxy::parse(&format!(".{base}"));
        prop_assert!(!dotted.matches(&base, port));
        prop_assert!(dotted.matches(&subdomain, port));
        let starred = NoProxy::parse(&format!("*.{base}"));
        prop_assert_eq!(starred.matches(&base, port), false);
        prop_assert!(starred.matches(&subdomain, port));
        // A name that merely ends with the same letters is not a subdomain.
        let glued = format!("{other}{base}");
        prop_assert!(!bare.matches(&glued, port));
        // Case does not matter.
        prop_assert!(NoProxy::parse(&base.to_uppercase()).matches(&base, port));
        prop_assert!(NoProxy::parse("*").matches(&glued, port));
    }

    #[test]
    fn port_entries_need_the_effective_port(base in domain(), p in 1u16.., q in 1u16..) {
        let np = NoProxy::parse(&format!("{base}:{p}"));
        prop_assert_eq!(np.matches(&base, q), p == q);
    }

    #[test]
    fn cidr_contains_exactly_the_prefix(a in any::<u32>(), bits in 0u8..=32, b in any::<u32>()) {
        let net = std::net::Ipv4Addr::from(a);
        let np = NoProxy::parse(&format!("{net}/{bits}"));
        let ip = std::net::Ipv4Addr::from(b);
        let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
        prop_assert_eq!(np.matches(&ip.to_string(), 80), (a & mask) == (b & mask));
    }

    #[test]
    fn credentials_never_shown(user in secret(), pass in secret(), host in domain(), port in 1u16..) {
        let url = format!("http://{user}:{pass}@{host}:{port}");
        let shown = display_url(&url);
        prop_assert!(!shown.contains(&user) && !shown.contains(&pass), "{}", shown);
        prop_assert_eq!(&shown, &format!("http://{host}:{port}"));
        let env = env_with(&[("HTTPS_PROXY", url.clone())]);
        let r = select(RouteKind::McpChannel, "m", "https://mcp.example/", None, None, &env);
        let dbg = format!("{r:?} {env:?}");
        prop_assert!(!dbg.contains(&pass), "{}", dbg);
        prop_assert_eq!(r.proxy_with_credentials(), Some(url.as_str()));
    }
}
