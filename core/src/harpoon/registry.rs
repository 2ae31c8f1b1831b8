//! The allowlist: targets addressed by label, matched by exact normalised URL.
//!
//! Registration follows the Go registry rule for rule (label syntax, https unless plaintext
//! is allowed, traversal check, scheme/host-only normalisation, duplicate handling, the
//! 10000 limit). One deliberate difference: with plaintext allowed, only `http` and `https`
//! are accepted (Go accepts any scheme there).

use std::fmt;

use super::url::{HUrl, UrlError};

/// Most targets a registry holds (Go's default).
pub const REGISTRY_LIMIT: usize = 10_000;

/// `^[a-z0-9][a-z0-9_-]{0,63}$`.
pub fn valid_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'))
}

/// What to register.
#[derive(Debug, Clone, Default)]
pub struct TargetSpec {
    pub label: String,
    pub url: String,
    pub unix_socket: Option<String>,
    pub description: String,
    pub category: String,
    pub source: String,
    pub tags: Vec<String>,
    pub inclusion_reason: String,
    /// The address guard lets this target reach link-local / cloud-metadata addresses.
    pub allow_link_local: bool,
}

impl TargetSpec {
    /// A configured target (`--harpoon.target`): category and source `config`.
    pub fn config(label: &str, url: &str) -> TargetSpec {
        TargetSpec {
            label: label.to_string(),
            url: url.to_string(),
            category: "config".into(),
            source: "config".into(),
            ..TargetSpec::default()
        }
    }
}

/// A registered target.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub label: String,
    pub url: HUrl,
    /// `url.normalized()`, the allowlist key.
    pub key: String,
    /// The URL as registered (for `get_oauth_target_audience`).
    pub exact: String,
    pub unix_socket: Option<String>,
    pub description: String,
    pub category: String,
    pub source: String,
    pub tags: Vec<String>,
    pub inclusion_reason: String,
    pub allow_link_local: bool,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("label", &self.label)
            .field("origin", &self.url.origin())
            .field("category", &self.category)
            .finish_non_exhaustive()
    }
}

impl Target {
    pub fn has_tag(&self, t: &str) -> bool {
        self.tags.iter().any(|x| x == t)
    }
}

/// Why a registration failed (Go's texts; URLs reduced to their origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    LabelRequired,
    InvalidLabel(String),
    UrlRequired,
    InvalidUrl(UrlError),
    HttpsRequired,
    UnsupportedScheme,
    DuplicateLabel(String),
    DuplicateUrl(String),
    Limit(usize),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::LabelRequired => write!(f, "harpoon: target label is required"),
            RegistryError::InvalidLabel(l) => write!(f, "harpoon: invalid target label {l:?}"),
            RegistryError::UrlRequired => write!(f, "harpoon: target url is required"),
            RegistryError::InvalidUrl(e) => write!(f, "harpoon: invalid target url: {e}"),
            RegistryError::HttpsRequired => write!(f, "harpoon: base URL must use https"),
            RegistryError::UnsupportedScheme => {
                write!(f, "harpoon: base URL must use http or https")
            }
            RegistryError::DuplicateLabel(l) => {
                write!(f, "harpoon: duplicate target label {l:?}")
            }
            RegistryError::DuplicateUrl(o) => write!(
                f,
                "harpoon: duplicate target url {o:?} uses a different transport"
            ),
            RegistryError::Limit(n) => write!(f, "harpoon: registry limit {n} exceeded"),
        }
    }
}

impl std::error::Error for RegistryError {}

/// Lower-cased, trimmed, deduplicated and sorted tags.
fn normalize_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Why a redirect candidate is not allowlisted (for the log; the caller only ever sees
/// `redirect blocked`, or the scheme flip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Scheme {
        expected: String,
        actual: String,
        expected_origin: String,
    },
    Path {
        expected_origin: String,
    },
    Query {
        expected_origin: String,
    },
    Host {
        expected_origin: String,
    },
    Other,
}

impl Mismatch {
    /// Go's `redirect_mismatch_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Mismatch::Scheme {
                expected, actual, ..
            } => match (expected.as_str(), actual.as_str()) {
                ("https", "http") => "scheme_mismatch_https_to_http",
                ("http", "https") => "scheme_mismatch_http_to_https",
                _ => "not_allowlisted_other",
            },
            Mismatch::Path { .. } => "path_mismatch",
            Mismatch::Query { .. } => "query_mismatch",
            Mismatch::Host { .. } => "host_mismatch",
            Mismatch::Other => "not_allowlisted_other",
        }
    }

    /// The caller-visible tool error for a blocked hop.
    pub fn tool_message(&self) -> String {
        match self {
            Mismatch::Scheme {
                expected, actual, ..
            } if self.kind() != "not_allowlisted_other" => format!(
                "redirect blocked: scheme mismatch (allowlisted {expected}, redirected to {actual})"
            ),
            _ => "redirect blocked".to_string(),
        }
    }
}

/// Trailing slashes trimmed, empty → `/`.
fn comparable_path(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/"
    } else {
        t
    }
}

