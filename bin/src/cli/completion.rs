//! `tunnel-client completion bash|zsh|fish`: completion scripts generated from the same
//! command specs and settings table that parse the command line, so they cannot drift.
//! Profile names after `--profile` come from `tunnel-client profiles list` at completion
//! time; sample names and help topics are built in.

use std::fmt::Write as _;

use super::args::CliError;
use super::opts::{self, Spec};
use super::{admin, help_topics, init, profiles, runtimes, samples};
use crate::config::{Command, SETTINGS};

/// One completable command path and what may follow it.
struct Node {
    /// Words after `tunnel-client` (empty for the root).
    path: &'static str,
    about: &'static str,
    /// Subcommand words or other fixed words (sample names, topics).
    words: Vec<String>,
    flags: Vec<String>,
}

fn table_flags(cmd: Command) -> Vec<String> {
    let mut v: Vec<String> = SETTINGS
        .iter()
        .filter(|s| s.applies_to(cmd))
        .map(|s| s.flag.to_string())
        .collect();
    v.push("--help".into());
    v
}

fn spec_node(path: &'static str, spec: &Spec) -> Node {
    Node {
        path,
        about: spec.about.lines().next().unwrap_or(""),
        words: Vec::new(),
        flags: opts::flag_words(spec),
    }
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

fn tree() -> Vec<Node> {
    let sample_names: Vec<String> = samples::SAMPLES
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    let mut help_words: Vec<String> = help_topics::TOPICS
        .iter()
        .map(|(n, _, _)| n.to_string())
        .collect();
    help_words.extend(help_topics::COMMANDS.iter().map(|(c, _)| c.to_string()));
    help_words.sort();
    help_words.dedup();
    let mut doctor_flags = table_flags(Command::Doctor);
    doctor_flags.push("--offline".into());
    let mut nodes = vec![
        Node {
            path: "",
            about: "",
            words: help_topics::COMMANDS
                .iter()
                .map(|(c, _)| c.to_string())
                .collect(),
            flags: words(&["--version", "--help"]),
        },
        spec_node("init", &init::SPEC),
        Node {
            path: "doctor",
            about: "check a configuration before running it",
            words: Vec::new(),
            flags: doctor_flags,
        },
        Node {
            path: "run",
            about: "the tunnel daemon",
            words: Vec::new(),
            flags: table_flags(Command::Run),
        },
        Node {
            path: "health",
            about: "probe a running daemon",
            words: Vec::new(),
            flags: words(&[
                "--url",
                "--url-file",
                "--port",
                "--pid",
                "--pid-file",
                "--require-control-plane-poll",
                "--json",
                "--help",
            ]),
        },
        Node {
            path: "profiles",
            about: "named profiles",
            words: words(&["list", "add", "edit", "samples"]),
            flags: words(&["--help"]),
        },
        spec_node("profiles list", &profiles::LIST),
        spec_node("profiles add", &profiles::ADD),
        spec_node("profiles edit", &profiles::EDIT),
        Node {
            path: "profiles samples",
            about: "built-in samples",
            words: words(&["list", "show"]),
            flags: words(&["--help"]),
        },
        spec_node("profiles samples list", &profiles::SAMPLES_LIST),
        Node {
            words: sample_names,
            ..spec_node("profiles samples show", &profiles::SAMPLES_SHOW)
        },
        Node {
            words: words(&["tunnels"]),
            ..spec_node("admin", &admin::ADMIN)
        },
        Node {
            words: admin::SUBCOMMANDS
                .iter()
                .map(|(n, _)| n.to_string())
                .collect(),
            ..spec_node("admin tunnels", &admin::ADMIN)
        },
        Node {
            path: "dev",
            about: "local tools",
            words: words(&["control-plane", "mcp-stub", "proxy"]),
            flags: words(&["--help"]),
        },
        Node {
            path: "dev control-plane",
            about: "control-plane emulator",
            words: Vec::new(),
            flags: words(&[
                "--listen-addr",
                "--tunnel-id",
                "--api-key",
                "--admin-key",
                "--url-path",
                "--latency",
                "--latency-jitter",
                "--latency-seed",
            ]),
        },
        Node {
            path: "dev mcp-stub",
            about: "demo MCP server",
            words: Vec::new(),
            flags: words(&["--listen-addr", "--server-name", "--server-version"]),
        },
        Node {
            path: "dev proxy",
            about: "local tunnel service + client",
            words: Vec::new(),
            flags: words(&[
                "--listen",
                "--listen-unix-socket",
                "--tunnel-id",
                "--mcp-server-url",
                "--mcp-command",
                "--profile",
                "--profile-file",
                "--profile-dir",
                "--health-listen-addr",
                "--health-url-file",
                "--url-file",
                "--print-json",
                "--duration",
                "--readiness-timeout",
                "--response-timeout",
                "--client-last-seen-timeout",
                "--backend",
                "--engine-queue-backend",
                "--engine-redis-url",
            ]),
        },
        Node {
            path: "demo",
            about: "local demo",
            words: Vec::new(),
            flags: Vec::new(),
        },
        Node {
            path: "completion",
            about: "shell completion",
            words: words(&["bash", "zsh", "fish"]),
            flags: Vec::new(),
        },
        Node {
            path: "help",
            about: "help topics",
            words: help_words,
            flags: Vec::new(),
        },
    ];
    nodes.push(Node {
        words: runtimes::RUNTIMES_SUBCOMMANDS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect(),
        ..spec_node("runtimes", &runtimes::RUNTIMES)
    });
    for (name, spec) in runtimes::RUNTIMES_SUBCOMMANDS {
        let path: &'static str = match *name {
            "create" => "runtimes create",
            "connect" => "runtimes connect",
            "list" => "runtimes list",
            "cleanup" => "runtimes cleanup",
            "status" => "runtimes status",
            "stop" => "runtimes stop",
            "disconnect" => "runtimes disconnect",
            "rm" => "runtimes rm",
            _ => "runtimes remove",
        };
        nodes.push(spec_node(path, spec));
    }
    nodes.push(Node {
        words: runtimes::ADMIN_PROFILES_SUBCOMMANDS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect(),
        ..spec_node("admin-profiles", &runtimes::ADMIN_PROFILES)
    });
    for (name, spec) in runtimes::ADMIN_PROFILES_SUBCOMMANDS {
        let path: &'static str = match *name {
            "list" => "admin-profiles list",
            "set" => "admin-profiles set",
            "activate" => "admin-profiles activate",
            _ => "admin-profiles delete",
        };
        nodes.push(spec_node(path, spec));
    }
    nodes.extend(codex_nodes());
    for (name, spec) in admin::SUBCOMMANDS {
        let path: &'static str = match *name {
            "get" => "admin tunnels get",
            "list" => "admin tunnels list",
            "create" => "admin tunnels create",
            "update" => "admin tunnels update",
            _ => "admin tunnels delete",
        };
        nodes.push(spec_node(path, spec));
    }
    nodes
}

