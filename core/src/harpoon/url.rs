//! Harpoon's URL model: a strict parse, the Go client's normalisation (scheme and host
//! lower-cased, everything else kept byte for byte), the path-traversal check and RFC 3986
//! reference resolution for redirect `Location`s.
//!
//! The allowlist is string equality on the normalised form, so the parser keeps the escaped
//! path, the raw query and the fragment exactly as written. It is stricter than Go's
//! `url.Parse` where strictness is safe: control characters, spaces, non-ASCII bytes and
//! odd host characters are refused (a URL that does not parse can never be allowlisted, so
//! a redirect to it is blocked).

use std::fmt;

/// A parsed absolute URL with an authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HUrl {
    /// As written (case kept); compare with [`HUrl::normalized`].
    pub scheme: String,
    pub userinfo: Option<String>,
    /// As written; IPv6 literals keep their brackets.
    pub host: String,
    pub port: Option<String>,
    /// The escaped path, verbatim (may be empty).
    pub path: String,
    pub query: Option<String>,
    pub fragment: Option<String>,
}

/// Why a URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    Empty,
    InvalidCharacter,
    MissingScheme,
    MissingHost,
    InvalidHost,
    InvalidPort,
    /// The path does not start with `/`.
    RelativePath,
    InvalidEscape,
    /// A `.` or `..` segment (literal or percent-encoded, once or twice).
    PathTraversal,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Empty => "url is required",
            UrlError::InvalidCharacter => "url contains an invalid character",
            UrlError::MissingScheme => "url must have a scheme",
            UrlError::MissingHost => "url must have a host",
            UrlError::InvalidHost => "url has an invalid host",
            UrlError::InvalidPort => "url has an invalid port",
            UrlError::RelativePath => "url path must start with /",
            UrlError::InvalidEscape => "url contains an invalid escape",
            UrlError::PathTraversal => "contains invalid path segments",
        })
    }
}

fn valid_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// Visible ASCII only: no controls, spaces, DEL or non-ASCII.
fn visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x21..0x7f).contains(&b))
}

fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let i = s.find(':')?;
    let (scheme, rest) = (&s[..i], &s[i + 1..]);
    valid_scheme(scheme).then_some((scheme, rest))
}

impl HUrl {
    /// Parses an absolute `scheme://authority[path][?query][#fragment]` URL.
    pub fn parse(s: &str) -> Result<HUrl, UrlError> {
        if s.is_empty() {
            return Err(UrlError::Empty);
        }
        if !visible_ascii(s) {
            return Err(UrlError::InvalidCharacter);
        }
        let (scheme, rest) = split_scheme(s).ok_or(UrlError::MissingScheme)?;
        let rest = rest.strip_prefix("//").ok_or(UrlError::MissingHost)?;
        let (rest, fragment) = match rest.find('#') {
            Some(i) => (&rest[..i], Some(rest[i + 1..].to_string())),
            None => (rest, None),
        };
        let (rest, query) = match rest.find('?') {
            Some(i) => (&rest[..i], Some(rest[i + 1..].to_string())),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(authority[..i].to_string()), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(UrlError::MissingHost);
        }
        if let Some(u) = &userinfo {
            if u.contains(['/', '?', '#', '[', ']']) {
                return Err(UrlError::InvalidHost);
            }
        }
        check_escapes(path)?;
        Ok(HUrl {
            scheme: scheme.to_string(),
            userinfo,
            host: host.to_string(),
            port: port.map(str::to_string),
            path: path.to_string(),
            query,
            fragment,
        })
    }

    /// The Go client's normalised form: scheme and host lower-cased, the rest verbatim.
    pub fn normalized(&self) -> String {
        let mut s = self.scheme.to_ascii_lowercase();
        s.push_str("://");
        if let Some(u) = &self.userinfo {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.host.to_ascii_lowercase());
        if let Some(p) = &self.port {
            s.push(':');
            s.push_str(p);
        }
        s.push_str(&self.path);
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        if let Some(f) = &self.fragment {
            s.push('#');
            s.push_str(f);
        }
        s
    }

    /// Scheme and host (with an explicit port) only: what logs and errors may show.
    pub fn origin(&self) -> String {
        let mut s = format!(
            "{}://{}",
            self.scheme.to_ascii_lowercase(),
            self.host.to_ascii_lowercase()
        );
        if let Some(p) = &self.port {
            s.push(':');
            s.push_str(p);
        }
        s
    }

    pub fn scheme_lower(&self) -> String {
        self.scheme.to_ascii_lowercase()
    }

    /// The host without IPv6 brackets, lower-cased.
    pub fn hostname(&self) -> String {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    }

