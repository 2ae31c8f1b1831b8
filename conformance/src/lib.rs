//! Conformance kit: the control-plane emulator, the demo MCP stub, the trace format, the
//! trace recorder and the replay runners, and the shared half of the adapters' stdio
//! end-to-end tests (`stdio_rig`, `stdio_scenarios`), and the enterprise-network kit both
//! adapters' tests use (`net_kit`: a private CA, TLS fronts, a recording proxy, a unix front).

pub mod emulator;
pub mod mcp_stub;
pub mod net_kit;
pub mod peers;
pub mod stdio_rig;
pub mod stdio_scenarios;
pub mod trace;
