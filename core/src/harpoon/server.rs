//! The Harpoon MCP tool server: `initialize`, `ping`, `tools/list` and `tools/call` for
//! `list_targets`, `get_oauth_target_audience` and `call_target`, with the Go client's
//! names, schemas, result shapes and error texts (§1.1, §1.4).
//!
//! Stateless: every message is answered on its own (the Go in-memory transport's session
//! carries nothing a caller can observe). A `call_target` returns a [`Call`] to run; its
//! outcome becomes the JSON-RPC response with [`Server::call_result`].

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::call::{Call, Outcome};
use super::registry::Registry;
use super::Settings;

const INSTRUCTIONS_HEAD: &str = "Harpoon provides a constrained outbound HTTP client. Use list_targets to see allowlisted targets and call_target to make GET/POST/PUT requests with strict size, timeout, and redirect limits.";
const INSTRUCTIONS_AUDIENCE: &str = " get_oauth_target_audience is a narrow opt-in lookup for OAuth token-endpoint private_key_jwt audiences.";
const INSTRUCTIONS_TAIL: &str =
    " Harpoon cannot reach arbitrary hosts or paths outside the configured allowlist.";
/// Protocol versions this server speaks, newest first.
const PROTOCOL_VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];
const LABEL_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";
const HEADER_NAME_PATTERN: &str = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/// What to do with a message.
#[derive(Debug)]
pub enum Reply {
    /// Post this JSON-RPC response now.
    Response(Box<RawValue>),
    /// A notification (or a client's response): acknowledge it.
    Ack,
    /// Run this call; answer `id` with [`Server::call_result`].
    Call { id: Value, call: Box<Call> },
    /// A `call_target` refused before any I/O: post `response`; `outcome` is for the log
    /// line and the metrics.
    Refused {
        response: Box<RawValue>,
        outcome: Box<Outcome>,
    },
}

/// The server: the registry and settings it answers from.
#[derive(Debug, Clone)]
pub struct Server {
    pub registry: Registry,
    pub settings: Settings,
}

fn raw(v: Value) -> Box<RawValue> {
    // ok: a serde_json::Value always serialises.
    RawValue::from_string(v.to_string()).unwrap_or_else(|_| {
        RawValue::from_string("{}".into()).expect("literal JSON") // ok: literal
    })
}

fn response(id: &Value, result: Value) -> Reply {
    Reply::Response(raw(json!({"jsonrpc": "2.0", "id": id, "result": result})))
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Reply {
    Reply::Response(raw(
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
    ))
}

fn tool_error(label: &str, message: &str) -> Value {
    json!({"content": [{"type": "text", "text": format!("label {label}: {message}")}], "isError": true})
}

fn tool_ok(structured: Value, text: String) -> Value {
    json!({"content": [{"type": "text", "text": text}], "structuredContent": structured})
}

/// The compact text form of a `call_target` result (Go's field order and `omitempty`).
#[derive(Serialize)]
struct CallText<'a> {
    status_code: u16,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    headers: &'a std::collections::BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "str::is_empty")]
    body_base64: &'a str,
    body_size_bytes: usize,
}

