//! Sub-commands of the `tunnel-client` binary.

pub mod args;
pub mod demo;
pub mod dev;
pub mod run;
