//! `doctor` as a subprocess against the control-plane emulator and the MCP stub on
//! 127.0.0.1: the happy paths (stdio and HTTP, with and without OAuth metadata), each
//! failure with the right next step, `--json`, and proof that the probes use the proxy,
//! extra headers, CA bundle and client certificate settings `run` uses.

#[path = "onboarding_common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use common::{script, Out, Shell, TID};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

struct Rig {
    sh: Shell,
    emu: Emulator,
}

/// A shell whose environment points at a fresh emulator, with the runtime key exported.
fn rig(tag: &str) -> Rig {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let mut sh = Shell::new(tag);
    sh.set("CONTROL_PLANE_API_KEY", emu.api_key());
    Rig { sh, emu }
}

fn init(r: &Rig, name: &str, target: &[&str]) {
    let mut args = vec![
        "init",
        "--profile",
        name,
        "--tunnel-id",
        r.emu.tunnel_id(),
        "--health-listen-addr",
        "127.0.0.1:0",
    ];
    let base = r.emu.base_url();
    args.extend(["--control-plane-base-url", base.as_str()]);
    args.extend(target);
    let o = r.sh.run(&args);
    assert_eq!(o.code, 0, "init failed: {}", o.stderr);
}

fn status(o: &Out, id: &str) -> String {
    o.check(id)
        .unwrap_or_else(|| panic!("no check {id} in:\n{}", o.stdout))
        .0
}

fn summary(o: &Out, id: &str) -> String {
    o.check(id).map(|c| c.1).unwrap_or_default()
}

