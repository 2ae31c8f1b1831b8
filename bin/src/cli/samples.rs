//! The four built-in sample profiles (go-cli-config.md §3): YAML templates in
//! `bin/samples/`, the inputs they take, and their rendering. `init`, `profiles add
//! --sample` and `profiles samples show` all render through [`render`], and every
//! rendering is validated by the settings layer before it is written.

use std::fmt::Write as _;

use super::args::CliError;
use crate::config::onboard::{check_host_port, check_url, valid_env_name};
use crate::config::valid_tunnel_id;

/// Which MCP targets a sample accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Exactly one of `--mcp-server-url` / `--mcp-command`.
    Either,
    /// `--mcp-command` only (a URL is ignored).
    Stdio,
    /// `--mcp-server-url` only.
    Http,
}

/// A built-in sample.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub name: &'static str,
    pub summary: &'static str,
    pub use_when: &'static str,
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
    pub notes: &'static [&'static str],
    pub target: Target,
    template: &'static str,
    /// Inputs `profiles samples show` renders with.
    example_url: Option<&'static str>,
    example_command: Option<&'static str>,
    example_url_path: Option<&'static str>,
    example_open_browser: bool,
}

const OPTIONAL: &[&str] = &[
    "--control-plane-base-url",
    "--control-plane-url-path",
    "--control-plane-api-key-ref",
    "--health-listen-addr",
    "--open-web-ui",
];

/// The samples, sorted by name.
pub const SAMPLES: &[Sample] = &[
    Sample {
        name: "sample_mcp_enterprise_proxy",
        summary: "HTTP or stdio MCP target behind a corporate proxy and/or a private CA",
        use_when: "tunnel-client must reach the control plane through an HTTP(S) proxy, trust a private CA bundle, or keep every machine-specific value in env vars.",
        required: &["--tunnel-id", "exactly one of --mcp-server-url or --mcp-command"],
        optional: OPTIONAL,
        notes: &[
            "Adds ca_bundle: \"env:ENTERPRISE_CA_BUNDLE\" (PEM file trusted next to the system trust store) and http_proxy: \"env:HTTPS_PROXY\" (the proxy for every outbound route).",
            "Export CONTROL_PLANE_API_KEY, HTTPS_PROXY and ENTERPRISE_CA_BUNDLE where run starts; OPENAI_ADMIN_KEY only where you run `admin tunnels`.",
        ],
        target: Target::Either,
        template: include_str!("../../samples/sample_mcp_enterprise_proxy.yaml"),
        example_url: Some("https://mcp.internal.example.com/mcp"),
        example_command: None,
        example_url_path: Some("/workspace/dev/us"),
        example_open_browser: true,
    },
    Sample {
        name: "sample_mcp_remote_no_auth",
        summary: "Remote HTTP(S) MCP server that uses no OAuth",
        use_when: "your MCP server is reachable over HTTP(S) and deliberately publishes no OAuth protected-resource metadata.",
        required: &["--tunnel-id", "--mcp-server-url"],
        optional: OPTIONAL,
        notes: &[
            "Same YAML as the HTTP form of sample_mcp_with_dcr.",
            "A 404 from every well-known OAuth path is expected for this server; doctor passes it.",
        ],
        target: Target::Http,
        template: include_str!("../../samples/sample_mcp_remote_no_auth.yaml"),
        example_url: Some("https://mcp.example.com/mcp"),
        example_command: None,
        example_url_path: None,
        example_open_browser: false,
    },
    Sample {
        name: "sample_mcp_stdio_local",
        summary: "Local stdio MCP server: the shortest path to a working tunnel",
        use_when: "you have a command that starts your MCP server on stdin/stdout and want the fewest moving parts (no HTTP, no OAuth discovery).",
        required: &["--tunnel-id", "--mcp-command"],
        optional: OPTIONAL,
        notes: &[
            "Writes mcp.commands only; --mcp-server-url is ignored.",
            "The command is split like a shell would (quotes, backslashes) but not run through one: no $VAR expansion, no globbing. init checks that the executable exists and can run.",
        ],
        target: Target::Stdio,
        template: include_str!("../../samples/sample_mcp_stdio_local.yaml"),
        example_url: None,
        example_command: Some("python /path/to/server.py"),
        example_url_path: None,
        example_open_browser: false,
    },
    Sample {
        name: "sample_mcp_with_dcr",
        summary: "HTTP or stdio MCP target; HTTP servers may publish OAuth/DCR metadata",
        use_when: "your MCP server publishes OAuth metadata (protected resource + authorization server, dynamic client registration), or you want the general-purpose profile. The default of init.",
        required: &["--tunnel-id", "exactly one of --mcp-server-url or --mcp-command"],
        optional: OPTIONAL,
        notes: &[
            "Writes mcp.server_urls (channel main) for a URL, or mcp.commands for a command.",
            "For HTTP targets, doctor fetches /.well-known/oauth-protected-resource and the authorization server metadata it names (see `tunnel-client help oauth`).",
        ],
        target: Target::Either,
        template: include_str!("../../samples/sample_mcp_with_dcr.yaml"),
        example_url: Some("http://127.0.0.1:3001/mcp"),
        example_command: None,
        example_url_path: None,
        example_open_browser: false,
    },
];

