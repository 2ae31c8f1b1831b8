//! `--help` generated from the settings table.

use std::fmt::Write as _;

use super::table::{Command, Kind, Status, SETTINGS};

/// The section a setting belongs to in `--help` and in `docs/configuration.md`.
pub fn group(name: &str) -> &'static str {
    match name.split_once('.').map_or(name, |(g, _)| g) {
        "config" | "profile" | "profile-file" | "profile-dir" => "Config source",
        "ca-bundle" | "http-proxy" => "TLS / proxy",
        "control-plane" => "Control plane",
        "log" => "Logging",
        "health" | "pid" => "Health / process",
        "mcp" => "MCP",
        "harpoon" => "Harpoon",
        "cloudflared" => "cloudflared",
        "allow-remote-ui" | "open-web-ui" | "admin-ui" | "proxy" => "Admin UI / proxy health",
        "explain" | "json" => "Doctor",
        _ => "Embedded demo MCP stub",
    }
}

fn value_hint(k: Kind) -> &'static str {
    match k {
        Kind::Bool => "",
        Kind::Int => " <int>",
        Kind::Duration => " <duration>",
        Kind::Path => " <path|env:VAR|file:/path>",
        Kind::Proxy => " <url|env:VAR>",
        Kind::Secret => " <env:VAR|file:/path>",
        Kind::Headers => " <'Name: Value'>",
        _ => " <value>",
    }
}

/// The `--help` text of `cmd`: every accepted flag with its env var, default, whether it
/// is repeatable, and "not supported yet" marks. Hidden dash aliases are not listed.
pub fn help_text(cmd: Command) -> String {
    let mut out = format!(
        "Usage: tunnel-client {} [flags]\n\nPrecedence: flags > environment > YAML profile (--config/--profile/--profile-file) > defaults.\nA set-but-empty env var hides the YAML value (the default applies).\n",
        cmd.as_str()
    );
    let mut last = "";
    for s in SETTINGS.iter().filter(|s| s.applies_to(cmd)) {
        let g = group(s.name());
        if g != last {
            let _ = write!(out, "\n{g}:\n");
            last = g;
        }
        let _ = writeln!(out, "  {}{}", s.flag, value_hint(s.kind));
        let mut notes = vec![s.help.to_string()];
        if matches!(
            s.kind,
            Kind::List(_)
                | Kind::Headers
                | Kind::McpServerUrls
                | Kind::McpCommands
                | Kind::HarpoonTargets
        ) {
            notes.push("repeatable".into());
        }
        match s.default {
            Some("") | None => {}
            Some(d) => notes.push(format!("default {d}")),
        }
        if !s.env.is_empty() {
            notes.push(format!("env {}", s.env.join(", then ")));
        }
        if let Some(y) = s.yaml {
            notes.push(format!("yaml {y}"));
        }
        if s.status == Status::NotYet {
            notes.push("not supported yet".into());
        }
        let _ = writeln!(out, "      {}", notes.join("; "));
    }
    out.push_str("\n  -h, --help\n      print this help\n");
    out
}
