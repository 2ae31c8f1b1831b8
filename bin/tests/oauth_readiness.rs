//! Startup checks on the real binary: the MCP startup probe and OAuth startup discovery
//! against loopback MCP servers (OAuth-protected, no-auth, 2026-era, broken), observed the
//! way an operator observes them — `/readyz`, `/api/oauth`, `/api/status` — and the
//! requests the servers received (configured headers on the MCP origin only).

mod loopback;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use loopback::{Reply, Seen, Server};
use serde_json::{json, Value};
use support::Client;
use tunnel_client::logging::rfc3339_millis;
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};

const WAIT: Duration = Duration::from_secs(20);

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn api(client: &Client, path: &str) -> Value {
    let (code, body) = client.get(path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn rpc_result(s: &Seen, result: Value) -> Reply {
    let msg: Value = serde_json::from_str(&s.body).unwrap_or(Value::Null);
    Reply::json(
        200,
        &json!({"jsonrpc": "2.0", "id": msg["id"], "result": result}),
    )
}

/// An authorization server whose metadata names itself as issuer.
fn auth_server() -> Server {
    Server::start(|s, me| {
        if s.path == "/.well-known/oauth-authorization-server" {
            let iss = format!("http://{me}");
            return Reply::json(
                200,
                &json!({"issuer": iss, "authorization_endpoint": format!("{iss}/authorize"),
                        "token_endpoint": format!("{iss}/token"),
                        "registration_endpoint": format!("{iss}/register")}),
            );
        }
        Reply::new(404, "text/plain", "not found")
    })
}

/// An OAuth-protected MCP server (every `/mcp` request without a token gets 401 with a
/// challenge naming `/meta/prm`), whose metadata names `issuer`.
fn protected_server(issuer: String) -> Server {
    Server::start(move |s, me| {
        if s.method == "GET" && s.path == "/meta/prm" {
            return Reply::json(
                200,
                &json!({"resource": format!("http://{me}/mcp"),
                        "authorization_servers": [issuer.clone()]}),
            );
        }
        if s.path == "/mcp" && s.header("authorization").is_none() {
            return Reply::new(401, "application/json", r#"{"error":"unauthorized"}"#).with(
                "www-authenticate",
                format!(r#"Bearer realm="mcp", resource_metadata="http://{me}/meta/prm""#),
            );
        }
        Reply::new(404, "text/plain", "not found")
    })
}

/// §2.12-style: a protected server is ready with Go's note; `/api/oauth` shows the
/// metadata found through the challenge and the authorization server's metadata; the
/// configured headers reach the MCP origin (probe and discovery) and never the
/// authorization server.
#[test]
fn protected_server_is_ready_with_auth_required_and_api_oauth_shows_the_metadata() {
    let asrv = auth_server();
    let mcp = protected_server(asrv.origin());
    let emu = emulator();
    let before = rfc3339_millis(SystemTime::now());
    let client = Client::start(
        &emu,
        &args(&[
            "--mcp.server-url",
            &mcp.url("/mcp"),
            "--mcp.extra-headers",
            "X-Static: s",
            "--mcp.discovery-extra-headers",
            "X-Disc: d",
        ]),
    );
    let body = client.wait_for(
        "/readyz",
        200,
        "ready (mcp initialize requires auth: HTTP 401",
        WAIT,
    );
    assert!(body.contains("(WWW-Authenticate scheme: Bearer)"), "{body}");

    let o = api(&client, "/api/oauth");
    assert_eq!(o["pending"], false, "{o}");
    assert!(o.get("error").is_none(), "{o}");
    assert_eq!(o["metadata_source"], "www_authenticate", "{o}");
    assert_eq!(o["selected_authorization_server"], asrv.origin(), "{o}");
    assert_eq!(o["authorization_server_count"], 1, "{o}");
    assert_eq!(
        o["www_authenticate_probe"]["url"],
        mcp.url("/meta/prm"),
        "{o}"
    );
    assert_eq!(o["metadata"]["url"], mcp.url("/meta/prm"), "{o}");
    assert_eq!(o["metadata"]["status_code"], 200, "{o}");
    // Go's `fetched_at`: wall-clock time of the fetch, between start and now (RFC 3339
    // UTC with millis, which orders as text).
    let fetched = o["metadata"]["fetched_at"].as_str().unwrap_or_default();
    let after = rfc3339_millis(SystemTime::now());
    assert!(
        fetched.len() == before.len() && before.as_str() <= fetched && fetched <= after.as_str(),
        "fetched_at {fetched:?} not within {before}..{after}: {o}"
    );
    let asm = &o["metadata"]["auth_server_metadata"];
    assert_eq!(
        asm["selected_url"],
        asrv.url("/.well-known/oauth-authorization-server"),
        "{o}"
    );
    assert_eq!(asm["metadata"]["token_endpoint"], asrv.url("/token"), "{o}");
    assert!(o["discovery_urls"]
        .as_array()
        .unwrap()
        .contains(&json!(mcp.url("/.well-known/oauth-protected-resource/mcp"))));

    let st = api(&client, "/api/status");
    let main = st["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "main")
        .unwrap()
        .clone();
    assert_eq!(main["probe_status"], "auth-required", "{st}");
    assert!(st["mcp_resource_metadata_urls"]
        .as_array()
        .is_some_and(|u| u.contains(&json!(mcp.url("/meta/prm")))));
    assert_eq!(
        api(&client, "/api/system")["main_channel_probe_status"],
        "auth-required"
    );

    // A runtime `initialize` from a connector, with its token (Go's TestMCPStaticHeadersE2E):
    // it carries the MCP extra header, the connector's Authorization, and no discovery header.
    let id = emu.enqueue(
        CommandSpec::jsonrpc(json!({"jsonrpc": "2.0", "id": 7, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "connector", "version": "1"}}}))
        .header("Authorization", "Bearer connector-user-token"),
    );
    emu.wait_terminal(&id, WAIT).expect("terminal response");
    let seen = mcp.seen();
    let runtime = seen
        .iter()
        .find(|s| s.header("authorization") == Some("Bearer connector-user-token"))
        .expect("the runtime initialize reached the server");
    assert_eq!(runtime.header("x-static"), Some("s"), "{runtime:?}");
    assert_eq!(runtime.header("x-disc"), None, "{runtime:?}");
    let init = seen
        .iter()
        .find(|s| {
            s.method == "POST"
                && s.body.contains("\"initialize\"")
                && s.header("authorization").is_none()
        })
        .expect("the startup probe reached the server");
    assert_eq!(init.header("x-disc"), Some("d"), "{init:?}");
    // The control plane never sees the operator's MCP headers.
    for r in emu.requests() {
        assert!(
            r.header("X-Disc").is_none() && r.header("X-Static").is_none(),
            "{} {}",
            r.method,
            r.path
        );
    }
    let prm = seen
        .iter()
        .find(|s| s.path == "/meta/prm")
        .expect("metadata fetched");
    assert_eq!(prm.header("x-disc"), Some("d"), "{prm:?}");
    assert_eq!(prm.header("x-static"), Some("s"), "{prm:?}");
    let as_seen = asrv.seen();
    assert!(!as_seen.is_empty(), "the authorization server was asked");
    assert!(
        as_seen
            .iter()
            .all(|s| s.header("x-disc").is_none() && s.header("x-static").is_none()),
        "{as_seen:?}"
    );
}

/// A server without OAuth (every well-known candidate 404) that answers `initialize`:
/// plain `ready`, metadata `not_advertised`, no error.
#[test]
fn no_auth_server_is_ready_and_metadata_not_advertised() {
    let mcp = Server::start(|s, _| {
        if s.path == "/mcp" && s.method == "POST" && s.body.contains("\"initialize\"") {
            return rpc_result(
                s,
                json!({"protocolVersion": "2025-11-25", "capabilities": {},
                                       "serverInfo": {"name": "plain", "version": "1"}}),
            );
        }
        Reply::new(404, "text/plain", "not found")
    });
    let emu = emulator();
    let client = Client::start(&emu, &args(&["--mcp.server-url", &mcp.url("/mcp")]));
    let body = client.wait_for("/readyz", 200, "ready", WAIT);
    assert_eq!(body.trim(), "ready");
    let o = api(&client, "/api/oauth");
    assert_eq!(o["metadata_source"], "not_advertised", "{o}");
    assert!(o.get("error").is_none(), "{o}");
    assert_eq!(
        api(&client, "/api/system")["main_channel_probe_status"],
        "ok"
    );
}

/// A 2026-07-28 server refuses `initialize`; the probe asks `server/discover` and the
/// client is ready (the Go client probes with `initialize` only and stays unready).
#[test]
fn a_2026_era_server_is_probed_with_server_discover() {
    let mcp = Server::start(|s, _| {
        if s.path == "/mcp" && s.method == "POST" {
            if s.header("mcp-method") == Some("server/discover") {
                return rpc_result(
                    s,
                    json!({"supportedVersions": ["2026-07-28"], "capabilities": {}}),
                );
            }
            return Reply::json(
                400,
                &json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32600, "message": "initialize is not supported"}}),
            );
        }
        Reply::new(404, "text/plain", "not found")
    });
    let emu = emulator();
    let client = Client::start(&emu, &args(&["--mcp.server-url", &mcp.url("/mcp")]));
    client.wait_for("/readyz", 200, "ready", WAIT);
    assert!(mcp.seen().iter().any(|s| s.body.contains("server/discover")
        && s.header("mcp-protocol-version") == Some("2026-07-28")));
}

