//! # tunnel-core
//!
//! The sans-IO protocol engine of the Secure MCP Tunnel client. It owns every protocol
//! decision (what to poll, how to route a command, when to retry a POST, what failure to
//! synthesize) and performs no I/O: inputs are plain values with the current time passed in,
//! outputs are polled. Adapters (`tunnel-blocking`, `tunnel-smol`) perform the side effects.
//!
//! See `docs/core.md` for the driver loop.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod channel;
pub mod classify;
pub mod codex;
pub mod egress;
pub mod engine;
pub mod explain;
pub mod harpoon;
pub mod headers;
pub mod http_head;
pub mod http_timing;
pub mod io_error;
pub mod mcp_http;
pub mod mcp_probe;
pub mod ndjson;
pub mod oauth;
pub mod proxy_health;
pub mod proxy_route;
pub mod reach;
pub mod retry_after;
pub mod sha256;
pub mod snapshot;
pub mod sse;
pub mod start;
pub mod stdio;
pub mod tap;
pub mod timeout;
pub mod trust;
pub mod wire;
