//! `tunnel-client runtimes …` and `tunnel-client admin-profiles …` (go-cli-config.md §8):
//! attach a local MCP server to a tunnel under an alias, run it in the background under
//! tmux or as a detached process, and report whether it is launched, healthy or ready.
//!
//! The operations are plain functions returning typed, serialisable results
//! ([`connect::connect`], [`manage::status`], …) so other parts of the program (the Codex
//! plugin) can call them in process; this file only parses flags and prints.
//!
//! Split by what each part does: `state` (the state root and its files), `secrets` (key
//! references, inline-secret refusal), `profiles` (admin profiles), `remote` (management
//! API calls), `supervise` (tmux / detached process), `probe` and `local` (what runs and
//! how healthy it is), `runtime_profile` (the profile connect writes), `connect` (create/connect), `manage` (list/cleanup/status/stop/rm),
//! `views` (payload shapes).

pub mod connect;
pub mod local;
pub mod manage;
pub mod probe;
pub mod profiles;
pub mod remote;
pub mod runtime_profile;
pub mod secrets;
pub mod state;
pub mod supervise;
pub mod views;

use std::fmt;

use serde::Serialize;

use super::args::CliError;
use super::opts::{self, Opt, Parsed, Spec};
use crate::config::ProcessEnv;
use connect::{ConnectOptions, CreateOptions};
use manage::ListOptions;
use profiles::AdminFlags;
use state::Root;

/// Why a runtimes or admin-profiles command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtError {
    /// A bad flag, name or reference; the message names the fix.
    Usage(String),
    /// A state file that cannot be used as it is (never overwritten).
    State(String),
    /// A file or process operation failed.
    Io(String),
    /// The management API answered with an error (or could not be reached).
    Remote { message: String, not_found: bool },
}

impl RtError {
    /// The remote side said the tunnel (or route) does not exist.
    pub fn not_found(&self) -> bool {
        matches!(
            self,
            RtError::Remote {
                not_found: true,
                ..
            }
        )
    }
}

impl fmt::Display for RtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtError::Usage(m) | RtError::State(m) | RtError::Io(m) => f.write_str(m),
            RtError::Remote { message, .. } => f.write_str(message),
        }
    }
}

impl From<RtError> for CliError {
    fn from(e: RtError) -> Self {
        match e {
            RtError::Usage(m) => CliError::Usage(m),
            other => CliError::Io(other.to_string()),
        }
    }
}

const JSON: Opt = Opt::flag("json", "print JSON");
const ADMIN_PROFILE: Opt = Opt::one(
    "admin-profile",
    "NAME",
    "admin profile to use (default: the alias's, else env TUNNEL_MCP_ADMIN_PROFILE, else default)",
);
const ADMIN_KEY: Opt = Opt::one(
    "admin-key",
    "REF",
    "admin key reference to store/use: env:NAME or file:/path (default env:OPENAI_ADMIN_KEY)",
);
const BASE: Opt = Opt::one(
    "control-plane-base-url",
    "URL",
    "control plane base URL (default: the profile's, else env CONTROL_PLANE_BASE_URL, else https://api.openai.com)",
)
.alias(&["control-plane.base-url"]);
const URL_PATH: Opt = Opt::one(
    "control-plane-url-path",
    "PATH",
    "path prefix before /v1 (default: the profile's, else env CONTROL_PLANE_URL_PATH)",
)
.alias(&["control-plane.url-path"]);
const ALIAS: Opt = Opt::one("alias", "ALIAS", "local alias (required)");
const NAME: Opt = Opt::one("name", "NAME", "remote tunnel name (default: the alias)");
const DESC: Opt = Opt::one(
    "description",
    "TEXT",
    "remote tunnel description (default: MCP tunnel for <alias>)",
);
const ORG: Opt = Opt::many(
    "organization-id",
    "ID",
    "organization scope for tunnel lookup/creation",
);
const WS: Opt = Opt::many(
    "workspace-id",
    "ID",
    "workspace scope for tunnel lookup/creation",
);

