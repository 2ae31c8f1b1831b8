//! The operator surface: redaction of everything logged or shown.

pub mod redact;
