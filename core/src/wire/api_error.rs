//! The control plane's error body, and the operator advice that goes with its stable codes.

use serde::Deserialize;

/// How much of an error body is read and how much of a non-JSON body is kept for logs.
pub const MAX_ERROR_BODY: usize = 64 * 1024;
const MAX_TEXT: usize = 1024;

/// A parsed API error: `{"error":{"message","type","param","code"}}` or the same fields at
/// the top level. Non-JSON bodies are kept as truncated text in `message`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiError {
    pub message: Option<String>,
    pub error_type: Option<String>,
    pub param: Option<String>,
    pub code: Option<String>,
}

#[derive(Deserialize, Default)]
struct Body {
    #[serde(default)]
    message: Option<serde_json::Value>,
    #[serde(default, rename = "type")]
    error_type: Option<serde_json::Value>,
    #[serde(default)]
    param: Option<serde_json::Value>,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    detail: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Wrapper {
    #[serde(default)]
    error: Option<Body>,
    #[serde(flatten)]
    top: Body,
}

fn text(v: Option<serde_json::Value>) -> Option<String> {
    match v {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl ApiError {
    /// Parses an error body (only the first [`MAX_ERROR_BODY`] bytes are considered).
    pub fn parse(body: &[u8]) -> Option<ApiError> {
        let body = &body[..body.len().min(MAX_ERROR_BODY)];
        if body.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        match serde_json::from_slice::<Wrapper>(body) {
            Ok(w) => {
                let b = w.error.unwrap_or(w.top);
                let message = text(b.message).or_else(|| text(b.detail));
                let e = ApiError {
                    message: message.map(|m| truncate(&m, MAX_TEXT)),
                    error_type: text(b.error_type),
                    param: text(b.param),
                    code: text(b.code),
                };
                (e != ApiError::default()).then_some(e)
            }
            Err(_) => Some(ApiError {
                message: Some(truncate(&String::from_utf8_lossy(body), MAX_TEXT)),
                ..ApiError::default()
            }),
        }
    }

    /// What the operator should do about this error, when its code is a known one; the
    /// settings it names are worded by the caller (`names`).
    pub fn mitigation(&self, names: &SettingNames) -> Option<String> {
        mitigation_for(self.code.as_deref()?, names)
    }
}

/// How the caller names the settings a fix hint points at (its flags, environment
/// variables, file keys). The core knows no CLI words: `Default` is plain prose, and
/// `tunnel-client` fills in its own names (`EngineConfig::setting_names`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingNames {
    pub tunnel_id: String,
    pub organization_id: String,
    pub api_key: String,
}

impl Default for SettingNames {
    fn default() -> Self {
        SettingNames {
            tunnel_id: "the tunnel id setting".to_string(),
            organization_id: "the organization id setting".to_string(),
            api_key: "the API key setting".to_string(),
        }
    }
}

/// Operator advice for the stable tunnel-service error codes of the contract, naming the
/// settings as the caller does (`names`).
pub fn mitigation_for(code: &str, names: &SettingNames) -> Option<String> {
    let SettingNames {
        tunnel_id,
        organization_id,
        api_key,
    } = names;
    Some(match code {
        "invalid_tunnel_id_format" => format!("set {tunnel_id} to the exact tunnel_<32 chars> id from the Platform tunnel settings"),
        "tunnel_active_organization_required" => format!("set {organization_id}"),
        "tunnel_request_mismatch" => format!("the response went to a different tunnel than the one that issued the command; check {tunnel_id}"),
        "tunnel_not_found" => format!("no tunnel with this id exists for this key; check {tunnel_id}"),
        "invalid_api_key" => format!("the API key was rejected; set {api_key} to a valid runtime key for this tunnel"),
        other => fixed(other)?.to_string(),
    })
}

/// The hints that name no setting.
fn fixed(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_channel_format" => "channel names may only use lowercase letters, digits, '-' and '_'",
        "invalid_json_payload" => "the MCP caller or server sent a body that is not a JSON object; fix that side",
        "missing_mcp_session_id" => "session termination needs the Mcp-Session-Id of the active session",
        "rate_limit_exceeded" => "lower the request rate; the client retries after backoff",
        "request_body_too_large" => "the MCP request or response is larger than the service accepts; return smaller payloads",
        "tunnel_client_not_connected" | "tunnel_client_not_seen" => "start or restart tunnel-client with the matching tunnel id and API key, then check /readyz",
        "tunnel_missing_principals" => "use a runtime API key of the organization or workspace the tunnel belongs to",
        "tunnel_queue_full" => "the tunnel's queue is full: lower MCP request concurrency or add tunnel-client capacity",
        "tunnel_use_forbidden" => "this API key may not use the tunnel; check its project, organization and permissions",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_hints_name_the_callers_settings_and_no_cli_words_of_their_own() {
        let names = SettingNames {
            tunnel_id: "MY_TUNNEL".into(),
            organization_id: "MY_ORG".into(),
            api_key: "MY_KEY".into(),
        };
        let hint = |code, names: &SettingNames| mitigation_for(code, names).unwrap();
        assert!(hint("invalid_tunnel_id_format", &names).contains("set MY_TUNNEL"));
        assert!(hint("tunnel_not_found", &names).ends_with("check MY_TUNNEL"));
        assert!(hint("tunnel_active_organization_required", &names).contains("MY_ORG"));
        assert!(hint("invalid_api_key", &names).contains("set MY_KEY"));
        for code in [
            "invalid_tunnel_id_format",
            "tunnel_active_organization_required",
            "tunnel_request_mismatch",
            "tunnel_not_found",
            "invalid_api_key",
            "tunnel_queue_full",
        ] {
            let h = hint(code, &SettingNames::default());
            assert!(
                !h.contains("--") && !h.contains("CONTROL_PLANE") && !h.contains("control_plane."),
                "{code}: {h}"
            );
        }
    }

    #[test]
    fn nested_and_top_level_error_shapes_parse() {
        let e = ApiError::parse(br#"{"error":{"message":"nope","type":"invalid_request_error","code":"tunnel_queue_full","param":null}}"#).unwrap();
        assert_eq!(e.code.as_deref(), Some("tunnel_queue_full"));
        assert!(e
            .mitigation(&SettingNames::default())
            .unwrap()
            .contains("queue is full"));
        let e = ApiError::parse(br#"{"detail":"Not authenticated"}"#).unwrap();
        assert_eq!(e.message.as_deref(), Some("Not authenticated"));
    }

    #[test]
    fn non_json_error_bodies_are_kept_truncated() {
        let body = vec![b'x'; 5000];
        let e = ApiError::parse(&body).unwrap();
        assert!(e.message.unwrap().len() <= MAX_TEXT + 3);
        assert_eq!(ApiError::parse(b"  "), None);
    }
}
