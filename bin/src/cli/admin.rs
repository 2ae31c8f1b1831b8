//! `tunnel-client admin tunnels get|list|create|update|delete` (go-cli-config.md §7):
//! tunnel management against `/v1/tunnels*` with an admin key (`get` also accepts the
//! runtime key), scope flags, text or `--json` output, and API errors shown with the fix
//! for each known code.
//!
//! Admin flags (`--ca-bundle`, `--control-plane.base-url`, `--control-plane.url-path`,
//! `--admin-key`, `--json`) may appear anywhere after `admin`. Admin calls trust the CA
//! bundle and honour the standard proxy variables (HTTPS_PROXY, NO_PROXY); like the Go
//! client they use no control-plane client certificate or explicit proxy.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::api_errors::RequestError;
use super::args::CliError;
use super::help_topics::{ADMIN_KEYS_URL, RUNTIME_KEYS_URL, TUNNELS_URL};
use super::opts::{self, Opt, Parsed, Spec};
use crate::config::onboard::{check_url, valid_env_name};
use crate::config::{valid_tunnel_id, Env, ProcessEnv};

const CA: Opt = Opt::one(
    "ca-bundle",
    "PATH",
    "PEM CA certificates trusted in addition to the system roots (env CA_BUNDLE)",
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
const ALL: Spec = Spec {
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

const TIMEOUT: Duration = Duration::from_secs(30);
const CREATE_NOTE: &str = "Note: a new tunnel takes 25-30 seconds before tunnel-client can use it; wait before `tunnel-client run`.";

/// A tunnel as the management API returns it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tunnel {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub creator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenant_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspace_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organization_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TunnelList {
    #[serde(default)]
    tunnels: Vec<Tunnel>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    request_id: String,
}

/// Why an admin command failed: an HTTP answer, or anything else.
enum AdminError {
    Http(Box<RequestError>, Option<String>),
    Other(String),
}

impl AdminError {
    fn message(&self) -> String {
        match self {
            AdminError::Http(e, Some(special)) => format!("{e}; {special}"),
            AdminError::Http(e, None) => e.to_string(),
            AdminError::Other(m) => m.clone(),
        }
    }
}

impl From<CliError> for AdminError {
    fn from(e: CliError) -> Self {
        AdminError::Other(e.to_string())
    }
}

fn other(m: impl Into<String>) -> AdminError {
    AdminError::Other(m.into())
}

/// `admin …` (`args` after the word `admin`).
pub fn run(args: &[String]) -> Result<(), CliError> {
    let first = opts::parse(&ALL, args)?;
    let words: Vec<&str> = first.positionals.iter().map(String::as_str).collect();
    let spec = match words.as_slice() {
        [] | ["tunnels"] => {
            print!("{}", opts::help(&ADMIN));
            return Ok(());
        }
        ["tunnels", sub, ..] => SUBCOMMANDS
            .iter()
            .find(|(n, _)| n == sub)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                let hint = opts::closest(sub, SUBCOMMANDS.iter().map(|(n, _)| *n))
                    .map(|c| format!("did you mean `admin tunnels {c}`? "))
                    .unwrap_or_default();
                CliError::Usage(format!(
                    "admin tunnels: unknown subcommand {sub:?}; {hint}use get, list, create, update or delete"
                ))
            })?,
        [other, ..] => {
            return Err(CliError::Usage(format!(
                "admin: unknown subcommand {other:?}; the only one is `admin tunnels` (see `tunnel-client admin --help`)"
            )))
        }
    };
    let p = opts::parse(spec, args)?;
    if p.help {
        print!("{}", opts::help(spec));
        return Ok(());
    }
    let positionals: Vec<String> = p.positionals[2..].to_vec();
    let json = p.on("json");
    let env = ProcessEnv;
    let result = dispatch(spec, &p, &positionals, &env);
    match result {
        Ok(()) => Ok(()),
        Err(e) if json => {
            let mut body = serde_json::Map::new();
            body.insert("message".into(), e.message().into());
            if let AdminError::Http(r, _) = &e {
                body.insert("method".into(), r.method.clone().into());
                body.insert("path".into(), r.path.clone().into());
                body.insert("status_code".into(), r.status.into());
                for (k, v) in [
                    ("request_id", &r.request_id),
                    ("code", &r.code),
                    ("type", &r.error_type),
                    ("mitigation", &r.mitigation),
                ] {
                    if let Some(v) = v {
                        body.insert(k.into(), v.clone().into());
                    }
                }
            }
            let out = serde_json::json!({ "error": body });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            opts::exit_now(1)
        }
        Err(e) => Err(CliError::Io(e.message())),
    }
}

