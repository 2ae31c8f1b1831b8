//! `codex plugin install|uninstall|export` and `plugin codex …` on temp CODEX_HOMEs.
#![cfg(unix)] // symlinked fake codex, modes, a pty

mod codex_support;

use std::os::unix::fs::PermissionsExt;

use codex_support::*;

const SECTION: &str = "[plugins.\"tunnel-mcp@debug\"]\nenabled = true\n";

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn install_keeps_other_config_byte_for_byte_and_is_idempotent() {
    let sb = Sandbox::new("inst", true);
    let before = "# my Codex settings\r\nmodel = \"gpt-x\"\r\n\r\n[plugins.\"other@corp\"]\r\nenabled = true\r\n# trailing comment\r\n";
    std::fs::write(sb.config(), before).unwrap();
    let out = ok(&sb.run(&["codex", "plugin", "install"]));
    assert!(
        out.starts_with(&format!(
            "Installed tunnel-mcp into {}\n",
            sb.plugin_dir().display()
        )),
        "{out}"
    );
    let after = std::fs::read_to_string(sb.config()).unwrap();
    assert_eq!(after, format!("{before}\n{SECTION}"));
    ok(&sb.run(&["codex", "plugin", "install"]));
    assert_eq!(
        std::fs::read_to_string(sb.config()).unwrap(),
        after,
        "second install changes nothing"
    );

    let dir = sb.plugin_dir();
    let hint = std::fs::read_to_string(dir.join(".tunnel-client-bin")).unwrap();
    let me = std::fs::canonicalize(BIN).unwrap();
    assert_eq!(hint, format!("{}\n", me.display()));
    assert_eq!(mode(&dir.join("scripts/tunnel_mcp")), 0o755);
    assert_eq!(mode(&dir.join(".codex-plugin/plugin.json")), 0o644);
    assert_eq!(mode(&dir.join("skills/tunnel-mcp/references")), 0o755);
    let mcp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".mcp.json")).unwrap()).unwrap();
    assert_eq!(
        mcp["mcpServers"]["tunnelMcp"]["command"],
        me.display().to_string()
    );
    assert_eq!(
        mcp["mcpServers"]["tunnelMcp"]["args"],
        serde_json::json!(["codex", "mcp-server"])
    );

    // Uninstall removes exactly our section and the bundle.
    let un = ok(&sb.run(&["codex", "plugin", "uninstall"]));
    assert!(
        un.contains("Removed on-disk tunnel-mcp plugin bundle from"),
        "{un}"
    );
    assert!(
        un.contains("Removed on-disk Codex config section from"),
        "{un}"
    );
    assert_eq!(std::fs::read_to_string(sb.config()).unwrap(), before);
    assert!(!dir.exists());
    let again = ok(&sb.run(&["codex", "plugin", "uninstall"]));
    assert_eq!(
        again,
        format!(
            "Tunnel MCP plugin is not installed in {}\n",
            sb.codex_home.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(sb.config()).unwrap(),
        before,
        "nothing rewritten"
    );
}

#[test]
fn fresh_home_gets_exactly_the_section_and_hidden_alias_works() {
    let sb = Sandbox::new("fresh", false);
    std::fs::remove_dir_all(&sb.codex_home).unwrap();
    ok(&sb.run(&["plugin", "codex", "install"]));
    assert_eq!(std::fs::read_to_string(sb.config()).unwrap(), SECTION);
    ok(&sb.run(&["plugin", "codex", "uninstall"]));
    assert_eq!(std::fs::read_to_string(sb.config()).unwrap(), "");
}

#[test]
fn marketplace_flag_and_codex_home_flag() {
    let sb = Sandbox::new("mkt", false);
    let other = sb.root.join("elsewhere");
    ok(&sb.run(&[
        "codex",
        "plugin",
        "install",
        "--codex-home",
        other.to_str().unwrap(),
        "--marketplace",
        "corp",
    ]));
    assert!(other
        .join("plugins/cache/corp/tunnel-mcp/local/.codex-plugin/plugin.json")
        .is_file());
    assert_eq!(
        std::fs::read_to_string(other.join("config.toml")).unwrap(),
        "[plugins.\"tunnel-mcp@corp\"]\nenabled = true\n"
    );
    assert!(!sb.config().exists(), "the default home was not touched");
    for bad in ["a/b", "..", "-x", "q\""] {
        let e = fail(&sb.run(&["codex", "plugin", "install", "--marketplace", bad]));
        assert!(
            e.contains("marketplace contains unsupported characters"),
            "{e}"
        );
    }
}

#[test]
fn export_writes_a_valid_bundle_and_keeps_extra_files() {
    let sb = Sandbox::new("export", false);
    let dir = sb.root.join("out");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mine.txt"), "keep").unwrap();
    let out = ok(&sb.run(&["codex", "plugin", "export", "--dir", dir.to_str().unwrap()]));
    assert!(out.starts_with(&format!(
        "Exported embedded Codex plugin bundle to {}\n",
        dir.display()
    )));
    assert_eq!(
        std::fs::read_to_string(dir.join("mine.txt")).unwrap(),
        "keep"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".codex-plugin/plugin.json")).unwrap())
            .unwrap();
    assert_eq!(m["name"], "tunnel-mcp");
    assert!(m["version"]
        .as_str()
        .unwrap()
        .split('.')
        .all(|p| p.parse::<u32>().is_ok()));
    assert_eq!(m["skills"], "./skills/");
    assert_eq!(m["mcpServers"], "./.mcp.json");
    assert!(dir.join(m["mcpServers"].as_str().unwrap()).is_file());
    let skill = std::fs::read_to_string(dir.join("skills/tunnel-mcp/SKILL.md")).unwrap();
    assert!(skill.starts_with("---\nname: tunnel-mcp\ndescription: "));
    for r in [
        "runtime-flows.md",
        "setup-and-install.md",
        "troubleshooting.md",
    ] {
        assert!(
            skill.contains(&format!("references/{r}")),
            "SKILL.md points at {r}"
        );
        assert!(dir.join("skills/tunnel-mcp/references").join(r).is_file());
    }
    assert!(dir.join(".tunnel-client-bin").is_file());
    assert!(!sb.config().exists(), "export leaves config.toml alone");
    let e = fail(&sb.run(&["codex", "plugin", "export", "--dir", "  "]));
    assert!(e.contains("--dir is required"));
}

#[test]
fn exported_router_script_reaches_this_binary() {
    let sb = Sandbox::new("router", false);
    let dir = sb.root.join("out");
    ok(&sb.run(&["codex", "plugin", "export", "--dir", dir.to_str().unwrap()]));
    let o = std::process::Command::new(dir.join("scripts/tunnel_mcp"))
        .args(["install", "--codex-home", sb.codex_home.to_str().unwrap()])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(std::fs::read_to_string(sb.config()).unwrap(), SECTION);
}
