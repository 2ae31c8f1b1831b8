//! Root help, `--version`, and `tunnel-client help [topic|command]` with the embedded
//! topics (`bin/help_topics/*.txt`), written for this client.

use std::fmt::Write as _;

use super::args::CliError;

pub const TUNNELS_URL: &str = "https://platform.openai.com/settings/organization/tunnels";
pub const ROLES_URL: &str = "https://platform.openai.com/settings/organization/people/roles";
pub const GROUPS_URL: &str = "https://platform.openai.com/settings/organization/people/groups";
pub const RUNTIME_KEYS_URL: &str = "https://platform.openai.com/settings/organization/api-keys";
pub const ADMIN_KEYS_URL: &str = "https://platform.openai.com/settings/organization/admin-keys";
pub const CONNECTORS_URL: &str = "https://chatgpt.com/#settings/Connectors";

/// The setup pages, in the order the help shows them.
pub const SETUP_PAGES: &[(&str, &str)] = &[
    ("Tunnels management", TUNNELS_URL),
    ("Organization roles", ROLES_URL),
    ("Organization groups", GROUPS_URL),
    ("Runtime API keys", RUNTIME_KEYS_URL),
    ("Admin API keys", ADMIN_KEYS_URL),
    ("ChatGPT connector settings", CONNECTORS_URL),
];

/// doctor's informational checks (Go check ids).
pub const SETUP_CHECKS: &[(&str, &str)] = &[
    ("tunnels_management_url", TUNNELS_URL),
    ("runtime_api_keys_url", RUNTIME_KEYS_URL),
    ("admin_api_keys_url", ADMIN_KEYS_URL),
    ("chatgpt_connector_settings_url", CONNECTORS_URL),
];

/// The embedded topics, sorted, with their one-line description.
pub const TOPICS: &[(&str, &str, &str)] = &[
    (
        "doctor",
        "what doctor checks, how to read its report, exit codes",
        include_str!("../../help_topics/doctor.txt"),
    ),
    (
        "oauth",
        "the OAuth metadata an HTTP MCP server needs for ChatGPT sign-in",
        include_str!("../../help_topics/oauth.txt"),
    ),
    (
        "plugin",
        "Codex: the Tunnel MCP plugin, codex status and the assistant",
        include_str!("../../help_topics/plugin.txt"),
    ),
    (
        "quickstart",
        "from nothing to a running tunnel: which value comes from where, step by step",
        include_str!("../../help_topics/quickstart.txt"),
    ),
    (
        "samples",
        "the built-in profile samples and how to create profiles from them",
        include_str!("../../help_topics/samples.txt"),
    ),
    (
        "troubleshooting",
        "health/readiness endpoints, common errors and what they mean",
        include_str!("../../help_topics/troubleshooting.txt"),
    ),
];

/// Commands `help <command>` knows (their help is `<command> --help`).
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "init",
        "write a first profile from a sample (tunnel id + MCP target)",
    ),
    (
        "doctor",
        "check a configuration before running it (exit 2 on FAIL)",
    ),
    (
        "run",
        "the tunnel daemon: poll the control plane, forward to the MCP server",
    ),
    (
        "health",
        "probe a running daemon's /healthz and /readyz (exit 2 when not OK)",
    ),
    (
        "profiles",
        "list|add|edit named profiles; samples list|show",
    ),
    (
        "admin",
        "admin tunnels get|list|create|update|delete (admin key)",
    ),
    (
        "runtimes",
        "connect|status|list|stop|rm|create|cleanup: local MCP servers as background runtimes",
    ),
    (
        "admin-profiles",
        "list|set|activate|delete the admin profiles runtimes use",
    ),
    (
        "demo",
        "the whole tunnel loop on this machine (emulator + client + demo MCP server)",
    ),
    (
        "dev",
        "dev control-plane (local emulator) | dev mcp-stub (demo MCP server) | dev proxy (local MCP URL through a real client)",
    ),
    (
        "completion",
        "print a shell completion script: bash|zsh|fish",
    ),
    ("help", "show a help topic or a command's help"),
    (
        "codex",
        "codex status|diagnose|assistant|plugin install|uninstall|export|install|upgrade|uninstall",
    ),
];

/// `Canonical setup URLs:` block.
pub fn setup_pages() -> String {
    let mut out = String::from("Canonical setup URLs:\n");
    for (name, url) in SETUP_PAGES {
        let _ = writeln!(out, "  {:<28}{url}", format!("{name}:"));
    }
    out
}

/// The version line (`--version`): the bare version, as the Go client prints it.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// What `--version` prints: the version, and when built from a git checkout (`build.rs`)
/// `+<12-hex sha> (git sha: <sha>)`, as the Go client appends its revision.
pub fn version_line() -> String {
    match option_env!("TUNNEL_CLIENT_GIT_SHA") {
        Some(sha) if sha.len() >= 12 => format!("{}+{} (git sha: {sha})", version(), &sha[..12]),
        _ => version().to_string(),
    }
}

