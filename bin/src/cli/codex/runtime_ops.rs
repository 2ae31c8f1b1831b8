//! The narrow interface between the plugin's MCP server (and `codex diagnose`) and the
//! `runtimes` command tree: one call per operation, Go's flag spelling in, the command's
//! `--json` document out.
//!
//! [`InProcess`] (the default) calls the `runtimes` functions directly: no child process,
//! no JSON round trip. [`SelfExec`] runs this binary as `tunnel-client runtimes <op> … --json`
//! (what Go's Node server did); it stays for builds embedding the server elsewhere.

use std::process::{Command, Stdio};

use std::collections::HashMap;

use serde_json::Value;

use crate::cli::runtimes::{self as rt, connect, manage};
use crate::config::{Env, ProcessEnv};
use connect::{ConnectOptions, CreateOptions};
use manage::ListOptions;
use rt::profiles::AdminFlags;
use rt::state::Root;

pub trait RuntimeOps {
    /// `op` is `create|connect|list|status|stop`; `args` are its flags (without `--json`).
    fn call(&self, op: &str, args: &[String]) -> Result<Value, String>;
}

pub const UNAVAILABLE: &str = "runtimes not available in this build";

pub struct SelfExec;

impl RuntimeOps for SelfExec {
    fn call(&self, op: &str, args: &[String]) -> Result<Value, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find tunnel-client: {e}"))?;
        let out = Command::new(exe)
            .arg("runtimes")
            .arg(op)
            .args(args)
            .arg("--json")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run tunnel-client runtimes {op}: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("unknown command \"runtimes\"") {
            return Err(format!("{UNAVAILABLE} (tunnel-client runtimes {op})"));
        }
        let doc: Option<Value> = serde_json::from_str(stdout.trim()).ok();
        match (out.status.success(), doc) {
            (true, Some(v)) => Ok(v),
            (true, None) => Err(format!("tunnel-client runtimes {op} printed no JSON")),
            (false, doc) => {
                let msg = stderr.trim();
                let msg = if msg.is_empty() { stdout.trim() } else { msg };
                let msg = msg.strip_prefix("error: ").unwrap_or(msg);
                Err(match doc {
                    Some(d) => format!("{msg}\n{d}"),
                    None if msg.is_empty() => {
                        format!("tunnel-client runtimes {op} failed ({})", out.status)
                    }
                    None => msg.to_string(),
                })
            }
        }
    }
}

/// The `runtimes` operations, called in process.
pub struct InProcess;

/// `--flag value` pairs (as [`super::mcp_server::build`] writes them) and positionals.
fn parse_flags(args: &[String]) -> (HashMap<&str, Vec<&str>>, Vec<&str>) {
    let mut flags: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut pos = vec![];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.strip_prefix("--") {
            Some(name) => flags
                .entry(name)
                .or_default()
                .push(it.next().map(String::as_str).unwrap_or("")),
            None => pos.push(a.as_str()),
        }
    }
    (flags, pos)
}

impl RuntimeOps for InProcess {
    fn call(&self, op: &str, args: &[String]) -> Result<Value, String> {
        let (flags, pos) = parse_flags(args);
        let one = |k: &str| {
            flags
                .get(k)
                .and_then(|v| v.first())
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        let all = |k: &str| {
            flags
                .get(k)
                .map(|v| v.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        };
        let env: &dyn Env = &ProcessEnv;
        let root = Root::resolve(env);
        let admin = AdminFlags {
            admin_profile: one("admin-profile"),
            admin_key: String::new(),
            control_plane_base_url: one("control-plane-base-url"),
            control_plane_url_path: one("control-plane-url-path"),
        };
        let create = || CreateOptions {
            alias: one("alias"),
            name: one("name"),
            description: one("description"),
            admin: admin.clone(),
            organization_ids: all("organization-id"),
            workspace_ids: all("workspace-id"),
        };
        let alias = pos
            .first()
            .map(|a| a.to_string())
            .unwrap_or_else(|| one("alias"));
        let to_json = |v: Result<Value, rt::RtError>| v.map_err(|e| e.to_string());
        let (doc, code) = match op {
            "create" => (
                to_json(connect::create(&root, &create(), env).map(json))?,
                0,
            ),
            "connect" => {
                let o = ConnectOptions {
                    create: create(),
                    tunnel_id: one("tunnel-id"),
                    mcp_command: one("mcp-command"),
                    runtime_api_key: one("runtime-api-key"),
                    ..ConnectOptions::default()
                };
                let r = connect::connect(&root, &o, env).map_err(|e| e.to_string())?;
                (json(&r), r.exit_code())
            }
            "list" => {
                let o = ListOptions {
                    admin,
                    organization_ids: all("organization-id"),
                    workspace_ids: all("workspace-id"),
                    tenant_id: one("tenant-id"),
                };
                (to_json(manage::list(&root, &o, env).map(json))?, 0)
            }
            "status" | "stop" => {
                let r = if op == "status" {
                    manage::status(&root, &alias, &admin, env)
                } else {
                    manage::stop(&root, &alias, &admin, env)
                }
                .map_err(|e| e.to_string())?;
                (json(&r), r.exit_code())
            }
            other => return Err(format!("unknown runtimes operation {other:?}")),
        };
        if code == 0 {
            return Ok(doc);
        }
        let why = doc["error"]
            .as_str()
            .filter(|e| !e.is_empty())
            .unwrap_or("runtime is not healthy");
        Err(format!(
            "tunnel-client runtimes {op} exited {code}: {why}\n{doc}"
        ))
    }
}

fn json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub fn default_ops() -> Box<dyn RuntimeOps> {
    Box::new(InProcess)
}
