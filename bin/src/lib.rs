//! Library half of the `tunnel-client` binary: configuration, commands, admin server.
//! Kept as a library so integration tests and the conformance runner can reuse it.

pub mod admin;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod logging;
