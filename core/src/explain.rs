//! What an operator reads when a control-plane request fails below HTTP.
//!
//! TLS and proxy failures reach the engine as a class ("transport error: Tls"), which does
//! not say what to fix. The drivers hand the library's own message here; the line to log
//! names the cause (unknown issuer, a certificate the server wanted, a proxy refusing the
//! tunnel) and the settings that fix it, once per distinct message so a retry loop does not
//! flood the log. Library messages carry no URL, so no credentials.

use crate::classify::TransportError;

/// Remembers the last message explained, so a repeat is not logged again.
#[derive(Debug, Default)]
pub struct Explainer {
    last: String,
}

impl Explainer {
    pub const fn new() -> Explainer {
        Explainer {
            last: String::new(),
        }
    }

    /// The warn line for a failed control-plane request with the library's `detail`, or
    /// `None` when the failure needs no explaining or was just explained.
    pub fn explain(&mut self, kind: TransportError, detail: &str) -> Option<String> {
        let (what, fix) = match kind {
            TransportError::Tls => (
                "TLS to the control plane failed",
                "if it uses a private CA, set --ca-bundle (CA_BUNDLE); if it requires a client certificate, set --control-plane.client-cert and --control-plane.client-key",
            ),
            TransportError::Dial => (
                "the proxy did not open a tunnel to the control plane",
                "check the proxy URL and credentials (--control-plane.http-proxy, --http-proxy, HTTPS_PROXY) and that it allows CONNECT to this host",
            ),
            _ => return None,
        };
        let mut detail = detail.to_string();
        if detail.contains("UnknownIssuer") {
            detail.push_str(" (certificate signed by unknown authority)");
        }
        if self.last == detail {
            return None;
        }
        let line = format!("{what}: {detail}; fix: {fix}");
        self.last = detail;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_issuer_names_the_bundle_once_per_distinct_message() {
        let mut x = Explainer::new();
        let line = x
            .explain(
                TransportError::Tls,
                "invalid peer certificate: UnknownIssuer",
            )
            .expect("explained");
        assert!(
            line.contains("certificate signed by unknown authority"),
            "{line}"
        );
        assert!(line.contains("--ca-bundle"), "{line}");
        assert_eq!(
            x.explain(
                TransportError::Tls,
                "invalid peer certificate: UnknownIssuer"
            ),
            None
        );
        assert!(x
            .explain(TransportError::Tls, "handshake failure")
            .is_some());
        assert!(x
            .explain(TransportError::Dial, "proxy said 407")
            .is_some_and(|l| l.contains("--control-plane.http-proxy")));
        assert_eq!(
            x.explain(TransportError::ConnectionRefused, "refused"),
            None
        );
    }
}
