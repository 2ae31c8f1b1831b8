//! Runtime host registration ("hostbus", §1.14, §2.6): the URLs OAuth discovery found
//! become Harpoon targets when the host-include rules, or the protected resource's own
//! host, admit them.
//!
//! [`bundle`] turns what discovery found (the protected-resource metadata, the URL it came
//! from, the authorization server's metadata) into Go's ordered records with their trust
//! flags; [`register`] admits each record, gives it Go's label (`oauth-<role>-<index>`,
//! `-1`…`-9999` on a collision) and tags, and registers it.
//!
//! One deliberate difference: Go registers a suffixed duplicate of every URL each time a
//! bundle is published (every `oauth_discovery` command publishes one). Here a record whose
//! URL, transport, category and tags are already registered is a no-op, so repeated
//! discoveries leave the registry as the first one did.

use std::net::IpAddr;

use log::Level;
use serde_json::Value;

use super::hosts::HostRules;
use super::registry::{Registry, Target, TargetSpec};
use super::url::HUrl;
use crate::oauth::auth_server::AsOutcome;

/// Go's inclusion reason for hosts admitted through the protected resource.
pub const PROTECTED_RESOURCE_HOST: &str = "oauth-protected-resource-host";
const OAUTH: &str = "oauth";
const ROLE_PRMD_RESOURCE: &str = "prmd-resource";
const ROLE_PRMD_SOURCE: &str = "prmd-source";
/// Most label suffixes tried on a collision (Go: 10000 candidates).
const MAX_COLLISIONS: usize = 9_999;

/// One discovered URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRecord {
    pub url: String,
    pub description: String,
    pub source: String,
    pub role: String,
    pub index: String,
    pub group: String,
    pub unix_socket: Option<String>,
    /// Must not enter through the private classifier (Go's
    /// `DisallowPrivateHostRegistration`): it did not come from the trusted origin.
    pub disallow_private: bool,
}

/// What discovery found, for [`bundle`].
#[derive(Debug, Clone, Copy)]
pub struct Discovered<'a> {
    /// The protected-resource metadata document.
    pub prmd: &'a [u8],
    /// The URL it was fetched from.
    pub source_url: Option<&'a str>,
    /// The configured MCP server URL (records on its origin are trusted).
    pub mcp_url: Option<&'a str>,
    /// The MCP server's unix socket, when `main` dials one.
    pub unix_socket: Option<&'a str>,
    /// The authorization server's metadata, when it was fetched.
    pub auth_server: Option<&'a AsOutcome>,
}

/// Go's `parseURL`: absolute http(s) URLs only.
fn parse(raw: &str) -> Option<HUrl> {
    let u = HUrl::parse(raw).ok()?;
    matches!(u.scheme_lower().as_str(), "http" | "https").then_some(u)
}

/// Hostname lower-cased without one trailing dot.
fn hostname(u: &HUrl) -> String {
    let h = u.hostname();
    h.strip_suffix('.').unwrap_or(&h).to_string()
}

/// `(scheme, canonical host, port)` with default ports: Go's origin comparison.
fn origin(u: &HUrl) -> Option<(String, String, String)> {
    let scheme = u.scheme_lower();
    let mut host = hostname(u);
    if host.is_empty() {
        return None;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        host = ip.to_string();
    }
    let port = match u.port.as_deref() {
        Some(p) if !p.is_empty() => p.parse::<u32>().map_or(p.to_string(), |n| n.to_string()),
        _ if scheme == "http" => "80".into(),
        _ if scheme == "https" => "443".into(),
        _ => String::new(),
    };
    Some((scheme, host, port))
}

fn same_origin(a: &HUrl, b: &HUrl) -> bool {
    origin(a).is_some() && origin(a) == origin(b)
}

fn escaped_path(u: &HUrl) -> String {
    match u.path.as_str() {
        "" => "/".into(),
        p if p.starts_with('/') => p.into(),
        p => format!("/{p}"),
    }
}

fn same_or_child_path(candidate: &HUrl, base: &HUrl) -> bool {
    let b = escaped_path(base);
    let b = b.trim_end_matches('/');
    if b.is_empty() {
        return true;
    }
    let c = escaped_path(candidate);
    c == b || c.starts_with(&format!("{b}/"))
}

fn is_metadata_url_for(candidate: &HUrl, issuer: &HUrl) -> bool {
    let c = escaped_path(candidate);
    let c = c.trim_end_matches('/');
    let i = escaped_path(issuer);
    let i = i.trim_matches('/');
    [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ]
    .iter()
    .any(|w| {
        (i.is_empty() && c == *w)
            || (!i.is_empty() && (c == format!("{w}/{i}") || c == format!("/{i}{w}")))
    })
}

