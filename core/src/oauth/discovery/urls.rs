//! URL arithmetic for discovery with `http::Uri` only (core does not depend on `url`): the
//! well-known candidates, origins, and resolving a redirect's `Location`.

use std::fmt;

use http::Uri;

/// The RFC 9728 well-known path.
pub(super) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// What same-origin means for redirects: scheme and host compared case-insensitively, the
/// port with the scheme's default filled in (`https://a` = `https://A:443`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// `None` for a URI without scheme or host (never the case for a request we make).
    pub(crate) fn of(uri: &Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri.host().filter(|h| !h.is_empty())?.to_ascii_lowercase();
        let port = uri.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        Some(Origin { scheme, host, port })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match (self.scheme.as_str(), self.port) {
            ("http", Some(80)) | ("https", Some(443)) | (_, None) => Ok(()),
            (_, Some(port)) => write!(f, ":{port}"),
        }
    }
}

/// The origin of `uri` for messages, or a placeholder.
pub(crate) fn origin_label(uri: &Uri) -> String {
    Origin::of(uri).map_or_else(|| "<no origin>".to_owned(), |o| o.to_string())
}

/// `uri` without userinfo, for attempts and logs: a URL configured as
/// `https://user:secret@host/mcp` must not put its password in the admin UI.
pub(crate) fn redacted(uri: &Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) if authority.as_str().contains('@') => {
            let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
            format!("{scheme}://{}{pq}", host_port(authority.as_str()))
        }
        _ => uri.to_string(),
    }
}

/// The authority without its userinfo (`user:pw@host:1` → `host:1`).
fn host_port(authority: &str) -> &str {
    authority.rsplit_once('@').map_or(authority, |(_, hp)| hp)
}

/// `scheme://host[:port]` + `path`, parsed. `None` only if the pieces do not form a URI.
fn build(scheme: &str, authority: &str, path: &str) -> Option<Uri> {
    format!("{scheme}://{authority}{path}").parse().ok()
}

/// The well-known candidates for the MCP server at `mcp`, in order: path-specific (absent when
/// the server path is empty or `/`), then root. Query, fragment and userinfo are dropped
/// (the Go client builds them from scheme and host only).
///
/// The server path is cleaned on its own: empty and `.` segments go, `..` removes the
/// previous segment but never climbs above the well-known prefix (Go's `path.Join` cleans
/// the joined path, so `/a/../../x` there yields `/.well-known/x`). The path stays escaped as
/// written (Go re-escapes it, turning `%20` into `%2520`).
pub(crate) fn well_known(mcp: &Uri) -> Vec<(Uri, &'static str)> {
    let (Some(scheme), Some(authority)) = (mcp.scheme_str(), mcp.authority()) else {
        return Vec::new();
    };
    let authority = host_port(authority.as_str());
    let mut out = Vec::with_capacity(2);
    let suffix = clean(mcp.path());
    if !suffix.is_empty() {
        let path = if suffix.starts_with(&WELL_KNOWN[1..]) {
            format!("/{suffix}")
        } else {
            format!("{WELL_KNOWN}/{suffix}")
        };
        if let Some(uri) = build(scheme, authority, &path) {
            out.push((uri, "well_known_path"));
        }
    }
    if let Some(uri) = build(scheme, authority, WELL_KNOWN) {
        out.push((uri, "well_known_root"));
    }
    out
}

/// Path segments without empty ones and dot segments, joined by `/`, no leading or trailing
/// slash.
fn clean(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    segments.join("/")
}

