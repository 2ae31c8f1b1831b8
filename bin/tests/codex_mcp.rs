//! The plugin's MCP server (`tunnel-client codex mcp-server`) driven by the official Python
//! MCP SDK client over stdio (peer from `.ci/install-peers`).

mod codex_support;

use codex_support::*;
use serde_json::Value;
use tunnel_conformance::peers::{workspace_root, Peers};

#[test]
fn python_sdk_lists_the_six_tools_and_calls_runtime_status() {
    let Some(peers) = Peers::find() else { return };
    let script = workspace_root().join("bin/tests/py/codex_mcp_client.py");
    let o = std::process::Command::new(&peers.python)
        .arg(&script)
        .arg(BIN)
        .arg("demo-alias")
        .output()
        .expect("run the Python MCP client");
    let out = ok(&o);
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
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
    assert!(connect["properties"]["runtime_api_key"].is_object());
    assert!(v["tools"]["runtime_status"]["properties"]["alias"].is_object());

    // runtime_status reaches the runtimes logic; a build without the `runtimes` tree says so
    // plainly (interim until that tree is merged), and the command it ran is reported.
    let st = &v["runtime_status"];
    let cmd = &st["structured"]["command"];
    assert_eq!(
        cmd,
        &serde_json::json!([
            "tunnel-client",
            "runtimes",
            "status",
            "--alias",
            "demo-alias",
            "--json"
        ])
    );
    if st["is_error"] == true {
        assert!(st["text"].as_str().unwrap().contains("runtimes"), "{st}");
    }

    assert_eq!(v["bad_key"]["is_error"], true);
    assert!(!v["bad_key"]["text"]
        .as_str()
        .unwrap()
        .contains("sk-literal"));
    assert_eq!(
        v["select"]["tunnel_client_bin"],
        std::fs::canonicalize(BIN).unwrap().display().to_string()
    );
}