fn record(url: &str, description: &str, role: &str, group: Option<&str>) -> UrlRecord {
    UrlRecord {
        url: url.to_string(),
        description: description.to_string(),
        source: OAUTH.into(),
        role: role.into(),
        index: "0".into(),
        group: group.unwrap_or_default().to_string(),
        unix_socket: None,
        disallow_private: false,
    }
}

/// Go's bundle of a discovery (§2.6): the PRMD `resource`, `authorization_servers[0]`
/// and the source URL, then the authorization server's metadata URL, issuer and
/// endpoints (never `authorization_endpoint`), each flagged unless it is on the trusted
/// origin. Records without an absolute http(s) URL are dropped.
pub fn bundle(d: &Discovered<'_>) -> Result<Vec<UrlRecord>, String> {
    let doc: Value = serde_json::from_slice(d.prmd)
        .map_err(|e| format!("decode protected resource metadata: {e}"))?;
    let resource = doc.get("resource").and_then(Value::as_str).unwrap_or("");
    let servers: Vec<&str> = doc
        .get("authorization_servers")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().unwrap_or("")).collect())
        .unwrap_or_default();
    let key = d
        .source_url
        .or((!resource.is_empty()).then_some(resource))
        .or(servers.first().copied())
        .unwrap_or("default");
    let group = format!(
        "auth-server:{}:0",
        crate::sha256::hex_prefix(key.as_bytes(), 6)
    );
    let trusted = d.mcp_url.or(d.source_url).and_then(parse);
    let mcp = d.mcp_url.and_then(parse);
    let socket = d.unix_socket.map(str::trim).filter(|s| !s.is_empty());
    // Records 1–3: trusted on the MCP server's origin; the socket follows that origin.
    let top = |url: &str, desc: &str, role: &str, group: Option<&str>| {
        let mut r = record(url, desc, role, group);
        let parsed = parse(url);
        r.disallow_private = match (&parsed, &trusted) {
            (Some(u), Some(t)) => !same_origin(u, t),
            _ => true,
        };
        if let (Some(u), Some(m), Some(s)) = (&parsed, &mcp, socket) {
            if same_origin(u, m) {
                r.unix_socket = Some(s.to_string());
            }
        }
        (r, parsed.is_some())
    };
    let mut out = Vec::new();
    out.push(top(resource, "PRMD resource", ROLE_PRMD_RESOURCE, None));
    let mut as_trusted = false;
    if let Some(first) = servers.first() {
        let r = top(
            first,
            "PRMD authorization server",
            "prmd-auth-server",
            Some(&group),
        );
        as_trusted = !r.0.disallow_private;
        out.push(r);
    }
    if let Some(src) = d.source_url {
        out.push(top(src, "PRMD source URL", ROLE_PRMD_SOURCE, None));
    }
    let issuer = servers.first().and_then(|s| parse(s));
    if let (Some(issuer), Some(meta), Some(a)) = (
        &issuer,
        d.auth_server.and_then(|a| a.metadata.as_ref()),
        d.auth_server,
    ) {
        let fields = [
            (
                a.selected_url.as_deref(),
                "Auth server metadata URL",
                "auth-server-metadata",
            ),
            (meta.issuer.as_deref(), "Auth server issuer", "issuer"),
            (
                meta.token_endpoint.as_deref(),
                "Auth server token endpoint",
                "token-endpoint",
            ),
            (meta.jwks_uri.as_deref(), "Auth server JWKS URI", "jwks-uri"),
            (
                meta.introspection_endpoint.as_deref(),
                "Auth server introspection endpoint",
                "introspection-endpoint",
            ),
            (
                meta.registration_endpoint.as_deref(),
                "Auth server registration endpoint",
                "registration-endpoint",
            ),
            (
                meta.revocation_endpoint.as_deref(),
                "Auth server revocation endpoint",
                "revocation-endpoint",
            ),
        ];
        for (url, desc, role) in fields {
            let Some(u) = url.and_then(parse) else {
                continue;
            };
            let mut r = record(url.unwrap_or_default(), desc, role, Some(&group));
            r.disallow_private = !as_trusted || !same_origin(&u, issuer);
            if let (Some(m), Some(s)) = (&mcp, socket) {
                if same_origin(&u, m)
                    && same_origin(&u, issuer)
                    && (same_or_child_path(&u, issuer) || is_metadata_url_for(&u, issuer))
                {
                    r.unix_socket = Some(s.to_string());
                }
            }
            out.push((r, true));
        }
    }
    let out: Vec<UrlRecord> = out
        .into_iter()
        .filter(|(_, ok)| *ok)
        .map(|(r, _)| r)
        .collect();
    if out.is_empty() {
        return Err("no urls found in protected resource metadata".into());
    }
    Ok(out)
}