    /// The port to connect to (explicit, else the scheme's default).
    pub fn port_or_default(&self) -> Option<u16> {
        match &self.port {
            Some(p) if !p.is_empty() => p.parse().ok(),
            _ => match self.scheme_lower().as_str() {
                "https" => Some(443),
                "http" => Some(80),
                _ => None,
            },
        }
    }

    /// The request target for the wire: origin + path (or `/`) + query; no userinfo, no
    /// fragment.
    pub fn request_uri(&self) -> Result<http::Uri, UrlError> {
        let mut s = format!(
            "{}://{}",
            self.scheme_lower(),
            self.host.to_ascii_lowercase()
        );
        if let Some(p) = self.port.as_deref().filter(|p| !p.is_empty()) {
            s.push(':');
            s.push_str(p);
        }
        s.push_str(if self.path.is_empty() {
            "/"
        } else {
            &self.path
        });
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        s.parse().map_err(|_| UrlError::InvalidCharacter)
    }

    /// The path-traversal check of the Go registry: decode the path, split on `/`, decode
    /// each segment once more; a decode error or a `.`/`..` segment refuses.
    pub fn check_traversal(&self) -> Result<(), UrlError> {
        check_traversal(&self.path)
    }

    /// Resolves a redirect `Location` (absolute or relative, RFC 3986 §5.2) against this
    /// URL. Dot segments are removed from the result, as Go's `URL.Parse` does.
    pub fn resolve(&self, reference: &str) -> Result<HUrl, UrlError> {
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(UrlError::Empty);
        }
        if !visible_ascii(reference) {
            return Err(UrlError::InvalidCharacter);
        }
        if split_scheme(reference).is_some() {
            let mut u = HUrl::parse(reference)?;
            u.path = remove_dot_segments(&u.path);
            return Ok(u);
        }
        if let Some(rest) = reference.strip_prefix("//") {
            let mut u = HUrl::parse(&format!("{}://{rest}", self.scheme))?;
            u.path = remove_dot_segments(&u.path);
            return Ok(u);
        }
        let (rest, fragment) = match reference.find('#') {
            Some(i) => (&reference[..i], Some(reference[i + 1..].to_string())),
            None => (reference, None),
        };
        let (path, query) = match rest.find('?') {
            Some(i) => (&rest[..i], Some(rest[i + 1..].to_string())),
            None => (rest, None),
        };
        check_escapes(path)?;
        let mut u = HUrl {
            fragment,
            ..self.clone()
        };
        if path.is_empty() {
            if query.is_some() {
                u.query = query;
            }
        } else {
            let merged = if path.starts_with('/') {
                path.to_string()
            } else {
                let base = if self.path.is_empty() {
                    "/"
                } else {
                    &self.path
                };
                let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
                format!("{dir}{path}")
            };
            u.path = remove_dot_segments(&merged);
            u.query = query;
        }
        Ok(u)
    }
}

impl fmt::Display for HUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized())
    }
}

fn split_host_port(hp: &str) -> Result<(&str, Option<&str>), UrlError> {
    let (host, port) = if hp.starts_with('[') {
        let end = hp.find(']').ok_or(UrlError::InvalidHost)?;
        let host = &hp[..=end];
        let inner = &host[1..host.len() - 1];
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(UrlError::InvalidHost);
        }
        match &hp[end + 1..] {
            "" => (host, None),
            rest => (
                host,
                Some(rest.strip_prefix(':').ok_or(UrlError::InvalidPort)?),
            ),
        }
    } else {
        match hp.rfind(':') {
            Some(i) => (&hp[..i], Some(&hp[i + 1..])),
            None => (hp, None),
        }
    };
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return Err(UrlError::InvalidHost);
    }
    if let Some(p) = port {
        if !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 5 {
            return Err(UrlError::InvalidPort);
        }
        if !p.is_empty() && p.parse::<u16>().is_err() {
            return Err(UrlError::InvalidPort);
        }
    }
    Ok((host, port))
}

