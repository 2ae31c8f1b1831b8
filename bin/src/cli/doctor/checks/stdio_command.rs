//! Whether a stdio MCP server's command can be started: the stdio preflight (executable
//! found, `PATHEXT` on Windows, the `#!` interpreter) reported as a check.

use super::why;
use crate::cli::doctor::report::Check;
use crate::cli::preflight;
use crate::config::{redact_text, Env, StdioBinding};

pub(super) fn stdio_check(b: &StdioBinding, env: &dyn Env) -> Check {
    match preflight::check_argv(&b.argv, env) {
        Ok(p) => Check::pass("mcp_command_executable", p.executable.display().to_string())
            .evidence(p.evidence),
        Err(e) => Check::fail("mcp_command_executable", e.problem.clone())
            .why(why("mcp_command_executable"))
            .evidence(
                std::iter::once(format!("command: {}", redact_text(&b.command_line)))
                    .chain(e.evidence.iter().cloned()),
            )
            .next([
                e.fix.clone(),
                "the command is split like a shell would, but not run through one: no $VAR expansion; use sh -c '…' if you need a shell".into(),
            ]),
    }
}
