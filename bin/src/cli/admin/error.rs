//! Why an admin command failed, kept apart so the text and `--json` outputs can both render
//! it.

use crate::cli::api_errors::RequestError;
use crate::cli::args::CliError;

/// Why an admin command failed: an HTTP answer, or anything else.
pub(crate) enum AdminError {
    Http(Box<RequestError>, Option<String>),
    Other(String),
}

impl AdminError {
    pub(crate) fn message(&self) -> String {
        match self {
            AdminError::Http(e, Some(special)) => format!("{e}; {special}"),
            AdminError::Http(e, None) => e.to_string(),
            AdminError::Other(m) => m.clone(),
        }
    }
}

impl From<CliError> for AdminError {
    fn from(e: CliError) -> Self {
        AdminError::Other(e.to_string())
    }
}

pub(crate) fn other(m: impl Into<String>) -> AdminError {
    AdminError::Other(m.into())
}
