//! `tunnel-client codex mcp-server`: the Tunnel MCP plugin's MCP server, over stdio.
//!
//! Go's plugin ran a Node script; here the binary serves the same six tools (same names and
//! argument names) itself, so the plugin needs nothing else on PATH. Runtime operations go
//! through [`RuntimeOps`]; this file only validates arguments and shapes results.

use std::io::{BufRead, Write};

use serde_json::{json, Map, Value};

use super::bundle;
use super::runtime_ops::{default_ops, RuntimeOps};
use crate::cli::args::CliError;

const PROTOCOLS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

fn prop(desc: &str) -> Value {
    json!({"type": "string", "description": desc})
}

const ALIAS: &str = "Local tunnel-client runtime alias.";
const BIN: &str = "Optional full path to an executable tunnel-client binary (reported; this server always runs itself).";

fn lifecycle_schema(mcp_command: bool, tunnel_id: bool) -> Value {
    let mut p = Map::new();
    p.insert("alias".into(), prop(ALIAS));
    p.insert(
        "organization_id".into(),
        prop("Organization id for remote tunnel creation or lookup."),
    );
    p.insert(
        "workspace_id".into(),
        prop("Workspace id for remote tunnel creation or lookup."),
    );
    p.insert(
        "admin_profile".into(),
        prop("tunnel-client admin profile name."),
    );
    p.insert(
        "control_plane_base_url".into(),
        prop("Optional control-plane base URL override stored in the admin profile."),
    );
    p.insert(
        "control_plane_url_path".into(),
        prop("Optional URL path appended to the control-plane base URL."),
    );
    p.insert("name".into(), prop("Optional remote tunnel display name."));
    p.insert(
        "description".into(),
        prop("Optional remote tunnel description."),
    );
    p.insert("tunnel_client_bin".into(), prop(BIN));
    if mcp_command {
        p.insert(
            "mcp_command".into(),
            prop("Stdio MCP command line for tunnel-client to run locally."),
        );
        p.insert("runtime_api_key".into(), prop("Runtime key reference such as env:CONTROL_PLANE_API_KEY or file:/path (never the key itself)."));
    }
    if tunnel_id {
        p.insert(
            "tunnel_id".into(),
            prop("Existing tunnel id to attach instead of creating or resolving by scope."),
        );
    }
    let required = if mcp_command {
        json!(["alias", "mcp_command"])
    } else {
        json!(["alias"])
    };
    json!({"type": "object", "properties": p, "required": required, "additionalProperties": false})
}

fn alias_schema() -> Value {
    json!({"type": "object", "properties": {"alias": prop(ALIAS), "tunnel_client_bin": prop(BIN)},
           "required": ["alias"], "additionalProperties": false})
}

fn list_schema() -> Value {
    json!({"type": "object", "properties": {
        "organization_id": prop("Optional organization scope for remote listing."),
        "workspace_id": prop("Optional workspace scope for remote listing."),
        "tenant_id": prop("Optional tenant scope for remote listing."),
        "admin_profile": prop("tunnel-client admin profile name."),
        "control_plane_base_url": prop("Optional control-plane base URL override stored in the admin profile."),
        "control_plane_url_path": prop("Optional URL path appended to the control-plane base URL."),
        "tunnel_client_bin": prop(BIN)
    }, "additionalProperties": false})
}

fn select_schema() -> Value {
    json!({"type": "object", "properties": {
        "tunnel_client_bin": prop(BIN),
        "persist_hint": {"type": "boolean", "description": "Accepted for compatibility; the plugin's hint is written by `codex plugin install`."},
        "allow_path_lookup": {"type": "boolean", "description": "Accepted for compatibility; unused."}
    }, "additionalProperties": false})
}

fn tool(name: &str, title: &str, desc: &str, schema: Value, read_only: bool) -> Value {
    json!({"name": name, "title": title, "description": desc, "inputSchema": schema,
           "annotations": {"readOnlyHint": read_only, "destructiveHint": false,
                           "idempotentHint": name != "create_tunnel_runtime" && name != "connect_stdio_mcp",
                           "openWorldHint": name != "install_or_select_tunnel_client"}})
}

