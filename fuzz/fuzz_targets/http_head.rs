//! Fuzz target `http_head`: see `check_http_head` in `../checks.rs` for the invariant.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_http_head(data));
