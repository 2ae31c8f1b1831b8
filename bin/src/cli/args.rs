//! A tiny flag reader for the dev commands (the `run`/`doctor` surface is driven by the
//! settings table in `config`).

use std::fmt;

/// A command-line mistake, with the fix in the message.
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Io(String),
    Config(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Io(m) | CliError::Config(m) => f.write_str(m),
        }
    }
}

pub struct Args<'a> {
    cmd: &'static str,
    rest: std::slice::Iter<'a, String>,
    pending: Option<String>,
}

impl<'a> Args<'a> {
    pub fn new(cmd: &'static str, args: &'a [String]) -> Self {
        Args {
            cmd,
            rest: args.iter(),
            pending: None,
        }
    }

    /// The next `--flag` (with `--flag=value` split), without the dashes.
    pub fn next_flag(&mut self) -> Result<Option<String>, CliError> {
        let Some(arg) = self.rest.next() else {
            return Ok(None);
        };
        let Some(name) = arg.strip_prefix("--") else {
            return Err(CliError::Usage(format!(
                "{}: unexpected argument {arg:?}; flags look like --name value",
                self.cmd
            )));
        };
        match name.split_once('=') {
            Some((n, v)) => {
                self.pending = Some(v.to_string());
                Ok(Some(n.to_string()))
            }
            None => Ok(Some(name.to_string())),
        }
    }

    pub fn value(&mut self, flag: &str) -> Result<String, CliError> {
        if let Some(v) = self.pending.take() {
            return Ok(v);
        }
        self.rest
            .next()
            .cloned()
            .ok_or_else(|| CliError::Usage(format!("{}: --{flag} needs a value", self.cmd)))
    }

    /// A boolean flag: `--flag` is true, `--flag=true|false` says which.
    pub fn switch(&mut self, flag: &str) -> Result<bool, CliError> {
        match self.pending.take().as_deref() {
            None => Ok(true),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(v) => Err(CliError::Usage(format!(
                "{}: --{flag}={v}: use true or false",
                self.cmd
            ))),
        }
    }

    pub fn value_parsed<T: std::str::FromStr>(&mut self, flag: &str) -> Result<T, CliError>
    where
        T::Err: fmt::Display,
    {
        let v = self.value(flag)?;
        v.parse()
            .map_err(|e| CliError::Usage(format!("{}: --{flag} {v:?}: {e}", self.cmd)))
    }

    pub fn unknown(&self, flag: &str, known: &[&str]) -> CliError {
        let list: Vec<String> = known.iter().map(|k| format!("--{k}")).collect();
        CliError::Usage(format!(
            "{}: unknown flag --{flag}; known flags: {}",
            self.cmd,
            list.join(", ")
        ))
    }
}
