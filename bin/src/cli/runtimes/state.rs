//! The runtimes state root (go-cli-config.md §8.1): where it is, what it holds, and how each
//! file is read and written.
//!
//! Every `.yaml` file here holds JSON (as the Go client writes it), is written to
//! `<file>.tmp` with mode 0600 and renamed over the old one, and is never overwritten when it
//! cannot be parsed: a corrupt file stops the command with Go's message so the operator can
//! repair it instead of losing every alias.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RtError;
use crate::config::Env;

/// The state root directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub path: PathBuf,
}

fn env_value(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl Root {
    /// Go's resolution order: `TUNNEL_CLIENT_STATE_DIR`, the first existing legacy dir
    /// (`$CODEX_HOME/tunnel-mcp`, `~/.codex/tunnel-mcp`, `~/.tunnel-client`),
    /// `$XDG_STATE_HOME/tunnel-client`, `~/.local/state/tunnel-client` (macOS:
    /// `~/Library/Application Support/tunnel-client`), else `./.tunnel-client`.
    pub fn resolve(env: &dyn Env) -> Root {
        if let Some(v) = env_value(env, "TUNNEL_CLIENT_STATE_DIR") {
            return Root { path: v.into() };
        }
        let home = env_value(env, "HOME");
        let mut legacy = Vec::new();
        if let Some(c) = env_value(env, "CODEX_HOME") {
            legacy.push(Path::new(&c).join("tunnel-mcp"));
        }
        if let Some(h) = &home {
            legacy.push(Path::new(h).join(".codex").join("tunnel-mcp"));
            legacy.push(Path::new(h).join(".tunnel-client"));
        }
        if let Some(p) = legacy.into_iter().find(|p| p.is_dir()) {
            return Root { path: p };
        }
        if let Some(x) = env_value(env, "XDG_STATE_HOME") {
            return Root {
                path: Path::new(&x).join("tunnel-client"),
            };
        }
        match home {
            Some(h) if cfg!(target_os = "macos") => Root {
                path: Path::new(&h).join("Library/Application Support/tunnel-client"),
            },
            Some(h) => Root {
                path: Path::new(&h).join(".local/state/tunnel-client"),
            },
            None => Root {
                path: PathBuf::from(".").join(".tunnel-client"),
            },
        }
    }

    pub fn aliases_path(&self) -> PathBuf {
        self.path.join("aliases.yaml")
    }
    pub fn processes_path(&self) -> PathBuf {
        self.path.join("processes.yaml")
    }
    pub fn admin_profiles_path(&self) -> PathBuf {
        self.path.join("admin_profiles.yaml")
    }
    pub fn history_path(&self) -> PathBuf {
        self.path.join("history.md")
    }
    /// `health/<alias>.url`: the runtime writes its health base URL here.
    pub fn health_url_file(&self, alias: &str) -> PathBuf {
        self.path.join("health").join(format!("{alias}.url"))
    }
    /// `logs/<alias>.log`.
    pub fn log_path(&self, alias: &str) -> PathBuf {
        self.path.join("logs").join(format!("{alias}.log"))
    }

    /// Creates the root and its `configs/`, `health/`, `logs/` (0755).
    pub fn ensure_dirs(&self) -> Result<(), RtError> {
        for d in [
            self.path.clone(),
            self.path.join("configs"),
            self.path.join("health"),
            self.path.join("logs"),
        ] {
            std::fs::create_dir_all(&d)
                .map_err(|e| RtError::Io(format!("create state directory {}: {e}", d.display())))?;
        }
        Ok(())
    }

    pub fn load_aliases(&self) -> Result<BTreeMap<String, AliasRecord>, RtError> {
        load_json(&self.aliases_path()).map(Option::unwrap_or_default)
    }
    pub fn save_aliases(&self, m: &BTreeMap<String, AliasRecord>) -> Result<(), RtError> {
        save_json(&self.aliases_path(), m)
    }
    pub fn load_processes(&self) -> Result<BTreeMap<String, ProcessRecord>, RtError> {
        load_json(&self.processes_path()).map(Option::unwrap_or_default)
    }
    pub fn save_processes(&self, m: &BTreeMap<String, ProcessRecord>) -> Result<(), RtError> {
        save_json(&self.processes_path(), m)
    }

    /// `admin_profiles.yaml`, also in the legacy flat form (a map of name → profile).
    pub fn load_admin_profiles(&self) -> Result<AdminProfilesFile, RtError> {
        let path = self.admin_profiles_path();
        let Some(raw) = load_json::<BTreeMap<String, serde_json::Value>>(&path)? else {
            return Ok(AdminProfilesFile::default());
        };
        let mut file = AdminProfilesFile::default();
        if let Some(a) = raw.get("active_profile") {
            file.active_profile = serde_json::from_value(a.clone()).map_err(|_| {
                RtError::State(format!(
                    "state file {} must contain a string active_profile",
                    path.display()
                ))
            })?;
        }
        let shape = || {
            RtError::State(format!(
                "state file {} must contain a profiles object",
                path.display()
            ))
        };
        if let Some(p) = raw.get("profiles") {
            file.profiles = serde_json::from_value(p.clone()).map_err(|_| shape())?;
            return Ok(file);
        }
        for (k, v) in raw {
            if k == "active_profile" {
                continue;
            }
            file.profiles
                .insert(k, serde_json::from_value(v).map_err(|_| shape())?);
        }
        Ok(file)
    }

    pub fn save_admin_profiles(&self, f: &AdminProfilesFile) -> Result<(), RtError> {
        save_json(&self.admin_profiles_path(), f)
    }

    /// Appends `- <UTC> action=<a> alias=<x> tunnel_id=<id|-> [detail=…]` to `history.md`
    /// (0600). History is best effort, as in Go: a failure here never fails the command.
    pub fn append_history(&self, action: &str, alias: &str, tunnel_id: &str, detail: &str) {
        if self.ensure_dirs().is_err() {
            return;
        }
        let mut line = format!(
            "- {} action={action} alias={alias} tunnel_id={}",
            utc_now(),
            if tunnel_id.trim().is_empty() {
                "-"
            } else {
                tunnel_id
            }
        );
        let clean = detail.replace('\n', " ");
        if !clean.trim().is_empty() {
            line.push_str(" detail=");
            line.push_str(clean.trim());
        }
        line.push('\n');
        let mut o = std::fs::OpenOptions::new();
        o.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        if let Ok(mut f) = o.open(self.history_path()) {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// One alias: the remote tunnel it stands for and where its runtime profile lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    #[serde(default)]
    pub alias: String,
    #[serde(default)]
    pub tunnel_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub admin_profile: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organization_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspace_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenant_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config_path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile_dir: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile_path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub health_url_file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
}

/// How an alias's runtime is supervised.
pub const MODE_TMUX: &str = "tmux";
pub const MODE_PROCESS: &str = "process";
pub const MODE_STOPPED: &str = "stopped";

/// One managed runtime: how it was launched and where to look for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    #[serde(default)]
    pub alias: String,
    #[serde(default)]
    pub tunnel_id: String,
    #[serde(default)]
    pub config_path: String,
    #[serde(default)]
    pub health_url_file: String,
    /// `server_url` or `command`.
    #[serde(default)]
    pub target_kind: String,
    #[serde(default)]
    pub target_value: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub started_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub admin_profile: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile_dir: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile_path: String,
    /// `tmux`, `process` or `stopped`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_name: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pid: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_path: String,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A saved admin profile: where the management API is and which key reference to use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminProfile {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub control_plane_base_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub control_plane_url_path: String,
    /// A reference (`env:NAME` or `file:/path`), never a key.
    #[serde(default)]
    pub admin_key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
}

/// `admin_profiles.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminProfilesFile {
    #[serde(default)]
    pub active_profile: String,
    #[serde(default)]
    pub profiles: BTreeMap<String, AdminProfile>,
}

/// Now, UTC, RFC 3339 to the second (`2026-12-07T05:29:27Z`).
pub fn utc_now() -> String {
    // The logging clock prints milliseconds; the state files keep whole seconds, as Go's.
    let ms = crate::logging::rfc3339_millis(std::time::SystemTime::now());
    format!("{}Z", &ms[..19])
}

/// Alias and admin-profile names: lowercase; `_` and every other character outside
/// `[a-z0-9-]` become `-`; runs of `-` collapse; leading/trailing `-` go.
pub fn normalize_alias(raw: &str) -> Result<String, RtError> {
    let mut out = String::new();
    for c in raw.trim().to_lowercase().chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        return Err(RtError::Usage(
            "alias must contain at least one ASCII letter or number".into(),
        ));
    }
    Ok(out)
}

