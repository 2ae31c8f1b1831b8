//! Header lists (go-cli-config.md §2.8): `Key: Value` flags, `,`/`;` separated env lists,
//! YAML maps; values may be `env:NAME` / `file:/path` references. Values are always held
//! as [`Secret`]s and never printed in errors.

use super::error::{problem, ConfigError, Problem};
use super::model::Header;
use super::secret::{parse_ref, read_env_ref, read_file_ref, FileTrim, Ref, Secret, SecretOrigin};
use super::{Env, Files};

/// Control-plane headers the client sets itself; rejected in `--control-plane.extra-headers`.
///
/// Doc vs code (go-cli-config.md §12): the Go docs also list `X-Tunnel-Client-Instance-Id`
/// as reserved, but Go's config validation accepts it and only skips it (with a warning)
/// when sending. We follow the code: it is not rejected here; the request builder must
/// protect it.
pub const RESERVED_CONTROL_PLANE_HEADERS: &[&str] = &[
    "Authorization",
    "Accept",
    "User-Agent",
    "X-Tunnel-Client-Name",
    "X-Tunnel-Client-Version",
    "X-Tunnel-Mcp-Server-Info",
];

/// Splits one `Key: Value` item at the first `:`.
pub(crate) fn parse_header_item(s: &str) -> Result<(String, String), Problem> {
    let Some((k, v)) = s.split_once(':') else {
        return Err(problem(
            "a header must look like 'Name: Value'",
            "write the header as 'Name: Value'",
        ));
    };
    let (k, v) = (k.trim(), v.trim());
    if k.is_empty() || v.is_empty() {
        return Err(problem(
            "header name and value must both be non-empty",
            "write the header as 'Name: Value'",
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Splits an env header list on `,` or `;` (blank items dropped).
pub(crate) fn split_env_list(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', ';']).filter(|p| !p.trim().is_empty())
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Go's `CanonicalMIMEHeaderKey` for a valid token (`x-api-key` → `X-Api-Key`).
pub fn canonical_header_name(name: &str) -> String {
    let mut up = true;
    name.chars()
        .map(|c| {
            let out = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            out
        })
        .collect()
}

/// Validates and resolves a header list. `origin` names the source (flag, env var, YAML key).
pub(crate) fn build_headers(
    pairs: &[(String, String)],
    origin: &str,
    reserved: &[&str],
    env: &dyn Env,
    files: &dyn Files,
) -> Result<Vec<Header>, Vec<ConfigError>> {
    let mut out: Vec<(Header, String)> = Vec::new();
    let mut errors = Vec::new();
    for (raw_name, raw_value) in pairs {
        let name = raw_name.trim();
        let at = |p: Problem| p.at(format!("{origin} (header {name:?})"), None);
        if name.is_empty() || !name.chars().all(is_token_char) {
            errors.push(ConfigError::Invalid {
                origin: origin.to_string(),
                value: Some(name.to_string()),
                problem: "not a valid header name (RFC 7230 token characters only)".into(),
                fix: "use letters, digits and - in header names".into(),
            });
            continue;
        }
        let canon = canonical_header_name(name);
        if reserved.iter().any(|r| r.eq_ignore_ascii_case(&canon)) {
            errors.push(ConfigError::Invalid {
                origin: origin.to_string(),
                value: Some(canon.clone()),
                problem: "this control-plane header is set by tunnel-client itself and cannot be overridden".into(),
                fix: format!("remove {canon} from the extra headers"),
            });
            continue;
        }
        let raw_value = raw_value.trim();
        let resolved = match parse_ref(raw_value, true) {
            Ref::Literal(v) => Ok((v.to_string(), SecretOrigin::Literal(origin.to_string()))),
            Ref::Env(n) => {
                read_env_ref(env, n, true).map(|v| (v, SecretOrigin::Env(n.to_string())))
            }
            Ref::File(p) => read_file_ref(files, p, FileTrim::OneLineEnding)
                .map(|v| (v, SecretOrigin::File(p.trim().into()))),
        };
        let (value, src) = match resolved {
            Ok(x) => x,
            Err(p) => {
                errors.push(at(p));
                continue;
            }
        };
        if value.is_empty() {
            errors.push(at(problem(
                "the header value is empty",
                "give the header a value",
            )));
            continue;
        }
        if value
            .chars()
            .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
        {
            errors.push(at(problem(
                "the header value contains control characters (CR/LF or similar)",
                "remove line breaks and control characters from the value",
            )));
            continue;
        }
        if let Some((prev, prev_val)) = out.iter().find(|(h, _)| h.name == canon) {
            if *prev_val != value {
                errors.push(ConfigError::Invalid {
                    origin: origin.to_string(),
                    value: Some(prev.name.clone()),
                    problem: "the header is given twice with different values".into(),
                    fix: "keep one value per header name".into(),
                });
            }
            continue;
        }
        out.push((
            Header {
                name: canon,
                value: Secret::new(value.clone(), src),
            },
            value,
        ));
    }
    if errors.is_empty() {
        Ok(out.into_iter().map(|(h, _)| h).collect())
    } else {
        Err(errors)
    }
}
