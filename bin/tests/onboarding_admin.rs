//! `admin tunnels get|list|create|update|delete` against the emulator's management API.

#[path = "onboarding_common/mod.rs"]
mod common;

use common::{Shell, TID};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig, Endpoint, Fault};

fn rig(tag: &str) -> (Shell, Emulator) {
    let emu = Emulator::start(EmulatorConfig {
        url_path: "/gateway/dev".into(),
        ..EmulatorConfig::default()
    })
    .expect("emulator");
    let mut sh = Shell::new(tag);
    sh.set("CONTROL_PLANE_BASE_URL", &emu.base_url());
    sh.set("CONTROL_PLANE_URL_PATH", "/gateway/dev");
    (sh, emu)
}

#[test]
fn crud_round_trip() {
    let (mut sh, emu) = rig("crud");
    sh.set("OPENAI_ADMIN_KEY", emu.admin_key());

    let o = sh.run(&[
        "admin",
        "tunnels",
        "create",
        "--name",
        "Docs MCP",
        "--description",
        "internal docs",
        "--organization-id",
        "org-a",
        "--workspace-id",
        "ws-1,ws-2",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("Tunnel tunnel_"), "{}", o.stdout);
    assert!(
        o.stdout.contains("  Name: Docs MCP\n") && o.stdout.contains("  Workspaces: ws-1, ws-2\n"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("25-30 seconds"), "{}", o.stdout);
    let id = o
        .stdout
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("Tunnel ")
        .to_string();

    let o = sh.run(&["admin", "--json", "tunnels", "get", &id]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let t = o.json();
    assert_eq!(t["id"], id.as_str());
    assert_eq!(t["organization_ids"], serde_json::json!(["org-a"]));
    assert!(t["request_id"].as_str().unwrap().starts_with("req_emu_"));

    let o = sh.run(&[
        "admin",
        "tunnels",
        "list",
        "--workspace-id",
        "ws-2",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let l = o.json();
    assert_eq!(l["tunnels"].as_array().unwrap().len(), 1);
    assert_eq!(l["tunnels"][0]["id"], id.as_str());

    let o = sh.run(&[
        "admin",
        "tunnels",
        "update",
        &id,
        "--description",
        "new text",
        "--organization-id",
        "org-b",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("  Description: new text\n")
            && o.stdout.contains("  Organizations: org-b\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("  Workspaces: ws-1, ws-2\n"),
        "omitted list kept: {}",
        o.stdout
    );

    let o = sh.run(&["admin", "tunnels", "delete", &id]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("refusing to delete without --confirm"),
        "{}",
        o.stderr
    );
    let o = sh.run(&["admin", "tunnels", "delete", &id, "--confirm"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(emu.tunnels().iter().all(|t| t.id != id));
    let o = sh.run(&["admin", "tunnels", "get", &id]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("failed: 404"), "{}", o.stderr);

    // Requests carried the prefix, the admin key and the client headers.
    let reqs = emu.requests();
    assert!(reqs
        .iter()
        .all(|q| q.path.starts_with("/gateway/dev/v1/tunnels")));
    let post = reqs.iter().find(|q| q.method == "POST").unwrap();
    assert_eq!(
        post.header("Authorization"),
        Some(format!("Bearer {}", emu.admin_key()).as_str())
    );
    assert_eq!(post.header("Content-Type"), Some("application/json"));
    assert_eq!(
        post.header("X-Tunnel-Client-Name"),
        Some("oai-tunnel-client")
    );
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
}

#[test]
fn key_rules() {
    let (mut sh, emu) = rig("keys");
    // No key at all.
    let o = sh.run(&[
        "admin",
        "tunnels",
        "list",
        "--organization-id",
        "org-emulator",
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("admin key is required; set --admin-key or OPENAI_ADMIN_KEY"),
        "{}",
        o.stderr
    );
    let o = sh.run(&["admin", "tunnels", "get", emu.tunnel_id()]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("CONTROL_PLANE_API_KEY, OPENAI_API_KEY, OPENAI_ADMIN_KEY, or --admin-key"),
        "{}",
        o.stderr
    );

    // get falls back to the runtime key; the rest do not.
    sh.set("CONTROL_PLANE_API_KEY", emu.api_key());
    let o = sh.run(&["admin", "tunnels", "get", emu.tunnel_id()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("  Name: Emulated tunnel"), "{}", o.stdout);
    let o = sh.run(&[
        "admin",
        "tunnels",
        "list",
        "--organization-id",
        "org-emulator",
    ]);
    assert_eq!(o.code, 1);

    // The runtime key given as the admin key: the service's code and its fix are shown.
    sh.set("OPENAI_ADMIN_KEY", emu.api_key());
    let o = sh.run(&[
        "admin",
        "tunnels",
        "list",
        "--organization-id",
        "org-emulator",
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("403 tunnel_management_permission_required"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("[mitigation: use an admin key"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("(x-request-id: req_emu_"), "{}", o.stderr);
    let o = sh.run(&[
        "admin",
        "tunnels",
        "list",
        "--organization-id",
        "org-emulator",
        "--json",
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.is_empty(),
        "JSON errors go to stdout only: {}",
        o.stderr
    );
    let e = o.json();
    assert_eq!(e["error"]["status_code"], 403);
    assert_eq!(e["error"]["code"], "tunnel_management_permission_required");
    assert_eq!(e["error"]["method"], "GET");
    assert_eq!(e["error"]["path"], "/gateway/dev/v1/tunnels");
    assert!(e["error"]["mitigation"]
        .as_str()
        .unwrap()
        .contains("admin key"));

    // --admin-key takes a reference only.
    sh.unset("OPENAI_ADMIN_KEY");
    sh.set("MY_ADMIN", emu.admin_key());
    let o = sh.run(&[
        "admin",
        "--admin-key",
        "env:MY_ADMIN",
        "tunnels",
        "list",
        "--organization-id",
        "org-emulator",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let keyfile = sh.home.join("admin.key");
    std::fs::write(&keyfile, format!("{}\n", emu.admin_key())).unwrap();
    let keyref = format!("file:{}", keyfile.display());
    let o = sh.run(&[
        "admin",
        "tunnels",
        "list",
        "--organization-id",
        "org-emulator",
        "--admin-key",
        &keyref,
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = sh.run(&[
        "admin",
        "tunnels",
        "list",
        "--organization-id",
        "org-emulator",
        "--admin-key",
        "sk-literal",
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("--admin-key must be a reference") && !o.stderr.contains("sk-literal"),
        "{}",
        o.stderr
    );
}

#[test]
fn flag_rules_and_errors() {
    let (mut sh, emu) = rig("flags");
    sh.set("OPENAI_ADMIN_KEY", emu.admin_key());
    let o = sh.run(&["admin", "tunnels", "list"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("exactly one of --organization-id, --workspace-id or --tenant-id"),
        "{}",
        o.stderr
    );
    let o = sh.run(&[
        "admin",
        "tunnels",
        "list",
        "--organization-id",
        "a",
        "--workspace-id",
        "b",
    ]);
    assert_eq!(o.code, 1);
    let o = sh.run(&[
        "admin",
        "tunnels",
        "create",
        "--name",
        "x",
        "--description",
        "d",
        "--organization-id",
        "a,a",
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("duplicate organization-id values: a"),
        "{}",
        o.stderr
    );
    let o = sh.run(&[
        "admin",
        "tunnels",
        "create",
        "--description",
        "d",
        "--organization-id",
        "a",
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--name"), "{}", o.stderr);
    let o = sh.run(&[
        "admin",
        "tunnels",
        "create",
        "--name",
        "x",
        "--description",
        "d",
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("--organization-id or --workspace-id"),
        "{}",
        o.stderr
    );
    let o = sh.run(&["admin", "tunnels", "update", TID]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("nothing to change"), "{}", o.stderr);
    let o = sh.run(&["admin", "tunnels", "get"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("<tunnel_id>"), "{}", o.stderr);
    let o = sh.run(&["admin", "tunnels", "get", "tunnel_BAD"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("tunnel_<32"), "{}", o.stderr);
    let o = sh.run(&["admin", "tunnels", "lst"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("did you mean `admin tunnels list`"),
        "{}",
        o.stderr
    );
    let o = sh.run(&["admin", "tunnels", "get", TID, "--confirm"]);
    assert_eq!(o.code, 1, "--confirm is not a flag of get");

    // Limits and scope codes from the service come with their fix.
    let many: Vec<String> = (0..11).map(|i| format!("org-{i}")).collect();
    let o = sh.run(&[
        "admin",
        "tunnels",
        "create",
        "--name",
        "x",
        "--description",
        "d",
        "--organization-id",
        &many.join(","),
    ]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("tunnel_principal_limit_exceeded") && o.stderr.contains("mitigation:"),
        "{}",
        o.stderr
    );
    emu.script(Endpoint::Admin, Fault::status(429));
    let o = sh.run(&[
        "admin",
        "tunnels",
        "list",
        "--organization-id",
        "org-emulator",
        "--json",
    ]);
    assert_eq!(o.code, 1);
    assert_eq!(o.json()["error"]["code"], "rate_limit_exceeded");

    // Help.
    let o = sh.run(&["admin", "tunnels", "create", "--help"]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.contains("--name") && o.stdout.contains("--admin-key"),
        "{}",
        o.stdout
    );
    assert_eq!(sh.run(&["admin"]).code, 0);
}