#[test]
fn init_then_doctor_passes_for_a_stdio_server() {
    let r = rig("stdio");
    let server = script(&r.sh.home, "server.sh", "#!/bin/sh\nexec cat\n");
    init(&r, "local", &["--mcp-command", server.to_str().unwrap()]);
    let o = r.sh.run(&["doctor", "--profile", "local"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    for (id, st) in [
        ("config_source", "PASS"),
        ("profile_load", "PASS"),
        ("tunnel_id", "PASS"),
        ("control_plane_api_key", "PASS"),
        ("control_plane_access", "PASS"),
        ("mcp_target", "PASS"),
        ("mcp_command_executable", "PASS"),
        ("mcp_server_reachable", "SKIP"),
        ("oauth_metadata", "SKIP"),
        ("health_listener", "PASS"),
    ] {
        assert_eq!(status(&o, id), st, "{id}:\n{}", o.stdout);
    }
    assert_eq!(summary(&o, "config_source"), "profile: local");
    assert_eq!(
        summary(&o, "control_plane_api_key"),
        "env:CONTROL_PLANE_API_KEY"
    );
    assert!(summary(&o, "mcp_command_executable").ends_with("server.sh"));
    assert!(
        o.stdout
            .contains("\nRESULT ok\nNEXT   tunnel-client run --profile local\n"),
        "{}",
        o.stdout
    );

    let j = r.sh.run(&["doctor", "--profile", "local", "--json"]);
    assert_eq!(j.code, 0);
    let v = j.json();
    assert_eq!(v["result"], "ok");
    assert_eq!(v["next"], "tunnel-client run --profile local");
    let ids: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(&ids[..3], ["config_source", "profile_load", "tunnel_id"]);
    assert!(ids.contains(&"chatgpt_connector_settings_url"));
    // The emulator saw the same startup request run makes, with run's headers.
    let meta = r
        .emu
        .requests()
        .into_iter()
        .find(|q| q.method == "GET" && q.path.ends_with(r.emu.tunnel_id()))
        .expect("metadata request");
    assert_eq!(meta.header("Accept"), Some("application/json"));
    assert!(meta
        .header("User-Agent")
        .is_some_and(|u| u.starts_with("oai-tunnel-client/")));
    assert!(r.emu.violations().is_empty(), "{:?}", r.emu.violations());
}

#[test]
fn http_server_with_and_without_oauth_metadata_passes() {
    let r = rig("http");
    let stub = McpStub::start(StubConfig::default()).unwrap();
    init(&r, "dcr", &["--mcp-server-url", &stub.url()]);
    let o = r.sh.run(&["doctor", "--profile", "dcr"]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert_eq!(status(&o, "mcp_server_reachable"), "PASS");
    assert!(
        summary(&o, "oauth_metadata").contains("/.well-known/oauth-authorization-server"),
        "{}",
        o.stdout
    );

    let plain = McpStub::start(StubConfig {
        oauth_metadata: false,
        ..StubConfig::default()
    })
    .unwrap();
    init(
        &r,
        "noauth",
        &[
            "--sample",
            "sample_mcp_remote_no_auth",
            "--mcp-server-url",
            &plain.url(),
        ],
    );
    let o = r.sh.run(&["doctor", "--profile", "noauth", "--explain"]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert_eq!(status(&o, "oauth_metadata"), "PASS");
    assert_eq!(
        summary(&o, "oauth_metadata"),
        "OAuth metadata not advertised; all candidates returned HTTP 404"
    );
}

#[test]
fn wrong_tunnel_id_fails_with_the_next_step() {
    let r = rig("wrongid");
    let server = script(&r.sh.home, "server.sh", "#!/bin/sh\nexec cat\n");
    init(&r, "p", &["--mcp-command", server.to_str().unwrap()]);
    // Well-formed but unknown: only the control plane can tell.
    let o = r.sh.run(&[
        "doctor",
        "--profile",
        "p",
        "--control-plane.tunnel-id",
        TID,
        "--explain",
    ]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert_eq!(status(&o, "control_plane_access"), "FAIL");
    assert!(
        summary(&o, "control_plane_access").contains("not found"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("FAILED_CHECKS control_plane_access\nEXIT_CODE 2"),
        "{}",
        o.stdout
    );
    let explain = o
        .stdout
        .split("\nCHECK control_plane_access   FAIL\n")
        .nth(1)
        .expect("explain block");
    assert!(
        explain.contains("Why this matters:")
            && explain.contains("Evidence:")
            && explain.contains("What to do next:")
    );
    assert!(explain.contains("admin tunnels list"), "{explain}");
    // Malformed: caught locally, and the other checks still run.
    let o = r.sh.run(&[
        "doctor",
        "--profile",
        "p",
        "--control-plane.tunnel-id",
        "tunnel_XYZ",
        "--json",
    ]);
    assert_eq!(o.code, 2);
    let v = o.json();
    assert_eq!(v["result"], "fail");
    assert_eq!(v["failed_checks"], serde_json::json!(["tunnel_id"]));
    assert!(v.get("next").is_none(), "next is cleared on failure");
    let check = |id: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    let t = check("tunnel_id");
    assert!(t["summary"]
        .as_str()
        .unwrap()
        .contains("--control-plane.tunnel-id"));
    assert!(t["next"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("admin tunnels list")));
    assert_eq!(check("control_plane_access")["status"], "SKIP");
    assert_eq!(check("mcp_command_executable")["status"], "PASS");
}

#[test]
fn unset_or_rejected_key_fails_with_the_next_step() {
    let mut r = rig("nokey");
    let stub = McpStub::start(StubConfig::default()).unwrap();
    init(&r, "p", &["--mcp-server-url", &stub.url()]);
    r.sh.unset("CONTROL_PLANE_API_KEY");
    let o = r.sh.run(&["doctor", "--profile", "p", "--explain"]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert_eq!(status(&o, "control_plane_api_key"), "FAIL");
    assert!(
        summary(&o, "control_plane_api_key").contains("CONTROL_PLANE_API_KEY"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("export CONTROL_PLANE_API_KEY="),
        "{}",
        o.stdout
    );
    // Everything that does not need the key was still checked.
    assert_eq!(status(&o, "mcp_server_reachable"), "PASS");
    assert_eq!(status(&o, "control_plane_access"), "SKIP");

    r.sh.set("CONTROL_PLANE_API_KEY", "not-the-right-key");
    let o = r.sh.run(&["doctor", "--profile", "p"]);
    assert_eq!(o.code, 2);
    assert_eq!(status(&o, "control_plane_access"), "FAIL");
    assert!(
        summary(&o, "control_plane_access").contains("401"),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr.contains("--explain"),
        "hint to explain: {}",
        o.stderr
    );
}

#[test]
fn missing_executable_and_unreachable_url_fail_with_the_fix() {
    let r = rig("targets");
    let o = r.sh.run(&[
        "doctor",
        "--control-plane.base-url",
        &r.emu.base_url(),
        "--control-plane.tunnel-id",
        r.emu.tunnel_id(),
        "--mcp.command",
        "no-such-mcp-server-xyz --stdio",
        "--health.listen-addr",
        "127.0.0.1:0",
        "--explain",
    ]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert_eq!(summary(&o, "config_source"), "flags/environment only");
    assert_eq!(status(&o, "mcp_command_executable"), "FAIL");
    assert!(summary(&o, "mcp_command_executable").contains("not found on PATH"));
    assert!(
        o.stdout.contains("install no-such-mcp-server-xyz"),
        "{}",
        o.stdout
    );

    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", dead.local_addr().unwrap());
    drop(dead);
    let o = r.sh.run(&[
        "doctor",
        "--control-plane.base-url",
        &r.emu.base_url(),
        "--control-plane.tunnel-id",
        r.emu.tunnel_id(),
        "--mcp.server-url",
        &url,
        "--health.listen-addr",
        "127.0.0.1:0",
        "--json",
    ]);
    assert_eq!(o.code, 2);
    let v = o.json();
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "mcp_server_reachable")
        .unwrap()
        .clone();
    assert_eq!(c["status"], "FAIL");
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{c}"
    );
    assert!(
        c["next"][0].as_str().unwrap().contains("start the server"),
        "{c}"
    );
    let oauth = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "oauth_metadata")
        .unwrap()
        .clone();
    assert_eq!(oauth["status"], "SKIP");
}

#[test]
fn health_port_in_use_literal_key_and_unsupported_settings() {
    let r = rig("misc");
    let server = script(&r.sh.home, "server.sh", "#!/bin/sh\nexec cat\n");
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let base = r.emu.base_url();
    let common = [
        "--control-plane.base-url",
        base.as_str(),
        "--control-plane.tunnel-id",
        r.emu.tunnel_id(),
        "--mcp.command",
        server.to_str().unwrap(),
    ];
    let mut args = vec!["doctor", "--health.listen-addr", addr.as_str()];
    args.extend(common);
    let o = r.sh.run(&args);
    assert_eq!(o.code, 2);
    assert_eq!(status(&o, "health_listener"), "FAIL");
    assert!(
        summary(&o, "health_listener").contains("already in use"),
        "{}",
        o.stdout
    );
    drop(busy);

    let prof = r.sh.home.join("literal.yaml");
    std::fs::write(
        &prof,
        format!(
            "control_plane:\n  base_url: {base}\n  tunnel_id: {}\n  api_key: {}\nhealth:\n  listen_addr: 127.0.0.1:0\nmcp:\n  commands:\n    - command: {}\n",
            r.emu.tunnel_id(),
            r.emu.api_key(),
            server.display()
        ),
    )
    .unwrap();
    let mut sh = Shell::new("literal");
    sh.cwd = r.sh.home.clone();
    let o = sh.run(&["doctor", "--profile-file", prof.to_str().unwrap()]);
    assert_eq!(o.code, 0, "a warning does not fail: {}", o.stdout);
    assert_eq!(status(&o, "control_plane_api_key"), "WARN");
    assert!(
        !o.stdout.contains(r.emu.api_key()),
        "the key is never shown"
    );
    assert!(o.stdout.contains(&format!(
        "NEXT   tunnel-client run --profile-file {}",
        prof.display()
    )));

    let mut args = vec![
        "doctor",
        "--health.listen-addr",
        "127.0.0.1:0",
        "--cloudflared.managed",
        "--offline",
    ];
    args.extend(common);
    let o = r.sh.run(&args);
    assert_eq!(o.code, 2);
    assert_eq!(status(&o, "config_validation"), "FAIL");
    assert!(
        summary(&o, "config_validation").contains("not supported yet"),
        "{}",
        o.stdout
    );
    assert_eq!(status(&o, "control_plane_access"), "SKIP");
}

#[test]
fn config_source_and_profile_errors() {
    let r = rig("source");
    let o =
        r.sh.run(&["doctor", "--profile", "a", "--config", "/x.yaml"]);
    assert_eq!(o.code, 2);
    assert_eq!(status(&o, "config_source"), "FAIL");
    assert!(summary(&o, "config_source").contains("mutually exclusive"));
    let o = r.sh.run(&["doctor", "--profile", "missing", "--explain"]);
    assert_eq!(o.code, 2);
    assert_eq!(status(&o, "profile_load"), "FAIL");
    assert!(
        o.stdout.contains("tunnel-client profiles list"),
        "{}",
        o.stdout
    );
    let o = r.sh.run(&["doctor", "--no-such-flag"]);
    assert_eq!(o.code, 1, "a flag mistake is a usage error");
    assert!(o.stderr.contains("--no-such-flag"));
    let o = r.sh.run(&["doctor", "--help"]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.contains("--explain")
            && o.stdout.contains("--offline")
            && o.stdout.contains("--control-plane.tunnel-id")
    );
}

/// A CONNECT proxy that records what it was asked to reach and pipes the bytes.
fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                let mut c = conn;
                // One head at a time: CONNECT pipes the connection; an absolute-form request
                // (plain-http targets, as from Go) is forwarded in origin form to a fresh
                // upstream connection and its answer copied back, then the next head is read.
                loop {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && c.read(&mut b).unwrap_or(0) == 1 {
                        head.push(b[0]);
                    }
                    if head.is_empty() {
                        return;
                    }
                    let text = String::from_utf8_lossy(&head).to_string();
                    let line = text.lines().next().unwrap_or("").to_string();
                    log.lock().unwrap().push(line.clone());
                    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    if let Some(rest) = target.strip_prefix("http://") {
                        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                        let Ok(mut up) = TcpStream::connect(authority) else {
                            let _ = c.write_all(
                                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
                            );
                            return;
                        };
                        let method = line.split_whitespace().next().unwrap_or("GET");
                        let mut fwd = format!("{method} {path} HTTP/1.1\r\n");
                        for h in text.lines().skip(1).filter(|h| !h.is_empty()) {
                            if !h.to_ascii_lowercase().starts_with("connection:") {
                                fwd.push_str(h);
                                fwd.push_str("\r\n");
                            }
                        }
                        fwd.push_str("Connection: close\r\n\r\n");
                        let _ = up.write_all(fwd.as_bytes());
                        let _ = std::io::copy(&mut up, &mut c);
                        continue;
                    }
                    let Ok(up) = TcpStream::connect(&target) else {
                        let _ =
                            c.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                        return;
                    };
                    let _ = c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    let (mut c2, mut up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
                    let t = thread::spawn(move || {
                        let _ = std::io::copy(&mut c2, &mut up2);
                        let _ = up2.shutdown(Shutdown::Write);
                    });
                    let (mut up3, mut c3) = (up, c);
                    let _ = std::io::copy(&mut up3, &mut c3);
                    let _ = c3.shutdown(Shutdown::Write);
                    let _ = t.join();
                    return;
                }
            });
        }
    });
    (addr, seen)
}

#[test]
fn probes_use_runs_proxy_headers_ca_bundle_and_client_certificate() {
    let r = rig("proxy");
    let stub = McpStub::start(StubConfig::default()).unwrap();
    let (proxy, seen) = connect_proxy();
    let base = r.emu.base_url();
    let url = stub.url();
    let args = [
        "doctor",
        "--control-plane.base-url",
        base.as_str(),
        "--control-plane.tunnel-id",
        r.emu.tunnel_id(),
        "--control-plane.extra-headers",
        "X-Cp-Test: cp-1",
        "--mcp.server-url",
        url.as_str(),
        "--mcp.extra-headers",
        "X-Mcp-Test: mcp-1",
        "--mcp.discovery-extra-headers",
        "X-Discovery-Test: d-1",
        "--health.listen-addr",
        "127.0.0.1:0",
    ];
    let proxy_url = format!("http://{proxy}");
    let mut with_proxy = args.to_vec();
    with_proxy.extend(["--mcp.http-proxy", proxy_url.as_str()]);
    let o = r.sh.run(&with_proxy);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let stub_addr = stub.addr().to_string();
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with(&format!("GET http://{stub_addr}/mcp "))),
        "the MCP probes went through --mcp.http-proxy: {:?}",
        seen.lock().unwrap()
    );
    let reqs = stub.requests();
    let get = reqs
        .iter()
        .find(|q| q.method == "GET" && q.path == "/mcp")
        .expect("probe reached the stub");
    assert_eq!(get.header("X-Mcp-Test"), Some("mcp-1"));
    assert_eq!(get.header("X-Discovery-Test"), Some("d-1"));
    let prm = reqs
        .iter()
        .find(|q| q.path.starts_with("/.well-known/oauth-protected-resource"))
        .unwrap();
    assert_eq!(prm.header("X-Discovery-Test"), Some("d-1"));
    assert_eq!(
        prm.header("X-Mcp-Test"),
        Some("mcp-1"),
        "discovery carries the MCP extra headers on any path of the MCP origin, as run does (Go §2.10)"
    );
    let meta = r
        .emu
        .requests()
        .into_iter()
        .find(|q| q.path.ends_with(r.emu.tunnel_id()))
        .unwrap();
    assert_eq!(meta.header("X-Cp-Test"), Some("cp-1"));

    // A CA bundle or client certificate run could not load fails doctor the same way.
    let missing = r.sh.home.join("missing.pem");
    let mut with_ca = args.to_vec();
    with_ca.extend(["--ca-bundle", missing.to_str().unwrap()]);
    let o = r.sh.run(&with_ca);
    assert_eq!(o.code, 2);
    assert_eq!(status(&o, "config_validation"), "FAIL");
    assert!(
        summary(&o, "config_validation").contains("CA bundle"),
        "{}",
        o.stdout
    );
    let mut with_cert = args.to_vec();
    with_cert.extend([
        "--control-plane.client-cert",
        missing.to_str().unwrap(),
        "--control-plane.client-key",
        missing.to_str().unwrap(),
    ]);
    let o = r.sh.run(&with_cert);
    assert_eq!(o.code, 2);
    assert!(
        summary(&o, "config_validation").contains("client certificate"),
        "{}",
        o.stdout
    );
}

