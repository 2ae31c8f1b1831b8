//! Layer picking (flag > env > YAML > default) and typed getters that validate a value and
//! name its origin on failure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::argv::FlagValues;
use super::entries::{
    parse_command_entry, parse_harpoon_target, parse_server_url_entry, RawHttpEntry, RawStdioEntry,
    RawTarget,
};
use super::error::{problem, ConfigError};
use super::grammar::{
    check_url, duration_from_nanos, parse_go_bool, parse_go_duration, parse_go_int,
};
use super::headers::{build_headers, parse_header_item, split_env_list};
use super::model::{Header, Proxy};
use super::secret::{parse_ref, read_env_ref, Ref};
use super::table::{setting, Kind, Sep, Setting};
use super::yaml::{YamlRaw, YamlValues};
use super::{Env, Files, Source};

/// A picked raw value, shaped by kind.
#[derive(Debug, Clone)]
pub(crate) enum Raw {
    Scalar(String),
    List(Vec<String>),
    Headers(Vec<(String, String)>),
    Http(Vec<RawHttpEntry>),
    Stdio(Vec<RawStdioEntry>),
    Targets(Vec<RawTarget>),
}

pub(crate) struct Ctx<'a> {
    pub flags: &'a FlagValues,
    pub env: &'a dyn Env,
    pub files: &'a dyn Files,
    pub yaml: YamlValues,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<String>,
    pub sources: BTreeMap<&'static str, Source>,
    pub yaml_file: String,
}

pub(crate) fn row(name: &str) -> &'static Setting {
    setting(name).unwrap_or_else(|| panic!("settings table has no row {name}"))
}

