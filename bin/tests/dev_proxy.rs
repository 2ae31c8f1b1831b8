//! `tunnel-client dev proxy` (issue #17, the Go client's local stand-in for the tunnel
//! service): the official Python MCP SDK lists and calls tools through dev proxy → the
//! real client → a real MCP server (the Python SDK's own server), progress streamed as
//! SSE; the `oauth_discovery` well-known route; Go's header sanitising; the local control
//! plane's auth rule.

mod loopback;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{http_get, Scratch, BIN};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};
use tunnel_conformance::peers::Peers;

/// A running `dev proxy`; killed (SIGTERM, then SIGKILL) when dropped.
struct DevProxy {
    child: Child,
    info: Value,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl DevProxy {
    fn start(dir: &Scratch, extra: &[&str]) -> DevProxy {
        let url_file = dir.path("proxy.json");
        let mut child = Command::new(BIN)
            .args(["dev", "proxy", "--print-json", "--url-file"])
            .arg(&url_file)
            .args(extra)
            .env("HOME", dir.path("home"))
            .env_remove("CONTROL_PLANE_API_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dev proxy");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        {
            let (pipe, buf) = (child.stderr.take().unwrap(), stderr.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut b = buf.lock().unwrap();
                    b.push_str(&line);
                    b.push('\n');
                }
            });
        }
        let until = Instant::now() + Duration::from_secs(30);
        let info = loop {
            if let Ok(text) = std::fs::read_to_string(&url_file) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    break v;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("dev proxy exited {status}:\n{}", stderr.lock().unwrap());
            }
            assert!(
                Instant::now() < until,
                "dev proxy not ready:\n{}",
                stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        DevProxy {
            child,
            info,
            stderr,
        }
    }

    fn mcp_url(&self) -> String {
        self.info["mcp_url"].as_str().unwrap().to_string()
    }

