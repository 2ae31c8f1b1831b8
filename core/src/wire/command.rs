//! The poll envelope and the commands inside it.
//!
//! The envelope is decoded first with each command left as raw JSON, then every command on
//! its own: one bad command is dropped alone (with a reason the engine logs and counts), and
//! only a body that is not `{"commands":[…]}` at all loses the batch.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::jsonrpc::{JsonRpcError, JsonRpcMessage};
use crate::channel::ChannelName;
use crate::timeout::parse_response_timeout;

/// The opaque shard token of a command. It authorises the response POST, so it is kept out of
/// `Debug` output and logs; it only ever travels in the `X-Tunnel-Shard-Token` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ShardToken(String);

impl ShardToken {
    pub fn new(token: impl Into<String>) -> Self {
        ShardToken(token.into())
    }
    /// The token itself, for the `X-Tunnel-Shard-Token` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ShardToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShardToken(<redacted>)")
    }
}

/// Command headers as the control plane sent them: names as given, values in order.
pub type CommandHeaders = Vec<(String, Vec<String>)>;

/// What the command asks the client to do.
#[derive(Debug, Clone)]
pub enum CommandKind {
    /// Forward a JSON-RPC message to the channel's MCP server.
    JsonRpc(JsonRpcMessage),
    /// End an MCP session: `DELETE` with the session id (Streamable HTTP only).
    SessionTermination { session_id: String },
    /// Fetch OAuth protected-resource metadata from the main MCP server (undocumented in the
    /// contract; used by the service for PRM discovery).
    OAuthDiscovery,
    /// A `command_type` this client does not know. Kept (not a decode error) so the engine can
    /// log it by name and carry on.
    Unknown { command_type: String },
}

impl CommandKind {
    /// The wire `command_type`, for logs and metric labels.
    pub fn command_type(&self) -> &str {
        match self {
            CommandKind::JsonRpc(_) => "jsonrpc",
            CommandKind::SessionTermination { .. } => "session_termination",
            CommandKind::OAuthDiscovery => "oauth_discovery",
            CommandKind::Unknown { command_type } => command_type,
        }
    }
}

/// One decoded command.
#[derive(Debug, Clone)]
pub struct PolledCommand {
    pub request_id: String,
    pub shard_token: ShardToken,
    pub channel: ChannelName,
    /// `created_at` as sent; only used for an enqueue-to-response latency figure, so a
    /// malformed value never drops the command (unlike the Go client).
    pub created_at: Option<String>,
    /// A valid `response_timeout`; `None` means no deadline (absent, null or invalid).
    pub response_timeout: Option<Duration>,
    /// Whether a `response_timeout` was present but did not match the grammar (for a log line).
    pub response_timeout_invalid: bool,
    pub headers: CommandHeaders,
    pub kind: CommandKind,
}

impl PolledCommand {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }
}

/// Why a single command was dropped without a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    NotAnObject,
    MissingCommandType,
    MissingRequestId,
    MissingShardToken,
    InvalidChannel(String),
    InvalidHeaders,
    MissingJsonRpc,
    InvalidJsonRpc(JsonRpcError),
    MissingSessionId,
    /// A command with this `request_id` is still in flight here (a redelivery): running it
    /// again could execute a tool call twice, and its response would be refused anyway.
    DuplicateInFlight,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::NotAnObject => f.write_str("command is not a JSON object"),
            DropReason::MissingCommandType => f.write_str("missing command_type"),
            DropReason::MissingRequestId => f.write_str("missing request_id"),
            DropReason::MissingShardToken => f.write_str("missing shard_token"),
            DropReason::InvalidChannel(c) => write!(f, "invalid channel name {c:?}"),
            DropReason::InvalidHeaders => f.write_str("headers is not an object of string arrays"),
            DropReason::MissingJsonRpc => f.write_str("jsonrpc command without a jsonrpc payload"),
            DropReason::InvalidJsonRpc(e) => write!(f, "invalid jsonrpc payload: {e}"),
            DropReason::MissingSessionId => {
                f.write_str("session_termination without an Mcp-Session-Id header")
            }
            DropReason::DuplicateInFlight => {
                f.write_str("a command with this request_id is already in flight")
            }
        }
    }
}

