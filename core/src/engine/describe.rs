//! One operator-readable log line per engine event, written once for every driver.
//!
//! Lines name the command by `request_id` and channel, never carry payloads, headers, the
//! API key or shard tokens, and say what to do when the operator has something to do (401/403,
//! 413). The text is built by [`Event::describe`] so it can be tested without a logger.

use log::Level;

use super::Event;
use crate::wire::api_error::{ApiError, SettingNames};

fn api_error_text(e: Option<&ApiError>) -> String {
    let Some(e) = e else { return String::new() };
    let mut s = String::new();
    if let Some(code) = &e.code {
        s.push_str(&format!(" ({code})"));
    }
    if let Some(m) = &e.message {
        s.push_str(&format!(": {m}"));
    }
    s
}

fn secs(d: std::time::Duration) -> String {
    if d.as_millis() < 10_000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

impl Event {
    /// The level and text of the operator log line for this event. `auth_fix` is what to
    /// do when the credentials are rejected without a more precise code (the caller's
    /// words: [`EngineConfig::auth_fix`](super::EngineConfig::auth_fix)).
    pub fn describe(&self, auth_fix: &str) -> (Level, String) {
        describe(self, auth_fix, &SettingNames::default())
    }

    /// [`Event::describe`] with fix hints naming the settings as the caller does.
    pub fn describe_with(&self, auth_fix: &str, names: &SettingNames) -> (Level, String) {
        describe(self, auth_fix, names)
    }
}

/// Go's "harpoon request completed" / "harpoon request failed" line: label, origin-only
/// URL, method, status, latency, sizes and the cause in Go's words; dropped caller headers
/// as a count and classes only.
fn harpoon_line(
    request_id: &str,
    latency: std::time::Duration,
    o: &crate::harpoon::Outcome,
) -> (Level, String) {
    let mut s = match &o.result {
        Ok(r) => format!(
            "harpoon request completed: label={} target_label={} url={} method={} status_code={} latency_ms={} response_content_type={:?} request_bytes={} response_bytes={}",
            o.metrics_label, o.metrics_label, o.origin, o.method, r.status, latency.as_millis(),
            r.content_type, o.request_bytes, r.body_size
        ),
        Err(e) => format!(
            "harpoon request failed: label={} target_label={} url={} method={} latency_ms={} outcome={} error={:?}",
            o.metrics_label, o.metrics_label, o.origin, o.method, latency.as_millis(), e.outcome(), e.cause()
        ),
    };
    if let Err(crate::harpoon::CallError::RedirectBlocked {
        mismatch,
        url_origin,
    }) = &o.result
    {
        s.push_str(&format!(
            " redirect_url={url_origin} redirect_reason=\"redirect target not in allow list\" redirect_mismatch_kind={}",
            mismatch.kind()
        ));
    }
    if o.dropped_headers.0 > 0 {
        s.push_str(&format!(
            " dropped_header_count={} dropped_header_classifications={:?}",
            o.dropped_headers.0, o.dropped_headers.1
        ));
    }
    s.push_str(&format!(" (command {request_id})"));
    let level = if o.result.is_ok() {
        Level::Info
    } else {
        Level::Warn
    };
    (level, s)
}

fn describe(event: &Event, auth_fix: &str, names: &SettingNames) -> (Level, String) {
    match event {
        Event::StdioLog { level, line }
        | Event::StartupCheck { level, line }
        | Event::HarpoonHost { level, line, .. } => (*level, line.clone()),
        Event::OAuthDiscovered { request_id, found, what } => (
            if *found { Level::Info } else { Level::Warn },
            format!("oauth discovery for command {request_id}: {what}"),
        ),
        Event::HarpoonCall { request_id, latency, outcome } => harpoon_line(request_id, *latency, outcome),
        Event::PollAuthFailed { status } => (
            Level::Debug,
            format!("poll rejected by the control plane (HTTP {status})"),
        ),
        Event::StdioRestarted { channel } => {
            (Level::Debug, format!("[stdio:{channel}] child restarted"))
        }
        Event::PollSucceeded { commands, dropped, .. } => (
            Level::Debug,
            format!("poll returned {commands} command(s){}", if *dropped > 0 { format!(", {dropped} dropped") } else { String::new() }),
        ),
        Event::PollFailed { error, retry_in, consecutive } => (
            if *consecutive >= 3 { Level::Warn } else { Level::Info },
            format!("poll failed ({consecutive} in a row): {error}; retrying in {}", secs(*retry_in)),
        ),
        Event::PollRecovered { after_failures } => {
            (Level::Info, format!("polling recovered after {after_failures} failure(s)"))
        }
        Event::AuthRejected { status, api_error, retry_in } => {
            let fix = api_error.as_ref().and_then(|e| e.mitigation(names));
            let fix = fix.as_deref().unwrap_or(auth_fix);
            (
                Level::Error,
                format!(
                    "control plane rejected the credentials (HTTP {status}{}); fix: {fix}; retrying in {}",
                    api_error_text(api_error.as_ref()),
                    secs(*retry_in)
                ),
            )
        }
        Event::OverLimit { returned, limit } => (
            Level::Warn,
            format!("control plane returned {returned} commands for limit={limit}; processing all of them"),
        ),
        Event::CommandDropped { request_id, reason } => (
            Level::Warn,
            format!("dropped command {}: {reason}", request_id.as_deref().unwrap_or("<no request_id>")),
        ),
        Event::UnknownCommandType { request_id, command_type } => (
            Level::Warn,
            format!("skipped command {request_id}: unknown command_type {command_type:?}"),
        ),
        Event::InvalidResponseTimeout { request_id } => (
            Level::Warn,
            format!("command {request_id}: invalid response_timeout ignored (no deadline)"),
        ),
        Event::ChannelRejected { request_id, channel, command_type } => (
            Level::Warn,
            format!("command {request_id} ({command_type}) for channel {channel}, which this client does not serve: answered 400"),
        ),
        Event::DeadlineExpired { request_id, channel, stage } => (
            Level::Warn,
            format!("command {request_id} on channel {channel}: response_timeout expired while {stage}; nothing posted"),
        ),
        Event::FailureSynthesized { request_id, channel, failure, resp_code, method } => (
            Level::Warn,
            format!(
                "command {request_id} ({method}) on channel {channel} failed: source={} kind={} status={resp_code}",
                failure.source().as_str(),
                failure.kind().map(|k| k.as_str()).unwrap_or("none"),
            ),
        ),
        Event::CommandCompleted { request_id, channel, resp_type, resp_code, method, poll_to_response, already_fulfilled, .. } => (
            Level::Info,
            format!(
                "command {request_id} ({method}) on channel {channel}: {} {resp_code} in {}{}",
                resp_type.as_str(),
                secs(*poll_to_response),
                if *already_fulfilled { " (the service already had a response)" } else { "" }
            ),
        ),
        Event::NotifyDeliveryFailed { request_id, status } => (
            Level::Warn,
            format!("command {request_id}: a notification could not be delivered ({}); later ones are skipped", status_text(*status)),
        ),
        Event::ResponseRejected { request_id, status, api_error } => {
            let fix = api_error.as_ref().and_then(|e| e.mitigation(names)).map(|m| format!("; fix: {m}")).unwrap_or_default();
            (
                Level::Error,
                format!("command {request_id}: the control plane refused the response (HTTP {status}{}){fix}", api_error_text(api_error.as_ref())),
            )
        }
        Event::ResponseDeliveryFailed { request_id, status, attempts } => (
            Level::Error,
            format!("command {request_id}: response not delivered after {attempts} attempt(s) ({})", status_text(*status)),
        ),
        Event::Abandoned { request_id, reason } => {
            (Level::Warn, format!("command {request_id} abandoned without a response: {reason}"))
        }
        Event::BindingAvailability { channel, down } => match down {
            Some(reason) => (Level::Warn, format!("channel {channel}: {reason}")),
            None => (Level::Info, format!("channel {channel}: MCP target reachable again")),
        },
        Event::MetadataFetched(m) => (Level::Info, format!("serving tunnel {} ({:?})", m.id, m.name)),
        Event::MetadataFailed { error } => (Level::Warn, format!("could not fetch tunnel metadata: {error}")),
        Event::ProtectedHeaderIgnored { name } => (
            Level::Warn,
            format!("control-plane extra header {name} is not sent: the client sets it itself and it cannot be overridden; remove it from the control-plane extra headers"),
        ),
        Event::Draining { timeout } => (
            Level::Info,
            format!("draining: polling stopped, finishing commands already taken (up to {timeout:?})"),
        ),
        Event::Drained { abandoned } => (
            Level::Info,
            if *abandoned == 0 {
                "drain complete".to_string()
            } else {
                format!("drain timed out; {abandoned} command(s) abandoned")
            },
        ),
    }
}

fn status_text(status: Option<u16>) -> String {
    match status {
        Some(s) => format!("HTTP {s}"),
        None => "transport error".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn auth_rejection_names_the_fix() {
        let event = Event::AuthRejected {
            status: 401,
            api_error: None,
            retry_in: Duration::from_secs(60),
        };
        let (level, text) = event.describe("set MY_KEY");
        assert_eq!(level, Level::Error);
        assert!(
            text.contains("HTTP 401") && text.contains("fix: set MY_KEY"),
            "{text}"
        );
    }
}
