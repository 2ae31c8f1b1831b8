//! `admin-profiles list|set|activate|delete` (go-cli-config.md §8.2), and the admin-profile
//! resolution every `runtimes` command does (§8.3).

use serde::Serialize;

use super::secrets::validate_ref;
use super::state::{normalize_alias, utc_now, AdminProfile, AdminProfilesFile, Root, MODE_STOPPED};
use super::RtError;
use crate::config::Env;

pub const DEFAULT_PROFILE: &str = "default";
pub const DEFAULT_ADMIN_KEY_REF: &str = "env:OPENAI_ADMIN_KEY";
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";

/// One admin profile as `list`, `set` and `activate` report it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProfileView {
    pub name: String,
    pub control_plane_base_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub control_plane_url_path: String,
    pub admin_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
    pub path: String,
    pub active: bool,
}

/// `admin-profiles list`.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileList {
    pub profiles: Vec<ProfileView>,
    pub active_profile: String,
    pub path: String,
    pub state_root: String,
}

/// `admin-profiles set` / `activate`.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileSaved {
    pub profile: ProfileView,
    pub active_profile: String,
    pub path: String,
    pub state_root: String,
}

/// `admin-profiles delete`.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileDeleted {
    pub deleted_profile: String,
    pub active_profile: String,
    pub path: String,
    pub state_root: String,
}

/// The admin profile a `runtimes` command uses, after resolution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    pub name: String,
    pub control_plane_base_url: String,
    pub control_plane_url_path: String,
    pub admin_key: String,
    pub path: String,
}

fn view(root: &Root, p: &AdminProfile, active: bool) -> ProfileView {
    ProfileView {
        name: p.name.clone(),
        control_plane_base_url: p.control_plane_base_url.clone(),
        control_plane_url_path: p.control_plane_url_path.clone(),
        admin_key: p.admin_key.clone(),
        updated_at: p.updated_at.clone(),
        path: root.admin_profiles_path().display().to_string(),
        active,
    }
}

fn first_non_empty(vals: &[&str]) -> String {
    vals.iter()
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
        .unwrap_or("")
        .to_string()
}

fn env_trim(env: &dyn Env, name: &str) -> String {
    env.var(name).unwrap_or_default().trim().to_string()
}

/// Flag → stored value → env (`CONTROL_PLANE_BASE_URL` / `CONTROL_PLANE_URL_PATH`) →
/// default, for base URL, URL path and key reference.
fn resolve_values(
    name: &str,
    existing: Option<&AdminProfile>,
    base: &str,
    path: &str,
    key: &str,
    env: &dyn Env,
) -> Result<AdminProfile, RtError> {
    let ex = existing.cloned().unwrap_or_default();
    let p = AdminProfile {
        name: name.to_string(),
        control_plane_base_url: first_non_empty(&[
            base,
            &ex.control_plane_base_url,
            &env_trim(env, "CONTROL_PLANE_BASE_URL"),
            DEFAULT_BASE_URL,
        ]),
        control_plane_url_path: first_non_empty(&[
            path,
            &ex.control_plane_url_path,
            &env_trim(env, "CONTROL_PLANE_URL_PATH"),
        ]),
        admin_key: first_non_empty(&[key, &ex.admin_key, DEFAULT_ADMIN_KEY_REF]),
        updated_at: utc_now(),
    };
    validate_ref(&p.admin_key, &format!("admin profile {name} admin_key"))?;
    Ok(p)
}

fn unknown(name: &str) -> RtError {
    RtError::Usage(format!(
        "admin profile {name} is not known; see `tunnel-client admin-profiles list`"
    ))
}

pub fn list(root: &Root) -> Result<ProfileList, RtError> {
    let f = root.load_admin_profiles()?;
    Ok(ProfileList {
        profiles: f
            .profiles
            .iter()
            .map(|(n, p)| view(root, p, &f.active_profile == n))
            .collect(),
        active_profile: f.active_profile.clone(),
        path: root.admin_profiles_path().display().to_string(),
        state_root: root.path.display().to_string(),
    })
}

/// Saves a profile; the first one saved is always made active.
pub fn set(
    root: &Root,
    name: &str,
    base: &str,
    path: &str,
    key: &str,
    activate: bool,
    env: &dyn Env,
) -> Result<ProfileSaved, RtError> {
    root.ensure_dirs()?;
    let name = normalize_alias(name)?;
    let mut f = root.load_admin_profiles()?;
    let p = resolve_values(&name, f.profiles.get(&name), base, path, key, env)?;
    f.profiles.insert(name.clone(), p.clone());
    if activate || f.active_profile.is_empty() {
        f.active_profile = name.clone();
    }
    root.save_admin_profiles(&f)?;
    Ok(saved(root, &f, &p))
}

