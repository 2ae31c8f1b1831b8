//! `std::io::Error` → [`TransportError`], written once for every adapter.
//!
//! An adapter knows the error (its kind, its OS error number, its message) and where in the
//! exchange it happened; what that means for the `tunnel_failure` a connector sees is a
//! protocol decision, so it lives here. Library-specific wrappers (ureq's error enum, a
//! rustls error inside an `io::Error`) stay in the adapter that knows the library and are
//! checked before this. Pure: the error's parts are passed in, nothing is read.

use std::io::ErrorKind;

use crate::classify::TransportError;

/// Where in an HTTP exchange an I/O error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Resolving and connecting (nothing sent yet).
    Connect,
    /// Sending the request or waiting for the response head.
    Head,
    /// Reading the response body.
    Body,
}

/// OS error numbers for unreachable networks and hosts (Linux), for platforms and std
/// versions that report them as an uncategorised kind.
const ENETUNREACH: i32 = 101;
const EHOSTUNREACH: i32 = 113;

/// Classifies an I/O error from its parts. The peer closing the connection is `eof` before
/// any response byte (the Go client's `io.EOF`) and `unexpected_eof` inside a body (a
/// truncated transfer); a failure while connecting that nothing else explains is `dial`.
pub fn classify(
    kind: ErrorKind,
    os_error: Option<i32>,
    message: &str,
    phase: Phase,
) -> TransportError {
    if is_dns_failure(kind, os_error, message) {
        return TransportError::Dns;
    }
    match kind {
        ErrorKind::ConnectionRefused => TransportError::ConnectionRefused,
        ErrorKind::ConnectionReset => TransportError::ConnectionReset,
        ErrorKind::ConnectionAborted => TransportError::ConnectionAborted,
        ErrorKind::BrokenPipe | ErrorKind::WriteZero => TransportError::ClosedPipe,
        ErrorKind::NotConnected => TransportError::ConnectionClosed,
        ErrorKind::UnexpectedEof => match phase {
            Phase::Body => TransportError::UnexpectedEof,
            Phase::Connect | Phase::Head => TransportError::Eof,
        },
        ErrorKind::TimedOut | ErrorKind::WouldBlock => TransportError::Timeout,
        ErrorKind::HostUnreachable => TransportError::HostUnreachable,
        ErrorKind::NetworkUnreachable | ErrorKind::NetworkDown => {
            TransportError::NetworkUnreachable
        }
        ErrorKind::AddrNotAvailable | ErrorKind::AddrInUse => TransportError::Dial,
        _ => match os_error {
            Some(ENETUNREACH) => TransportError::NetworkUnreachable,
            Some(EHOSTUNREACH) => TransportError::HostUnreachable,
            _ if phase == Phase::Connect => TransportError::Dial,
            _ => TransportError::Other,
        },
    }
}

/// Resolver failures come back as uncategorised I/O errors: recognised by the OS error on
/// Windows (`WSAHOST_NOT_FOUND`…) and by the resolver's message elsewhere (std: "failed to
/// lookup address information"; async-net: "… lookup …").
fn is_dns_failure(kind: ErrorKind, os_error: Option<i32>, message: &str) -> bool {
    if cfg!(windows) && matches!(os_error, Some(11001..=11004)) {
        return true;
    }
    kind != ErrorKind::ConnectionRefused && os_error.is_none() && message.contains("lookup")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_closing_is_eof_before_the_head_and_unexpected_eof_in_the_body() {
        let k = ErrorKind::UnexpectedEof;
        assert_eq!(classify(k, None, "", Phase::Head), TransportError::Eof);
        assert_eq!(classify(k, None, "", Phase::Connect), TransportError::Eof);
        assert_eq!(
            classify(k, None, "", Phase::Body),
            TransportError::UnexpectedEof
        );
    }

    #[test]
    fn kinds_map_to_their_transport_errors() {
        for (kind, want) in [
            (
                ErrorKind::ConnectionRefused,
                TransportError::ConnectionRefused,
            ),
            (ErrorKind::ConnectionReset, TransportError::ConnectionReset),
            (
                ErrorKind::ConnectionAborted,
                TransportError::ConnectionAborted,
            ),
            (ErrorKind::BrokenPipe, TransportError::ClosedPipe),
            (ErrorKind::WriteZero, TransportError::ClosedPipe),
            (ErrorKind::NotConnected, TransportError::ConnectionClosed),
            (ErrorKind::TimedOut, TransportError::Timeout),
            (ErrorKind::WouldBlock, TransportError::Timeout),
            (ErrorKind::HostUnreachable, TransportError::HostUnreachable),
            (
                ErrorKind::NetworkUnreachable,
                TransportError::NetworkUnreachable,
            ),
            (ErrorKind::NetworkDown, TransportError::NetworkUnreachable),
            (ErrorKind::AddrNotAvailable, TransportError::Dial),
        ] {
            assert_eq!(classify(kind, None, "", Phase::Head), want, "{kind:?}");
        }
    }

    #[test]
    fn uncategorised_errors_use_the_os_error_then_the_phase() {
        let k = ErrorKind::Other;
        assert_eq!(
            classify(k, Some(ENETUNREACH), "", Phase::Head),
            TransportError::NetworkUnreachable
        );
        assert_eq!(
            classify(k, Some(EHOSTUNREACH), "", Phase::Body),
            TransportError::HostUnreachable
        );
        assert_eq!(
            classify(k, Some(1), "", Phase::Connect),
            TransportError::Dial
        );
        assert_eq!(classify(k, Some(1), "", Phase::Head), TransportError::Other);
    }

    #[test]
    fn resolver_failures_are_dns_whatever_the_phase() {
        for msg in [
            "failed to lookup address information: Name or service not known",
            "could not lookup host",
        ] {
            assert_eq!(
                classify(ErrorKind::Other, None, msg, Phase::Connect),
                TransportError::Dns
            );
            assert_eq!(
                classify(ErrorKind::InvalidInput, None, msg, Phase::Head),
                TransportError::Dns
            );
        }
        // A refused connection whose message happens to mention a lookup is still refused.
        assert_eq!(
            classify(ErrorKind::ConnectionRefused, None, "lookup", Phase::Connect),
            TransportError::ConnectionRefused
        );
    }
}
