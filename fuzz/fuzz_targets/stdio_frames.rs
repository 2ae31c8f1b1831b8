//! Fuzz target `stdio_frames`: see `check_stdio_frames` in `../checks.rs` for the invariant.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_stdio_frames(data));
