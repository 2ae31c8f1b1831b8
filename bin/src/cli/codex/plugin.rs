//! `codex plugin install|uninstall|export` (and the hidden `plugin codex …` alias).

use std::path::{Path, PathBuf};

use super::{bundle, config_toml, detect};
use crate::cli::args::{Args, CliError};

pub fn run(args: &[String]) -> Result<(), CliError> {
    match args.first().map(String::as_str) {
        Some("install") => install(&args[1..]),
        Some("uninstall") => uninstall(&args[1..]),
        Some("export") => export(&args[1..]),
        None | Some("--help" | "-h" | "help") => {
            println!("Usage: tunnel-client codex plugin install|uninstall|export [flags]\n\n  install     install the Tunnel MCP plugin into Codex (--codex-home DIR, --marketplace NAME)\n  uninstall   remove it (--codex-home DIR)\n  export      write the bundle to a directory (--dir DIR)");
            Ok(())
        }
        Some(other) => Err(CliError::Usage(format!(
            "unknown codex plugin command {other:?}; use install, uninstall or export"
        ))),
    }
}

fn io(what: &str, p: &Path, e: std::io::Error) -> CliError {
    CliError::Io(format!("{what} {}: {e}", p.display()))
}

/// The absolute, symlink-resolved path of this executable, checked to be executable.
pub fn current_binary() -> Result<PathBuf, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Io(format!("cannot find the tunnel-client executable: {e}")))?;
    let p = std::fs::canonicalize(&exe).unwrap_or(exe);
    if p.is_dir() {
        return Err(CliError::Io(format!(
            "tunnel-client binary path is a directory: {}",
            p.display()
        )));
    }
    if !detect::is_executable(&p) {
        return Err(CliError::Io(format!(
            "tunnel-client binary is not executable: {}",
            p.display()
        )));
    }
    Ok(p)
}

fn validate_marketplace(m: &str) -> Result<String, CliError> {
    let m = m.trim();
    if m.is_empty() {
        return Ok(detect::DEFAULT_MARKETPLACE.into());
    }
    if m == "." || m == ".." || m.starts_with('-') || m.contains(['/', '\\', '"']) {
        return Err(CliError::Usage(format!(
            "marketplace contains unsupported characters: {m:?}"
        )));
    }
    Ok(m.to_string())
}

fn valid_plugin_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn install(args: &[String]) -> Result<(), CliError> {
    let mut a = Args::new("codex plugin install", args);
    let (mut home_flag, mut marketplace) = (None, String::new());
    while let Some(f) = a.next_flag()? {
        match f.as_str() {
            "codex-home" => home_flag = Some(a.value("codex-home")?),
            "marketplace" => marketplace = a.value("marketplace")?,
            "help" | "h" => {
                println!("Usage: tunnel-client codex plugin install [--codex-home DIR] [--marketplace NAME]");
                return Ok(());
            }
            other => return Err(a.unknown(other, &["codex-home", "marketplace"])),
        }
    }
    let home = detect::codex_home(home_flag.as_deref());
    let marketplace = validate_marketplace(&marketplace)?;
    let name = bundle::plugin_name();
    if !valid_plugin_name(&name) {
        return Err(CliError::Config(format!(
            "embedded plugin name {name:?} is invalid"
        )));
    }
    let bin = current_binary()?;
    let bin_s = bin.display().to_string();
    let target = detect::plugin_dir(&home, &marketplace, detect::LOCAL_VERSION);
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| io("cannot clear", &target, e))?;
    }
    bundle::write(&target, &bin_s).map_err(|e| io("cannot write plugin into", &target, e))?;
    bundle::write_file(
        &target.join(detect::HINT_FILE),
        format!("{bin_s}\n").as_bytes(),
        false,
    )
    .map_err(|e| io("cannot write binary hint in", &target, e))?;

    let config = home.join("config.toml");
    let text = match std::fs::read_to_string(&config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io("cannot read", &config, e)),
    };
    let section = config_toml::plugin_section(&name, &marketplace);
    let updated = config_toml::enable_section(&text, &section);
    if updated != text {
        bundle::write_file(&config, updated.as_bytes(), false)
            .map_err(|e| io("cannot write", &config, e))?;
    }

    let d = detect::detect(&home, false);
    let inst = d
        .installations
        .iter()
        .find(|i| i.marketplace == marketplace)
        .cloned()
        .unwrap_or(d.chosen);
    if inst.binary_hint.is_empty() {
        return Err(CliError::Io(format!(
            "installed plugin {} is missing {}",
            inst.dir,
            detect::HINT_FILE
        )));
    }
    println!("Installed {name} into {}", inst.dir);
    println!("Updated Codex config {}", config.display());
    println!("Persisted binary hint {}", inst.binary_hint_path);
    println!("Next:");
    println!("  tunnel-client codex assistant \"Summarize the current tunnel setup.\"");
    println!("  tunnel-client codex status");
    println!("  test -f {}/{}", inst.dir, detect::MANIFEST);
    println!("  test -f {}", inst.binary_hint_path);
    println!("  start a new Codex session if plugins were already loaded");
    Ok(())
}

