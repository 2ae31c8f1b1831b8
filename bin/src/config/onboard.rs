//! What the onboarding commands (`init`, `profiles`, `doctor`) need from the settings layer,
//! built on the same table, selection rules and validator as `run` — never a second parser.
//!
//! * [`profile_dir`]: the named-profile directory (go-cli-config.md §2.5).
//! * [`parse_flags`] / [`select_source`]: the two first steps of a load, separately, so
//!   `doctor` can report a source-selection problem as its own check.
//! * [`check_profile`]: validates a profile's text *without* resolving its secrets. Go's
//!   `init`/`profiles add|edit` only check syntax; this runs the full validator (tunnel-id
//!   format, URLs, ranges, headers, entries) with an empty environment and turns what only
//!   the runtime environment can supply (a referenced env var, a referenced file, a tunnel
//!   id or key given by env at run time) into [`Deferred`] notes instead of errors.

use std::path::{Path, PathBuf};

use super::argv::{parse_args, FlagValues};
use super::error::{ConfigError, ConfigErrors};
use super::model::ConfigSource;
use super::secret::{parse_ref, Ref};
use super::table::Command;
use super::{select, validate, Env, Files, RealFiles};

pub use super::grammar::{check_host_port, check_url, valid_profile_name};

/// `^[A-Za-z_][A-Za-z0-9_]*$`: a name `env:NAME` may reference.
pub fn valid_env_name(name: &str) -> bool {
    super::secret::valid_env_name(name)
}

fn flags_with(pairs: &[(&'static str, &str)]) -> FlagValues {
    let mut f = FlagValues::default();
    for (name, v) in pairs {
        f.canonical.insert(name, vec![(*v).to_string()]);
    }
    f
}

/// The directory named profiles live in: `--profile-dir` (when `flag` is given) →
/// `TUNNEL_CLIENT_PROFILE_DIR` → `$XDG_CONFIG_HOME/tunnel-client` →
/// `$HOME/.config/tunnel-client`; `~` is expanded with `HOME`.
pub fn profile_dir(flag: Option<&str>, env: &dyn Env) -> Result<PathBuf, ConfigError> {
    let mut pairs = vec![("profile", "x")];
    if let Some(d) = flag {
        pairs.push(("profile-dir", d));
    }
    let sel = select::select(&flags_with(&pairs), env)?;
    match sel.source {
        ConfigSource::Profile { path, .. } => {
            Ok(path.parent().map(Path::to_path_buf).unwrap_or_default())
        }
        _ => Err(ConfigError::Missing {
            what: "a profile directory".into(),
            fix: "set --profile-dir or TUNNEL_CLIENT_PROFILE_DIR".into(),
        }),
    }
}

/// Parses `cmd`'s flags (step one of [`super::load`]); unknown flags and missing values
/// are errors here.
pub fn parse_flags(cmd: Command, args: &[String]) -> Result<FlagValues, ConfigErrors> {
    parse_args(cmd, args).map_err(ConfigErrors)
}

/// Which file `flags` and `env` select (step two of [`super::load`]).
pub fn select_source(flags: &FlagValues, env: &dyn Env) -> Result<ConfigSource, ConfigError> {
    select::select(flags, env).map(|s| s.source)
}

/// Something a profile leaves to the runtime environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferred {
    /// An `env:NAME` reference: `NAME` must be exported where `run` starts.
    EnvVar(String),
    /// A `file:/path` reference (or a path) that cannot be read here.
    File(String),
    /// A required setting the profile does not contain (tunnel ID, API key, main channel);
    /// `fix` says how to give it at run time.
    Setting { what: String, fix: String },
}

impl std::fmt::Display for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Deferred::EnvVar(n) => write!(
                f,
                "the profile reads env var {n}; export {n} before `doctor`/`run`"
            ),
            Deferred::File(p) => write!(
                f,
                "the profile reads file {p}, which cannot be read here; create it before `run`"
            ),
            Deferred::Setting { what, fix } => {
                write!(f, "the profile does not set the {what}; {fix}")
            }
        }
    }
}

/// The outcome of [`check_profile`] when nothing is wrong with the text itself.
#[derive(Debug, Clone, Default)]
pub struct ProfileCheck {
    /// Non-fatal findings: unknown keys, literal secrets, settings `run` cannot use yet.
    pub warnings: Vec<String>,
    /// What the runtime environment has to supply.
    pub deferred: Vec<Deferred>,
}

struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// The profile text under its (maybe not yet written) path; every other file is real.
struct Overlay<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Files for Overlay<'_> {
    fn read_to_string(&self, p: &Path) -> std::io::Result<String> {
        if p == self.path {
            Ok(self.text.to_string())
        } else {
            RealFiles.read_to_string(p)
        }
    }
}

const RUNTIME_SUPPLIED: [&str; 3] = ["tunnel ID", "control plane API key", "main channel"];