pub fn tools() -> Vec<Value> {
    vec![
        tool("install_or_select_tunnel_client", "Select tunnel-client", "Report which tunnel-client binary serves this plugin and how it was chosen.", select_schema(), true),
        tool("create_tunnel_runtime", "Create Tunnel Runtime", "Create (or find) the remote tunnel for a runtime alias, scoped by exactly one of organization_id or workspace_id.", lifecycle_schema(false, false), false),
        tool("connect_stdio_mcp", "Connect Stdio MCP", "Start a local tunnel-client runtime that serves a stdio MCP command through a tunnel.", lifecycle_schema(true, true), false),
        tool("list_runtime_aliases", "List Runtime Aliases", "List local tunnel-client runtime aliases, optionally with remote tunnels in one scope.", list_schema(), true),
        tool("runtime_status", "Runtime Status", "Inspect a runtime alias: process, health, readiness, control-plane polling and repair actions.", alias_schema(), true),
        tool("stop_runtime", "Stop Runtime", "Stop a local tunnel-client runtime alias without deleting the remote tunnel.", alias_schema(), false),
    ]
}

fn s<'a>(args: &'a Map<String, Value>, k: &str) -> &'a str {
    args.get(k)
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
}

fn push(out: &mut Vec<String>, flag: &str, v: &str) {
    if !v.is_empty() {
        out.push(flag.into());
        out.push(v.into());
    }
}

fn validate_alias(a: &str) -> Result<(), String> {
    if a.is_empty() {
        return Err("alias is required".into());
    }
    if a.len() > 64
        || !a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        || a.starts_with(['.', '-'])
    {
        return Err(format!("alias {a:?} must be 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"));
    }
    Ok(())
}

fn scope_count(args: &Map<String, Value>, keys: &[&str]) -> usize {
    keys.iter().filter(|k| !s(args, k).is_empty()).count()
}

/// Tool arguments → (`runtimes` op, flags). Errors are for the model to read.
pub fn build(name: &str, args: &Map<String, Value>) -> Result<(&'static str, Vec<String>), String> {
    let allowed: Vec<String> = tools()
        .iter()
        .find(|t| t["name"] == name)
        .ok_or_else(|| format!("unknown tool: {name}"))?["inputSchema"]["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(bad) = args.keys().find(|k| !allowed.contains(k)) {
        return Err(format!(
            "{name} does not accept argument {bad:?}; allowed: {}",
            allowed.join(", ")
        ));
    }
    let mut out = vec![];
    let common = |out: &mut Vec<String>| {
        push(out, "--admin-profile", s(args, "admin_profile"));
        push(
            out,
            "--control-plane-base-url",
            s(args, "control_plane_base_url"),
        );
        push(
            out,
            "--control-plane-url-path",
            s(args, "control_plane_url_path"),
        );
    };
    let op = match name {
        "create_tunnel_runtime" | "connect_stdio_mcp" => {
            let connect = name == "connect_stdio_mcp";
            let alias = s(args, "alias");
            validate_alias(alias)?;
            let scope: &[&str] = if connect {
                &["organization_id", "workspace_id", "tunnel_id"]
            } else {
                &["organization_id", "workspace_id"]
            };
            if scope_count(args, scope) != 1 {
                return Err(format!(
                    "{name} requires exactly one of {}",
                    scope.join(", ")
                ));
            }
            push(&mut out, "--alias", alias);
            if connect {
                let cmd = s(args, "mcp_command");
                if cmd.is_empty() {
                    return Err("mcp_command is required".into());
                }
                push(&mut out, "--mcp-command", cmd);
                let key = s(args, "runtime_api_key");
                if !key.is_empty() && !key.starts_with("env:") && !key.starts_with("file:") {
                    return Err("runtime_api_key must be a reference (env:NAME or file:/path), never the key itself".into());
                }
                push(&mut out, "--organization-id", s(args, "organization_id"));
                push(&mut out, "--workspace-id", s(args, "workspace_id"));
                push(&mut out, "--tunnel-id", s(args, "tunnel_id"));
                push(&mut out, "--runtime-api-key", key);
            } else {
                push(&mut out, "--organization-id", s(args, "organization_id"));
                push(&mut out, "--workspace-id", s(args, "workspace_id"));
            }
            common(&mut out);
            push(&mut out, "--name", s(args, "name"));
            push(&mut out, "--description", s(args, "description"));
            if connect {
                "connect"
            } else {
                "create"
            }
        }
        "list_runtime_aliases" => {
            if scope_count(args, &["organization_id", "workspace_id", "tenant_id"]) > 1 {
                return Err("list_runtime_aliases accepts at most one of organization_id, workspace_id, or tenant_id".into());
            }
            push(&mut out, "--organization-id", s(args, "organization_id"));
            push(&mut out, "--workspace-id", s(args, "workspace_id"));
            push(&mut out, "--tenant-id", s(args, "tenant_id"));
            common(&mut out);
            "list"
        }
        "runtime_status" | "stop_runtime" => {
            let alias = s(args, "alias");
            validate_alias(alias)?;
            out.push(alias.to_string()); // positional, as `runtimes status|stop <alias>`
            if name == "runtime_status" {
                "status"
            } else {
                "stop"
            }
        }
        _ => return Err(format!("unknown tool: {name}")),
    };
    Ok((op, out))
}

