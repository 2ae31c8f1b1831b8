//! Declarative flags for the onboarding commands (`init`, `profiles …`, `admin …`,
//! `completion`). One [`Spec`] per command drives parsing, `--help` and shell completion.
//! (`run`/`doctor` flags come from the settings table in `config`.)
//!
//! Accepted forms: `--name value`, `--name=value`, bare `--flag` / `--flag=false` for
//! booleans, `--` to end flags, `-h`/`--help` anywhere before `--`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::args::CliError;

/// How many values a flag takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// A boolean: `--flag`, `--flag=true|false`.
    Bool,
    /// One value; the last occurrence wins.
    One,
    /// Repeatable; each occurrence may also hold a comma-separated list.
    Many,
}

/// One flag.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    /// Long name without dashes.
    pub name: &'static str,
    /// Other spellings accepted for the same flag (without dashes), e.g. the dotted form.
    pub aliases: &'static [&'static str],
    pub arity: Arity,
    /// Value placeholder for help (`URL`, `NAME`, …); empty for booleans.
    pub value: &'static str,
    pub help: &'static str,
}

impl Opt {
    pub const fn flag(name: &'static str, help: &'static str) -> Opt {
        Opt {
            name,
            aliases: &[],
            arity: Arity::Bool,
            value: "",
            help,
        }
    }
    pub const fn one(name: &'static str, value: &'static str, help: &'static str) -> Opt {
        Opt {
            name,
            aliases: &[],
            arity: Arity::One,
            value,
            help,
        }
    }
    pub const fn many(name: &'static str, value: &'static str, help: &'static str) -> Opt {
        Opt {
            name,
            aliases: &[],
            arity: Arity::Many,
            value,
            help,
        }
    }
    pub const fn alias(mut self, a: &'static [&'static str]) -> Opt {
        self.aliases = a;
        self
    }
}

/// A command's flags and help.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Command path as typed (`profiles add`).
    pub cmd: &'static str,
    /// Positional arguments for the usage line (`<name>`), empty for none.
    pub args: &'static str,
    /// What the command does, one or more lines.
    pub about: &'static str,
    pub opts: &'static [Opt],
}

/// Parsed command line.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    values: BTreeMap<&'static str, Vec<String>>,
    pub positionals: Vec<String>,
    pub help: bool,
}

