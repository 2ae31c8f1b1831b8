//! Commands the emulator hands out on poll: what a test asks for, and how it is rendered.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A command to queue for the next poll(s).
///
/// Only `command_type` is needed; everything the contract requires but the test did not say
/// (`request_id`, `shard_token`, `created_at`) is generated. `fields` and `omit` let a test
/// bend the rendered object out of contract (a malformed `created_at`, a missing
/// `shard_token`); `raw` replaces the rendered object entirely with literal JSON text.
#[derive(Debug, Clone, Default)]
pub struct CommandSpec {
    /// `jsonrpc`, `session_termination`, `oauth_discovery`, or anything else (unknown types).
    pub command_type: String,
    /// `None` omits the field (the contract defaults it to `main`).
    pub channel: Option<String>,
    /// The JSON-RPC message for `jsonrpc` commands.
    pub jsonrpc: Option<Value>,
    /// Command `headers` (`map[string][]string` on the wire).
    pub headers: BTreeMap<String, Vec<String>>,
    /// `None` omits the field; `Some(Value::Null)`, a string, or any other JSON is sent as is
    /// (the contract says a bad value must fail open, so tests need to send bad values).
    pub response_timeout: Option<Value>,
    /// Fixed request id (default: generated, unique per emulator).
    pub request_id: Option<String>,
    /// Fixed shard token (default: generated, never equal to the request id so a client that
    /// confuses the two is caught).
    pub shard_token: Option<String>,
    /// Fields added to, or overriding, the rendered object.
    pub fields: Map<String, Value>,
    /// Rendered fields to leave out (e.g. `shard_token`).
    pub omit: Vec<String>,
    /// Literal JSON text used verbatim as this element of the `commands` array.
    pub raw: Option<String>,
}

impl CommandSpec {
    /// A command of any type (use for unknown types).
    pub fn of_type(command_type: &str) -> Self {
        Self {
            command_type: command_type.to_string(),
            ..Self::default()
        }
    }

    /// A `jsonrpc` command carrying `message`.
    pub fn jsonrpc(message: Value) -> Self {
        Self {
            command_type: "jsonrpc".into(),
            jsonrpc: Some(message),
            ..Self::default()
        }
    }

    /// A `session_termination` command for `session_id`.
    pub fn session_termination(session_id: &str) -> Self {
        Self::of_type("session_termination").header("Mcp-Session-Id", session_id)
    }

    /// An `oauth_discovery` command (undocumented in the contract; the service uses it to
    /// fetch protected-resource metadata through the tunnel).
    pub fn oauth_discovery() -> Self {
        Self::of_type("oauth_discovery")
    }

    /// A command element made of literal JSON text (may be anything, even invalid JSON, in
    /// which case the whole poll body becomes invalid).
    pub fn raw(text: &str) -> Self {
        Self {
            raw: Some(text.to_string()),
            ..Self::default()
        }
    }

    pub fn on_channel(mut self, channel: &str) -> Self {
        self.channel = Some(channel.to_string());
        self
    }

    /// Appends a header value.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .entry(name.to_string())
            .or_default()
            .push(value.to_string());
        self
    }

    pub fn response_timeout(mut self, value: &str) -> Self {
        self.response_timeout = Some(Value::String(value.to_string()));
        self
    }

    pub fn response_timeout_json(mut self, value: Value) -> Self {
        self.response_timeout = Some(value);
        self
    }

    pub fn request_id(mut self, id: &str) -> Self {
        self.request_id = Some(id.to_string());
        self
    }

    pub fn shard_token(mut self, token: &str) -> Self {
        self.shard_token = Some(token.to_string());
        self
    }

    pub fn field(mut self, name: &str, value: Value) -> Self {
        self.fields.insert(name.to_string(), value);
        self
    }

    pub fn omit(mut self, name: &str) -> Self {
        self.omit.push(name.to_string());
        self
    }
}

/// What the emulator remembers about a command it queued or handed out.
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    pub request_id: String,
    pub shard_token: String,
    pub command_type: String,
    /// Effective channel (lower-cased, `main` when absent), used for poll filters.
    pub channel: String,
    /// `X-Request-Id` from the command headers, which the client echoes as
    /// `X-Client-Request-Id` on its response POST.
    pub x_request_id: Option<String>,
}

