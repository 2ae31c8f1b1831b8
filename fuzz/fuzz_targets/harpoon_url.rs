//! Fuzz target `harpoon_url`: a Harpoon target URL and a chain of redirect `Location`s
//! (one per line) through URL normalisation, the exact-URL allowlist and the redirect
//! policy (see `check_harpoon_url` in `../checks.rs` for the invariants).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_harpoon_url(data));