/// The default sample of `init` when no command-only target is given.
pub const DEFAULT_SAMPLE: &str = "sample_mcp_with_dcr";
/// Example tunnel id used by `samples show` and the `profiles edit` placeholder.
pub const EXAMPLE_TUNNEL_ID: &str = "tunnel_0123456789abcdef0123456789abcdef";
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";
pub const DEFAULT_KEY_REF: &str = "env:CONTROL_PLANE_API_KEY";
pub const DEFAULT_HEALTH_ADDR: &str = "127.0.0.1:8080";

/// Looks a sample up by name.
pub fn find(name: &str) -> Option<&'static Sample> {
    SAMPLES.iter().find(|s| s.name == name)
}

/// An unknown sample name: the message lists the known ones.
pub fn unknown(flag: &str, name: &str) -> CliError {
    let names: Vec<&str> = SAMPLES.iter().map(|s| s.name).collect();
    let hint = super::opts::closest(name, names.iter().copied())
        .map(|n| format!("did you mean {n}? "))
        .unwrap_or_default();
    CliError::Usage(format!(
        "{flag}: unknown sample {name:?}; {hint}known samples: {} (see `tunnel-client profiles samples list`)",
        names.join(", ")
    ))
}

/// What a sample is rendered with. Flag names in messages are those of `init`.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub tunnel_id: String,
    pub base_url: Option<String>,
    pub url_path: Option<String>,
    pub api_key_ref: Option<String>,
    pub health_listen_addr: Option<String>,
    pub open_browser: bool,
    pub mcp_server_url: Option<String>,
    pub mcp_command: Option<String>,
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn bad(flag: &str, value: &str, problem: impl std::fmt::Display, fix: &str) -> CliError {
    CliError::Usage(format!(
        "invalid value {value:?} for {flag}: {problem}; fix: {fix}"
    ))
}