fn load_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, RtError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(RtError::Io(format!(
                "read state file {}: {e}",
                path.display()
            )))
        }
    };
    serde_json::from_slice(&text).map(Some).map_err(|_| {
        RtError::State(format!(
            "state file {} is not valid JSON-compatible YAML; repair or remove it",
            path.display()
        ))
    })
}

fn save_json<T: Serialize>(path: &Path, v: &T) -> Result<(), RtError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| {
            RtError::Io(format!(
                "create state directory for {}: {e}",
                path.display()
            ))
        })?;
    }
    let mut text = serde_json::to_vec_pretty(v)
        .map_err(|e| RtError::Io(format!("marshal state file {}: {e}", path.display())))?;
    text.push(b'\n');
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    write_private(&tmp, &text)
        .map_err(|e| RtError::Io(format!("write state file {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| RtError::Io(format!("replace state file {}: {e}", path.display())))
}

/// Writes `bytes` to a fresh 0600 file (an old file at `path` is replaced).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_normalised_as_in_go() {
        assert_eq!(
            normalize_alias("  My_Docs  Server!! ").unwrap(),
            "my-docs-server"
        );
        assert_eq!(normalize_alias("--a__b--").unwrap(), "a-b");
        assert_eq!(normalize_alias("Ünï").unwrap(), "n");
        assert!(normalize_alias("__--!!").is_err());
    }

    struct MapEnv(Vec<(&'static str, String)>);
    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn state_root_resolution_follows_go() {
        let home = std::env::temp_dir().join(format!("tc-rt-root-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let h = home.display().to_string();
        let env = |extra: &[(&'static str, &str)]| {
            let mut v = vec![("HOME", h.clone())];
            v.extend(extra.iter().map(|(k, x)| (*k, x.to_string())));
            MapEnv(v)
        };
        let cases_root = |e: &MapEnv| Root::resolve(e).path;
        assert_eq!(
            cases_root(&env(&[("TUNNEL_CLIENT_STATE_DIR", " /s ")])),
            PathBuf::from("/s")
        );
        assert_eq!(
            cases_root(&env(&[("XDG_STATE_HOME", "/x")])),
            PathBuf::from("/x/tunnel-client")
        );
        if !cfg!(target_os = "macos") {
            assert_eq!(
                cases_root(&env(&[])),
                home.join(".local/state/tunnel-client")
            );
        }
        // An existing legacy dir wins over XDG, in Go's order.
        std::fs::create_dir_all(home.join(".tunnel-client")).unwrap();
        assert_eq!(
            cases_root(&env(&[("XDG_STATE_HOME", "/x")])),
            home.join(".tunnel-client")
        );
        std::fs::create_dir_all(home.join(".codex/tunnel-mcp")).unwrap();
        assert_eq!(cases_root(&env(&[])), home.join(".codex/tunnel-mcp"));
        let codex = home.join("codex");
        std::fs::create_dir_all(codex.join("tunnel-mcp")).unwrap();
        assert_eq!(
            cases_root(&env(&[("CODEX_HOME", &codex.display().to_string())])),
            codex.join("tunnel-mcp")
        );
        assert_eq!(
            cases_root(&MapEnv(vec![])),
            PathBuf::from("./.tunnel-client")
        );
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn legacy_admin_profiles_are_read() {
        let d = std::env::temp_dir().join(format!("tc-rt-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let root = Root { path: d.clone() };
        std::fs::write(
            root.admin_profiles_path(),
            r#"{"ops": {"name":"ops","control_plane_base_url":"https://x","admin_key":"env:K"}}"#,
        )
        .unwrap();
        let f = root.load_admin_profiles().unwrap();
        assert_eq!(f.profiles["ops"].admin_key, "env:K");
        std::fs::write(root.admin_profiles_path(), "{nope").unwrap();
        let e = root.load_admin_profiles().unwrap_err().to_string();
        assert!(e.contains("is not valid JSON-compatible YAML"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
