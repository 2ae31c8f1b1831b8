//! Harpoon targets registered from OAuth metadata (§1.14), through the real binary: an MCP
//! server on `localhost` that publishes protected-resource and authorization-server
//! metadata, startup discovery and `oauth_discovery` commands, the host-include rules.

mod admin_support;
mod harpoon_support;
mod support;

use std::sync::Arc;
use std::time::Duration;

use harpoon_support::*;
use serde_json::{json, Value};
use support::Client;
use tunnel_conformance::emulator::{CommandSpec, Emulator, EmulatorConfig};

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
        delay: Duration::ZERO,
    }
}

/// An MCP server with OAuth metadata, addressed as `http://localhost:<port>`. Its JWKS URI
/// is on `127.0.0.1` (another origin than the issuer) and must never be registered.
fn oauth_server() -> Server {
    let port = Arc::new(std::sync::OnceLock::<String>::new());
    let p = port.clone();
    let server = Server::start(move |seen| {
        let base = format!("http://localhost:{}", p.get().cloned().unwrap_or_default());
        match (seen.method.as_str(), seen.target.as_str()) {
            ("GET", "/.well-known/oauth-protected-resource/mcp") => answer(
                200,
                &json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]})
                    .to_string(),
            ),
            ("GET", "/.well-known/oauth-authorization-server") => answer(
                200,
                &json!({
                    "issuer": base,
                    "authorization_endpoint": format!("{base}/authorize"),
                    "token_endpoint": format!("{base}/token"),
                    "registration_endpoint": format!("{base}/register?token=canary-reg-secret"),
                    "jwks_uri": base.replace("localhost", "127.0.0.1") + "/jwks",
                })
                .to_string(),
            ),
            ("POST", "/token") => answer(
                200,
                &json!({"access_token": "t0k", "issuer": base}).to_string(),
            ),
            _ => answer(404, ""),
        }
    });
    let _ = port.set(server.addr.rsplit(':').next().unwrap().to_string());
    server
}

fn start(emu: &Emulator, server: &Server, extra: &[&str], env: &[(&str, &str)]) -> Client {
    let mut args = vec![
        "--mcp.server-url".to_string(),
        server.url("/mcp").replace("127.0.0.1", "localhost"),
        "--harpoon.allow-plaintext-http".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Client::start_with_env(emu, &args, env)
}

fn targets(client: &Client) -> Vec<Value> {
    let (status, body) = client.get("/api/harpoon/targets");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["targets"]
        .as_array()
        .unwrap()
        .clone()
}

fn labels(client: &Client) -> Vec<String> {
    targets(client)
        .iter()
        .map(|t| t["label"].as_str().unwrap().to_string())
        .collect()
}

/// The admin API learns a registration just after its log line: waits for `want`.
fn wait_labels(client: &Client, want: &[&str]) {
    let deadline = std::time::Instant::now() + WAIT;
    while labels(client) != want {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?} != {want:?}",
            labels(client)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until startup discovery has logged its decision on the bundle's last record.
fn discovered(client: &Client) {
    let deadline = std::time::Instant::now() + WAIT;
    while !client.logs().contains("role=registration-endpoint") {
        assert!(
            std::time::Instant::now() < deadline,
            "startup discovery did not finish: {}",
            client.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const REGISTERED: [&str; 7] = [
    "oauth-prmd-resource-0",
    "oauth-prmd-auth-server-0",
    "oauth-prmd-source-0",
    "oauth-auth-server-metadata-0",
    "oauth-issuer-0",
    "oauth-token-endpoint-0",
    "oauth-registration-endpoint-0",
];

#[test]
fn discovered_hosts_become_callable_targets_once() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let server = oauth_server();
    let client = start(
        &emu,
        &server,
        &["--harpoon.additional-transport", "http-streamable"],
        &[],
    );
    discovered(&client);
    wait_labels(&client, &REGISTERED);
    // The /harpoon/mcp transport serves the registered targets too.
    let (status, body) = support::http_post_json(
        &format!("{}/harpoon/mcp", client.health.trim_end_matches('/')),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "list_targets", "arguments": {"tags": ["token-endpoint"]}}})
        .to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("oauth-token-endpoint-0"), "{body}");
    let t = targets(&client);
    let token = t
        .iter()
        .find(|t| t["label"] == "oauth-token-endpoint-0")
        .unwrap();
    assert_eq!(token["category"], "oauth");
    assert_eq!(token["inclusion_reason"], "loopback");
    assert!(token["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g.as_str().unwrap().starts_with("group=auth-server:")));
    let logs = client.logs();
    assert!(
        logs.contains(
            "harpoon host auto-registered: label=oauth-token-endpoint-0 url=http://localhost:"
        ),
        "{logs}"
    );
    // The JWKS URI is on another origin than the issuer: refused.
    assert!(
        logs.contains("harpoon host auto-registration skipped: not allowed: url=http://127.0.0.1:")
            && logs.contains("exclusion_reason=\"private-host-registration-disabled\""),
        "{logs}"
    );

    // Without configured targets the channel became routable: a token call reaches the
    // server, and URLs of registered targets come back as harpoon://<label>.
    let result = call(
        &emu,
        json!({"label": "oauth-token-endpoint-0", "method": "POST", "body": "grant_type=x"}),
    );
    use base64::Engine as _;
    let b64 = result["structuredContent"]["body_base64"].as_str().unwrap();
    let body = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();
    assert!(body.contains("\"issuer\":\"harpoon://oauth-"), "{body}");
    assert!(server
        .seen()
        .iter()
        .any(|s| s.method == "POST" && s.target == "/token" && s.body == b"grant_type=x"));
    let audience = rpc(
        &emu,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "get_oauth_target_audience", "arguments": {"label": "oauth-token-endpoint-0"}}}),
    );
    let audience = audience.resp_json.unwrap()["result"]["structuredContent"]["audience"].clone();
    assert_eq!(
        audience,
        server.url("/token").replace("127.0.0.1", "localhost")
    );

    // The API shows the full URL; the support bundle's admin/harpoon.json lists the
    // registered targets redacted.
    let reg = t
        .iter()
        .find(|t| t["label"] == "oauth-registration-endpoint-0")
        .unwrap();
    assert!(reg["url"]
        .as_str()
        .unwrap()
        .ends_with("/register?token=canary-reg-secret"));
    let bundle = admin_support::get(&client.health, "/api/logs/export?minutes=5");
    assert_eq!(bundle.status, 200);
    let members = admin_support::untar_gz(&bundle.body);
    let (_, harpoon) = members
        .iter()
        .find(|(n, _)| n == "admin/harpoon.json")
        .expect("admin/harpoon.json");
    let harpoon = String::from_utf8(harpoon.clone()).unwrap();
    assert!(
        harpoon.contains("oauth-registration-endpoint-0"),
        "{harpoon}"
    );
    assert!(harpoon.contains("oauth-token-endpoint-0"), "{harpoon}");
    assert!(!harpoon.contains("canary-reg-secret"), "{harpoon}");

    // Every oauth_discovery command registers the same bundle again: a no-op, not Go's
    // suffixed duplicates.
    for _ in 0..3 {
        let id = emu.enqueue(CommandSpec::oauth_discovery());
        let p = emu
            .wait_terminal(&id, WAIT)
            .expect("discovery answered")
            .pop()
            .unwrap();
        assert_eq!(p.resp_type, "oauth_discovery_response", "{p:?}");
    }
    assert_eq!(labels(&client), REGISTERED);
    // The metadata of authorization_servers[0] was fetched for each command too.
    let metadata_fetches = server
        .seen()
        .iter()
        .filter(|s| s.target == "/.well-known/oauth-authorization-server")
        .count();
    assert!(metadata_fetches >= 4, "{metadata_fetches}");
}

