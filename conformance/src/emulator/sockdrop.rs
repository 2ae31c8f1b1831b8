//! Closing a connection that tiny_http owns.
//!
//! tiny_http never hands out the `TcpStream` behind a request, yet two things need it: the
//! "drop the connection without a response" fault, and shutdown (tiny_http's connection
//! threads block in `read` with no timeout until the peer goes away). On Unix every socket
//! of the process is reachable by its file descriptor, so we find the accepted socket by its
//! (local, peer) address pair and `shutdown(2)` it. Shutdown does not close the descriptor:
//! tiny_http still owns it and closes it when its thread notices EOF.

use std::net::SocketAddr;

/// Shuts down (both directions) every accepted socket whose local address is `listener` and,
/// when `peer` is given, whose peer address is `peer`. Returns whether one was found.
#[cfg(unix)]
pub(crate) fn shutdown_matching(listener: SocketAddr, peer: Option<SocketAddr>) -> bool {
    use std::mem::ManuallyDrop;
    use std::net::{Shutdown, TcpStream};
    use std::os::fd::FromRawFd;

    let mut found = false;
    for fd in candidate_fds() {
        // SAFETY: the descriptor is only borrowed: ManuallyDrop guarantees we never close it,
        // and the calls made (getsockname, getpeername, shutdown) are harmless on a descriptor
        // that turns out not to be a socket (ENOTSOCK) or was closed meanwhile (EBADF).
        let stream = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
        let (Ok(local), Ok(remote)) = (stream.local_addr(), stream.peer_addr()) else {
            continue;
        };
        if local == listener && peer.is_none_or(|p| p == remote) {
            let _ = stream.shutdown(Shutdown::Both);
            found = true;
            if peer.is_some() {
                break;
            }
        }
    }
    found
}

/// Descriptors worth inspecting: on Linux only those `/proc` says are sockets.
#[cfg(unix)]
fn candidate_fds() -> Vec<i32> {
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        return dir
            .filter_map(Result::ok)
            .filter(|e| {
                std::fs::read_link(e.path())
                    .map(|t| t.to_string_lossy().starts_with("socket:"))
                    .unwrap_or(false)
            })
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
    }
    (3..4096).collect()
}

/// Without Unix descriptors there is no way to reach tiny_http's socket; callers fall back.
#[cfg(not(unix))]
pub(crate) fn shutdown_matching(_listener: SocketAddr, _peer: Option<SocketAddr>) -> bool {
    false
}
