//! `runtimes create` and `runtimes connect` (go-cli-config.md §8.3, §8.4): find or create
//! the remote tunnel of an alias, write the runtime profile, launch or reuse the runtime.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::local::{doctor_command, inspect, repair_actions, Local, RepairAction, TmuxInfo};
use super::profiles::{resolve, AdminFlags, Effective};
use super::runtime_profile::{profile_dir, profile_name, target, write_profile};
use super::secrets::{resolve_ref, validate_ref};
use super::state::{normalize_alias, utc_now, AliasRecord, ProcessRecord, Root};
use super::supervise::{self, Invocation, Launch, Request};
use super::views::{ProcessView, TunnelView};
use super::{remote, RtError};
use crate::cli::admin::Tunnel;
use crate::config::{valid_tunnel_id, Env};

pub const DEFAULT_RUNTIME_KEY_REF: &str = "env:CONTROL_PLANE_API_KEY";

/// `runtimes create` flags.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub alias: String,
    pub name: String,
    pub description: String,
    pub admin: AdminFlags,
    pub organization_ids: Vec<String>,
    pub workspace_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub alias: String,
    pub tunnel: TunnelView,
    pub admin_profile: String,
    pub admin_profile_path: String,
    pub state_root: String,
}

fn first(vals: &[&str]) -> String {
    vals.iter()
        .find(|v| !v.trim().is_empty())
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn default_description(alias: &str, preferred: &str, fallback: &str) -> String {
    first(&[preferred, fallback, &format!("MCP tunnel for {alias}")])
}

fn check_scope(action: &str, o: &CreateOptions) -> Result<(), RtError> {
    if !o.organization_ids.is_empty() && !o.workspace_ids.is_empty() {
        return Err(RtError::Usage(format!(
            "runtimes {action} accepts exactly one remote scope family: --organization-id or --workspace-id"
        )));
    }
    Ok(())
}

/// The alias's tunnel: the recorded one (dropped as stale on 404), else one named
/// `--name`/alias in the given scope, else a new one.
fn resolve_tunnel(
    root: &Root,
    alias: &str,
    o: &CreateOptions,
    admin: &Effective,
    env: &dyn Env,
) -> Result<Tunnel, RtError> {
    let mut aliases = root.load_aliases()?;
    if let Some(existing) = aliases
        .get(alias)
        .filter(|a| !a.tunnel_id.is_empty())
        .cloned()
    {
        let existing_admin = resolve(root, &AdminFlags::default(), &existing.admin_profile, env)?;
        match remote::get(&existing.tunnel_id, &existing_admin, "", env) {
            Ok(t) => return Ok(t),
            Err(e) if e.not_found() => {
                root.append_history("stale-alias", alias, &existing.tunnel_id, &e.to_string());
                aliases.remove(alias);
                root.save_aliases(&aliases)?;
            }
            Err(e) => return Err(e),
        }
    }
    if !o.organization_ids.is_empty() || !o.workspace_ids.is_empty() {
        let want = first(&[&o.name, alias]);
        match remote::list(&o.organization_ids, &o.workspace_ids, "", admin, env) {
            Ok(ts) => {
                if let Some(t) = ts.into_iter().find(|t| t.name == want) {
                    return Ok(t);
                }
            }
            Err(e) if e.not_found() => {}
            Err(e) => return Err(e),
        }
    }
    if o.organization_ids.is_empty() && o.workspace_ids.is_empty() {
        return Err(RtError::Usage(
            "creating a tunnel requires --organization-id or --workspace-id (or pass --tunnel-id to attach to an existing tunnel)".into(),
        ));
    }
    remote::create(
        &first(&[&o.name, alias]),
        &default_description(alias, &o.description, ""),
        &o.organization_ids,
        &o.workspace_ids,
        admin,
        env,
    )
}

pub fn create(root: &Root, o: &CreateOptions, env: &dyn Env) -> Result<Created, RtError> {
    let alias = normalize_alias(&o.alias)?;
    check_scope("create", o)?;
    root.ensure_dirs()?;
    let previous = root.load_aliases()?.remove(&alias).unwrap_or_default();
    let admin = resolve(root, &o.admin, &previous.admin_profile, env)?;
    let t = resolve_tunnel(root, &alias, o, &admin, env)?;
    let mut aliases = root.load_aliases()?;
    aliases.insert(
        alias.clone(),
        AliasRecord {
            alias: alias.clone(),
            tunnel_id: t.id.clone(),
            name: t.name.clone(),
            admin_profile: admin.name.clone(),
            description: t.description.clone(),
            organization_ids: t.organization_ids.clone(),
            workspace_ids: t.workspace_ids.clone(),
            tenant_ids: t.tenant_ids.clone(),
            updated_at: utc_now(),
            ..AliasRecord::default()
        },
    );
    root.save_aliases(&aliases)?;
    root.append_history(
        "create",
        &alias,
        &t.id,
        &format!("name={} admin_profile={}", t.name, admin.name),
    );
    Ok(Created {
        alias,
        tunnel: (&t).into(),
        admin_profile: admin.name,
        admin_profile_path: admin.path,
        state_root: root.path.display().to_string(),
    })
}

/// `runtimes connect` flags.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub create: CreateOptions,
    pub tunnel_id: String,
    pub profile_name: String,
    pub profile_dir: String,
    pub mcp_server_url: String,
    pub mcp_command: String,
    pub runtime_api_key: String,
    pub tunnel_client_bin: String,
}