/// `runtimes` itself (help and completion).
pub const RUNTIMES: Spec = Spec {
    cmd: "runtimes",
    args: "<create|connect|list|cleanup|status|stop|rm> …",
    about: "Run local MCP servers through tunnels in the background, under an alias:\n\n  runtimes connect --alias A (--mcp-command CMD | --mcp-server-url URL) [--tunnel-id ID | --organization-id ID]\n  runtimes status <alias>            launched? healthy? ready? and the admin UI URL\n  runtimes list [--organization-id ID | --workspace-id ID | --tenant-id ID]\n  runtimes stop <alias>              (also: disconnect) local only; the tunnel stays\n  runtimes rm <alias>                (also: remove) forget the alias locally\n  runtimes create --alias A --organization-id ID\n  runtimes cleanup [--apply]\n\nState lives in TUNNEL_CLIENT_STATE_DIR (default ~/.local/state/tunnel-client); see docs/runtimes.md.",
    opts: &[ADMIN_PROFILE, ADMIN_KEY, BASE, URL_PATH, JSON],
};
const CREATE: Spec = Spec {
    cmd: "runtimes create",
    args: "",
    about: "Create or reuse a remote tunnel for an alias (admin key needed).",
    opts: &[
        ADMIN_PROFILE,
        ADMIN_KEY,
        BASE,
        URL_PATH,
        JSON,
        ALIAS,
        NAME,
        DESC,
        ORG,
        WS,
    ],
};
const CONNECT: Spec = Spec {
    cmd: "runtimes connect",
    args: "",
    about: "Create or reuse a tunnel alias and run a native profile locally, supervised by tmux\n(when installed) or as a detached process. Use this instead of nohup or disown, then run\n`tunnel-client runtimes status <alias>` before reporting success.",
    opts: &[
        ADMIN_PROFILE,
        ADMIN_KEY,
        BASE,
        URL_PATH,
        JSON,
        ALIAS,
        NAME,
        DESC,
        ORG,
        WS,
        Opt::one("tunnel-id", "ID", "attach to an existing tunnel id without admin CRUD"),
        Opt::one("profile", "NAME", "profile name to write and run (default: the alias)"),
        Opt::one("profile-dir", "DIR", "directory for the generated profile (default TUNNEL_CLIENT_PROFILE_DIR, else ~/.config/tunnel-client)"),
        Opt::one("mcp-server-url", "URL", "MCP server URL (http/https; wins over --mcp-command)"),
        Opt::one("mcp-command", "CMD", "local stdio MCP server command"),
        Opt::one("runtime-api-key", "REF", "runtime key reference for the profile (default env:CONTROL_PLANE_API_KEY)"),
        Opt::one("tunnel-client-bin", "PATH", "compatibility; only the current executable is accepted"),
    ],
};
const LIST: Spec = Spec {
    cmd: "runtimes list",
    args: "",
    about: "List local aliases (with runtime state, UI URL and readiness), and with a scope the\nremote tunnels in it.",
    opts: &[
        ADMIN_PROFILE,
        ADMIN_KEY,
        BASE,
        URL_PATH,
        JSON,
        Opt::many("organization-id", "ID", "organization scope for remote listing"),
        Opt::many("workspace-id", "ID", "workspace scope for remote listing"),
        Opt::one("tenant-id", "ID", "tenant scope for remote listing"),
    ],
};
const CLEANUP: Spec = Spec {
    cmd: "runtimes cleanup",
    args: "",
    about: "Classify local aliases (live_runtime, valid_profile, missing_profile, stale_alias); with\n--apply remove only the stale_alias records.",
    opts: &[ADMIN_PROFILE, ADMIN_KEY, BASE, URL_PATH, JSON, Opt::flag("apply", "remove entries classified as stale_alias")],
};
const STATUS: Spec = Spec {
    cmd: "runtimes status",
    args: "<alias>",
    about: "Inspect an alias: runtime state (stopped|starting|healthy|ready), UI URL, readiness\nreason, issues, repair actions and next steps. Exit 2 when the tunnel is gone and nothing\nruns locally.",
    opts: &[ADMIN_PROFILE, ADMIN_KEY, BASE, URL_PATH, JSON],
};
const STOP: Spec = Spec {
    cmd: "runtimes stop",
    args: "<alias>",
    about: "Stop the managed runtime of an alias (local only: the remote tunnel is untouched).",
    opts: &[ADMIN_PROFILE, ADMIN_KEY, BASE, URL_PATH, JSON],
};
const RM: Spec = Spec {
    cmd: "runtimes rm",
    args: "<alias>",
    about: "Remove an alias's local metadata, profile, health URL file and log (after stop). The\nremote tunnel is never deleted.",
    opts: &[ADMIN_PROFILE, ADMIN_KEY, BASE, URL_PATH, JSON],
};
const RT_ALL: Spec = Spec {
    cmd: "runtimes",
    args: "",
    about: "",
    opts: &CONNECT_ALL,
};
const CONNECT_ALL: [Opt; 20] = [
    ADMIN_PROFILE,
    ADMIN_KEY,
    BASE,
    URL_PATH,
    JSON,
    ALIAS,
    NAME,
    DESC,
    ORG,
    WS,
    Opt::one("tunnel-id", "", ""),
    Opt::one("profile", "", ""),
    Opt::one("profile-dir", "", ""),
    Opt::one("mcp-server-url", "", ""),
    Opt::one("mcp-command", "", ""),
    Opt::one("runtime-api-key", "", ""),
    Opt::one("tunnel-client-bin", "", ""),
    Opt::one("tenant-id", "", ""),
    Opt::flag("apply", ""),
    Opt::flag("activate", ""),
];

