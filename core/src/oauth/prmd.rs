//! Validation of a protected-resource metadata document (RFC 9728 §2), as strict as the Go
//! client and no stricter: a JSON object with a non-empty `resource`; when
//! `authorization_servers` is non-empty, its first element must be an absolute URL.

use std::fmt;

/// Why a document is not usable metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrmdError {
    NotJsonObject,
}

impl fmt::Display for PrmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrmdError::NotJsonObject => f.write_str("not a JSON object"),
        }
    }
}

impl std::error::Error for PrmdError {}

/// Checks `body` is usable protected-resource metadata.
pub fn validate(body: &[u8]) -> Result<(), PrmdError> {
    let _ = body;
    Err(PrmdError::NotJsonObject)
}
