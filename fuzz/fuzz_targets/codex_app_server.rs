//! Fuzz target `codex_app_server`: arbitrary bytes as `codex app-server` stdout through the
//! sans-IO session and turn tracker (see `check_codex_app_server` in `../checks.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_codex_app_server(data));