/// Broken metadata (5xx) makes the client unready with Go's reason and `/api/oauth` says
/// what is wrong and how to fix it; once fixed, the client becomes ready without a restart.
#[test]
fn broken_metadata_is_not_ready_until_fixed() {
    let broken = Arc::new(AtomicBool::new(true));
    let b2 = broken.clone();
    let mcp = Server::start(move |s, _| {
        if s.path == "/mcp" && s.method == "POST" && s.body.contains("\"initialize\"") {
            return rpc_result(
                s,
                json!({"protocolVersion": "2025-11-25", "capabilities": {},
                                       "serverInfo": {"name": "x", "version": "1"}}),
            );
        }
        if s.path.starts_with("/.well-known/") && b2.load(Ordering::Relaxed) {
            return Reply::new(500, "text/plain", "metadata backend down");
        }
        Reply::new(404, "text/plain", "not found")
    });
    let emu = emulator();
    let client = Client::start(&emu, &args(&["--mcp.server-url", &mcp.url("/mcp")]));
    let body = client.wait_for("/readyz", 503, "oauth discovery failed: ", WAIT);
    assert!(body.contains("status 500"), "{body}");
    let o = api(&client, "/api/oauth");
    assert!(
        o["error"].as_str().unwrap_or("").contains("status 500"),
        "{o}"
    );
    assert!(
        o["fix"]
            .as_str()
            .unwrap_or("")
            .contains("oauth-protected-resource"),
        "{o}"
    );
    assert!(
        client.logs().contains("OAuth discovery failed"),
        "{}",
        client.logs()
    );
    broken.store(false, Ordering::Relaxed);
    let body = client.wait_for("/readyz", 200, "ready", WAIT);
    assert_eq!(body.trim(), "ready");
}

