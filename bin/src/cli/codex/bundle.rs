//! The Tunnel MCP plugin bundle, embedded in the binary (our own text, a few KB; no logo,
//! no scripts in other languages) and written out by `codex plugin install|export`.
//!
//! `.mcp.json` is generated, not embedded: it names this binary as the MCP server
//! (`<bin> codex mcp-server`), so the plugin needs nothing else on PATH.

use std::io;
use std::path::Path;

/// (path inside the bundle, contents, executable).
pub const FILES: &[(&str, &[u8], bool)] = &[
    (
        ".codex-plugin/plugin.json",
        include_bytes!("../../../plugin/tunnel-mcp/.codex-plugin/plugin.json"),
        false,
    ),
    (
        "README.md",
        include_bytes!("../../../plugin/tunnel-mcp/README.md"),
        false,
    ),
    (
        "skills/tunnel-mcp/SKILL.md",
        include_bytes!("../../../plugin/tunnel-mcp/skills/tunnel-mcp/SKILL.md"),
        false,
    ),
    (
        "skills/tunnel-mcp/references/runtime-flows.md",
        include_bytes!("../../../plugin/tunnel-mcp/skills/tunnel-mcp/references/runtime-flows.md"),
        false,
    ),
    (
        "skills/tunnel-mcp/references/setup-and-install.md",
        include_bytes!(
            "../../../plugin/tunnel-mcp/skills/tunnel-mcp/references/setup-and-install.md"
        ),
        false,
    ),
    (
        "skills/tunnel-mcp/references/troubleshooting.md",
        include_bytes!(
            "../../../plugin/tunnel-mcp/skills/tunnel-mcp/references/troubleshooting.md"
        ),
        false,
    ),
    (
        "scripts/tunnel_mcp",
        include_bytes!("../../../plugin/tunnel-mcp/scripts/tunnel_mcp"),
        true,
    ),
];

/// The skill references, for the assistant's knowledge injection.
pub fn references() -> impl Iterator<Item = (&'static str, &'static str)> {
    FILES
        .iter()
        .filter(|(p, _, _)| p.starts_with("skills/tunnel-mcp/references/"))
        .map(|(p, b, _)| (*p, std::str::from_utf8(b).unwrap_or("")))
}

fn manifest() -> serde_json::Value {
    serde_json::from_slice(FILES[0].1).expect("embedded plugin.json is JSON")
}

pub fn plugin_name() -> String {
    manifest()["name"]
        .as_str()
        .unwrap_or("tunnel-mcp")
        .to_string()
}

pub fn plugin_version() -> String {
    manifest()["version"]
        .as_str()
        .unwrap_or("0.0.0")
        .to_string()
}

/// `.mcp.json`: one stdio server, `tunnelMcp`, run by `bin`.
pub fn mcp_json(bin: &str) -> String {
    let v = serde_json::json!({
        "mcpServers": {
            "tunnelMcp": {
                "command": if bin.is_empty() { "tunnel-client" } else { bin },
                "args": ["codex", "mcp-server"],
                "cwd": "."
            }
        }
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// Write every file under `dir` (dirs 0755, files 0644, scripts 0755), plus `.mcp.json`.
pub fn write(dir: &Path, bin: &str) -> io::Result<()> {
    for (path, bytes, exec) in FILES {
        write_file(&dir.join(path), bytes, *exec)?;
    }
    write_file(&dir.join(".mcp.json"), mcp_json(bin).as_bytes(), false)
}

pub fn write_file(path: &Path, bytes: &[u8], exec: bool) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        create_dirs(parent)?;
    }
    std::fs::write(path, bytes)?;
    set_mode(path, if exec { 0o755 } else { 0o644 })
}

fn create_dirs(p: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(p)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(p)
}

fn set_mode(p: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (p, mode);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_the_skill_and_mcp_file_and_stays_small() {
        let m = manifest();
        assert_eq!(m["name"], "tunnel-mcp");
        assert_eq!(m["skills"], "./skills/");
        assert_eq!(m["mcpServers"], "./.mcp.json");
        let total: usize = FILES.iter().map(|(_, b, _)| b.len()).sum();
        assert!(total < 16 * 1024, "embedded bundle grew to {total} bytes");
        let skill = std::str::from_utf8(FILES[2].1).unwrap();
        assert!(skill.starts_with("---\nname: tunnel-mcp\n"));
        let v: serde_json::Value = serde_json::from_str(&mcp_json("/opt/tc")).unwrap();
        assert_eq!(v["mcpServers"]["tunnelMcp"]["command"], "/opt/tc");
    }
}
