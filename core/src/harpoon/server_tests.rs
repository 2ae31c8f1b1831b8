use super::*;
use crate::harpoon::registry::TargetSpec;

fn server() -> Server {
    let mut r = Registry::new(false);
    let mut t = TargetSpec::config("api", "https://h/api?secret=1");
    t.description = "The API".into();
    r.register(t).unwrap();
    let mut tok = TargetSpec::config("tok", "https://AUTH.internal/oauth//token");
    tok.category = "oauth".into();
    tok.tags = vec![
        "auth-server-metadata".into(),
        "token-endpoint".into(),
        "group=a".into(),
    ];
    r.register(tok).unwrap();
    let mut bad = TargetSpec::config("cred", "https://u:p@auth.internal/token#f");
    bad.category = "oauth".into();
    bad.tags = vec!["auth-server-metadata".into(), "token-endpoint".into()];
    r.register(bad).unwrap();
    Server::new(
        r,
        Settings {
            client_version: "1.2.3".into(),
            ..Settings::default()
        },
    )
}

fn call(s: &Server, msg: &str) -> Value {
    let raw = RawValue::from_string(msg.to_string()).unwrap();
    match s.handle(&raw) {
        Reply::Response(r) | Reply::Refused { response: r, .. } => {
            serde_json::from_str(r.get()).unwrap()
        }
        other => panic!("{other:?}"),
    }
}

fn tool(s: &Server, name: &str, args: Value) -> Value {
    let m = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": args}});
    call(s, &m.to_string())["result"].clone()
}

#[test]
fn initialize_names_the_server_like_go() {
    let v = call(
        &server(),
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}"#,
    );
    assert_eq!(v["id"], 1);
    let r = &v["result"];
    assert_eq!(r["protocolVersion"], "2025-03-26");
    assert_eq!(r["serverInfo"]["name"], "harpoon");
    assert_eq!(
        r["serverInfo"]["title"],
        "Harpoon (Constrained HTTP Client)"
    );
    assert_eq!(r["serverInfo"]["version"], "1.2.3");
    assert_eq!(r["capabilities"]["tools"]["listChanged"], false);
    assert!(r["instructions"]
        .as_str()
        .unwrap()
        .contains("get_oauth_target_audience"));
    let v = call(
        &server(),
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#,
    );
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
}

#[test]
fn notifications_are_acknowledged_and_unknown_methods_refused() {
    let s = server();
    let raw =
        RawValue::from_string(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into())
            .unwrap();
    assert!(matches!(s.handle(&raw), Reply::Ack));
    let v = call(
        &s,
        r#"{"jsonrpc":"2.0","id":"x","method":"resources/list"}"#,
    );
    assert_eq!(v["error"]["code"], -32601);
    let v = call(
        &s,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nope"}}"#,
    );
    assert_eq!(v["error"]["code"], -32602);
}

#[test]
fn tools_list_has_go_names_order_and_limits() {
    let v = call(
        &server(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    );
    let tools = v["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["list_targets", "get_oauth_target_audience", "call_target"]
    );
    let ct = &tools[2]["inputSchema"]["properties"];
    assert_eq!(ct["max_response_bytes"]["maximum"], 102400);
    assert_eq!(ct["max_redirects"]["default"], 5);
    assert_eq!(ct["timeout_ms"]["default"], 30000);
    assert_eq!(tools[2]["annotations"], json!({"openWorldHint": true}));
    let runtime = Server::new(
        Registry::new(false),
        Settings {
            full: false,
            ..Settings::default()
        },
    );
    assert_eq!(runtime.tools().len(), 2);
}

#[test]
fn list_targets_hides_urls_and_filters() {
    let s = server();
    let r = tool(&s, "list_targets", json!({}));
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        !text.contains("http://") && !text.contains("https://"),
        "{text}"
    );
    assert_eq!(
        r["structuredContent"]["targets"].as_array().unwrap().len(),
        3
    );
    assert_eq!(
        r["structuredContent"]["targets"][0]["allowed_methods"],
        json!(["GET", "POST", "PUT"])
    );
    assert_eq!(
        r["structuredContent"]["targets"][0]["description"],
        "The API"
    );
    let r = tool(
        &s,
        "list_targets",
        json!({"categories": [" OAuth ", ""], "tags": ["GROUP=a"]}),
    );
    let t = r["structuredContent"]["targets"].as_array().unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["label"], "tok");
    assert_eq!(
        t[0]["tags"],
        json!(["auth-server-metadata", "group=a", "token-endpoint"])
    );
    let r = tool(&s, "list_targets", json!({"categories": ["none"]}));
    assert_eq!(r["structuredContent"], json!({"targets": []}));
}

#[test]
fn audience_returns_the_exact_spelling_and_never_echoes_bad_urls() {
    let s = server();
    let r = tool(&s, "get_oauth_target_audience", json!({"label": "tok"}));
    assert_eq!(
        r["structuredContent"]["audience"],
        "https://AUTH.internal/oauth//token"
    );
    let r = tool(&s, "get_oauth_target_audience", json!({"label": "api"}));
    assert_eq!(
        r["content"][0]["text"],
        "label api: target is not an OAuth token endpoint"
    );
    let r = tool(&s, "get_oauth_target_audience", json!({"label": "cred"}));
    let text = r["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        text,
        "label cred: target URL cannot be used as an OAuth audience"
    );
    assert_eq!(r["isError"], true);
    let r = tool(&s, "get_oauth_target_audience", json!({}));
    assert_eq!(r["content"][0]["text"], "label unknown: label is required");
}

#[test]
fn call_target_errors_are_tool_errors_and_success_has_go_shape() {
    let s = server();
    let r = tool(
        &s,
        "call_target",
        json!({"label": "api", "method": "DELETE"}),
    );
    assert_eq!(
        r,
        json!({"content": [{"type": "text", "text": "label api: invalid method"}], "isError": true})
    );
    let m = RawValue::from_string(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "call_target", "arguments": {"label": "api", "method": "GET"}}}).to_string()).unwrap();
    let Reply::Call { id, mut call } = s.handle(&m) else {
        panic!()
    };
    let Some(crate::harpoon::Step::Request(req)) = call.poll() else {
        panic!()
    };
    assert_eq!(req.uri.to_string(), "https://h/api?secret=1");
    call.handle_response(200, &http::HeaderMap::new(), b"pong");
    let Some(crate::harpoon::Step::Done(o)) = call.poll() else {
        panic!()
    };
    let v: Value = serde_json::from_str(s.call_result(&id, &o).get()).unwrap();
    assert_eq!(v["id"], 3);
    let sc = &v["result"]["structuredContent"];
    assert_eq!(
        *sc,
        json!({"status_code": 200, "headers": {}, "body_base64": "cG9uZw==", "body_size_bytes": 4, "truncated": false})
    );
    assert_eq!(
        v["result"]["content"][0]["text"],
        r#"{"status_code":200,"body_base64":"cG9uZw==","body_size_bytes":4}"#
    );
}