/// The `runtimes` subcommands (name, spec), for help and completion.
pub const RUNTIMES_SUBCOMMANDS: &[(&str, &Spec)] = &[
    ("create", &CREATE),
    ("connect", &CONNECT),
    ("list", &LIST),
    ("cleanup", &CLEANUP),
    ("status", &STATUS),
    ("stop", &STOP),
    ("disconnect", &STOP),
    ("rm", &RM),
    ("remove", &RM),
];

fn print_json<T: Serialize>(v: &T) {
    // Through a Value so keys come out sorted, as Go prints its maps.
    let v = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

fn admin_flags(p: &Parsed) -> AdminFlags {
    let g = |n: &str| p.get(n).unwrap_or("").trim().to_string();
    AdminFlags {
        admin_profile: g("admin-profile"),
        admin_key: g("admin-key"),
        control_plane_base_url: g("control-plane-base-url"),
        control_plane_url_path: g("control-plane-url-path"),
    }
}

fn required_alias(p: &Parsed, cmd: &str) -> Result<String, CliError> {
    match p.get("alias").map(str::trim) {
        Some(a) if !a.is_empty() => Ok(a.to_string()),
        _ => Err(CliError::Usage(format!(
            "{cmd}: required flag --alias not set; e.g. --alias docs"
        ))),
    }
}

/// A payload error (connect, status, stop), as Go reports it: with `--json` the payload was
/// printed and the process exits with its code; without, the payload's `error` (or
/// `remote_error`) text is the message (exit 1); when there is none it exits with the code,
/// after printing `reason` (Go prints nothing there; the reason saves a trip to the log).
fn payload_exit(json: bool, code: i32, error: &str, reason: &str) -> Result<(), CliError> {
    if code == 0 {
        return Ok(());
    }
    if !json && !error.is_empty() {
        return Err(CliError::Io(error.to_string()));
    }
    if !json && !reason.is_empty() {
        eprintln!("error: {reason}");
    }
    opts::exit_now(code)
}

/// `runtimes …` (`args` after the word `runtimes`).
pub fn run(args: &[String]) -> Result<(), CliError> {
    let first = opts::parse(&RT_ALL, args)?;
    let sub = first.positionals.first().map(String::as_str);
    let Some(sub) = sub else {
        print!("{}", opts::help(&RUNTIMES));
        return Ok(());
    };
    let spec = RUNTIMES_SUBCOMMANDS
        .iter()
        .find(|(n, _)| *n == sub)
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            let hint = opts::closest(sub, RUNTIMES_SUBCOMMANDS.iter().map(|(n, _)| *n))
                .map(|c| format!("did you mean `runtimes {c}`? "))
                .unwrap_or_default();
            CliError::Usage(format!(
                "runtimes: unknown subcommand {sub:?}; {hint}use create, connect, list, cleanup, status, stop or rm"
            ))
        })?;
    let p = opts::parse(spec, args)?;
    if p.help {
        print!("{}", opts::help(spec));
        return Ok(());
    }
    let pos = &p.positionals[1..];
    let env = ProcessEnv;
    let root = Root::resolve(&env);
    let json = p.on("json");
    let admin = admin_flags(&p);
    let one_alias = || -> Result<String, CliError> {
        opts::expect_positionals(spec, pos, 1)?;
        Ok(pos[0].clone())
    };
    match spec.cmd {
        "runtimes create" => {
            opts::expect_positionals(spec, pos, 0)?;
            let r = connect::create(&root, &create_options(&p, admin)?, &env)?;
            if json {
                print_json(&r);
            } else {
                println!("Created alias {} for tunnel {}", r.alias, r.tunnel.id);
            }
        }
        "runtimes connect" => {
            opts::expect_positionals(spec, pos, 0)?;
            let g = |n: &str| p.get(n).unwrap_or("").to_string();
            let o = ConnectOptions {
                create: create_options(&p, admin)?,
                tunnel_id: g("tunnel-id"),
                profile_name: g("profile"),
                profile_dir: g("profile-dir"),
                mcp_server_url: g("mcp-server-url"),
                mcp_command: g("mcp-command"),
                runtime_api_key: g("runtime-api-key"),
                tunnel_client_bin: g("tunnel-client-bin"),
            };
            let r = connect::connect(&root, &o, &env)?;
            if json {
                print_json(&r);
            } else if r.exit_code() == 0 {
                // stdout is Go's one line (scripts read it); the UI hint goes to stderr.
                println!("Connected {} using {} mode", r.alias, r.mode);
                if !r.ui_url.is_empty() {
                    eprintln!(
                        "Admin UI: {} ({}: {})",
                        r.ui_url, r.runtime_state, r.readiness_reason
                    );
                }
            }
            let error = if r.remote_error.is_empty() {
                String::new()
            } else {
                format!("{}; {}", r.remote_error, r.error)
            };
            return payload_exit(json, r.exit_code(), &error, &r.error);
        }
        "runtimes list" => {
            opts::expect_positionals(spec, pos, 0)?;
            let o = ListOptions {
                admin,
                organization_ids: p.all("organization-id"),
                workspace_ids: p.all("workspace-id"),
                tenant_id: p.get("tenant-id").unwrap_or("").to_string(),
            };
            let r = manage::list(&root, &o, &env)?;
            if json {
                print_json(&r);
            } else if r.aliases.is_empty() {
                println!("No runtime aliases found in {}", r.state_root);
            } else {
                for a in &r.aliases {
                    println!("{}\t{}", a.alias, a.tunnel_id);
                }
            }
        }
        "runtimes cleanup" => {
            opts::expect_positionals(spec, pos, 0)?;
            let apply = p.on("apply");
            let r = manage::cleanup(&root, apply)?;
            if json {
                print_json(&r);
            } else if r.entries.is_empty() {
                println!("No runtime aliases found in {}", r.state_root);
            } else {
                for e in &r.entries {
                    println!("{}\t{}\t{}", e.alias, e.classification, e.tunnel_id);
                }
                if !apply {
                    println!("Dry run only. Re-run with --apply to remove entries classified as stale_alias.");
                }
            }
        }
        "runtimes status" => {
            let r = manage::status(&root, &one_alias()?, &admin, &env)?;
            if json {
                print_json(&r);
            } else if r.exit_code() == 0 {
                println!("{}\t{}\t{}", r.alias, r.runtime_state, r.tunnel_id);
            }
            return payload_exit(json, r.exit_code(), &r.error, "");
        }
        "runtimes stop" => {
            let alias = one_alias()?;
            let r = manage::stop(&root, &alias, &admin, &env)?;
            if json {
                print_json(&r);
            } else if r.exit_code() == 0 {
                println!("Stopped {alias}");
            }
            return payload_exit(json, r.exit_code(), &r.error, "");
        }
        "runtimes rm" => {
            let alias = one_alias()?;
            let r = manage::remove(&root, &alias)?;
            if json {
                print_json(&r);
            } else {
                println!("Removed local runtime metadata for {alias}");
            }
        }
        _ => return Err(CliError::Usage("runtimes: unknown subcommand".into())),
    }
    Ok(())
}