/// The registry.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    targets: Vec<Target>,
    allow_plaintext: bool,
}

impl Registry {
    pub fn new(allow_plaintext: bool) -> Registry {
        Registry {
            targets: Vec::new(),
            allow_plaintext,
        }
    }

    pub fn allow_plaintext(&self) -> bool {
        self.allow_plaintext
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Targets in registration order.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn get(&self, label: &str) -> Option<&Target> {
        let label = label.trim();
        self.targets.iter().find(|t| t.label == label)
    }

    /// Parses and checks a URL the way registration does (scheme, traversal).
    fn admissible(&self, raw: &str) -> Result<HUrl, RegistryError> {
        let url = HUrl::parse(raw.trim()).map_err(|e| match e {
            UrlError::Empty => RegistryError::UrlRequired,
            e => RegistryError::InvalidUrl(e),
        })?;
        let scheme = url.scheme_lower();
        if !self.allow_plaintext && scheme != "https" {
            return Err(RegistryError::HttpsRequired);
        }
        if scheme != "https" && scheme != "http" {
            return Err(RegistryError::UnsupportedScheme);
        }
        url.check_traversal().map_err(RegistryError::InvalidUrl)?;
        Ok(url)
    }

    /// Registers a target; the same URL twice is allowed when the transport is the same.
    pub fn register(&mut self, spec: TargetSpec) -> Result<&Target, RegistryError> {
        let label = spec.label.trim().to_string();
        if label.is_empty() {
            return Err(RegistryError::LabelRequired);
        }
        if !valid_label(&label) {
            return Err(RegistryError::InvalidLabel(label));
        }
        let url = self.admissible(&spec.url)?;
        let key = url.normalized();
        if self.targets.iter().any(|t| t.label == label) {
            return Err(RegistryError::DuplicateLabel(label));
        }
        let socket = spec
            .unix_socket
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if self
            .targets
            .iter()
            .any(|t| t.key == key && t.unix_socket != socket)
        {
            return Err(RegistryError::DuplicateUrl(url.origin()));
        }
        if self.targets.len() >= REGISTRY_LIMIT {
            return Err(RegistryError::Limit(REGISTRY_LIMIT));
        }
        let mut category = spec.category.trim().to_ascii_lowercase();
        let mut source = spec.source.trim().to_ascii_lowercase();
        if category.is_empty() {
            category = source.clone();
        }
        if !category.is_empty() {
            source = category.clone();
        }
        self.targets.push(Target {
            label,
            key,
            exact: spec.url.trim().to_string(),
            url,
            unix_socket: socket,
            description: spec.description,
            category,
            source,
            tags: normalize_tags(&spec.tags),
            inclusion_reason: spec.inclusion_reason,
            allow_link_local: spec.allow_link_local,
        });
        Ok(self.targets.last().expect("just pushed")) // ok: pushed on the line above
    }

    /// The allowlisted target whose normalised URL equals `url`'s exactly.
    pub fn target_for(&self, url: &HUrl) -> Option<&Target> {
        let scheme = url.scheme_lower();
        if scheme != "https" && !(self.allow_plaintext && scheme == "http") {
            return None;
        }
        url.check_traversal().ok()?;
        let key = url.normalized();
        self.targets.iter().find(|t| t.key == key)
    }

    /// The targets registered for normalised URL `key`, in registration order (rewriting).
    pub fn label_for_key(&self, key: &str) -> Vec<&Target> {
        self.targets.iter().filter(|t| t.key == key).collect()
    }

    /// Why `candidate` is not allowlisted (`None` when it is).
    pub fn explain(&self, candidate: &HUrl) -> Option<Mismatch> {
        if self.target_for(candidate).is_some() {
            return None;
        }
        let host = candidate.host.to_ascii_lowercase();
        let port = &candidate.port;
        let scheme = candidate.scheme_lower();
        let cpath = comparable_path(&candidate.path);
        let same_host = |t: &Target| t.url.host.to_ascii_lowercase() == host && &t.url.port == port;
        for t in &self.targets {
            if same_host(t)
                && comparable_path(&t.url.path) == cpath
                && t.url.query == candidate.query
                && t.url.scheme_lower() != scheme
            {
                return Some(Mismatch::Scheme {
                    expected: t.url.scheme_lower(),
                    actual: scheme,
                    expected_origin: t.url.origin(),
                });
            }
        }
        let same_scheme = |t: &&Target| same_host(t) && t.url.scheme_lower() == scheme;
        if let Some(t) = self
            .targets
            .iter()
            .filter(same_scheme)
            .find(|t| t.url.query == candidate.query && t.url.path != candidate.path)
        {
            return Some(Mismatch::Path {
                expected_origin: t.url.origin(),
            });
        }
        if let Some(t) = self
            .targets
            .iter()
            .filter(same_scheme)
            .find(|t| comparable_path(&t.url.path) == cpath && t.url.query != candidate.query)
        {
            return Some(Mismatch::Query {
                expected_origin: t.url.origin(),
            });
        }
        let others: Vec<&Target> = self
            .targets
            .iter()
            .filter(|t| {
                t.url.scheme_lower() == scheme
                    && comparable_path(&t.url.path) == cpath
                    && t.url.query == candidate.query
                    && !same_host(t)
            })
            .collect();
        if let [t] = others.as_slice() {
            return Some(Mismatch::Host {
                expected_origin: t.url.origin(),
            });
        }
        Some(Mismatch::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(plain: bool, targets: &[(&str, &str)]) -> Registry {
        let mut r = Registry::new(plain);
        for (l, u) in targets {
            r.register(TargetSpec::config(l, u)).unwrap();
        }
        r
    }

    fn u(s: &str) -> HUrl {
        HUrl::parse(s).unwrap()
    }

    #[test]
    fn registration_rules_and_texts() {
        let mut r = Registry::new(false);
        let e = |r: &mut Registry, l: &str, url: &str| {
            r.register(TargetSpec::config(l, url))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e(&mut r, " ", "https://h"),
            "harpoon: target label is required"
        );
        assert_eq!(
            e(&mut r, "bad label", "https://h"),
            "harpoon: invalid target label \"bad label\""
        );
        assert_eq!(
            e(&mut r, "__unknown__", "https://h"),
            "harpoon: invalid target label \"__unknown__\""
        );
        assert_eq!(
            e(&mut r, "a", "http://h/"),
            "harpoon: base URL must use https"
        );
        assert!(e(&mut r, "a", "https://h/a/%2e%2e/b").contains("contains invalid path segments"));
        r.register(TargetSpec::config("a", "https://h/x")).unwrap();
        assert_eq!(
            e(&mut r, "a", "https://h/y"),
            "harpoon: duplicate target label \"a\""
        );
        // Same URL, same transport: allowed.
        r.register(TargetSpec::config("b", "https://H/x")).unwrap();
        let mut s = TargetSpec::config("c", "https://user:pw@h/x?secret=1");
        s.unix_socket = Some("/tmp/s".into());
        r.register(TargetSpec::config("c0", "https://user:pw@h/x?secret=1"))
            .unwrap();
        let msg = r.register(s).unwrap_err().to_string();
        assert_eq!(
            msg,
            "harpoon: duplicate target url \"https://h\" uses a different transport"
        );
        let mut p = Registry::new(true);
        assert_eq!(
            e(&mut p, "f", "ftp://h/"),
            "harpoon: base URL must use http or https"
        );
        p.register(TargetSpec::config("h", "http://h/")).unwrap();
    }

    #[test]
    fn registry_limit_is_enforced() {
        let mut r = Registry::new(false);
        for i in 0..REGISTRY_LIMIT {
            r.register(TargetSpec::config(
                &format!("t{i}"),
                &format!("https://h/{i}"),
            ))
            .unwrap();
        }
        assert_eq!(
            r.register(TargetSpec::config("over", "https://h/over"))
                .unwrap_err(),
            RegistryError::Limit(REGISTRY_LIMIT)
        );
    }

    #[test]
    fn allowlist_is_exact_after_normalisation() {
        let r = reg(
            false,
            &[
                ("a", "https://example.com"),
                ("b", "https://example.com/bla"),
            ],
        );
        assert!(r.target_for(&u("hTTps://EXAMPLE.com")).is_some());
        assert!(r.target_for(&u("https://example.com/")).is_none());
        assert!(r.target_for(&u("https://example.com/bla/")).is_none());
        assert!(r.target_for(&u("https://example.com/Bla")).is_none());
        assert!(r.target_for(&u("https://example.com:443/bla")).is_none());
        let r = reg(false, &[("q", "https://h/a%2Fb?x=a+b")]);
        assert!(r.target_for(&u("https://h/a%2Fb?x=a+b")).is_some());
        assert!(r.target_for(&u("https://h/a/b?x=a+b")).is_none());
        assert!(r.target_for(&u("https://h/a%2Fb?x=a%20b")).is_none());
        // Plaintext variants of an https target are never allowlisted without opt-in.
        assert!(r.target_for(&u("http://h/a%2Fb?x=a+b")).is_none());
    }

    #[test]
    fn mismatches_are_classified_in_go_order() {
        let r = reg(
            true,
            &[("a", "https://h/api"), ("b", "https://other/p?x=1")],
        );
        let m = r.explain(&u("http://h/api/")).unwrap();
        assert_eq!(m.kind(), "scheme_mismatch_https_to_http");
        assert_eq!(
            m.tool_message(),
            "redirect blocked: scheme mismatch (allowlisted https, redirected to http)"
        );
        assert_eq!(
            r.explain(&u("https://h/api/")).unwrap().kind(),
            "path_mismatch"
        );
        assert_eq!(
            r.explain(&u("https://other/p?x=2")).unwrap().kind(),
            "query_mismatch"
        );
        let m = r.explain(&u("https://evil/api")).unwrap();
        assert_eq!(m.kind(), "host_mismatch");
        assert_eq!(m.tool_message(), "redirect blocked");
        assert_eq!(r.explain(&u("https://evil/zzz")).unwrap(), Mismatch::Other);
        assert_eq!(r.explain(&u("https://h/api")), None);
    }
}
