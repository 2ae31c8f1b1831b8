//! `codex install|upgrade|uninstall [--json]`: print the official commands, never run them.
//!
//! Homebrew ships Codex as a cask now (`brew install --cask codex`, as the Codex README
//! says); the Go client still prints the old formula command. We follow upstream.

use serde::Serialize;

use super::detect::which;
use crate::cli::args::{Args, CliError};

pub const DOCS_URL: &str = "https://developers.openai.com/codex/cli";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Method {
    pub name: &'static str,
    pub install_command: &'static str,
    pub upgrade_command: &'static str,
    pub uninstall_command: &'static str,
}

pub const METHODS: [Method; 2] = [
    Method {
        name: "homebrew",
        install_command: "brew install --cask codex",
        upgrade_command: "brew upgrade --cask codex",
        uninstall_command: "brew uninstall --cask codex",
    },
    Method {
        name: "npm",
        install_command: "npm install -g @openai/codex",
        upgrade_command: "npm i -g @openai/codex@latest",
        uninstall_command: "npm uninstall -g @openai/codex",
    },
];

/// homebrew on macOS with brew; else npm with npm; else homebrew with brew; else npm.
pub fn preferred() -> &'static Method {
    let brew = which("brew").is_some();
    let npm = which("npm").is_some();
    if cfg!(target_os = "macos") && brew {
        &METHODS[0]
    } else if npm {
        &METHODS[1]
    } else if brew {
        &METHODS[0]
    } else {
        &METHODS[1]
    }
}

impl Method {
    pub fn command(&self, action: &str) -> &'static str {
        match action {
            "upgrade" => self.upgrade_command,
            "uninstall" => self.uninstall_command,
            _ => self.install_command,
        }
    }
}

#[derive(Serialize)]
struct Report {
    action: String,
    docs_url: &'static str,
    methods: &'static [Method],
    preferred_method: &'static str,
}

pub fn run(action: &str, args: &[String]) -> Result<(), CliError> {
    let cmd: &'static str = match action {
        "install" => "codex install",
        "upgrade" => "codex upgrade",
        _ => "codex uninstall",
    };
    let mut a = Args::new(cmd, args);
    let mut json = false;
    while let Some(f) = a.next_flag()? {
        match f.as_str() {
            "json" => json = true,
            "help" | "h" => {
                println!("Usage: tunnel-client {cmd} [--json]\n\nPrints the official commands; runs nothing.");
                return Ok(());
            }
            other => return Err(a.unknown(other, &["json"])),
        }
    }
    let p = preferred();
    if json {
        let r = Report {
            action: action.to_string(),
            docs_url: DOCS_URL,
            methods: &METHODS,
            preferred_method: p.name,
        };
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        return Ok(());
    }
    let intro = match action {
        "install" => "Install Codex with one of the supported package managers below.",
        "upgrade" => "Upgrade Codex using the same package manager that installed it.",
        _ => "Remove Codex with the same package manager that installed it.",
    };
    println!("{intro}");
    println!("Preferred on this host: {}", p.name);
    println!("  {}", p.command(action));
    println!("Fallbacks:");
    for m in METHODS.iter().filter(|m| m.name != p.name) {
        println!("  {}: {}", m.name, m.command(action));
    }
    println!("Docs: {DOCS_URL}");
    Ok(())
}
