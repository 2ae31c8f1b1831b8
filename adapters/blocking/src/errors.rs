//! Mapping ureq / io failures onto the core's [`TransportError`].
//!
//! The core turns a `TransportError` into the `source` / `transport_error_kind` of a
//! `tunnel_failure` and into poll backoff decisions, so this mapping is what makes failures
//! "classified precisely" (DESIGN §5.5). What ureq's own error enum means is decided here;
//! a plain `io::Error` is classified by the core (`tunnel_core::io_error`), the same
//! function the smol adapter uses.

use std::io;

use tunnel_core::classify::TransportError;

/// Where in the exchange the error happened (the core's phases; ureq reports "the peer
/// closed the connection" as `UnexpectedEof` before the head and inside a body alike).
pub use tunnel_core::io_error::Phase;

/// Classifies a ureq error.
pub fn classify(err: &ureq::Error, phase: Phase) -> TransportError {
    match err {
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::HostNotFound => TransportError::Dns,
        ureq::Error::Io(e) => classify_io(e, phase),
        ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::TlsRequired => TransportError::Tls,
        // A proxy that refuses the tunnel, or a connector chain without an explanation:
        // the connection could not be established.
        ureq::Error::ConnectProxyFailed(_) | ureq::Error::ConnectionFailed => TransportError::Dial,
        _ => TransportError::Other,
    }
}

/// Classifies an `io::Error` (from ureq's transport or from reading a response body).
pub fn classify_io(e: &io::Error, phase: Phase) -> TransportError {
    if let Some(inner) = e.get_ref() {
        if let Some(u) = inner.downcast_ref::<ureq::Error>() {
            return classify(u, phase);
        }
        if inner.downcast_ref::<rustls::Error>().is_some() {
            return TransportError::Tls;
        }
    }
    tunnel_core::io_error::classify(e.kind(), e.raw_os_error(), &e.to_string(), phase)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    use super::*;

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent()
    }

    /// Runs one GET and classifies what comes back (head or body error).
    fn get(url: &str, agent: &ureq::Agent) -> TransportError {
        match agent.get(url).call() {
            Err(e) => classify(&e, Phase::Head),
            Ok(mut resp) => {
                let mut buf = Vec::new();
                match resp.body_mut().as_reader().read_to_end(&mut buf) {
                    Err(e) => classify_io(&e, Phase::Body),
                    Ok(_) => panic!("expected a failure, got a full body"),
                }
            }
        }
    }

    #[test]
    fn closed_port_is_connection_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        assert_eq!(
            get(&format!("http://{addr}/"), &agent()),
            TransportError::ConnectionRefused
        );
    }

    #[test]
    fn accept_then_close_is_eof() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            // Read the request so the close is a clean FIN, not a reset.
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
        });
        let got = get(&format!("http://{addr}/"), &agent());
        t.join().unwrap();
        assert_eq!(got, TransportError::Eof);
    }

    #[test]
    fn accept_then_reset_is_connection_reset() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            // Closing with the request still unread in the receive buffer makes the
            // kernel answer with an RST instead of a FIN.
            std::thread::sleep(Duration::from_millis(200));
            drop(s);
        });
        let got = get(&format!("http://{addr}/"), &agent());
        t.join().unwrap();
        assert_eq!(got, TransportError::ConnectionReset);
    }

    #[test]
    fn truncated_body_is_unexpected_eof() {
        use std::io::Write;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
            let _ = s.flush();
        });
        let got = get(&format!("http://{addr}/"), &agent());
        t.join().unwrap();
        assert_eq!(got, TransportError::UnexpectedEof);
    }

    #[test]
    fn silent_listener_is_timeout() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let a = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_millis(300)))
            .build()
            .new_agent();
        let got = get(&format!("http://{addr}/"), &a);
        drop(l);
        assert_eq!(got, TransportError::Timeout);
    }

    #[test]
    fn unresolvable_host_is_dns() {
        // `.invalid` never resolves (RFC 6761); without any DNS it fails the same way.
        assert_eq!(
            get("http://tunnel-client-test.invalid/", &agent()),
            TransportError::Dns
        );
    }

    #[test]
    fn tls_to_a_plain_server_is_tls() {
        use std::io::Write;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        });
        let got = get(&format!("https://{addr}/"), &agent());
        t.join().unwrap();
        assert_eq!(got, TransportError::Tls);
    }

    #[test]
    fn io_kinds_map_one_to_one() {
        let k = |kind| classify_io(&io::Error::from(kind), Phase::Body);
        assert_eq!(k(io::ErrorKind::BrokenPipe), TransportError::ClosedPipe);
        assert_eq!(
            k(io::ErrorKind::ConnectionAborted),
            TransportError::ConnectionAborted
        );
        assert_eq!(
            k(io::ErrorKind::NotConnected),
            TransportError::ConnectionClosed
        );
        assert_eq!(
            k(io::ErrorKind::HostUnreachable),
            TransportError::HostUnreachable
        );
        assert_eq!(
            k(io::ErrorKind::NetworkUnreachable),
            TransportError::NetworkUnreachable
        );
        assert_eq!(k(io::ErrorKind::PermissionDenied), TransportError::Other);
        let wrapped = io::Error::other(ureq::Error::Timeout(ureq::Timeout::RecvBody));
        assert_eq!(classify_io(&wrapped, Phase::Body), TransportError::Timeout);
    }
}
