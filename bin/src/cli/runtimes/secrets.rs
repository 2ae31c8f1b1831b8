//! Key references (`env:NAME`, `file:/path`) and the refusal of inline secrets in an MCP
//! target: state files, runtime profiles, history lines and the `tmux`/child argv only ever
//! hold references, so a key cannot leak through them.

use super::RtError;
use crate::config::Env;

/// `value` must be an `env:` or `file:` reference.
pub fn validate_ref(value: &str, field: &str) -> Result<(), RtError> {
    if value.starts_with("env:") || value.starts_with("file:") {
        return Ok(());
    }
    Err(RtError::Usage(format!(
        "{field} must be an env:NAME or file:/path reference"
    )))
}

/// The secret a reference points at (trimmed, non-empty).
pub fn resolve_ref(value: &str, env: &dyn Env) -> Result<String, RtError> {
    let value = value.trim();
    validate_ref(value, "secret reference")?;
    if let Some(name) = value.strip_prefix("env:") {
        return match env.var(name).map(|v| v.trim().to_string()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(RtError::Usage(format!(
                "environment variable {name} is not set"
            ))),
        };
    }
    let path = value.trim_start_matches("file:");
    let text = std::fs::read_to_string(path)
        .map_err(|e| RtError::Usage(format!("failed to read secret file {path}: {e}")))?;
    let t = text.trim();
    if t.is_empty() {
        return Err(RtError::Usage(format!("secret file {path} is empty")));
    }
    Ok(t.to_string())
}

/// Whether a reference can be used without reading it: the variable is set, or the file
/// exists and is not empty. `Err` holds why not.
pub fn ref_available(value: &str, env: &dyn Env) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("secret reference is empty".into());
    }
    if let Some(name) = value.strip_prefix("env:") {
        return match env.var(name) {
            Some(v) if !v.trim().is_empty() => Ok(()),
            _ => Err(format!("environment variable {name} is not set")),
        };
    }
    let path = value.trim_start_matches("file:");
    match std::fs::metadata(path) {
        Err(_) => Err(format!("secret file {path} does not exist")),
        Ok(m) if m.len() == 0 => Err(format!("secret file {path} is empty")),
        Ok(_) => Ok(()),
    }
}

/// `env:NAME`, `file:…`, `$NAME` or `${NAME}`: a value that names a secret without being one.
pub fn is_reference(v: &str) -> bool {
    let ident = |s: &str| {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    };
    if let Some(n) = v.strip_prefix("env:") {
        return ident(n);
    }
    if let Some(p) = v.strip_prefix("file:") {
        return !p.is_empty();
    }
    if let Some(n) = v.strip_prefix("${") {
        return n.strip_suffix('}').is_some_and(ident);
    }
    v.strip_prefix('$').is_some_and(ident)
}

const SECRET_WORDS: [&str; 6] = [
    "api?key",
    "access?token",
    "refresh?token",
    "id?token",
    "password",
    "secret",
];

