//! Redaction of free text: every log message (before it is written or buffered), the
//! support bundle and the admin JSON pass through [`text`]. The rules are those of the Go
//! client's log buffer (go-harpoon-oauth-security.md §4.2, go-runtime.md §9.3), plus one it
//! lacks: the secret values this process was configured with (API key, extra-header values,
//! tokens) are registered with [`register_secret`] and scrubbed wherever they appear, whatever
//! surrounds them.
//!
//! - `Bearer <x>` → `Bearer [REDACTED]` (so `Authorization: Bearer …` too);
//! - `Authorization`, `Cookie`, `Set-Cookie`, `X-Tunnel-Shard-Token`, `shard_token`,
//!   `api_key`, `api-key`, `apikey`, `access_token`, `refresh_token`, `id_token`,
//!   `client_secret`, `password`, `secret` followed by `:` or `=` (also as a JSON key) → the
//!   value becomes `[REDACTED]` (`"[REDACTED]"` for a JSON string);
//! - `sk-` followed by at least 10 of `[A-Za-z0-9_-]` → `sk-REDACTED`;
//! - query parameters of those names and `code`, `token`, `key` → `=[REDACTED]`;
//! - URL userinfo `scheme://user:pass@` → `scheme://[REDACTED]@`.
//!
//! No regex engine (footprint): each rule is a small scanner. Text that contains none of the
//! trigger characters is returned borrowed.

use std::borrow::Cow;
use std::sync::RwLock;

/// The replacement marker.
pub const REDACTED: &str = "[REDACTED]";

/// Names whose value is a secret when written `name: value` / `name=value` / `"name": value`.
const SECRET_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-tunnel-shard-token",
    "shard_token",
    "shard-token",
    "api_key",
    "api-key",
    "x-api-key",
    "apikey",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "secret",
];

/// Query parameter names whose value is a secret (also used by the URL redaction of
/// `config::redact_url`).
pub(crate) const SECRET_PARAMS: &[&str] = &[
    "api_key",
    "api-key",
    "apikey",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code",
    "password",
    "secret",
    "token",
    "key",
];

/// Shortest value worth registering (a 1–3 character "secret" would redact ordinary text).
const MIN_SECRET_LEN: usize = 6;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a configured secret value: it is replaced wherever it appears.
pub fn register_secret(value: &str) {
    let v = value.trim();
    if v.len() < MIN_SECRET_LEN || v == REDACTED {
        return;
    }
    let mut s = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !s.iter().any(|x| x == v) {
        s.push(v.to_string());
        // Longest first, so a secret containing another is replaced whole.
        s.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }
}

/// Redacts `s` (see the module docs).
pub fn text(s: &str) -> Cow<'_, str> {
    let mut out: Cow<'_, str> = Cow::Borrowed(s);
    apply(&mut out, known_secrets);
    if out.contains(' ') {
        apply(&mut out, auth_schemes);
    }
    if out.contains([':', '=']) {
        apply(&mut out, named_values);
    }
    if out.contains("sk-") {
        apply(&mut out, sk_keys);
    }
    if out.contains("://") {
        apply(&mut out, userinfo);
    }
    if out.contains(['?', '&']) {
        apply(&mut out, query_params);
    }
    out
}

/// Redacts and returns an owned string.
pub fn string(s: &str) -> String {
    text(s).into_owned()
}

fn apply(s: &mut Cow<'_, str>, rule: fn(&str) -> Option<String>) {
    if let Some(changed) = rule(s) {
        *s = Cow::Owned(changed);
    }
}

/// The redacted copy of `s` under construction: spans are replaced left to right, and
/// [`Splice::finish`] says `None` when none was.
struct Splice<'a> {
    s: &'a str,
    out: String,
    last: usize,
    changed: bool,
}

impl<'a> Splice<'a> {
    fn new(s: &'a str) -> Self {
        Splice {
            s,
            out: String::new(),
            last: 0,
            changed: false,
        }
    }

    /// Replaces `s[start..end]` with [`REDACTED`] (spans must come in order).
    fn redact(&mut self, start: usize, end: usize) {
        self.replace(start, end, REDACTED);
    }

    fn replace(&mut self, start: usize, end: usize, with: &str) {
        if !self.changed {
            self.out.reserve(self.s.len());
            self.changed = true;
        }
        self.out.push_str(&self.s[self.last..start]);
        self.out.push_str(with);
        self.last = end;
    }

