//! The plugin's MCP server (`tunnel-client codex mcp-server`) driven by the official Python
//! MCP SDK client over stdio (peer from `.ci/install-peers`), against a runtime this test
//! starts with `runtimes connect` (emulator control plane, Python stdio MCP server).
#![cfg(unix)] // the runtimes supervision is Unix-only

mod runtimes_common;

use runtimes_common::{Lane, Rig, BIN};
use serde_json::Value;
use tunnel_conformance::peers::{workspace_root, Peers};

fn mcp_client(rig: &Rig, peers: &Peers, alias: &str, stop: bool) -> Value {
    let script = workspace_root().join("bin/tests/py/codex_mcp_client.py");
    let mut c = std::process::Command::new(&peers.python);
    c.arg(&script).arg(BIN).arg(alias);
    if stop {
        c.arg("stop");
    }
    let o = c
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
fn python_sdk_drives_the_six_tools_against_a_real_runtime() {
    let Some(peers) = Peers::find() else { return };
    let rig = Rig::new("codex-mcp", Lane::Process);

    // Before any runtime: the tools are listed and runtime_status explains the unknown alias.
    let v = mcp_client(&rig, &peers, "demo", false);
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
    assert_eq!(
        connect["required"],
        serde_json::json!(["alias", "mcp_command"])
    );
    assert_eq!(connect["additionalProperties"], false);
    assert_eq!(v["bad_key"]["is_error"], true);
    assert!(
        !v["bad_key"]["text"]
            .as_str()
            .unwrap()
            .contains("sk-literal"),
        "secret not echoed"
    );
    assert_eq!(
        v["select"]["tunnel_client_bin"],
        std::fs::canonicalize(BIN).unwrap().display().to_string()
    );

    // Start a runtime the way a user would.
    let cmd = rig.mcp_command();
    let o = rig.run(&[
        "runtimes",
        "connect",
        "--alias",
        "demo",
        "--mcp-command",
        &cmd,
        "--tunnel-id",
        rig.emu.tunnel_id(),
    ]);
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);

    // runtime_status through MCP reports the runtime the CLI started (in-process call).
    let mut st = Value::Null;
    for _ in 0..50 {
        let v = mcp_client(&rig, &peers, "demo", false);
        st = v["runtime_status"].clone();
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
        serde_json::json!(["tunnel-client", "runtimes", "status", "demo", "--json"])
    );

    // stop_runtime through MCP stops it; nothing is left running.
    let v = mcp_client(&rig, &peers, "demo", true);
    let list = &v["list"]["structured"]["native"]["aliases"];
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|a| a["alias"] == "demo"),
        "{list}"
    );
    assert_eq!(v["stop"]["is_error"], false, "{:#}", v["stop"]);
    rig.assert_nothing_running();
}