fn create_options(p: &Parsed, admin: AdminFlags) -> Result<CreateOptions, CliError> {
    Ok(CreateOptions {
        alias: required_alias(p, "runtimes")?,
        name: p.get("name").unwrap_or("").to_string(),
        description: p.get("description").unwrap_or("").to_string(),
        admin,
        organization_ids: p.all("organization-id"),
        workspace_ids: p.all("workspace-id"),
    })
}

/// `admin-profiles` itself (help and completion).
pub const ADMIN_PROFILES: Spec = Spec {
    cmd: "admin-profiles",
    args: "<list|set|activate|delete> …",
    about: "Admin profiles used by `runtimes`: where the management API is and which admin key\nreference to use.\n\n  admin-profiles list\n  admin-profiles set <name> [--control-plane-base-url URL] [--control-plane-url-path P] [--admin-key REF] [--activate=false]\n  admin-profiles activate <name>\n  admin-profiles delete <name>       (refused while an alias uses it)",
    opts: &[JSON],
};
const AP_LIST: Spec = Spec {
    cmd: "admin-profiles list",
    args: "",
    about: "List saved admin profiles.",
    opts: &[JSON],
};
const AP_SET: Spec = Spec {
    cmd: "admin-profiles set",
    args: "<name>",
    about: "Create or update an admin profile. Each value: the flag, else the stored one, else the\nenv var (CONTROL_PLANE_BASE_URL / CONTROL_PLANE_URL_PATH), else the default.",
    opts: &[
        JSON,
        Opt::one("control-plane-base-url", "URL", "control plane base URL (default https://api.openai.com)"),
        Opt::one("control-plane-url-path", "PATH", "path prefix before /v1"),
        Opt::one("admin-key", "REF", "admin key reference: env:NAME or file:/path (default env:OPENAI_ADMIN_KEY)"),
        Opt::flag("activate", "mark the profile active after saving (default true)"),
    ],
};
const AP_ACTIVATE: Spec = Spec {
    cmd: "admin-profiles activate",
    args: "<name>",
    about: "Mark an existing admin profile as active.",
    opts: &[JSON],
};
const AP_DELETE: Spec = Spec {
    cmd: "admin-profiles delete",
    args: "<name>",
    about: "Delete an admin profile no alias or running runtime uses.",
    opts: &[JSON],
};

