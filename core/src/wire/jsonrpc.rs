//! A single JSON-RPC 2.0 message kept as its raw bytes, with just enough parsed to route it.
//!
//! The tunnel forwards other people's JSON-RPC: re-encoding would reorder keys, change number
//! spellings or drop members, so the raw text is what travels. Only `id` and `method` are
//! looked at.

use serde::Deserialize;
use serde_json::value::RawValue;

/// What kind of JSON-RPC message this is, which decides how the tunnel treats it.
#[derive(Debug, Clone)]
pub enum MessageShape {
    /// Has `method` and a non-null `id`: expects exactly one response.
    Request { id: Box<RawValue>, method: String },
    /// Has `method` and no `id` (or `id: null`): fire and forget.
    Notification { method: String },
    /// No `method`, has `id`: an answer, e.g. the connector answering a server→client request.
    Response { id: Box<RawValue> },
}

/// A decoded JSON-RPC 2.0 message: raw bytes plus its shape.
#[derive(Debug, Clone)]
pub struct JsonRpcMessage {
    raw: Box<RawValue>,
    shape: MessageShape,
}

/// Why a payload is not a single JSON-RPC 2.0 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonRpcError {
    NotJson,
    NotAnObject,
    WrongVersion,
    MethodNotString,
    ResponseWithoutId,
    InvalidId,
}

impl std::fmt::Display for JsonRpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JsonRpcError::NotJson => "payload is not valid JSON",
            JsonRpcError::NotAnObject => "payload is not a JSON object (batches are not supported)",
            JsonRpcError::WrongVersion => "payload lacks \"jsonrpc\":\"2.0\"",
            JsonRpcError::MethodNotString => "\"method\" is not a string",
            JsonRpcError::ResponseWithoutId => "a response without \"id\"",
            JsonRpcError::InvalidId => "\"id\" is neither a string nor a number",
        })
    }
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
}

impl JsonRpcMessage {
    /// Parses one JSON-RPC message from raw JSON text.
    pub fn from_raw(raw: Box<RawValue>) -> Result<Self, JsonRpcError> {
        let text = raw.get();
        if !text.trim_start().starts_with('{') {
            return Err(JsonRpcError::NotAnObject);
        }
        let peek: Peek<'_> = serde_json::from_str(text).map_err(|_| JsonRpcError::NotJson)?;
        match peek.jsonrpc.map(|v| v.get()) {
            Some("\"2.0\"") => {}
            _ => return Err(JsonRpcError::WrongVersion),
        }
        let id = match peek.id {
            None => None,
            Some(v) if v.get() == "null" => None,
            Some(v) => {
                let first = v.get().as_bytes().first().copied();
                match first {
                    Some(b'"') | Some(b'-') | Some(b'0'..=b'9') => Some(v.to_owned()),
                    _ => return Err(JsonRpcError::InvalidId),
                }
            }
        };
        let method = match peek.method {
            None => None,
            Some(m) => Some(
                serde_json::from_str::<String>(m.get())
                    .map_err(|_| JsonRpcError::MethodNotString)?,
            ),
        };
        let shape = match (method, id) {
            (Some(method), Some(id)) => MessageShape::Request { id, method },
            (Some(method), None) => MessageShape::Notification { method },
            (None, Some(id)) => MessageShape::Response { id },
            (None, None) => return Err(JsonRpcError::ResponseWithoutId),
        };
        Ok(JsonRpcMessage { raw, shape })
    }

    /// Parses bytes (e.g. an SSE `data` payload or a stdio line).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, JsonRpcError> {
        let raw: Box<RawValue> =
            serde_json::from_slice(bytes).map_err(|_| JsonRpcError::NotJson)?;
        Self::from_raw(raw)
    }

    pub fn raw(&self) -> &RawValue {
        &self.raw
    }

    pub fn into_raw(self) -> Box<RawValue> {
        self.raw
    }

    pub fn shape(&self) -> &MessageShape {
        &self.shape
    }

    /// The method for requests and notifications.
    pub fn method(&self) -> Option<&str> {
        match &self.shape {
            MessageShape::Request { method, .. } | MessageShape::Notification { method } => {
                Some(method)
            }
            MessageShape::Response { .. } => None,
        }
    }

    /// The id for requests and responses.
    pub fn id(&self) -> Option<&RawValue> {
        match &self.shape {
            MessageShape::Request { id, .. } | MessageShape::Response { id } => Some(id),
            MessageShape::Notification { .. } => None,
        }
    }
}

