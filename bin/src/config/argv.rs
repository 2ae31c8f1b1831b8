//! Command-line parsing driven by the settings table.
//!
//! lexopt (0.3, +19 KB, no dependencies) does the tokenising (`--flag value`,
//! `--flag=value`, `--`), the table decides what each flag means. clap's builder would also
//! work but costs ~+220 KB and its help/env rendering would have to be bent to the Go
//! surface (hidden aliases that lose to the canonical flag, bools that take `=false`).

use std::collections::BTreeMap;

use super::error::ConfigError;
use super::grammar::parse_go_bool;
use super::table::{Command, Kind, Setting, SETTINGS};

/// The flags actually given on the command line ("Changed" in Go terms).
#[derive(Debug, Default, Clone)]
pub struct FlagValues {
    /// Setting name → values given with the canonical flag, in order.
    pub canonical: BTreeMap<&'static str, Vec<String>>,
    /// Setting name → values given with the hidden dash alias, in order.
    pub alias: BTreeMap<&'static str, Vec<String>>,
}

impl FlagValues {
    /// The values that count for a setting: the canonical flag's, else the alias's.
    /// Returns the flag as typed and its values.
    pub fn get(&self, s: &Setting) -> Option<(&'static str, &[String])> {
        if let Some(v) = self.canonical.get(s.name()) {
            return Some((s.flag, v));
        }
        let a = s.alias?;
        self.alias.get(s.name()).map(|v| (a, v.as_slice()))
    }

    /// Whether the setting's flag (or alias) was given.
    pub fn given(&self, s: &Setting) -> bool {
        self.get(s).is_some()
    }
}

/// Whether `--help` / `-h` appears before any `--`.
pub fn wants_help(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| a.as_str() != "--")
        .any(|a| a == "--help" || a == "-h")
}

fn lookup(name: &str) -> Option<(&'static Setting, bool)> {
    SETTINGS.iter().find_map(|s| {
        if s.name() == name {
            Some((s, false))
        } else if s.alias.map(|a| &a[2..]) == Some(name) {
            Some((s, true))
        } else {
            None
        }
    })
}

/// Levenshtein distance (in characters), for "did you mean" hints; the onboarding
/// commands' flag parser (`cli::opts`) uses it too.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest known flag of `cmd`, if it is close enough to be a typo.
pub fn suggest(name: &str, cmd: Command) -> Option<String> {
    SETTINGS
        .iter()
        .filter(|s| s.applies_to(cmd))
        .map(|s| (edit_distance(name, s.name()), s.flag))
        .min()
        .filter(|(d, _)| *d <= 3.max(name.len() / 4))
        .map(|(_, f)| f.to_string())
}

/// Parses `args` (without the program name and the sub-command word).
pub fn parse_args(cmd: Command, args: &[String]) -> Result<FlagValues, Vec<ConfigError>> {
    let mut out = FlagValues::default();
    let mut errors = Vec::new();
    let mut p = lexopt::Parser::from_args(args.iter().cloned());
    loop {
        let arg = match p.next() {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(e) => {
                errors.push(ConfigError::UnexpectedArgument { arg: e.to_string() });
                break;
            }
        };
        match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => {}
            lexopt::Arg::Short(c) => errors.push(ConfigError::UnknownFlag {
                flag: format!("-{c}"),
                suggestion: None,
            }),
            lexopt::Arg::Value(v) => errors.push(ConfigError::UnexpectedArgument {
                arg: v.to_string_lossy().into_owned(),
            }),
            lexopt::Arg::Long(name) => {
                let name = name.to_string();
                let Some((s, is_alias)) = lookup(&name) else {
                    let _ = p.optional_value();
                    errors.push(ConfigError::UnknownFlag {
                        suggestion: suggest(&name, cmd),
                        flag: format!("--{name}"),
                    });
                    continue;
                };
                let typed = if is_alias {
                    s.alias.unwrap_or(s.flag)
                } else {
                    s.flag
                };
                let attached = p.optional_value().map(|v| v.to_string_lossy().into_owned());
                let value = if s.kind == Kind::Bool {
                    match attached {
                        None => "true".to_string(),
                        Some(v) => {
                            if parse_go_bool(&v).is_none() {
                                errors.push(ConfigError::Invalid {
                                    origin: typed.to_string(),
                                    value: Some(v),
                                    problem: "not a boolean".into(),
                                    fix: format!("use {typed} or {typed}=false"),
                                });
                                continue;
                            }
                            v
                        }
                    }
                } else {
                    match attached {
                        Some(v) => v,
                        None => match p.value() {
                            Ok(v) => v.to_string_lossy().into_owned(),
                            Err(_) => {
                                errors.push(ConfigError::MissingFlagValue {
                                    flag: typed.to_string(),
                                });
                                continue;
                            }
                        },
                    }
                };
                if !s.applies_to(cmd) {
                    errors.push(ConfigError::NotForCommand {
                        flag: typed.to_string(),
                        command: cmd,
                    });
                    continue;
                }
                let map = if is_alias {
                    &mut out.alias
                } else {
                    &mut out.canonical
                };
                let slot = map.entry(s.name()).or_default();
                let repeatable = matches!(
                    s.kind,
                    Kind::List(_)
                        | Kind::Headers
                        | Kind::McpServerUrls
                        | Kind::McpCommands
                        | Kind::HarpoonTargets
                );
                if !repeatable {
                    // Go's scalar flags: the last occurrence wins.
                    slot.clear();
                }
                slot.push(value);
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