/// The `admin-profiles` subcommands, for help and completion.
pub const ADMIN_PROFILES_SUBCOMMANDS: &[(&str, &Spec)] = &[
    ("list", &AP_LIST),
    ("set", &AP_SET),
    ("activate", &AP_ACTIVATE),
    ("delete", &AP_DELETE),
];

/// `admin-profiles …` (`args` after the word `admin-profiles`).
pub fn run_admin_profiles(args: &[String]) -> Result<(), CliError> {
    let first = opts::parse(&AP_SET, args)?;
    let Some(sub) = first.positionals.first().map(String::as_str) else {
        print!("{}", opts::help(&ADMIN_PROFILES));
        return Ok(());
    };
    let spec = ADMIN_PROFILES_SUBCOMMANDS
        .iter()
        .find(|(n, _)| *n == sub)
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "admin-profiles: unknown subcommand {sub:?}; use list, set, activate or delete"
            ))
        })?;
    let p = opts::parse(spec, args)?;
    if p.help {
        print!("{}", opts::help(spec));
        return Ok(());
    }
    let pos = &p.positionals[1..];
    let env = ProcessEnv;
    let root = Root::resolve(&env);
    let json = p.on("json");
    let one = || -> Result<String, CliError> {
        opts::expect_positionals(spec, pos, 1)?;
        Ok(pos[0].clone())
    };
    match sub {
        "list" => {
            opts::expect_positionals(spec, pos, 0)?;
            let r = profiles::list(&root)?;
            if json {
                print_json(&r);
            } else if r.profiles.is_empty() {
                println!("No admin profiles found in {}", r.path);
            } else {
                for v in &r.profiles {
                    let active = if v.active { "\t(active)" } else { "" };
                    println!("{}\t{}{active}", v.name, v.control_plane_base_url);
                }
            }
        }
        "set" => {
            let name = one()?;
            let g = |n: &str| p.get(n).unwrap_or("").to_string();
            let activate = p.get("activate").is_none_or(|v| v == "true");
            let r = profiles::set(
                &root,
                &name,
                &g("control-plane-base-url"),
                &g("control-plane-url-path"),
                &g("admin-key"),
                activate,
                &env,
            )?;
            if json {
                print_json(&r);
            } else {
                println!(
                    "Saved admin profile {} ({})",
                    r.profile.name, r.profile.control_plane_base_url
                );
            }
        }
        "activate" => {
            let r = profiles::activate(&root, &one()?)?;
            if json {
                print_json(&r);
            } else {
                println!("Activated admin profile {}", r.profile.name);
            }
        }
        "delete" => {
            let name = one()?;
            let r = profiles::delete(&root, &name)?;
            if json {
                print_json(&r);
            } else {
                println!("Deleted admin profile {name}");
            }
        }
        _ => unreachable!("matched above"),
    }
    Ok(())
}
