//! Finding and replacing single values inside a JSON message's raw text.
//!
//! The stdio multiplexer must change a request's `id` (and a few related identifiers) on the
//! way to the child and restore them on the way back, while everything else travels byte for
//! byte: re-encoding would reorder keys, respell numbers and drop duplicate members. So we
//! parse only far enough to learn *where* a value sits (serde_json's borrowed [`RawValue`]
//! is a slice of the input text, so its offset is a pointer difference) and splice text.
//!
//! A member name that occurs twice on the path we touch makes the message ambiguous (readers
//! disagree on which one counts), so it is refused rather than guessed at.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Why a value could not be located.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditError {
    /// The text (or a value on the path) is not valid JSON.
    NotJson,
    /// A member on the path occurs more than once.
    DuplicateMember,
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EditError::NotJson => "not valid JSON",
            EditError::DuplicateMember => "a member name occurs twice",
        })
    }
}

/// A member name, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of one JSON object in document order, values raw and borrowed from the text.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((k.0, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The byte range of `inner` inside `outer`, if `inner` is a slice of it.
fn span_of(outer: &str, inner: &str) -> Option<Range<usize>> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    // Defensive: only trust the arithmetic if the bytes really are there.
    (outer.get(start..end) == Some(inner)).then_some(start..end)
}

/// Looks up `name` among an object's members. `Ok(None)` when the text is JSON but not an
/// object, or the member is absent.
fn member<'a>(object: &'a str, name: &str) -> Result<Option<&'a RawValue>, EditError> {
    if !object.trim_start().starts_with('{') {
        // Valid JSON of another type: there is no member to find.
        return serde_json::from_str::<&RawValue>(object)
            .map(|_| None)
            .map_err(|_| EditError::NotJson);
    }
    let Members(members) = serde_json::from_str(object).map_err(|_| EditError::NotJson)?;
    let mut found = None;
    for (k, v) in members {
        if k == name {
            if found.is_some() {
                return Err(EditError::DuplicateMember);
            }
            found = Some(v);
        }
    }
    Ok(found)
}

/// The byte range of the value at `path` (member names from the top-level object down), or
/// `None` when some step is missing or not an object. `null` counts as present.
pub(crate) fn locate(text: &str, path: &[&str]) -> Result<Option<Range<usize>>, EditError> {
    let mut current: &str = text;
    for name in path {
        match member(current, name)? {
            Some(v) => current = v.get(),
            None => return Ok(None),
        }
    }
    if path.is_empty() {
        return Ok(Some(0..text.len()));
    }
    Ok(span_of(text, current))
}

/// The raw text of the value at `path`, if present.
pub(crate) fn get<'a>(text: &'a str, path: &[&str]) -> Result<Option<&'a str>, EditError> {
    Ok(locate(text, path)?.and_then(|r| text.get(r)))
}

/// Replaces byte ranges of `text`. Ranges must not overlap; an out-of-bounds or overlapping
/// range leaves the text unchanged and returns `None` (a bug, never input-dependent).
pub(crate) fn splice(text: &str, edits: &[(Range<usize>, &str)]) -> Option<String> {
    let mut sorted: Vec<&(Range<usize>, &str)> = edits.iter().collect();
    sorted.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len() + 32);
    let mut at = 0;
    for (range, replacement) in sorted {
        if range.start < at || range.end < range.start {
            return None;
        }
        out.push_str(text.get(at..range.start)?);
        out.push_str(replacement);
        at = range.end;
    }
    out.push_str(text.get(at..)?);
    Some(out)
}

/// Replaces the value at `path` with `replacement` (raw JSON). `Ok(None)` when absent.
pub(crate) fn replace(
    text: &str,
    path: &[&str],
    replacement: &str,
) -> Result<Option<String>, EditError> {
    match locate(text, path)? {
        Some(range) => Ok(splice(text, &[(range, replacement)])),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_located_in_the_original_text() {
        let t =
            r#"{ "jsonrpc":"2.0", "id" : 17 ,"params":{"_meta":{"progressToken":"t-1"},"x":[1]}}"#;
        assert_eq!(get(t, &["id"]).unwrap(), Some("17"));
        assert_eq!(
            get(t, &["params", "_meta", "progressToken"]).unwrap(),
            Some("\"t-1\"")
        );
        assert_eq!(get(t, &["params", "x"]).unwrap(), Some("[1]"));
        assert_eq!(get(t, &["params", "missing"]).unwrap(), None);
        assert_eq!(get(t, &["params", "x", "deeper"]).unwrap(), None);
    }

    #[test]
    fn replacing_keeps_every_other_byte() {
        let t = "{\"b\":2.50,\t\"id\":\"a\\u0062\",\"z\":{\"id\":9}}";
        let out = replace(t, &["id"], "42").unwrap().unwrap();
        assert_eq!(out, "{\"b\":2.50,\t\"id\":42,\"z\":{\"id\":9}}");
    }

    #[test]
    fn escaped_member_names_are_matched_by_value() {
        let t = r#"{"\u0069d":5}"#;
        assert_eq!(get(t, &["id"]).unwrap(), Some("5"));
    }

    #[test]
    fn duplicate_members_on_the_path_are_refused() {
        assert_eq!(
            get(r#"{"id":1,"id":2}"#, &["id"]),
            Err(EditError::DuplicateMember)
        );
        // Duplicates elsewhere do not matter.
        assert_eq!(
            get(r#"{"id":1,"x":{"a":1,"a":2}}"#, &["id"]).unwrap(),
            Some("1")
        );
    }

    #[test]
    fn non_json_is_an_error_and_non_objects_have_no_members() {
        assert_eq!(get("{", &["id"]), Err(EditError::NotJson));
        assert_eq!(get("[1,2]", &["id"]).unwrap(), None);
        assert_eq!(get(r#"{"params":"s"}"#, &["params", "x"]).unwrap(), None);
    }

    #[test]
    fn splice_refuses_overlaps_instead_of_panicking() {
        assert_eq!(splice("abcdef", &[(1..3, "X"), (2..4, "Y")]), None);
        assert_eq!(splice("abc", &[(2..9, "X")]), None);
        assert_eq!(
            splice("abcdef", &[(4..5, "Y"), (0..1, "X")]).unwrap(),
            "XbcdYf"
        );
    }
}
