//! How the smol adapter's stdio children end (Linux: checked in `/proc`): a drain closes
//! the child; one that ignores its stdin closing is terminated after the grace period; a
//! driver dropped unfinished kills it. Each test tags its child's command line so that
//! tests running in parallel find only their own.
#![cfg(target_os = "linux")]

mod stdio_support;

use std::time::Duration;

use serde_json::json;
use stdio_support::*;
use tunnel_smol::{start, Finished, RuntimeOptions, StdioTarget};

/// The rough child's command with a tag (and more arguments), or `None` (skip).
fn tagged(tag: &str, more: &[&str]) -> Option<Vec<String>> {
    let mut argv = rough()?;
    argv.push(format!("--tag={tag}"));
    argv.extend(more.iter().map(|s| s.to_string()));
    Some(argv)
}

/// The one child whose command line carries `tag`.
fn child_with(tag: &str) -> u32 {
    let me = std::process::id();
    wait_for("the child", || children_of(me, tag).len() == 1);
    children_of(me, tag)[0]
}

#[test]
fn drain_closes_the_child() {
    let tag = "smol-drain-closes";
    let Some(argv) = tagged(tag, &[]) else { return };
    let mut r = rig(argv);
    let echo = r.call_echo("up");
    assert_eq!(echo, "up");
    let pid = child_with(tag);
    r.stop();
    assert!(!alive(pid), "the child is gone once the driver returned");
}

#[test]
fn child_ignoring_stdin_eof_is_terminated_after_the_grace() {
    let tag = "smol-linger";
    let Some(argv) = tagged(tag, &["--linger"]) else {
        return;
    };
    let mut r = rig_with(argv, |_, opts| {
        opts.stdio.shutdown_grace = Duration::from_millis(300)
    });
    assert_eq!(r.call_echo("up"), "up");
    let pid = child_with(tag);
    let t0 = std::time::Instant::now();
    r.stop();
    assert!(!alive(pid), "SIGTERM to the group ended it");
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "the grace was given"
    );
}

#[test]
fn dropping_the_driver_unfinished_kills_the_child() {
    let tag = "smol-dropped";
    let Some(argv) = tagged(tag, &["--linger"]) else {
        return;
    };
    let emu = emulator();
    let opts = RuntimeOptions {
        stdio_targets: vec![StdioTarget::new(
            tunnel_core::channel::ChannelName::main(),
            argv,
        )],
        ..RuntimeOptions::default()
    };
    let (_handle, driver) = start(engine_config(&emu), opts).expect("driver starts");
    let (tx, rx) = async_channel::bounded::<()>(1);
    // The host gives up on the driver: `or` returns and drops it mid-run.
    let thread = std::thread::spawn(move || {
        futures_lite::future::block_on(futures_lite::future::or(driver, async {
            let _ = rx.recv().await;
            Finished { abandoned: 0 }
        }))
    });
    let pid = child_with(tag);
    let _ = tx.send_blocking(());
    thread.join().expect("host thread");
    wait_for("the child to be killed", || !alive(pid));
}

trait Echo {
    fn call_echo(&self, text: &str) -> String;
}

impl Echo for Rig {
    fn call_echo(&self, text: &str) -> String {
        let posts = call(
            &self.emu,
            &self.events,
            tool(json!(1), "echo", json!({ "text": text })),
        );
        text_of(posts.last().expect("a post"))
    }
}