    fn finish(mut self) -> Option<String> {
        self.changed.then(|| {
            self.out.push_str(&self.s[self.last..]);
            self.out
        })
    }
}

/// Whether the value `s[start..end]` is already the marker. A token scanner stops at `]`,
/// so comparing the scanned span with [`REDACTED`] would miss it and redact it again
/// (`[REDACTED]]`); a longer span (`Authorization: [REDACTED] rest`) is not the marker.
fn already_redacted(s: &str, start: usize, end: usize) -> bool {
    s[start..].starts_with(REDACTED) && end <= start + REDACTED.len()
}

fn known_secrets(s: &str) -> Option<String> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out: Option<String> = None;
    for secret in secrets.iter() {
        let cur = out.as_deref().unwrap_or(s);
        if cur.contains(secret.as_str()) {
            out = Some(cur.replace(secret.as_str(), REDACTED));
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `s[i..]` starts with `word` (ASCII case-insensitive).
fn starts_with_ci(s: &[u8], i: usize, word: &str) -> bool {
    s.len() >= i + word.len() && s[i..i + word.len()].eq_ignore_ascii_case(word.as_bytes())
}

/// `Bearer x` → `Bearer [REDACTED]`.
fn auth_schemes(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Splice::new(s);
    let mut i = 0;
    while i < b.len() {
        let at_word = i == 0 || !is_ident(b[i - 1]);
        let scheme = Some("bearer").filter(|w| at_word && starts_with_ci(b, i, w));
        if let Some(w) = scheme {
            let mut j = i + w.len();
            if j < b.len() && b[j] == b' ' {
                while j < b.len() && b[j] == b' ' {
                    j += 1;
                }
                let end = token_end(b, j);
                if end > j && !already_redacted(s, j, end) {
                    out.redact(j, end);
                }
                i = end.max(i + 1);
                continue;
            }
        }
        i += 1;
    }
    out.finish()
}

/// End of a credential token: stops at whitespace and at characters that close the
/// surrounding structure (quotes, commas, brackets).
fn token_end(b: &[u8], mut j: usize) -> usize {
    while j < b.len()
        && !b[j].is_ascii_whitespace()
        && !matches!(
            b[j],
            b'"' | b'\'' | b',' | b';' | b'}' | b']' | b')' | b'&' | b'>'
        )
    {
        j += 1;
    }
    j
}

/// `name: value`, `name=value`, `"name": "value"` for the secret names.
fn named_values(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Splice::new(s);
    let mut i = 0;
    while i < b.len() {
        let at_word = i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == b'-');
        let name = if at_word {
            SECRET_NAMES
                .iter()
                .filter(|n| starts_with_ci(b, i, n))
                .max_by_key(|n| n.len())
        } else {
            None
        };
        let Some(name) = name else {
            i += 1;
            continue;
        };
        let mut j = i + name.len();
        if j < b.len() && (is_ident(b[j]) || b[j] == b'-') {
            i += 1; // a longer word (`secrets`, `password_hint`)
            continue;
        }
        if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
            j += 1; // closing quote of a JSON / quoted key
        }
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        if j >= b.len() || !(b[j] == b':' || b[j] == b'=') {
            i += 1;
            continue;
        }
        j += 1;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        let (start, end) = value_span(b, j, name);
        i = end.max(i + 1);
        if end <= start || already_redacted(s, start, end) {
            continue;
        }
        // `Authorization: Bearer x` keeps the scheme (the bearer rule took the token);
        // `env:VAR` / `file:/path` references name where a secret is, not the secret.
        let lower = s[start..end].to_ascii_lowercase();
        if ["bearer ", "env:", "file:"]
            .iter()
            .any(|p| lower.starts_with(p))
        {
            continue;
        }
        out.redact(start, end);
    }
    out.finish()
}