/// Renders a spec into the JSON text of one `commands` element plus its tracking record.
pub(crate) fn render(
    spec: &CommandSpec,
    seq: u64,
    created_at: &str,
    default_timeout: Option<&str>,
) -> (String, Tracked) {
    let gen_id = format!("req_emu_{seq:06}");
    let gen_token = format!("shard-{seq:06}");
    if let Some(raw) = &spec.raw {
        let parsed: Option<Value> = serde_json::from_str(raw).ok();
        let get = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let tracked = Tracked {
            request_id: get("request_id").unwrap_or(gen_id),
            shard_token: get("shard_token").unwrap_or(gen_token),
            command_type: get("command_type").unwrap_or_default(),
            channel: effective_channel(get("channel").as_deref()),
            x_request_id: None,
        };
        return (raw.clone(), tracked);
    }
    let request_id = spec.request_id.clone().unwrap_or(gen_id);
    let shard_token = spec.shard_token.clone().unwrap_or(gen_token);
    let mut obj = Map::new();
    obj.insert("request_id".into(), Value::String(request_id.clone()));
    obj.insert("shard_token".into(), Value::String(shard_token.clone()));
    obj.insert(
        "command_type".into(),
        Value::String(spec.command_type.clone()),
    );
    if let Some(c) = &spec.channel {
        obj.insert("channel".into(), Value::String(c.clone()));
    }
    obj.insert("created_at".into(), Value::String(created_at.to_string()));
    match (&spec.response_timeout, default_timeout) {
        (Some(v), _) => {
            obj.insert("response_timeout".into(), v.clone());
        }
        (None, Some(d)) => {
            obj.insert("response_timeout".into(), Value::String(d.to_string()));
        }
        (None, None) => {}
    }
    let headers: Map<String, Value> = spec
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::Array(v.iter().cloned().map(Value::String).collect()),
            )
        })
        .collect();
    obj.insert("headers".into(), Value::Object(headers));
    if let Some(j) = &spec.jsonrpc {
        obj.insert("jsonrpc".into(), j.clone());
    }
    for (k, v) in &spec.fields {
        obj.insert(k.clone(), v.clone());
    }
    for k in &spec.omit {
        obj.remove(k);
    }
    let x_request_id = spec
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("X-Request-Id"))
        .and_then(|(_, v)| v.first().cloned());
    let tracked = Tracked {
        request_id,
        shard_token,
        command_type: spec.command_type.clone(),
        channel: effective_channel(spec.channel.as_deref()),
        x_request_id,
    };
    let text = serde_json::to_string(&Value::Object(obj)).unwrap_or_default();
    (text, tracked)
}

/// The channel a command is routed on: trimmed, lower-cased, `main` when absent or empty.
pub(crate) fn effective_channel(c: Option<&str>) -> String {
    match c.map(|c| c.trim().to_ascii_lowercase()) {
        Some(c) if !c.is_empty() => c,
        _ => "main".into(),
    }
}

/// Response types that end a command.
pub const TERMINAL_TYPES: [&str; 4] = [
    "jsonrpc_response",
    "notify_ack",
    "session_termination_response",
    "oauth_discovery_response",
];

/// Response types a client may post for a command type (`None`: any known type).
pub(crate) fn allowed_types(command_type: &str) -> Option<&'static [&'static str]> {
    match command_type {
        "jsonrpc" => Some(&["jsonrpc_response", "jsonrpc_notify", "notify_ack"]),
        "session_termination" => Some(&["session_termination_response"]),
        "oauth_discovery" => Some(&["oauth_discovery_response"]),
        _ => None,
    }
}

/// RFC 3339 UTC timestamp with milliseconds for `created_at`.
pub(crate) fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(rfc3339_now().len(), 24);
    }

    #[test]
    fn renders_defaults_and_overrides() {
        let spec =
            CommandSpec::jsonrpc(serde_json::json!({"jsonrpc":"2.0","id":1,"method":"ping"}))
                .header("X-Request-Id", "abc")
                .field("created_at", Value::String("yesterday".into()))
                .omit("shard_token");
        let (text, t) = render(&spec, 7, "2026-01-01T00:00:00.000Z", Some("30s"));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["request_id"], "req_emu_000007");
        assert!(v.get("shard_token").is_none());
        assert_eq!(v["created_at"], "yesterday");
        assert_eq!(v["response_timeout"], "30s");
        assert_eq!(t.channel, "main");
        assert_eq!(t.x_request_id.as_deref(), Some("abc"));
    }
}
