//! Conformance kit: the control-plane emulator, the demo MCP stub, and (later) the trace
//! format and replay runner.

pub mod emulator;
pub mod mcp_stub;
pub mod peers;
