//! stdio bindings on the smol adapter with the real MCP server-everything
//! (`@modelcontextprotocol/server-everything`) as the child, through the emulator. Skipped
//! (with a printed reason) when the peers are not installed; under `CI=true` that fails.

mod stdio_support;

use stdio_support::*;

#[test]
fn everything_round_trip_over_stdio() {
    let p = Peers::require();
    scenario::everything_round_trip(&mut rig(p.everything_stdio_argv()));
}

#[test]
fn progress_notifications_reach_the_right_command_before_its_terminal() {
    let p = Peers::require();
    scenario::progress_reaches_the_right_command(&mut rig(p.everything_stdio_argv()));
}