/// Matches one of [`SECRET_WORDS`] at `s[i..]` (`?` = optional `_` or `-`, ASCII case
/// ignored); returns the length matched.
fn word_at(s: &[u8], i: usize) -> Option<usize> {
    'words: for w in SECRET_WORDS {
        let (mut j, mut k) = (i, 0);
        let w = w.as_bytes();
        while k < w.len() {
            if w[k] == b'?' {
                if j < s.len() && (s[j] == b'_' || s[j] == b'-') {
                    j += 1;
                }
            } else if j < s.len() && s[j].eq_ignore_ascii_case(&w[k]) {
                j += 1;
            } else {
                continue 'words;
            }
            k += 1;
        }
        return Some(j - i);
    }
    None
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `s` contains inline secret material, by the Go client's rules: an `sk-` key,
/// `Bearer <token>`, an `Authorization:` header, `api_key=`-style assignments, the key
/// variables assigned inline, credentials in a URL, or a secret-named flag followed by a
/// literal value.
fn looks_secret(s: &str) -> bool {
    let b = s.as_bytes();
    let lower = s.to_ascii_lowercase();
    let lb = lower.as_bytes();
    let boundary = |i: usize| i == 0 || !is_word(b[i - 1]);
    let run =
        |from: usize, ok: &dyn Fn(u8) -> bool| b[from..].iter().take_while(|c| ok(**c)).count();
    for i in 0..b.len() {
        // sk-XXXXXXXXXXXX
        if lb[i..].starts_with(b"sk-")
            && b[i..].starts_with(b"sk-")
            && run(i + 3, &|c| {
                c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
            }) >= 12
        {
            return true;
        }
        if boundary(i) && lb[i..].starts_with(b"bearer") {
            let ws = run(i + 6, &|c| c.is_ascii_whitespace());
            let tok = run(i + 6 + ws, &|c| {
                c.is_ascii_alphanumeric() || b"._~+/=-".contains(&c)
            });
            if ws > 0 && tok >= 12 {
                return true;
            }
        }
        if boundary(i) && lb[i..].starts_with(b"authorization") {
            let ws = run(i + 13, &|c| c.is_ascii_whitespace());
            if b.get(i + 13 + ws) == Some(&b':') {
                return true;
            }
        }
        if let Some(n) = word_at(b, i) {
            if b.get(i + n) == Some(&b'=') && run(i + n + 1, &|c| !c.is_ascii_whitespace()) > 0 {
                return true;
            }
        }
        if boundary(i) {
            for v in [
                "openai_admin_key=",
                "openai_api_key=",
                "control_plane_api_key=",
            ] {
                if lb[i..].starts_with(v.as_bytes()) {
                    return true;
                }
            }
        }
        // ://user:pass@
        if b[i..].starts_with(b"://") {
            let cred = |c: u8| !(c == b'/' || c == b':' || c == b'@' || c.is_ascii_whitespace());
            let user = run(i + 3, &cred);
            if user > 0 && b.get(i + 3 + user) == Some(&b':') {
                let pass = run(i + 4 + user, &cred);
                if pass > 0 && b.get(i + 4 + user + pass) == Some(&b'@') {
                    return true;
                }
            }
        }
    }
    false
}

/// A flag whose name mentions a secret (`--api-key`, `-client_secret`), without `=`.
fn secret_flag(tok: &str) -> bool {
    let Some(rest) = tok.strip_prefix("--").or_else(|| tok.strip_prefix('-')) else {
        return false;
    };
    let b = rest.as_bytes();
    !rest.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
        && (0..b.len()).any(|i| word_at(b, i).is_some())
}

/// Refuses a target (`--mcp-command`, `--mcp-server-url`) that carries a secret inline.
pub fn reject_inline_secret(value: &str, field: &str) -> Result<(), RtError> {
    let refuse = || {
        Err(RtError::Usage(format!(
            "{field} appears to contain inline secret material; use env or file references instead"
        )))
    };
    if looks_secret(value) {
        return refuse();
    }
    let toks: Vec<&str> = value.split_whitespace().collect();
    for (i, t) in toks.iter().enumerate() {
        if !secret_flag(t) {
            continue;
        }
        if let Some(next) = toks.get(i + 1) {
            if !next.starts_with('-') && !is_reference(next) {
                return refuse();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_secrets_are_refused() {
        for bad in [
            "server --key sk-abcdefghijklmnop",
            "curl -H 'Authorization: x'",
            "x Bearer abcdefghijklmnopq",
            "srv API_KEY=abc",
            "srv --token-file x access-token=1",
            "env OPENAI_API_KEY=1 srv",
            "http://user:pw@host/mcp",
            "srv --client-secret hunter2",
            "srv -Password hunter2",
        ] {
            assert!(reject_inline_secret(bad, "mcp command").is_err(), "{bad}");
        }
        for ok in [
            "python server.py --port 3",
            "srv --api-key env:MY_KEY",
            "srv --api-key $KEY",
            "srv --api-key ${KEY} --verbose",
            "srv --secret-file --x",
            "srv --password",
            "npx -y @modelcontextprotocol/server-everything stdio",
            "sk-short",
            "http://host:8080/mcp",
            "task-bearer",
        ] {
            assert!(reject_inline_secret(ok, "mcp command").is_ok(), "{ok}");
        }
    }

    #[test]
    fn references_are_recognised() {
        assert!(is_reference("env:A_1"));
        assert!(is_reference("file:/x"));
        assert!(is_reference("${HOME}"));
        assert!(!is_reference("env:1A"));
        assert!(!is_reference("hunter2"));
    }
}
