//! What `admin tunnels` prints: a tunnel or a list of them as text or `--json`, and an error
//! as JSON when `--json` is on.

use super::client::{Tunnel, TunnelList};
use super::error::AdminError;

const CREATE_NOTE: &str = "Note: a new tunnel takes 25-30 seconds before tunnel-client can use it; wait before `tunnel-client run`.";

pub(super) fn print_tunnel(t: &Tunnel, json: bool) {
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

/// `list`: the tunnels found, or a line saying there are none.
pub(super) fn print_list(list: &TunnelList, param: &str, value: &str, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(list).unwrap_or_default());
    } else if list.tunnels.is_empty() {
        println!("No tunnels found for {param}={value}.");
    } else {
        for t in &list.tunnels {
            print_tunnel(t, false);
        }
    }
}

/// `create`: the new tunnel, then (as text) when it can be used and what to run next.
pub(super) fn print_created(t: &Tunnel, json: bool) {
    print_tunnel(t, json);
    if !json {
        println!("{CREATE_NOTE}");
        println!(
            "Next: tunnel-client init --tunnel-id {} --mcp-server-url URL | --mcp-command \"CMD\"",
            t.id
        );
    }
}

/// `--json`: the error as `{"error": {...}}` on stdout.
pub(super) fn print_error_json(e: &AdminError) {
    let mut body = serde_json::Map::new();
    body.insert("message".into(), e.message().into());
    if let AdminError::Http(r, _) = e {
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
}