/// The protected resource's hosts and exact origins (from trusted `prmd-resource` /
/// `prmd-source` records): OAuth endpoints there are admitted whatever the classifier says.
#[derive(Debug, Default)]
struct Policy {
    /// `(host, subdomains too)`.
    hosts: Vec<(String, bool)>,
    origins: Vec<(String, String, String)>,
}

fn is_oauth(r: &UrlRecord) -> bool {
    r.source.trim().eq_ignore_ascii_case(OAUTH)
}

impl Policy {
    fn of(records: &[UrlRecord]) -> Policy {
        let mut p = Policy::default();
        for r in records {
            let role = r.role.trim().to_ascii_lowercase();
            if !is_oauth(r) || r.disallow_private {
                continue;
            }
            if role != ROLE_PRMD_RESOURCE && role != ROLE_PRMD_SOURCE {
                continue;
            }
            let Some(u) = parse(&r.url) else { continue };
            if let Some(o) = origin(&u) {
                if !p.origins.contains(&o) {
                    p.origins.push(o);
                }
            }
            let host = hostname(&u);
            let rule = if host.is_empty() {
                None
            } else if host
                .split('%')
                .next()
                .unwrap_or("")
                .parse::<IpAddr>()
                .is_ok()
            {
                Some((host, false))
            } else if super::suffix::has_registrable_domain(&host) {
                // A registrable name (an eTLD+1 exists): it and its subdomains.
                Some((host, true))
            } else {
                None // `com`, `co.uk`, `localhost`: too broad to cover subdomains
            };
            if let Some(rule) = rule {
                if !p.hosts.contains(&rule) {
                    p.hosts.push(rule);
                }
            }
        }
        p
    }

    fn allows(&self, r: &UrlRecord, u: &HUrl) -> bool {
        if !is_oauth(r) {
            return false;
        }
        if r.disallow_private {
            return origin(u).is_some_and(|o| self.origins.contains(&o));
        }
        let host = hostname(u);
        !host.is_empty()
            && self
                .hosts
                .iter()
                .any(|(h, sub)| host == *h || (*sub && host.ends_with(&format!(".{h}"))))
    }
}

/// Go's admission decision: `Ok(inclusion reason)` or `Err(exclusion reason)`.
fn admit(r: &UrlRecord, u: &HUrl, rules: &HostRules, policy: &Policy) -> Result<String, String> {
    let private = rules.classify(&u.hostname());
    if r.disallow_private {
        if policy.allows(r, u) {
            return Ok(PROTECTED_RESOURCE_HOST.into());
        }
        return Err(match private {
            Some(_) => "private-host-registration-disabled".into(),
            None => String::new(),
        });
    }
    if let Some(reason) = private {
        return Ok(reason);
    }
    if policy.allows(r, u) {
        return Ok(PROTECTED_RESOURCE_HOST.into());
    }
    Err(String::new())
}

/// Go's label sanitising: lower case, runs outside `[a-z0-9_-]` → `-`, trimmed, `x` in
/// front of a bad first character, at most 64 characters.
fn sanitize_label(raw: &str) -> String {
    let mut s = String::new();
    let mut in_run = false;
    for c in raw.trim().to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            s.push(c);
            in_run = false;
        } else if !in_run {
            s.push('-');
            in_run = true;
        }
    }
    let s = s.trim_matches(|c| c == '-' || c == '_');
    if s.is_empty() {
        return String::new();
    }
    let mut s = s.to_string();
    if !s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        s.insert(0, 'x');
    }
    s.truncate(64);
    s
}

/// `oauth[-<role>]-<index>` (the record's position when it has no index tag).
fn base_label(r: &UrlRecord, position: usize) -> String {
    let mut parts = vec![OAUTH.to_string()];
    if !r.role.is_empty() {
        parts.push(r.role.clone());
    }
    parts.push(if r.index.is_empty() {
        position.to_string()
    } else {
        r.index.clone()
    });
    sanitize_label(&parts.join("-"))
}

fn with_suffix(base: &str, n: usize) -> String {
    let suffix = format!("-{n}");
    let max = 64 - suffix.len();
    let mut b = base.to_string();
    if b.len() > max {
        b.truncate(max);
        b = b.trim_end_matches(['-', '_']).to_string();
        if b.is_empty() {
            b = "x".into();
        }
    }
    b + &suffix
}

/// The first free label: `base`, then `base-1` … (with how many were taken).
fn free_label(base: &str, registry: &Registry) -> Option<(String, usize)> {
    (0..=MAX_COLLISIONS)
        .map(|i| {
            if i == 0 {
                base.to_string()
            } else {
                with_suffix(base, i)
            }
        })
        .enumerate()
        .find(|(_, l)| registry.get(l).is_none())
        .map(|(i, l)| (l, i))
}

