//! systemd's readiness protocol (`Type=notify`), without a systemd crate: when the service
//! manager sets `NOTIFY_SOCKET`, `run` sends `READY=1` once `/readyz` would answer 200, and
//! `STOPPING=1` when a drain starts. The protocol is one datagram of `KEY=VALUE` lines to a
//! Unix socket (a path, or an abstract name written `@name`); sd_notify(3) documents it.
//! Without `NOTIFY_SOCKET` (not under systemd, or `Type=simple`) nothing is sent.

use std::io;
use std::time::Duration;

use crate::daemon::tunnel::TunnelHandle;

/// How often readiness is re-checked until it first holds.
const READY_CHECK: Duration = Duration::from_millis(100);

/// Sends `state` (e.g. `"READY=1"`) to `$NOTIFY_SOCKET`; `Ok(false)` when it is unset.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) if !socket.is_empty() => send_to(&socket, state).map(|()| true),
        _ => Ok(false),
    }
}

#[cfg(unix)]
fn send_to(socket: &std::ffi::OsStr, state: &str) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;

    let sock = UnixDatagram::unbound()?;
    match socket.as_bytes().strip_prefix(b"@") {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(name) => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        }
        _ => {
            sock.send_to(state.as_bytes(), socket)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn send_to(_socket: &std::ffi::OsStr, _state: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "NOTIFY_SOCKET is a Unix socket",
    ))
}

/// Under systemd, a thread that sends `READY=1` the first time readiness holds (the rule
/// of `/readyz`), then ends. It also ends, silently, if the runtime stops first.
pub fn spawn_ready_watch(runtime: TunnelHandle) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("sd-notify".into())
        .spawn(move || loop {
            let now = runtime.snapshot();
            if now.stopped {
                return;
            }
            if now.readiness.is_ok() {
                match notify("READY=1\nSTATUS=ready: polling the control plane") {
                    Ok(_) => log::info!("systemd notified: READY=1"),
                    Err(e) => log::warn!("cannot notify systemd (NOTIFY_SOCKET): {e}"),
                }
                return;
            }
            std::thread::sleep(READY_CHECK);
        });
    if let Err(e) = spawned {
        log::warn!("cannot start the systemd readiness notifier: {e}");
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn a_datagram_reaches_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("tc-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        send_to(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_datagram_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("tc-notify-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        send_to(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let err = send_to(std::ffi::OsStr::new("/nonexistent/notify.sock"), "READY=1");
        assert!(err.is_err());
    }
}
