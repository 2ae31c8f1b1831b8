//! Replays the kept fuzz corpus through the fuzz targets' own checks on stable Rust, so the
//! invariants are enforced in CI even where nightly (and so `cargo fuzz`) is unavailable.

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} unreadable: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    for file in corpus(target) {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} violates an invariant", file.display());
    }
}

#[test]
fn fuzz_corpus_sse() {
    replay("sse", checks::check_sse);
}

#[test]
fn fuzz_corpus_stdio_frames() {
    replay("stdio_frames", checks::check_stdio_frames);
}

#[test]
fn fuzz_corpus_response_timeout() {
    replay("response_timeout", checks::check_response_timeout);
}

#[test]
fn fuzz_corpus_poll_frames() {
    replay("poll_frames", checks::check_poll_frames);
}

#[test]
fn fuzz_corpus_prmd() {
    replay("prmd", checks::check_prmd);
}

#[test]
fn fuzz_corpus_http_head() {
    replay("http_head", checks::check_http_head);
}

#[test]
fn fuzz_corpus_codex_app_server() {
    replay("codex_app_server", checks::check_codex_app_server);
}

#[test]
fn fuzz_corpus_harpoon_url() {
    replay("harpoon_url", checks::check_harpoon_url);
}

#[test]
fn fuzz_corpus_proxy_reply() {
    replay("proxy_reply", checks::check_proxy_reply);
}

#[test]
fn fuzz_corpus_harpoon_hostbus() {
    replay("harpoon_hostbus", checks::check_harpoon_hostbus);
}
