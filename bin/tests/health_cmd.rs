//! `tunnel-client health` against a running client: exit 0 when OK, 2 when not, 1 for bad
//! flags; the Go client's text lines and JSON fields.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Client, BIN};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

fn health(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("health")
        .args(args)
        .output()
        .expect("run tunnel-client health");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/mcp")
}

#[test]
fn a_healthy_client_is_ok_by_url_file_url_port_and_pid() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mcp = McpStub::start(StubConfig::default()).unwrap();
    let client = Client::start(&emu, &["--mcp.server-url".into(), mcp.url()]);
    let url_file = client.url_file.display().to_string();
    let pid_file = client.pid_file.display().to_string();
    let base = client.health.clone();
    let port = base.rsplit(':').next().unwrap().to_string();
    // Ready once the startup probe and OAuth discovery have settled (until then /readyz
    // says which is pending, and `health` rightly fails).
    client.wait_for("/readyz", 200, "", Duration::from_secs(20));

    let (code, out, err) = health(&["--url-file", &url_file, "--pid-file", &pid_file]);
    assert_eq!(code, 0, "{out}{err}");
    let expected = format!(
        "Locator: url_file={url_file}\nBase URL: {base}\nUI URL: {base}/ui\nHealthz: PASS | {base}/healthz | HTTP 200 | live\nReadyz: PASS | {base}/readyz | HTTP 200 | ready\nProcess: PASS | pid={} | pid_file={pid_file}\nResult: OK\n",
        client.child.id()
    );
    assert_eq!(out, expected);

    for args in [
        vec!["--url", base.as_str()],
        vec!["--url", &format!("{base}/healthz")],
        vec!["--url", &format!("{base}/readyz")],
        vec!["--url", &format!("{base}/")],
        vec!["--port", port.as_str()],
        vec![
            "--port",
            port.as_str(),
            "--pid",
            &client.child.id().to_string(),
        ],
    ] {
        let (code, out, _) = health(&args);
        assert_eq!(code, 0, "{args:?}: {out}");
    }

    // The first long poll returns after --control-plane.poll-timeout (2 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let (code, out, _) = health(&["--port", &port, "--require-control-plane-poll"]);
        if code == 0 {
            break out;
        }
        assert_eq!(code, 2);
        assert!(
            out.contains("Control-plane poll: FAIL | ")
                && out.contains("no successful control-plane poll observed"),
            "{out}"
        );
        assert!(Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        out.contains(&format!(
            "Control-plane poll: PASS | {base}/metrics | last_success_unix_seconds="
        )),
        "{out}"
    );

    let (code, out, _) = health(&["--port", &port, "--json", "--require-control-plane-poll"]);
    assert_eq!(code, 0);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["result"], "ok");
    assert_eq!(j["locator"]["kind"], "port");
    assert_eq!(j["locator"]["port"], port.parse::<u64>().unwrap());
    assert_eq!(
        j["locator"]["resolved_base_url"],
        format!("http://127.0.0.1:{port}")
    );
    assert_eq!(
        j["healthz"],
        serde_json::json!({"url": format!("{base}/healthz"), "ok": true, "status": 200, "body": "live"})
    );
    assert_eq!(j["readyz"]["body"], "ready");
    assert!(j["control_plane_poll"]["value"].as_f64().unwrap() > 1.7e9);
    assert!(j.get("process").is_none());
    // Go's field order (serde_json::Value would sort them, so look at the text).
    let order: Vec<usize> = [
        "\"locator\"",
        "\"base_url\"",
        "\"ui_url\"",
        "\"healthz\"",
        "\"readyz\"",
        "\"control_plane_poll\"",
        "\"result\"",
    ]
    .iter()
    .map(|k| out.find(k).unwrap_or_else(|| panic!("{k} missing: {out}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
}

#[test]
fn not_ready_dead_or_missing_is_exit_2_and_bad_flags_exit_1() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let client = Client::start(&emu, &["--mcp.server-url".into(), closed_port_url()]);
    let base = client.health.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let (code, out, _) = health(&["--url", &base]);
        if out.contains("HTTP 503") {
            assert_eq!(code, 2);
            break out;
        }
        assert!(Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(out.contains("Healthz: PASS"), "{out}");
    assert!(
        out.contains(&format!(
            "Readyz: FAIL | {base}/readyz | HTTP 503 | channel main: "
        )),
        "{out}"
    );
    assert!(out.ends_with("Result: FAIL\n"), "{out}");

    // A pid that is not running.
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id().to_string();
    dead.wait().unwrap();
    let (code, out, _) = health(&["--url", &base, "--pid", &dead_pid]);
    assert_eq!(code, 2);
    assert!(
        out.contains(&format!("Process: FAIL | pid={dead_pid}")),
        "{out}"
    );

    // Nothing listening; a missing URL file; a PID file that is not a number.
    let (code, out, _) = health(&["--url", &closed_port_url()]);
    assert_eq!(code, 2);
    assert!(
        out.contains("Healthz: FAIL | ") && out.contains("connect"),
        "{out}"
    );
    let scratch = support::Scratch::new("health-cmd");
    let missing = scratch.path("nope.url");
    let (code, out, _) = health(&["--url-file", &missing.display().to_string()]);
    assert_eq!(code, 2);
    assert!(out.contains("Locator error: read "), "{out}");
    let bad_pid = scratch.path("pid");
    std::fs::write(&bad_pid, "abc\n").unwrap();
    let (code, out, _) = health(&[
        "--url",
        &base,
        "--pid-file",
        &bad_pid.display().to_string(),
        "--json",
    ]);
    assert_eq!(code, 2);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert!(
        j["process"]["error"]
            .as_str()
            .unwrap()
            .contains("as pid: \"abc\""),
        "{j}"
    );
    assert_eq!(j["process"]["running"], false);

    for (args, msg) in [
        (vec![], "choose exactly one of --url, --url-file, or --port"),
        (
            vec!["--url", "http://x", "--port", "1"],
            "choose exactly one",
        ),
        (
            vec!["--port", "1", "--pid", "2", "--pid-file", "f"],
            "choose at most one of --pid or --pid-file",
        ),
        (vec!["--port", "-1"], "--port must be positive"),
        (vec!["--port", "x"], "invalid argument"),
        (vec!["--frobnicate"], "unknown flag"),
    ] {
        let (code, out, err) = health(&args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    let (code, out, _) = health(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--require-control-plane-poll"));
}