/// RFC 3986 §5.2.4 on an absolute path: `.` and `..` segments removed, the rest (including
/// empty segments) kept.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            s => {
                out.push(s);
                continue;
            }
        }
        if last {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

/// Whether `s` starts with `scheme:` (RFC 3986: a letter, then letters, digits, `+-.`).
fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// A `Location` resolved against the URL that answered with it (RFC 3986 §5.2; the
/// fragment is dropped). `None` when the result is not an absolute `scheme://host` URI
/// `http::Uri` accepts, which the caller treats as a failed redirect.
pub(crate) fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.split('#').next().unwrap_or("");
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let target = if has_scheme(location) {
        location.parse::<Uri>().ok()?
    } else if location.starts_with("//") {
        format!("{scheme}:{location}").parse::<Uri>().ok()?
    } else {
        let (path, query) = match location.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (location, None),
        };
        let merged = if path.starts_with('/') {
            remove_dot_segments(path)
        } else if path.is_empty() {
            base.path().to_owned()
        } else {
            let base_path = base.path();
            let dir = base_path.rsplit_once('/').map_or("", |(d, _)| d);
            remove_dot_segments(&format!("{dir}/{path}"))
        };
        let query = match (query, path.is_empty()) {
            (Some(q), _) => format!("?{q}"),
            (None, true) => base.query().map(|q| format!("?{q}")).unwrap_or_default(),
            (None, false) => String::new(),
        };
        build(scheme, authority, &format!("{merged}{query}"))?
    };
    Origin::of(&target).map(|_| target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn wk(s: &str) -> Vec<(String, &'static str)> {
        well_known(&u(s))
            .into_iter()
            .map(|(uri, src)| (uri.to_string(), src))
            .collect()
    }

    const ROOT: &str = "https://example.com/.well-known/oauth-protected-resource";

    #[test]
    fn well_known_examples_from_the_go_notes() {
        let path = (
            "https://example.com/.well-known/oauth-protected-resource/public/mcp".to_owned(),
            "well_known_path",
        );
        let root = (ROOT.to_owned(), "well_known_root");
        assert_eq!(
            wk("https://example.com/public/mcp"),
            vec![path.clone(), root.clone()]
        );
        assert_eq!(
            wk("https://example.com/public/mcp/"),
            vec![path.clone(), root.clone()]
        );
        assert_eq!(wk("https://example.com/"), vec![root.clone()]);
        assert_eq!(wk("https://example.com"), vec![root.clone()]);
    }

    #[test]
    fn well_known_drops_query_fragment_userinfo_and_cleans_the_path() {
        assert_eq!(
            wk("http://u:pw@Example.com:8080//a//./b/?q=1#f")[0].0,
            "http://Example.com:8080/.well-known/oauth-protected-resource/a/b"
        );
        assert_eq!(
            wk("https://example.com/a/../../x")[0].0,
            "https://example.com/.well-known/oauth-protected-resource/x"
        );
        assert_eq!(
            wk("https://example.com/a%20b")[0].0,
            "https://example.com/.well-known/oauth-protected-resource/a%20b"
        );
    }

    #[test]
    fn a_path_already_under_well_known_is_used_as_is() {
        assert_eq!(
            wk("https://example.com/.well-known/oauth-protected-resource/mcp")[0].0,
            "https://example.com/.well-known/oauth-protected-resource/mcp"
        );
        // The same as root: the caller's dedup keeps one.
        assert_eq!(
            wk("https://example.com/.well-known/oauth-protected-resource")[0].0,
            ROOT
        );
    }

    #[test]
    fn no_candidates_without_scheme_and_host() {
        assert!(wk("/mcp").is_empty());
    }

    #[test]
    fn origins_compare_scheme_host_and_effective_port() {
        let o = |s: &str| Origin::of(&u(s)).unwrap();
        assert_eq!(o("https://A.example/x"), o("HTTPS://a.example:443/y"));
        assert_eq!(o("http://a.example"), o("http://a.example:80"));
        assert_ne!(o("http://a.example"), o("https://a.example"));
        assert_ne!(o("https://a.example"), o("https://a.example:8443"));
        assert_ne!(o("https://a.example"), o("https://b.a.example"));
        assert_eq!(o("https://a.example:443").to_string(), "https://a.example");
        assert_eq!(o("http://a.example:81").to_string(), "http://a.example:81");
    }

    #[test]
    fn resolve_relative_references() {
        let base = u("https://a.example/x/y/z?q=1");
        let r = |l: &str| resolve(&base, l).map(|u| u.to_string());
        assert_eq!(
            r("https://b.example/p").as_deref(),
            Some("https://b.example/p")
        );
        assert_eq!(r("//b.example/p").as_deref(), Some("https://b.example/p"));
        assert_eq!(r("/p?r=2").as_deref(), Some("https://a.example/p?r=2"));
        assert_eq!(r("p").as_deref(), Some("https://a.example/x/y/p"));
        assert_eq!(r("../p").as_deref(), Some("https://a.example/x/p"));
        assert_eq!(r("../../../../p").as_deref(), Some("https://a.example/p"));
        assert_eq!(r("?r").as_deref(), Some("https://a.example/x/y/z?r"));
        assert_eq!(r("").as_deref(), Some("https://a.example/x/y/z?q=1"));
        assert_eq!(r("#f").as_deref(), Some("https://a.example/x/y/z?q=1"));
        assert_eq!(r("/p/./q/..").as_deref(), Some("https://a.example/p/"));
        assert_eq!(r("mailto:x@y"), None);
        assert_eq!(r("https://"), None);
        assert_eq!(r("/a b"), None);
    }

    #[test]
    fn redacted_drops_userinfo_only() {
        assert_eq!(
            redacted(&u("https://u:secret@a.example:8443/m?x=1")),
            "https://a.example:8443/m?x=1"
        );
        assert_eq!(redacted(&u("https://a.example/m")), "https://a.example/m");
    }
}