impl DropReason {
    /// Stable label for the `drop_reason` metric.
    pub fn label(&self) -> &'static str {
        match self {
            DropReason::NotAnObject => "not_an_object",
            DropReason::MissingCommandType => "missing_command_type",
            DropReason::MissingRequestId => "missing_request_id",
            DropReason::MissingShardToken => "missing_shard_token",
            DropReason::InvalidChannel(_) => "invalid_channel",
            DropReason::InvalidHeaders => "invalid_headers",
            DropReason::MissingJsonRpc => "missing_jsonrpc",
            DropReason::InvalidJsonRpc(_) => "invalid_jsonrpc",
            DropReason::MissingSessionId => "missing_session_id",
            DropReason::DuplicateInFlight => "duplicate_in_flight",
        }
    }
}

/// A command that could not be decoded, with whatever identification could be recovered.
#[derive(Debug, Clone)]
pub struct DroppedCommand {
    pub request_id: Option<String>,
    pub reason: DropReason,
}

/// The outcome of decoding a 200 poll body.
#[derive(Debug, Default)]
pub struct PollBatch {
    pub commands: Vec<PolledCommand>,
    pub dropped: Vec<DroppedCommand>,
}

/// The poll body was not a `{"commands":[…]}` object: the whole poll failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError(pub String);

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "poll body is not a command list: {}", self.0)
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    commands: Option<Vec<Box<RawValue>>>,
}

#[derive(Deserialize)]
struct RawCommand {
    #[serde(default)]
    request_id: Option<serde_json::Value>,
    #[serde(default)]
    shard_token: Option<serde_json::Value>,
    #[serde(default)]
    command_type: Option<serde_json::Value>,
    #[serde(default)]
    channel: Option<serde_json::Value>,
    #[serde(default)]
    created_at: Option<serde_json::Value>,
    #[serde(default)]
    response_timeout: Option<Box<RawValue>>,
    #[serde(default)]
    headers: Option<serde_json::Value>,
    #[serde(default)]
    jsonrpc: Option<Box<RawValue>>,
}

fn non_empty_string(v: &Option<serde_json::Value>) -> Option<String> {
    match v {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn decode_headers(v: Option<serde_json::Value>) -> Result<CommandHeaders, DropReason> {
    let map = match v {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Object(map)) => map,
        Some(_) => return Err(DropReason::InvalidHeaders),
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, values) in map {
        let values = match values {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => Ok(s),
                    _ => Err(DropReason::InvalidHeaders),
                })
                .collect::<Result<Vec<_>, _>>()?,
            serde_json::Value::Null => Vec::new(),
            _ => return Err(DropReason::InvalidHeaders),
        };
        out.push((name, values));
    }
    Ok(out)
}

/// Decodes one command object.
pub fn decode_command(raw: &RawValue) -> Result<PolledCommand, DroppedCommand> {
    let parsed: Result<RawCommand, _> = if raw.get().starts_with('{') {
        serde_json::from_str(raw.get())
    } else {
        Err(serde::de::Error::custom("not an object"))
    };
    let parsed: RawCommand = match parsed {
        Ok(p) => p,
        Err(_) => {
            return Err(DroppedCommand {
                request_id: None,
                reason: DropReason::NotAnObject,
            });
        }
    };
    let request_id = non_empty_string(&parsed.request_id);
    let drop = |reason| DroppedCommand {
        request_id: request_id.clone(),
        reason,
    };
    let command_type = non_empty_string(&parsed.command_type)
        .ok_or_else(|| drop(DropReason::MissingCommandType))?;
    let rid = request_id
        .clone()
        .ok_or_else(|| drop(DropReason::MissingRequestId))?;
    let shard =
        non_empty_string(&parsed.shard_token).ok_or_else(|| drop(DropReason::MissingShardToken))?;
    let channel_text = match &parsed.channel {
        Some(serde_json::Value::String(s)) => Some(s.as_str()),
        None | Some(serde_json::Value::Null) => None,
        Some(other) => return Err(drop(DropReason::InvalidChannel(other.to_string()))),
    };
    let channel = ChannelName::from_wire(channel_text).map_err(|_| {
        drop(DropReason::InvalidChannel(
            channel_text.unwrap_or("").to_string(),
        ))
    })?;
    let headers = decode_headers(parsed.headers).map_err(drop)?;
    let created_at = match parsed.created_at {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    let timeout_raw = parsed.response_timeout.as_deref();
    let response_timeout = parse_response_timeout(timeout_raw);
    let response_timeout_invalid =
        response_timeout.is_none() && timeout_raw.is_some_and(|r| r.get() != "null");
    let kind = match command_type.as_str() {
        "jsonrpc" => {
            let payload = parsed
                .jsonrpc
                .ok_or_else(|| drop(DropReason::MissingJsonRpc))?;
            let msg = JsonRpcMessage::from_raw(payload)
                .map_err(|e| drop(DropReason::InvalidJsonRpc(e)))?;
            CommandKind::JsonRpc(msg)
        }
        "session_termination" => {
            let session_id = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id"))
                .and_then(|(_, v)| v.first())
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| drop(DropReason::MissingSessionId))?;
            CommandKind::SessionTermination { session_id }
        }
        "oauth_discovery" => CommandKind::OAuthDiscovery,
        other => CommandKind::Unknown {
            command_type: other.to_string(),
        },
    };
    Ok(PolledCommand {
        request_id: rid,
        shard_token: ShardToken(shard),
        channel,
        created_at,
        response_timeout,
        response_timeout_invalid,
        headers,
        kind,
    })
}

