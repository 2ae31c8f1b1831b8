//! Fuzz target `response_timeout`: see `check_response_timeout` in `../checks.rs` for the invariant.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_response_timeout(data));
