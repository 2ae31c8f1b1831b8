//! Choosing the YAML file (go-cli-config.md §2.5): `--config` / `--profile` /
//! `--profile-file` (flags beat env; pairwise exclusive), named-profile directory lookup.

use std::path::PathBuf;

use super::argv::FlagValues;
use super::error::{problem, ConfigError};
use super::grammar::valid_profile_name;
use super::model::ConfigSource;
use super::table::setting;
use super::{Env, Source};

/// The chosen file and the sources of the four selection settings.
pub(crate) struct Selection {
    pub source: ConfigSource,
    pub sources: Vec<(&'static str, Source)>,
}

fn expand_tilde(p: &str, env: &dyn Env, origin: &str) -> Result<PathBuf, ConfigError> {
    if p != "~" && !p.starts_with("~/") {
        return Ok(PathBuf::from(p));
    }
    let home = env.var("HOME").filter(|h| !h.is_empty()).ok_or_else(|| {
        problem(
            "~ cannot be expanded because HOME is not set",
            "set HOME or give an absolute path",
        )
        .at(origin, Some(p))
    })?;
    Ok(if p == "~" {
        PathBuf::from(home)
    } else {
        PathBuf::from(home).join(&p[2..])
    })
}

fn profile_dir(
    flags: &FlagValues,
    env: &dyn Env,
    sources: &mut Vec<(&'static str, Source)>,
) -> Result<PathBuf, ConfigError> {
    let s = setting("profile-dir").expect("table has profile-dir");
    if let Some((typed, v)) = flags.get(s) {
        let v = v.last().map(String::as_str).unwrap_or("");
        if v.trim().is_empty() {
            return Err(problem(
                "the profile directory is empty",
                "give --profile-dir a directory or drop the flag",
            )
            .at(typed, Some(v)));
        }
        sources.push(("profile-dir", Source::Flag(typed)));
        return expand_tilde(v.trim(), env, typed);
    }
    if let Some(v) = env
        .var("TUNNEL_CLIENT_PROFILE_DIR")
        .filter(|v| !v.trim().is_empty())
    {
        sources.push(("profile-dir", Source::Env("TUNNEL_CLIENT_PROFILE_DIR")));
        return expand_tilde(v.trim(), env, "env var TUNNEL_CLIENT_PROFILE_DIR");
    }
    if let Some(x) = env.var("XDG_CONFIG_HOME").filter(|v| !v.trim().is_empty()) {
        return Ok(PathBuf::from(x.trim()).join("tunnel-client"));
    }
    if let Some(h) = env.var("HOME").filter(|v| !v.trim().is_empty()) {
        return Ok(PathBuf::from(h.trim())
            .join(".config")
            .join("tunnel-client"));
    }
    Err(ConfigError::Missing {
        what: "a profile directory".into(),
        fix: "set --profile-dir, TUNNEL_CLIENT_PROFILE_DIR, XDG_CONFIG_HOME or HOME".into(),
    })
}

/// Applies §2.5.
pub(crate) fn select(flags: &FlagValues, env: &dyn Env) -> Result<Selection, ConfigError> {
    const NAMES: [(&str, &str); 3] = [
        ("config", "TUNNEL_CLIENT_CONFIG"),
        ("profile", "TUNNEL_CLIENT_PROFILE"),
        ("profile-file", "TUNNEL_CLIENT_PROFILE_FILE"),
    ];
    let mut sources = Vec::new();
    let mut given: Vec<(&'static str, Source, String)> = Vec::new();
    for (name, _) in NAMES {
        let s = setting(name).expect("table row");
        if let Some((typed, v)) = flags.get(s) {
            given.push((
                s.name(),
                Source::Flag(typed),
                v.last().cloned().unwrap_or_default(),
            ));
        }
    }
    if given.is_empty() {
        for (name, var) in NAMES {
            let s = setting(name).expect("table row");
            if let Some(v) = env.var(var).filter(|v| !v.trim().is_empty()) {
                given.push((s.name(), Source::Env(s.env[0]), v.trim().to_string()));
            }
        }
    }
    if given.len() > 1 {
        let show = |(n, src, _): &(&'static str, Source, String)| match src {
            Source::Flag(f) => (*f).to_string(),
            Source::Env(e) => (*e).to_string(),
            _ => (*n).to_string(),
        };
        return Err(ConfigError::Conflict {
            first: show(&given[0]),
            second: show(&given[1]),
            fix: "choose one config source: --config, --profile or --profile-file".into(),
        });
    }
    let Some((name, src, value)) = given.pop() else {
        return Ok(Selection {
            source: ConfigSource::None,
            sources,
        });
    };
    let origin = match &src {
        Source::Flag(f) => (*f).to_string(),
        Source::Env(e) => format!("env var {e}"),
        _ => name.to_string(),
    };
    sources.push((name, src));
    if value.trim().is_empty() {
        return Err(problem(
            "the value is empty",
            "give a file or profile name, or drop the flag",
        )
        .at(origin, Some(&value)));
    }
    let source = match name {
        "config" => ConfigSource::Config(PathBuf::from(value)),
        "profile" => {
            let n = value.trim();
            if !valid_profile_name(n) || n.contains(['/', '\\']) {
                return Err(problem(
                    "not a valid profile name (letters, digits, '.', '_', '-'; starting with a letter or digit; at most 128)",
                    "use --profile-file for a path, or rename the profile",
                )
                .at(origin, Some(n)));
            }
            let dir = profile_dir(flags, env, &mut sources)?;
            ConfigSource::Profile {
                name: n.to_string(),
                path: dir.join(format!("{n}.yaml")),
            }
        }
        _ => {
            let p = expand_tilde(value.trim(), env, &origin)?;
            let base = p.file_name().and_then(|b| b.to_str()).unwrap_or("");
            let Some(stem) = base.strip_suffix(".yaml") else {
                return Err(problem(
                    "a profile file must end in .yaml (.yml is not accepted)",
                    "rename the file to <name>.yaml or use --config",
                )
                .at(origin, Some(&value)));
            };
            if !valid_profile_name(stem) {
                return Err(problem(
                    "the file's base name is not a valid profile name",
                    "rename it to letters, digits, '.', '_', '-' (or use --config)",
                )
                .at(origin, Some(&value)));
            }
            ConfigSource::ProfileFile(p)
        }
    };
    Ok(Selection { source, sources })
}
