//! What `status` (and `connect`, `stop`, `cleanup`) find on this machine about an alias:
//! the profile, the health URL file and what answers there, another live admin UI for the
//! same tunnel, the tmux session or pid, the log tail; and from that the runtime state,
//! the issues, the repair actions and the next steps.

use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use super::probe::{probe, ui_url, EndpointProbe};
use super::state::{AliasRecord, ProcessRecord, Root, MODE_PROCESS, MODE_TMUX};
use super::supervise::{log_tail, pid_alive, read_health_url, session_name, tmux_has_session};
use crate::cli::health::{get_json, normalize_base_url};

#[derive(Debug, Clone, Default, Serialize)]
pub struct FileInfo {
    pub path: String,
    pub exists: bool,
    pub size_bytes: u64,
}

pub fn file_info(path: &str) -> FileInfo {
    if path.trim().is_empty() {
        return FileInfo::default();
    }
    match std::fs::metadata(path) {
        Ok(m) => FileInfo {
            path: path.into(),
            exists: true,
            size_bytes: if m.is_dir() { 0 } else { m.len() },
        },
        Err(_) => FileInfo {
            path: path.into(),
            ..FileInfo::default()
        },
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProfileInfo {
    #[serde(flatten)]
    pub file: FileInfo,
    pub name: String,
    pub dir: String,
    pub config_path: String,
}

/// The recorded health URL file and what answers at the URL it holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HealthInfo {
    #[serde(flatten)]
    pub file: FileInfo,
    pub raw_url: String,
    pub base_url: String,
    /// The `/healthz` URL.
    pub url: String,
    pub ui: String,
    pub healthz: EndpointProbe,
    pub readyz: EndpointProbe,
}

/// The health that counts: the recorded URL, or a live admin UI for the same tunnel when
/// the recorded one does not answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EffectiveHealth {
    pub base_url: String,
    pub url: String,
    pub ui: String,
    pub healthz: EndpointProbe,
    pub readyz: EndpointProbe,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LogInfo {
    #[serde(flatten)]
    pub file: FileInfo,
    pub tail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TmuxInfo {
    pub session_name: String,
    pub running: bool,
}

/// Everything found locally about one alias.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Local {
    /// `stopped`, `starting`, `healthy` or `ready`.
    pub runtime_state: String,
    pub issues: Vec<String>,
    pub profile: ProfileInfo,
    pub health: HealthInfo,
    pub effective_health: EffectiveHealth,
    pub live_admin_ui: Value,
    pub control_plane_poll_health: Value,
    pub log: LogInfo,
    pub tmux: TmuxInfo,
    pub process_running: bool,
}

impl Local {
    pub fn live_found(&self) -> bool {
        self.live_admin_ui["found"] == true
    }
}

/// A suggested fix: an id an agent can switch on, the command, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairAction {
    pub id: String,
    pub command: String,
    pub reason: String,
}

fn first(vals: &[&str]) -> String {
    vals.iter()
        .find(|v| !v.trim().is_empty())
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Inspects the alias. Never trusts a health URL file on its own: every URL is probed.
pub fn inspect(root: &Root, alias: &str, rec: &AliasRecord, proc_: &ProcessRecord) -> Local {
    let url_file = first(&[&proc_.health_url_file, &rec.health_url_file]);
    let tunnel_id = first(&[&rec.tunnel_id, &proc_.tunnel_id]);
    let raw = if url_file.is_empty() {
        String::new()
    } else {
        read_health_url(Path::new(&url_file))
    };
    let p = probe(&raw).unwrap_or_default();
    let live = find_live_admin_ui(root, &tunnel_id, &normalize_base_url(&raw));
    let eff = if !p.healthz.ok {
        live["base_url"]
            .as_str()
            .and_then(probe)
            .unwrap_or_else(|| p.clone())
    } else {
        p.clone()
    };
    let health = HealthInfo {
        file: file_info(&url_file),
        raw_url: raw.clone(),
        base_url: p.base_url.clone(),
        url: p.healthz.url.clone(),
        ui: p.ui_url(),
        healthz: p.healthz.clone(),
        readyz: p.readyz.clone(),
    };
    let profile = ProfileInfo {
        file: file_info(&first(&[&proc_.profile_path, &rec.profile_path])),
        name: first(&[&proc_.profile_name, &rec.profile_name]),
        dir: first(&[&proc_.profile_dir, &rec.profile_dir]),
        config_path: first(&[&proc_.config_path, &rec.config_path]),
    };
    let log = LogInfo {
        file: file_info(&proc_.log_path),
        tail: log_tail(Path::new(&proc_.log_path), 20),
    };
    let session = first(&[&proc_.session_name, &session_name(alias, root)]);
    let tmux_running = super::supervise::tmux_available() && tmux_has_session(&session);
    let pid_running = proc_.pid > 0 && pid_alive(proc_.pid);
    let poll = poll_health(&live);
    let running = tmux_running || pid_running || live["found"] == true;
    let state = if !running {
        "stopped"
    } else if eff.healthz.ok && eff.readyz.ok {
        "ready"
    } else if eff.healthz.ok {
        "healthy"
    } else {
        "starting"
    };
    let mut l = Local {
        runtime_state: state.into(),
        issues: Vec::new(),
        profile,
        health,
        effective_health: EffectiveHealth {
            base_url: eff.base_url.clone(),
            url: eff.healthz.url.clone(),
            ui: ui_url(&eff.base_url),
            healthz: eff.healthz.clone(),
            readyz: eff.readyz.clone(),
        },
        live_admin_ui: live,
        control_plane_poll_health: poll,
        log,
        tmux: TmuxInfo {
            session_name: session,
            running: tmux_running,
        },
        process_running: pid_running || (proc_.mode == MODE_TMUX && tmux_running),
    };
    l.issues = issues(proc_, tmux_running, pid_running, &l);
    l
}

/// Another runtime's admin UI (any `health/*.url` in the root) serving the same tunnel.
fn find_live_admin_ui(root: &Root, tunnel_id: &str, stale_base: &str) -> Value {
    let Ok(dir) = std::fs::read_dir(root.path.join("health")) else {
        return json!({"found": false});
    };
    let mut files: Vec<_> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "url") && p.is_file())
        .collect();
    files.sort();
    for f in files {
        let base = normalize_base_url(&read_health_url(&f));
        if base.is_empty() || base == stale_base {
            continue;
        }
        let Ok(status) = get_json(&base, "/api/status") else {
            continue;
        };
        let tid = status["control_plane_tunnel_id"].as_str().unwrap_or("");
        if !tunnel_id.is_empty() && tid != tunnel_id {
            continue;
        }
        let system = get_json(&base, "/api/system").unwrap_or(Value::Null);
        return json!({
            "found": true,
            "base_url": base,
            "ui_url": ui_url(&base),
            "source_health_url_file": f.display().to_string(),
            "match_reason": "control_plane_tunnel_id",
            "status": status,
            "system": system,
        });
    }
    json!({"found": false})
}