fn saved(root: &Root, f: &AdminProfilesFile, p: &AdminProfile) -> ProfileSaved {
    ProfileSaved {
        profile: view(root, p, f.active_profile == p.name),
        active_profile: f.active_profile.clone(),
        path: root.admin_profiles_path().display().to_string(),
        state_root: root.path.display().to_string(),
    }
}

pub fn activate(root: &Root, name: &str) -> Result<ProfileSaved, RtError> {
    let mut f = root.load_admin_profiles()?;
    let name = normalize_alias(name)?;
    let p = f
        .profiles
        .get(&name)
        .cloned()
        .ok_or_else(|| unknown(&name))?;
    f.active_profile = name;
    root.save_admin_profiles(&f)?;
    Ok(saved(root, &f, &p))
}

/// Refused while an alias, or a runtime that is not stopped, still uses the profile.
pub fn delete(root: &Root, name: &str) -> Result<ProfileDeleted, RtError> {
    let mut f = root.load_admin_profiles()?;
    let name = normalize_alias(name)?;
    if !f.profiles.contains_key(&name) {
        return Err(unknown(&name));
    }
    if let Some(a) = root
        .load_aliases()?
        .values()
        .find(|a| a.admin_profile == name)
    {
        return Err(RtError::Usage(format!(
            "admin profile {name} is still referenced by alias {}; fix: tunnel-client runtimes rm {} (after runtimes stop), or reconnect it with another --admin-profile",
            a.alias, a.alias
        )));
    }
    if let Some(p) = root
        .load_processes()?
        .values()
        .find(|p| p.admin_profile == name && !p.alias.is_empty() && p.mode != MODE_STOPPED)
    {
        return Err(RtError::Usage(format!(
            "admin profile {name} is still referenced by active runtime {}; fix: tunnel-client runtimes stop {}",
            p.alias, p.alias
        )));
    }
    f.profiles.remove(&name);
    if f.active_profile == name {
        f.active_profile = f.profiles.keys().next().cloned().unwrap_or_default();
    }
    root.save_admin_profiles(&f)?;
    Ok(ProfileDeleted {
        deleted_profile: name,
        active_profile: f.active_profile.clone(),
        path: root.admin_profiles_path().display().to_string(),
        state_root: root.path.display().to_string(),
    })
}

/// What a `runtimes` command was told about the admin profile (its persistent flags).
#[derive(Debug, Clone, Default)]
pub struct AdminFlags {
    pub admin_profile: String,
    pub admin_key: String,
    pub control_plane_base_url: String,
    pub control_plane_url_path: String,
}

/// The name is `--admin-profile`, else the alias's recorded profile (`recorded`), else
/// `TUNNEL_MCP_ADMIN_PROFILE`, else `default`. As in Go, values that differ from the stored
/// ones are saved and the profile becomes active.
pub fn resolve(
    root: &Root,
    flags: &AdminFlags,
    recorded: &str,
    env: &dyn Env,
) -> Result<Effective, RtError> {
    let mut name = first_non_empty(&[&flags.admin_profile, recorded]);
    if name.is_empty() {
        name = first_non_empty(&[&env_trim(env, "TUNNEL_MCP_ADMIN_PROFILE"), DEFAULT_PROFILE]);
    }
    let name = normalize_alias(&name)?;
    let mut f = root.load_admin_profiles()?;
    let existing = f.profiles.get(&name).cloned();
    let p = resolve_values(
        &name,
        existing.as_ref(),
        &flags.control_plane_base_url,
        &flags.control_plane_url_path,
        &flags.admin_key,
        env,
    )?;
    let changed = existing.as_ref().is_none_or(|e| {
        e.name.is_empty()
            || e.control_plane_base_url != p.control_plane_base_url
            || e.control_plane_url_path != p.control_plane_url_path
            || e.admin_key != p.admin_key
    });
    if changed {
        root.ensure_dirs()?;
        f.profiles.insert(name.clone(), p.clone());
        f.active_profile = name.clone();
        root.save_admin_profiles(&f)?;
    }
    Ok(Effective {
        name,
        control_plane_base_url: p.control_plane_base_url,
        control_plane_url_path: p.control_plane_url_path,
        admin_key: p.admin_key,
        path: root.admin_profiles_path().display().to_string(),
    })
}