/// Root help (`tunnel-client`, `--help`, `help`).
pub fn root() -> String {
    let mut out = format!(
        "tunnel-client {} — connects a private MCP server to ChatGPT through Secure MCP Tunnel\n\nUsage: tunnel-client <command> [flags]\n\nGetting started:\n",
        version()
    );
    let line = |out: &mut String, cmd: &str, what: &str| {
        let width = 36.max(cmd.len() + 2);
        let _ = writeln!(out, "  {cmd:<width$}{what}");
    };
    line(
        &mut out,
        "init",
        "write a first profile (tunnel id + MCP target)",
    );
    line(
        &mut out,
        "doctor",
        "check a configuration before running it",
    );
    line(
        &mut out,
        "run",
        "the tunnel daemon (long-lived; use a supervisor)",
    );
    line(
        &mut out,
        "health --url-file F | --port N",
        "probe a running daemon (exit 0 OK, 2 not OK)",
    );
    out.push_str("\nProfiles:\n");
    line(
        &mut out,
        "profiles list|add|edit",
        "named profiles: <profile dir>/<name>.yaml",
    );
    line(
        &mut out,
        "profiles samples list|show",
        "the built-in sample profiles",
    );
    out.push_str("\nTunnel management (admin key):\n");
    line(
        &mut out,
        "admin tunnels get|list|create|update|delete",
        "find, create and change tunnels",
    );
    out.push_str("\nBackground runtimes (for agents such as Codex):\n");
    line(
        &mut out,
        "runtimes connect|status|list|stop|rm",
        "run a local MCP server through a tunnel, supervised",
    );
    line(
        &mut out,
        "admin-profiles list|set|activate|delete",
        "where runtimes manage tunnels, and with which key",
    );
    out.push_str("\nTry it locally:\n");
    line(&mut out, "demo", "the whole tunnel loop on this machine");
    line(
        &mut out,
        "dev control-plane",
        "run the local control-plane emulator",
    );
    line(&mut out, "dev mcp-stub", "run the demo MCP server");
    line(
        &mut out,
        "dev proxy",
        "a local MCP URL served through the tunnel protocol and a real client",
    );
    out.push_str("\nOther:\n");
    line(
        &mut out,
        "help [topic|command]",
        "a help topic, or a command's flags",
    );
    line(
        &mut out,
        "completion bash|zsh|fish",
        "print a shell completion script",
    );
    line(&mut out, "--version", "print the version");
    out.push_str("\nHelp topics:\n");
    for (name, what, _) in TOPICS {
        line(&mut out, &format!("tunnel-client help {name}"), what);
    }
    out.push_str("\nSetup pages:\n");
    for (name, url) in SETUP_PAGES {
        let _ = writeln!(out, "  {:<28}{url}", format!("{name}:"));
    }
    out.push_str("\nRun 'tunnel-client <command> --help' for the flags of a command.\n");
    out
}

/// An embedded topic's text.
pub fn topic(name: &str) -> Option<String> {
    TOPICS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, t)| format!("{}\n{}", t.trim_end(), setup_pages()))
}

/// Whether `word` is a command `help` can show.
pub fn is_command(word: &str) -> bool {
    COMMANDS.iter().any(|(c, _)| *c == word)
}

/// `help <x>` for an `x` that is neither a topic nor a command.
pub fn unknown_topic(word: &str) -> CliError {
    let topics: Vec<&str> = TOPICS.iter().map(|(n, _, _)| *n).collect();
    let cmds: Vec<&str> = COMMANDS.iter().map(|(c, _)| *c).collect();
    let hint = super::opts::closest(word, topics.iter().chain(cmds.iter()).copied())
        .map(|c| format!("did you mean {c:?}? "))
        .unwrap_or_default();
    CliError::Usage(format!(
        "unknown help topic {word:?}; {hint}available topics: {}; commands: {}",
        topics.join(", "),
        cmds.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_listed_in_root_help_and_has_text() {
        let root = root();
        for (name, _, text) in TOPICS {
            assert!(
                root.contains(&format!("tunnel-client help {name}")),
                "{name}"
            );
            assert!(text.len() > 200, "{name} is too short");
        }
        for (_, url) in SETUP_PAGES {
            assert!(root.contains(url));
        }
        let e = unknown_topic("quikstart").to_string();
        assert!(e.contains("did you mean \"quickstart\""), "{e}");
    }

    #[test]
    fn every_topic_points_to_pages_that_exist() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (name, _, text) in TOPICS {
            let line = text
                .lines()
                .find(|l| l.starts_with("Documentation (in the tunnel-client repository): "))
                .unwrap_or_else(|| panic!("help {name} names no documentation page"));
            let pages: Vec<&str> = line
                .split(|c: char| c.is_whitespace() || c == ',' || c == ':')
                .filter(|w| w.starts_with("docs/") && w.ends_with(".md"))
                .collect();
            assert!(!pages.is_empty(), "{name}: {line}");
            for p in pages {
                assert!(
                    root.join(p).is_file(),
                    "help {name} points to {p}, which does not exist"
                );
            }
        }
    }

    #[test]
    fn topics_name_the_three_values() {
        let q = topic("quickstart").unwrap();
        for v in [
            "CONTROL_PLANE_TUNNEL_ID",
            "CONTROL_PLANE_API_KEY",
            "OPENAI_ADMIN_KEY",
        ] {
            assert!(q.contains(v), "{v}");
        }
    }
}
