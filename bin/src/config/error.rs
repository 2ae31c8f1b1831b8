//! Operator-facing configuration errors: each names the flag, env var or YAML key, the bad
//! value (unless secret) and the fix.

use std::fmt;

use super::table::Command;

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A value failed validation. `origin` names where it came from (`--flag`,
    /// `env FOO`, `YAML key a.b in /path`); `value` is `None` for secrets.
    Invalid {
        origin: String,
        value: Option<String>,
        problem: String,
        fix: String,
    },
    /// A required setting is missing. Rendered as `<what> is required; <fix>` (the Go
    /// prefixes `tunnel ID is required`, `main channel is required` and
    /// `control plane API key is required` are kept: `doctor` maps them to check ids).
    Missing { what: String, fix: String },
    /// Two settings that cannot be combined.
    Conflict {
        first: String,
        second: String,
        fix: String,
    },
    /// A flag not in the settings table.
    UnknownFlag {
        flag: String,
        suggestion: Option<String>,
    },
    /// A flag that needs a value got none.
    MissingFlagValue { flag: String },
    /// A positional argument where none is accepted.
    UnexpectedArgument { arg: String },
    /// A flag of another command.
    NotForCommand { flag: String, command: Command },
    /// The YAML file could not be parsed or has the wrong shape.
    Yaml { file: String, message: String },
    /// The selected config file could not be read.
    ReadFile { path: String, message: String },
    /// A setting of a feature that is not built yet was set to a non-default value.
    NotSupportedYet { name: String, origin: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid {
                origin,
                value: Some(v),
                problem,
                fix,
            } => write!(f, "invalid value {v:?} for {origin}: {problem}; fix: {fix}"),
            ConfigError::Invalid {
                origin,
                value: None,
                problem,
                fix,
            } => write!(f, "invalid value for {origin} (secret, not shown): {problem}; fix: {fix}"),
            ConfigError::Missing { what, fix } => write!(f, "{what} is required; {fix}"),
            ConfigError::Conflict { first, second, fix } => {
                write!(f, "{first} and {second} are mutually exclusive; {fix}")
            }
            ConfigError::UnknownFlag {
                flag,
                suggestion: Some(s),
            } => write!(f, "unknown flag {flag}; did you mean {s}? (see --help)"),
            ConfigError::UnknownFlag {
                flag,
                suggestion: None,
            } => write!(f, "unknown flag {flag}; see --help for the list of flags"),
            ConfigError::MissingFlagValue { flag } => {
                write!(f, "flag {flag} needs a value; write {flag}=VALUE or {flag} VALUE")
            }
            ConfigError::UnexpectedArgument { arg } => write!(
                f,
                "unexpected argument {arg:?}; this command takes only flags (did you forget a flag name or `=`?)"
            ),
            ConfigError::NotForCommand { flag, command } => write!(
                f,
                "flag {flag} is not accepted by `{}`; remove it (see `tunnel-client {} --help`)",
                command.as_str(),
                command.as_str()
            ),
            ConfigError::Yaml { file, message } => {
                write!(f, "config file {file}: {message}")
            }
            ConfigError::ReadFile { path, message } => write!(
                f,
                "read config file {path}: {message}; fix: check the path given by --config/--profile/--profile-file (or their env vars)"
            ),
            ConfigError::NotSupportedYet { name, origin } => write!(
                f,
                "`{name}` is not supported yet (set by {origin}); remove it to run this version of tunnel-client"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found, in the order the Go client validates (the first is what Go would
/// have reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The first error (Go reports only this one).
    pub fn first(&self) -> Option<&ConfigError> {
        self.0.first()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// A problem with a value, before the caller knows which setting it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub problem: String,
    pub fix: String,
}

pub(crate) fn problem(p: impl Into<String>, fix: impl Into<String>) -> Problem {
    Problem {
        problem: p.into(),
        fix: fix.into(),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; fix: {}", self.problem, self.fix)
    }
}

impl Problem {
    /// Attaches the origin and (unless secret) the value.
    pub(crate) fn at(self, origin: impl Into<String>, value: Option<&str>) -> ConfigError {
        ConfigError::Invalid {
            origin: origin.into(),
            value: value.map(str::to_string),
            problem: self.problem,
            fix: self.fix,
        }
    }
}
