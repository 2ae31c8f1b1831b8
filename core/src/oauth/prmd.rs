//! Validation of a protected-resource metadata document (RFC 9728 §2), as strict as the Go
//! client and no stricter: a JSON object with a non-empty `resource`; when
//! `authorization_servers` is non-empty, its first element must be an absolute URL.
//!
//! Only what the tunnel relies on is checked: the document is relayed verbatim to the
//! connector, which does its own validation, and `authorization_servers[0]` is the one
//! authorization server the client itself contacts (§2.6 of the Go notes). Other members —
//! including later `authorization_servers` elements — are not looked at, so a server that
//! adds extensions or lists a malformed second server still works, as with Go.

use std::fmt;

use serde_json::Value;

/// Why a document is not usable metadata. The messages never quote the document: it is a
/// peer's body and may be large.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrmdError {
    /// The body is JSON but not an object (an array, a string, `null`, …).
    NotJsonObject,
    /// The body is not JSON at all (HTML error page, truncated document, …). The reason is
    /// serde_json's position-only message (`expected value at line 1 column 1`).
    InvalidJson(String),
    /// `resource` is absent, or the empty string.
    ResourceMissing,
    /// `resource` is present but not a string.
    ResourceNotString,
    /// `authorization_servers` is present but neither an array nor `null`.
    AuthorizationServersNotArray,
    /// `authorization_servers[0]` is not a string holding an absolute URL (scheme and host).
    AuthorizationServerNotAbsolute,
}

impl fmt::Display for PrmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrmdError::NotJsonObject => f.write_str("not a JSON object"),
            PrmdError::InvalidJson(why) => write!(f, "not JSON ({why})"),
            PrmdError::ResourceMissing => {
                f.write_str("protected resource metadata missing resource")
            }
            PrmdError::ResourceNotString => f.write_str("`resource` is not a string"),
            PrmdError::AuthorizationServersNotArray => {
                f.write_str("`authorization_servers` is not an array")
            }
            PrmdError::AuthorizationServerNotAbsolute => {
                f.write_str("`authorization_servers[0]` is not an absolute URL")
            }
        }
    }
}

impl std::error::Error for PrmdError {}

/// Checks `body` is usable protected-resource metadata.
pub fn validate(body: &[u8]) -> Result<(), PrmdError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| PrmdError::InvalidJson(e.to_string()))?;
    let Value::Object(doc) = value else {
        return Err(PrmdError::NotJsonObject);
    };
    match doc.get("resource") {
        None | Some(Value::Null) => return Err(PrmdError::ResourceMissing),
        Some(Value::String(s)) if s.is_empty() => return Err(PrmdError::ResourceMissing),
        Some(Value::String(_)) => {}
        Some(_) => return Err(PrmdError::ResourceNotString),
    }
    match doc.get("authorization_servers") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(servers)) => match servers.first() {
            None => Ok(()),
            Some(Value::String(s)) if is_absolute_url(s) => Ok(()),
            Some(_) => Err(PrmdError::AuthorizationServerNotAbsolute),
        },
        Some(_) => Err(PrmdError::AuthorizationServersNotArray),
    }
}

/// `scheme://host…`: what the Go client means by an absolute URL (`Scheme != "" && Host !=
/// ""`), checked with `http::Uri`, which only yields a scheme when an authority follows.
pub(crate) fn is_absolute_url(s: &str) -> bool {
    match s.parse::<http::Uri>() {
        Ok(uri) => uri.scheme().is_some() && uri.authority().is_some_and(|a| !a.host().is_empty()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Result<(), PrmdError> {
        validate(s.as_bytes())
    }

    #[test]
    fn minimal_document_is_valid() {
        assert_eq!(v(r#"{"resource":"https://mcp.example/mcp"}"#), Ok(()));
    }

    #[test]
    fn full_document_is_valid() {
        assert_eq!(
            v(r#"{"resource":"https://mcp.example/mcp",
                  "authorization_servers":["https://as.example"],
                  "scopes_supported":["a"],"x-extension":{"k":1}}"#),
            Ok(())
        );
    }

    #[test]
    fn only_the_first_authorization_server_is_checked() {
        assert_eq!(
            v(
                r#"{"resource":"r","authorization_servers":["https://as.example/t", "not a url", 5]}"#
            ),
            Ok(())
        );
        assert_eq!(
            v(r#"{"resource":"r","authorization_servers":["/relative"]}"#),
            Err(PrmdError::AuthorizationServerNotAbsolute)
        );
        assert_eq!(
            v(r#"{"resource":"r","authorization_servers":[7]}"#),
            Err(PrmdError::AuthorizationServerNotAbsolute)
        );
        assert_eq!(v(r#"{"resource":"r","authorization_servers":[]}"#), Ok(()));
        assert_eq!(
            v(r#"{"resource":"r","authorization_servers":null}"#),
            Ok(())
        );
        assert_eq!(
            v(r#"{"resource":"r","authorization_servers":"https://as.example"}"#),
            Err(PrmdError::AuthorizationServersNotArray)
        );
    }

    #[test]
    fn resource_must_be_a_non_empty_string() {
        assert_eq!(v("{}"), Err(PrmdError::ResourceMissing));
        assert_eq!(v(r#"{"resource":""}"#), Err(PrmdError::ResourceMissing));
        assert_eq!(v(r#"{"resource":null}"#), Err(PrmdError::ResourceMissing));
        assert_eq!(v(r#"{"resource":1}"#), Err(PrmdError::ResourceNotString));
    }

    #[test]
    fn non_objects_and_non_json_are_rejected() {
        assert_eq!(v("[]"), Err(PrmdError::NotJsonObject));
        assert_eq!(v("null"), Err(PrmdError::NotJsonObject));
        assert!(matches!(v("<html>"), Err(PrmdError::InvalidJson(_))));
        assert!(matches!(v(""), Err(PrmdError::InvalidJson(_))));
        assert!(matches!(
            v(r#"{"resource":"r"} trailing"#),
            Err(PrmdError::InvalidJson(_))
        ));
        let deep = "[".repeat(10_000);
        assert!(matches!(v(&deep), Err(PrmdError::InvalidJson(_))));
    }

    #[test]
    fn invalid_json_message_does_not_quote_the_body() {
        let e = v(r#"{"resource": secret-token}"#).unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn absolute_url() {
        assert!(is_absolute_url("https://as.example"));
        assert!(is_absolute_url("http://127.0.0.1:8080/x?y"));
        assert!(!is_absolute_url("as.example"));
        assert!(!is_absolute_url("/x"));
        assert!(!is_absolute_url("https://"));
        assert!(!is_absolute_url(""));
        assert!(!is_absolute_url("mailto:a@b"));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = validate(&bytes);
        }

        #[test]
        fn never_panics_on_json_like_input(
            s in r#"(\{|\}|\[|\]|"resource"|"authorization_servers"|:|,|"https://a"|"x"|null|1){0,24}"#
        ) {
            let _ = validate(s.as_bytes());
        }

        #[test]
        fn any_non_empty_resource_string_is_accepted(r in ".{1,40}") {
            let doc = serde_json::json!({ "resource": r }).to_string();
            prop_assert_eq!(validate(doc.as_bytes()), Ok(()));
        }
    }
}