/// The `connect` payload. `exit_code()` is 2 when the runtime did not become healthy.
#[derive(Debug, Clone, Serialize)]
pub struct Connected {
    pub alias: String,
    pub tunnel: TunnelView,
    pub admin_profile: String,
    pub admin_profile_path: String,
    pub profile_name: String,
    pub profile_dir: String,
    pub profile_path: String,
    pub profile_exists: bool,
    pub config_path: String,
    pub health_url_file: String,
    pub health_url: String,
    pub ui_url: String,
    pub runtime_state: String,
    pub readiness_reason: String,
    pub healthy: bool,
    pub ready: bool,
    pub launched: bool,
    pub mode: String,
    pub command: String,
    pub session_name: String,
    pub log_path: String,
    pub launch_diagnostics: Option<Value>,
    pub started: bool,
    pub running: bool,
    pub already_running: bool,
    pub remote_error: String,
    pub tmux: TmuxInfo,
    pub process_running: bool,
    pub process: ProcessView,
    pub local: Local,
    pub repair_actions: Vec<RepairAction>,
    pub next_steps: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Beyond Go: why the runtime is not healthy (early exit with its code, or no healthy
    /// `/healthz` within 2 s); empty when it is.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

impl Connected {
    /// 0, or 2 (a payload error) when the runtime is not healthy.
    pub fn exit_code(&self) -> i32 {
        if self.healthy {
            0
        } else {
            2
        }
    }
}

/// `--tunnel-client-bin` must be this very executable (it is only accepted for
/// compatibility; the runtime is always started from the current executable).
fn check_bin(explicit: &str) -> Result<(), RtError> {
    let explicit = explicit.trim();
    if explicit.is_empty() {
        return Ok(());
    }
    let cur = std::env::current_exe().map_err(|_| {
        RtError::Usage("validate --tunnel-client-bin: resolve current executable".into())
    })?;
    let a = std::fs::canonicalize(&cur).map_err(|e| {
        RtError::Usage(format!(
            "validate --tunnel-client-bin current executable {:?}: {e}",
            cur.display().to_string()
        ))
    })?;
    let b = std::fs::canonicalize(explicit)
        .map_err(|e| RtError::Usage(format!("validate --tunnel-client-bin {explicit:?}: {e}")))?;
    if a != b {
        return Err(RtError::Usage(
            "--tunnel-client-bin only accepts the current tunnel-client executable".into(),
        ));
    }
    Ok(())
}

pub fn connect(root: &Root, o: &ConnectOptions, env: &dyn Env) -> Result<Connected, RtError> {
    let alias = normalize_alias(&o.create.alias)?;
    check_scope("connect", &o.create)?;
    check_bin(&o.tunnel_client_bin)?;
    root.ensure_dirs()?;
    let pname = profile_name(&o.profile_name, &alias)?;
    let pdir = profile_dir(&o.profile_dir, env)?;
    let (kind, value) = target(&o.mcp_server_url, &o.mcp_command)?;
    let key_ref = first(&[&o.runtime_api_key, DEFAULT_RUNTIME_KEY_REF]);
    validate_ref(&key_ref, "runtime api_key")?;
    let supervisor = supervise::choose(env)?;
    let previous = root.load_aliases()?.remove(&alias).unwrap_or_default();
    let admin = resolve(root, &o.create.admin, &previous.admin_profile, env)?;

    let mut remote_error = String::new();
    let tunnel = if !o.tunnel_id.trim().is_empty() {
        let id = o.tunnel_id.trim();
        if !valid_tunnel_id(id) {
            return Err(RtError::Usage(format!(
                "invalid --tunnel-id {id:?}: must be tunnel_<32 lowercase letters or digits>"
            )));
        }
        match remote::get(id, &admin, &key_ref, env) {
            Ok(t) => t,
            Err(e) => {
                remote_error = e.to_string();
                Tunnel {
                    id: id.into(),
                    name: first(&[&o.create.name, &alias]),
                    description: default_description(&alias, &o.create.description, ""),
                    organization_ids: o.create.organization_ids.clone(),
                    workspace_ids: o.create.workspace_ids.clone(),
                    ..Tunnel::default()
                }
            }
        }
    } else {
        match resolve_tunnel(root, &alias, &o.create, &admin, env) {
            Ok(t) => t,
            Err(e) if e.not_found() && !previous.tunnel_id.is_empty() => {
                remote_error = e.to_string();
                Tunnel {
                    id: previous.tunnel_id.clone(),
                    name: first(&[&previous.name, &alias]),
                    description: default_description(&alias, &previous.description, ""),
                    organization_ids: previous.organization_ids.clone(),
                    workspace_ids: previous.workspace_ids.clone(),
                    tenant_ids: previous.tenant_ids.clone(),
                    ..Tunnel::default()
                }
            }
            Err(e) => return Err(e),
        }
    };

    let replace = !previous.tunnel_id.is_empty() && previous.tunnel_id != tunnel.id;
    let config = write_profile(
        root,
        &alias,
        &pdir,
        &pname,
        &tunnel.id,
        &admin,
        &key_ref,
        (kind, &value),
    )?;
    let config_s = config.display().to_string();
    let url_file = root.health_url_file(&alias).display().to_string();
    let record = AliasRecord {
        alias: alias.clone(),
        tunnel_id: tunnel.id.clone(),
        name: tunnel.name.clone(),
        admin_profile: admin.name.clone(),
        description: default_description(&alias, &o.create.description, &tunnel.description),
        organization_ids: tunnel.organization_ids.clone(),
        workspace_ids: tunnel.workspace_ids.clone(),
        tenant_ids: tunnel.tenant_ids.clone(),
        config_path: config_s.clone(),
        profile_name: pname.clone(),
        profile_dir: pdir.display().to_string(),
        profile_path: config_s.clone(),
        health_url_file: url_file.clone(),
        updated_at: utc_now(),
    };
    let mut aliases = root.load_aliases()?;
    aliases.insert(alias.clone(), record.clone());
    root.save_aliases(&aliases)?;

    let mut processes = root.load_processes()?;
    let existing = processes.get(&alias).cloned().unwrap_or_default();
    if replace && !existing.alias.is_empty() {
        root.append_history(
            "stale-process",
            &alias,
            &existing.tunnel_id,
            &format!("replacing with tunnel_id={}", tunnel.id),
        );
    }
    let mut overrides = BTreeMap::new();
    if let Some(var) = key_ref.strip_prefix("env:") {
        if let Ok(v) = resolve_ref(&key_ref, env) {
            overrides.insert(var.to_string(), v);
        }
    }
    let launch: Launch = supervise::start_or_reuse(
        supervisor,
        Request {
            alias: &alias,
            root,
            invocation: Invocation::current(&pdir.display().to_string(), &pname)?,
            env_overrides: overrides,
            existing_pid: existing.pid,
            replace,
        },
    )?;
    let proc_ = ProcessRecord {
        alias: alias.clone(),
        tunnel_id: tunnel.id.clone(),
        config_path: config_s.clone(),
        health_url_file: url_file,
        target_kind: kind.into(),
        target_value: value,
        command: launch.command.clone(),
        started_at: utc_now(),
        admin_profile: admin.name.clone(),
        profile_name: pname.clone(),
        profile_dir: pdir.display().to_string(),
        profile_path: config_s.clone(),
        mode: launch.mode.clone(),
        session_name: launch.session_name.clone(),
        pid: launch.pid,
        log_path: launch.log_path.clone(),
    };
    processes.insert(alias.clone(), proc_.clone());
    root.save_processes(&processes)?;
    root.append_history(
        "connect",
        &alias,
        &tunnel.id,
        &format!(
            "mode={} session={} pid={} started={} healthy={} ready={}",
            launch.mode,
            if launch.session_name.is_empty() {
                "-"
            } else {
                &launch.session_name
            },
            launch.pid,
            launch.started,
            launch.healthy,
            launch.ready
        ),
    );
    let local = inspect(root, &alias, &record, &proc_);
    let mut diag = serde_json::Map::new();
    if let Some(c) = launch.exit_code {
        diag.insert("exit_code".into(), c.into());
    }
    if !launch.log_path.is_empty() {
        diag.insert("log_path".into(), launch.log_path.clone().into());
    }
    if !launch.log_tail.is_empty() {
        diag.insert("log_tail".into(), launch.log_tail.clone().into());
    }
    let eff = &local.effective_health;
    let error = if launch.healthy {
        String::new()
    } else if let Some(c) = launch.exit_code {
        format!(
            "runtime for {alias} exited with code {c} before it became healthy; see {} (last line: {})",
            launch.log_path,
            launch.log_tail.lines().last().unwrap_or("")
        )
    } else if !launch.running {
        format!(
            "runtime for {alias} stopped before it became healthy ({} mode); see {}",
            launch.mode, launch.log_path
        )
    } else {
        format!(
            "runtime for {alias} did not become healthy within 2s ({} mode); check `tunnel-client runtimes status {alias}` and {}",
            launch.mode, launch.log_path
        )
    };
    let actions = repair_actions(&alias, &record, &proc_, &local, &remote_error);
    Ok(Connected {
        tunnel: (&tunnel).into(),
        admin_profile: admin.name,
        admin_profile_path: admin.path,
        profile_name: pname.clone(),
        profile_dir: record.profile_dir.clone(),
        profile_path: config_s.clone(),
        profile_exists: local.profile.file.exists,
        config_path: config_s.clone(),
        health_url_file: record.health_url_file.clone(),
        health_url: local.health.url.clone(),
        ui_url: if eff.healthz.ok {
            eff.ui.clone()
        } else {
            String::new()
        },
        runtime_state: local.runtime_state.clone(),
        readiness_reason: if eff.readyz.body.is_empty() {
            eff.readyz.error.clone()
        } else {
            eff.readyz.body.clone()
        },
        healthy: eff.healthz.ok,
        ready: eff.readyz.ok,
        launched: launch.launched,
        mode: launch.mode.clone(),
        command: launch.command.clone(),
        session_name: launch.session_name.clone(),
        log_path: launch.log_path.clone(),
        launch_diagnostics: (!diag.is_empty()).then_some(Value::Object(diag)),
        started: launch.started,
        running: launch.running,
        already_running: launch.already_running,
        remote_error: remote_error.clone(),
        tmux: local.tmux.clone(),
        process_running: local.process_running,
        process: (&proc_).into(),
        repair_actions: actions,
        next_steps: vec![doctor_command(&pname, &record.profile_dir, &config_s)],
        local,
        pid: (launch.pid > 0).then_some(launch.pid),
        exit_code: launch.exit_code,
        error: if remote_error.is_empty() || launch.healthy {
            error
        } else {
            format!("{error}; remote lookup: {remote_error}")
        },
        alias,
    })
}
