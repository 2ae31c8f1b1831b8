//! Response rewriting (§1.11): registered URLs in what a target returns become
//! `harpoon://<label>`, so the caller keeps addressing targets by label.
//!
//! JSON bodies: every string value (never an object key) that is an absolute http(s) URL
//! whose normalised form equals a target's is replaced; when several targets share the URL
//! the key names the preferred tag, and a PRMD `resource` stays as it is (RFC 9728 §3.3).
//! Only `Location`, `Content-Location` and `Link` headers are rewritten. Unchanged bodies
//! are returned byte for byte. Unlike Go the rewrite is lossless for numbers (serde_json
//! keeps integers exact) and does not HTML-escape `<`, `>` and `&`; keys come out sorted,
//! as in Go.

use serde_json::Value;

use super::registry::{Registry, Target};
use super::url::HUrl;

/// The tag a JSON key prefers among targets that share a URL.
fn key_hint(key: Option<&str>) -> Option<String> {
    let k = key?;
    match k {
        "authorization_servers" => Some("authorization-server".into()),
        "introspection_endpoint"
        | "issuer"
        | "jwks_uri"
        | "registration_endpoint"
        | "revocation_endpoint"
        | "token_endpoint" => Some(k.replace('_', "-")),
        _ => None,
    }
}

fn candidates<'r>(reg: &'r Registry, s: &str) -> Vec<&'r Target> {
    let Ok(u) = HUrl::parse(s) else {
        return Vec::new();
    };
    let scheme = u.scheme_lower();
    if scheme != "http" && scheme != "https" {
        return Vec::new();
    }
    let key = u.normalized();
    reg.label_for_key(&key)
}

fn label_for(reg: &Registry, s: &str, key: Option<&str>) -> Option<String> {
    let c = candidates(reg, s);
    if c.is_empty() {
        return None;
    }
    if key == Some("resource")
        && c.iter()
            .any(|t| t.has_tag("protected-resource-metadata") && t.has_tag("resource"))
    {
        return None;
    }
    let preferred = key_hint(key).and_then(|tag| c.iter().find(|t| t.has_tag(&tag)).copied());
    Some(preferred.unwrap_or(c[0]).label.clone())
}

fn walk(reg: &Registry, v: &mut Value, key: Option<&str>) -> bool {
    match v {
        Value::String(s) => match label_for(reg, s, key) {
            Some(l) => {
                *s = format!("harpoon://{l}");
                true
            }
            None => false,
        },
        Value::Array(a) => {
            let mut changed = false;
            for x in a {
                changed |= walk(reg, x, key);
            }
            changed
        }
        Value::Object(o) => {
            let mut changed = false;
            for (k, x) in o.iter_mut() {
                changed |= walk(reg, x, Some(k));
            }
            changed
        }
        _ => false,
    }
}

/// Rewrites a response body; returns `None` when nothing changed (send the original).
pub fn rewrite_body(reg: &Registry, body: &[u8]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    if walk(reg, &mut v, None) {
        serde_json::to_vec(&v).ok()
    } else {
        None
    }
}

/// The headers whose values are rewritten.
pub fn rewrites_header(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "location" | "content-location" | "link"
    )
}

/// Replaces every `https?://[^\s<>"']+` in `value` that exactly matches a target.
pub fn rewrite_header_value(reg: &Registry, value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    loop {
        let lower = rest.to_ascii_lowercase();
        let at = [lower.find("http://"), lower.find("https://")]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = at else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(tail.len());
        let url = &tail[..end];
        match label_for(reg, url, None) {
            Some(l) => out.push_str(&format!("harpoon://{l}")),
            None => out.push_str(url),
        }
        rest = &tail[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::super::registry::TargetSpec;
    use super::*;

    fn reg() -> Registry {
        let mut r = Registry::new(false);
        r.register(TargetSpec::config("foo", "https://example.com/foo#next"))
            .unwrap();
        r.register(TargetSpec::config("api", "https://example.com/api"))
            .unwrap();
        let mut res = TargetSpec::config("res", "https://mcp.example.com/mcp");
        res.tags = vec!["protected-resource-metadata".into(), "resource".into()];
        r.register(res).unwrap();
        let mut tok = TargetSpec::config("tok", "https://auth.example.com/token");
        tok.tags = vec!["token-endpoint".into()];
        let mut reg_ep = TargetSpec::config("regep", "https://auth.example.com/token");
        reg_ep.tags = vec!["registration-endpoint".into()];
        r.register(reg_ep).unwrap();
        r.register(tok).unwrap();
        r
    }

    fn rw(body: &str) -> Option<String> {
        rewrite_body(&reg(), body.as_bytes()).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn exact_urls_in_values_are_rewritten_keys_never() {
        assert_eq!(
            rw(r#"{"a":"https://EXAMPLE.com/api","https://example.com/api":1,"n":{"x":["https://example.com/api"]}}"#).unwrap(),
            r#"{"a":"harpoon://api","https://example.com/api":1,"n":{"x":["harpoon://api"]}}"#
        );
        assert_eq!(
            rw(r#""https://example.com/api""#).unwrap(),
            r#""harpoon://api""#
        );
    }

    #[test]
    fn near_misses_and_invalid_json_are_untouched() {
        assert_eq!(rw(r#"{"a":"https://example.com/api/"}"#), None);
        assert_eq!(rw(r#"{"a":"https://example.com/api?x=1"}"#), None);
        assert_eq!(rw(r#"{"a":"api://example.com/api"}"#), None);
        assert_eq!(rw("not json https://example.com/api"), None);
    }

    #[test]
    fn prmd_resource_is_kept_and_key_hints_pick_the_tagged_target() {
        assert_eq!(rw(r#"{"resource":"https://mcp.example.com/mcp"}"#), None);
        assert_eq!(
            rw(r#"{"token_endpoint":"https://auth.example.com/token","registration_endpoint":"https://auth.example.com/token","other":"https://auth.example.com/token"}"#).unwrap(),
            r#"{"other":"harpoon://regep","registration_endpoint":"harpoon://regep","token_endpoint":"harpoon://tok"}"#
        );
        // A generic `resource` of a non-PRMD target is rewritten.
        assert_eq!(
            rw(r#"{"resource":"https://example.com/api"}"#).unwrap(),
            r#"{"resource":"harpoon://api"}"#
        );
    }

    #[test]
    fn link_and_location_headers_are_rewritten() {
        let r = reg();
        assert_eq!(
            rewrite_header_value(&r, r#"<https://example.com/foo#next>; rel="next""#),
            r#"<harpoon://foo>; rel="next""#
        );
        assert_eq!(
            rewrite_header_value(&r, "https://example.com/api"),
            "harpoon://api"
        );
        assert_eq!(
            rewrite_header_value(&r, "https://example.com/api/x"),
            "https://example.com/api/x"
        );
        assert!(rewrites_header("Link") && !rewrites_header("X-Other"));
    }

    #[test]
    fn large_integers_survive_a_rewrite() {
        assert_eq!(
            rw(r#"{"n":12345678901234567890,"u":"https://example.com/api"}"#).unwrap(),
            r#"{"n":12345678901234567890,"u":"harpoon://api"}"#
        );
    }
}