/// `codex …` (the Codex integration, `cli/codex`).
fn codex_nodes() -> Vec<Node> {
    let node = |path, about, w: &[&str], f: &[&str]| Node {
        path,
        about,
        words: words(w),
        flags: words(f),
    };
    vec![
        node(
            "codex",
            "Codex integration",
            &[
                "status",
                "diagnose",
                "assistant",
                "plugin",
                "install",
                "upgrade",
                "uninstall",
                "mcp-server",
            ],
            &["--help"],
        ),
        node(
            "codex status",
            "Codex and plugin status",
            &[],
            &["--json", "--help"],
        ),
        node(
            "codex diagnose",
            "plugin, bridge and runtime report",
            &[],
            &[
                "--json",
                "--alias",
                "--plugin-root",
                "--health-url",
                "--help",
            ],
        ),
        node(
            "codex assistant",
            "ask Codex",
            &[],
            &[
                "--cwd",
                "--model",
                "--model-provider",
                "--approval-policy",
                "--sandbox-type",
                "--developer-instructions",
                "--effort",
                "--summary",
                "--login-timeout",
                "--help",
            ],
        ),
        node(
            "codex plugin",
            "Tunnel MCP plugin",
            &["install", "uninstall", "export"],
            &["--help"],
        ),
        node(
            "codex plugin install",
            "install the plugin",
            &[],
            &["--codex-home", "--marketplace", "--help"],
        ),
        node(
            "codex plugin uninstall",
            "remove the plugin",
            &[],
            &["--codex-home", "--help"],
        ),
        node(
            "codex plugin export",
            "write the bundle",
            &[],
            &["--dir", "--help"],
        ),
        node(
            "codex install",
            "print install commands",
            &[],
            &["--json", "--help"],
        ),
        node(
            "codex upgrade",
            "print upgrade commands",
            &[],
            &["--json", "--help"],
        ),
        node(
            "codex uninstall",
            "print uninstall commands",
            &[],
            &["--json", "--help"],
        ),
    ]
}

/// Flags whose value is a file or directory.
const PATH_FLAGS: &[&str] = &[
    "--config",
    "--profile-file",
    "--profile-dir",
    "--from-file",
    "--ca-bundle",
    "--control-plane.client-cert",
    "--control-plane.client-key",
    "--mcp.client-cert",
    "--mcp.client-key",
    "--log.file",
    "--health.url-file",
    "--pid.file",
    "--codex-home",
    "--dir",
];

