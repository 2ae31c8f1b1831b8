//! Timing of every HTTP request the runtime sends (control plane and MCP), for the
//! operator's `http_client_request_duration_seconds` (the Go client gets it from otelhttp).
//!
//! A ureq middleware on each agent measures from the start of the request to the response
//! head (or the failure), which is what otelhttp's client duration measures, and hands the
//! method, URL, protocol version, status or classified error to an [`HttpObserver`]. The
//! observer runs on the I/O thread that made the request: it must be quick.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tunnel_core::classify::TransportError;
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::{Body, SendBody};

use crate::errors::{classify, Phase};

/// Which agent sent the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpClientKind {
    ControlPlane,
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

/// Receives a [`HttpTiming`] per request.
pub type HttpObserver = Arc<dyn Fn(&HttpTiming<'_>) + Send + Sync>;

/// The middleware.
#[derive(Clone)]
pub(crate) struct Timing {
    pub client: HttpClientKind,
    pub observer: HttpObserver,
}

impl Middleware for Timing {
    fn handle(
        &self,
        request: http::Request<SendBody>,
        next: MiddlewareNext,
    ) -> Result<http::Response<Body>, ureq::Error> {
        let method = request.method().clone();
        let uri = request.uri().clone();
        let version = request.version();
        let request_body_size = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or(matches!(
                method,
                http::Method::GET | http::Method::HEAD | http::Method::DELETE
            )
            .then_some(0));
        let start = Instant::now();
        let result = next.handle(request);
        let duration = start.elapsed();
        let (status, error, version) = match &result {
            Ok(r) => (Some(r.status().as_u16()), None, r.version()),
            Err(e) => (None, Some(classify(e, Phase::Head)), version),
        };
        (self.observer)(&HttpTiming {
            client: self.client,
            method: &method,
            uri: &uri,
            version,
            status,
            error,
            duration,
            request_body_size,
        });
        result
    }
}
