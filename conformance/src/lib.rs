//! Conformance kit: the control-plane emulator, the demo MCP stub, the trace format, the
//! trace recorder and the replay runners.

pub mod emulator;
pub mod mcp_stub;
pub mod peers;
pub mod trace;
