//! Sub-commands of the `tunnel-client` binary.

pub mod admin;
pub mod api_errors;
pub mod args;
pub mod codex;
pub mod completion;
#[cfg(feature = "dev-tools")]
pub mod demo;
#[cfg(feature = "dev-tools")]
pub mod dev;
#[cfg(feature = "dev-tools")]
pub mod dev_proxy;
pub mod doctor;
pub mod health;
pub mod help_topics;
pub mod init;
pub mod opts;
pub mod preflight;
pub mod profiles;
pub mod run;
pub mod runtimes;
pub mod samples;