/// The span of a value starting at `j`: a quoted string (without its quotes); for cookie
/// lists and `Authorization: <scheme> <credentials>` (both contain spaces) the rest of the
/// line or of the enclosing quoted string; otherwise a token.
fn value_span(b: &[u8], j: usize, name: &str) -> (usize, usize) {
    if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
        let q = b[j];
        let mut k = j + 1;
        while k < b.len() && b[k] != q {
            if b[k] == b'\\' {
                k += 1;
            }
            k += 1;
        }
        return (j + 1, k.min(b.len()));
    }
    if name.ends_with("cookie") || name.ends_with("authorization") {
        let mut k = j;
        while k < b.len() && !matches!(b[k], b'\r' | b'\n' | b'"' | b'\'') {
            k += 1;
        }
        return (j, k);
    }
    (j, token_end(b, j))
}

/// `sk-` + at least 10 key characters → `sk-REDACTED`.
fn sk_keys(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Splice::new(s);
    let mut i = 0;
    while let Some(pos) = s[i..].find("sk-") {
        let start = i + pos;
        let key_start = start + 3;
        let mut k = key_start;
        while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] == b'-') {
            k += 1;
        }
        let boundary = start == 0 || !b[start - 1].is_ascii_alphanumeric();
        if boundary && k - key_start >= 10 && &s[key_start..k] != "REDACTED" {
            out.replace(start, k, "sk-REDACTED");
        }
        i = k.max(start + 3);
    }
    out.finish()
}

/// `scheme://user:pass@host` → `scheme://[REDACTED]@host`.
fn userinfo(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Splice::new(s);
    let mut i = 0;
    while let Some(pos) = s[i..].find("://") {
        let auth_start = i + pos + 3;
        let mut k = auth_start;
        while k < b.len()
            && !b[k].is_ascii_whitespace()
            && !matches!(b[k], b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>')
        {
            k += 1;
        }
        if let Some(at) = s[auth_start..k].rfind('@') {
            let info_end = auth_start + at;
            if &s[auth_start..info_end] != REDACTED {
                out.redact(auth_start, info_end);
            }
        }
        i = k.max(auth_start);
    }
    out.finish()
}

/// `?token=x` / `&api_key=x` → `=[REDACTED]`.
fn query_params(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Splice::new(s);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'?' || b[i] == b'&' {
            let name_start = i + 1;
            let mut k = name_start;
            while k < b.len() && (is_ident(b[k]) || b[k] == b'-') {
                k += 1;
            }
            if k < b.len()
                && b[k] == b'='
                && SECRET_PARAMS
                    .iter()
                    .any(|p| s[name_start..k].eq_ignore_ascii_case(p))
            {
                let v = k + 1;
                let mut e = v;
                while e < b.len()
                    && !b[e].is_ascii_whitespace()
                    && !matches!(b[e], b'&' | b'#' | b'"' | b'\'' | b'<' | b'>')
                {
                    e += 1;
                }
                if e > v && !already_redacted(s, v, e) {
                    out.redact(v, e);
                }
                i = e.max(i + 1);
                continue;
            }
        }
        i += 1;
    }
    out.finish()
}

/// Redacts every string inside a JSON value, and whole values under secret-looking keys.
pub fn json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let Cow::Owned(r) = text(s) {
                *s = r;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(json),
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                // `{"key": …, "value": …}` pairs name a field, they are not keys.
                if k != "key" && is_secret_key(k) && !val.is_null() {
                    *val = serde_json::Value::String(REDACTED.into());
                } else {
                    json(val);
                }
            }
        }
        _ => {}
    }
}