#[test]
fn include_rules_decide_what_a_loopback_name_may_register() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let server = oauth_server();
    // `localhost` has no registrable domain, so only the classifier can admit it.
    let off = start(
        &emu,
        &server,
        &["--harpoon.hosts-include-loopback=false"],
        &[],
    );
    discovered(&off);
    assert!(labels(&off).is_empty(), "{:?}", labels(&off));
    let line = "harpoon host auto-registration skipped: not allowed";
    let logs = off.wait_log(line, Duration::from_secs(10));
    assert!(logs.contains(line), "{logs}");
    let p = rpc(
        &emu,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert_eq!(p.resp_code, 400, "still not routable: {p:?}");
    drop(off);

    // A regex from the environment admits it again, with the reason in Go's form.
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let regex = start(
        &emu,
        &server,
        &["--harpoon.hosts-include-loopback=false"],
        &[("HARPOON_HOSTS_INCLUDE_REGEX", "^LOCALHOST$")],
    );
    discovered(&regex);
    wait_labels(&regex, &REGISTERED);
    assert!(targets(&regex)
        .iter()
        .all(|t| t["inclusion_reason"] == "regex:(?i:^LOCALHOST$)"));
    drop(regex);

    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let suffix = start(
        &emu,
        &server,
        &[
            "--harpoon.hosts-include-loopback=false",
            "--harpoon.hosts-include-suffix",
            "localhost",
        ],
        &[],
    );
    discovered(&suffix);
    wait_labels(&suffix, &REGISTERED);
    assert_eq!(targets(&suffix)[0]["inclusion_reason"], "suffix:.localhost");
}

#[test]
fn a_bad_host_regex_stops_run_with_gos_message() {
    let (code, _out, err) = support::run_to_exit(
        &[
            "--control-plane.tunnel-id",
            "t",
            "--mcp.server-url",
            "http://127.0.0.1:9/mcp",
            "--harpoon.hosts-include-regex",
            "(unclosed",
        ],
        &[("CONTROL_PLANE_API_KEY", "k")],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("invalid harpoon host regex \"(unclosed\""),
        "{err}"
    );
    assert!(!err.contains("not supported yet"), "{err}");
}

/// A Harpoon-only process (`--control-plane.poll-channel harpoon`, a static target) never
/// contacts the `main` MCP server for OAuth, so nothing is auto-registered; the static
/// target is served.
#[test]
fn a_harpoon_only_process_never_contacts_main_for_oauth() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let server = oauth_server();
    let seed = Server::start(|_| answer(200, "{\"seed\":true}"));
    let client = start(
        &emu,
        &server,
        &[
            "--control-plane.poll-channel",
            "harpoon",
            "--harpoon.target",
            &format!("label=seed,url={}", seed.url("/seed")),
        ],
        &[],
    );
    let r = call(&emu, json!({"label": "seed", "method": "GET"}));
    assert_eq!(r["structuredContent"]["status_code"], 200, "{r}");
    std::thread::sleep(Duration::from_millis(500));
    // (A TCP reachability check may connect; no HTTP request is made.)
    assert!(
        server.seen().is_empty(),
        "main got requests: {:?}",
        server.seen()
    );
    assert_eq!(labels(&client), ["seed"]);
}
