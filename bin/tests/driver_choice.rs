//! `TUNNEL_CLIENT_DRIVER`: which adapter drives `run`. The default build refuses `smol`
//! with the build command that adds it; a build with `--features smol-driver` runs the
//! whole loop on the smol driver (one thread) with the same flags, `/readyz`, `/api/status`
//! and a graceful drain on SIGTERM.

mod support;

use support::{base_args, run_to_exit};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};

/// Runs `tunnel-client run` against a fresh emulator with `TUNNEL_CLIENT_DRIVER=driver`,
/// expecting a refusal before any poll; its stderr.
fn refused(driver: &str) -> String {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let args = base_args(&emu);
    let mut argv: Vec<&str> = args.iter().map(String::as_str).collect();
    argv.extend(["--mcp.server-url", "http://127.0.0.1:9/mcp"]);
    let env = [
        ("CONTROL_PLANE_API_KEY", emu.api_key()),
        ("TUNNEL_CLIENT_DRIVER", driver),
    ];
    let (code, _, stderr) = run_to_exit(&argv, &env);
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(emu.polls().len(), 0, "nothing was polled");
    stderr
}

#[test]
fn an_unknown_driver_is_refused_with_the_choices() {
    let stderr = refused("tokio");
    assert!(
        stderr.contains("TUNNEL_CLIENT_DRIVER=\"tokio\"")
            && stderr.contains("blocking")
            && stderr.contains("smol"),
        "{stderr}"
    );
}

#[cfg(not(feature = "smol-driver"))]
#[test]
fn the_default_build_names_the_feature_that_adds_the_smol_driver() {
    let stderr = refused("smol");
    assert!(stderr.contains("--features smol-driver"), "{stderr}");
}

#[cfg(feature = "smol-driver")]
mod smol {
    use std::time::Duration;

    use serde_json::{json, Value};
    use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
    use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

    use super::support::Client;

    #[test]
    fn the_smol_driver_runs_the_loop_reports_readiness_and_drains() {
        let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
        let stub = McpStub::start(StubConfig::default()).expect("stub");
        let mut client = Client::start_with_env(
            &emu,
            &["--mcp.server-url".into(), stub.url()],
            &[("TUNNEL_CLIENT_DRIVER", "smol")],
        );
        client.wait_for("/readyz", 200, "", Duration::from_secs(20));
        assert!(client.logs().contains("driver: smol"), "{}", client.logs());
        let id = emu.enqueue(CommandSpec::jsonrpc(json!({
            "jsonrpc": "2.0", "id": 7, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "driver-choice", "version": "1"}}
        })));
        let posts = emu
            .wait_terminal(&id, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("no answer; logs:\n{}", client.logs()));
        let last = posts.last().expect("a post");
        assert_eq!(last.resp_type, "jsonrpc_response", "{last:?}");
        assert!(
            last.resp_json.as_ref().expect("resp_json")["result"]["serverInfo"]["name"].is_string(),
            "{last:?}"
        );
        // The admin API reads the same snapshot type whichever driver publishes it.
        let (status, body) = client.get("/api/status");
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert!(v.is_object(), "{v}");
        // One driver thread, not pools: the threads are the daemon's plus one.
        let threads = std::fs::read_to_string(format!("/proc/{}/status", client.child.id()))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("Threads:")
                        .map(|n| n.trim().parse::<usize>())
                })
            })
            .and_then(Result::ok);
        if let Some(n) = threads {
            assert!(n <= 12, "{n} threads with the smol driver");
        }
        client.signal("TERM");
        let status = client.wait_exit(Duration::from_secs(20));
        assert!(status.success(), "{status:?}\n{}", client.logs());
        assert!(
            client.logs().contains("tunnel-client stopped"),
            "{}",
            client.logs()
        );
    }
}
