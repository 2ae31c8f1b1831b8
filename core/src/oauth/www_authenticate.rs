//! The `resource_metadata` parameter of a `WWW-Authenticate` Bearer challenge (RFC 9728 §5.1).
//!
//! The grammar is the Go client's, which is looser than RFC 9110's: the header is split on
//! commas outside double quotes (a backslash escapes the next character inside quotes); a
//! segment whose first whitespace-separated word has no `=` and is followed by more text
//! starts a new challenge with that word as its scheme; only the parameters of a `bearer`
//! challenge (case-insensitive) are looked at. Servers in the wild send both
//! `Bearer resource_metadata="…"` and `Bearer realm="x", resource_metadata=…`, and some put a
//! `Basic` challenge first, so the scheme tracking matters: a `resource_metadata` under
//! `Basic` is not a Bearer challenge's and is ignored.
//!
//! The input is a peer's header: every index used here falls on an ASCII byte (`,`, `"`, `\`,
//! whitespace boundaries from `str` methods), so slicing never splits a character and nothing
//! can panic.

/// The `resource_metadata` URL of the header's Bearer challenge, if it has one (as written:
/// the caller checks it is absolute). Other schemes' parameters are ignored.
pub fn resource_metadata(header: &str) -> Option<String> {
    let mut scheme_is_bearer = false;
    for segment in split_outside_quotes(header) {
        let segment = segment.trim();
        let mut words = segment.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        let mut params = segment;
        let after = segment[first.len()..].trim_start();
        if !first.contains('=') && words.next().is_some() && !after.starts_with('=') {
            // `Bearer realm="x"`: a new challenge, with its first parameter after the scheme.
            // (`name = value` is a parameter with spaces around `=`, not a scheme: Go takes
            // it for a scheme named `name` and so misses it after the first parameter.)
            scheme_is_bearer = first.eq_ignore_ascii_case("bearer");
            params = after;
        }
        if !scheme_is_bearer {
            continue;
        }
        if let Some(value) = param_value(params, "resource_metadata") {
            // An empty value ends the search, as in Go: the challenge names no metadata.
            return (!value.is_empty()).then_some(value);
        }
    }
    None
}

/// Splits on commas that are not inside a double-quoted string.
fn split_outside_quotes(header: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, b) in header.bytes().enumerate() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = false;
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if b == b',' {
            parts.push(&header[start..i]);
            start = i + 1;
        }
    }
    parts.push(&header[start..]);
    parts
}

/// The value of `name = value` (name case-insensitive, spaces around `=`), the value a
/// quoted string (unescaped) or a token (up to the next whitespace). `None` when the segment
/// is another parameter, or the quoted string is not terminated.
fn param_value(segment: &str, name: &str) -> Option<String> {
    let head = segment.get(..name.len())?;
    if !head.eq_ignore_ascii_case(name) {
        return None;
    }
    let rest = segment[name.len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    match rest.strip_prefix('"') {
        Some(quoted) => unquote(quoted),
        None => Some(rest.split_whitespace().next().unwrap_or("").to_owned()),
    }
}

/// The content of a quoted string whose opening quote is already consumed, up to the closing
/// quote; `\x` stands for `x`.
fn unquote(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::resource_metadata;
    use proptest::prelude::*;

    fn rm(h: &str) -> Option<String> {
        resource_metadata(h)
    }

    #[test]
    fn bearer_with_quoted_resource_metadata() {
        assert_eq!(
            rm(r#"Bearer resource_metadata="https://a.example/.well-known/oauth-protected-resource""#)
                .as_deref(),
            Some("https://a.example/.well-known/oauth-protected-resource")
        );
    }

    #[test]
    fn bearer_with_token_value_and_spaces_around_equals() {
        assert_eq!(
            rm("Bearer realm=\"x\", resource_metadata = https://a.example/m").as_deref(),
            Some("https://a.example/m")
        );
    }

    #[test]
    fn scheme_and_name_are_case_insensitive() {
        assert_eq!(
            rm(r#"BEARER Resource_Metadata="https://a/m""#).as_deref(),
            Some("https://a/m")
        );
    }

    #[test]
    fn basic_challenge_parameters_are_ignored() {
        assert_eq!(
            rm(r#"Basic realm="x", resource_metadata="https://a/m""#),
            None
        );
    }

    #[test]
    fn bearer_after_basic_is_found() {
        assert_eq!(
            rm(r#"Basic realm="a, b", Bearer error="invalid_token", resource_metadata="https://a/m""#)
                .as_deref(),
            Some("https://a/m")
        );
    }

    #[test]
    fn basic_after_bearer_ends_the_bearer_challenge() {
        assert_eq!(
            rm(r#"Bearer realm="x", Basic realm="y", resource_metadata="https://a/m""#),
            None
        );
    }

    #[test]
    fn commas_and_escaped_quotes_inside_quotes_do_not_split() {
        assert_eq!(
            rm(r#"Bearer error_description="a, \"b\", resource_metadata=x", resource_metadata="https://a/m?x=\"1\"""#)
                .as_deref(),
            Some(r#"https://a/m?x="1""#)
        );
    }

    #[test]
    fn a_bare_scheme_does_not_start_a_challenge() {
        // `Bearer` alone is a word with nothing after it: no challenge starts, so the
        // following parameter belongs to no Bearer challenge.
        assert_eq!(rm(r#"Bearer, resource_metadata="https://a/m""#), None);
    }

    #[test]
    fn other_parameters_with_a_similar_name_do_not_match() {
        assert_eq!(rm(r#"Bearer resource_metadata_x="https://a/m""#), None);
        assert_eq!(rm(r#"Bearer xresource_metadata="https://a/m""#), None);
    }

    #[test]
    fn unterminated_quotes_and_empty_input_give_none() {
        assert_eq!(rm(r#"Bearer resource_metadata="https://a/m"#), None);
        assert_eq!(rm(""), None);
        assert_eq!(rm(" , ,, "), None);
        assert_eq!(rm("Bearer resource_metadata="), None);
        assert_eq!(
            rm(r#"Bearer resource_metadata="", resource_metadata=x"#),
            None
        );
    }

    #[test]
    fn non_ascii_input_is_handled() {
        assert_eq!(
            rm("Bearer\u{a0}é resource_metadata=\"https://ü/m\"").as_deref(),
            None,
            "a non-ASCII word is not `bearer`"
        );
        assert_eq!(
            rm("Bearer resource_metadata=\"https://ü/m\"").as_deref(),
            Some("https://ü/m")
        );
        assert_eq!(rm("Bearer résource_metadata=x"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = resource_metadata(&s);
        }

        #[test]
        fn never_panics_on_header_like_input(
            s in r#"(Bearer|Basic|bearer|,| |"|\\|=|resource_metadata|https://a/m|é){0,30}"#
        ) {
            let _ = resource_metadata(&s);
        }

        #[test]
        fn a_quoted_value_round_trips(v in r#"[ -~]{1,40}"#) {
            let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
            let header = format!("Basic realm=\"r\", Bearer realm=\"x, y\", resource_metadata=\"{escaped}\"");
            prop_assert_eq!(resource_metadata(&header), Some(v));
        }
    }
}
