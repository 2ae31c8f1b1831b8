//! `runtimes connect|status|list|stop|rm` end to end: the real binary supervises a real
//! runtime (this binary's `run`) with a real stdio MCP server, against the emulator, under
//! tmux and as a detached process. Every test stops what it started and checks that
//! nothing is left running.
#![cfg(unix)] // tmux, setsid, /proc and symlinks: the supervision under test is Unix-only

mod runtimes_common;

use runtimes_common::{files_mentioning, http_get, mode, Lane, Rig};

fn connect_demo(rig: &Rig, json: bool) -> runtimes_common::Out {
    let cmd = rig.mcp_command();
    let mut args = vec![
        "runtimes",
        "connect",
        "--alias",
        "demo",
        "--mcp-command",
        &cmd,
        "--tunnel-id",
        rig.emu.tunnel_id(),
    ];
    if json {
        args.push("--json");
    }
    rig.run(&args)
}

/// The done-when: connect reports ready with a UI URL that serves /ui; stop and rm
/// leave nothing running and nothing behind but the history lines.
fn acceptance(lane: Lane) {
    let rig = Rig::new(&format!("rt-accept-{}", lane.word()), lane);
    let o = connect_demo(&rig, false);
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout == format!("Connected demo using {} mode\n", lane.word()),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr.starts_with("Admin UI: http://127.0.0.1:"),
        "{}",
        o.stderr
    );

    // Ready may take a moment after healthy (the MCP startup probe); status says which.
    let mut st = serde_json::Value::Null;
    for _ in 0..100 {
        let o = rig.run(&["runtimes", "status", "demo", "--json"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        st = o.json();
        if st["runtime_state"] == "ready" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(st["runtime_state"], "ready", "{st:#}");
    assert_eq!(st["ready"], true);
    assert_eq!(st["healthy"], true);
    assert_eq!(st["readiness_reason"], "ready");
    assert_eq!(st["tunnel_id"], rig.emu.tunnel_id());
    let ui = st["ui_url"].as_str().unwrap().to_string();
    assert!(
        ui.starts_with("http://127.0.0.1:") && ui.ends_with("/ui"),
        "{ui}"
    );
    let (code, body) = http_get(&ui);
    assert_eq!(code, 200, "{body}");
    assert!(body.to_ascii_lowercase().contains("<html"), "{body}");
    // The runtime is really polling the emulator's tunnel.
    assert!(!rig.emu.polls().is_empty(), "no poll reached the emulator");

    let o = rig.run(&["runtimes", "status", "demo"]);
    assert_eq!(
        o.stdout,
        format!("demo\tready\t{}\n", rig.emu.tunnel_id()),
        "{}",
        o.stderr
    );
    assert!(!rig.live_processes().is_empty());

    let o = rig.run(&["runtimes", "stop", "demo"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "Stopped demo\n"),
        "{}",
        o.stderr
    );
    rig.assert_nothing_running();
    assert!(!rig.file("health/demo.url").exists());

    let o = rig.run(&["runtimes", "rm", "demo"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "Removed local runtime metadata for demo\n"),
        "{}",
        o.stderr
    );
    assert!(!rig.sh.profile("demo").exists());
    assert!(!rig.file("logs/demo.log").exists());
    let mentions: Vec<_> = files_mentioning(&rig.sh.home, "demo");
    assert_eq!(
        mentions,
        vec![rig.file("history.md")],
        "left behind: {mentions:?}"
    );
    let history = std::fs::read_to_string(rig.file("history.md")).unwrap();
    let actions: Vec<&str> = history
        .lines()
        .map(|l| {
            l.split(" action=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(actions, ["connect", "stop", "rm"], "{history}");
    assert_eq!(mode(&rig.file("history.md")), 0o600);
    let o = rig.run(&["runtimes", "list"]);
    assert_eq!(
        o.stdout,
        format!("No runtime aliases found in {}\n", rig.state.display())
    );
}

#[test]
fn acceptance_process_mode() {
    acceptance(Lane::Process);
}

#[test]
fn acceptance_tmux_mode() {
    acceptance(Lane::Tmux);
}

/// connect's JSON payload and the files it writes, field by field (§8.3, §8.4); the key
/// itself appears in no file and no command line.
fn connect_payload(lane: Lane) {
    let rig = Rig::new(&format!("rt-json-{}", lane.word()), lane);
    let o = connect_demo(&rig, true);
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    let c = o.json();
    let state = rig.state.display().to_string();
    let profile = rig.sh.profile("demo").display().to_string();
    assert_eq!(c["alias"], "demo");
    assert_eq!(c["tunnel"]["id"], rig.emu.tunnel_id());
    assert_eq!(c["admin_profile"], "default");
    assert_eq!(
        c["admin_profile_path"],
        format!("{state}/admin_profiles.yaml")
    );
    assert_eq!(c["profile_name"], "demo");
    assert_eq!(c["profile_dir"], rig.sh.profiles.display().to_string());
    assert_eq!(c["profile_path"], profile);
    assert_eq!(c["config_path"], profile);
    assert_eq!(c["profile_exists"], true);
    assert_eq!(c["health_url_file"], format!("{state}/health/demo.url"));
    assert_eq!(c["mode"], lane.word());
    assert_eq!(c["launched"], true);
    assert_eq!(c["already_running"], false);
    assert_eq!(c["running"], true);
    assert_eq!(c["healthy"], true);
    assert_eq!(c["started"], true);
    assert_eq!(c["remote_error"], "");
    assert_eq!(c["log_path"], format!("{state}/logs/demo.log"));
    assert!(c["health_url"].as_str().unwrap().ends_with("/healthz"));
    assert!(c["ui_url"].as_str().unwrap().ends_with("/ui"));
    assert!(["healthy", "ready"].contains(&c["runtime_state"].as_str().unwrap()));
    let command = c["command"].as_str().unwrap();
    assert!(
        command.ends_with(&format!(
            "'run' '--profile-dir' '{}' '--profile' 'demo'",
            rig.sh.profiles.display()
        )),
        "{command}"
    );
    assert_eq!(c["process"]["target_kind"], "command");
    assert_eq!(c["process"]["target_value"], rig.mcp_command());
    assert_eq!(c["process"]["mode"], lane.word());
    match lane {
        Lane::Process => {
            assert!(c["pid"].as_u64().unwrap() > 0);
            assert_eq!(c["pid"], c["process"]["pid"]);
            assert_eq!(c["session_name"], "");
            assert_eq!(c["process_running"], true);
        }
        Lane::Tmux => {
            let s = c["session_name"].as_str().unwrap();
            assert!(s.starts_with("tunnel-mcp__demo__") && s.len() == 26, "{s}");
            assert_eq!(c["tmux"]["running"], true);
            assert!(c.get("pid").is_none());
        }
    }
    assert_eq!(
        c["next_steps"][0],
        format!(
            "tunnel-client doctor --profile demo --profile-dir {} --explain",
            rig.sh.profiles.display()
        )
    );
    assert_eq!(c["repair_actions"][0]["id"], "inspect");

    // The runtime profile (§8.4): JSON content, 0600.
    assert_eq!(mode(&rig.sh.profile("demo")), 0o600);
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rig.sh.profile("demo")).unwrap()).unwrap();
    assert_eq!(p["config_version"], 1);
    assert_eq!(p["control_plane"]["base_url"], rig.emu.base_url());
    assert_eq!(p["control_plane"]["tunnel_id"], rig.emu.tunnel_id());
    assert_eq!(p["control_plane"]["api_key"], "env:CONTROL_PLANE_API_KEY");
    assert_eq!(p["health"]["listen_addr"], "127.0.0.1:0");
    assert_eq!(p["health"]["url_file"], format!("{state}/health/demo.url"));
    assert_eq!(p["admin_ui"]["open_browser"], false);
    assert_eq!(p["log"]["level"], "info");
    assert_eq!(p["log"]["format"], "json");
    assert_eq!(p["log"]["file"], format!("{state}/logs/demo.log"));
    assert_eq!(p["mcp"]["commands"][0]["channel"], "main");
    assert_eq!(p["mcp"]["commands"][0]["command"], rig.mcp_command());
    for f in [
        "aliases.yaml",
        "processes.yaml",
        "admin_profiles.yaml",
        "history.md",
        "logs/demo.log",
        "health/demo.url",
    ] {
        assert_eq!(mode(&rig.file(f)), 0o600, "{f}");
    }
    let key = rig.emu.api_key();
    assert!(files_mentioning(&rig.sh.home, key).is_empty());
    for (pid, cmd) in rig.live_processes() {
        assert!(!cmd.contains(key), "key in argv of {pid}: {cmd}");
    }

    // A second connect reuses the live runtime.
    let again = connect_demo(&rig, true);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let a = again.json();
    assert_eq!(a["already_running"], true);
    assert_eq!(a["launched"], false);
    assert_eq!(a["pid"], c["pid"]);
    assert_eq!(a["session_name"], c["session_name"]);

    let o = rig.run(&["runtimes", "list", "--json"]);
    let l = o.json();
    assert_eq!(l["state_root"], state);
    assert_eq!(l["aliases"][0]["alias"], "demo");
    assert_eq!(l["aliases"][0]["tunnel_id"], rig.emu.tunnel_id());
    assert_eq!(l["aliases"][0]["ui_url"], c["ui_url"]);
    assert!(["healthy", "ready"].contains(&l["aliases"][0]["runtime_state"].as_str().unwrap()));
    assert!(l.get("remote_tunnels").is_none());

    let o = rig.run(&["runtimes", "stop", "demo", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let s = o.json();
    assert_eq!(s["stopped"], true);
    assert_eq!(s["already_stopped"], false);
    assert_eq!(s["stop_error"], "");
    assert_eq!(s["runtime_state"], "stopped");
    assert_eq!(s["ui_url"], "");
    assert_eq!(s["remote_skipped_reason"], "stop is a local-only operation");
    assert_eq!(s["process"]["mode"], "stopped");
    rig.assert_nothing_running();
    let o = rig.run(&["runtimes", "stop", "demo", "--json"]);
    assert_eq!(o.json()["already_stopped"], true);
}

#[test]
fn connect_payload_process_mode() {
    connect_payload(Lane::Process);
}

#[test]
fn connect_payload_tmux_mode() {
    connect_payload(Lane::Tmux);
}

/// rm is refused while the runtime runs; a tunnel change replaces the runtime.
#[test]
fn rm_refused_while_running_and_tunnel_change_replaces() {
    let rig = Rig::new("rt-replace", Lane::Process);
    let first = connect_demo(&rig, true);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let old_pid = first.json()["pid"].as_u64().unwrap() as u32;

    let o = rig.run(&["runtimes", "rm", "demo"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains(
            "alias demo still has a managed runtime; run `tunnel-client runtimes stop demo` first"
        ),
        "{}",
        o.stderr
    );
    assert!(rig.sh.profile("demo").exists());

    // Another tunnel id: the emulator does not know it, so the lookup fails (shown as
    // remote_error) and the runtime cannot reach ready, but the old runtime is replaced.
    let other = "tunnel_0123456789abcdef0123456789abcdef";
    let cmd = rig.mcp_command();
    let o = rig.run(&[
        "runtimes",
        "connect",
        "--alias",
        "demo",
        "--mcp-command",
        &cmd,
        "--tunnel-id",
        other,
        "--json",
        "--tunnel-client-bin",
        runtimes_common::BIN,
    ]);
    let c = o.json();
    assert_eq!(c["tunnel"]["id"], other);
    assert!(!c["remote_error"].as_str().unwrap().is_empty(), "{c:#}");
    assert_eq!(c["launched"], true);
    assert_ne!(c["pid"].as_u64().unwrap() as u32, old_pid);
    assert!(
        !std::path::Path::new(&format!("/proc/{old_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{old_pid}/stat"))
                .unwrap_or_default()
                .contains(") Z"),
        "old runtime {old_pid} still runs"
    );
    let history = std::fs::read_to_string(rig.file("history.md")).unwrap();
    assert!(
        history.contains(&format!(
            "action=stale-process alias=demo tunnel_id={} detail=replacing with tunnel_id={other}",
            rig.emu.tunnel_id()
        )),
        "{history}"
    );
    let o = rig.run(&["runtimes", "stop", "demo"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    rig.assert_nothing_running();
}

/// A runtime that exits at once is a payload error (exit 2 with --json, its exit code and
/// log tail); without --json the message says why (exit 1).
#[test]
fn runtime_that_fails_to_start_is_reported() {
    let mut rig = Rig::new("rt-fail", Lane::Process);
    // No runtime key anywhere: the runtime refuses to start.
    rig.sh.unset("CONTROL_PLANE_API_KEY");
    let cmd = rig.mcp_command();
    let args = [
        "runtimes",
        "connect",
        "--alias",
        "demo",
        "--mcp-command",
        &cmd,
        "--tunnel-id",
        rig.emu.tunnel_id(),
        "--runtime-api-key",
        "env:NO_SUCH_KEY_VAR",
    ];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let o = rig.run(&with_json);
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    let c = o.json();
    assert_eq!(c["healthy"], false);
    assert_eq!(c["runtime_state"], "stopped");
    assert_eq!(c["launched"], true);
    let diag = &c["launch_diagnostics"];
    assert!(c["exit_code"].as_i64().unwrap() != 0, "{c:#}");
    assert_eq!(diag["exit_code"], c["exit_code"]);
    assert!(
        diag["log_tail"]
            .as_str()
            .unwrap()
            .contains("NO_SUCH_KEY_VAR"),
        "{c:#}"
    );
    assert_eq!(diag["log_path"], c["log_path"]);
    assert!(c["repair_actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == "start_runtime"));

    let o = rig.run(&args);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stderr.contains("runtime for demo"), "{}", o.stderr);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    rig.assert_nothing_running();
}

/// Under tmux the runtime key reaches the runtime through `set-environment` even when the
/// tmux server was started without it, and it is in no tmux or runtime command line.
#[test]
fn tmux_key_reaches_the_runtime_through_set_environment() {
    let mut rig = Rig::new("rt-tmux-key", Lane::Tmux);
    // A tmux server that predates the key: its global environment lacks it.
    let o = std::process::Command::new("tmux")
        .args(["new-session", "-d", "-s", "unrelated"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", &rig.sh.home)
        .env("TMUX_TMPDIR", &rig.sh.home)
        .env("TUNNEL_CLIENT_STATE_DIR", &rig.state)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let key = rig.emu.api_key().to_string();
    rig.sh.unset("CONTROL_PLANE_API_KEY");
    rig.sh.set("MY_RUNTIME_KEY", &key);
    let cmd = rig.mcp_command();
    let o = rig.run(&[
        "runtimes",
        "connect",
        "--alias",
        "demo",
        "--mcp-command",
        &cmd,
        "--tunnel-id",
        rig.emu.tunnel_id(),
        "--runtime-api-key",
        "env:MY_RUNTIME_KEY",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let c = o.json();
    assert_eq!(c["healthy"], true);
    assert_eq!(
        c["remote_error"], "",
        "the runtime key also serves the tunnel lookup"
    );
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rig.emu.polls().is_empty() {
        assert!(
            std::time::Instant::now() < end,
            "the runtime never polled with the key"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for (pid, cmdline) in rig.live_processes() {
        assert!(!cmdline.contains(&key), "key in argv of {pid}: {cmdline}");
    }
    let o = rig.run(&["runtimes", "stop", "demo"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let _ = std::process::Command::new("tmux")
        .args(["kill-session", "-t", "=unrelated"])
        .env("TMUX_TMPDIR", &rig.sh.home)
        .status();
    rig.assert_nothing_running();
}

/// A runtime that dies without a remote error exits 2 as in Go, and (beyond Go) says why on
/// stderr; under tmux too.
fn missing_mcp_server(lane: Lane) {
    let rig = Rig::new(&format!("rt-nomcp-{}", lane.word()), lane);
    let o = rig.run(&[
        "runtimes",
        "connect",
        "--alias",
        "demo",
        "--mcp-command",
        "/nonexistent/mcp-server --stdio",
        "--tunnel-id",
        rig.emu.tunnel_id(),
    ]);
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    assert!(o.stderr.contains("error: runtime for demo"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains(&rig.file("logs/demo.log").display().to_string()),
        "{}",
        o.stderr
    );
    let s = rig.run(&["runtimes", "status", "demo", "--json"]).json();
    assert_eq!(s["runtime_state"], "stopped");
    assert_eq!(s["ui_url"], "");
    let o = rig.run(&["runtimes", "stop", "demo"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    rig.assert_nothing_running();
}

#[test]
fn missing_mcp_server_process_mode() {
    missing_mcp_server(Lane::Process);
}

#[test]
fn missing_mcp_server_tmux_mode() {
    missing_mcp_server(Lane::Tmux);
}

/// A health URL file is never trusted on its own: a stale URL gives no `ui_url`; another
/// live admin UI for the same tunnel (any `health/*.url`) is found and named as the fix.
#[test]
fn stale_health_url_is_not_trusted() {
    let rig = Rig::new("rt-stale-url", Lane::Process);
    let o = connect_demo(&rig, true);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let live = std::fs::read_to_string(rig.file("health/demo.url")).unwrap();
    // The recorded file now points at a port nothing listens on; the live URL sits in
    // another file of the root (as a second runtime for the same tunnel would leave it).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    std::fs::write(rig.file("health/demo.url"), &dead_url).unwrap();
    std::fs::write(rig.file("health/copy.url"), &live).unwrap();

    let s = rig.run(&["runtimes", "status", "demo", "--json"]).json();
    assert_eq!(s["health_url"], format!("{dead_url}/healthz"));
    assert_eq!(s["local"]["health"]["healthz"]["ok"], false);
    assert_eq!(s["local"]["live_admin_ui"]["found"], true);
    assert_eq!(s["local"]["live_admin_ui"]["base_url"], live.trim());
    assert_eq!(
        s["local"]["live_admin_ui"]["match_reason"],
        "control_plane_tunnel_id"
    );
    assert_eq!(
        s["healthy"], true,
        "effective health comes from the live UI"
    );
    assert_eq!(s["ui_url"], format!("{}/ui", live.trim()));
    assert!(s["local"]["issues"].as_array().unwrap().iter().any(|i| i
        .as_str()
        .unwrap()
        .starts_with("recorded health URL looks stale")));
    assert!(s["repair_actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == "refresh_stale_health_url"));

    // Nothing live anywhere: no UI URL, whatever the files say.
    std::fs::remove_file(rig.file("health/copy.url")).unwrap();
    let o = rig.run(&["runtimes", "stop", "demo"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    std::fs::write(rig.file("health/demo.url"), &live).unwrap();
    let s = rig.run(&["runtimes", "status", "demo", "--json"]).json();
    assert_eq!(s["runtime_state"], "stopped");
    assert_eq!(s["ui_url"], "");
    assert_eq!(s["healthy"], false);
    rig.assert_nothing_running();
}

/// An HTTP MCP server (`--mcp-server-url`) instead of a command; `disconnect` and `remove`
/// are `stop` and `rm`.
#[test]
fn server_url_target_and_command_aliases() {
    use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
    let rig = Rig::new("rt-url", Lane::Process);
    let stub = McpStub::start(StubConfig::default()).expect("mcp stub");
    let url = stub.url();
    let o = rig.run(&[
        "runtimes",
        "connect",
        "--alias",
        "web",
        "--mcp-server-url",
        &url,
        "--mcp-command",
        "ignored-when-a-url-is-given",
        "--tunnel-id",
        rig.emu.tunnel_id(),
        "--profile",
        "web.profile",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let c = o.json();
    assert_eq!(c["process"]["target_kind"], "server_url");
    assert_eq!(c["process"]["target_value"], url.as_str());
    assert_eq!(c["profile_name"], "web.profile");
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rig.sh.profile("web.profile")).unwrap())
            .unwrap();
    assert_eq!(
        p["mcp"],
        serde_json::json!({"server_urls": [{"channel": "main", "url": url}]})
    );
    let o = rig.run(&["runtimes", "disconnect", "web"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "Stopped web\n"),
        "{}",
        o.stderr
    );
    rig.assert_nothing_running();
    let o = rig.run(&["runtimes", "remove", "web", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = o.json();
    assert_eq!(r["alias"], "web");
    assert_eq!(r["removed"], true);
    assert_eq!(r["tunnel_id"], rig.emu.tunnel_id());
    assert!(r["removed_paths"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(rig
            .sh
            .profile("web.profile")
            .display()
            .to_string())));
    assert!(!rig.sh.profile("web.profile").exists());
}