/// Go's tags of a role, plus `group=<group>`.
fn role_tags(role: &str, group: &str) -> Vec<String> {
    let role = role.trim().to_ascii_lowercase();
    let own = [role.as_str()];
    let mapped: &[&str] = match role.as_str() {
        "prmd-resource" => &["protected-resource-metadata", "resource"],
        "prmd-auth-server" => &["protected-resource-metadata", "authorization-server"],
        "prmd-source" => &["protected-resource-metadata", "source-url"],
        "auth-server-metadata" => &["auth-server-metadata"],
        "issuer" => &["auth-server-metadata", "issuer"],
        "token-endpoint" => &["auth-server-metadata", "token-endpoint"],
        "jwks-uri" => &["auth-server-metadata", "jwks-uri"],
        "introspection-endpoint" => &["auth-server-metadata", "introspection-endpoint"],
        "registration-endpoint" => &["auth-server-metadata", "registration-endpoint"],
        "revocation-endpoint" => &["auth-server-metadata", "revocation-endpoint"],
        "" => &[],
        _ => &own,
    };
    let mut tags: Vec<String> = mapped.iter().map(|s| s.to_string()).collect();
    let group = group.trim().to_ascii_lowercase();
    if !group.is_empty() {
        tags.push(format!("group={group}"));
    }
    tags.sort();
    tags.dedup();
    tags
}

/// What registering one record did, for the log (URLs origin-only).
#[derive(Debug, Clone)]
pub struct Registration {
    pub level: Level,
    pub line: String,
    /// The target, when one was registered.
    pub target: Option<Target>,
}

fn note(level: Level, line: String) -> Registration {
    Registration {
        level,
        line,
        target: None,
    }
}

/// Admits and registers each record of a bundle, in order.
pub fn register(
    registry: &mut Registry,
    rules: &HostRules,
    records: &[UrlRecord],
) -> Vec<Registration> {
    let policy = Policy::of(records);
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let Some(u) = parse(&r.url) else {
            out.push(note(
                Level::Info,
                "harpoon host auto-registration skipped: missing url".into(),
            ));
            continue;
        };
        let ctx = format!(
            "url={} source={} role={} group={}",
            u.origin(),
            r.source,
            r.role,
            r.group
        );
        let reason = match admit(r, &u, rules, &policy) {
            Ok(reason) => reason,
            Err(why) => {
                out.push(note(
                    Level::Info,
                    format!(
                        "harpoon host auto-registration skipped: not allowed: {ctx} host={} exclusion_reason={why:?}",
                        u.hostname()
                    ),
                ));
                continue;
            }
        };
        let source = r.source.trim().to_ascii_lowercase();
        let tags = role_tags(&r.role, &r.group);
        let socket = r.unix_socket.clone().filter(|s| !s.trim().is_empty());
        let key = u.normalized();
        if registry.targets().iter().any(|t| {
            t.key == key && t.unix_socket == socket && t.category == source && t.tags == tags
        }) {
            out.push(note(
                Level::Debug,
                format!("harpoon host already registered: {ctx}"),
            ));
            continue;
        }
        let base = base_label(r, i);
        let Some((label, collisions)) = (!base.is_empty())
            .then(|| free_label(&base, registry))
            .flatten()
        else {
            out.push(note(
                Level::Warn,
                format!("harpoon host auto-registration skipped: no available label: base_label={base} {ctx}"),
            ));
            continue;
        };
        if collisions > 0 {
            out.push(note(
                Level::Info,
                format!("harpoon host auto-registration resolved label collision: base_label={base} label={label} collision_count={collisions}"),
            ));
        }
        let spec = TargetSpec {
            label: label.clone(),
            url: r.url.clone(),
            unix_socket: socket,
            description: r.description.clone(),
            category: source.clone(),
            source,
            tags,
            inclusion_reason: reason.clone(),
            allow_link_local: false,
        };
        match registry.register(spec) {
            Ok(t) => out.push(Registration {
                level: Level::Info,
                line: format!(
                    "harpoon host auto-registered: label={label} {ctx} inclusion_reason={reason}"
                ),
                target: Some(t.clone()),
            }),
            // An http URL without --harpoon.allow-plaintext-http is the configuration
            // working as intended, not a fault: said at info level, with the switch.
            Err(e @ super::RegistryError::HttpsRequired) => out.push(note(
                Level::Info,
                format!("harpoon host auto-registration failed: label={label} {ctx} inclusion_reason={reason} error={:?} (--harpoon.allow-plaintext-http admits http URLs)", e.to_string()),
            )),
            Err(e) => out.push(note(
                Level::Warn,
                format!("harpoon host auto-registration failed: label={label} {ctx} inclusion_reason={reason} error={:?}", e.to_string()),
            )),
        }
    }
    out
}

#[cfg(test)]
#[path = "hostbus_tests.rs"]
mod tests;