impl Ctx<'_> {
    /// Origin text of a setting's current source.
    pub fn origin(&self, name: &str) -> String {
        let s = row(name);
        self.sources
            .get(s.name())
            .unwrap_or(&Source::Default)
            .origin(s)
    }

    fn bad(
        &mut self,
        name: &str,
        value: Option<&str>,
        p: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let s = row(name);
        let origin = self.origin(name);
        self.errors
            .push(problem(p, fix).at(origin, if s.secret { None } else { value }));
    }

    /// Picks the winning layer for a setting and records its source.
    pub fn pick(&mut self, name: &str) -> Option<Raw> {
        let s = row(name);
        let (src, raw) = self.pick_inner(s);
        self.sources.insert(s.name(), src);
        raw
    }

    fn pick_inner(&mut self, s: &'static Setting) -> (Source, Option<Raw>) {
        if let Some((typed, vals)) = self.flags.get(s) {
            let raw = self.shape_strings(s, typed, vals.to_vec(), true);
            return (Source::Flag(typed), raw);
        }
        if let Some(var) = s.primary_env() {
            if let Some(v) = self.env.var(var) {
                if v.trim().is_empty() {
                    if let Some((key, _)) = self.yaml.values.get(s.name()) {
                        self.warnings.push(format!(
                            "{var} is set but empty: it hides YAML key {key} and the built-in default of {} applies (Go behaviour); unset {var} to use the YAML value",
                            s.flag
                        ));
                    }
                    return (Source::EnvEmpty(var), None);
                }
                let items = match s.kind {
                    Kind::List(Sep::Comma) => v.split(',').map(|x| x.trim().to_string()).collect(),
                    Kind::List(_) | Kind::HarpoonTargets => v
                        .split([';', '\n'])
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect(),
                    Kind::McpServerUrls | Kind::McpCommands => v
                        .lines()
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect(),
                    Kind::Headers => split_env_list(&v).map(String::from).collect(),
                    _ => vec![v],
                };
                let origin = format!("env var {var}");
                let raw = self.shape_strings(s, &origin, items, false);
                return (Source::Env(var), raw);
            }
        }
        if let Some((key, y)) = self.yaml.values.remove(s.name()) {
            let raw = match y {
                YamlRaw::Scalar(v) => Raw::Scalar(v),
                YamlRaw::List(v) => Raw::List(v),
                YamlRaw::Map(v) => Raw::Headers(v),
                YamlRaw::Http(v) => Raw::Http(v),
                YamlRaw::Stdio(v) => Raw::Stdio(v),
                YamlRaw::Targets(v) => Raw::Targets(v),
            };
            return (
                Source::Yaml {
                    key,
                    file: self.yaml_file.clone(),
                },
                Some(raw),
            );
        }
        (Source::Default, None)
    }

    fn shape_strings(
        &mut self,
        s: &Setting,
        origin: &str,
        vals: Vec<String>,
        is_flag: bool,
    ) -> Option<Raw> {
        let shown = |v: &str| if s.secret { None } else { Some(v.to_string()) };
        match s.kind {
            Kind::List(_) => Some(Raw::List(vals)),
            Kind::Headers => {
                let mut out = Vec::new();
                for v in &vals {
                    match parse_header_item(v) {
                        Ok(p) => out.push(p),
                        // Header values may be secrets: never echo them.
                        Err(p) => self.errors.push(p.at(origin, None)),
                    }
                }
                Some(Raw::Headers(out))
            }
            Kind::McpServerUrls => {
                let mut out = Vec::new();
                for v in &vals {
                    match parse_server_url_entry(v) {
                        Ok(e) => out.push(e),
                        Err(p) => self.errors.push(p.at(origin, shown(v).as_deref())),
                    }
                }
                Some(Raw::Http(out))
            }
            Kind::McpCommands => {
                let mut out = Vec::new();
                for v in &vals {
                    match parse_command_entry(v) {
                        Ok(e) => out.push(e),
                        Err(p) => self.errors.push(p.at(origin, shown(v).as_deref())),
                    }
                }
                Some(Raw::Stdio(out))
            }
            Kind::HarpoonTargets => {
                let mut out = Vec::new();
                for v in &vals {
                    match parse_harpoon_target(v) {
                        Ok((t, ignored)) => {
                            for k in ignored {
                                self.warnings.push(format!("{origin}: unknown Harpoon target key {k:?} is ignored (known: label, url, unix-socket, desc, allow-link-local)"));
                            }
                            out.push(t)
                        }
                        Err(p) => self.errors.push(p.at(origin, shown(v).as_deref())),
                    }
                }
                Some(Raw::Targets(out))
            }
            _ => {
                let v = vals.into_iter().last().unwrap_or_default();
                if v.trim().is_empty() && !is_flag {
                    return None;
                }
                Some(Raw::Scalar(v))
            }
        }
    }

    /// A trimmed string; empty means unset → the default (or `None`).
    pub fn string(&mut self, name: &str) -> Option<String> {
        match self.pick(name) {
            Some(Raw::Scalar(v)) if !v.trim().is_empty() => Some(v.trim().to_string()),
            _ => row(name)
                .default
                .filter(|d| !d.is_empty())
                .map(String::from),
        }
    }

    /// The raw scalar text (for secrets: not trimmed), or `None` when unset.
    pub fn raw_scalar(&mut self, name: &str) -> Option<String> {
        match self.pick(name) {
            Some(Raw::Scalar(v)) => Some(v),
            _ => None,
        }
    }

    pub fn int(&mut self, name: &str, min: i64, max: Option<i64>) -> i64 {
        let def: i64 = row(name).default.and_then(|d| d.parse().ok()).unwrap_or(0);
        let Some(v) = self.string(name) else {
            return def;
        };
        let range = match max {
            Some(m) => format!("an integer from {min} to {m}"),
            None => format!("an integer of at least {min}"),
        };
        match parse_go_int(&v) {
            Some(n) if n >= min && max.is_none_or(|m| n <= m) => n,
            Some(_) => {
                self.bad(
                    name,
                    Some(&v),
                    format!("out of range; must be {range}"),
                    format!("set {} to {range}", row(name).flag),
                );
                def
            }
            None => {
                self.bad(
                    name,
                    Some(&v),
                    "not a decimal integer",
                    format!("set {} to {range}", row(name).flag),
                );
                def
            }
        }
    }

    pub fn boolean(&mut self, name: &str) -> bool {
        let def = row(name).default == Some("true");
        let Some(v) = self.string(name) else {
            return def;
        };
        parse_go_bool(&v).unwrap_or_else(|| {
            self.bad(
                name,
                Some(&v),
                "not a boolean",
                "use true or false (also 1/0, t/f)",
            );
            def
        })
    }

    /// A Go duration that must satisfy `check` (which returns the rule on failure).
    pub fn duration(
        &mut self,
        name: &str,
        check: impl Fn(i128) -> Result<(), &'static str>,
    ) -> Duration {
        let def = row(name)
            .default
            .and_then(|d| parse_go_duration(d).ok())
            .map(duration_from_nanos)
            .unwrap_or_default();
        let Some(v) = self.string(name) else {
            return def;
        };
        match parse_go_duration(&v) {
            Ok(ns) => match check(ns) {
                Ok(()) => duration_from_nanos(ns),
                Err(rule) => {
                    self.bad(
                        name,
                        Some(&v),
                        rule,
                        format!("set {} to a duration that {rule}", row(name).flag),
                    );
                    def
                }
            },
            Err(e) => {
                self.bad(
                    name,
                    Some(&v),
                    e,
                    "use Go duration syntax: 500ms, 30s, 1m30s, 1.5h",
                );
                def
            }
        }
    }

    /// A path field: plain path, `env:VAR` (the variable holds the path) or `file:/path`.
    pub fn path(&mut self, name: &str) -> Option<PathBuf> {
        let v = self.string(name)?;
        let origin = self.origin(name);
        let secret = row(name).secret;
        match resolve_path(&v, self.env) {
            Ok(p) => Some(p),
            Err(p) => {
                self.errors
                    .push(p.at(origin, if secret { None } else { Some(&v) }));
                None
            }
        }
    }

    /// An explicit proxy: `http(s)://host` URL or `env:VAR`.
    pub fn proxy(&mut self, name: &str) -> Option<Proxy> {
        let raw = self.pick(name);
        let label = match self.sources.get(row(name).name()) {
            Some(Source::Flag(_)) => row(name).name().to_string(),
            Some(Source::Env(e)) => (*e).to_string(),
            Some(Source::Yaml { key, .. }) => key.clone(),
            _ => return None,
        };
        let Some(Raw::Scalar(v)) = raw else {
            return None;
        };
        let origin = self.origin(name);
        match resolve_proxy(&v, &label, self.env) {
            Ok(p) => Some(p),
            Err(p) => {
                self.errors
                    .push(p.at(origin, Some(&super::render::redact_url(&v))));
                None
            }
        }
    }

    pub fn list(&mut self, name: &str) -> Vec<String> {
        match self.pick(name) {
            Some(Raw::List(v)) => v,
            _ => Vec::new(),
        }
    }

    pub fn headers(&mut self, name: &str, reserved: &[&str]) -> Vec<Header> {
        let Some(Raw::Headers(pairs)) = self.pick(name) else {
            return Vec::new();
        };
        let origin = self.origin(name);
        match build_headers(&pairs, &origin, reserved, self.env, self.files) {
            Ok(h) => h,
            Err(e) => {
                self.errors.extend(e);
                Vec::new()
            }
        }
    }
}

