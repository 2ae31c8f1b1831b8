//! Fuzz target `prmd`: arbitrary bytes as a metadata document, as a `WWW-Authenticate`
//! header, and as a script of peer answers driving an OAuth metadata `Discovery` (see
//! `check_prmd` in `../checks.rs` for the invariants).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_prmd(data));
