//! The flags of `admin` and of each `admin tunnels` subcommand (for parsing, help and
//! completion), and the helpers that read and check their values.

use super::error::{other, AdminError};
use crate::cli::opts::{Opt, Parsed, Spec};

const CA: Opt = Opt::one(
    "ca-bundle",
    "PATH",
    "PEM CA certificates trusted in addition to the system trust store (env CA_BUNDLE)",
);
const BASE: Opt = Opt::one(
    "control-plane.base-url",
    "URL",
    "control plane base URL (env CONTROL_PLANE_BASE_URL; default https://api.openai.com)",
)
.alias(&["control-plane-base-url"]);
const PATH: Opt = Opt::one(
    "control-plane.url-path",
    "PATH",
    "path prefix before /v1 (env CONTROL_PLANE_URL_PATH)",
)
.alias(&["control-plane-url-path"]);
const KEY: Opt = Opt::one(
    "admin-key",
    "REF",
    "admin key reference: env:NAME or file:/path (default: the literal key in OPENAI_ADMIN_KEY)",
);
const JSON: Opt = Opt::flag("json", "print JSON (errors too, on stdout, exit 1)");
const ORG: Opt = Opt::many("organization-id", "ID", "organization id");
const WS: Opt = Opt::many("workspace-id", "ID", "workspace id");
const NAME: Opt = Opt::one("name", "NAME", "tunnel name");
const DESC: Opt = Opt::one("description", "TEXT", "tunnel description");

pub const ADMIN: Spec = Spec {
    cmd: "admin",
    args: "tunnels <get|list|create|update|delete> …",
    about: "Tunnel management with an admin key (OPENAI_ADMIN_KEY, Tunnels Read + Manage):\n\n  admin tunnels get <tunnel_id>                          (the runtime key works too)\n  admin tunnels list --organization-id ID | --workspace-id ID | --tenant-id ID\n  admin tunnels create --name N --description D --organization-id ID [--workspace-id ID]\n  admin tunnels update <tunnel_id> [--name N] [--description D] [--organization-id ID] [--workspace-id ID]\n  admin tunnels delete <tunnel_id> --confirm\n\nAdmin keys: https://platform.openai.com/settings/organization/admin-keys",
    opts: &[CA, BASE, PATH, KEY, JSON],
};

const GET: Spec = Spec {
    cmd: "admin tunnels get",
    args: "<tunnel_id>",
    about: "Fetch a tunnel. Uses the admin key (--admin-key / OPENAI_ADMIN_KEY); without one it\nfalls back to the runtime key (CONTROL_PLANE_API_KEY, else OPENAI_API_KEY), which makes\nit a quick check that a runtime key and a tunnel id belong together.",
    opts: &[CA, BASE, PATH, KEY, JSON],
};
const LIST: Spec = Spec {
    cmd: "admin tunnels list",
    args: "",
    about: "List the tunnels of exactly one organization, workspace or tenant.",
    opts: &[
        CA,
        BASE,
        PATH,
        KEY,
        JSON,
        ORG,
        WS,
        Opt::one("tenant-id", "ID", "tenant id"),
    ],
};
const CREATE: Spec = Spec {
    cmd: "admin tunnels create",
    args: "",
    about: "Create a tunnel attached to at least one organization or workspace. It takes 25-30\nseconds before tunnel-client can use it.",
    opts: &[CA, BASE, PATH, KEY, JSON, NAME, DESC, ORG, WS],
};
const UPDATE: Spec = Spec {
    cmd: "admin tunnels update",
    args: "<tunnel_id>",
    about: "Change a tunnel. Only the flags given are sent; --organization-id / --workspace-id\nreplace the whole list (an omitted list is kept).",
    opts: &[CA, BASE, PATH, KEY, JSON, NAME, DESC, ORG, WS],
};
const DELETE: Spec = Spec {
    cmd: "admin tunnels delete",
    args: "<tunnel_id>",
    about: "Delete a tunnel (requires --confirm). Running clients of it stop receiving commands.",
    opts: &[
        CA,
        BASE,
        PATH,
        KEY,
        JSON,
        Opt::flag("confirm", "really delete"),
        ORG,
        WS,
    ],
};
/// Every flag of every subcommand, to find the subcommand words before validating.
pub(super) const ALL: Spec = Spec {
    cmd: "admin",
    args: "",
    about: "",
    opts: &[
        CA,
        BASE,
        PATH,
        KEY,
        JSON,
        NAME,
        DESC,
        ORG,
        WS,
        Opt::one("tenant-id", "ID", ""),
        Opt::flag("confirm", ""),
    ],
};

/// The subcommand specs, for help and completion.
pub const SUBCOMMANDS: &[(&str, &Spec)] = &[
    ("get", &GET),
    ("list", &LIST),
    ("create", &CREATE),
    ("update", &UPDATE),
    ("delete", &DELETE),
];

pub(super) fn required(p: &Parsed, flag: &str) -> Result<String, AdminError> {
    match p.get(flag).map(str::trim) {
        None => Err(other(format!(
            "required flag --{flag} not set; e.g. --{flag} \"{}\"",
            if flag == "name" {
                "My MCP server"
            } else {
                "What this tunnel is for"
            }
        ))),
        Some("") => Err(other(format!("--{flag} must not be blank"))),
        Some(v) => Ok(v.to_string()),
    }
}

/// Scope ids: repeated or comma-separated, trimmed, blanks dropped, duplicates refused.
pub(super) fn ids(p: &Parsed, flag: &str) -> Result<Vec<String>, AdminError> {
    let v = p.all(flag);
    let mut dups: Vec<&str> = v
        .iter()
        .enumerate()
        .filter(|(i, x)| v[..*i].contains(x))
        .map(|(_, x)| x.as_str())
        .collect();
    dups.dedup();
    if !dups.is_empty() {
        return Err(other(format!(
            "duplicate {flag} values: {}; give each id once",
            dups.join(", ")
        )));
    }
    Ok(v)
}
