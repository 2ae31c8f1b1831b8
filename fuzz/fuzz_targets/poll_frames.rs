//! Fuzz target `poll_frames`: placeholder until the engine's poll decoder exists; for now it
//! only round-trips `serde_json::Value` (see `check_poll_frames` in `../checks.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_poll_frames(data));
