//! What a driver reports about each HTTP request it sends (control plane and MCP), for the
//! operator's `http_client_request_duration_seconds` (the Go client gets it from otelhttp).
//!
//! The drivers measure from the start of the request to the response head (or the
//! failure), which is what otelhttp's client duration measures; the clock is theirs, the
//! shape of the report is shared here so `/metrics` reads the same thing whichever driver
//! runs.

use std::sync::Arc;
use std::time::Duration;

use crate::classify::TransportError;

/// Which destination the request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpClientKind {
    ControlPlane,
    /// An MCP binding, an OAuth discovery step or a Harpoon hop.
    Mcp,
}

/// One finished request (up to its response head).
#[derive(Debug)]
pub struct HttpTiming<'a> {
    pub client: HttpClientKind,
    pub method: &'a http::Method,
    /// The full request URI: may carry credentials or a tunnel id; the observer decides
    /// what to keep.
    pub uri: &'a http::Uri,
    pub version: http::Version,
    /// The response status, or `None` when the request failed.
    pub status: Option<u16>,
    pub error: Option<TransportError>,
    pub duration: Duration,
    /// Bytes of request body: the stated `Content-Length`, 0 for a bodiless `GET`, `HEAD`
    /// or `DELETE`, `None` when unknown.
    pub request_body_size: Option<u64>,
}

/// Receives a [`HttpTiming`] per request, on the thread that made it: it must be quick.
pub type HttpObserver = Arc<dyn Fn(&HttpTiming<'_>) + Send + Sync>;

/// [`HttpTiming::request_body_size`] from what the request states.
pub fn request_body_size(method: &http::Method, headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(matches!(
            *method,
            http::Method::GET | http::Method::HEAD | http::Method::DELETE
        )
        .then_some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_size_is_the_stated_length_or_zero_for_bodiless_methods() {
        let mut h = http::HeaderMap::new();
        assert_eq!(request_body_size(&http::Method::GET, &h), Some(0));
        assert_eq!(request_body_size(&http::Method::DELETE, &h), Some(0));
        assert_eq!(request_body_size(&http::Method::POST, &h), None);
        h.insert(http::header::CONTENT_LENGTH, " 42".parse().unwrap());
        assert_eq!(request_body_size(&http::Method::POST, &h), Some(42));
        h.insert(http::header::CONTENT_LENGTH, "x".parse().unwrap());
        assert_eq!(request_body_size(&http::Method::POST, &h), None);
    }
}
