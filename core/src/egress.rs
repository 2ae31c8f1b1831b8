//! The sans-IO pieces of reaching a destination through a proxy, shared by both adapters:
//! the TLS/proxy settings an embedder gives either runtime, the proxy URL with its
//! `Proxy-Authorization` value, the `CONNECT` request and the proxy's reply, the
//! absolute-form request head for plain-http targets, and the automatic mTLS host switch.
//!
//! Which proxy a destination uses is [`crate::proxy_route`]; this module is what goes on
//! the wire once that is decided. Nothing here logs a proxy URL or its credentials.

use std::fmt;
use std::path::PathBuf;

use crate::mcp_http::ClientCertPaths;
use crate::proxy_route::ProxyEnv;

/// TLS and proxy settings of a runtime. Paths are plain file paths (the settings layer
/// resolves `env:` and `file:` forms before this point).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM CA bundle trusted *in addition to* the platform's roots, for the control plane,
    /// every MCP binding, OAuth discovery and Harpoon (`--ca-bundle`).
    pub ca_bundle: Option<PathBuf>,
    /// Client certificate chain + key (PEM) presented to the control plane (mTLS). With the
    /// default base URL it also switches the host ([`mtls_base_url`]).
    pub control_plane_client_cert: Option<ClientCertPaths>,
    /// Client certificate chain + key (PEM) presented to the MCP servers whose
    /// `HttpTarget::client_cert` is `None`, only to each binding's own origin.
    pub mcp_client_cert: Option<ClientCertPaths>,
    /// Explicit proxy for the control plane (`--control-plane.http-proxy`, else
    /// `--http-proxy`). `None`: the process environment (`HTTPS_PROXY`/`HTTP_PROXY` by
    /// scheme, `NO_PROXY`, loopback never proxied), as the Go client does.
    pub control_plane_proxy: Option<String>,
    /// Explicit proxy for MCP bindings whose `HttpTarget::proxy` is `None`. `None`: the
    /// process environment, as for the control plane.
    pub mcp_proxy: Option<String>,
    /// The proxy variables to use instead of the process environment's (tests, embedders).
    pub proxy_env: Option<ProxyEnv>,
    /// Proxy of the `harpoon` channel's requests (`--harpoon.http-proxy`, else the
    /// global one); `None` = direct.
    pub harpoon_proxy: Option<String>,
}

impl TlsOptions {
    /// [`TlsOptions::proxy_env`], or the process environment's proxy variables.
    pub fn env(&self) -> ProxyEnv {
        match &self.proxy_env {
            Some(e) => e.clone(),
            None => ProxyEnv::from_lookup(|n| std::env::var(n).ok()),
        }
    }
}

/// The Go client's mTLS host switch: with a control-plane client certificate, the base URL
/// spelled exactly `https://api.openai.com` (spaces and trailing `/` aside) becomes
/// `https://mtls.api.openai.com`. `None`: keep the URL as configured.
pub fn mtls_base_url(configured: &str, has_client_cert: bool) -> Option<&'static str> {
    (has_client_cert && configured.trim().trim_end_matches('/') == "https://api.openai.com")
        .then_some("https://mtls.api.openai.com")
}

/// A proxy to connect to: where it listens, whether the client speaks TLS to it first, and
/// the `Proxy-Authorization` value from the URL's userinfo. `Debug` hides the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyAddr {
    /// `https://` proxy: TLS to the proxy, then `CONNECT` (or the absolute-form request)
    /// inside it.
    pub tls: bool,
    /// Lower case, IPv6 without brackets.
    pub host: String,
    pub port: u16,
    /// `Basic base64(user:password)`, percent-decoded first, as Go sends it.
    pub authorization: Option<String>,
}

impl fmt::Debug for ProxyAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyAddr")
            .field("tls", &self.tls)
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