fn lower_set(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

impl Server {
    pub fn new(registry: Registry, settings: Settings) -> Server {
        Server { registry, settings }
    }

    fn instructions(&self) -> String {
        let mut s = INSTRUCTIONS_HEAD.to_string();
        if self.settings.full {
            s.push_str(INSTRUCTIONS_AUDIENCE);
        }
        s.push_str(INSTRUCTIONS_TAIL);
        s
    }

    /// Answers one JSON-RPC message.
    pub fn handle(&self, message: &RawValue) -> Reply {
        let Ok(msg) = serde_json::from_str::<Map<String, Value>>(message.get()) else {
            return rpc_error(&Value::Null, -32700, "parse error");
        };
        let method = msg.get("method").and_then(Value::as_str);
        let id = msg.get("id").cloned();
        let (Some(method), Some(id)) = (method, id) else {
            return Reply::Ack;
        };
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        match method {
            "initialize" => {
                let asked = params.get("protocolVersion").and_then(Value::as_str);
                let version = asked
                    .filter(|v| PROTOCOL_VERSIONS.contains(v))
                    .unwrap_or(PROTOCOL_VERSIONS[0]);
                response(
                    &id,
                    json!({
                        "protocolVersion": version,
                        "capabilities": {"tools": {"listChanged": false}},
                        "serverInfo": {
                            "name": "harpoon",
                            "title": "Harpoon (Constrained HTTP Client)",
                            "version": self.settings.client_version,
                        },
                        "instructions": self.instructions(),
                    }),
                )
            }
            "ping" => response(&id, json!({})),
            "tools/list" => response(&id, json!({"tools": self.tools()})),
            "tools/call" => self.tools_call(id, &params),
            _ => rpc_error(&id, -32601, "method not found"),
        }
    }

    fn tools_call(&self, id: Value, params: &Value) -> Reply {
        let name = params.get("name").and_then(Value::as_str).unwrap_or("");
        let args = params.get("arguments").cloned().unwrap_or(json!({}));
        let args = if args.is_null() { json!({}) } else { args };
        match name {
            "list_targets" => {
                if !args.is_object() {
                    return response(&id, tool_error("unknown", "invalid parameters"));
                }
                response(&id, self.list_targets(&args))
            }
            "get_oauth_target_audience" if self.settings.full => {
                response(&id, self.audience(&args))
            }
            "call_target" => match Call::start(&self.registry, &self.settings, &args) {
                Ok(call) => Reply::Call {
                    id,
                    call: Box::new(call),
                },
                Err(outcome) => Reply::Refused {
                    response: self.call_result(&id, &outcome),
                    outcome,
                },
            },
            other => rpc_error(&id, -32602, &format!("unknown tool {other:?}")),
        }
    }

    fn list_targets(&self, args: &Value) -> Value {
        let cats = lower_set(args.get("categories"));
        let srcs = lower_set(args.get("sources"));
        let tags = lower_set(args.get("tags"));
        let targets: Vec<Value> = self
            .registry
            .targets()
            .iter()
            .filter(|t| cats.is_empty() || cats.contains(&t.category))
            .filter(|t| srcs.is_empty() || srcs.contains(&t.source))
            .filter(|t| tags.iter().all(|x| t.has_tag(x)))
            .map(|t| {
                json!({
                    "label": t.label,
                    "description": t.description,
                    "category": t.category,
                    "source": t.source,
                    "tags": t.tags,
                    "allowed_methods": ["GET", "POST", "PUT"],
                })
            })
            .collect();
        let structured = json!({ "targets": targets });
        let text = structured.to_string();
        tool_ok(structured, text)
    }

    fn audience(&self, args: &Value) -> Value {
        let Some(obj) = args.as_object() else {
            return tool_error("unknown", "invalid parameters");
        };
        let label = match obj.get("label") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(_) => return tool_error("unknown", "invalid parameters"),
        };
        if label.is_empty() {
            return tool_error("unknown", "label is required");
        }
        let err = |m: &str| tool_error(&label, m);
        let Some(t) = self.registry.get(&label) else {
            return err("unknown target");
        };
        if t.category != "oauth"
            || !t.has_tag("auth-server-metadata")
            || !t.has_tag("token-endpoint")
        {
            return err("target is not an OAuth token endpoint");
        }
        if t.exact.is_empty() {
            return err("target has no URL");
        }
        let usable = super::url::HUrl::parse(&t.exact).is_ok_and(|u| {
            matches!(u.scheme_lower().as_str(), "http" | "https")
                && u.userinfo.is_none()
                && u.fragment.is_none()
        });
        if !usable {
            return err("target URL cannot be used as an OAuth audience");
        }
        let structured = json!({ "audience": t.exact });
        let text = structured.to_string();
        tool_ok(structured, text)
    }

    /// The JSON-RPC response for a finished `call_target`.
    pub fn call_result(&self, id: &Value, outcome: &Outcome) -> Box<RawValue> {
        let result = match &outcome.result {
            Err(e) => tool_error(&outcome.error_label, &e.to_string()),
            Ok(r) => {
                let b64 = super::b64::encode(&r.body);
                let text = serde_json::to_string(&CallText {
                    status_code: r.status,
                    headers: &r.headers,
                    body_base64: &b64,
                    body_size_bytes: r.body_size,
                })
                .unwrap_or_default();
                let structured = json!({
                    "status_code": r.status,
                    "headers": r.headers,
                    "body_base64": b64,
                    "body_size_bytes": r.body_size,
                    "truncated": false,
                });
                tool_ok(structured, text)
            }
        };
        raw(json!({"jsonrpc": "2.0", "id": id, "result": result}))
    }

    /// The tool definitions, in Go's registration order.
    pub fn tools(&self) -> Vec<Value> {
        let max_bytes = self.settings.max_response_bytes();
        let max_redirects = self.settings.max_redirects();
        let label =
            json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": LABEL_PATTERN});
        let strings =
            |d: &str| json!({"type": "array", "items": {"type": "string"}, "description": d});
        let mut tools = vec![json!({
            "name": "list_targets",
            "title": "List Harpoon targets",
            "description": "List available allowlisted targets.",
            "annotations": {"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false},
            "inputSchema": {
                "type": "object",
                "title": "List Harpoon targets",
                "description": "List available allowlisted targets.",
                "properties": {
                    "categories": strings("Target categories to include."),
                    "sources": strings("Target sources to include."),
                    "tags": strings("Target tags to include (all tags must match)."),
                },
                "additionalProperties": false,
            },
            "outputSchema": {
                "type": "object",
                "title": "Harpoon target list",
                "required": ["targets"],
                "properties": {"targets": {"type": "array", "items": {
                    "type": "object",
                    "required": ["label", "allowed_methods"],
                    "properties": {
                        "label": label,
                        "description": {"type": "string"},
                        "category": {"type": "string"},
                        "source": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "allowed_methods": {"type": "array", "items": {"type": "string", "enum": ["GET", "POST", "PUT"]}},
                    },
                }}},
            },
        })];
        if self.settings.full {
            tools.push(json!({
                "name": "get_oauth_target_audience",
                "title": "Get OAuth target audience",
                "description": "Resolve the exact upstream URL for an allowlisted OAuth token endpoint.",
                "annotations": {"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false},
                "inputSchema": {
                    "type": "object",
                    "title": "Get OAuth target audience",
                    "description": "Resolve the exact upstream URL for an allowlisted OAuth token endpoint.",
                    "required": ["label"],
                    "properties": {"label": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": LABEL_PATTERN, "description": "OAuth token-endpoint target label."}},
                    "additionalProperties": false,
                },
                "outputSchema": {
                    "type": "object",
                    "required": ["audience"],
                    "properties": {"audience": {"type": "string", "format": "uri", "description": "Exact upstream OAuth token endpoint URL to use as a private_key_jwt audience."}},
                },
            }));
        }
        tools.push(json!({
            "name": "call_target",
            "title": "Call Harpoon target",
            "description": "Call an allowlisted HTTP target by label.",
            "annotations": {"openWorldHint": true},
            "inputSchema": {
                "type": "object",
                "title": "Call Harpoon target",
                "description": "Call an allowlisted HTTP target by label.",
                "required": ["label", "method"],
                "properties": {
                    "label": label,
                    "method": {"type": "string", "enum": ["GET", "POST", "PUT"]},
                    "headers": {
                        "type": "object",
                        "default": {},
                        "propertyNames": {"pattern": HEADER_NAME_PATTERN},
                        "additionalProperties": {"type": "string"},
                        "description": "Request headers. Proxy/forwarding headers, client-managed identity headers and headers nominated by Connection are not forwarded.",
                    },
                    "body": {"type": "string", "description": "Raw request body."},
                    "timeout_ms": {"type": "integer", "minimum": 100, "maximum": 120000, "default": 30000},
                    "max_response_bytes": {"type": "integer", "minimum": 1, "maximum": max_bytes, "default": max_bytes},
                    "follow_redirects": {"type": "boolean", "default": true},
                    "max_redirects": {"type": "integer", "minimum": 0, "maximum": max_redirects, "default": max_redirects},
                },
                "additionalProperties": false,
            },
            "outputSchema": {
                "type": "object",
                "title": "Harpoon call result",
                "required": ["status_code", "headers", "body_base64", "body_size_bytes", "truncated"],
                "properties": {
                    "status_code": {"type": "integer", "minimum": 100, "maximum": 599},
                    "headers": {"type": "object", "propertyNames": {"pattern": HEADER_NAME_PATTERN}, "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                    "body_base64": {"type": "string", "contentEncoding": "base64"},
                    "body_size_bytes": {"type": "integer", "minimum": 0, "maximum": max_bytes},
                    "truncated": {"type": "boolean"},
                },
            },
        }));
        tools
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