fn bash() -> String {
    let nodes = tree();
    let sample_names: Vec<&str> = samples::SAMPLES.iter().map(|s| s.name).collect();
    let mut s = String::from(
        "# bash completion for tunnel-client; load with: source <(tunnel-client completion bash)\n_tunnel_client() {\n    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\" path=\"\" i\n    for ((i = 1; i < COMP_CWORD; i++)); do\n        case \"$path ${COMP_WORDS[i]}\" in\n",
    );
    let paths: Vec<String> = nodes
        .iter()
        .filter(|n| !n.path.is_empty())
        .map(|n| format!("\" {}\"", n.path))
        .collect();
    let _ = writeln!(
        s,
        "            {}) path=\"$path ${{COMP_WORDS[i]}}\" ;;",
        paths.join("|")
    );
    s.push_str("        esac\n    done\n    case \"$prev\" in\n");
    s.push_str("        --profile) COMPREPLY=($(compgen -W \"$(tunnel-client profiles list 2>/dev/null | cut -f1)\" -- \"$cur\")); return ;;\n");
    let _ = writeln!(
        s,
        "        --sample) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")); return ;;",
        sample_names.join(" ")
    );
    let _ = writeln!(
        s,
        "        {}) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;",
        PATH_FLAGS.join("|")
    );
    s.push_str("    esac\n    local words\n    case \"$path\" in\n");
    for n in &nodes {
        let mut all = n.words.clone();
        all.extend(n.flags.iter().cloned());
        let key = if n.path.is_empty() {
            String::new()
        } else {
            format!(" {}", n.path)
        };
        let _ = writeln!(s, "        \"{key}\") words=\"{}\" ;;", all.join(" "));
    }
    s.push_str("        *) words=\"\" ;;\n    esac\n    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n}\ncomplete -o default -F _tunnel_client tunnel-client\n");
    s
}

fn zsh() -> String {
    format!(
        "#compdef tunnel-client\n# zsh completion for tunnel-client (through bash completion compatibility);\n# load with: source <(tunnel-client completion zsh)\nautoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n{}",
        bash()
    )
}

fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn fish() -> String {
    let nodes = tree();
    let mut s = String::from(
        "# fish completion for tunnel-client; load with: tunnel-client completion fish | source\ncomplete -c tunnel-client -f\n",
    );
    for n in &nodes {
        let cond = if n.path.is_empty() {
            "__fish_use_subcommand".to_string()
        } else {
            let parts: Vec<&str> = n.path.split(' ').collect();
            let mut c: Vec<String> = parts
                .iter()
                .map(|p| format!("__fish_seen_subcommand_from {p}"))
                .collect();
            // Not below a deeper subcommand of this node.
            let deeper: Vec<&str> = nodes
                .iter()
                .filter_map(|m| {
                    m.path
                        .strip_prefix(n.path)
                        .and_then(|r| r.strip_prefix(' '))
                })
                .filter(|r| !r.contains(' '))
                .collect();
            if !deeper.is_empty() {
                c.push(format!(
                    "not __fish_seen_subcommand_from {}",
                    deeper.join(" ")
                ));
            }
            c.join("; and ")
        };
        for w in &n.words {
            let _ = writeln!(
                s,
                "complete -c tunnel-client -n {} -a {}",
                fish_quote(&cond),
                fish_quote(w)
            );
        }
        for f in &n.flags {
            let long = f.trim_start_matches('-');
            let mut line = format!(
                "complete -c tunnel-client -n {} -l {}",
                fish_quote(&cond),
                fish_quote(long)
            );
            if PATH_FLAGS.contains(&f.as_str()) {
                line.push_str(" -r -F");
            }
            if !n.about.is_empty() && n.flags.len() < 4 {
                let _ = write!(line, " -d {}", fish_quote(n.about));
            }
            let _ = writeln!(s, "{line}");
        }
    }
    let _ = writeln!(
        s,
        "complete -c tunnel-client -l profile -x -a '(tunnel-client profiles list 2>/dev/null | cut -f1)'"
    );
    s
}

/// `completion <shell>`.
pub fn run(args: &[String]) -> Result<(), CliError> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let script = match words.as_slice() {
        ["bash"] => bash(),
        ["zsh"] => zsh(),
        ["fish"] => fish(),
        [] | ["--help"] | ["-h"] => {
            print!("Usage: tunnel-client completion bash|zsh|fish\n\nPrint a shell completion script.\n\n  bash:  source <(tunnel-client completion bash)      (or save it to /etc/bash_completion.d/tunnel-client)\n  zsh:   source <(tunnel-client completion zsh)\n  fish:  tunnel-client completion fish > ~/.config/fish/completions/tunnel-client.fish\n");
            return Ok(());
        }
        other => {
            return Err(CliError::Usage(format!(
                "completion: expected one shell, bash, zsh or fish (got {:?}); e.g. source <(tunnel-client completion bash)",
                other.join(" ")
            )))
        }
    };
    print!("{script}");
    Ok(())
}