/// A configuration or attribute key that names a secret: (after lowercasing and `-` → `_`)
/// one of the Go attribute keys, or any `_`-separated token `key`, `token`, `secret`,
/// `password`, `cookie`, `authorization`, or a `_api_key` / `_private_key` suffix.
pub fn is_secret_key(k: &str) -> bool {
    let n = k.to_ascii_lowercase().replace(['-', '.'], "_");
    if SECRET_NAMES.iter().any(|s| s.replace('-', "_") == n) {
        return true;
    }
    n.split('_').any(|t| {
        matches!(
            t,
            "key" | "token" | "secret" | "password" | "cookie" | "authorization" | "apikey"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        text(s).into_owned()
    }

    #[test]
    fn plain_text_is_untouched_and_borrowed() {
        for s in [
            "poll failed: connection refused",
            "command r1 completed (channel main, 200) in 12 ms",
            "tunnel-client started: tunnel_id=tunnel_abc tunnel_url=https://api.openai.com/v1/tunnel/tunnel_abc",
            "exit code=1, resp_code=200 key_count=3",
            "https://example.com/path?limit=5&channel=main",
        ] {
            assert!(matches!(text(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn bearer_and_header_forms() {
        assert_eq!(
            r("Authorization: Bearer abc.def-123"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(r("sent bearer xyz to it"), "sent bearer [REDACTED] to it");
        assert_eq!(
            r("X-Tunnel-Shard-Token: shard-abc-123, next"),
            "X-Tunnel-Shard-Token: [REDACTED], next"
        );
        assert_eq!(
            r("Cookie: a=1; b=2\nnext line"),
            "Cookie: [REDACTED]\nnext line"
        );
        assert_eq!(
            r("headers {\"authorization\": \"Token zzz\", \"x\": 1}"),
            "headers {\"authorization\": \"[REDACTED]\", \"x\": 1}"
        );
        assert_eq!(
            r("Authorization: Basic dXNlcjpw"),
            "Authorization: [REDACTED]"
        );
        assert_eq!(r("the basic idea"), "the basic idea");
        assert_eq!(r("Authorization: rawtoken"), "Authorization: [REDACTED]");
    }

    #[test]
    fn name_value_and_json_forms() {
        assert_eq!(r("api_key=abc123 next"), "api_key=[REDACTED] next");
        assert_eq!(r("password = hunter2"), "password = [REDACTED]");
        assert_eq!(
            r(r#"{"client_secret":"s3cr\"et","name":"x"}"#),
            r#"{"client_secret":"[REDACTED]","name":"x"}"#
        );
        assert_eq!(r("shard_token=abc"), "shard_token=[REDACTED]");
        assert_eq!(
            r("control-plane.api-key: \"env:MY_KEY\" (resolved)"),
            "control-plane.api-key: \"env:MY_KEY\" (resolved)"
        );
        assert_eq!(r("x-api-key: k123"), "x-api-key: [REDACTED]");
        // Longer words are not secrets.
        assert_eq!(r("secrets=3 password_hint=x"), "secrets=3 password_hint=x");
    }

    #[test]
    fn keys_urls_and_query_parameters() {
        assert_eq!(r("key sk-abcdefghij12345 used"), "key sk-REDACTED used");
        assert_eq!(r("sk-short"), "sk-short");
        assert_eq!(
            r("GET http://user:pa55@host:8/mcp failed"),
            "GET http://[REDACTED]@host:8/mcp failed"
        );
        assert_eq!(
            r("https://h/cb?code=abc&state=1&access_token=t#f"),
            "https://h/cb?code=[REDACTED]&state=1&access_token=[REDACTED]"
        );
        assert_eq!(r("?token=[REDACTED]"), "?token=[REDACTED]");
    }

    #[test]
    fn already_redacted_values_stay_as_they_are() {
        for s in [
            "api_key=[REDACTED] x",
            "password: [REDACTED]",
            "\"Bearer [REDACTED]\"",
            "Authorization: Bearer [REDACTED]",
        ] {
            assert_eq!(r(s), s);
        }
        assert_eq!(
            r("Authorization: [REDACTED] tok"),
            "Authorization: [REDACTED]"
        );
    }

    #[test]
    fn registered_secrets_vanish_anywhere() {
        register_secret("zq-canary-9f8e7d");
        register_secret("abc"); // too short to register
        assert_eq!(
            r("value zq-canary-9f8e7dX inside"),
            "value [REDACTED]X inside"
        );
        assert_eq!(r("abc"), "abc");
    }

    #[test]
    fn json_values_are_redacted_by_key_and_content() {
        let mut v = serde_json::json!({
            "api_key": "x", "nested": {"refresh-token": "y", "url": "http://u:p@h/"},
            "list": ["Bearer tok"], "extra_headers": null, "name": "ok"
        });
        json(&mut v);
        assert_eq!(v["api_key"], REDACTED);
        assert_eq!(v["nested"]["refresh-token"], REDACTED);
        assert_eq!(v["nested"]["url"], "http://[REDACTED]@h/");
        assert_eq!(v["list"][0], "Bearer [REDACTED]");
        assert_eq!(v["name"], "ok");
        assert!(is_secret_key("control_plane.api_key"));
        assert!(is_secret_key("client_key"));
        assert!(!is_secret_key("tunnel_id"));
        assert!(!is_secret_key("keyboard"));
    }
}
