//! Links the git revision into `--version` when built from a checkout, as the Go client does
//! (`<semver>+<sha>`). From a tarball, or without git, nothing is set and `--version` prints
//! the bare version; the build never fails for want of git.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let Some(sha) = git(&dir, &["rev-parse", "HEAD"]) else {
        return;
    };
    if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return;
    }
    println!("cargo:rustc-env=TUNNEL_CLIENT_GIT_SHA={sha}");
    // Rebuild when this checkout moves: its HEAD, the branch it points at (loose or packed).
    // Not the whole refs directory: other worktrees' commits must not rebuild this one.
    if let Some(head) = git(
        &dir,
        &["rev-parse", "--path-format=absolute", "--git-path", "HEAD"],
    ) {
        println!("cargo:rerun-if-changed={head}");
    }
    if let Some(branch) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
        for path in [branch.as_str(), "packed-refs"] {
            // Only files that exist: cargo reruns the script on every build for a missing one.
            let p = git(
                &dir,
                &["rev-parse", "--path-format=absolute", "--git-path", path],
            );
            if let Some(p) = p.filter(|p| Path::new(p).exists()) {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
}
