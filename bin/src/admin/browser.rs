//! `--open-web-ui`: open the UI in the desktop browser, when there is one. Never fatal:
//! a failure is one log line with the URL to open by hand.

use std::process::{Command, Stdio};

/// The command that opens a URL on this platform, or why there is none.
fn opener() -> Result<(&'static str, Vec<&'static str>), &'static str> {
    if cfg!(target_os = "macos") {
        Ok(("open", vec![]))
    } else if cfg!(windows) {
        // No shell: `start` would re-parse the URL.
        Ok(("rundll32", vec!["url.dll,FileProtocolHandler"]))
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        Ok(("xdg-open", vec![]))
    } else {
        Err("no graphical session (DISPLAY and WAYLAND_DISPLAY are unset)")
    }
}

/// Opens `url` on a background thread.
pub fn open(url: String) {
    let spawned = std::thread::Builder::new()
        .name("open-web-ui".into())
        .spawn(move || match opener() {
            Err(why) => log::info!("--open-web-ui: {why}; open {url} in a browser yourself"),
            Ok((program, args)) => {
                let status = Command::new(program)
                    .args(args)
                    .arg(&url)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                match status {
                    Ok(s) if s.success() => log::info!("opened the web UI in a browser: {url}"),
                    Ok(s) => log::warn!(
                        "--open-web-ui: {program} exited with {s}; open {url} in a browser yourself"
                    ),
                    Err(e) => log::warn!(
                        "--open-web-ui: cannot run {program}: {e}; open {url} in a browser yourself"
                    ),
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("--open-web-ui: cannot start a thread: {e}");
    }
}