/// Checks the inputs (go-cli-config.md §3) and fills the defaults.
fn normalize(s: &Sample, i: &Inputs) -> Result<Inputs, CliError> {
    let mut o = i.clone();
    let tid = i.tunnel_id.trim();
    if tid.is_empty() {
        return Err(CliError::Usage(
            "tunnel ID is required; pass --tunnel-id tunnel_<32 lowercase letters or digits> (list yours with `tunnel-client admin tunnels list`, see `tunnel-client help quickstart`)".into(),
        ));
    }
    if !valid_tunnel_id(tid) {
        return Err(bad(
            "--tunnel-id",
            tid,
            "must match tunnel_<32 lowercase letters or digits>",
            "copy the id from the Tunnels management page or `tunnel-client admin tunnels list`",
        ));
    }
    o.tunnel_id = tid.to_string();
    let base = i
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(DEFAULT_BASE_URL);
    check_url(base).map_err(|e| {
        bad(
            "--control-plane-base-url",
            base,
            e,
            "use a URL such as https://api.openai.com",
        )
    })?;
    o.base_url = Some(base.to_string());
    o.url_path = match i.url_path.as_deref().map(str::trim) {
        None | Some("") | Some("/") => None,
        Some(p) => {
            let ok = p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains(['?', '#', '@', ' '])
                && !p.contains("://");
            if !ok {
                return Err(bad(
                    "--control-plane-url-path",
                    p,
                    "must be a path starting with / (no scheme, host, query or fragment)",
                    "e.g. --control-plane-url-path /workspace/dev/us",
                ));
            }
            Some(p.to_string())
        }
    };
    let key = i
        .api_key_ref
        .as_deref()
        .map(str::trim)
        .unwrap_or(DEFAULT_KEY_REF);
    let lower = key.to_ascii_lowercase();
    let key_ok = if lower.starts_with("env:") {
        valid_env_name(&key[4..])
    } else {
        lower.starts_with("file:") && !key[5..].trim().is_empty()
    };
    if !key_ok {
        // Never echo a value that may be the key itself.
        return Err(CliError::Usage(
            "invalid value for --control-plane-api-key-ref (not shown: it may be a key): must be a reference, env:NAME or file:/path; fix: export the key and pass --control-plane-api-key-ref env:CONTROL_PLANE_API_KEY (the default), or store it in a file and pass file:/path/to/key".into(),
        ));
    }
    o.api_key_ref = Some(key.to_string());
    let health = i
        .health_listen_addr
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .unwrap_or(DEFAULT_HEALTH_ADDR);
    check_host_port(health).map_err(|e| {
        bad(
            "--health-listen-addr",
            health,
            e,
            "use host:port, e.g. 127.0.0.1:8080 or 127.0.0.1:0",
        )
    })?;
    o.health_listen_addr = Some(health.to_string());
    let url = i
        .mcp_server_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let cmd = i
        .mcp_command
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let need = |what: &str| {
        CliError::Usage(format!(
            "sample {} needs {what}; e.g. {}",
            s.name,
            match s.target {
                Target::Stdio => "--mcp-command \"python /path/to/server.py\"",
                Target::Http => "--mcp-server-url https://mcp.example.com/mcp",
                Target::Either =>
                    "--mcp-server-url http://127.0.0.1:3001/mcp or --mcp-command \"python /path/to/server.py\"",
            }
        ))
    };
    let (url, cmd) = match s.target {
        Target::Stdio => (None, Some(cmd.ok_or_else(|| need("--mcp-command"))?)),
        Target::Http => {
            if cmd.is_some() {
                return Err(CliError::Usage(format!(
                    "sample {} is for HTTP servers and takes no --mcp-command; use --sample sample_mcp_stdio_local for a stdio server",
                    s.name
                )));
            }
            (Some(url.ok_or_else(|| need("--mcp-server-url"))?), None)
        }
        Target::Either => match (url, cmd) {
            (Some(_), Some(_)) => {
                return Err(CliError::Usage(format!(
                    "sample {} takes exactly one MCP target, got both --mcp-server-url and --mcp-command; drop one",
                    s.name
                )))
            }
            (None, None) => {
                return Err(need(
                    "an MCP target: --mcp-server-url or --mcp-command",
                ))
            }
            other => other,
        },
    };
    if let Some(u) = url {
        check_url(u).map_err(|e| {
            bad(
                "--mcp-server-url",
                &crate::config::redact_url(u),
                e,
                "use http(s)://host[:port]/path, e.g. http://127.0.0.1:3001/mcp",
            )
        })?;
    }
    o.mcp_server_url = url.map(String::from);
    o.mcp_command = cmd.map(String::from);
    Ok(o)
}