fn result(text: String, payload: Value, is_error: bool) -> Value {
    json!({"content": [{"type": "text", "text": text}], "structuredContent": payload, "isError": is_error})
}

pub fn call_tool(ops: &dyn RuntimeOps, name: &str, args: &Map<String, Value>) -> Value {
    if name == "install_or_select_tunnel_client" {
        if let Some(bad) = args.keys().find(|k| {
            !["tunnel_client_bin", "persist_hint", "allow_path_lookup"].contains(&k.as_str())
        }) {
            return result(
                format!("{name} does not accept argument {bad:?}"),
                json!({"ok": false}),
                true,
            );
        }
        let bin = super::plugin::current_binary().map(|p| p.display().to_string());
        let payload = json!({
            "ok": bin.is_ok(),
            "operation": name,
            "tunnel_client_bin": bin.as_ref().ok(),
            "selection_source": "current_process",
            "requested_tunnel_client_bin": args.get("tunnel_client_bin"),
            "plugin_version": bundle::plugin_version(),
            "repair_actions": [],
        });
        let text = match &bin {
            Ok(b) => format!("Selected tunnel-client binary {b} (this MCP server)."),
            Err(e) => format!("tunnel-client binary could not be resolved: {e}"),
        };
        return result(text, payload, bin.is_err());
    }
    let (op, flags) = match build(name, args) {
        Ok(x) => x,
        Err(e) => {
            return result(
                e.clone(),
                json!({"ok": false, "operation": name, "error": e}),
                true,
            )
        }
    };
    let mut command = vec!["tunnel-client".to_string(), "runtimes".into(), op.into()];
    command.extend(flags.iter().cloned());
    command.push("--json".into());
    match ops.call(op, &flags) {
        Ok(native) => {
            let pick = |k: &str| {
                native
                    .get(k)
                    .and_then(Value::as_str)
                    .map(|v| format!(" {k}={v}"))
                    .unwrap_or_default()
            };
            let text = format!("{name} complete.{}{}", pick("alias"), pick("tunnel_id"));
            result(
                text,
                json!({"ok": true, "operation": name, "command": command, "native": native}),
                false,
            )
        }
        Err(e) => result(
            e.clone(),
            json!({"ok": false, "operation": name, "command": command, "error": e}),
            true,
        ),
    }
}

