//! Finding the Tunnel MCP plugin in a Codex home (the rules `status`, `diagnose` and
//! `doctor` share): enabled `[plugins."tunnel-mcp@…"]` keys, their marketplace cache
//! directories, the best version directory, the binary hint, and stale entries.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::config_toml;

pub const PLUGIN_NAME: &str = "tunnel-mcp";
pub const DEFAULT_MARKETPLACE: &str = "debug";
pub const LOCAL_VERSION: &str = "local";
pub const HINT_FILE: &str = ".tunnel-client-bin";
pub const MANIFEST: &str = ".codex-plugin/plugin.json";
pub const STALE_REASON: &str =
    "enabled in Codex config but no plugin manifest exists in the marketplace cache";

/// `--codex-home`, else `$CODEX_HOME` (trimmed), else `$HOME/.codex`, else `./.codex`.
pub fn codex_home(flag: Option<&str>) -> PathBuf {
    if let Some(f) = flag.map(str::trim).filter(|f| !f.is_empty()) {
        return PathBuf::from(f);
    }
    if let Ok(h) = std::env::var("CODEX_HOME") {
        if !h.trim().is_empty() {
            return clean(Path::new(h.trim()));
        }
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h).join(".codex"),
        None => PathBuf::from(".codex"),
    }
}

fn clean(p: &Path) -> PathBuf {
    p.components().collect()
}

pub fn plugin_dir(home: &Path, marketplace: &str, version: &str) -> PathBuf {
    home.join("plugins")
        .join("cache")
        .join(marketplace)
        .join(PLUGIN_NAME)
        .join(version)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Installation {
    pub key: String,
    pub marketplace: String,
    pub version: String,
    pub dir: String,
    pub manifest_path: String,
    pub installed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub binary_hint_path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub binary_hint: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StaleEntry {
    pub key: String,
    pub marketplace: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub home: PathBuf,
    /// config.toml exists, or the home exists, or `codex` is on PATH.
    pub detected: bool,
    pub enabled_keys: Vec<String>,
    pub installations: Vec<Installation>,
    pub stale: Vec<StaleEntry>,
    /// The one to report: an installed non-debug marketplace wins over debug.
    pub chosen: Installation,
}

impl Detection {
    pub fn installed(&self) -> bool {
        self.chosen.installed
    }
    pub fn hint_found(&self) -> bool {
        !self.chosen.binary_hint.is_empty()
    }
}

pub fn detect(home: &Path, codex_on_path: bool) -> Detection {
    let config = home.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap_or_default();
    let detected = config.exists() || home.exists() || codex_on_path;
    let enabled_keys = config_toml::enabled_plugin_keys(&text, PLUGIN_NAME);
    let mut installations = vec![];
    let mut stale = vec![];
    for key in &enabled_keys {
        let mkt = key
            .split_once('@')
            .map(|(_, m)| m)
            .unwrap_or(DEFAULT_MARKETPLACE);
        let inst = installation(home, mkt);
        if !inst.installed {
            stale.push(StaleEntry {
                key: key.clone(),
                marketplace: mkt.to_string(),
                reason: STALE_REASON.into(),
            });
        }
        installations.push(inst);
    }
    let chosen = installations
        .iter()
        .filter(|i| i.installed)
        .max_by_key(|i| i.marketplace != DEFAULT_MARKETPLACE)
        .cloned()
        .unwrap_or_else(|| installation(home, DEFAULT_MARKETPLACE));
    Detection {
        home: home.to_path_buf(),
        detected,
        enabled_keys,
        installations,
        stale,
        chosen,
    }
}

fn installation(home: &Path, marketplace: &str) -> Installation {
    let root = home
        .join("plugins")
        .join("cache")
        .join(marketplace)
        .join(PLUGIN_NAME);
    let version = best_version(&root).unwrap_or_else(|| LOCAL_VERSION.to_string());
    let dir = root.join(&version);
    let manifest = dir.join(MANIFEST);
    let hint_path = dir.join(HINT_FILE);
    let hint = std::fs::read_to_string(&hint_path)
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    Installation {
        key: format!("{PLUGIN_NAME}@{marketplace}"),
        marketplace: marketplace.to_string(),
        version,
        dir: dir.display().to_string(),
        manifest_path: manifest.display().to_string(),
        installed: manifest.is_file(),
        binary_hint_path: hint_path.display().to_string(),
        binary_hint: hint,
    }
}

/// Among version dirs holding a manifest: higher semver, else newer mtime, else larger name.
fn best_version(root: &Path) -> Option<String> {
    let mut cands: Vec<(String, Option<SystemTime>)> = std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().join(MANIFEST).is_file())
        .map(|e| {
            let m = e.metadata().and_then(|m| m.modified()).ok();
            (e.file_name().to_string_lossy().into_owned(), m)
        })
        .collect();
    // Pairwise, like a scan keeping the best so far (the order is not total across kinds).
    cands.sort_by(|a, b| a.0.cmp(&b.0));
    cands
        .into_iter()
        .reduce(|best, c| if better(&c, &best).is_gt() { c } else { best })
        .map(|(n, _)| n)
}

fn better(
    a: &(String, Option<SystemTime>),
    b: &(String, Option<SystemTime>),
) -> std::cmp::Ordering {
    if let (Some(x), Some(y)) = (semver(&a.0), semver(&b.0)) {
        if x != y {
            return x.cmp(&y);
        }
    }
    if a.1 != b.1 {
        return a.1.cmp(&b.1);
    }
    a.0.cmp(&b.0)
}

/// `[v]X.Y.Z[-pre][+build]` → (X, Y, Z, no-pre-first). Pre-releases sort below releases.
fn semver(s: &str) -> Option<(u64, u64, u64, bool)> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let s = s.split('+').next()?;
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) if !p.is_empty() => (c, true),
        Some(_) => return None,
        None => (s, false),
    };
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    let v = (it.next()??, it.next()??, it.next()??, !pre);
    if it.next().is_some() {
        return None;
    }
    Some(v)
}

