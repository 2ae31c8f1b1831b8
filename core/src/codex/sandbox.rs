//! Sandbox spellings. `thread/start.sandbox` wants kebab-case (`workspace-write`) and
//! rejects camelCase; `turn/start.sandboxPolicy.type` wants camelCase (`workspaceWrite`).
//! Users may type either; these convert.

/// `workspaceWrite` / `workspace_write` / `workspace-write` → `workspace-write`.
pub fn kebab(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    for c in v.trim().chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '_' {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

/// `workspace-write` / `workspaceWrite` → `workspaceWrite`.
pub fn camel(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut upper = false;
    for c in v.trim().chars() {
        if c == '-' || c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The `sandbox` of a `thread/start` response: a string, or an object with a camelCase
/// `type`; shown kebab-case.
pub fn display(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => kebab(s),
        serde_json::Value::Object(o) => o
            .get("type")
            .and_then(|t| t.as_str())
            .map(kebab)
            .unwrap_or_default(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        assert_eq!(kebab("workspaceWrite"), "workspace-write");
        assert_eq!(kebab("workspace-write"), "workspace-write");
        assert_eq!(kebab("danger_full_access"), "danger-full-access");
        assert_eq!(camel("workspace-write"), "workspaceWrite");
        assert_eq!(camel("workspaceWrite"), "workspaceWrite");
        assert_eq!(camel("read-only"), "readOnly");
        assert_eq!(
            display(&serde_json::json!({"type":"workspaceWrite","networkAccess":false})),
            "workspace-write"
        );
    }
}
