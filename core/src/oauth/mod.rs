//! OAuth protected-resource metadata (RFC 9728) discovery, sans-IO.
//!
//! The control plane sends an `oauth_discovery` command when a connector needs the main MCP
//! server's protected-resource metadata (PRMD). The client finds it the way the Go client
//! does (`go-harpoon-oauth-security.md` §2.2–2.3): a `WWW-Authenticate` probe of the MCP
//! URL (`POST`, then `GET`), then the well-known candidates (path-specific, then root),
//! following same-origin redirects only, and posts the first valid document back as an
//! `oauth_discovery_response` with the upstream status and headers.
//!
//! [`Discovery`] is that algorithm as a state machine: the adapter asks it for the next
//! request ([`Discovery::poll`]), performs it with redirects **disabled** (a redirect comes
//! back as a 3xx response, and the state machine decides whether to follow it), reads at
//! most [`MAX_BODY`] + 1 bytes of the body and reports the outcome
//! ([`Discovery::handle_response`] / [`Discovery::handle_error`]) until `poll` says
//! [`Step::Done`]. The same machine runs in both adapters and in the conformance replay.
//!
//! - [`www_authenticate`]: the `resource_metadata` parameter of a Bearer challenge.
//! - [`prmd`]: validation of a metadata document.
//! - [`discovery`]: candidate URLs and the fetch algorithm.

pub mod discovery;
pub mod prmd;
mod terminal;
pub mod www_authenticate;

pub use discovery::{Attempt, Discovery, DiscoveryError, Found, Step};
pub use terminal::terminal;

/// Largest metadata document accepted (the Go client's bound).
pub const MAX_BODY: usize = 1024 * 1024;
