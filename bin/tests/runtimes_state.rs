//! `admin-profiles` and the runtimes state files, and the admin-API side of `runtimes`
//! (create, list with a scope, cleanup, status of a tunnel deleted remotely), through the
//! real binary against the emulator's management API.
#![cfg(unix)] // tmux, setsid, /proc and symlinks: the supervision under test is Unix-only

mod runtimes_common;

use runtimes_common::{mode, Lane, Rig};

#[test]
fn admin_profiles_set_list_activate_delete() {
    let rig = Rig::new("rt-ap", Lane::Process);
    let path = rig.file("admin_profiles.yaml").display().to_string();
    let o = rig.run(&["admin-profiles", "list"]);
    assert_eq!(o.stdout, format!("No admin profiles found in {path}\n"));

    // The first profile saved is active even with --activate=false; the URL comes from the
    // environment when no flag or stored value gives one.
    let o = rig.run(&["admin-profiles", "set", "Prod_EU", "--activate=false"]);
    assert_eq!(
        (o.code, o.stdout.clone()),
        (
            0,
            format!("Saved admin profile prod-eu ({})\n", rig.emu.base_url())
        ),
        "{}",
        o.stderr
    );
    let o = rig.run(&[
        "admin-profiles",
        "set",
        "dev",
        "--control-plane-base-url",
        "https://dev.example",
        "--control-plane-url-path",
        "/gw",
        "--admin-key",
        "file:/run/keys/admin",
        "--activate=false",
        "--json",
    ]);
    let s = o.json();
    assert_eq!(s["profile"]["name"], "dev");
    assert_eq!(s["profile"]["active"], false);
    assert_eq!(s["profile"]["control_plane_url_path"], "/gw");
    assert_eq!(s["active_profile"], "prod-eu");
    assert_eq!(s["state_root"], rig.state.display().to_string());

    let o = rig.run(&["admin-profiles", "list"]);
    assert_eq!(
        o.stdout,
        format!(
            "dev\thttps://dev.example\nprod-eu\t{}\t(active)\n",
            rig.emu.base_url()
        )
    );
    let l = rig.run(&["admin-profiles", "list", "--json"]).json();
    assert_eq!(l["path"], path);
    assert_eq!(l["active_profile"], "prod-eu");
    let p = &l["profiles"][1];
    assert_eq!(p["name"], "prod-eu");
    assert_eq!(p["admin_key"], "env:OPENAI_ADMIN_KEY");
    assert_eq!(p["active"], true);
    assert_eq!(p["path"], path);
    assert!(p["updated_at"].as_str().unwrap().ends_with('Z'));
    assert!(p.get("control_plane_url_path").is_none());
    assert_eq!(mode(&rig.file("admin_profiles.yaml")), 0o600);

    // A stored value is kept when the flag is not given.
    let o = rig.run(&["admin-profiles", "set", "dev", "--json"]);
    assert_eq!(o.json()["profile"]["admin_key"], "file:/run/keys/admin");
    assert_eq!(o.json()["active_profile"], "dev");

    let o = rig.run(&["admin-profiles", "set", "x", "--admin-key", "sk-literal"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("admin profile x admin_key must be an env:NAME or file:/path reference"),
        "{}",
        o.stderr
    );

    let o = rig.run(&["admin-profiles", "activate", "prod-eu"]);
    assert_eq!(o.stdout, "Activated admin profile prod-eu\n");
    let o = rig.run(&["admin-profiles", "activate", "nope"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("admin profile nope is not known"),
        "{}",
        o.stderr
    );

    // Deleting the active profile activates the alphabetically first one left.
    let o = rig.run(&["admin-profiles", "delete", "prod-eu", "--json"]);
    let d = o.json();
    assert_eq!(d["deleted_profile"], "prod-eu");
    assert_eq!(d["active_profile"], "dev");
    let o = rig.run(&["admin-profiles", "delete", "dev"]);
    assert_eq!(o.stdout, "Deleted admin profile dev\n");
    let l = rig.run(&["admin-profiles", "list", "--json"]).json();
    assert_eq!(l["profiles"], serde_json::json!([]));
    assert_eq!(l["active_profile"], "");
}

/// create (POST), reuse (GET), list with a scope, status of a runtime that never ran,
/// a referenced profile that cannot be deleted, cleanup, and a tunnel deleted remotely.
#[test]
fn create_list_cleanup_and_remote_deletion() {
    let mut rig = Rig::new("rt-create", Lane::Process);
    rig.sh.set("OPENAI_ADMIN_KEY", rig.emu.admin_key());
    // The emulator's runtime key only reads its own tunnel: lookups here use the admin key.
    rig.sh.unset("CONTROL_PLANE_API_KEY");

    let o = rig.run(&[
        "runtimes",
        "create",
        "--alias",
        "Docs",
        "--organization-id",
        "org-a",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let id = o
        .stdout
        .strip_prefix("Created alias docs for tunnel ")
        .unwrap_or_else(|| panic!("{}", o.stdout))
        .trim()
        .to_string();
    let made = rig.emu.tunnels();
    let t = made
        .iter()
        .find(|t| t.id == id)
        .expect("tunnel created remotely");
    assert_eq!(t.name, "docs");
    assert_eq!(t.description, "MCP tunnel for docs");
    assert_eq!(t.organization_ids, ["org-a"]);

    // Again: the recorded tunnel is found (GET), nothing new is created.
    let o = rig.run(&["runtimes", "create", "--alias", "docs", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let c = o.json();
    assert_eq!(c["tunnel"]["id"], id.as_str());
    assert_eq!(c["admin_profile"], "default");
    assert_eq!(rig.emu.tunnels().len(), made.len());

    let o = rig.run(&["runtimes", "list", "--organization-id", "org-a", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let l = o.json();
    assert_eq!(l["aliases"][0]["alias"], "docs");
    assert_eq!(l["aliases"][0]["runtime_state"], "stopped");
    assert_eq!(l["aliases"][0]["ui_url"], "");
    let r = &l["remote_tunnels"][0];
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["local_alias"], "docs");
    assert_eq!(r["local_admin_profile"], "default");
    let o = rig.run(&[
        "runtimes",
        "list",
        "--organization-id",
        "a",
        "--workspace-id",
        "b",
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("exactly one remote scope family"),
        "{}",
        o.stderr
    );

    let o = rig.run(&["runtimes", "status", "docs", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let s = o.json();
    assert_eq!(s["runtime_state"], "stopped");
    assert_eq!(s["remote"]["id"], id.as_str());
    assert_eq!(s["remote_lookup_attempted"], true);
    assert_eq!(s["remote_lookup_auth_kind"], "admin");
    assert_eq!(s["remote_lookup_auth_ref"], "env:OPENAI_ADMIN_KEY");
    assert_eq!(s["stale"], false);
    assert!(s["process"].is_null());
    let ids: Vec<&str> = s["repair_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["reconnect_missing_profile", "start_runtime"]);
    assert!(s["repair_command"]
        .as_str()
        .unwrap()
        .starts_with("tunnel-client runtimes connect --alias docs --admin-profile default --organization-id org-a"));
    assert!(s["next_steps"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("tunnel-client runtimes status docs")));

    let o = rig.run(&["admin-profiles", "delete", "default"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("admin profile default is still referenced by alias docs"),
        "{}",
        o.stderr
    );

    let o = rig.run(&["runtimes", "cleanup"]);
    assert_eq!(
        o.stdout,
        format!("docs\tstale_alias\t{id}\nDry run only. Re-run with --apply to remove entries classified as stale_alias.\n")
    );

    // The tunnel goes away remotely: status says stale and exits 2.
    let o = rig.run(&["admin", "tunnels", "delete", &id, "--confirm"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = rig.run(&["runtimes", "status", "docs", "--json"]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    let s = o.json();
    assert_eq!(s["stale"], true);
    assert_eq!(s["remote_lookup_auth_kind"], "admin");
    assert!(s["remote_error"].as_str().unwrap().contains("404"), "{s:#}");
    let o = rig.run(&["runtimes", "status", "docs"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("404"), "{}", o.stderr);

    let o = rig.run(&["runtimes", "cleanup", "--apply", "--json"]);
    let c = o.json();
    assert_eq!(c["removed"], serde_json::json!(["docs"]));
    assert_eq!(c["entries"][0]["cleanup_safe"], true);
    let o = rig.run(&["runtimes", "list"]);
    assert!(
        o.stdout.starts_with("No runtime aliases found in "),
        "{}",
        o.stdout
    );
    let history = std::fs::read_to_string(rig.file("history.md")).unwrap();
    assert!(history.contains("action=cleanup alias=docs"), "{history}");
    let o = rig.run(&["admin-profiles", "delete", "default"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// Corrupt state files are reported in Go's words and left as they are.
#[test]
fn corrupt_state_is_reported_never_overwritten() {
    let rig = Rig::new("rt-corrupt", Lane::Process);
    std::fs::create_dir_all(&rig.state).unwrap();
    for (file, args) in [
        ("aliases.yaml", vec!["runtimes", "list"]),
        ("processes.yaml", vec!["runtimes", "cleanup", "--apply"]),
        ("admin_profiles.yaml", vec!["admin-profiles", "set", "x"]),
    ] {
        let p = rig.file(file);
        std::fs::write(&p, "aliases: [not json\n").unwrap();
        let o = rig.run(&args);
        assert_eq!(o.code, 1, "{file}: {}", o.stdout);
        assert!(
            o.stderr.contains(&format!(
                "state file {} is not valid JSON-compatible YAML; repair or remove it",
                p.display()
            )),
            "{file}: {}",
            o.stderr
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "aliases: [not json\n");
        std::fs::remove_file(&p).unwrap();
    }
    std::fs::write(rig.file("admin_profiles.yaml"), r#"{"active_profile": 3}"#).unwrap();
    let o = rig.run(&["admin-profiles", "list"]);
    assert!(
        o.stderr.contains("must contain a string active_profile"),
        "{}",
        o.stderr
    );
    // The legacy flat map still loads.
    std::fs::write(
        rig.file("admin_profiles.yaml"),
        r#"{"old": {"name": "old", "control_plane_base_url": "https://old.example", "admin_key": "env:K"}}"#,
    )
    .unwrap();
    let o = rig.run(&["admin-profiles", "list"]);
    assert_eq!(o.stdout, "old\thttps://old.example\n", "{}", o.stderr);
}

/// Targets carrying secrets, bad flags and unknown aliases are refused before anything is
/// written or started.
#[test]
fn refusals_write_nothing() {
    let rig = Rig::new("rt-refuse", Lane::Process);
    let tid = rig.emu.tunnel_id().to_string();
    for (args, want) in [
        (
            vec!["--mcp-command", "server --api-key hunter2hunter2"],
            "mcp command appears to contain inline secret material",
        ),
        (
            vec!["--mcp-command", "srv sk-abcdefghijklmnopqrstu"],
            "mcp command appears to contain inline secret material",
        ),
        (
            vec!["--mcp-server-url", "https://u:p@mcp.example/mcp"],
            "mcp server URL appears to contain inline secret material",
        ),
        (
            vec!["--mcp-server-url", "ftp://mcp.example"],
            "--mcp-server-url must be an http or https URL",
        ),
        (vec![], "connect requires --mcp-server-url or --mcp-command"),
        (
            vec!["--mcp-command", "srv", "--runtime-api-key", "literal"],
            "runtime api_key must be an env:NAME or file:/path reference",
        ),
        (
            vec!["--mcp-command", "srv", "--profile", "../x"],
            "profile name must not contain path separators",
        ),
        (
            vec!["--mcp-command", "srv", "--tunnel-client-bin", "/bin/sh"],
            "--tunnel-client-bin only accepts the current tunnel-client executable",
        ),
    ] {
        let mut a = vec![
            "runtimes",
            "connect",
            "--alias",
            "demo",
            "--tunnel-id",
            &tid,
        ];
        a.extend(args.iter().copied());
        let o = rig.run(&a);
        assert_eq!(o.code, 1, "{a:?}: {}", o.stdout);
        assert!(o.stderr.contains(want), "{a:?}: {}", o.stderr);
        assert!(!rig.sh.profile("demo").exists());
        assert!(!rig.file("aliases.yaml").exists(), "{a:?}");
    }
    // A log path planted as a symlink is refused; its target is not touched.
    std::fs::create_dir_all(rig.file("logs")).unwrap();
    let target = rig.sh.home.join("elsewhere.txt");
    std::fs::write(&target, "precious\n").unwrap();
    std::os::unix::fs::symlink(&target, rig.file("logs/demo.log")).unwrap();
    let o = rig.run(&[
        "runtimes",
        "connect",
        "--alias",
        "demo",
        "--tunnel-id",
        &tid,
        "--mcp-command",
        "srv",
    ]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stderr.contains("must not be a symlink"), "{}", o.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    let o = rig.run(&["runtimes", "connect", "--mcp-command", "srv"]);
    assert!(o.stderr.contains("required flag --alias"), "{}", o.stderr);
    let o = rig.run(&["runtimes", "status", "ghost"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("alias ghost is not known; run create or connect first"),
        "{}",
        o.stderr
    );
    let o = rig.run(&["runtimes", "rm", "ghost"]);
    assert!(
        o.stderr.contains("alias ghost is not known"),
        "{}",
        o.stderr
    );
    let o = rig.run(&["runtimes", "create", "--alias", "x"]);
    assert!(
        o.stderr
            .contains("creating a tunnel requires --organization-id or --workspace-id"),
        "{}",
        o.stderr
    );
    let o = rig.run(&["--help"]);
    assert!(
        o.stdout.contains("runtimes connect|status|list|stop|rm"),
        "{}",
        o.stdout
    );
    let o = rig.run(&["help", "runtimes"]);
    assert!(
        o.stdout.starts_with("Usage: tunnel-client runtimes"),
        "{}",
        o.stdout
    );
    let o = rig.run(&["help", "admin-profiles"]);
    assert!(
        o.stdout.starts_with("Usage: tunnel-client admin-profiles"),
        "{}",
        o.stdout
    );
    let o = rig.run(&["runtimes", "frobnicate"]);
    assert!(o.stderr.contains("unknown subcommand"), "{}", o.stderr);
    rig.assert_nothing_running();
}

/// A runtime that ignores SIGTERM: stop is a payload error (exit 2 with --json, the error
/// text and exit 1 without) and the record is kept, so rm still refuses.
#[test]
fn a_runtime_that_will_not_stop_is_reported_and_kept() {
    let rig = Rig::new("rt-stubborn", Lane::Process);
    let mut child = std::process::Command::new("sh")
        .args(["-c", "trap '' TERM; while :; do sleep 1; done"])
        .env("TUNNEL_CLIENT_STATE_DIR", &rig.state)
        .spawn()
        .unwrap();
    let pid = child.id();
    std::fs::create_dir_all(&rig.state).unwrap();
    std::fs::write(
        rig.file("aliases.yaml"),
        serde_json::json!({"demo": {"alias": "demo", "tunnel_id": rig.emu.tunnel_id(), "name": "demo"}}).to_string(),
    )
    .unwrap();
    std::fs::write(
        rig.file("processes.yaml"),
        serde_json::json!({"demo": {"alias": "demo", "tunnel_id": rig.emu.tunnel_id(), "mode": "process", "pid": pid}}).to_string(),
    )
    .unwrap();
    let o = rig.run(&["runtimes", "stop", "demo", "--json"]);
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    let s = o.json();
    assert_eq!(s["stopped"], false);
    assert!(
        s["stop_error"]
            .as_str()
            .unwrap()
            .contains(&format!("process {pid} did not exit")),
        "{s:#}"
    );
    assert_eq!(s["error"], s["stop_error"]);
    assert_eq!(s["process"]["pid"], pid);
    assert_eq!(s["process"]["mode"], "process");
    let o = rig.run(&["runtimes", "rm", "demo"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("still has a managed runtime"),
        "{}",
        o.stderr
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let o = rig.run(&["runtimes", "stop", "demo"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "Stopped demo\n"),
        "{}",
        o.stderr
    );
    rig.assert_nothing_running();
}
