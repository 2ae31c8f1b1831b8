//! `--log.level`, `--log.format` and `--log.file` with the Go client's semantics: the file
//! is appended and created 0600; struct-text and json go to stdout, the plain format to
//! stderr; a non-info level needs struct-text or json unless `text` is chosen explicitly.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{base_args, run_to_exit, Scratch, BIN};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

/// Runs the client until its health URL file appears plus `linger`, then kills it.
/// Returns (stdout, stderr).
fn run_briefly(
    emu: &Emulator,
    mcp: &McpStub,
    extra: &[&str],
    linger: Duration,
) -> (String, String) {
    let scratch = Scratch::new("logflags");
    let url_file = scratch.path("health.url");
    let mut child = Command::new(BIN)
        .arg("run")
        .args(base_args(emu))
        .args(["--mcp.server-url", &mcp.url()])
        .args(extra)
        .arg("--health.url-file")
        .arg(&url_file)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CONTROL_PLANE_API_KEY", emu.api_key())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !url_file.exists() {
        if let Ok(Some(s)) = child.try_wait() {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("exited early with {s}: {err}");
        }
        assert!(Instant::now() < deadline, "no health URL");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(linger);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn log_file_is_appended_with_mode_0600_in_the_chosen_format() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mcp = McpStub::start(StubConfig::default()).unwrap();
    let scratch = Scratch::new("logfile");
    let file = scratch.path("client.log");
    let f = file.display().to_string();
    // No format given: a log file implies struct-text (Go).
    let (out, err) = run_briefly(&emu, &mcp, &["--log.file", &f], Duration::ZERO);
    assert!(
        !out.contains("level=") && !err.contains("level="),
        "{out}{err}"
    );
    let first = std::fs::read_to_string(&file).unwrap();
    assert!(
        first
            .lines()
            .any(|l| l.starts_with("time=") && l.contains(" level=INFO msg=")),
        "{first}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (_, _) = run_briefly(
        &emu,
        &mcp,
        &["--log.file", &f, "--log.format", "json"],
        Duration::ZERO,
    );
    let both = std::fs::read_to_string(&file).unwrap();
    assert!(both.starts_with(&first), "appended, not truncated");
    let json_lines: Vec<serde_json::Value> = both[first.len()..]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!json_lines.is_empty());
    for v in &json_lines {
        for k in [
            "time",
            "level",
            "msg",
            "target",
            "client_instance_id",
            "tunnel_id",
        ] {
            assert!(v[k].is_string(), "{k} missing: {v}");
        }
        assert_eq!(v["tunnel_id"], emu.tunnel_id());
    }
}

#[test]
fn structured_formats_go_to_stdout_and_text_to_stderr() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mcp = McpStub::start(StubConfig::default()).unwrap();
    let (out, err) = run_briefly(&emu, &mcp, &["--log.format", "json"], Duration::ZERO);
    assert!(
        out.lines()
            .any(|l| l.starts_with('{') && l.contains("tunnel-client started")),
        "{out}"
    );
    assert!(!err.contains("tunnel-client started"), "{err}");
    let (out, err) = run_briefly(
        &emu,
        &mcp,
        &["--log.format", "struct-text", "--log.level", "debug"],
        Duration::from_millis(2500),
    );
    assert!(
        out.contains("level=DEBUG"),
        "debug lines at debug level: {out}"
    );
    assert!(!err.contains("level="), "{err}");
    let (out, err) = run_briefly(&emu, &mcp, &[], Duration::ZERO);
    assert!(
        err.contains("INFO") && err.contains("tunnel-client started"),
        "{err}"
    );
    assert!(!out.contains("tunnel-client started"), "{out}");
    // Explicit `text` (ours) allows another level.
    let (_, err) = run_briefly(
        &emu,
        &mcp,
        &["--log.format", "text", "--log.level", "warn"],
        Duration::ZERO,
    );
    assert!(!err.contains(" INFO "), "warn level hides info: {err}");
}

#[test]
fn level_and_format_errors_name_the_setting() {
    let base = [
        "--control-plane.tunnel-id",
        "tunnel_0123456789abcdef0123456789abcdef",
        "--mcp.server-url",
        "http://127.0.0.1:9/mcp",
    ];
    let env = [("CONTROL_PLANE_API_KEY", "k")];
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        run_to_exit(&a, env)
    };
    let (code, _, err) = run(&["--log.level", "debug"], &env);
    assert_eq!(code, 1);
    assert!(
        err.contains("log level requires 'struct-text' or 'json' log format")
            && err.contains("--log.level"),
        "{err}"
    );
    let (code, _, err) = run(
        &[],
        &[("CONTROL_PLANE_API_KEY", "k"), ("LOG_LEVEL", "warn")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("LOG_LEVEL"), "{err}");
    let (code, _, err) = run(&["--log.format", "yaml"], &env);
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown log format") && err.contains("--log.format"),
        "{err}"
    );
    let (code, _, err) = run(&["--log.level", "loud", "--log.format", "json"], &env);
    assert_eq!(code, 1);
    assert!(err.contains("unknown log level"), "{err}");
}
