//! `tunnel-client admin tunnels get|list|create|update|delete` (go-cli-config.md §7):
//! tunnel management against `/v1/tunnels*` with an admin key (`get` also accepts the
//! runtime key), scope flags, text or `--json` output, and API errors shown with the fix
//! for each known code.
//!
//! Admin flags (`--ca-bundle`, `--control-plane.base-url`, `--control-plane.url-path`,
//! `--admin-key`, `--json`) may appear anywhere after `admin`. Admin calls trust the CA
//! bundle and honour the standard proxy variables (HTTPS_PROXY, NO_PROXY); like the Go
//! client they use no control-plane client certificate or explicit proxy.

// Split by what each part does: `flags` (the subcommands' flags and reading their values),
// `keys` (which key a call uses), `client` (the HTTP calls and what they return), `output`
// (what is printed) and `error` (why a command failed); this file picks the subcommand and
// runs it.
pub(crate) mod client;
pub(crate) mod error;
mod flags;
mod keys;
mod output;

use super::args::CliError;
use super::help_topics::TUNNELS_URL;
use super::opts::{self, Parsed, Spec};
use crate::config::{valid_tunnel_id, Env, ProcessEnv};
use client::{query_escape, Client, TunnelList};
use error::{other, AdminError};
use flags::{ids, required, ALL};
use keys::{admin_key, get_key};
use output::{print_created, print_error_json, print_list, print_tunnel};

pub use client::Tunnel;
pub use flags::{ADMIN, SUBCOMMANDS};

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
            print_error_json(&e);
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
            print_list(&list, param, value, json);
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
            print_created(&t, json);
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
