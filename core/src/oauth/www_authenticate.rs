//! The `resource_metadata` parameter of a `WWW-Authenticate` Bearer challenge (RFC 9728 §5.1).

/// The `resource_metadata` URL of the header's Bearer challenge, if it has one (as written:
/// the caller checks it is absolute). Other schemes' parameters are ignored.
pub fn resource_metadata(header: &str) -> Option<String> {
    let _ = header;
    None
}
