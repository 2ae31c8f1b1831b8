//! OS entropy for the two things the core cannot make itself: the jitter seed and the
//! process-scoped instance id. No crate is needed: `/dev/urandom` where it exists, and
//! std's `RandomState` (seeded by the OS per process) everywhere as a fallback.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// The placeholder `EngineConfig::new` puts into `instance_id`.
pub const PLACEHOLDER_INSTANCE_ID: &str = "00000000000000000000000000000000";

/// `n` random bytes from the OS.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    if !fill_from_urandom(&mut out) {
        fill_from_random_state(&mut out);
    }
    out
}

#[cfg(unix)]
fn fill_from_urandom(buf: &mut [u8]) -> bool {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .is_ok()
}

/// Windows has no `/dev/urandom`; `RandomState` draws its keys from the OS there.
#[cfg(not(unix))]
fn fill_from_urandom(_buf: &mut [u8]) -> bool {
    false
}

fn fill_from_random_state(buf: &mut [u8]) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    for (i, chunk) in buf.chunks_mut(8).enumerate() {
        // A fresh RandomState per chunk: each gets new keys (std increments them).
        let mut h = RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_usize(i);
        h.write_u32(std::process::id());
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// A seed for the engine's jitter PRNG.
pub fn seed() -> u64 {
    let b = random_bytes(8);
    let mut a = [0u8; 8];
    a.copy_from_slice(&b);
    u64::from_le_bytes(a)
}

/// A fresh 32-lower-case-hex-character instance id.
pub fn instance_id() -> String {
    random_bytes(16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_32_hex_and_differ() {
        let a = instance_id();
        let b = instance_id();
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert_ne!(a, PLACEHOLDER_INSTANCE_ID);
    }

    #[test]
    fn fallback_fills_every_byte_and_differs() {
        let mut a = [0u8; 20];
        let mut b = [0u8; 20];
        fill_from_random_state(&mut a);
        fill_from_random_state(&mut b);
        assert_ne!(a, b);
    }
}
