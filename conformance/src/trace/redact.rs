//! Secrets never reach a trace file: the API key, shard tokens and the values of credential
//! headers are replaced by placeholders when a trace is written.
//!
//! The mapping is consistent within a trace — the same shard token always becomes the same
//! `<redacted:shard:N>` — so a replay still sees a command's token come back on its POST,
//! and a connector's `Authorization` still reaches the MCP request it belongs to. Replays
//! use the placeholders as the values themselves (they are valid header values).

use serde_json::Value;

use super::format::Headers;

/// The placeholder of the control-plane API key.
pub const API_KEY: &str = "<redacted:api_key>";

/// Header names whose values are credentials.
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-tunnel-shard-token",
];

/// Shorter values are not registered as secrets: replacing them everywhere would corrupt
/// unrelated text (and a real token is never that short).
const MIN_SECRET: usize = 4;

/// Whether a header's values are credentials.
pub fn is_sensitive(name: &str) -> bool {
    SENSITIVE_HEADERS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
}

/// Remembers every secret seen and its placeholder.
#[derive(Debug, Default)]
pub struct Redactor {
    /// (secret, placeholder), longest secret first.
    secrets: Vec<(String, String)>,
    shards: usize,
    others: usize,
}

impl Redactor {
    pub fn new(api_key: &str) -> Self {
        let mut r = Redactor::default();
        // The key is redacted whatever its length: it is the one secret we are sure of.
        if !api_key.is_empty() {
            r.secrets.push((api_key.to_string(), API_KEY.to_string()));
        }
        r
    }

    fn register(&mut self, secret: &str, placeholder: String) -> String {
        if let Some((_, p)) = self.secrets.iter().find(|(s, _)| s == secret) {
            return p.clone();
        }
        if secret.len() < MIN_SECRET || secret.starts_with("<redacted:") {
            return secret.to_string();
        }
        self.secrets.push((secret.to_string(), placeholder.clone()));
        self.secrets
            .sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        placeholder
    }

    /// Registers a shard token; returns its placeholder.
    pub fn shard(&mut self, token: &str) -> String {
        if let Some((_, p)) = self.secrets.iter().find(|(s, _)| s == token) {
            return p.clone();
        }
        self.shards += 1;
        let p = format!("<redacted:shard:{}>", self.shards);
        self.register(token, p)
    }

    /// Registers a credential; returns its placeholder.
    pub fn secret(&mut self, value: &str) -> String {
        if let Some((_, p)) = self.secrets.iter().find(|(s, _)| s == value) {
            return p.clone();
        }
        self.others += 1;
        let p = format!("<redacted:secret:{}>", self.others);
        self.register(value, p)
    }

    /// Registers a credential header value: for `Bearer X` / `Basic X` only `X` is the
    /// secret, so the scheme stays readable.
    pub fn header_value(&mut self, name: &str, value: &str) {
        if name.eq_ignore_ascii_case("x-tunnel-shard-token") {
            self.shard(value);
            return;
        }
        match value.split_once(' ') {
            Some((scheme, token))
                if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                self.secret(token.trim());
            }
            _ => {
                self.secret(value);
            }
        }
    }

    /// `s` with every known secret replaced.
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (secret, p) in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), p);
            }
        }
        out
    }

    /// Headers with credential values registered and every value redacted.
    pub fn headers(&mut self, h: &Headers) -> Headers {
        for (k, v) in h {
            if is_sensitive(k) {
                self.header_value(k, v);
            }
        }
        h.iter().map(|(k, v)| (k.clone(), self.text(v))).collect()
    }

    /// Learns the secrets of a poll body (shard tokens, credential command headers) so that
    /// they are redacted in it and in every later line.
    pub fn learn_poll_body(&mut self, body: &[u8]) {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let Some(cmds) = v.get("commands").and_then(Value::as_array) else {
            return;
        };
        for c in cmds {
            if let Some(t) = c.get("shard_token").and_then(Value::as_str) {
                self.shard(t);
            }
            if let Some(h) = c.get("headers").and_then(Value::as_object) {
                for (k, vals) in h {
                    if !is_sensitive(k) {
                        continue;
                    }
                    for v in vals.as_array().into_iter().flatten() {
                        if let Some(s) = v.as_str() {
                            self.header_value(k, s);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_shards_and_credentials_become_placeholders() {
        let mut r = Redactor::new("sk-live-0123456789");
        let body = br#"{"commands":[{"request_id":"r1","shard_token":"shard-abcdef","headers":{"Authorization":["Bearer conn-token-xyz"],"X-Trace":["keep"]}}]}"#;
        r.learn_poll_body(body);
        let text = r.text(std::str::from_utf8(body).unwrap());
        assert!(
            text.contains(r#""shard_token":"<redacted:shard:1>""#),
            "{text}"
        );
        assert!(text.contains("Bearer <redacted:secret:1>"), "{text}");
        assert!(text.contains("keep"));
        assert_eq!(
            r.text("Bearer sk-live-0123456789"),
            "Bearer <redacted:api_key>"
        );
        // The same secret keeps its placeholder in later lines.
        let mut h = Headers::new();
        h.insert("x-tunnel-shard-token".into(), "shard-abcdef".into());
        h.insert("authorization".into(), "Bearer conn-token-xyz".into());
        let h = r.headers(&h);
        assert_eq!(h["x-tunnel-shard-token"], "<redacted:shard:1>");
        assert_eq!(h["authorization"], "Bearer <redacted:secret:1>");
    }

    #[test]
    fn short_values_are_not_treated_as_secrets() {
        let mut r = Redactor::new("k");
        r.shard("1");
        assert_eq!(r.text("x 1"), "x 1");
        assert_eq!(
            r.text("k"),
            API_KEY,
            "the API key is redacted however short"
        );
    }
}
