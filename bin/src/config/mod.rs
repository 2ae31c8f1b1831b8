//! Configuration: one settings table for every Go flag, env var and YAML key.
//!
//! [`SETTINGS`] lists every setting of `run` / `doctor` (go-cli-config.md §2.1). [`load`]
//! applies the Go precedence — flags actually given > env (a set-but-empty variable hides
//! YAML and usually means "default") > YAML profile > defaults — validates in Go's order and
//! returns a typed [`RunConfig`] plus the source of every setting. [`render_effective`]
//! prints it redacted; [`help_text`] prints `--help` from the same table.

mod argv;
mod entries;
mod error;
mod features;
mod grammar;
mod headers;
mod help;
mod model;
pub mod onboard;
pub mod reference;
mod render;
mod resolve;
mod secret;
mod select;
mod table;
mod validate;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

pub(crate) use argv::edit_distance;
pub use argv::{wants_help, FlagValues};
pub use entries::{
    parse_command_entry, parse_harpoon_target, parse_server_url_entry, RawHttpEntry, RawStdioEntry,
    RawTarget,
};
pub use error::{ConfigError, ConfigErrors, Problem};
pub use grammar::{
    format_go_duration, parse_go_bool, parse_go_duration, split_command_line, valid_channel,
    valid_tunnel_id, SplitError,
};
pub use headers::{canonical_header_name, RESERVED_CONTROL_PLANE_HEADERS};
pub use help::help_text;
pub use model::*;
pub use render::{redact_text, redact_url, render_effective};
pub use secret::{Secret, SecretOrigin};
pub use table::{by_yaml, setting, Command, Kind, Sep, Setting, Status, SETTINGS};

/// Read access to environment variables (injectable for tests).
pub trait Env {
    /// The variable's value; `Some("")` when set but empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Read access to files (injectable for tests).
pub trait Files {
    /// Reads a whole UTF-8 file.
    fn read_to_string(&self, path: &Path) -> std::io::Result<String>;
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFiles;

impl Files for RealFiles {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

impl Files for BTreeMap<std::path::PathBuf, String> {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        self.get(path).cloned().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file (test filesystem)",
            )
        })
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, as typed (canonical or hidden alias).
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// An environment variable that is set but empty: it hides the YAML value and the
    /// built-in default applies (Go behaviour).
    EnvEmpty(&'static str),
    /// A YAML key of the selected file.
    Yaml { key: String, file: String },
    /// The built-in default (or unset).
    Default,
}

impl Source {
    /// Names the place for an error message (`--flag`, `env var X`, `YAML key k in f`).
    pub fn origin(&self, s: &Setting) -> String {
        match self {
            Source::Flag(f) => (*f).to_string(),
            Source::Env(e) | Source::EnvEmpty(e) => format!("env var {e}"),
            Source::Yaml { key, file } => format!("YAML key {key} in {file}"),
            Source::Default => format!("the default of {}", s.flag),
        }
    }

    /// Short label for the effective-config rendering.
    pub fn label(&self) -> String {
        match self {
            Source::Flag(f) => format!("flag {f}"),
            Source::Env(e) => format!("env {e}"),
            Source::EnvEmpty(e) => format!("default ({e} is set but empty)"),
            Source::Yaml { key, file } => format!("yaml {key} ({file})"),
            Source::Default => "default".into(),
        }
    }
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub command: Command,
    pub config: RunConfig,
    /// Non-fatal findings (unknown YAML keys, values hidden by empty env vars, ...).
    pub warnings: Vec<String>,
    /// Setting name → where its value came from.
    pub sources: BTreeMap<&'static str, Source>,
}

impl Loaded {
    /// Where a setting's value came from (`Default` if never looked at).
    pub fn source(&self, name: &str) -> &Source {
        static DEFAULT: Source = Source::Default;
        self.sources.get(name).unwrap_or(&DEFAULT)
    }
}

/// Loads the configuration of `cmd` from `args` (after the sub-command word), `env` and the
/// YAML file they select.
pub fn load(
    cmd: Command,
    args: &[String],
    env: &dyn Env,
    files: &dyn Files,
) -> Result<Loaded, ConfigErrors> {
    let flags = argv::parse_args(cmd, args).map_err(ConfigErrors)?;
    validate::load_with_flags(cmd, &flags, env, files)
}

/// "`<name>` is not supported yet" for every not-yet-built setting that `loaded` sets to a
/// non-default value (including per-entry `unix-socket=` of MCP bindings). `run` fails on
/// these at startup; `doctor` reports them.
pub fn unsupported_in_use(loaded: &Loaded) -> Vec<ConfigError> {
    features::unsupported_in_use(loaded)
}