fn poll_health(live: &Value) -> Value {
    let system = &live["system"];
    if !system.is_object() {
        return json!({"state": "unknown", "reason": "no live admin UI system snapshot"});
    }
    if let Some(items) = system["proxy_health"].as_array() {
        for s in items {
            if s["route"]["kind"] == "control_plane" {
                return json!({
                    "state": s["health_state"].as_str().filter(|v| !v.is_empty()).unwrap_or("unknown"),
                    "route": s["route"],
                    "last_check": s["last_check"],
                    "last_success": s["last_success"],
                    "history": s["history"],
                });
            }
        }
    }
    if !live["status"]["control_plane_route"].is_null() {
        return json!({
            "state": "unknown",
            "route": live["status"]["control_plane_route"],
            "reason": "route is present but proxy health snapshot did not report reachability",
        });
    }
    json!({"state": "unknown", "reason": "control-plane route health is not available"})
}

fn bad_poll_state(v: &Value) -> Option<&str> {
    v["state"]
        .as_str()
        .filter(|s| !s.is_empty() && !["unknown", "healthy", "direct"].contains(s))
}

fn endpoint_issue(what: &str, e: &EndpointProbe, with_body: bool) -> String {
    let mut s = format!("{what} at {}", e.url);
    if e.status != 0 {
        s.push_str(&format!(" (HTTP {})", e.status));
    } else if !e.error.is_empty() {
        s.push_str(&format!(" ({})", e.error));
    } else if with_body && !e.body.is_empty() {
        s.push_str(&format!(" ({})", e.body));
    }
    s
}

fn issues(p: &ProcessRecord, tmux_running: bool, pid_running: bool, l: &Local) -> Vec<String> {
    let mut v = Vec::new();
    if p.mode == MODE_TMUX && !p.session_name.is_empty() && !tmux_running {
        v.push("recorded tmux session is not running".to_string());
    }
    if p.mode == MODE_PROCESS && p.pid > 0 && !pid_running {
        v.push("recorded process pid is not running".into());
    }
    if !p.profile_path.is_empty() && !l.profile.file.exists {
        v.push("recorded runtime profile is missing".into());
    }
    if !p.health_url_file.is_empty() && l.health.raw_url.is_empty() {
        v.push("health URL file has not been populated".into());
    }
    if !p.alias.is_empty() && !l.health.url.is_empty() && !l.health.healthz.ok {
        v.push(endpoint_issue(
            "health endpoint is not healthy",
            &l.health.healthz,
            false,
        ));
    }
    if !p.alias.is_empty() && !l.health.readyz.url.is_empty() && !l.health.readyz.ok {
        v.push(endpoint_issue(
            "ready endpoint is not ready",
            &l.health.readyz,
            true,
        ));
    }
    if !p.log_path.is_empty() && !tmux_running && !pid_running && l.log.file.exists {
        v.push("runtime log exists but no active runtime is running".into());
    }
    if l.live_found() && !l.health.healthz.ok {
        v.push(format!(
            "recorded health URL looks stale; live admin UI was found at {}",
            l.live_admin_ui["base_url"].as_str().unwrap_or("")
        ));
    }
    if let Some(s) = bad_poll_state(&l.control_plane_poll_health) {
        v.push(format!("control-plane poll route health is {s}"));
    }
    v
}

