//! Issue #16 item 6, as a new user meets them: output into a closed pipe, `--help` on the
//! one-machine commands, and what `--version` says.

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tunnel-client");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tunnel-client")
}

/// Runs a command whose stdout is a pipe with no reader left, as in `… | head -1` once
/// `head` has exited: every write gets EPIPE.
#[cfg(unix)]
fn run_into_closed_pipe(args: &[&str]) -> Output {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills the two-element array it is given.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned here alone.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .expect("run tunnel-client")
}

#[cfg(unix)]
#[test]
fn output_into_a_closed_pipe_is_a_quiet_exit() {
    for args in [
        &["help", "run"][..],
        &["help"],
        &["--version"],
        &["help", "quickstart"],
        &["run", "--help"],
        &["demo", "--help"],
        &["profiles", "samples", "list"],
        &["completion", "bash"],
        &["health", "--help"],
    ] {
        let out = run_into_closed_pipe(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{args:?}: {:?}\n{stderr}",
            out.status
        );
    }
}

#[test]
fn demo_and_dev_commands_answer_help() {
    for (args, usage) in [
        (&["demo", "--help"][..], "Usage: tunnel-client demo"),
        (&["demo", "-h"], "Usage: tunnel-client demo"),
        (&["help", "demo"], "Usage: tunnel-client demo"),
        (
            &["dev", "control-plane", "--help"],
            "Usage: tunnel-client dev control-plane",
        ),
        (
            &["dev", "control-plane", "-h"],
            "Usage: tunnel-client dev control-plane",
        ),
        (
            &["dev", "mcp-stub", "--help"],
            "Usage: tunnel-client dev mcp-stub",
        ),
        (
            &["help", "dev", "mcp-stub"],
            "Usage: tunnel-client dev mcp-stub",
        ),
    ] {
        let out = run(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with(usage),
            "{args:?}: {:?}\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every flag the command takes is listed.
    let out =
        String::from_utf8_lossy(&run(&["dev", "control-plane", "--help"]).stdout).into_owned();
    for flag in [
        "--listen-addr",
        "--tunnel-id",
        "--api-key",
        "--admin-key",
        "--url-path",
    ] {
        assert!(out.contains(flag), "{flag} missing:\n{out}");
    }
}

/// The revision of the checkout this test was built from, or `None` from a tarball.
fn checkout_revision() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn version_names_the_git_revision_when_built_from_a_checkout() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    let expected = match checkout_revision() {
        Some(sha) => format!(
            "{}+{} (git sha: {sha})\n",
            env!("CARGO_PKG_VERSION"),
            &sha[..12]
        ),
        None => format!("{}\n", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(printed, expected);
    assert_eq!(String::from_utf8_lossy(&run(&["version"]).stdout), expected);
}
