//! stdio children that misbehave (`adapters/blocking/tests/children/rough_stdio_child.py`, stdlib Python):
//! late answers, garbage on stdout, crashes, and a client killed with SIGKILL. Plus the
//! start errors an operator sees for a bad command.

mod stdio_support;

use std::time::Duration;

use serde_json::json;
use stdio_support::*;
use tunnel_blocking::{Runtime, RuntimeOptions, StartError, StdioCommandError, StdioTarget};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_core::channel::ChannelName;

/// The rough child's command, or `None` (skip) without a Python.
fn rough() -> Option<Vec<String>> {
    rough_stdio_child(Some(&peers()))
}

#[test]
fn response_after_deadline_is_discarded() {
    let Some(argv) = rough() else { return };
    scenario::response_after_deadline_is_discarded(&mut rig(argv));
}

#[test]
fn garbage_and_an_overlong_line_do_not_crash_the_client() {
    let Some(argv) = rough() else { return };
    let mut r = rig_with(argv, |_, opts| opts.stdio.max_line_bytes = 4096);
    scenario::malformed_stdout_lines_are_skipped(&mut r);
}

#[test]
fn child_that_exits_mid_call_is_restarted_and_serves_again() {
    let Some(argv) = rough() else { return };
    scenario::child_crash_fails_in_flight_then_restarts(&mut rig(argv));
}

#[test]
fn colliding_ids_from_two_sessions_on_the_rough_child() {
    let Some(argv) = rough() else { return };
    scenario::colliding_ids_from_two_sessions(&mut rig(argv));
}

#[test]
fn missing_executable_is_a_clear_start_error() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let opts = RuntimeOptions {
        stdio_targets: vec![StdioTarget::new(
            ChannelName::main(),
            [MISSING_PROGRAM, "--flag"],
        )],
        ..RuntimeOptions::default()
    };
    let err = Runtime::start(engine_config(&emu), opts)
        .err()
        .expect("start fails");
    assert!(
        matches!(&err, StartError::StdioCommand { channel, command, reason: StdioCommandError::NotOnPath }
            if channel.as_str() == "main" && command == MISSING_PROGRAM),
        "{err:?}"
    );
    assert_missing_program_error(&err.to_string());
}

#[test]
fn stdio_binding_needs_a_command() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let err = Runtime::start(engine_config(&emu), RuntimeOptions::default())
        .err()
        .expect("start fails");
    assert!(
        err.to_string()
            .contains("channel main: stdio binding without an MCP command"),
        "{err}"
    );
}

/// Re-executed by `no_orphan_after_sigkill_of_the_client` as a separate client process:
/// starts a runtime with a stdio child, prints the child's pid, and waits to be killed.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "helper process for no_orphan_after_sigkill_of_the_client"]
fn orphan_helper() {
    use std::io::Write;
    if std::env::var_os("TUNNEL_STDIO_ORPHAN_HELPER").is_none() {
        return;
    }
    let Some(mut argv) = rough() else { return };
    // A child that ignores stdin EOF: only the death signal can end it.
    argv.push("--linger".into());
    let r = rig(argv);
    // Fully up (banner written, answering), so nothing but the death signal can end it.
    let echo = r.call(tool(json!(1), "echo", json!({"text":"up"})));
    assert_eq!(text_of(&echo[0]), "up");
    let me = std::process::id();
    wait_for("the child", || {
        !children_of(me, "rough_stdio_child").is_empty()
    });
    let pid = children_of(me, "rough_stdio_child")[0];
    println!("CHILD_PID={pid}");
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(60));
}

#[cfg(target_os = "linux")]
#[test]
fn no_orphan_after_sigkill_of_the_client() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    if rough().is_none() {
        return;
    }
    let mut helper = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "orphan_helper",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TUNNEL_STDIO_ORPHAN_HELPER", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("helper starts");
    let stdout = helper.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some((_, pid)) = line.split_once("CHILD_PID=") {
                let _ = tx.send(pid.trim().parse::<u32>().ok());
                return;
            }
        }
        let _ = tx.send(None);
    });
    let pid = rx.recv_timeout(WAIT).ok().flatten();
    let Some(pid) = pid else {
        let _ = helper.kill();
        panic!("the helper did not report its child");
    };
    assert!(alive(pid));
    helper.kill().expect("SIGKILL the client");
    helper.wait().expect("reap the client");
    wait_for("the orphaned child to die", || !alive(pid));
}
