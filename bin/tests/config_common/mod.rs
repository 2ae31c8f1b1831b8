//! Shared helpers for the config tests (included with `#[path]`; not a test target itself
//! because it has no `#[test]`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use tunnel_client::config::{load, Command, ConfigErrors, Loaded, RealFiles};

pub const TID: &str = "tunnel_0123456789abcdef0123456789abcdef";

pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A minimal valid environment: tunnel id, key and a main HTTP binding.
pub fn base_env() -> BTreeMap<String, String> {
    env(&[
        ("CONTROL_PLANE_TUNNEL_ID", TID),
        ("CONTROL_PLANE_API_KEY", "sk-test_runtime_key_1234567890"),
        ("MCP_SERVER_URL", "http://127.0.0.1:3001/mcp"),
    ])
}

pub fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

static N: AtomicUsize = AtomicUsize::new(0);

/// A fresh, unique temp directory.
pub fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tc-config-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `content` to `<fresh dir>/<name>` and returns the path.
pub fn write_file(name: &str, content: &str) -> PathBuf {
    let p = temp_dir().join(name);
    std::fs::write(&p, content).unwrap();
    p
}

pub fn load_run(a: &[&str], e: &BTreeMap<String, String>) -> Result<Loaded, ConfigErrors> {
    load(Command::Run, &args(a), e, &RealFiles)
}

pub fn ok(a: &[&str], e: &BTreeMap<String, String>) -> Loaded {
    match load_run(a, e) {
        Ok(l) => l,
        Err(err) => panic!("expected success for {a:?}, got:\n{err}"),
    }
}

pub fn err(a: &[&str], e: &BTreeMap<String, String>) -> String {
    match load_run(a, e) {
        Ok(_) => panic!("expected an error for {a:?}"),
        Err(err) => err.to_string(),
    }
}