fn handle(ops: &dyn RuntimeOps, msg: &Value) -> Option<Value> {
    let id = msg.get("id").cloned()?;
    let method = msg.get("method").and_then(Value::as_str)?;
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let r = match method {
        "initialize" => {
            let asked = params["protocolVersion"].as_str().unwrap_or("");
            let v = if PROTOCOLS.contains(&asked) {
                asked
            } else {
                PROTOCOLS[1]
            };
            Ok(
                json!({"protocolVersion": v, "capabilities": {"tools": {"listChanged": false}},
                      "serverInfo": {"name": "tunnel-mcp", "version": bundle::plugin_version()},
                      "instructions": "Tools for tunnel-client runtimes. Runtime keys are references (env:NAME, file:/path), never literal keys."}),
            )
        }
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": tools()})),
        "tools/call" => {
            let name = params["name"].as_str().unwrap_or("");
            let empty = Map::new();
            let args = params["arguments"].as_object().unwrap_or(&empty);
            if !tools().iter().any(|t| t["name"] == name) {
                Err((-32602, format!("unknown tool: {name}")))
            } else {
                Ok(call_tool(ops, name, args))
            }
        }
        "resources/list" => Ok(json!({"resources": []})),
        "prompts/list" => Ok(json!({"prompts": []})),
        other => Err((-32601, format!("method not found: {other}"))),
    };
    Some(match r {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err((code, m)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": m}})
        }
    })
}

/// Serve until stdin closes.
pub fn run(args: &[String]) -> Result<(), CliError> {
    if let Some(a) = args.iter().find(|a| a.as_str() != "--stdio") {
        if a == "--help" || a == "-h" {
            println!("Usage: tunnel-client codex mcp-server\n\nThe Tunnel MCP plugin's MCP server (stdio). Codex starts it from the plugin's .mcp.json.");
            return Ok(());
        }
        return Err(CliError::Usage(format!(
            "codex mcp-server: unexpected argument {a:?}"
        )));
    }
    let ops = default_ops();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| CliError::Io(format!("read stdin: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(msg) => handle(ops.as_ref(), &msg),
            Err(e) => Some(
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("parse error: {e}")}}),
            ),
        };
        if let Some(r) = reply {
            writeln!(out, "{r}")
                .and_then(|_| out.flush())
                .map_err(|e| CliError::Io(format!("write stdout: {e}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Record(std::cell::RefCell<Vec<(String, Vec<String>)>>);
    impl RuntimeOps for Record {
        fn call(&self, op: &str, args: &[String]) -> Result<Value, String> {
            self.0.borrow_mut().push((op.into(), args.to_vec()));
            Ok(json!({"alias": "a1", "runtime_state": "running"}))
        }
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn six_tools_with_go_names() {
        let names: Vec<String> = tools()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "install_or_select_tunnel_client",
                "create_tunnel_runtime",
                "connect_stdio_mcp",
                "list_runtime_aliases",
                "runtime_status",
                "stop_runtime"
            ]
        );
    }

    #[test]
    fn connect_builds_go_flags_and_rejects_literal_keys() {
        let rec = Record(Default::default());
        let r = call_tool(
            &rec,
            "connect_stdio_mcp",
            &args(
                json!({"alias": "a1", "mcp_command": "npx srv", "workspace_id": "ws_1", "runtime_api_key": "env:K"}),
            ),
        );
        assert_eq!(r["isError"], false, "{r}");
        assert_eq!(
            rec.0.borrow()[0],
            (
                "connect".to_string(),
                [
                    "--alias",
                    "a1",
                    "--mcp-command",
                    "npx srv",
                    "--workspace-id",
                    "ws_1",
                    "--runtime-api-key",
                    "env:K"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        let bad = call_tool(
            &rec,
            "connect_stdio_mcp",
            &args(
                json!({"alias": "a1", "mcp_command": "x", "workspace_id": "w", "runtime_api_key": "sk-live-123"}),
            ),
        );
        assert_eq!(bad["isError"], true);
        assert!(
            !bad.to_string().contains("sk-live-123"),
            "the secret is not echoed back"
        );
        let two = call_tool(
            &rec,
            "create_tunnel_runtime",
            &args(json!({"alias": "a1", "organization_id": "o", "workspace_id": "w"})),
        );
        assert_eq!(two["isError"], true);
        let unknown = call_tool(
            &rec,
            "runtime_status",
            &args(json!({"alias": "a1", "x": 1})),
        );
        assert!(unknown["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("does not accept argument \"x\""));
        assert_eq!(rec.0.borrow().len(), 1);
    }
}
