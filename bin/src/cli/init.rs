//! `tunnel-client init`: writes a first profile from a built-in sample (go-cli-config.md
//! §1.3, §4.2) and prints the exact next commands.
//!
//! The profile is rendered from the sample, validated by the settings layer, the stdio
//! command (if any) preflighted, then written with mode 0600 (directory 0700), refusing to
//! replace an existing one without `--force`. The runtime key is never written: the profile
//! holds a reference (`env:CONTROL_PLANE_API_KEY` by default).

use super::args::CliError;
use super::opts::{self, Opt, Spec};
use super::{help_topics, preflight, profiles, samples};
use crate::config::{Env, ProcessEnv};

pub const SPEC: Spec = Spec {
    cmd: "init",
    args: "",
    about: "Write a first-use profile from a built-in sample, then print the next commands:\n\n  tunnel-client init --tunnel-id tunnel_… --mcp-command \"python /path/server.py\"\n  tunnel-client init --tunnel-id tunnel_… --mcp-server-url http://127.0.0.1:3001/mcp\n\nThe profile goes to <profile dir>/<profile>.yaml with mode 0600. It never contains the\nAPI key, only a reference to it (default env:CONTROL_PLANE_API_KEY).",
    opts: &[
        Opt::one("profile", "NAME", "profile name (default sample_mcp_with_dcr)"),
        Opt::one(
            "sample",
            "NAME",
            "sample to start from (default: sample_mcp_stdio_local when only --mcp-command is given, else sample_mcp_with_dcr; see `profiles samples list`)",
        ),
        Opt::one("profile-dir", "DIR", "where to write (default: TUNNEL_CLIENT_PROFILE_DIR, $XDG_CONFIG_HOME/tunnel-client or ~/.config/tunnel-client)"),
        Opt::flag("force", "replace an existing profile of that name"),
        Opt::one("tunnel-id", "ID", "tunnel id, tunnel_<32 lowercase letters or digits> (default: $CONTROL_PLANE_TUNNEL_ID)")
            .alias(&["control-plane.tunnel-id", "control-plane-tunnel-id"]),
        Opt::one("control-plane-base-url", "URL", "control plane base URL (default https://api.openai.com)")
            .alias(&["control-plane.base-url"]),
        Opt::one("control-plane-url-path", "PATH", "path prefix before /v1 (e.g. /workspace/dev/us)")
            .alias(&["control-plane.url-path"]),
        Opt::one("control-plane-api-key-ref", "REF", "where run reads the runtime key: env:NAME or file:/path (default env:CONTROL_PLANE_API_KEY)"),
        Opt::one("mcp-server-url", "URL", "HTTP (Streamable HTTP) MCP server URL").alias(&["mcp.server-url"]),
        Opt::one("mcp-command", "CMD", "command line of a stdio MCP server").alias(&["mcp.command"]),
        Opt::one("health-listen-addr", "ADDR", "health listener host:port (default 127.0.0.1:8080; 127.0.0.1:0 = any free port)")
            .alias(&["health.listen-addr"]),
        Opt::flag("open-web-ui", "write admin_ui.open_browser: true"),
    ],
};

const DEFAULT_PROFILE: &str = "sample_mcp_with_dcr";

/// `init` (`args` after the word `init`).
pub fn run(args: &[String]) -> Result<(), CliError> {
    let p = opts::parse(&SPEC, args)?;
    if p.help {
        print!("{}", opts::help(&SPEC));
        return Ok(());
    }
    opts::expect_positionals(&SPEC, &p.positionals, 0)?;
    let env = ProcessEnv;
    let tunnel_id = p
        .get("tunnel-id")
        .map(String::from)
        .or_else(|| env.var("CONTROL_PLANE_TUNNEL_ID"))
        .unwrap_or_default();
    if tunnel_id.trim().is_empty() {
        return Err(CliError::Usage(format!(
            "tunnel ID is required; pass --tunnel-id tunnel_<32 lowercase letters or digits> (or export CONTROL_PLANE_TUNNEL_ID).\nFind it:\n  tunnel-client admin tunnels list --organization-id org_…   (needs OPENAI_ADMIN_KEY; see `tunnel-client admin tunnels list --help`)\n  tunnel-client admin tunnels create --name … --description … --organization-id org_…   (a new tunnel)\n  tunnel-client help quickstart\n{}",
            help_topics::setup_pages()
        )));
    }
    let url = p.get("mcp-server-url").filter(|v| !v.trim().is_empty());
    let cmd = p.get("mcp-command").filter(|v| !v.trim().is_empty());
    let sample_name = match p.get("sample") {
        Some(s) => s,
        None if cmd.is_some() && url.is_none() => "sample_mcp_stdio_local",
        None => samples::DEFAULT_SAMPLE,
    };
    let sample =
        samples::find(sample_name).ok_or_else(|| samples::unknown("--sample", sample_name))?;
    let name = p.get("profile").unwrap_or(DEFAULT_PROFILE);
    profiles::check_name("--profile", name)?;
    let dir = profiles::dir(p.get("profile-dir"), &env)?;
    let path = profiles::path_of(&dir, name);
    let text = samples::render(
        sample,
        &samples::Inputs {
            tunnel_id,
            base_url: p.get("control-plane-base-url").map(String::from),
            url_path: p.get("control-plane-url-path").map(String::from),
            api_key_ref: p.get("control-plane-api-key-ref").map(String::from),
            health_listen_addr: p.get("health-listen-addr").map(String::from),
            open_browser: p.on("open-web-ui"),
            mcp_server_url: url.map(String::from),
            mcp_command: cmd.map(String::from),
        },
    )?;
    let check = profiles::validate(&text, &path)?;
    if let Some(c) = cmd.filter(|_| sample.target != samples::Target::Http) {
        preflight::check_line(c, &env).map_err(|e| {
            CliError::Usage(format!(
                "mcp-command preflight failed: {e}{}\n(nothing was written; the command given to --mcp-command must start the MCP server)",
                if e.evidence.is_empty() {
                    String::new()
                } else {
                    format!("\n  {}", e.evidence.join("\n  "))
                }
            ))
        })?;
    }
    profiles::write_profile(&path, &text, p.on("force"), name)?;
    let dir_flag = profiles::dir_flag(p.get("profile-dir"));
    println!("Created profile {name} at {}", path.display());
    println!("Sample: {}", sample.name);
    profiles::report_check(&check, &env);
    println!("Next:");
    println!("  tunnel-client doctor --profile {name}{dir_flag}");
    println!("  tunnel-client run --profile {name}{dir_flag}");
    println!();
    println!("{}", help_topics::setup_pages());
    println!("Connector runtime note:");
    println!(
        "  Create the ChatGPT connector only while `tunnel-client run --profile {name}{dir_flag}` is running, and keep it running: the connector reaches your MCP server only through it."
    );
    Ok(())
}
