//! Candidate URLs and the metadata fetch algorithm (see the module docs of [`super`]).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

use crate::classify::TransportError;

/// What the adapter does next.
#[derive(Debug)]
pub enum Step {
    /// Send this request (empty body, redirects not followed) within `timeout`; report the
    /// outcome with `handle_response` or `handle_error`. The adapter adds `User-Agent` and
    /// the discovery-scoped static headers; `headers` are the ones the algorithm needs
    /// (`Accept: application/json`).
    Request {
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        timeout: Duration,
    },
    /// Discovery ended: the document to post, or why there is none.
    Done(Result<Found, DiscoveryError>),
}

/// The selected metadata: the upstream status, headers and body, posted as they are.
#[derive(Debug, Clone)]
pub struct Found {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The URL it came from.
    pub url: String,
}

/// One request made, for logs and the admin UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub url: String,
    /// `www_authenticate`, `well_known_path`, `well_known_root`.
    pub source: &'static str,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// Why no metadata was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    NoCandidates,
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::NoCandidates => {
                f.write_str("oauth discovery: no metadata URLs configured")
            }
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// The discovery of one MCP server's metadata.
#[derive(Debug)]
pub struct Discovery {
    done: bool,
}

impl Discovery {
    /// Discovery for the MCP server at `mcp_url` (the main HTTP binding's URL).
    pub fn new(mcp_url: &Uri) -> Discovery {
        let _ = mcp_url;
        Discovery { done: false }
    }

    /// The next request, or the end.
    pub fn poll(&mut self) -> Step {
        self.done = true;
        Step::Done(Err(DiscoveryError::NoCandidates))
    }

    /// The last request's response: status, headers and up to `MAX_BODY + 1` body bytes.
    pub fn handle_response(&mut self, status: u16, headers: &HeaderMap, body: &[u8]) {
        let _ = (status, headers, body);
    }

    /// The last request failed before a complete response.
    pub fn handle_error(&mut self, error: TransportError) {
        let _ = error;
    }

    /// Every request made so far.
    pub fn attempts(&self) -> &[Attempt] {
        &[]
    }
}
