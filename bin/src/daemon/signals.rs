//! SIGTERM / SIGINT: the first starts a graceful drain, a second one exits at once.
//!
//! signal-hook runs the async-signal-safe part (a self-pipe write) in the handler and
//! delivers the signals to an ordinary thread, where calling into the runtime is safe.
//! Windows: not installed (Ctrl-C ends the process without a drain); documented in
//! `docs/run.md`.

use crate::daemon::tunnel::TunnelHandle;

/// Stops the signal thread when closed.
pub struct Installed {
    #[cfg(unix)]
    handle: signal_hook::iterator::Handle,
}

impl Installed {
    pub fn close(self) {
        #[cfg(unix)]
        self.handle.close();
    }
}

#[cfg(unix)]
pub fn install(runtime: TunnelHandle) -> std::io::Result<Installed> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    let handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                if seen == 1 {
                    log::info!("{name} received: draining (no new polls; finishing in-flight commands; send it again to stop at once)");
                    // Under systemd: the unit shows "deactivating" while the drain runs.
                    let _ = super::notify::notify("STOPPING=1\nSTATUS=draining");
                    runtime.begin_drain();
                } else {
                    log::warn!("{name} received again: stopping now without finishing in-flight commands");
                    std::process::exit(1);
                }
            }
        })?;
    Ok(Installed { handle })
}

#[cfg(not(unix))]
pub fn install(_runtime: TunnelHandle) -> std::io::Result<Installed> {
    Ok(Installed {})
}