fn dispatch(spec: &Spec, p: &Parsed, pos: &[String], env: &dyn Env) -> Result<(), AdminError> {
    let tunnel_arg = |what: &str| -> Result<String, AdminError> {
        opts::expect_positionals(
            &Spec {
                args: "<tunnel_id>",
                ..*spec
            },
            pos,
            1,
        )?;
        let id = pos[0].trim().to_string();
        if !valid_tunnel_id(&id) {
            return Err(other(format!(
                "invalid tunnel id {id:?} for `admin tunnels {what}`: must be tunnel_<32 lowercase letters or digits>; fix: copy it from `tunnel-client admin tunnels list` or {TUNNELS_URL}"
            )));
        }
        Ok(id)
    };
    let no_args =
        || -> Result<(), AdminError> { opts::expect_positionals(spec, pos, 0).map_err(Into::into) };
    let client = Client::new(p, env)?;
    let json = p.on("json");
    match spec.cmd {
        "admin tunnels get" => {
            let id = tunnel_arg("get")?;
            let key = get_key(p, env)?;
            let t: Tunnel = client.call("GET", &format!("/v1/tunnels/{id}"), None, &key)?;
            print_tunnel(&t, json);
        }
        "admin tunnels list" => {
            no_args()?;
            let key = admin_key(p, env)?;
            let mut scopes = Vec::new();
            for (flag, param) in [
                ("organization-id", "organization_id"),
                ("workspace-id", "workspace_id"),
                ("tenant-id", "tenant_id"),
            ] {
                let v = ids(p, flag)?;
                if let Some(first) = v.first() {
                    if v.len() > 1 {
                        eprintln!(
                            "warning: admin tunnels list: only the first --{flag} ({first}) is used"
                        );
                    }
                    scopes.push((flag, param, first.clone()));
                }
            }
            let [(_, param, value)] = scopes.as_slice() else {
                return Err(other(format!(
                    "admin tunnels list: give exactly one of --organization-id, --workspace-id or --tenant-id (got {}); e.g. --organization-id org-…",
                    if scopes.is_empty() {
                        "none".to_string()
                    } else {
                        scopes
                            .iter()
                            .map(|(f, _, _)| format!("--{f}"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    }
                )));
            };
            let path = format!("/v1/tunnels?{param}={}", query_escape(value));
            let list: TunnelList = client.call("GET", &path, None, &key)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else if list.tunnels.is_empty() {
                println!("No tunnels found for {param}={value}.");
            } else {
                for t in &list.tunnels {
                    print_tunnel(t, false);
                }
            }
        }
        "admin tunnels create" => {
            no_args()?;
            let name = required(p, "name")?;
            let description = required(p, "description")?;
            let orgs = ids(p, "organization-id")?;
            let wss = ids(p, "workspace-id")?;
            if orgs.is_empty() && wss.is_empty() {
                return Err(other(
                    "admin tunnels create: attach the tunnel to at least one --organization-id or --workspace-id",
                ));
            }
            let key = admin_key(p, env)?;
            let mut body = serde_json::json!({ "name": name, "description": description });
            if !orgs.is_empty() {
                body["organization_ids"] = orgs.into();
            }
            if !wss.is_empty() {
                body["workspace_ids"] = wss.into();
            }
            let t: Tunnel = client.call("POST", "/v1/tunnels", Some(body), &key)?;
            print_tunnel(&t, json);
            if !json {
                println!("{CREATE_NOTE}");
                println!(
                    "Next: tunnel-client init --tunnel-id {} --mcp-server-url URL | --mcp-command \"CMD\"",
                    t.id
                );
            }
        }
        "admin tunnels update" => {
            let id = tunnel_arg("update")?;
            let mut body = serde_json::Map::new();
            if p.given("name") {
                body.insert("name".into(), required(p, "name")?.into());
            }
            if let Some(d) = p.get("description") {
                body.insert("description".into(), d.into());
            }
            if p.given("organization-id") {
                body.insert("organization_ids".into(), ids(p, "organization-id")?.into());
            }
            if p.given("workspace-id") {
                body.insert("workspace_ids".into(), ids(p, "workspace-id")?.into());
            }
            if body.is_empty() {
                return Err(other(
                    "admin tunnels update: nothing to change; give at least one of --name, --description, --organization-id, --workspace-id",
                ));
            }
            let key = admin_key(p, env)?;
            let t: Tunnel = client.call(
                "POST",
                &format!("/v1/tunnels/{id}"),
                Some(serde_json::Value::Object(body)),
                &key,
            )?;
            print_tunnel(&t, json);
        }
        "admin tunnels delete" => {
            let id = tunnel_arg("delete")?;
            if !p.on("confirm") {
                return Err(other(format!(
                    "refusing to delete without --confirm; run `tunnel-client admin tunnels delete {id} --confirm` to delete it"
                )));
            }
            let key = admin_key(p, env)?;
            let t: Tunnel = client.call("DELETE", &format!("/v1/tunnels/{id}"), None, &key)?;
            if !json {
                println!("Deleted:");
            }
            print_tunnel(&t, json);
        }
        _ => return Err(other("admin: unknown subcommand")),
    }
    Ok(())
}

fn required(p: &Parsed, flag: &str) -> Result<String, AdminError> {
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
fn ids(p: &Parsed, flag: &str) -> Result<Vec<String>, AdminError> {
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

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Resolves an `env:`/`file:` reference given to `--admin-key`.
fn key_ref(r: &str) -> Result<String, AdminError> {
    let fix = "export OPENAI_ADMIN_KEY=<admin key> and drop --admin-key, or pass --admin-key env:NAME / file:/path";
    if let Some(name) = r.strip_prefix("env:") {
        if !valid_env_name(name) {
            return Err(other(format!(
                "--admin-key env:{name}: not a valid variable name; fix: {fix}"
            )));
        }
        return match ProcessEnv.var(name).map(|v| v.trim().to_string()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(other(format!(
                "--admin-key env:{name}: {name} is not set or empty; fix: export {name}=<admin key from {ADMIN_KEYS_URL}>"
            ))),
        };
    }
    if let Some(path) = r.strip_prefix("file:") {
        let path = path.trim();
        return match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            Ok(_) => Err(other(format!(
                "--admin-key file:{path}: the file is empty; fix: put the admin key in it"
            ))),
            Err(e) => Err(other(format!(
                "--admin-key file:{path}: cannot read it: {e}; fix: check the path and permissions"
            ))),
        };
    }
    Err(other(format!(
        "--admin-key must be a reference, env:NAME or file:/path (a literal key would end up in shell history); fix: {fix}"
    )))
}

/// `--admin-key` ref, else `OPENAI_ADMIN_KEY`.
fn admin_key(p: &Parsed, env: &dyn Env) -> Result<String, AdminError> {
    if let Some(r) = p.get("admin-key") {
        return key_ref(r.trim());
    }
    match env.var("OPENAI_ADMIN_KEY").map(|v| v.trim().to_string()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(other(format!(
            "admin key is required; set --admin-key or OPENAI_ADMIN_KEY (an admin key with Tunnels Read + Manage from {ADMIN_KEYS_URL}; runtime API keys cannot manage tunnels)"
        ))),
    }
}

/// `get`: the admin key, else (only when no admin key is configured at all) the runtime key.
fn get_key(p: &Parsed, env: &dyn Env) -> Result<String, AdminError> {
    let admin = admin_key(p, env);
    if admin.is_ok() {
        return admin;
    }
    let admin_env_empty = env
        .var("OPENAI_ADMIN_KEY")
        .is_none_or(|v| v.trim().is_empty());
    let flag_default = p
        .get("admin-key")
        .is_none_or(|r| r.trim() == "env:OPENAI_ADMIN_KEY");
    if admin_env_empty && flag_default {
        for var in ["CONTROL_PLANE_API_KEY", "OPENAI_API_KEY"] {
            if let Some(v) = env.var(var).map(|v| v.trim().to_string()) {
                if !v.is_empty() {
                    return Ok(v);
                }
            }
        }
        return Err(other(format!(
            "tunnel get requires a runtime or admin key; set CONTROL_PLANE_API_KEY, OPENAI_API_KEY, OPENAI_ADMIN_KEY, or --admin-key (runtime keys: {RUNTIME_KEYS_URL})"
        )));
    }
    admin
}

/// The management API client: base URL, prefix, an agent with the CA bundle and the
/// standard proxy variables.
struct Client {
    base: String,
    prefix: String,
    agent: ureq::Agent,
    instance: String,
}

impl Client {
    fn new(p: &Parsed, env: &dyn Env) -> Result<Client, AdminError> {
        let pick = |flag: &str, var: &str| -> Option<(String, String)> {
            p.get(flag)
                .map(|v| (v.trim().to_string(), format!("--{flag}")))
                .or_else(|| {
                    env.var(var)
                        .map(|v| v.trim().to_string())
                        .filter(|v| !v.is_empty())
                        .map(|v| (v, format!("env var {var}")))
                })
        };
        let (base, base_origin) = pick("control-plane.base-url", "CONTROL_PLANE_BASE_URL")
            .filter(|(v, _)| !v.is_empty())
            .unwrap_or_else(|| ("https://api.openai.com".into(), "the default".into()));
        check_url(&base).map_err(|e| {
            other(format!(
                "invalid value {base:?} for {base_origin}: {e}; fix: use a URL such as https://api.openai.com"
            ))
        })?;
        let prefix = match pick("control-plane.url-path", "CONTROL_PLANE_URL_PATH") {
            None => String::new(),
            Some((v, origin)) => {
                let ok = v.is_empty()
                    || (v.starts_with('/')
                        && !v.starts_with("//")
                        && !v.contains(['?', '#', '@'])
                        && !v.contains("://"));
                if !ok {
                    return Err(other(format!(
                        "invalid value {v:?} for {origin}: must be a path starting with /; fix: e.g. --control-plane.url-path /workspace/dev/us"
                    )));
                }
                v.trim_end_matches('/').to_string()
            }
        };
        let ca = pick("ca-bundle", "CA_BUNDLE");
        let opts = tunnel_blocking::TlsOptions {
            ca_bundle: ca.as_ref().map(|(v, _)| v.into()),
            ..tunnel_blocking::TlsOptions::default()
        };
        let trust = tunnel_blocking::agents::Trust::load(&opts).map_err(|e| {
            other(format!(
                "{e}; fix: point {} at a readable PEM file",
                ca.as_ref().map_or("--ca-bundle", |(_, o)| o.as_str())
            ))
        })?;
        let cfg = tunnel_blocking::agents::control_plane_config(&trust, &opts)
            .map_err(|e| other(e.to_string()))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            prefix,
            agent: tunnel_blocking::agents::agent(cfg),
            instance: format!(
                "{:016x}{:016x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0)
            ),
        })
    }

    fn call<T: for<'de> Deserialize<'de> + WithRequestId>(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        key: &str,
    ) -> Result<T, AdminError> {
        let full_path = format!("{}{path}", self.prefix);
        let url = format!("{}{full_path}", self.base);
        let version = env!("CARGO_PKG_VERSION");
        let headers = [
            ("Authorization", format!("Bearer {key}")),
            ("Accept", "application/json".to_string()),
            ("User-Agent", format!("oai-tunnel-client/{version}")),
            ("X-Tunnel-Client-Name", "oai-tunnel-client".to_string()),
            ("X-Tunnel-Client-Version", version.to_string()),
            ("X-Tunnel-Client-Instance-Id", self.instance.clone()),
        ];
        let result = match (method, body) {
            ("POST", b) => {
                let mut rq = self.agent.post(&url);
                for (k, v) in &headers {
                    rq = rq.header(*k, v.as_str());
                }
                let text = b.unwrap_or_else(|| serde_json::json!({})).to_string();
                rq.header("Content-Type", "application/json")
                    .config()
                    .timeout_global(Some(TIMEOUT))
                    .build()
                    .send(text)
            }
            (m, _) => {
                let mut rq = if m == "DELETE" {
                    self.agent.delete(&url)
                } else {
                    self.agent.get(&url)
                };
                for (k, v) in &headers {
                    rq = rq.header(*k, v.as_str());
                }
                rq.config().timeout_global(Some(TIMEOUT)).build().call()
            }
        };
        let path_only = full_path
            .split('?')
            .next()
            .unwrap_or(&full_path)
            .to_string();
        let mut resp = result.map_err(|e| {
            other(format!(
                "request {method} {path_only} failed: {e}; fix: check --control-plane.base-url ({}), the network and the proxy settings (HTTPS_PROXY / NO_PROXY){}",
                self.base,
                if matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_)) {
                    "; for a private CA set --ca-bundle / CA_BUNDLE"
                } else {
                    ""
                }
            ))
        })?;
        let status = resp.status().as_u16();
        let rid = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let text = resp
            .body_mut()
            .with_config()
            .limit(4 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        if !(200..300).contains(&status) {
            let e = RequestError::new(method, &path_only, status, text.as_bytes(), rid);
            let special = (method == "DELETE" && status == 404 && text.contains("Invalid URL"))
                .then(|| {
                    format!(
                        "tunnel deletion is not exposed on {}; delete it on {TUNNELS_URL}",
                        self.base
                    )
                });
            return Err(AdminError::Http(Box::new(e), special));
        }
        let mut v: T = serde_json::from_str(&text).map_err(|e| {
            other(format!(
                "request {method} {path_only}: the answer is not the expected JSON ({e}); check --control-plane.base-url points at the tunnel API"
            ))
        })?;
        if let Some(r) = rid {
            v.set_request_id(r);
        }
        Ok(v)
    }
}

trait WithRequestId {
    fn set_request_id(&mut self, id: String);
}

impl WithRequestId for Tunnel {
    fn set_request_id(&mut self, id: String) {
        self.request_id = id;
    }
}

impl WithRequestId for TunnelList {
    fn set_request_id(&mut self, id: String) {
        self.request_id = id;
    }
}

fn print_tunnel(t: &Tunnel, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(t).unwrap_or_default());
        return;
    }
    println!("Tunnel {}", t.id);
    println!("  Name: {}", t.name);
    println!("  Description: {}", t.description);
    if !t.creator.is_empty() {
        println!("  Creator: {}", t.creator);
    }
    println!("  Organizations: {}", t.organization_ids.join(", "));
    println!("  Workspaces: {}", t.workspace_ids.join(", "));
    if !t.tenant_ids.is_empty() {
        println!("  Tenants: {}", t.tenant_ids.join(", "));
    }
}