/// `codex` (or `name`) on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

pub fn is_executable(p: &Path) -> bool {
    let Ok(m) = std::fs::metadata(p) else {
        return false;
    };
    if !m.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("tc-detect-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn put_manifest(home: &Path, mkt: &str, ver: &str) {
        let d = plugin_dir(home, mkt, ver).join(".codex-plugin");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("plugin.json"), "{}").unwrap();
    }

    #[test]
    fn semver_beats_local_and_orders_numerically() {
        let home = scratch("semver");
        for v in ["0.1.4", "0.10.0", "0.9.9", "0.10.0-rc1", "v0.2.0"] {
            put_manifest(&home, "corp", v);
        }
        std::fs::write(
            home.join("config.toml"),
            "[plugins.\"tunnel-mcp@corp\"]\nenabled = true\n",
        )
        .unwrap();
        let d = detect(&home, false);
        assert_eq!(d.chosen.version, "0.10.0");
        // `local` against a semver dir: the newer directory wins.
        put_manifest(&home, "corp", "local");
        let set = |v: &str, secs: u64| {
            let f = std::fs::File::open(plugin_dir(&home, "corp", v)).unwrap();
            f.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
                .unwrap();
        };
        for v in ["0.1.4", "0.10.0", "0.9.9", "0.10.0-rc1", "v0.2.0"] {
            set(v, 1_000_000);
        }
        set("local", 2_000_000);
        assert_eq!(detect(&home, false).chosen.version, "local");
        set("local", 1);
        assert_eq!(detect(&home, false).chosen.version, "0.10.0");
        let _ = std::fs::remove_dir_all(home);
    }

    #[test]
    fn marketplace_beats_debug_and_stale_keys_are_reported() {
        let home = scratch("mkt");
        put_manifest(&home, "debug", "local");
        put_manifest(&home, "corp", "0.2.0");
        std::fs::write(
            home.join("config.toml"),
            "[plugins.\"tunnel-mcp@debug\"]\nenabled = true\n\n[plugins.\"tunnel-mcp@corp\"]\nenabled = true\n\n[plugins.\"tunnel-mcp@gone\"]\nenabled = true\n",
        )
        .unwrap();
        let d = detect(&home, false);
        assert_eq!(d.chosen.key, "tunnel-mcp@corp");
        assert_eq!(d.stale.len(), 1);
        assert_eq!(d.stale[0].key, "tunnel-mcp@gone");
        let _ = std::fs::remove_dir_all(home);
    }

    #[test]
    fn unenabled_bundle_on_disk_is_still_found() {
        let home = scratch("disk");
        put_manifest(&home, "debug", "local");
        std::fs::write(
            plugin_dir(&home, "debug", "local").join(HINT_FILE),
            "/x/tunnel-client\n",
        )
        .unwrap();
        let d = detect(&home, false);
        assert!(d.installed());
        assert!(d.enabled_keys.is_empty());
        assert_eq!(d.chosen.binary_hint, "/x/tunnel-client");
        let _ = std::fs::remove_dir_all(home);
    }
}
