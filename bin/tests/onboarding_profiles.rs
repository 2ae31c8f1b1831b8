//! `init` and `profiles list|add|edit`, run as a new user would.

#[path = "onboarding_common/mod.rs"]
mod common;

use common::{script, Shell, TID};

#[test]
fn init_writes_a_private_validated_profile_and_prints_next_commands() {
    let mut sh = Shell::new("init");
    sh.set(
        "CONTROL_PLANE_API_KEY",
        "sk-secret_value_that_must_not_leak",
    );
    let o = sh.run(&[
        "init",
        "--tunnel-id",
        TID,
        "--mcp-server-url",
        "http://127.0.0.1:3001/mcp",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let path = sh.profile("sample_mcp_with_dcr");
    assert!(o.stdout.contains(&format!(
        "Created profile sample_mcp_with_dcr at {}",
        path.display()
    )));
    assert!(o.stdout.contains("Sample: sample_mcp_with_dcr"));
    assert!(o
        .stdout
        .contains("tunnel-client doctor --profile sample_mcp_with_dcr"));
    assert!(o
        .stdout
        .contains("tunnel-client run --profile sample_mcp_with_dcr"));
    assert!(o.stdout.contains("Canonical setup URLs:"));
    assert!(o.stdout.contains("Connector runtime note:"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("api_key: \"env:CONTROL_PLANE_API_KEY\""),
        "{text}"
    );
    assert!(!text.contains("sk-secret"), "a literal key was written");
    assert!(!o.stdout.contains("sk-secret") && !o.stderr.contains("sk-secret"));
    #[cfg(unix)]
    {
        assert_eq!(common::mode(&path), 0o600);
        assert_eq!(common::mode(&sh.profiles), 0o700);
    }

    // A second init refuses to overwrite, --force replaces (and keeps 0600).
    let o = sh.run(&["init", "--tunnel-id", TID, "--mcp-command", "cat"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("already exists") && o.stderr.contains("--force"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "unchanged");
    let o = sh.run(&[
        "init",
        "--tunnel-id",
        TID,
        "--mcp-command",
        "cat",
        "--force",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Only --mcp-command: the stdio sample is chosen, the Go default name is kept.
    assert!(
        o.stdout.contains("Sample: sample_mcp_stdio_local"),
        "{}",
        o.stdout
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("command: \"cat\""), "{text}");
    #[cfg(unix)]
    assert_eq!(common::mode(&path), 0o600);
}

#[test]
fn init_errors_name_the_flag_and_the_fix() {
    let sh = Shell::new("initerr");
    let o = sh.run(&["init", "--mcp-command", "cat"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("tunnel ID is required") && o.stderr.contains("--tunnel-id"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("admin tunnels list") && o.stderr.contains("help quickstart"));
    assert!(o
        .stderr
        .contains("https://platform.openai.com/settings/organization/tunnels"));

    let o = sh.run(&["init", "--tunnel-id", "tunnel_BAD", "--mcp-command", "cat"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("--tunnel-id") && o.stderr.contains("tunnel_<32"),
        "{}",
        o.stderr
    );

    let o = sh.run(&["init", "--tunnel-id", TID]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("--mcp-server-url") && o.stderr.contains("--mcp-command"),
        "{}",
        o.stderr
    );

    let o = sh.run(&[
        "init",
        "--tunnel-id",
        TID,
        "--mcp-command",
        "cat",
        "--control-plane-api-key-ref",
        "sk-literal-key",
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("--control-plane-api-key-ref"),
        "{}",
        o.stderr
    );
    assert!(
        !o.stderr.contains("sk-literal-key"),
        "the value may be a key: never echoed"
    );

    let o = sh.run(&["init", "--tunnel-id", TID, "--mcp-server-url", "not a url"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--mcp-server-url"), "{}", o.stderr);

    let o = sh.run(&[
        "init",
        "--tunnel-id",
        TID,
        "--mcp-command",
        "cat",
        "--health-listen-addr",
        "localhost",
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--health-listen-addr"), "{}", o.stderr);

    let o = sh.run(&[
        "init",
        "--tunnel-id",
        TID,
        "--mcp-command",
        "cat",
        "--sample",
        "sample_mcp_stdio",
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("did you mean sample_mcp_stdio_local"),
        "{}",
        o.stderr
    );

    let o = sh.run(&["init", "--tunel-id", TID]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("did you mean --tunnel-id"),
        "{}",
        o.stderr
    );

    // stdio preflight: nothing is written when the command cannot start.
    let o = sh.run(&[
        "init",
        "--tunnel-id",
        TID,
        "--mcp-command",
        "no-such-mcp-server-xyz --stdio",
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("mcp-command preflight failed") && o.stderr.contains("not found on PATH"),
        "{}",
        o.stderr
    );
    #[cfg(unix)]
    {
        let s = sh.home.join("server.sh");
        std::fs::write(&s, "#!/bin/sh\ncat\n").unwrap();
        let o = sh.run(&[
            "init",
            "--tunnel-id",
            TID,
            "--mcp-command",
            s.to_str().unwrap(),
        ]);
        assert_eq!(o.code, 1);
        assert!(o.stderr.contains("chmod +x"), "{}", o.stderr);
    }
    assert!(!sh.profile("sample_mcp_with_dcr").exists());
}

#[test]
fn init_honours_profile_dir_name_and_options() {
    let sh = Shell::new("initopts");
    let dir = sh.home.join("elsewhere");
    let o = sh.run(&[
        "init",
        "--profile",
        "corp",
        "--profile-dir",
        dir.to_str().unwrap(),
        "--sample",
        "sample_mcp_enterprise_proxy",
        "--tunnel-id",
        TID,
        "--mcp-server-url",
        "https://mcp.internal.example.com/mcp",
        "--control-plane-url-path",
        "/workspace/dev/us",
        "--control-plane-api-key-ref",
        "file:/run/secrets/tunnel-key",
        "--health-listen-addr",
        "127.0.0.1:0",
        "--open-web-ui",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = std::fs::read_to_string(dir.join("corp.yaml")).unwrap();
    for want in [
        "ca_bundle: \"env:ENTERPRISE_CA_BUNDLE\"",
        "url_path: \"/workspace/dev/us\"",
        "api_key: \"file:/run/secrets/tunnel-key\"",
        "listen_addr: \"127.0.0.1:0\"",
        "open_browser: true",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    // The printed commands work as printed: they carry --profile-dir.
    assert!(
        o.stdout.contains(&format!(
            "tunnel-client doctor --profile corp --profile-dir {}",
            dir.display()
        )),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("ENTERPRISE_CA_BUNDLE"),
        "env refs to export are named: {}",
        o.stdout
    );
}

#[test]
fn profiles_list_add_and_edit() {
    let mut sh = Shell::new("profiles");
    let o = sh.run(&["profiles", "list"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.starts_with("No profiles found in"), "{}", o.stdout);
    assert_eq!(
        sh.run(&["profiles", "list", "--json"]).json(),
        serde_json::json!([])
    );

    let o = sh.run(&[
        "profiles",
        "add",
        "a",
        "--sample",
        "sample_mcp_stdio_local",
        "--tunnel-id",
        TID,
        "--mcp-command",
        "cat",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o
        .stdout
        .contains(&format!("Added profile a at {}", sh.profile("a").display())));
    #[cfg(unix)]
    assert_eq!(common::mode(&sh.profile("a")), 0o600);

    let src = sh.home.join("mine.yaml");
    std::fs::write(
        &src,
        "control_plane:\n  api_key: env:MY_RUNTIME_KEY\nmcp:\n  commands:\n    - command: cat\n",
    )
    .unwrap();
    let o = sh.run(&["profiles", "add", "b", "--from-file", src.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("MY_RUNTIME_KEY"),
        "the env var to export is named: {}",
        o.stdout
    );
    assert!(
        o.stdout.contains("tunnel ID"),
        "the missing tunnel id is pointed out: {}",
        o.stdout
    );

    std::fs::write(
        &src,
        "control_plane:\n  tunnel_id: tunnel_nope\n  bogus_key: 1\n",
    )
    .unwrap();
    let o = sh.run(&["profiles", "add", "c", "--from-file", src.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("control_plane.tunnel_id"), "{}", o.stderr);
    assert!(!sh.profile("c").exists());

    let o = sh.run(&[
        "profiles",
        "add",
        "a",
        "--sample",
        "sample_mcp_stdio_local",
        "--tunnel-id",
        TID,
        "--mcp-command",
        "cat",
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--force"), "{}", o.stderr);
    let o = sh.run(&["profiles", "add", "x"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("--sample") && o.stderr.contains("--from-file"),
        "{}",
        o.stderr
    );
    let o = sh.run(&[
        "profiles",
        "add",
        "../evil",
        "--sample",
        "sample_mcp_stdio_local",
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("invalid profile name"), "{}", o.stderr);

    let o = sh.run(&["profiles", "list"]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", o.stdout);
    assert!(lines[0].starts_with("a\t") && lines[1].starts_with("b\t"));
    let j = sh.run(&["profiles", "list", "--json"]).json();
    assert_eq!(j[1]["name"], "b");

    // edit: an editor that writes a valid profile saves it; an invalid one saves nothing.
    let good = sh.home.join("good.yaml");
    std::fs::write(&good, format!("control_plane:\n  tunnel_id: {TID}\n  api_key: env:CONTROL_PLANE_API_KEY\nmcp:\n  commands:\n    - command: cat\n")).unwrap();
    let editor = script(
        &sh.home,
        "fake-editor",
        "#!/bin/sh\ncp \"$EDIT_SOURCE\" \"$1\"\n",
    );
    sh.set("EDITOR", editor.to_str().unwrap());
    sh.set("EDIT_SOURCE", good.to_str().unwrap());
    let o = sh.run(&["profiles", "edit", "a"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("Saved profile a"), "{}", o.stdout);
    assert_eq!(
        std::fs::read_to_string(sh.profile("a")).unwrap(),
        std::fs::read_to_string(&good).unwrap()
    );
    #[cfg(unix)]
    assert_eq!(common::mode(&sh.profile("a")), 0o600);

    let bad = sh.home.join("bad.yaml");
    std::fs::write(&bad, "control_plane:\n  poll_timeout: forever\n").unwrap();
    sh.set("EDIT_SOURCE", bad.to_str().unwrap());
    let before = std::fs::read_to_string(sh.profile("a")).unwrap();
    let o = sh.run(&["profiles", "edit", "a"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("did not validate") && o.stderr.contains("control_plane.poll_timeout"),
        "{}",
        o.stderr
    );
    assert_eq!(
        std::fs::read_to_string(sh.profile("a")).unwrap(),
        before,
        "nothing saved"
    );

    // A new profile starts from a placeholder.
    let o = sh.run(&["profiles", "edit", "fresh"]);
    assert_eq!(o.code, 1, "the bad content is still refused");
    sh.set("EDITOR", "true");
    let o = sh.run(&["profiles", "edit", "fresh"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        std::fs::read_to_string(sh.profile("fresh"))
            .unwrap()
            .contains("tunnel_0000"),
        "placeholder saved as is"
    );

    sh.unset("EDITOR");
    let o = sh.run(&["profiles", "edit", "a"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("EDITOR"), "{}", o.stderr);
}
