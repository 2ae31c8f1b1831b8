//! Timing of every HTTP request the runtime sends (control plane and MCP): a ureq
//! middleware on each agent hands a [`HttpTiming`] (`tunnel_core::http_timing`) to the
//! [`HttpObserver`], on the I/O thread that made the request.

use std::time::Instant;

pub use tunnel_core::http_timing::{HttpClientKind, HttpObserver, HttpTiming};
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::{Body, SendBody};

use crate::errors::{classify, Phase};

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
        let request_body_size =
            tunnel_core::http_timing::request_body_size(&method, request.headers());
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
