//! Fuzz target `harpoon_hostbus`: untrusted OAuth metadata through the bundle builder and
//! Harpoon host registration (see `check_harpoon_hostbus` in `../checks.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_harpoon_hostbus(data));
