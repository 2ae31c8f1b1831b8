//! stdio bindings on the smol adapter with a real, deliberately rough child
//! (`adapters/blocking/tests/children/rough_stdio_child.py`, stdlib Python): colliding ids, late answers,
//! garbage on stdout, a crash mid-call. The scenarios are the ones tunnel-blocking runs
//! (`tunnel_conformance::stdio_scenarios`). Plus the start errors an operator sees.

mod stdio_support;

use stdio_support::*;
use tunnel_core::channel::ChannelName;
use tunnel_core::engine::BindingKind;
use tunnel_smol::{start, supports, RuntimeOptions, StartError, StdioCommandError, StdioTarget};

#[test]
fn colliding_ids_from_two_sessions_on_one_child() {
    let Some(argv) = rough() else { return };
    scenario::colliding_ids_from_two_sessions(&mut rig(argv));
}

#[test]
fn response_after_deadline_is_discarded() {
    let Some(argv) = rough() else { return };
    scenario::response_after_deadline_is_discarded(&mut rig(argv));
}

#[test]
fn malformed_stdout_lines_are_skipped() {
    let Some(argv) = rough() else { return };
    let mut r = rig_with(argv, |_, opts| opts.stdio.max_line_bytes = 4096);
    scenario::malformed_stdout_lines_are_skipped(&mut r);
}

#[test]
fn child_crash_fails_in_flight_then_the_child_restarts_and_serves() {
    let Some(argv) = rough() else { return };
    scenario::child_crash_fails_in_flight_then_restarts(&mut rig(argv));
}

#[test]
fn stdio_is_supported() {
    assert!(supports(BindingKind::Stdio));
}

#[test]
fn missing_executable_is_a_clear_start_error() {
    let emu = emulator();
    let opts = RuntimeOptions {
        stdio_targets: vec![StdioTarget::new(
            ChannelName::main(),
            [MISSING_PROGRAM, "--flag"],
        )],
        ..RuntimeOptions::default()
    };
    let err = start(engine_config(&emu), opts).err().expect("start fails");
    assert!(
        matches!(&err, StartError::StdioCommand { channel, command, reason: StdioCommandError::NotOnPath }
            if channel.as_str() == "main" && command == MISSING_PROGRAM),
        "{err:?}"
    );
    assert_missing_program_error(&err.to_string());
}

#[test]
fn stdio_binding_and_command_must_match() {
    let emu = emulator();
    let err = start(engine_config(&emu), RuntimeOptions::default())
        .err()
        .expect("start fails");
    assert!(
        err.to_string()
            .contains("channel main: stdio binding without an MCP command"),
        "{err}"
    );
    let mut cfg = engine_config(&emu);
    cfg.bindings.clear();
    let opts = RuntimeOptions {
        stdio_targets: vec![StdioTarget::new(ChannelName::main(), ["/bin/cat"])],
        ..RuntimeOptions::default()
    };
    let err = start(cfg, opts).err().expect("start fails");
    assert!(
        err.to_string().contains("the engine has no stdio binding"),
        "{err}"
    );
}
