//! The plugin's MCP server (`tunnel-client codex mcp-server`) driven by the official Python
//! MCP SDK client over stdio (peer from `.ci/install-peers`): the tools connect a real
//! runtime (emulator control plane, Python stdio MCP server), read its status, list it and
//! stop it, all in process, without corrupting the MCP stream.
#![cfg(unix)] // the runtimes supervision is Unix-only

mod runtimes_common;

use runtimes_common::{Lane, Rig, BIN};
use serde_json::{json, Value};
use tunnel_conformance::peers::{workspace_root, Peers};

fn mcp_client(rig: &Rig, peers: &Peers, calls: Value) -> Value {
    let script = workspace_root().join("bin/tests/py/codex_mcp_client.py");
    let o = std::process::Command::new(&peers.python)
        .arg(&script)
        .arg(BIN)
        .arg(calls.to_string())
        .env_clear()
        .envs(&rig.sh.env)
        .current_dir(&rig.sh.cwd)
        .output()
        .expect("run the Python MCP client");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "stdout:\n{out}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn python_sdk_lists_tools_and_refuses_bad_arguments() {
    let peers = Peers::require();
    let rig = Rig::new("codex-mcp-list", Lane::Process);
    let v = mcp_client(
        &rig,
        &peers,
        json!([
            ["install_or_select_tunnel_client", {}],
            ["connect_stdio_mcp", {"alias": "demo", "mcp_command": "x", "workspace_id": "w", "runtime_api_key": "sk-literal"}],
            ["create_tunnel_runtime", {"alias": "demo", "organization_id": "o", "workspace_id": "w"}],
            ["runtime_status", {"alias": "demo", "surprise": 1}],
            ["runtime_status", {"alias": "nobody"}],
        ]),
    );
    assert_eq!(v["server"]["name"], "tunnel-mcp");
    let mut names: Vec<&str> = v["tools"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "connect_stdio_mcp",
            "create_tunnel_runtime",
            "install_or_select_tunnel_client",
            "list_runtime_aliases",
            "runtime_status",
            "stop_runtime"
        ]
    );
    let connect = &v["tools"]["connect_stdio_mcp"];
    assert_eq!(connect["required"], json!(["alias", "mcp_command"]));
    assert_eq!(connect["additionalProperties"], false);
    let r = &v["results"];
    assert_eq!(
        r[0]["structured"]["tunnel_client_bin"],
        std::fs::canonicalize(BIN).unwrap().display().to_string()
    );
    assert_eq!(r[1]["is_error"], true);
    assert!(
        !r[1]["text"].as_str().unwrap().contains("sk-literal"),
        "secret not echoed"
    );
    assert!(r[1]["text"]
        .as_str()
        .unwrap()
        .contains("must be a reference"));
    assert!(r[2]["text"]
        .as_str()
        .unwrap()
        .contains("requires exactly one of organization_id, workspace_id"));
    assert!(r[3]["text"]
        .as_str()
        .unwrap()
        .contains("does not accept argument \"surprise\""));
    assert_eq!(r[4]["is_error"], true);
    assert!(
        r[4]["text"]
            .as_str()
            .unwrap()
            .contains("alias nobody is not known"),
        "{}",
        r[4]
    );
}

#[test]
fn python_sdk_connects_reads_lists_and_stops_a_real_runtime() {
    let peers = Peers::require();
    let rig = Rig::new("codex-mcp-rt", Lane::Process);
    let cmd = rig.mcp_command();
    let v = mcp_client(
        &rig,
        &peers,
        json!([["connect_stdio_mcp", {"alias": "demo", "mcp_command": cmd, "tunnel_id": rig.emu.tunnel_id(), "runtime_api_key": "env:CONTROL_PLANE_API_KEY"}]]),
    );
    let c = &v["results"][0];
    assert_eq!(c["is_error"], false, "{c:#}");
    assert_eq!(c["structured"]["native"]["alias"], "demo");
    assert!(c["text"]
        .as_str()
        .unwrap()
        .starts_with("connect_stdio_mcp complete. alias=demo"));

    // The runtime the tool started becomes ready; runtime_status reports it.
    let mut st = Value::Null;
    for _ in 0..50 {
        let v = mcp_client(&rig, &peers, json!([["runtime_status", {"alias": "demo"}]]));
        st = v["results"][0].clone();
        if st["structured"]["native"]["runtime_state"] == "ready" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(st["is_error"], false, "{st:#}");
    let native = &st["structured"]["native"];
    assert_eq!(native["runtime_state"], "ready", "{st:#}");
    assert_eq!(native["tunnel_id"], rig.emu.tunnel_id());
    assert_eq!(
        st["structured"]["command"],
        json!(["tunnel-client", "runtimes", "status", "demo", "--json"])
    );
    // The same answer as the CLI.
    let cli = rig.run(&["runtimes", "status", "demo", "--json"]).json();
    assert_eq!(cli["tunnel_id"], native["tunnel_id"]);
    assert_eq!(cli["runtime_state"], native["runtime_state"]);

    let v = mcp_client(
        &rig,
        &peers,
        json!([["list_runtime_aliases", {}], ["stop_runtime", {"alias": "demo"}]]),
    );
    let list = &v["results"][0]["structured"]["native"]["aliases"];
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|a| a["alias"] == "demo"),
        "{list}"
    );
    assert_eq!(v["results"][1]["is_error"], false, "{:#}", v["results"][1]);
    rig.assert_nothing_running();
}
