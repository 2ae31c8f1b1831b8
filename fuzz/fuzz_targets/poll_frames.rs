//! Fuzz target `poll_frames`: arbitrary bytes as the body of a 200 poll, through
//! `decode_poll_body` and the engine, driven until every exchange is answered (see
//! `check_poll_frames` in `../checks.rs` for the invariants).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_poll_frames(data));