fn uninstall(args: &[String]) -> Result<(), CliError> {
    let mut a = Args::new("codex plugin uninstall", args);
    let mut home_flag = None;
    while let Some(f) = a.next_flag()? {
        match f.as_str() {
            "codex-home" => home_flag = Some(a.value("codex-home")?),
            "help" | "h" => {
                println!("Usage: tunnel-client codex plugin uninstall [--codex-home DIR]");
                return Ok(());
            }
            other => return Err(a.unknown(other, &["codex-home"])),
        }
    }
    let home = detect::codex_home(home_flag.as_deref());
    let target = detect::plugin_dir(&home, detect::DEFAULT_MARKETPLACE, detect::LOCAL_VERSION);
    let removed_dir = if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| io("cannot remove", &target, e))?;
        true
    } else {
        false
    };
    let config = home.join("config.toml");
    let section = config_toml::plugin_section(&bundle::plugin_name(), detect::DEFAULT_MARKETPLACE);
    let removed_section = match std::fs::read_to_string(&config) {
        Ok(text) => match config_toml::remove_section(&text, &section) {
            Some(t) => {
                bundle::write_file(&config, t.as_bytes(), false)
                    .map_err(|e| io("cannot write", &config, e))?;
                true
            }
            None => false,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io("cannot read", &config, e)),
    };
    if !removed_dir && !removed_section {
        println!("Tunnel MCP plugin is not installed in {}", home.display());
        return Ok(());
    }
    if removed_dir {
        println!(
            "Removed on-disk tunnel-mcp plugin bundle from {}",
            target.display()
        );
    } else {
        println!(
            "No on-disk tunnel-mcp plugin bundle found in {}",
            target.display()
        );
    }
    if removed_section {
        println!(
            "Removed on-disk Codex config section from {}",
            config.display()
        );
    } else {
        println!(
            "No matching on-disk Codex config section found in {}",
            config.display()
        );
    }
    println!("Next:\n  tunnel-client codex plugin install\n  restart any existing Codex session if the plugin was already loaded");
    Ok(())
}

fn export(args: &[String]) -> Result<(), CliError> {
    let mut a = Args::new("codex plugin export", args);
    let mut dir = String::new();
    while let Some(f) = a.next_flag()? {
        match f.as_str() {
            "dir" => dir = a.value("dir")?,
            "help" | "h" => {
                println!("Usage: tunnel-client codex plugin export --dir DIR");
                return Ok(());
            }
            other => return Err(a.unknown(other, &["dir"])),
        }
    }
    if dir.trim().is_empty() {
        return Err(CliError::Usage("--dir is required".into()));
    }
    let dir = PathBuf::from(dir.trim());
    let bin = current_binary().ok();
    let bin_s = bin
        .as_ref()
        .map(|b| b.display().to_string())
        .unwrap_or_default();
    bundle::write(&dir, &bin_s).map_err(|e| io("cannot export plugin to", &dir, e))?;
    println!("Exported embedded Codex plugin bundle to {}", dir.display());
    if !bin_s.is_empty() {
        let hint = dir.join(detect::HINT_FILE);
        bundle::write_file(&hint, format!("{bin_s}\n").as_bytes(), false)
            .map_err(|e| io("cannot write", &hint, e))?;
        println!("Persisted binary hint {}", hint.display());
    }
    println!("Next:");
    println!("  {}/scripts/tunnel_mcp install", dir.display());
    println!("  or: tunnel-client codex plugin install");
    Ok(())
}