fn deferred(e: &ConfigError) -> Option<Deferred> {
    match e {
        ConfigError::Missing { what, fix } if RUNTIME_SUPPLIED.contains(&what.as_str()) => {
            Some(Deferred::Setting {
                what: what.clone(),
                fix: fix.clone(),
            })
        }
        ConfigError::Invalid { problem, .. } => {
            if let Some(name) = problem
                .strip_prefix("referenced env var ")
                .and_then(|r| r.strip_suffix(" is not set"))
            {
                return Some(Deferred::EnvVar(name.to_string()));
            }
            problem
                .strip_prefix("cannot read referenced file ")
                .and_then(|r| r.split(": ").next())
                .map(|p| Deferred::File(p.to_string()))
        }
        _ => None,
    }
}

/// A literal `control_plane.api_key` (anything but an `env:`/`file:` reference).
fn literal_api_key(text: &str) -> bool {
    let Ok(v) = yaml_serde::from_str::<yaml_serde::Value>(text) else {
        return false;
    };
    let key = v
        .get("control_plane")
        .and_then(|c| c.get("api_key"))
        .and_then(|k| k.as_str());
    matches!(key.map(|k| parse_ref(k.trim(), true)), Some(Ref::Literal(l)) if !l.is_empty())
}

/// Validates a profile's text as `run --config <path>` would, with an empty environment
/// and without failing on what only the runtime environment provides (see [`Deferred`]).
/// `path` is where the text is (or will be) stored; it only names the file in messages.
pub fn check_profile(text: &str, path: &Path) -> Result<ProfileCheck, ConfigErrors> {
    let shown = path.display().to_string();
    let flags = flags_with(&[("config", &shown)]);
    let files = Overlay { path, text };
    let mut out = ProfileCheck::default();
    match validate::load_with_flags(Command::Doctor, &flags, &NoEnv, &files) {
        Ok(l) => {
            out.warnings.extend(l.warnings.iter().cloned());
            for e in super::unsupported_in_use(&l) {
                out.warnings
                    .push(format!("{e} (the profile is kept, but `run` refuses it)"));
            }
        }
        Err(ConfigErrors(errors)) => {
            let mut hard = Vec::new();
            for e in errors {
                match deferred(&e) {
                    Some(d) if !out.deferred.contains(&d) => out.deferred.push(d),
                    Some(_) => {}
                    None => hard.push(e),
                }
            }
            if !hard.is_empty() {
                return Err(ConfigErrors(hard));
            }
        }
    }
    if literal_api_key(text) {
        out.warnings.push(format!(
            "{shown}: control_plane.api_key holds a literal key; anyone who can read the file can use the tunnel. Write control_plane.api_key: \"env:CONTROL_PLANE_API_KEY\" (or file:/path) instead"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const TID: &str = "tunnel_0123456789abcdef0123456789abcdef";

    #[test]
    fn references_and_runtime_settings_are_deferred_not_errors() {
        let text = format!(
            "config_version: 1\ncontrol_plane:\n  tunnel_id: {TID}\n  api_key: env:MY_KEY\nmcp:\n  server_urls:\n    - url: http://127.0.0.1:3001/mcp\n"
        );
        let c = check_profile(&text, Path::new("/nonexistent/p.yaml")).unwrap();
        assert_eq!(c.deferred, vec![Deferred::EnvVar("MY_KEY".into())]);
        let c = check_profile("config_version: 1\n", Path::new("/x/empty.yaml")).unwrap();
        assert!(c
            .deferred
            .iter()
            .any(|d| matches!(d, Deferred::Setting { what, .. } if what == "tunnel ID")));
    }

    #[test]
    fn real_mistakes_are_errors_naming_the_key() {
        let text = "control_plane:\n  tunnel_id: tunnel_NOPE\n  poll_timeout: 5parsecs\n";
        let e = check_profile(text, Path::new("/x/p.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("control_plane.tunnel_id"), "{e}");
        assert!(e.contains("control_plane.poll_timeout"), "{e}");
        let e = check_profile("control_plane: [1]\n", Path::new("/x/p.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("control_plane"), "{e}");
    }

    #[test]
    fn literal_keys_warn() {
        let text = format!("control_plane:\n  tunnel_id: {TID}\n  api_key: sk-abc\nmcp:\n  commands:\n    - command: cat\n");
        let c = check_profile(&text, Path::new("/x/p.yaml")).unwrap();
        assert!(
            c.warnings.iter().any(|w| w.contains("literal key")),
            "{:?}",
            c.warnings
        );
        assert!(!c.warnings.iter().any(|w| w.contains("sk-abc")));
    }

    #[test]
    fn profile_dir_follows_the_lookup_order() {
        let env: BTreeMap<String, String> = [("HOME".to_string(), "/home/u".to_string())].into();
        assert_eq!(
            profile_dir(None, &env).unwrap(),
            PathBuf::from("/home/u/.config/tunnel-client")
        );
        assert_eq!(
            profile_dir(Some("~/p"), &env).unwrap(),
            PathBuf::from("/home/u/p")
        );
        assert!(profile_dir(Some(" "), &env).is_err());
    }
}
