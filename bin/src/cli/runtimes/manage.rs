//! `runtimes list|cleanup|status|stop|rm` (go-cli-config.md §8.3): what is recorded, what
//! is running, and taking it down again. Everything here is local except the read-only
//! tunnel lookups of `list` (with a scope) and `status`.

use serde::Serialize;
use serde_json::Value;

use super::local::{
    doctor_command, inspect, next_steps, repair_actions, repair_command, Local, ProfileInfo,
    RepairAction, TmuxInfo,
};
use super::profiles::{resolve, AdminFlags, Effective};
use super::secrets::{ref_available, validate_ref};
use super::state::{
    normalize_alias, AliasRecord, ProcessRecord, Root, MODE_PROCESS, MODE_STOPPED, MODE_TMUX,
};
use super::supervise::{self, pid_alive, session_name, tmux_has_session};
use super::views::{AliasView, ProcessView, TunnelView};
use super::{remote, RtError};
use crate::config::Env;

fn first(vals: &[&str]) -> String {
    vals.iter()
        .find(|v| !v.trim().is_empty())
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// `runtimes list` flags.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub admin: AdminFlags,
    pub organization_ids: Vec<String>,
    pub workspace_ids: Vec<String>,
    pub tenant_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RemoteTunnel {
    #[serde(flatten)]
    pub tunnel: TunnelView,
    pub local_alias: String,
    pub local_admin_profile: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub aliases: Vec<AliasView>,
    pub admin_profile: String,
    pub admin_profile_path: String,
    pub state_root: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_tunnels: Option<Vec<RemoteTunnel>>,
}

fn readiness(l: &Local) -> (String, String) {
    let e = &l.effective_health;
    let ui = if e.healthz.ok {
        e.ui.clone()
    } else {
        String::new()
    };
    let why = if !e.readyz.body.is_empty() {
        e.readyz.body.clone()
    } else {
        e.readyz.error.clone()
    };
    (ui, why)
}

pub fn list(root: &Root, o: &ListOptions, env: &dyn Env) -> Result<Listed, RtError> {
    let families = [
        !o.organization_ids.is_empty(),
        !o.workspace_ids.is_empty(),
        !o.tenant_id.trim().is_empty(),
    ];
    if families.iter().filter(|x| **x).count() > 1 {
        return Err(RtError::Usage("runtimes list accepts exactly one remote scope family: --organization-id, --workspace-id, or --tenant-id".into()));
    }
    if o.organization_ids.len() > 1 {
        return Err(RtError::Usage(
            "runtimes list accepts at most one --organization-id for remote listing".into(),
        ));
    }
    if o.workspace_ids.len() > 1 {
        return Err(RtError::Usage(
            "runtimes list accepts at most one --workspace-id for remote listing".into(),
        ));
    }
    root.ensure_dirs()?;
    let admin = resolve(root, &o.admin, "", env)?;
    let aliases = root.load_aliases()?;
    let processes = root.load_processes()?;
    let views = aliases
        .iter()
        .map(|(name, r)| {
            let p = processes.get(name).cloned().unwrap_or_default();
            let l = inspect(root, name, r, &p);
            let (ui, why) = readiness(&l);
            AliasView {
                runtime_state: l.runtime_state.clone(),
                ui_url: ui,
                readiness_reason: why,
                ..AliasView::from(r)
            }
        })
        .collect();
    let remote_tunnels = if families.iter().any(|x| *x) {
        let ts = remote::list(
            &o.organization_ids,
            &o.workspace_ids,
            o.tenant_id.trim(),
            &admin,
            env,
        )?;
        Some(
            ts.iter()
                .map(|t| {
                    let local = aliases.values().find(|a| a.tunnel_id == t.id);
                    RemoteTunnel {
                        tunnel: t.into(),
                        local_alias: local.map(|a| a.alias.clone()).unwrap_or_default(),
                        local_admin_profile: local
                            .map(|a| a.admin_profile.clone())
                            .unwrap_or_default(),
                    }
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(Listed {
        aliases: views,
        admin_profile: admin.name,
        admin_profile_path: admin.path,
        state_root: root.path.display().to_string(),
        remote_tunnels,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct CleanupEntry {
    pub alias: String,
    pub tunnel_id: String,
    pub classification: String,
    pub profile: ProfileInfo,
    pub runtime_state: String,
    pub live_runtime: Value,
    pub cleanup_safe: bool,
    pub cleanup_command: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cleanup {
    pub state_root: String,
    pub apply: bool,
    pub entries: Vec<CleanupEntry>,
    pub removed: Vec<String>,
    pub next_steps: Vec<String>,
}

/// Classifies every alias/process; with `apply`, drops only the `stale_alias` records.
pub fn cleanup(root: &Root, apply: bool) -> Result<Cleanup, RtError> {
    root.ensure_dirs()?;
    let mut aliases = root.load_aliases()?;
    let mut processes = root.load_processes()?;
    let mut names: Vec<String> = aliases.keys().chain(processes.keys()).cloned().collect();
    names.sort();
    names.dedup();
    let mut entries = Vec::new();
    let mut removed = Vec::new();
    for name in names {
        let r = aliases.get(&name).cloned().unwrap_or_default();
        let p = processes.get(&name).cloned().unwrap_or_default();
        let l = inspect(root, &name, &r, &p);
        let class = super::local::classify(&l);
        let tid = first(&[&r.tunnel_id, &p.tunnel_id]);
        entries.push(CleanupEntry {
            alias: name.clone(),
            tunnel_id: tid.clone(),
            classification: class.into(),
            profile: l.profile.clone(),
            runtime_state: l.runtime_state.clone(),
            live_runtime: l.live_admin_ui.clone(),
            cleanup_safe: class == "stale_alias",
            cleanup_command: "tunnel-client runtimes cleanup --apply".into(),
        });
        if apply && class == "stale_alias" {
            aliases.remove(&name);
            processes.remove(&name);
            removed.push(name.clone());
            root.append_history(
                "cleanup",
                &name,
                &tid,
                "removed stale local alias/process metadata",
            );
        }
    }
    if apply {
        root.save_aliases(&aliases)?;
        root.save_processes(&processes)?;
    }
    Ok(Cleanup {
        state_root: root.path.display().to_string(),
        apply,
        entries,
        removed,
        next_steps: vec!["Review entries with classification=stale_alias, then run `tunnel-client runtimes cleanup --apply` to remove only stale local alias/process metadata.".into()],
    })
}

/// The `status` (and `stop`) payload.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub alias: String,
    pub tunnel_id: String,
    pub admin_profile: String,
    pub admin_profile_path: String,
    pub remote: Option<TunnelView>,
    pub stale: bool,
    pub error: String,
    pub remote_error: String,
    pub repair_command: String,
    pub repair_actions: Vec<RepairAction>,
    pub config_path: String,
    pub profile_name: String,
    pub profile_dir: String,
    pub profile_path: String,
    pub profile_exists: bool,
    pub health_url_file: String,
    pub health_url: String,
    pub ui_url: String,
    pub runtime_state: String,
    pub readiness_reason: String,
    pub healthy: bool,
    pub ready: bool,
    pub control_plane_poll_health: Value,
    pub remote_lookup_attempted: bool,
    pub remote_lookup_auth_kind: String,
    pub remote_lookup_auth_ref: String,
    pub remote_skipped_reason: String,
    pub tmux: TmuxInfo,
    pub process_running: bool,
    pub process: Option<ProcessView>,
    pub local: Local,
    pub next_steps: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_stopped: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_error: Option<String>,
    #[serde(skip)]
    pub code: i32,
}

impl Status {
    /// 0, or 2: for `status` when the tunnel is gone remotely and nothing runs locally, for
    /// `stop` when stopping failed.
    pub fn exit_code(&self) -> i32 {
        self.code
    }
}

struct Lookup {
    remote: Option<TunnelView>,
    stale: bool,
    error: String,
    attempted: bool,
    kind: String,
    key_ref: String,
    skipped: String,
}

#[allow(clippy::too_many_arguments)]
fn status_payload(
    root: &Root,
    alias: &str,
    r: &AliasRecord,
    p: &ProcessRecord,
    admin: &Effective,
    lk: Lookup,
) -> Status {
    let l = inspect(root, alias, r, p);
    let actions = repair_actions(alias, r, p, &l, &lk.error);
    let (ui, why) = readiness(&l);
    let steps = next_steps(
        &actions,
        &[
            doctor_command(&r.profile_name, &r.profile_dir, &r.config_path),
            format!("tunnel-client runtimes status {alias}"),
        ],
    );
    Status {
        alias: alias.into(),
        tunnel_id: r.tunnel_id.clone(),
        admin_profile: admin.name.clone(),
        admin_profile_path: admin.path.clone(),
        remote: lk.remote,
        stale: lk.stale,
        error: lk.error.clone(),
        remote_error: lk.error,
        repair_command: repair_command(alias, r, p),
        repair_actions: actions,
        config_path: r.config_path.clone(),
        profile_name: r.profile_name.clone(),
        profile_dir: r.profile_dir.clone(),
        profile_path: r.profile_path.clone(),
        profile_exists: l.profile.file.exists,
        health_url_file: r.health_url_file.clone(),
        health_url: l.health.url.clone(),
        ui_url: ui,
        runtime_state: l.runtime_state.clone(),
        readiness_reason: why,
        healthy: l.effective_health.healthz.ok,
        ready: l.effective_health.readyz.ok,
        control_plane_poll_health: l.control_plane_poll_health.clone(),
        remote_lookup_attempted: lk.attempted,
        remote_lookup_auth_kind: lk.kind,
        remote_lookup_auth_ref: lk.key_ref,
        remote_skipped_reason: lk.skipped,
        tmux: l.tmux.clone(),
        process_running: l.process_running,
        process: (!p.alias.is_empty()).then(|| p.into()),
        next_steps: steps,
        local: l,
        already_stopped: None,
        stopped: None,
        stop_error: None,
        code: 0,
    }
}

/// `control_plane.api_key` of a runtime profile (JSON content), when it is a reference.
fn profile_key_ref(path: &str) -> String {
    if path.trim().is_empty() {
        return String::new();
    }
    let Ok(text) = std::fs::read(path) else {
        return String::new();
    };
    let v: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
    let k = v["control_plane"]["api_key"].as_str().unwrap_or("");
    if validate_ref(k, "runtime api_key").is_ok() {
        k.into()
    } else {
        String::new()
    }
}

fn known<'a>(
    aliases: &'a std::collections::BTreeMap<String, AliasRecord>,
    alias: &str,
) -> Result<&'a AliasRecord, RtError> {
    aliases.get(alias).ok_or_else(|| {
        RtError::Usage(format!(
            "alias {alias} is not known; run create or connect first (see `tunnel-client runtimes list`)"
        ))
    })
}

pub fn status(
    root: &Root,
    alias: &str,
    flags: &AdminFlags,
    env: &dyn Env,
) -> Result<Status, RtError> {
    let alias = normalize_alias(alias)?;
    let aliases = root.load_aliases()?;
    let processes = root.load_processes()?;
    let r = known(&aliases, &alias)?.clone();
    let admin = resolve(root, flags, &r.admin_profile, env)?;
    let p = processes.get(&alias).cloned().unwrap_or_default();
    // Read-only key: the runtime profile's ref, the runtime variables, then the admin key.
    let mut candidates: Vec<(String, &str)> = [
        &p.profile_path,
        &r.profile_path,
        &p.config_path,
        &r.config_path,
    ]
    .iter()
    .map(|x| (profile_key_ref(x), "runtime"))
    .collect();
    candidates.push(("env:CONTROL_PLANE_API_KEY".into(), "runtime"));
    candidates.push(("env:OPENAI_API_KEY".into(), "runtime"));
    candidates.push((admin.admin_key.clone(), "admin"));
    let mut lk = Lookup {
        remote: None,
        stale: false,
        error: String::new(),
        attempted: false,
        kind: String::new(),
        key_ref: String::new(),
        skipped: String::new(),
    };
    let mut reasons = Vec::new();
    let chosen = candidates.iter().find(|(k, _)| {
        if k.is_empty() {
            return false;
        }
        match ref_available(k, env) {
            Ok(()) => true,
            Err(why) => {
                reasons.push(why);
                false
            }
        }
    });
    match chosen {
        Some((k, kind)) => {
            lk.attempted = true;
            lk.kind = (*kind).into();
            lk.key_ref = k.clone();
            match remote::get(&r.tunnel_id, &admin, k, env) {
                Ok(t) => lk.remote = Some((&t).into()),
                Err(e) => {
                    lk.stale = e.not_found();
                    lk.error = e.to_string();
                }
            }
        }
        None => {
            lk.skipped = reasons.pop().unwrap_or_else(|| {
                "no runtime or admin key reference is available for read-only lookup".into()
            })
        }
    }
    let stale = lk.stale;
    let mut s = status_payload(root, &alias, &r, &p, &admin, lk);
    if stale && p.alias.is_empty() {
        s.code = 2;
    }
    Ok(s)
}

/// Stops the runtime (tmux session or SIGTERM, waiting up to 1 s), clears its health URL
/// file and marks it stopped. The remote tunnel is not touched.
pub fn stop(
    root: &Root,
    alias: &str,
    flags: &AdminFlags,
    env: &dyn Env,
) -> Result<Status, RtError> {
    let alias = normalize_alias(alias)?;
    let aliases = root.load_aliases()?;
    let mut processes = root.load_processes()?;
    let r = known(&aliases, &alias)?.clone();
    let admin = resolve(root, flags, &r.admin_profile, env)?;
    let mut p = processes.get(&alias).cloned().unwrap_or_default();
    let previous_mode = p.mode.clone();
    let mut already = false;
    let mut err = String::new();
    if p.alias.is_empty() || p.mode == MODE_STOPPED {
        already = true;
    } else if p.mode == MODE_TMUX {
        let s = first(&[&p.session_name, &session_name(&alias, root)]);
        if supervise::tmux_available() && tmux_has_session(&s) {
            if let Err(e) = supervise::stop_tmux(&s) {
                err = e;
            }
        } else {
            already = true;
        }
    } else if p.mode == MODE_PROCESS && p.pid > 0 {
        if !pid_alive(p.pid) {
            already = true;
        } else if let Err(e) = supervise::stop_pid(p.pid) {
            err = e;
        }
    } else {
        already = true;
    }
    // A runtime that would not stop keeps its records, so `rm` still refuses and the
    // operator can see what is left running.
    if err.is_empty() {
        let _ = std::fs::remove_file(root.health_url_file(&alias));
    }
    if !p.alias.is_empty() && err.is_empty() {
        p.mode = MODE_STOPPED.into();
        p.session_name.clear();
        p.pid = 0;
        processes.insert(alias.clone(), p.clone());
        root.save_processes(&processes)?;
    }
    let mut detail = format!(
        "previous_mode={} already_stopped={already}",
        if previous_mode.is_empty() {
            "-"
        } else {
            &previous_mode
        }
    );
    if !err.is_empty() {
        detail.push_str(&format!(" error={err}"));
    }
    root.append_history("stop", &alias, &r.tunnel_id, &detail);
    let lk = Lookup {
        remote: None,
        stale: false,
        error: err.clone(),
        attempted: false,
        kind: String::new(),
        key_ref: String::new(),
        skipped: "stop is a local-only operation".into(),
    };
    let mut s = status_payload(root, &alias, &r, &p, &admin, lk);
    s.already_stopped = Some(already);
    s.stopped = Some(err.is_empty());
    s.code = if err.is_empty() { 0 } else { 2 };
    s.stop_error = Some(err);
    Ok(s)
}

#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub alias: String,
    pub removed: bool,
    pub removed_paths: Vec<String>,
    pub state_root: String,
    pub tunnel_id: String,
}

/// Forgets an alias: its records, runtime profile, health URL file and log. Refused while
/// its runtime is not stopped; the remote tunnel is never deleted.
pub fn remove(root: &Root, alias: &str) -> Result<Removed, RtError> {
    let alias = normalize_alias(alias)?;
    let mut aliases = root.load_aliases()?;
    let mut processes = root.load_processes()?;
    let r = aliases.get(&alias).cloned();
    let p = processes.get(&alias).cloned().unwrap_or_default();
    if r.is_none() && p.alias.is_empty() {
        return Err(RtError::Usage(format!("alias {alias} is not known")));
    }
    if !p.alias.is_empty() && !p.mode.is_empty() && p.mode != MODE_STOPPED {
        return Err(RtError::Usage(format!(
            "alias {alias} still has a managed runtime; run `tunnel-client runtimes stop {alias}` first"
        )));
    }
    let r = r.unwrap_or_default();
    aliases.remove(&alias);
    root.save_aliases(&aliases)?;
    processes.remove(&alias);
    root.save_processes(&processes)?;
    let mut removed = Vec::new();
    for path in [
        &r.config_path,
        &r.profile_path,
        &r.health_url_file,
        &p.config_path,
        &p.profile_path,
        &p.health_url_file,
        &p.log_path,
    ] {
        if path.trim().is_empty() || removed.contains(path) {
            continue;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RtError::Io(format!("remove local state path {path}: {e}"))),
        }
        removed.push(path.clone());
    }
    let tid = first(&[&r.tunnel_id, &p.tunnel_id]);
    root.append_history(
        "rm",
        &alias,
        &tid,
        &format!("removed_paths={}", removed.len()),
    );
    Ok(Removed {
        alias,
        removed: true,
        removed_paths: removed,
        state_root: root.path.display().to_string(),
        tunnel_id: tid,
    })
}