impl Parsed {
    /// The last value given for a flag.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value given for a flag, comma lists split, trimmed, blanks dropped.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values
            .get(name)
            .map(|v| {
                v.iter()
                    .flat_map(|x| x.split(','))
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a boolean flag is on.
    pub fn on(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "true")
    }

    /// Whether the flag was given at all.
    pub fn given(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

/// The closest of `known` to `word`, if it looks like a typo of it.
pub fn closest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let known: Vec<&'a str> = known.into_iter().collect();
    let prefixed: Vec<&'a str> = known
        .iter()
        .copied()
        .filter(|k| word.len() >= 3 && k.starts_with(word))
        .collect();
    if let [only] = prefixed.as_slice() {
        return Some(only);
    }
    known
        .into_iter()
        .map(|k| (crate::config::edit_distance(word, k), k))
        .min()
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .map(|(_, k)| k)
}

fn bool_value(v: &str) -> Option<bool> {
    crate::config::parse_go_bool(v)
}

/// Parses `args` against `spec`. Positionals are returned in order; the caller checks
/// their number.
pub fn parse(spec: &Spec, args: &[String]) -> Result<Parsed, CliError> {
    let mut out = Parsed::default();
    let mut it = args.iter();
    let usage = |m: String| CliError::Usage(format!("{}: {m}", spec.cmd));
    while let Some(arg) = it.next() {
        if arg == "--" {
            out.positionals.extend(it.by_ref().cloned());
            break;
        }
        if arg == "-h" || arg == "--help" {
            out.help = true;
            continue;
        }
        let Some(body) = arg.strip_prefix("--") else {
            if arg.starts_with('-') && arg.len() > 1 {
                return Err(usage(format!(
                    "unknown flag {arg}; flags are spelled --name (see `tunnel-client {} --help`)",
                    spec.cmd
                )));
            }
            out.positionals.push(arg.clone());
            continue;
        };
        let (name, attached) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(opt) = spec
            .opts
            .iter()
            .find(|o| o.name == name || o.aliases.contains(&name))
        else {
            let hint = closest(name, spec.opts.iter().map(|o| o.name))
                .map(|s| format!("did you mean --{s}? "))
                .unwrap_or_default();
            return Err(usage(format!(
                "unknown flag --{name}; {hint}(see `tunnel-client {} --help`)",
                spec.cmd
            )));
        };
        let value = match opt.arity {
            Arity::Bool => match attached {
                None => "true".to_string(),
                Some(v) => match bool_value(&v) {
                    Some(b) => b.to_string(),
                    None => {
                        return Err(usage(format!(
                            "--{name}={v}: not a boolean; write --{name} or --{name}=false"
                        )))
                    }
                },
            },
            _ => match attached {
                Some(v) => v,
                None => it.next().cloned().ok_or_else(|| {
                    usage(format!(
                        "--{name} needs a value; write --{name} {} or --{name}={}",
                        opt.value, opt.value
                    ))
                })?,
            },
        };
        let slot = out.values.entry(opt.name).or_default();
        if opt.arity != Arity::Many {
            slot.clear();
        }
        slot.push(value);
    }
    Ok(out)
}

/// `--help` text of a command.
pub fn help(spec: &Spec) -> String {
    let mut out = format!("Usage: tunnel-client {}", spec.cmd);
    if !spec.opts.is_empty() {
        out.push_str(" [flags]");
    }
    if !spec.args.is_empty() {
        let _ = write!(out, " {}", spec.args);
    }
    let _ = write!(out, "\n\n{}\n", spec.about.trim_end());
    if !spec.opts.is_empty() {
        out.push_str("\nFlags:\n");
        for o in spec.opts {
            let v = if o.value.is_empty() {
                String::new()
            } else {
                format!(" {}", o.value)
            };
            let _ = writeln!(out, "  --{}{v}", o.name);
            let mut h = o.help.to_string();
            if o.arity == Arity::Many {
                h.push_str(" (repeatable or comma-separated)");
            }
            let _ = writeln!(out, "      {h}");
        }
    }
    out.push_str("  -h, --help\n      print this help\n");
    out
}

/// The flags of a spec as typed (`--name`), aliases included, for completion.
pub fn flag_words(spec: &Spec) -> Vec<String> {
    let mut v: Vec<String> = spec
        .opts
        .iter()
        .flat_map(|o| std::iter::once(o.name).chain(o.aliases.iter().copied()))
        .map(|n| format!("--{n}"))
        .collect();
    v.push("--help".into());
    v
}

/// Fails unless exactly `n` positionals were given, naming what was expected.
pub fn expect_positionals(spec: &Spec, positionals: &[String], n: usize) -> Result<(), CliError> {
    if positionals.len() == n {
        return Ok(());
    }
    let what = if spec.args.is_empty() {
        "no arguments".to_string()
    } else {
        spec.args.to_string()
    };
    Err(CliError::Usage(format!(
        "{}: expected {what}, got {}; usage: tunnel-client {} [flags] {}",
        spec.cmd,
        if positionals.is_empty() {
            "none".to_string()
        } else {
            positionals
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(" ")
        },
        spec.cmd,
        spec.args
    )))
}

/// Ends the process with `code` after flushing stdout: for exit codes other than 0 and 1
/// whose message is already printed (doctor's 2), and for errors already reported as JSON
/// on stdout (`admin --json`), where nothing may go to stderr.
pub fn exit_now(code: i32) -> ! {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        cmd: "t",
        args: "<name>",
        about: "test",
        opts: &[
            Opt::flag("force", "overwrite"),
            Opt::one("tunnel-id", "ID", "tunnel").alias(&["control-plane.tunnel-id"]),
            Opt::many("organization-id", "ID", "orgs"),
        ],
    };

    fn a(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_forms_and_suggests() {
        let p = parse(
            &SPEC,
            &a(&[
                "n",
                "--force=false",
                "--control-plane.tunnel-id=x",
                "--organization-id",
                "a, b",
                "--organization-id=c",
                "--",
                "--raw",
            ]),
        )
        .unwrap();
        assert_eq!(p.positionals, ["n", "--raw"]);
        assert!(!p.on("force") && p.given("force"));
        assert_eq!(p.get("tunnel-id"), Some("x"));
        assert_eq!(p.all("organization-id"), ["a", "b", "c"]);
        let e = parse(&SPEC, &a(&["--tunel-id", "x"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean --tunnel-id"), "{e}");
        let e = parse(&SPEC, &a(&["--tunnel-id"])).unwrap_err().to_string();
        assert!(e.contains("needs a value"), "{e}");
        assert!(help(&SPEC).contains("--organization-id ID"));
    }
}
