//! Secrets and `env:` / `file:` references.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::{problem, Problem};
use super::{Env, Files};

/// Where a secret's value came from. The reference text is safe to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretOrigin {
    /// A literal value, given directly in the named place (an env var, a YAML key, a header
    /// flag). Never shown.
    Literal(String),
    /// `env:VAR`.
    Env(String),
    /// `file:/path` (the file's contents are the secret).
    File(PathBuf),
}

impl fmt::Display for SecretOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretOrigin::Literal(place) => write!(f, "literal from {place}"),
            SecretOrigin::Env(v) => write!(f, "env:{v}"),
            SecretOrigin::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// A secret value. It has no `Display`, its `Debug` prints `Secret(<redacted>)`, and the
/// value is reachable only through [`Secret::expose`].
#[derive(Clone)]
pub struct Secret {
    value: String,
    origin: SecretOrigin,
}

impl Secret {
    /// Wraps a resolved secret value.
    pub fn new(value: impl Into<String>, origin: SecretOrigin) -> Self {
        Secret {
            value: value.into(),
            origin,
        }
    }

    /// The secret value. Call this only where the value is sent (a request header).
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where the value came from (safe to show).
    pub fn origin(&self) -> &SecretOrigin {
        &self.origin
    }

    /// Safe description: the reference text (`env:VAR`, `file:/p`) or `<redacted literal>`.
    pub fn describe(&self) -> String {
        match &self.origin {
            SecretOrigin::Literal(place) => format!("<redacted, literal from {place}>"),
            other => other.to_string(),
        }
    }
}

impl Default for Secret {
    /// An empty placeholder; a loaded configuration never contains one.
    fn default() -> Self {
        Secret::new("", SecretOrigin::Literal("unset".into()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A parsed value that may be a reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ref<'a> {
    Env(&'a str),
    File(&'a str),
    Literal(&'a str),
}

/// Splits `env:X` / `file:X`; `ci` makes the prefix case-insensitive.
pub(crate) fn parse_ref(s: &str, ci: bool) -> Ref<'_> {
    let has = |p: &str| {
        s.len() >= p.len()
            && if ci {
                s[..p.len()].eq_ignore_ascii_case(p)
            } else {
                s.starts_with(p)
            }
    };
    // `s.len() >= p.len()` plus ASCII prefixes keep the slicing on char boundaries only when
    // the prefix bytes are ASCII; check that explicitly.
    if s.is_char_boundary(4) && has("env:") {
        Ref::Env(&s[4..])
    } else if s.is_char_boundary(5) && has("file:") {
        Ref::File(&s[5..])
    } else {
        Ref::Literal(s)
    }
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`
pub(crate) fn valid_env_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch.is_ascii_alphabetic())
        && c.all(|ch| ch == '_' || ch.is_ascii_alphanumeric())
}

/// Reads `env:VAR`; `trim` trims the value. The variable must be set and non-empty.
pub(crate) fn read_env_ref(env: &dyn Env, name: &str, trim: bool) -> Result<String, Problem> {
    if !valid_env_name(name) {
        return Err(problem(
            format!("env: reference names an invalid variable {name:?}"),
            "use env:NAME with NAME matching [A-Za-z_][A-Za-z0-9_]*",
        ));
    }
    match env.var(name) {
        None => Err(problem(
            format!("referenced env var {name} is not set"),
            format!("export {name}"),
        )),
        Some(v) => {
            let v = if trim { v.trim().to_string() } else { v };
            if v.is_empty() {
                Err(problem(
                    format!("referenced env var {name} is empty"),
                    format!("give {name} a value"),
                ))
            } else {
                Ok(v)
            }
        }
    }
}

/// How much of a `file:` secret's trailing whitespace is removed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileTrim {
    /// Trim all surrounding whitespace.
    All,
    /// Remove one trailing line ending only (header values).
    OneLineEnding,
}

/// Reads `file:/path`. The result must be non-empty.
pub(crate) fn read_file_ref(
    files: &dyn Files,
    path: &str,
    trim: FileTrim,
) -> Result<String, Problem> {
    let path = path.trim();
    if path.is_empty() {
        return Err(problem(
            "file: reference has no path",
            "write file:/absolute/path",
        ));
    }
    let raw = files.read_to_string(Path::new(path)).map_err(|e| {
        problem(
            format!("cannot read referenced file {path}: {e}"),
            "check the path and its permissions",
        )
    })?;
    let v = match trim {
        FileTrim::All => raw.trim().to_string(),
        FileTrim::OneLineEnding => {
            let s = raw.strip_suffix('\n').unwrap_or(&raw);
            s.strip_suffix('\r').unwrap_or(s).to_string()
        }
    };
    if v.is_empty() {
        return Err(problem(
            format!("referenced file {path} is empty"),
            "put the value in the file",
        ));
    }
    Ok(v)
}