    fn base(&self) -> String {
        self.info["control_plane_base_url"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for DevProxy {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script(name: &str) -> String {
    format!("{}/tests/py/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn python_sdk_lists_and_calls_tools_through_dev_proxy_and_a_real_client() {
    let peers = Peers::require();
    let server = peers.python_http().expect("python mcp server");
    let dir = Scratch::new("devproxy-py");
    let proxy = DevProxy::start(&dir, &["--mcp-server-url", &server.url()]);
    // Go's defaults and connection JSON.
    assert_eq!(
        proxy.info["tunnel_id"],
        "tunnel_22222222222222222222222222222222"
    );
    let mcp_url = proxy.mcp_url();
    assert!(
        mcp_url.starts_with("http://127.0.0.1:")
            && mcp_url.ends_with("/v1/mcp/tunnel_22222222222222222222222222222222"),
        "{mcp_url}"
    );
    assert_eq!(proxy.info["mcp_transport"], "tcp");
    assert_eq!(proxy.info["backend"], "rust");

    let out = Command::new(&peers.python)
        .arg(script("dev_proxy_mcp_client.py"))
        .arg(&mcp_url)
        .output()
        .expect("run the Python SDK client");
    assert!(
        out.status.success(),
        "python client failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        proxy.logs()
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("client JSON");
    let tools: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in ["echo", "slow", "fail"] {
        assert!(tools.contains(&t), "{v}");
    }
    assert_eq!(v["echo"], "héllo through dev proxy", "{v}");
    assert_eq!(v["echo_is_error"], false, "{v}");
    // Progress notifications streamed through the tunnel as SSE, before the result.
    assert_eq!(
        v["progress"],
        serde_json::json!([1.0, 2.0, 3.0, 4.0]),
        "{v}"
    );
    assert!(v["slow"].is_string(), "{v}");
    // The commands really went through the client: its log shows the tunnel starting on
    // the local control plane.
    assert!(
        proxy.logs().contains("tunnel-client started"),
        "{}",
        proxy.logs()
    );
}

#[test]
fn well_known_route_headers_and_local_auth() {
    let stub = McpStub::start(StubConfig::default()).expect("stub");
    let dir = Scratch::new("devproxy-stub");
    let proxy = DevProxy::start(&dir, &["--mcp-server-url", &stub.url()]);
    let mcp_url = proxy.mcp_url();
    let base = proxy.base();

    // oauth_discovery: the stub's protected-resource metadata, `resource` pointed here.
    let (code, body) = http_get(
        &base,
        "/.well-known/oauth-protected-resource/v1/mcp/tunnel_22222222222222222222222222222222",
    );
    assert_eq!(code, 200, "{body}\n{}", proxy.logs());
    let prm: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(prm["resource"], mcp_url.as_str(), "{prm}");
    assert!(prm["authorization_servers"].is_array(), "{prm}");
    // Another tunnel id: 404.
    let (code, _) = http_get(
        &base,
        "/.well-known/oauth-protected-resource/v1/mcp/tunnel_33333333333333333333333333333333",
    );
    assert_eq!(code, 404);

    // Header sanitising: Go's blocklist and Connection-nominated names are dropped,
    // Authorization and custom headers pass.
    let agent = ureq::Agent::new_with_config(
        ureq::config::Config::builder()
            .http_status_as_error(false)
            .build(),
    );
    let resp = agent
        .post(&mcp_url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("Authorization", "Bearer user-token")
        .header("X-Custom", "kept")
        .header("X-Forwarded-For", "10.0.0.1")
        .header("X-Openai-Internal-Caller", "dropped")
        .header("Cookie", "a=b")
        .header("Connection", "keep-alive, X-Nominated")
        .header("X-Nominated", "dropped")
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#)
        .expect("ingress answers");
    assert_eq!(resp.status(), 200);
    let seen = stub
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.body.contains("\"clientInfo\":{\"name\":\"t\""))
        .expect("the initialize reached the MCP server");
    let has = |n: &str| seen.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    assert!(
        has("authorization") && has("x-custom"),
        "{:?}",
        seen.headers
    );
    for gone in [
        "x-forwarded-for",
        "x-openai-internal-caller",
        "cookie",
        "x-nominated",
    ] {
        assert!(!has(gone), "{gone} reached the server: {:?}", seen.headers);
    }

    // The local control plane takes exactly `Bearer local-tunnel-client-dev-proxy`.
    let poll =
        format!("{base}/v1/tunnels/tunnel_22222222222222222222222222222222/poll?timeout_ms=1");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic local-tunnel-client-dev-proxy"),
        Some("Bearer local-tunnel-client-dev-proxy extra"),
    ] {
        let mut rq = agent.get(&poll);
        if let Some(a) = auth {
            rq = rq.header("Authorization", a);
        }
        assert_eq!(rq.call().unwrap().status(), 401, "{auth:?}");
    }
}

/// An MCP server that wants OAuth: its 401 reaches the MCP client with
/// `resource_metadata` pointed at dev proxy's own well-known URL, and that URL answers the
/// server's metadata (fetched through the client) with `resource` set to the local MCP URL.
#[test]
fn www_authenticate_points_the_mcp_client_at_the_local_metadata() {
    use loopback::{Reply, Server};
    let mcp = Server::start(|s, me| {
        if s.method == "GET" && s.path == "/.well-known/oauth-protected-resource/mcp" {
            return Reply::json(
                200,
                &serde_json::json!({
                    "resource": format!("http://{me}/mcp"),
                    "authorization_servers": ["https://idp.example"],
                }),
            )
            .with("x-upstream", "yes");
        }
        if s.path == "/mcp" {
            return Reply::json(
                401,
                &serde_json::json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32001, "message": "auth"}}),
            )
            .with(
                "www-authenticate",
                format!(
                    "Bearer resource_metadata=\"http://{me}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp\""
                ),
            );
        }
        Reply::new(404, "text/plain", "not found")
    });
    let dir = Scratch::new("devproxy-oauth");
    let proxy = DevProxy::start(&dir, &["--mcp-server-url", &mcp.url("/mcp")]);
    let mcp_url = proxy.mcp_url();
    let local_meta = format!(
        "{}/.well-known/oauth-protected-resource/v1/mcp/tunnel_22222222222222222222222222222222",
        proxy.base()
    );
    let agent = ureq::Agent::new_with_config(
        ureq::config::Config::builder()
            .http_status_as_error(false)
            .build(),
    );
    let resp = agent
        .post(&mcp_url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .expect("ingress answers");
    assert_eq!(resp.status(), 401, "{}", proxy.logs());
    let www = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        www,
        format!("Bearer resource_metadata=\"{local_meta}\", scope=\"mcp\"")
    );
    let resp = agent.get(&local_meta).call().expect("well-known answers");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("x-upstream")
            .and_then(|v| v.to_str().ok()),
        Some("yes")
    );
    let prm: Value = serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(prm["resource"], mcp_url.as_str(), "{prm}");
    assert_eq!(
        prm["authorization_servers"][0], "https://idp.example",
        "{prm}"
    );
    // The discovery request reached the server without the MCP client's headers.
    let seen = mcp.seen();
    let fetch = seen
        .iter()
        .find(|r| r.method == "GET" && r.path == "/.well-known/oauth-protected-resource/mcp")
        .expect("the client fetched the metadata");
    assert!(
        fetch.header("authorization").is_none(),
        "{:?}",
        fetch.headers
    );
}