/// `doctor` drives the same discovery as `run`: against the same broken metadata, its
/// `oauth_metadata` check fails with exactly the error `/readyz` gives.
#[test]
fn doctor_and_run_agree_on_broken_metadata() {
    let mcp = Server::start(|s, _| {
        if s.path == "/mcp" && s.method == "POST" && s.body.contains("\"initialize\"") {
            return rpc_result(
                s,
                json!({"protocolVersion": "2025-11-25", "capabilities": {},
                                       "serverInfo": {"name": "x", "version": "1"}}),
            );
        }
        if s.path.starts_with("/.well-known/") {
            return Reply::new(503, "text/plain", "metadata backend down");
        }
        Reply::new(404, "text/plain", "not found")
    });
    let emu = emulator();
    let client = Client::start(&emu, &args(&["--mcp.server-url", &mcp.url("/mcp")]));
    let body = client.wait_for("/readyz", 503, "oauth discovery failed: ", WAIT);
    let run_error = body
        .trim()
        .trim_start_matches("oauth discovery failed: ")
        .to_string();

    let mut flags = support::base_args(&emu);
    flags.extend(args(&["--mcp.server-url", &mcp.url("/mcp"), "--json"]));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tunnel-client"))
        .arg("doctor")
        .args(&flags)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("CONTROL_PLANE_API_KEY", emu.api_key())
        .output()
        .expect("run doctor");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "oauth_metadata")
        .expect("oauth_metadata check")
        .clone();
    assert_eq!(check["status"], "FAIL", "{check}");
    assert_eq!(check["summary"], run_error, "{check}");
}

/// A server that refuses both eras' requests: `/readyz` gives Go's `mcp probe failed`
/// reason and `/api/status` shows `main` disabled with Go's reason.
#[test]
fn a_server_that_answers_no_mcp_is_a_failed_probe() {
    let mcp = Server::start(|s, _| {
        if s.path == "/mcp" && s.method == "POST" {
            return Reply::new(500, "text/plain", "internal error");
        }
        Reply::new(404, "text/plain", "not found")
    });
    let emu = emulator();
    let client = Client::start(&emu, &args(&["--mcp.server-url", &mcp.url("/mcp")]));
    let body = client.wait_for("/readyz", 503, "mcp probe failed: ", WAIT);
    assert!(body.contains("HTTP 500 to server/discover"), "{body}");
    let st = api(&client, "/api/status");
    let main = st["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "main")
        .unwrap()
        .clone();
    assert_eq!(main["enabled"], false, "{main}");
    assert_eq!(main["reason"], "initial mcp probe failed", "{main}");
    assert_eq!(main["probe_status"], "failed", "{main}");
}