/// Renders `s` with `inputs` (validated first; messages name the `init` flags).
pub fn render(s: &Sample, inputs: &Inputs) -> Result<String, CliError> {
    let i = normalize(s, inputs)?;
    let mcp = match (&i.mcp_server_url, &i.mcp_command) {
        (Some(u), _) => format!(
            "  server_urls:\n    - channel: main\n      url: {}",
            quoted(u)
        ),
        (None, Some(c)) => format!(
            "  commands:\n    - channel: main\n      command: {}",
            quoted(c)
        ),
        (None, None) => String::new(),
    };
    let url_path = i
        .url_path
        .as_deref()
        .map(|p| format!("  url_path: {}\n", quoted(p)))
        .unwrap_or_default();
    Ok(s.template
        .replace(
            "{{base_url}}",
            &quoted(i.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL)),
        )
        .replace("{{url_path}}", &url_path)
        .replace("{{tunnel_id}}", &quoted(&i.tunnel_id))
        .replace(
            "{{api_key}}",
            &quoted(i.api_key_ref.as_deref().unwrap_or(DEFAULT_KEY_REF)),
        )
        .replace(
            "{{health_listen_addr}}",
            &quoted(
                i.health_listen_addr
                    .as_deref()
                    .unwrap_or(DEFAULT_HEALTH_ADDR),
            ),
        )
        .replace(
            "{{open_browser}}",
            if i.open_browser { "true" } else { "false" },
        )
        .replace("{{mcp}}", &mcp))
}

/// The inputs `profiles samples show` uses.
pub fn example_inputs(s: &Sample) -> Inputs {
    Inputs {
        tunnel_id: EXAMPLE_TUNNEL_ID.into(),
        url_path: s.example_url_path.map(String::from),
        open_browser: s.example_open_browser,
        mcp_server_url: s.example_url.map(String::from),
        mcp_command: s.example_command.map(String::from),
        ..Inputs::default()
    }
}

/// `profiles samples list`: one `name<TAB>summary` line per sample.
pub fn list_text() -> String {
    SAMPLES
        .iter()
        .map(|s| format!("{}\t{}\n", s.name, s.summary))
        .collect()
}

/// `profiles samples show <name>`.
pub fn show_text(s: &Sample) -> Result<String, CliError> {
    let mut out = String::new();
    let _ = writeln!(out, "Sample: {}", s.name);
    let _ = writeln!(out, "Summary: {}", s.summary);
    let _ = writeln!(out, "Use when: {}", s.use_when);
    let _ = writeln!(out, "Required: {}", s.required.join(", "));
    let _ = writeln!(out, "Optional: {}", s.optional.join(", "));
    out.push_str("Notes:\n");
    for n in s.notes {
        let _ = writeln!(out, "  - {n}");
    }
    let _ = writeln!(
        out,
        "Create it: tunnel-client init --sample {} --tunnel-id tunnel_… {}",
        s.name,
        match s.target {
            Target::Stdio => "--mcp-command \"…\"",
            Target::Http => "--mcp-server-url https://…",
            Target::Either => "--mcp-server-url https://… | --mcp-command \"…\"",
        }
    );
    let _ = writeln!(out, "\nRendered with example values:\n");
    out.push_str(&render(s, &example_inputs(s))?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_sorted_and_every_placeholder_is_filled() {
        let names: Vec<&str> = SAMPLES.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for s in SAMPLES {
            let text = render(s, &example_inputs(s)).unwrap();
            assert!(!text.contains("{{"), "{}: {text}", s.name);
        }
    }

    #[test]
    fn inputs_are_checked_with_the_flag_named() {
        let s = find(DEFAULT_SAMPLE).unwrap();
        let mut i = example_inputs(s);
        i.api_key_ref = Some("sk-literal-key".into());
        let e = render(s, &i).unwrap_err().to_string();
        assert!(
            e.contains("--control-plane-api-key-ref") && !e.contains("sk-literal"),
            "{e}"
        );
        let mut i = example_inputs(s);
        i.mcp_command = Some("cat".into());
        assert!(render(s, &i)
            .unwrap_err()
            .to_string()
            .contains("exactly one"));
        i.tunnel_id = String::new();
        assert!(render(s, &i)
            .unwrap_err()
            .to_string()
            .contains("--tunnel-id"));
        let stdio = find("sample_mcp_stdio_local").unwrap();
        let mut i = example_inputs(stdio);
        i.mcp_server_url = Some("http://ignored/mcp".into());
        assert!(!render(stdio, &i).unwrap().contains("ignored"));
        let e = unknown("--sample", "sample_mcp_stdio").to_string();
        assert!(e.contains("did you mean sample_mcp_stdio_local"), "{e}");
    }
}
