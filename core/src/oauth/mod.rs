//! OAuth protected-resource metadata (RFC 9728) discovery, sans-IO.
//!
//! The control plane sends an `oauth_discovery` command when a connector needs the main MCP
//! server's protected-resource metadata (PRMD). The client finds it the way the Go client
//! does (`go-harpoon-oauth-security.md` §2.2–2.3): a `WWW-Authenticate` probe of the MCP
//! URL (`POST`, then `GET`), then the well-known candidates (path-specific, then root),
//! following same-origin redirects only, and posts the first valid document back as an
//! `oauth_discovery_response` with the upstream status and headers.
//!
//! [`Discovery`] is that algorithm as a state machine: its driver asks it for the next
//! request ([`Discovery::poll`]), performs it with redirects **disabled** (a redirect comes
//! back as a 3xx response, and the state machine decides whether to follow it), reads at
//! most [`MAX_BODY`] + 1 bytes of the body and reports the outcome
//! ([`Discovery::handle_response`] / [`Discovery::handle_error`]) until `poll` says
//! [`Step::Done`]. The engine is that driver (`engine/discovery.rs`): each request leaves
//! it as an ordinary MCP request (`McpOp::Fetch`) and the budget is an engine timer.
//!
//! What it does, in order:
//!
//! 1. **Probe** (`POST`, then `GET` if the `POST` gave no usable challenge; 1 s each):
//!    usable means status exactly 401 and a `WWW-Authenticate` Bearer challenge whose
//!    `resource_metadata` is an absolute URL. That URL becomes the first candidate
//!    (`www_authenticate`), even on another origin. Any probe failure only means no such
//!    candidate.
//! 2. **Candidates**: that URL, then `/.well-known/oauth-protected-resource/<MCP path>`
//!    (`well_known_path`, absent for an empty or `/` path) and
//!    `/.well-known/oauth-protected-resource` (`well_known_root`) on the MCP URL's scheme
//!    and host, deduplicated. None (MCP URL not absolute) → [`DiscoveryError::NoCandidates`].
//! 3. **Fetch** each (`GET`, 5 s). A 301/302/303/307/308 with `Location` is followed only
//!    to the candidate's own origin (scheme, host, effective port), at most 10 times; a
//!    redirect elsewhere fails that candidate **before** any request goes there, as does a
//!    transport error, and the next candidate is tried. An oversize or empty body ends
//!    discovery unless the status is 404 or ≥ 500 and a candidate remains; so does a 404
//!    or ≥ 500 with a body while one remains; otherwise the body is validated
//!    ([`prmd::validate`]): valid is selected whatever the status, invalid moves on only
//!    after a ≥ 500 with a candidate left, else ends discovery.
//!
//! Every request (probe, candidate, redirect hop) is an [`Attempt`], without userinfo.
//!
//! ## Known differences from the Go client
//!
//! - A body read error is reported as a transport error, so it always moves on to the next
//!   candidate (Go stops on one unless the status was 404 or ≥ 500).
//! - Every `WWW-Authenticate` field is looked at (Go reads the first only); a parameter
//!   name must match exactly (Go's unanchored pattern also matches inside another
//!   parameter's quoted value); `name = value` after a comma is a parameter, not a scheme;
//!   quoted values are unescaped.
//! - The MCP path is cleaned on its own (`..` cannot climb above the well-known prefix)
//!   and kept escaped as written (Go re-escapes `%xx` to `%25xx`).
//! - `authorization_servers[0]` must be absolute (`scheme://host`); Go only requires that
//!   it parses. The probe's `resource_metadata` is held to the same rule in both.
//!
//! Modules:
//!
//! - [`www_authenticate`]: the `resource_metadata` parameter of a Bearer challenge.
//! - [`prmd`]: validation of a metadata document.
//! - [`discovery`]: candidate URLs and the fetch algorithm.

pub mod auth_server;
pub mod discovery;
pub mod prmd;
pub mod startup;
mod terminal;
pub mod www_authenticate;

pub use discovery::{Attempt, Discovery, DiscoveryError, Found, Step};
pub use terminal::{describe, not_advertised, terminal, NOT_ADVERTISED};

/// Largest metadata document accepted (the Go client's bound).
pub const MAX_BODY: usize = 1024 * 1024;