/// The whole first-run path: init → doctor → run, against the emulator with a real stdio
/// MCP server.
#[test]
fn init_doctor_run_against_the_emulator_with_a_stdio_server() {
    use std::time::{Duration, Instant};
    use tunnel_conformance::emulator::CommandSpec;

    // The Python `mcp` SDK stdio server installed by .ci/install-peers.
    let peers = tunnel_conformance::peers::Peers::require();
    let r = rig("e2e");
    let cmd = peers.python_stdio_argv().join(" ");
    init(&r, "e2e", &["--mcp-command", &cmd]);
    let o = r.sh.run(&["doctor", "--profile", "e2e"]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    let log = r.sh.home.join("run.log");
    let mut child = std::process::Command::new(common::BIN)
        .args(["run", "--profile", "e2e"])
        .env_clear()
        .envs(&r.sh.env)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start run");
    let id = r.emu.enqueue(CommandSpec::jsonrpc(serde_json::json!(
        {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}
    )));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut posts = None;
    while posts.is_none() && Instant::now() < deadline {
        posts = r.emu.wait_terminal(&id, Duration::from_secs(1));
        if child.try_wait().ok().flatten().is_some() {
            break; // run exited: its log says why
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let posts = posts.unwrap_or_else(|| {
        panic!(
            "no terminal response from the stdio server through run; run's log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let last = posts.last().unwrap();
    assert!(
        last.resp_json
            .as_ref()
            .is_some_and(|j| j.get("result").is_some()),
        "{:?}",
        last.body
    );
}