/// Decodes a 200 poll body. An error means the whole poll failed (the envelope itself is
/// unusable); otherwise every command is either decoded or listed as dropped.
pub fn decode_poll_body(body: &[u8]) -> Result<PollBatch, EnvelopeError> {
    // serde would also accept a JSON array for a struct; the contract says object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(EnvelopeError("expected a JSON object".to_string()));
    }
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => return Err(EnvelopeError(e.to_string())),
    };
    let mut batch = PollBatch::default();
    for raw in envelope.commands.unwrap_or_default() {
        match decode_command(&raw) {
            Ok(cmd) => batch.commands.push(cmd),
            Err(dropped) => batch.dropped.push(dropped),
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(cmd: &str) -> Result<PolledCommand, DroppedCommand> {
        let raw = RawValue::from_string(cmd.to_string()).unwrap();
        decode_command(&raw)
    }

    const BASE: &str =
        r#""request_id":"r1","shard_token":"s1","created_at":"2026-01-01T00:00:00Z""#;

    #[test]
    fn envelope_that_is_not_a_command_list_fails_the_poll() {
        assert!(decode_poll_body(b"").is_err());
        assert!(decode_poll_body(b"[]").is_err());
        assert!(decode_poll_body(b"{\"commands\":").is_err());
        assert!(decode_poll_body(b"{\"commands\":5}").is_err());
        assert!(decode_poll_body(b"{}").unwrap().commands.is_empty());
        assert!(decode_poll_body(b"{\"commands\":null}")
            .unwrap()
            .commands
            .is_empty());
    }

    #[test]
    fn a_bad_command_is_dropped_alone() {
        let body = format!(
            r#"{{"commands":[7,{{{BASE},"command_type":"jsonrpc","jsonrpc":{{"jsonrpc":"2.0","id":1,"method":"ping"}}}}]}}"#
        );
        let batch = decode_poll_body(body.as_bytes()).unwrap();
        assert_eq!(batch.commands.len(), 1);
        assert_eq!(batch.dropped.len(), 1);
        assert_eq!(batch.dropped[0].reason, DropReason::NotAnObject);
    }

    #[test]
    fn unknown_command_type_is_kept_with_its_raw_type() {
        let c = one(&format!(r#"{{{BASE},"command_type":"teleport"}}"#)).unwrap();
        assert!(
            matches!(c.kind, CommandKind::Unknown { ref command_type } if command_type == "teleport")
        );
    }

    #[test]
    fn missing_identifiers_drop_the_command() {
        let e = one(r#"{"shard_token":"s","command_type":"jsonrpc"}"#).unwrap_err();
        assert_eq!(e.reason, DropReason::MissingRequestId);
        let e = one(r#"{"request_id":"r","command_type":"jsonrpc"}"#).unwrap_err();
        assert_eq!(e.reason, DropReason::MissingShardToken);
        assert_eq!(e.request_id.as_deref(), Some("r"));
        let e = one(r#"{"request_id":"r","shard_token":"s"}"#).unwrap_err();
        assert_eq!(e.reason, DropReason::MissingCommandType);
    }

    #[test]
    fn channel_defaults_to_main_and_is_canonicalised() {
        let c = one(&format!(r#"{{{BASE},"command_type":"oauth_discovery"}}"#)).unwrap();
        assert_eq!(c.channel.as_str(), "main");
        let c = one(&format!(
            r#"{{{BASE},"command_type":"oauth_discovery","channel":" Tools "}}"#
        ))
        .unwrap();
        assert_eq!(c.channel.as_str(), "tools");
        let e = one(&format!(
            r#"{{{BASE},"command_type":"oauth_discovery","channel":"a/b"}}"#
        ))
        .unwrap_err();
        assert!(matches!(e.reason, DropReason::InvalidChannel(_)));
    }

    #[test]
    fn malformed_created_at_does_not_drop_the_command() {
        let c = one(r#"{"request_id":"r","shard_token":"s","created_at":"yesterday","command_type":"oauth_discovery"}"#).unwrap();
        assert_eq!(c.created_at.as_deref(), Some("yesterday"));
        let c = one(r#"{"request_id":"r","shard_token":"s","created_at":17,"command_type":"oauth_discovery"}"#).unwrap();
        assert_eq!(c.created_at, None);
    }

    #[test]
    fn invalid_response_timeout_means_no_deadline_and_is_flagged() {
        let c = one(&format!(
            r#"{{{BASE},"command_type":"oauth_discovery","response_timeout":"1.5s"}}"#
        ))
        .unwrap();
        assert_eq!(c.response_timeout, None);
        assert!(c.response_timeout_invalid);
        let c = one(&format!(
            r#"{{{BASE},"command_type":"oauth_discovery","response_timeout":null}}"#
        ))
        .unwrap();
        assert!(!c.response_timeout_invalid);
        let c = one(&format!(
            r#"{{{BASE},"command_type":"oauth_discovery","response_timeout":"250ms"}}"#
        ))
        .unwrap();
        assert_eq!(c.response_timeout, Some(Duration::from_millis(250)));
    }

    #[test]
    fn session_termination_requires_a_session_id() {
        let e = one(&format!(
            r#"{{{BASE},"command_type":"session_termination","headers":{{}}}}"#
        ))
        .unwrap_err();
        assert_eq!(e.reason, DropReason::MissingSessionId);
        let c = one(&format!(r#"{{{BASE},"command_type":"session_termination","headers":{{"mcp-session-id":["abc"]}}}}"#)).unwrap();
        assert!(
            matches!(c.kind, CommandKind::SessionTermination { ref session_id } if session_id == "abc")
        );
    }

    #[test]
    fn headers_keep_value_order_and_reject_wrong_types() {
        let c = one(&format!(
            r#"{{{BASE},"command_type":"oauth_discovery","headers":{{"X-A":["1","","2"]}}}}"#
        ))
        .unwrap();
        assert_eq!(
            c.headers,
            vec![("X-A".to_string(), vec!["1".into(), "".into(), "2".into()])]
        );
        let e = one(&format!(
            r#"{{{BASE},"command_type":"oauth_discovery","headers":{{"X-A":"1"}}}}"#
        ))
        .unwrap_err();
        assert_eq!(e.reason, DropReason::InvalidHeaders);
    }

    #[test]
    fn jsonrpc_payload_must_be_one_message() {
        let e = one(&format!(
            r#"{{{BASE},"command_type":"jsonrpc","jsonrpc":[]}}"#
        ))
        .unwrap_err();
        assert!(matches!(e.reason, DropReason::InvalidJsonRpc(_)));
        let e = one(&format!(r#"{{{BASE},"command_type":"jsonrpc"}}"#)).unwrap_err();
        assert_eq!(e.reason, DropReason::MissingJsonRpc);
    }

    #[test]
    fn shard_token_never_appears_in_debug_output() {
        let c = one(r#"{"request_id":"r","shard_token":"very-secret-shard","command_type":"oauth_discovery"}"#).unwrap();
        assert!(!format!("{c:?}").contains("very-secret-shard"));
        assert_eq!(c.shard_token.expose(), "very-secret-shard");
    }
}
