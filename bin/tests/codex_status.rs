//! `codex status`, `diagnose` and `install|upgrade|uninstall` against the fake Codex.
#![cfg(unix)] // symlinked fake codex, modes, a pty

mod codex_support;

use codex_support::*;
use serde_json::Value;

fn status_json(sb: &Sandbox) -> Value {
    let out = ok(&sb.run(&["codex", "status", "--json"]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn done_when_install_then_status_reports_plugin_matching_this_binary() {
    let mut sb = Sandbox::new("ready", true);
    sb.set("FAKE_CODEX_VERSION_NOISE", "1");
    ok(&sb.run(&["codex", "plugin", "install"]));
    let v = status_json(&sb);
    assert_eq!(v["state"], "ready", "{v:#}");
    assert_eq!(v["assistant_state"], "ready");
    assert_eq!(
        v["version"], "codex-cli 0.169.0",
        "last non-empty line of --version"
    );
    assert_eq!(v["path"], sb.bin_dir.join("codex").display().to_string());
    assert_eq!(v["plugin_installed"], true);
    assert_eq!(v["plugin_key"], "tunnel-mcp@debug");
    assert_eq!(v["plugin_matches_current_binary"], true);
    assert!(v.get("plugin_reinstall_command").is_none());
    assert_eq!(v["bridge_ready"], true);
    let snap = &v["snapshot"];
    assert_eq!(snap["account"]["email"], "worker@example.com");
    assert_eq!(
        snap["initialize_info"]["codex_home"],
        sb.codex_home.display().to_string(),
        "camelCase initialize decoded"
    );
    // Field order follows Go's report.
    let raw = ok(&sb.run(&["codex", "status", "--json"]));
    let pos = |k: &str| {
        raw.find(&format!("\n  \"{k}\":"))
            .unwrap_or_else(|| panic!("{k} missing"))
    };
    assert!(
        pos("state") < pos("docs_url") && pos("plugin_installed") < pos("preferred_install_method")
    );
    assert!(pos("bridge_ready") < pos("snapshot"));
}

#[test]
fn hint_for_another_binary_asks_for_reinstall() {
    let sb = Sandbox::new("mismatch", true);
    ok(&sb.run(&["codex", "plugin", "install"]));
    let other = sb.root.join("other-tunnel-client");
    std::fs::copy(BIN, &other).unwrap();
    std::fs::write(
        sb.plugin_dir().join(".tunnel-client-bin"),
        format!("{}\n", other.display()),
    )
    .unwrap();
    let v = status_json(&sb);
    assert_eq!(v["plugin_matches_current_binary"], false);
    assert_eq!(
        v["plugin_reinstall_command"],
        "tunnel-client codex plugin install"
    );
    let text = ok(&sb.run(&["codex", "status"]));
    assert!(
        text.contains("  Matches current tunnel-client: false\n"),
        "{text}"
    );
    assert!(text
        .contains("  Reinstall plugin to use this binary: tunnel-client codex plugin install\n"));
}

#[test]
fn logged_out_missing_unsupported_and_stalled_probe() {
    let mut sb = Sandbox::new("states", true);
    sb.set("FAKE_CODEX_AUTH", "logged_out");
    let v = status_json(&sb);
    assert_eq!(v["state"], "logged_out");
    assert_eq!(v["assistant_state"], "logged_out");

    sb.set("FAKE_CODEX_AUTH", "chatgpt")
        .set("FAKE_CODEX_SCENARIO", "stall_thread_start");
    sb.set("TUNNEL_CLIENT_CODEX_PROBE_TIMEOUT", "1s");
    let v = status_json(&sb);
    assert_eq!(v["state"], "bridge_ready");
    assert_eq!(v["assistant_state"], "unavailable");
    let err = v["assistant_error"].as_str().unwrap();
    assert!(err.starts_with("thread/start timed out after 1s"), "{err}");
    assert!(
        err.contains("recent stderr: thread/start is stuck"),
        "{err}"
    );

    sb.set("FAKE_CODEX_SCENARIO", "no_app_server");
    let v = status_json(&sb);
    assert_eq!(v["state"], "unsupported");
    assert_eq!(v["app_server_supported"], false);
    assert!(v["app_server_support_error"]
        .as_str()
        .unwrap()
        .contains("unrecognized subcommand"));

    let none = Sandbox::new("missing", false);
    let v = status_json(&none);
    assert_eq!(v["state"], "missing");
    assert!(v.get("path").is_none());
}

#[test]
fn noauth_provider_skips_login_and_exit_during_handshake_is_an_error() {
    let mut sb = Sandbox::new("noauth", true);
    sb.set("FAKE_CODEX_AUTH", "noauth");
    assert_eq!(status_json(&sb)["state"], "ready");
    // A bridge command that dies at once: state error with the reason.
    sb.set(
        "TUNNEL_CLIENT_CODEX_APP_SERVER_COMMAND",
        "echo dying >&2; exit 7",
    );
    let v = status_json(&sb);
    assert_eq!(v["state"], "error");
    let e = v["bridge_error"].as_str().unwrap();
    assert!(e.contains("exited") && e.contains("dying"), "{e}");
}

#[test]
fn status_text_layout() {
    let sb = Sandbox::new("text", true);
    let t = ok(&sb.run(&["codex", "status"]));
    let heads: Vec<&str> = t
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .collect();
    assert_eq!(
        heads,
        [
            "Codex:",
            "Tunnel MCP plugin:",
            "Codex app / bridge:",
            "Commands:"
        ]
    );
    assert!(t.contains("  State: ready\n"));
    assert!(t.contains("  Status: not installed\n"));
    assert!(t.contains(&format!("  Expected dir: {}\n", sb.plugin_dir().display())));
    assert!(t.contains("  Account: worker@example.com (business)\n"));
    assert!(t.contains("  Note: Bridge and Assistant readiness reflect Codex itself"));
    assert!(t.contains("  Assistant: tunnel-client codex assistant\n"));
}

#[test]
fn stale_marketplace_entry_is_reported() {
    let sb = Sandbox::new("stale", true);
    ok(&sb.run(&["codex", "plugin", "install", "--marketplace", "corp"]));
    let mut cfg = std::fs::read_to_string(sb.config()).unwrap();
    cfg.push_str("\n[plugins.\"tunnel-mcp@debug\"]\nenabled = true\n");
    std::fs::write(sb.config(), cfg).unwrap();
    let v = status_json(&sb);
    assert_eq!(v["plugin_key"], "tunnel-mcp@corp");
    assert_eq!(
        v["stale_plugin_config_entries"][0]["key"],
        "tunnel-mcp@debug"
    );
    let t = ok(&sb.run(&["codex", "status"]));
    assert!(t.contains("  Stale config entry: tunnel-mcp@debug (enabled in Codex config but no plugin manifest exists in the marketplace cache)\n"), "{t}");
}

#[test]
fn diagnose_reports_plugin_binary_bridge_and_runtime_gap() {
    let sb = Sandbox::new("diag", true);
    ok(&sb.run(&["codex", "plugin", "install"]));
    let out = ok(&sb.run(&["codex", "diagnose", "my-alias", "--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plugin_installed"], true);
    assert_eq!(v["resolved_tunnel_client_source"], "current_process");
    assert_eq!(v["codex_bridge"]["state"], "ready");
    assert_eq!(v["alias"], "my-alias");
    // Until the runtimes tree is in this build, the runtime part says so.
    assert!(
        v["runtime_status"].is_object()
            || v["runtime_status_error"]
                .as_str()
                .unwrap()
                .contains("runtimes")
    );
    let t = ok(&sb.run(&["codex", "diagnose"]));
    assert!(t.starts_with("Tunnel MCP diagnose:\n"));
    assert!(t.contains("\nCodex bridge:\n  State: ready\n"));
    assert!(
        !t.contains("\nRuntime:\n"),
        "no runtime section without an alias"
    );
}

#[test]
fn install_commands_follow_upstream_and_pick_from_path() {
    let mut sb = Sandbox::new("brew", false);
    let t = ok(&sb.run(&["codex", "install"]));
    assert!(t.starts_with("Install Codex with one of the supported package managers below.\n"));
    assert!(t.contains("Docs: https://developers.openai.com/codex/cli\n"));
    // Only a fake brew on PATH (no npm in the sandbox bin): homebrew is preferred.
    let brew = sb.bin_dir.join("brew");
    std::fs::write(&brew, "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&brew, std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.set("PATH", &sb.bin_dir.display().to_string());
    let t = ok(&sb.run(&["codex", "upgrade"]));
    assert_eq!(
        t,
        "Upgrade Codex using the same package manager that installed it.\nPreferred on this host: homebrew\n  brew upgrade --cask codex\nFallbacks:\n  npm: npm i -g @openai/codex@latest\nDocs: https://developers.openai.com/codex/cli\n"
    );
    let j: Value = serde_json::from_str(&ok(&sb.run(&["codex", "uninstall", "--json"]))).unwrap();
    assert_eq!(j["action"], "uninstall");
    assert_eq!(j["preferred_method"], "homebrew");
    assert_eq!(
        j["methods"][0]["install_command"],
        "brew install --cask codex"
    );
    assert_eq!(j["methods"][1]["name"], "npm");
}