/// Compares two JSON-RPC ids by value, not spelling: `1` equals `1.0`? No — JSON-RPC ids are
/// compared as the JSON values they denote, so `"1"` differs from `1`, while `1` and `1e0`
/// denote the same number and are equal.
pub fn ids_equal(a: &RawValue, b: &RawValue) -> bool {
    if a.get() == b.get() {
        return true;
    }
    let pa: Result<serde_json::Value, _> = serde_json::from_str(a.get());
    let pb: Result<serde_json::Value, _> = serde_json::from_str(b.get());
    match (pa, pb) {
        (Ok(serde_json::Value::Number(x)), Ok(serde_json::Value::Number(y))) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Method label for metrics, bounded to the known MCP methods plus `other`, so a hostile or
/// buggy peer cannot explode metric cardinality.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "sampling/createMessage",
        "elicitation/create",
        "roots/list",
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/message",
        "notifications/roots/list_changed",
        "notifications/tools/list_changed",
        "notifications/resources/list_changed",
        "notifications/resources/updated",
        "notifications/prompts/list_changed",
    ];
    KNOWN
        .iter()
        .find(|k| **k == method)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Result<JsonRpcMessage, JsonRpcError> {
        JsonRpcMessage::from_slice(s.as_bytes())
    }

    #[test]
    fn request_notification_and_response_shapes_are_told_apart() {
        assert!(matches!(
            msg(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
                .unwrap()
                .shape(),
            MessageShape::Request { .. }
        ));
        assert!(matches!(
            msg(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
                .unwrap()
                .shape(),
            MessageShape::Notification { .. }
        ));
        assert!(matches!(
            msg(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#)
                .unwrap()
                .shape(),
            MessageShape::Notification { .. }
        ));
        assert!(matches!(
            msg(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#)
                .unwrap()
                .shape(),
            MessageShape::Response { .. }
        ));
    }

    #[test]
    fn non_messages_are_rejected() {
        assert_eq!(msg("[1]").unwrap_err(), JsonRpcError::NotAnObject);
        assert_eq!(msg("{").unwrap_err(), JsonRpcError::NotJson);
        assert_eq!(
            msg(r#"{"id":1,"method":"x"}"#).unwrap_err(),
            JsonRpcError::WrongVersion
        );
        assert_eq!(
            msg(r#"{"jsonrpc":"2.0","result":1}"#).unwrap_err(),
            JsonRpcError::ResponseWithoutId
        );
        assert_eq!(
            msg(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#).unwrap_err(),
            JsonRpcError::InvalidId
        );
        assert_eq!(
            msg(r#"{"jsonrpc":"2.0","id":1,"method":5}"#).unwrap_err(),
            JsonRpcError::MethodNotString
        );
    }

    #[test]
    fn raw_bytes_are_kept_verbatim() {
        let text = r#"{ "jsonrpc" : "2.0", "id": 7, "method":"tools/call", "params": {"b":1, "a": 2.50} }"#;
        assert_eq!(msg(text).unwrap().raw().get(), text);
    }

    #[test]
    fn ids_compare_by_value_not_spelling() {
        let r = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        assert!(ids_equal(&r("1"), &r("1")));
        assert!(ids_equal(&r("1"), &r("1.0")));
        assert!(!ids_equal(&r("1"), &r("\"1\"")));
        assert!(ids_equal(&r("\"a\""), &r("\"\\u0061\"")));
        assert!(!ids_equal(&r("2"), &r("3")));
    }

    #[test]
    fn method_labels_are_bounded() {
        assert_eq!(method_label("tools/call"), "tools/call");
        assert_eq!(method_label("evil/{random}"), "other");
    }
}
