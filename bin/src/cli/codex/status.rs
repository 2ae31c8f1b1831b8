//! `codex status [--json]` and `codex diagnose [alias]`: where Codex is, whether it speaks
//! `app-server`, whether the bridge starts and a thread can be opened, and how the Tunnel
//! MCP plugin is installed. Both always exit 0: the report is the result.

use std::process::Command;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use tunnel_core::codex::Snapshot;

use super::bridge::{Bridge, ProcessInfo};
use super::detect::{self, Installation, StaleEntry};
use super::install_cmds::{self, METHODS};
use super::{assistant, plugin};
use crate::cli::args::{Args, CliError};

pub const REINSTALL: &str = "tunnel-client codex plugin install";

fn env_duration(key: &str, default: Duration) -> Duration {
    std::env::var(key)
        .ok()
        .and_then(|v| parse_duration(v.trim()))
        .unwrap_or(default)
}

/// `250ms`, `5s`, `2m` (test knobs and flags; no fractions).
pub fn parse_duration(v: &str) -> Option<Duration> {
    let split = v.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = v[..split].parse().ok()?;
    match &v[split..] {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

#[derive(Debug, Serialize)]
pub struct BridgeSnapshot {
    #[serde(flatten)]
    pub process: ProcessInfo,
    #[serde(flatten)]
    pub session: Snapshot,
}

#[derive(Debug, Serialize, Default)]
pub struct StatusReport {
    pub state: String,
    pub docs_url: String,
    pub detected: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    pub app_server_supported: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app_server_support_error: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bridge_error: String,
    pub plugin_installed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plugin_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plugin_marketplace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plugin_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plugin_dir: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plugin_binary_hint: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plugin_binary_hint_path: String,
    pub plugin_binary_hint_found: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub current_tunnel_client_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_matches_current_binary: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plugin_reinstall_command: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enabled_plugin_config_keys: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugin_installations: Vec<Installation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_plugin_config_entries: Vec<StaleEntry>,
    pub preferred_install_method: String,
    pub recommended_install_command: String,
    pub recommended_upgrade_command: String,
    pub recommended_uninstall_command: String,
    pub fallback_install_commands: Vec<String>,
    pub bridge_ready: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub assistant_state: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub assistant_error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<BridgeSnapshot>,
}

/// Run `codex ARGS` with stdout and stderr combined in one pipe, in the order written (real
/// Codex warns on stderr before printing its version on stdout).
fn run_codex(codex: &std::path::Path, args: &[&str]) -> Result<(bool, String), String> {
    let mut cmd = if cfg!(unix) {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg("exec \"$0\" \"$@\" 2>&1")
            .arg(codex)
            .args(args);
        c
    } else {
        let mut c = Command::new(codex);
        c.args(args);
        c
    };
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("run {} {}: {e}", codex.display(), args.join(" ")))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

pub fn collect(home: &std::path::Path) -> StatusReport {
    let codex = detect::which("codex");
    let d = detect::detect(home, codex.is_some());
    let p = install_cmds::preferred();
    let mut r = StatusReport {
        docs_url: install_cmds::DOCS_URL.into(),
        detected: d.detected,
        plugin_installed: d.installed(),
        plugin_key: d.chosen.key.clone(),
        plugin_marketplace: d.chosen.marketplace.clone(),
        plugin_version: d.chosen.version.clone(),
        plugin_dir: d.chosen.dir.clone(),
        plugin_binary_hint: d.chosen.binary_hint.clone(),
        plugin_binary_hint_path: if d.installed() {
            d.chosen.binary_hint_path.clone()
        } else {
            String::new()
        },
        plugin_binary_hint_found: d.hint_found(),
        enabled_plugin_config_keys: d.enabled_keys.clone(),
        plugin_installations: d.installations.clone(),
        stale_plugin_config_entries: d.stale.clone(),
        preferred_install_method: p.name.into(),
        recommended_install_command: p.install_command.into(),
        recommended_upgrade_command: p.upgrade_command.into(),
        recommended_uninstall_command: p.uninstall_command.into(),
        fallback_install_commands: METHODS
            .iter()
            .filter(|m| m.name != p.name)
            .map(|m| m.install_command.to_string())
            .collect(),
        ..StatusReport::default()
    };
    if let Ok(cur) = plugin::current_binary() {
        r.current_tunnel_client_path = cur.display().to_string();
        if d.hint_found() {
            let hint = std::fs::canonicalize(&d.chosen.binary_hint)
                .unwrap_or_else(|_| d.chosen.binary_hint.clone().into());
            let matches = hint == cur;
            r.plugin_matches_current_binary = Some(matches);
            if !matches {
                r.plugin_reinstall_command = REINSTALL.into();
            }
        }
    }
    let Some(codex) = codex else {
        r.state = "missing".into();
        return r;
    };
    r.path = codex.display().to_string();
    if let Ok((_, text)) = run_codex(&codex, &["--version"]) {
        r.version = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or_default()
            .to_string();
    }
    match run_codex(&codex, &["app-server", "--help"]) {
        Ok((true, _)) => r.app_server_supported = true,
        Ok((false, text)) => {
            r.state = "unsupported".into();
            r.app_server_support_error = if text.trim().is_empty() {
                "codex app-server --help failed".into()
            } else {
                text.trim().to_string()
            };
            return r;
        }
        Err(e) => {
            r.state = "unsupported".into();
            r.app_server_support_error = e;
            return r;
        }
    }
    let budget = env_duration(
        "TUNNEL_CLIENT_CODEX_BRIDGE_TIMEOUT",
        Duration::from_secs(15),
    );
    let mut bridge = match Bridge::start(budget) {
        Ok(b) => b,
        Err(e) => {
            r.state = "error".into();
            r.bridge_error = e;
            return r;
        }
    };
    r.bridge_ready = true;
    r.snapshot = Some(BridgeSnapshot {
        process: bridge.info.clone(),
        session: bridge.snapshot().clone(),
    });
    if bridge.snapshot().needs_login() {
        r.state = "logged_out".into();
        r.assistant_state = "logged_out".into();
    } else {
        let probe = env_duration("TUNNEL_CLIENT_CODEX_PROBE_TIMEOUT", Duration::from_secs(5));
        let cwd = std::env::current_dir()
            .map(|c| c.display().to_string())
            .unwrap_or_default();
        let params = assistant::thread_params(&assistant::Settings::defaults(&cwd));
        match bridge.call("thread/start", params, probe) {
            Ok(_) => {
                r.state = "ready".into();
                r.assistant_state = "ready".into();
            }
            Err(e) => {
                r.state = "bridge_ready".into();
                r.assistant_state = "unavailable".into();
                r.assistant_error = e;
            }
        }
    }
    bridge.stop(Duration::from_secs(5));
    r
}

fn section(out: &mut String, heading: &str, lines: &[String]) {
    out.push_str(heading);
    out.push_str(":\n");
    for l in lines.iter().filter(|l| !l.is_empty()) {
        out.push_str("  ");
        out.push_str(l);
        out.push('\n');
    }
}

fn opt(label: &str, v: &str) -> String {
    if v.is_empty() {
        String::new()
    } else {
        format!("{label}: {v}")
    }
}

pub fn render(r: &StatusReport) -> String {
    let mut o = String::new();
    section(
        &mut o,
        "Codex",
        &[
            format!("State: {}", r.state),
            opt("Path", &r.path),
            opt("Version", &r.version),
        ],
    );
    if !r.detected {
        o.push('\n');
        section(
            &mut o,
            "Commands",
            &[
                format!("Install: {}", r.recommended_install_command),
                format!("Docs: {}", r.docs_url),
            ],
        );
        return o;
    }
    o.push('\n');
    let mut p = vec![];
    if r.plugin_installed {
        p.push("Status: installed".to_string());
        p.push(opt("Key", &r.plugin_key));
        p.push(opt("Marketplace", &r.plugin_marketplace));
        p.push(opt("Version", &r.plugin_version));
        p.push(opt("Dir", &r.plugin_dir));
        p.push(opt("Binary hint", &r.plugin_binary_hint));
        p.push(opt("Binary hint path", &r.plugin_binary_hint_path));
        if !r.plugin_binary_hint_found {
            p.push("Binary hint file: missing; routed plugin commands will require an explicit --tunnel-client-bin or TUNNEL_CLIENT_BIN.".into());
        }
        p.push(opt("Current tunnel-client", &r.current_tunnel_client_path));
        if let Some(m) = r.plugin_matches_current_binary {
            p.push(format!("Matches current tunnel-client: {m}"));
            if !m && !r.plugin_reinstall_command.is_empty() {
                p.push("Codex keeps running the plugin's tools with the binary hint above until the plugin is reinstalled.".into());
                p.push(format!(
                    "Reinstall plugin to use this binary: {}",
                    r.plugin_reinstall_command
                ));
            }
        }
    } else {
        p.push("Status: not installed".into());
        p.push(opt("Expected dir", &r.plugin_dir));
    }
    if !r.enabled_plugin_config_keys.is_empty() {
        p.push(format!(
            "Enabled config keys: {}",
            r.enabled_plugin_config_keys.join(", ")
        ));
    }
    for s in &r.stale_plugin_config_entries {
        p.push(format!("Stale config entry: {} ({})", s.key, s.reason));
    }
    section(&mut o, "Tunnel MCP plugin", &p);
    o.push('\n');
    let mut a = vec![];
    if r.app_server_supported {
        a.push("app-server: supported".to_string());
    } else {
        let e = if r.app_server_support_error.is_empty() {
            "-"
        } else {
            &r.app_server_support_error
        };
        a.push(format!("app-server: unavailable ({e})"));
    }
    a.push(opt("Bridge error", &r.bridge_error));
    if r.bridge_ready {
        a.push("Bridge: ready".into());
    }
    a.push(opt("Assistant readiness", &r.assistant_state));
    a.push(opt("Assistant error", &r.assistant_error));
    if r.app_server_supported {
        a.push("Assistant: tunnel-client codex assistant".into());
    }
    if let Some(s) = &r.snapshot {
        if !s.session.account.kind.is_empty() {
            let mut label = if s.session.account.email.is_empty() {
                "-".to_string()
            } else {
                s.session.account.email.clone()
            };
            if !s.session.account.plan_type.is_empty() {
                label.push_str(&format!(" ({})", s.session.account.plan_type));
            }
            a.push(format!("Account: {label}"));
        }
    }
    if !r.plugin_installed {
        a.push("Note: Bridge and Assistant readiness reflect Codex itself, not plugin files on disk. If you just uninstalled tunnel-mcp, already-running Codex sessions may still have the previously loaded plugin until restart.".into());
    }
    section(&mut o, "Codex app / bridge", &a);
    o.push('\n');
    section(
        &mut o,
        "Commands",
        &[
            format!("Install: {}", r.recommended_install_command),
            format!("Upgrade: {}", r.recommended_upgrade_command),
            format!("Uninstall: {}", r.recommended_uninstall_command),
            format!("Docs: {}", r.docs_url),
        ],
    );
    o
}

pub fn run(args: &[String]) -> Result<(), CliError> {
    let mut a = Args::new("codex status", args);
    let mut json = false;
    while let Some(f) = a.next_flag()? {
        match f.as_str() {
            "json" => json = true,
            "help" | "h" => {
                println!("Usage: tunnel-client codex status [--json]");
                return Ok(());
            }
            other => return Err(a.unknown(other, &["json"])),
        }
    }
    let r = collect(&detect::codex_home(None));
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        print!("{}", render(&r));
    }
    Ok(())
}

#[derive(Serialize)]
struct DiagnoseReport {
    loaded_plugin_source: String,
    config_path: String,
    cache_path: String,
    plugin_key: String,
    plugin_installed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    plugin_binary_hint: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    plugin_binary_hint_path: String,
    plugin_binary_hint_found: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    enabled_plugin_config_keys: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stale_plugin_config_entries: Vec<StaleEntry>,
    #[serde(skip_serializing_if = "String::is_empty")]
    resolved_tunnel_client_binary: String,
    resolved_tunnel_client_source: String,
    binary_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    alias: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime_status: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    runtime_status_error: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    current_health_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<Value>,
    codex_bridge: StatusReport,
}

pub fn diagnose(args: &[String]) -> Result<(), CliError> {
    let (mut json, mut alias, mut root, mut health_url) =
        (false, String::new(), None, String::new());
    // One positional alias is allowed among the flags.
    let mut positional = vec![];
    let mut rest: Vec<String> = vec![];
    let mut want_value = false;
    for w in args {
        if want_value {
            rest.push(w.clone());
            want_value = false;
        } else if w.starts_with("--") {
            want_value = !w.contains('=')
                && matches!(w.as_str(), "--alias" | "--plugin-root" | "--health-url");
            rest.push(w.clone());
        } else {
            positional.push(w.clone());
        }
    }
    if positional.len() > 1 {
        return Err(CliError::Usage(format!(
            "codex diagnose: expected at most one alias, got {}",
            positional.join(" ")
        )));
    }
    let mut a = Args::new("codex diagnose", &rest);
    while let Some(f) = a.next_flag()? {
        match f.as_str() {
            "json" => json = true,
            "alias" => alias = a.value("alias")?,
            "plugin-root" => root = Some(a.value("plugin-root")?),
            "health-url" => health_url = a.value("health-url")?,
            "help" | "h" => {
                println!("Usage: tunnel-client codex diagnose [alias] [--json] [--alias A] [--plugin-root DIR] [--health-url URL]");
                return Ok(());
            }
            other => return Err(a.unknown(other, &["json", "alias", "plugin-root", "health-url"])),
        }
    }
    if alias.is_empty() {
        alias = positional.first().cloned().unwrap_or_default();
    }
    let home = detect::codex_home(None);
    let bridge = collect(&home);
    let d = detect::detect(&home, detect::which("codex").is_some());
    let cache = root.unwrap_or_else(|| d.chosen.dir.clone());
    let mut rep = DiagnoseReport {
        loaded_plugin_source: if d.installed() {
            "marketplace_cache".into()
        } else {
            "none".into()
        },
        config_path: home.join("config.toml").display().to_string(),
        cache_path: cache,
        plugin_key: d.chosen.key.clone(),
        plugin_installed: d.installed(),
        plugin_binary_hint: d.chosen.binary_hint.clone(),
        plugin_binary_hint_path: d.chosen.binary_hint_path.clone(),
        plugin_binary_hint_found: d.hint_found(),
        enabled_plugin_config_keys: d.enabled_keys.clone(),
        stale_plugin_config_entries: d.stale.clone(),
        resolved_tunnel_client_binary: bridge.current_tunnel_client_path.clone(),
        resolved_tunnel_client_source: "current_process".into(),
        binary_version: crate::cli::help_topics::version().to_string(),
        alias: alias.clone(),
        runtime_status: None,
        runtime_status_error: String::new(),
        current_health_url: health_url.clone(),
        health: None,
        codex_bridge: bridge,
    };
    if !alias.is_empty() {
        match super::runtime_ops::default_ops().call("status", std::slice::from_ref(&alias)) {
            Ok(v) => rep.runtime_status = Some(v),
            Err(e) => rep.runtime_status_error = e,
        }
    }
    if !health_url.is_empty() {
        rep.health = Some(probe_health(&health_url));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rep).unwrap_or_default());
        return Ok(());
    }
    let mut o = String::new();
    section(
        &mut o,
        "Tunnel MCP diagnose",
        &[
            opt("Loaded plugin source", &rep.loaded_plugin_source),
            opt("Config path", &rep.config_path),
            opt("Cache path", &rep.cache_path),
            opt("Plugin key", &rep.plugin_key),
            format!("Plugin installed: {}", rep.plugin_installed),
            opt("Binary hint", &rep.plugin_binary_hint),
            opt("Binary hint path", &rep.plugin_binary_hint_path),
            format!("Binary hint file found: {}", rep.plugin_binary_hint_found),
            opt(
                "Resolved tunnel-client binary",
                &rep.resolved_tunnel_client_binary,
            ),
            opt(
                "Resolved tunnel-client source",
                &rep.resolved_tunnel_client_source,
            ),
            opt("Binary version", &rep.binary_version),
            opt("Current health URL", &rep.current_health_url),
        ],
    );
    if !rep.enabled_plugin_config_keys.is_empty() {
        section(
            &mut o,
            "Enabled config keys",
            &rep.enabled_plugin_config_keys,
        );
    }
    if !rep.stale_plugin_config_entries.is_empty() {
        let l: Vec<String> = rep
            .stale_plugin_config_entries
            .iter()
            .map(|s| format!("{}: {}", s.key, s.reason))
            .collect();
        section(&mut o, "Stale config entries", &l);
    }
    o.push('\n');
    let b = &rep.codex_bridge;
    section(
        &mut o,
        "Codex bridge",
        &[
            format!("State: {}", b.state),
            format!("app-server supported: {}", b.app_server_supported),
            opt("app-server error", &b.app_server_support_error),
            opt("Bridge error", &b.bridge_error),
            opt("Assistant state", &b.assistant_state),
            opt("Assistant error", &b.assistant_error),
        ],
    );
    if rep.runtime_status.is_some() || !rep.runtime_status_error.is_empty() {
        o.push('\n');
        let s = |k: &str| {
            rep.runtime_status
                .as_ref()
                .and_then(|v| v[k].as_str())
                .unwrap_or("")
                .to_string()
        };
        section(
            &mut o,
            "Runtime",
            &[
                opt("Error", &rep.runtime_status_error),
                opt("State", &s("runtime_state")),
                opt("Health URL", &s("health_url")),
                opt("Tunnel ID", &s("tunnel_id")),
            ],
        );
    }
    print!("{o}");
    Ok(())
}

fn probe_health(url: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    match agent.get(url).call() {
        Ok(resp) => {
            json!({"url": url, "status": resp.status().as_u16(), "ok": resp.status().is_success()})
        }
        Err(e) => json!({"url": url, "ok": false, "error": e.to_string()}),
    }
}