/// Percent-decodes `s`; `None` on a malformed escape.
pub fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let h = |b: u8| (b as char).to_digit(16);
            let hi = h(*s.get(i + 1)?)?;
            let lo = h(*s.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

fn check_escapes(path: &str) -> Result<(), UrlError> {
    percent_decode(path.as_bytes())
        .map(|_| ())
        .ok_or(UrlError::InvalidEscape)
}

fn check_traversal(path: &str) -> Result<(), UrlError> {
    if !path.is_empty() && !path.starts_with('/') {
        return Err(UrlError::RelativePath);
    }
    let decoded = percent_decode(path.as_bytes()).ok_or(UrlError::InvalidEscape)?;
    for seg in decoded.split(|b| *b == b'/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(seg).ok_or(UrlError::PathTraversal)?;
        if seg == b"." || seg == b".." {
            return Err(UrlError::PathTraversal);
        }
    }
    Ok(())
}

/// RFC 3986 §5.2.4 on the literal (escaped) path.
pub fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').collect();
    let last = segs.len().saturating_sub(1);
    for (i, seg) in segs.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if path.starts_with('/') && !joined.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        HUrl::parse(s).unwrap().normalized()
    }

    #[test]
    fn normalisation_lowercases_scheme_and_host_only() {
        assert_eq!(n("hTTps://EXAMPLE.com////"), "https://example.com////");
        assert_eq!(
            n("https://example.com/bla////?A=1&a=2&a=3#frag"),
            "https://example.com/bla////?A=1&a=2&a=3#frag"
        );
        assert_eq!(
            n("https://Example.COM:443/A%2Fb"),
            "https://example.com:443/A%2Fb"
        );
        assert_eq!(n("https://example.com"), "https://example.com");
        assert_eq!(n("https://u:p@H/x"), "https://u:p@h/x");
        assert_eq!(n("http://[::1]:8080/x"), "http://[::1]:8080/x");
    }

    #[test]
    fn malformed_urls_are_refused() {
        for bad in [
            "",
            "example.com/x",
            "https:/x",
            "https:///x",
            "https://exa mple.com/",
            "https://example.com/\u{7f}",
            "https://ex\\ample.com/",
            "https://example.com:99999/",
            "https://example.com:80a/",
            "https://[zz]/",
            "https://example.com/%zz",
            "https://exämple.com/",
        ] {
            assert!(HUrl::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn dot_segments_literal_or_encoded_are_traversal() {
        for bad in [
            "https://h/a/../b",
            "https://h/a/./b",
            "https://h/%2e%2e/b",
            "https://h/%252e%252e/b",
            "https://h/..",
            "https://h/a/%2E",
        ] {
            assert_eq!(
                HUrl::parse(bad).unwrap().check_traversal(),
                Err(UrlError::PathTraversal),
                "{bad}"
            );
        }
        for ok in [
            "https://h/a..b/",
            "https://h/...",
            "https://h",
            "https://h/a%2Fb",
        ] {
            assert_eq!(HUrl::parse(ok).unwrap().check_traversal(), Ok(()), "{ok}");
        }
    }

    #[test]
    fn references_resolve_like_rfc3986() {
        let base = HUrl::parse("https://h:8443/a/b/c?q=1#f").unwrap();
        let r = |s: &str| base.resolve(s).unwrap().normalized();
        assert_eq!(r("/x"), "https://h:8443/x");
        assert_eq!(r("x"), "https://h:8443/a/b/x");
        assert_eq!(r("../x?y"), "https://h:8443/a/x?y");
        assert_eq!(r("?z=2"), "https://h:8443/a/b/c?z=2");
        assert_eq!(r("//other/p"), "https://other/p");
        assert_eq!(r("http://Other/p/../q"), "http://other/q");
        assert_eq!(r("../../../../x"), "https://h:8443/x");
        assert!(base.resolve("https://a b/").is_err());
    }

    #[test]
    fn request_uri_drops_userinfo_and_fragment() {
        let u = HUrl::parse("HTTPS://u:p@Host:8443?x=1#frag").unwrap();
        assert_eq!(
            u.request_uri().unwrap().to_string(),
            "https://host:8443/?x=1"
        );
        assert_eq!(u.origin(), "https://host:8443");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Normalising is idempotent and only ever changes scheme and host case.
            #[test]
            fn normalisation_is_idempotent(s in "[hH][tT][tT][pP][sS]?://[a-zA-Z0-9.-]{1,12}(:[0-9]{1,4})?(/[a-zA-Z0-9%._~+-]{0,8}){0,4}(\\?[a-zA-Z0-9=&+%]{0,10})?") {
                if let Ok(u) = HUrl::parse(&s) {
                    let n = u.normalized();
                    prop_assert_eq!(HUrl::parse(&n).unwrap().normalized(), n.clone());
                    prop_assert_eq!(n.to_ascii_lowercase(), s.to_ascii_lowercase());
                }
            }

            /// Parsing, resolving and the traversal check never panic, and a resolved
            /// reference never keeps a literal dot segment.
            #[test]
            fn resolution_never_keeps_dot_segments(r in "[a-z./%2eE?#:@\\\\]{0,24}") {
                let base = HUrl::parse("https://h/a/b/c").unwrap();
                if let Ok(u) = base.resolve(&r) {
                    prop_assert!(!u.path.split('/').any(|s| s == "." || s == ".."), "{}", u.path);
                }
                let _ = HUrl::parse(&r).map(|u| u.check_traversal());
            }
        }
    }
}
