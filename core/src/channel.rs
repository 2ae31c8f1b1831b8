//! Channel names: which MCP binding a command is for.
//!
//! The control plane routes each command to a *channel* and the client advertises the
//! channels it serves in `X-Tunnel-MCP-Server-Info`. Both sides must agree on one spelling,
//! so a name is only ever held in its canonical form: 1–64 characters of `a-z`, `0-9`, `_`
//! and `-`. The two constructors differ in how forgiving they are:
//!
//! * [`ChannelName::canonical`] is for configuration. An operator who writes `Tools` gets an
//!   error that says `tools`, instead of a header whose spelling silently differs from the
//!   YAML they wrote.
//! * [`ChannelName::from_wire`] is for commands. The control plane is the authority on what
//!   it sends, so surrounding whitespace and case are normalised, and a missing or empty
//!   channel means `main` — the same leniency as the Go client.

use std::fmt;

/// Longest channel name, in bytes (all allowed characters are ASCII).
pub const MAX_CHANNEL_LEN: usize = 64;

/// Name of the default channel.
pub const MAIN: &str = "main";

/// A validated, canonical channel name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelName(String);

/// Why a channel name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    /// Nothing left after trimming.
    Empty,
    /// More than [`MAX_CHANNEL_LEN`] characters.
    TooLong { len: usize },
    /// A character outside `a-z`, `0-9`, `_`, `-`.
    InvalidCharacter { ch: char },
    /// Valid once trimmed and lower-cased, but configuration must spell it canonically.
    NotCanonical { canonical: String },
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelError::Empty => f.write_str("channel name is empty"),
            ChannelError::TooLong { len } => write!(
                f,
                "channel name is {len} characters long; at most {MAX_CHANNEL_LEN} are allowed"
            ),
            ChannelError::InvalidCharacter { ch } => write!(
                f,
                "channel name contains {ch:?}; only a-z, 0-9, '_' and '-' are allowed"
            ),
            ChannelError::NotCanonical { canonical } => write!(
                f,
                "channel name must be written in canonical form: use {canonical:?}"
            ),
        }
    }
}

impl std::error::Error for ChannelError {}

/// Checks the canonical grammar `^[a-z0-9_-]{1,64}$` without allocating.
fn check_canonical(s: &str) -> Result<(), ChannelError> {
    if s.is_empty() {
        return Err(ChannelError::Empty);
    }
    if let Some(ch) = s
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(ChannelError::InvalidCharacter { ch });
    }
    // All characters are ASCII here, so bytes == characters.
    if s.len() > MAX_CHANNEL_LEN {
        return Err(ChannelError::TooLong { len: s.len() });
    }
    Ok(())
}

/// Trim and lower-case the way the Go client does (Unicode whitespace, Unicode case
/// mapping). Unicode matters for one corner: `K` (KELVIN SIGN) lower-cases to ASCII `k`, so
/// both clients accept it as `k`.
fn normalise(s: &str) -> String {
    s.trim().to_lowercase()
}

impl ChannelName {
    /// The default channel, `main`.
    pub fn main() -> Self {
        ChannelName(MAIN.to_string())
    }