fn shell_quote(v: &str) -> String {
    if v.is_empty() {
        return "''".into();
    }
    if v.contains('<') && v.contains('>') {
        return v.into();
    }
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%_+=:,./-".contains(c))
    {
        return v.into();
    }
    format!("'{}'", v.replace('\'', "'\"'\"'"))
}

/// The `runtimes connect` command that recreates this alias's runtime.
pub fn repair_command(alias: &str, rec: &AliasRecord, p: &ProcessRecord) -> String {
    let mut parts: Vec<String> = ["tunnel-client", "runtimes", "connect", "--alias", alias]
        .map(String::from)
        .to_vec();
    let mut add = |a: &str, b: &str| {
        parts.push(a.into());
        parts.push(b.into());
    };
    if !rec.admin_profile.is_empty() {
        add("--admin-profile", &rec.admin_profile);
    }
    if !rec.profile_name.is_empty() {
        add("--profile", &rec.profile_name);
    }
    let dir = first(&[&p.profile_dir, &rec.profile_dir]);
    if !dir.is_empty() {
        add("--profile-dir", &dir);
    }
    if !rec.tunnel_id.is_empty() && rec.organization_ids.is_empty() && rec.workspace_ids.is_empty()
    {
        add("--tunnel-id", &rec.tunnel_id);
    } else if let Some(o) = rec.organization_ids.first() {
        add("--organization-id", o);
    } else if let Some(w) = rec.workspace_ids.first() {
        add("--workspace-id", w);
    }
    match p.target_kind.as_str() {
        "server_url" => add("--mcp-server-url", &p.target_value),
        "command" => add("--mcp-command", &p.target_value),
        _ => parts.push("<add --mcp-server-url or --mcp-command>".into()),
    }
    parts
        .iter()
        .map(|s| shell_quote(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `tunnel-client doctor --profile <name> [--profile-dir <dir>] --explain` (or `--config`).
pub fn doctor_command(name: &str, dir: &str, config: &str) -> String {
    let mut s = "tunnel-client doctor".to_string();
    if !name.is_empty() {
        s.push_str(&format!(" --profile {name}"));
        if !dir.is_empty() {
            s.push_str(&format!(" --profile-dir {dir}"));
        }
    } else if !config.is_empty() {
        s.push_str(&format!(" --config {config}"));
    }
    s.push_str(" --explain");
    s
}

pub fn repair_actions(
    alias: &str,
    rec: &AliasRecord,
    p: &ProcessRecord,
    l: &Local,
    remote_err: &str,
) -> Vec<RepairAction> {
    let mut v = Vec::new();
    let mut act = |id: &str, command: String, reason: &str| {
        v.push(RepairAction {
            id: id.into(),
            command,
            reason: reason.into(),
        })
    };
    if !l.profile.file.exists {
        act("reconnect_missing_profile", repair_command(alias, rec, p),
            "the recorded runtime profile is missing, so reconnecting rewrites the profile and relaunches the managed runtime");
    }
    if p.alias.is_empty() || l.runtime_state == "stopped" {
        act(
            "start_runtime",
            repair_command(alias, rec, p),
            "no managed runtime is currently running for this alias",
        );
    }
    if l.live_found() && !l.health.healthz.ok {
        act(
            "refresh_stale_health_url",
            format!("tunnel-client runtimes connect --alias {alias}"),
            "the recorded health URL is stale but a live admin UI for the same tunnel was found",
        );
    }
    if bad_poll_state(&l.control_plane_poll_health).is_some() {
        act("repair_control_plane_proxy",
            doctor_command(&first(&[&p.profile_name, &rec.profile_name]), &first(&[&p.profile_dir, &rec.profile_dir]), &first(&[&p.config_path, &rec.config_path])),
            "local /healthz and /readyz can be green while the control-plane poll route is unhealthy through the configured proxy");
    }
    if !remote_err.trim().is_empty() {
        act("check_remote_tunnel", format!("tunnel-client runtimes status {alias} --json"),
            "the remote tunnel lookup returned an error and should be rechecked with the current runtime/admin credentials");
    }
    if v.is_empty() {
        v.push(RepairAction {
            id: "inspect".into(),
            command: format!("tunnel-client runtimes status {alias} --json"),
            reason: "no immediate local repair was detected; rerun status for the freshest structured state".into(),
        });
    }
    v
}

/// The repair commands, then `extras`, each once.
pub fn next_steps(actions: &[RepairAction], extras: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in actions.iter().map(|a| &a.command).chain(extras.iter()) {
        if !c.trim().is_empty() && !out.contains(c) {
            out.push(c.clone());
        }
    }
    out
}

/// `cleanup`'s verdict: `live_runtime`, `valid_profile`, `missing_profile` or `stale_alias`.
pub fn classify(l: &Local) -> &'static str {
    if l.live_found() || l.process_running {
        "live_runtime"
    } else if l.profile.file.exists {
        "valid_profile"
    } else if !l.profile.file.path.is_empty() || !l.profile.name.is_empty() {
        "missing_profile"
    } else {
        "stale_alias"
    }
}