/// Path field resolution (go-cli-config.md §2.4).
pub(crate) fn resolve_path(v: &str, env: &dyn Env) -> Result<PathBuf, super::error::Problem> {
    let v = v.trim();
    match parse_ref(v, true) {
        Ref::Env(n) => read_env_ref(env, n, true).map(PathBuf::from),
        Ref::File(p) if p.trim().is_empty() => Err(problem(
            "file: reference has no path",
            "write file:/absolute/path",
        )),
        Ref::File(p) => Ok(PathBuf::from(p.trim())),
        Ref::Literal("") => Err(problem(
            "the path is empty",
            "give a path or drop the setting",
        )),
        Ref::Literal(p) => Ok(PathBuf::from(p)),
    }
}

/// Proxy resolution (go-harpoon-oauth-security.md §3.3). `env:` is case-sensitive here.
pub(crate) fn resolve_proxy(
    v: &str,
    label: &str,
    env: &dyn Env,
) -> Result<Proxy, super::error::Problem> {
    let v = v.trim();
    if v.is_empty() {
        return Err(problem(
            "proxy: value is required",
            "give a proxy URL such as http://proxy:3128, or drop the setting",
        ));
    }
    let (url, source) = match parse_ref(v, false) {
        Ref::Env(n) => (read_env_ref(env, n, true)?, format!("env:{n}")),
        _ => (v.to_string(), label.to_string()),
    };
    let parts = check_url(&url).map_err(|e| {
        problem(
            format!("proxy URL must include scheme and host: {e}"),
            "use http://host:port or https://host:port",
        )
    })?;
    if !matches!(parts.scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(problem(
            format!(
                "proxy URL scheme must be http or https, got {:?}",
                parts.scheme
            ),
            "use http://host:port or https://host:port",
        ));
    }
    Ok(Proxy { url, source })
}
