//! Fuzz target `proxy_reply`: see `check_proxy_reply` in `../checks.rs` for the invariant.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_proxy_reply(data));