impl ProxyAddr {
    /// Parses a proxy URL (a scheme-less value means `http://`, as in Go). The error never
    /// quotes the URL: it may carry a password.
    pub fn parse(url: &str) -> Result<ProxyAddr, String> {
        let url = url.trim();
        let with_scheme = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let uri: http::Uri = with_scheme
            .parse()
            .map_err(|_| "proxy URL must include scheme and host".to_string())?;
        let tls = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("https") => true,
            Some("http") => false,
            other => {
                return Err(format!(
                    "proxy URL scheme must be http or https, got {:?}",
                    other.unwrap_or("")
                ))
            }
        };
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
        let (userinfo, _) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let host = uri.host().unwrap_or("").trim_matches(['[', ']']);
        if host.is_empty() {
            return Err("proxy URL must include scheme and host".into());
        }
        let authorization = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let creds = [percent_decode(user), b":".to_vec(), percent_decode(pass)].concat();
            format!("Basic {}", crate::harpoon::b64::encode(&creds))
        });
        Ok(ProxyAddr {
            tls,
            host: host.to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            authorization,
        })
    }

    /// The `CONNECT` request for `host_port` (`host:port`, IPv6 in brackets).
    pub fn connect_request(&self, host_port: &str) -> Vec<u8> {
        let mut head = format!("CONNECT {host_port} HTTP/1.1\r\nHost: {host_port}\r\n");
        if let Some(a) = &self.authorization {
            head.push_str(&format!("Proxy-Authorization: {a}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Largest proxy reply head to a `CONNECT` accepted.
pub const MAX_CONNECT_REPLY: usize = 16 * 1024;

/// What the bytes a proxy sent after a `CONNECT` amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectReply {
    /// No complete head yet: read more.
    Partial,
    /// 2xx: the tunnel is open; the head was `head_len` bytes (anything after it is the
    /// destination's).
    Established { head_len: usize },
    /// Any other status (407: wrong or missing credentials).
    Refused { status: u16 },
    /// Not an HTTP reply, or a head over [`MAX_CONNECT_REPLY`].
    Malformed,
}

/// Parses the proxy's reply to a `CONNECT`.
pub fn connect_reply(buf: &[u8]) -> ConnectReply {
    let Some(end) = crate::http_head::find_head_end(buf) else {
        return if buf.len() > MAX_CONNECT_REPLY {
            ConnectReply::Malformed
        } else {
            ConnectReply::Partial
        };
    };
    if end > MAX_CONNECT_REPLY {
        return ConnectReply::Malformed;
    }
    let line = buf.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.splitn(3, |&b| b == b' ');
    let version = parts.next().unwrap_or_default();
    let status = parts
        .next()
        .and_then(|s| std::str::from_utf8(s).ok())
        .filter(|s| s.len() == 3)
        .and_then(|s| s.parse::<u16>().ok());
    match (version.starts_with(b"HTTP/1."), status) {
        (true, Some(s)) if (200..300).contains(&s) => ConnectReply::Established { head_len: end },
        (true, Some(s)) => ConnectReply::Refused { status: s },
        _ => ConnectReply::Malformed,
    }
}

/// A request head with its first line in absolute form (`prefix` = `http://host:port`
/// before the origin-form target) and `Proxy-Authorization` after it, for a plain-http
/// destination through a proxy; `None` when `out` does not start with a request line.
pub fn absolute_form(out: &[u8], prefix: &str, auth: Option<&str>) -> Option<Vec<u8>> {
    let line_end = out.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&out[..line_end]).ok()?;
    let mut parts = line.splitn(3, ' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !target.starts_with('/') {
        return None;
    }
    let mut v = Vec::with_capacity(out.len() + prefix.len() + 64);
    v.extend_from_slice(format!("{method} {prefix}{target} {version}\r\n").as_bytes());
    if let Some(a) = auth {
        v.extend_from_slice(format!("Proxy-Authorization: {a}\r\n").as_bytes());
    }
    v.extend_from_slice(&out[line_end + 2..]);
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_with_decoded_basic_credentials_and_never_echo_them() {
        let p = ProxyAddr::parse("http://us%40er:p%3Ass@Proxy.Corp:3128").unwrap();
        assert_eq!(
            (p.tls, p.host.as_str(), p.port),
            (false, "proxy.corp", 3128)
        );
        // base64("us@er:p:ss")
        assert_eq!(p.authorization.as_deref(), Some("Basic dXNAZXI6cDpzcw=="));
        assert!(!format!("{p:?}").contains("dXNA"));
        let p = ProxyAddr::parse("https://[::1]").unwrap();
        assert_eq!((p.tls, p.host.as_str(), p.port), (true, "::1", 443));
        assert_eq!(ProxyAddr::parse("proxy:8080").unwrap().port, 8080);
        let e = ProxyAddr::parse("socks5://u:s3cret@p:1").unwrap_err();
        assert!(
            e.contains("must be http or https") && !e.contains("s3cret"),
            "{e}"
        );
        assert!(ProxyAddr::parse("http://").is_err());
    }

    #[test]
    fn connect_request_carries_the_target_and_credentials_only() {
        let p = ProxyAddr::parse("http://u:p@proxy:1").unwrap();
        assert_eq!(
            String::from_utf8(p.connect_request("[::1]:443")).unwrap(),
            "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
        );
    }

    #[test]
    fn connect_replies_are_classified_however_they_are_split() {
        let ok = b"HTTP/1.1 200 Connection established\r\nX: y\r\n\r\n\x16\x03";
        for cut in 0..ok.len() - 2 {
            let r = connect_reply(&ok[..cut]);
            assert_eq!(r, ConnectReply::Partial, "{cut}");
        }
        assert_eq!(
            connect_reply(ok),
            ConnectReply::Established {
                head_len: ok.len() - 2
            }
        );
        assert_eq!(
            connect_reply(b"HTTP/1.0 407 Proxy Authentication Required\r\n\r\n"),
            ConnectReply::Refused { status: 407 }
        );
        assert_eq!(connect_reply(b"SSH-2.0\r\n\r\n"), ConnectReply::Malformed);
        assert_eq!(
            connect_reply(&vec![b'a'; MAX_CONNECT_REPLY + 1]),
            ConnectReply::Malformed
        );
    }

    #[test]
    fn request_line_becomes_absolute_with_credentials_after_it() {
        let head = b"POST /mcp?x=1 HTTP/1.1\r\nhost: a:1\r\ncontent-length: 2\r\n\r\n{}";
        let out = absolute_form(head, "http://a:1", Some("Basic dTpw")).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST http://a:1/mcp?x=1 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\nhost: a:1\r\ncontent-length: 2\r\n\r\n{}"
        );
        assert!(absolute_form(b"{\"partial\":", "http://a", None).is_none());
        assert!(absolute_form(b"no line end", "http://a", None).is_none());
    }

    #[test]
    fn mtls_switch_only_for_the_exact_default_url() {
        assert_eq!(
            mtls_base_url(" https://api.openai.com/ ", true),
            Some("https://mtls.api.openai.com")
        );
        assert_eq!(mtls_base_url("https://api.openai.com", false), None);
        for other in [
            "https://API.openai.com",
            "https://api.openai.com:443",
            "https://api.openai.com/v1",
        ] {
            assert_eq!(mtls_base_url(other, true), None, "{other}");
        }
    }
}