    /// Strict constructor for configuration: `s` must already be canonical.
    pub fn canonical(s: &str) -> Result<Self, ChannelError> {
        match check_canonical(s) {
            Ok(()) => Ok(ChannelName(s.to_string())),
            Err(err) => {
                let normalised = normalise(s);
                if normalised != s && check_canonical(&normalised).is_ok() {
                    Err(ChannelError::NotCanonical {
                        canonical: normalised,
                    })
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Lenient constructor for a command's `channel` field: trimmed and lower-cased; absent
    /// or empty means `main`.
    pub fn from_wire(s: Option<&str>) -> Result<Self, ChannelError> {
        let trimmed = s.map(str::trim).unwrap_or_default();
        if trimmed.is_empty() {
            return Ok(ChannelName::main());
        }
        // Refuse absurd input before allocating a lower-cased copy of it. Lower-casing can
        // shrink a string by at most a factor of 3 (e.g. `K`, 3 bytes, → `k`).
        if trimmed.len() > MAX_CHANNEL_LEN.saturating_mul(3) {
            return Err(ChannelError::TooLong {
                len: trimmed.chars().count(),
            });
        }
        let normalised = normalise(trimmed);
        check_canonical(&normalised)?;
        Ok(ChannelName(normalised))
    }

    /// Whether this is the default channel.
    pub fn is_main(&self) -> bool {
        self.0 == MAIN
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ChannelName {
    fn default() -> Self {
        ChannelName::main()
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ChannelName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ChannelName {
    type Err = ChannelError;

    /// Parsing means configuration, so it is the strict form.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChannelName::canonical(s)
    }
}

impl PartialEq<str> for ChannelName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ChannelName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl serde::Serialize for ChannelName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn main_is_the_default_channel() {
        assert_eq!(ChannelName::main().as_str(), "main");
        assert!(ChannelName::default().is_main());
    }

    #[test]
    fn wire_absent_or_blank_channel_means_main() {
        assert_eq!(ChannelName::from_wire(None).unwrap(), "main");
        assert_eq!(ChannelName::from_wire(Some("")).unwrap(), "main");
        assert_eq!(ChannelName::from_wire(Some(" \t ")).unwrap(), "main");
    }

    #[test]
    fn wire_channel_is_trimmed_and_lowercased() {
        assert_eq!(ChannelName::from_wire(Some(" Tools ")).unwrap(), "tools");
        assert_eq!(ChannelName::from_wire(Some("A_b-9")).unwrap(), "a_b-9");
    }

    #[test]
    fn wire_kelvin_sign_lowercases_to_k_like_go() {
        assert_eq!(ChannelName::from_wire(Some("\u{212A}")).unwrap(), "k");
    }

    #[test]
    fn wire_channel_with_invalid_character_is_refused() {
        assert_eq!(
            ChannelName::from_wire(Some("a/b")),
            Err(ChannelError::InvalidCharacter { ch: '/' })
        );
        assert_eq!(
            ChannelName::from_wire(Some("a b")),
            Err(ChannelError::InvalidCharacter { ch: ' ' })
        );
        assert!(ChannelName::from_wire(Some("é")).is_err());
    }

    #[test]
    fn channel_of_64_chars_is_accepted_and_65_refused() {
        let ok = "a".repeat(64);
        assert_eq!(ChannelName::canonical(&ok).unwrap().as_str(), ok);
        let long = "a".repeat(65);
        assert_eq!(
            ChannelName::canonical(&long),
            Err(ChannelError::TooLong { len: 65 })
        );
        assert_eq!(
            ChannelName::from_wire(Some(&long)),
            Err(ChannelError::TooLong { len: 65 })
        );
        assert!(ChannelName::from_wire(Some(&"a".repeat(10_000))).is_err());
    }

    #[test]
    fn config_channel_must_already_be_canonical() {
        assert_eq!(
            ChannelName::canonical("Tools"),
            Err(ChannelError::NotCanonical {
                canonical: "tools".into()
            })
        );
        assert_eq!(
            ChannelName::canonical(" tools"),
            Err(ChannelError::NotCanonical {
                canonical: "tools".into()
            })
        );
        assert_eq!(ChannelName::canonical(""), Err(ChannelError::Empty));
        assert_eq!(
            ChannelName::canonical("a.b"),
            Err(ChannelError::InvalidCharacter { ch: '.' })
        );
        assert_eq!("harpoon".parse::<ChannelName>().unwrap(), "harpoon");
    }

    #[test]
    fn channel_errors_read_well() {
        let e = ChannelName::canonical("Tools").unwrap_err();
        assert_eq!(
            e.to_string(),
            "channel name must be written in canonical form: use \"tools\""
        );
    }

    #[test]
    fn channel_serializes_as_a_plain_string() {
        let c = ChannelName::canonical("x-1").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"x-1\"");
    }

    proptest! {
        #[test]
        fn prop_wire_parser_never_panics_and_output_is_canonical(s in any::<String>()) {
            if let Ok(c) = ChannelName::from_wire(Some(&s)) {
                prop_assert!(ChannelName::canonical(c.as_str()).is_ok());
            }
        }

        #[test]
        fn prop_canonical_names_round_trip(s in "[a-z0-9_-]{1,64}") {
            let c = ChannelName::canonical(&s).unwrap();
            prop_assert_eq!(c.as_str(), s.as_str());
            prop_assert_eq!(ChannelName::from_wire(Some(&s)).unwrap(), c.clone());
            let padded = format!("  {}\t", s.to_uppercase());
            prop_assert_eq!(ChannelName::from_wire(Some(&padded)).unwrap(), c);
        }

        #[test]
        fn prop_strict_accepts_only_what_lenient_leaves_unchanged(s in "[ a-zA-Z0-9_./-]{0,70}") {
            match ChannelName::canonical(&s) {
                Ok(c) => prop_assert_eq!(c.as_str(), s.as_str()),
                Err(ChannelError::NotCanonical { canonical }) => {
                    let lenient = ChannelName::from_wire(Some(&s)).unwrap();
                    prop_assert_eq!(lenient.as_str(), canonical.as_str());
                }
                Err(_) => {
                    let lenient = ChannelName::from_wire(Some(&s));
                    prop_assert!(lenient.is_err() || s.trim().is_empty());
                }
            }
        }
    }
}
