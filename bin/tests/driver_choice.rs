//! `TUNNEL_CLIENT_DRIVER`: which adapter drives `run`. Unset, a default build runs the smol
//! driver (one thread); `blocking` runs the blocking adapter's threads. Both run the whole
//! loop with the same flags, `/readyz`, `/api/status` and a graceful drain on SIGTERM, and
//! on both a stdio child dies with a SIGKILLed client. A build without the `smol-driver`
//! feature refuses `smol` with the build command that adds it.

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
fn a_build_without_the_feature_names_the_build_that_adds_the_smol_driver() {
    let stderr = refused("smol");
    assert!(
        stderr.contains("cargo build --release -p tunnel-client"),
        "{stderr}"
    );
}

mod drivers {
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};
    use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};
    use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

    use super::support::Client;

    const WAIT: Duration = Duration::from_secs(20);

    /// The driver's threads: `/proc/<pid>/status`.
    fn threads(pid: u32) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("Threads:")
    }

    /// `driver` (`None`: unset) serves an initialize, reports ready and its status, and
    /// drains on SIGTERM; the log names the driver that ran.
    fn runs_the_loop_and_drains(driver: Option<&str>, named: &str) -> usize {
        let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
        let stub = McpStub::start(StubConfig::default()).expect("stub");
        let env: Vec<(&str, &str)> = driver
            .map(|d| vec![("TUNNEL_CLIENT_DRIVER", d)])
            .unwrap_or_default();
        let mut client =
            Client::start_with_env(&emu, &["--mcp.server-url".into(), stub.url()], &env);
        client.wait_for("/readyz", 200, "", WAIT);
        assert!(
            client.logs().contains(&format!("driver: {named} (")),
            "{}",
            client.logs()
        );
        let id = emu.enqueue(CommandSpec::jsonrpc(json!({
            "jsonrpc": "2.0", "id": 7, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "driver-choice", "version": "1"}}
        })));
        let posts = emu
            .wait_terminal(&id, WAIT)
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
        assert!(v["channels"].is_array(), "{v}");
        let n = threads(client.child.id());
        client.signal("TERM");
        let status = client.wait_exit(WAIT);
        assert!(status.success(), "{status:?}\n{}", client.logs());
        assert!(
            client.logs().contains("tunnel-client stopped"),
            "{}",
            client.logs()
        );
        n
    }

    #[cfg(feature = "smol-driver")]
    #[test]
    fn unset_runs_the_smol_driver_on_a_fixed_few_threads() {
        let smol = runs_the_loop_and_drains(None, "smol");
        // The daemon's threads (admin server, signals, log) plus the one driver thread and
        // async-io's reactor: no pools.
        assert!(smol <= 12, "{smol} threads with the smol driver");
    }

    #[test]
    fn blocking_runs_the_blocking_adapters_threads() {
        runs_the_loop_and_drains(Some("blocking"), "blocking");
    }

    /// Whether `pid` still runs (a zombie has finished).
    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim().to_string()))
            .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
    }

    /// A stdio child that ignores EOF on stdin (`sleep`) still dies when the client is
    /// SIGKILLed: the kernel's death signal, set before exec, not the client's cleanup.
    #[cfg(target_os = "linux")]
    fn a_sigkilled_client_leaves_no_stdio_child(driver: &str) {
        let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
        let client = Client::start_with_env(
            &emu,
            &["--mcp.command".into(), "sleep 300".into()],
            &[("TUNNEL_CLIENT_DRIVER", driver)],
        );
        let logs = client.wait_log("[stdio:main] started", WAIT);
        let line = logs
            .lines()
            .find(|l| l.contains("[stdio:main] started"))
            .unwrap_or_else(|| panic!("the child was not started:\n{logs}"));
        let pid: u32 = line
            .rsplit_once("(pid ")
            .and_then(|(_, p)| p.trim_end_matches(')').trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {line:?}"));
        assert!(alive(pid), "the child runs");
        client.signal("KILL");
        let deadline = Instant::now() + WAIT;
        while alive(pid) {
            assert!(
                Instant::now() < deadline,
                "stdio child {pid} outlived the SIGKILLed client ({driver})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[cfg(all(target_os = "linux", feature = "smol-driver"))]
    #[test]
    fn smol_a_sigkilled_client_leaves_no_stdio_child() {
        a_sigkilled_client_leaves_no_stdio_child("smol");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn blocking_a_sigkilled_client_leaves_no_stdio_child() {
        a_sigkilled_client_leaves_no_stdio_child("blocking");
    }
}
