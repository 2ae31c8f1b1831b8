//! Sub-commands of the `tunnel-client` binary.

pub mod args;
pub mod demo;
pub mod dev;
pub mod help_topics;
pub mod opts;
pub mod run;
