//! YAML profiles: the Go samples load unchanged, profile lookup, unknown keys, secrets
//! never leak, help and "not supported yet".

#[path = "config_common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use tunnel_client::config::*;

/// The Go client's sample profiles (the shared spec next to the checkout). They are the
/// Go project's files, so they are not copied here; a missing directory fails the tests
/// that need it instead of letting them pass having loaded nothing.
fn profiles_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/go-profiles");
    assert!(
        d.is_dir(),
        "{} is missing: these tests load the Go client's sample profiles from the shared spec \
         checked out next to this repository (../shared/spec/go-profiles)",
        d.display()
    );
    d
}

/// Env and files the Go samples reference.
fn sample_env() -> BTreeMap<String, String> {
    env(&[
        ("CONTROL_PLANE_API_KEY", "runtime_key_from_env_1234"),
        ("CONTROL_PLANE_HEADER_VALUE", "cp-header-secret-value"),
        ("MCP_RUNTIME_HEADER_VALUE", "mcp-header-secret-value"),
        ("MCP_UNIX_SOCKET_PATH", "/run/mcp.sock"),
        ("CLOUDFLARED_TOKEN", "cloudflared-secret-token"),
        ("ENTERPRISE_CA_BUNDLE", "/etc/ssl/corp.pem"),
        ("HTTPS_PROXY", "http://corp-proxy:3128"),
        ("HOME", "/home/op"),
    ])
}

fn sample_files() -> BTreeMap<PathBuf, String> {
    [(
        "/run/secrets/mcp-discovery-header",
        "discovery-file-secret\n",
    )]
    .into_iter()
    .map(|(p, c)| (PathBuf::from(p), c.to_string()))
    .collect()
}

/// Real files for the profile, fake files for the secrets it references.
struct Overlay(BTreeMap<PathBuf, String>);
impl Files for Overlay {
    fn read_to_string(&self, p: &Path) -> std::io::Result<String> {
        match self.0.get(p) {
            Some(c) => Ok(c.clone()),
            None => std::fs::read_to_string(p),
        }
    }
}

fn go_sample_paths() -> Vec<PathBuf> {
    let d = profiles_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_go_sample_profile_loads_unchanged() {
    let paths = go_sample_paths();
    for p in &paths {
        let a = args(&["--profile-file", p.to_str().unwrap()]);
        let l = load(Command::Run, &a, &sample_env(), &Overlay(sample_files()))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(l.warnings.is_empty(), "{}: {:?}", p.display(), l.warnings);
        assert_eq!(l.config.control_plane.tunnel_id, TID);
        assert!(!l.config.mcp.server_urls.is_empty() || !l.config.mcp.commands.is_empty());
        // doctor reads the same files.
        load(Command::Doctor, &a, &sample_env(), &Overlay(sample_files())).unwrap();
    }
    assert!(
        paths.len() >= 4,
        "expected the four Go profiles, found {paths:?}"
    );
}

#[test]
fn full_go_example_maps_every_section() {
    let d = profiles_dir();
    let a = args(&[
        "--config",
        d.join("full_config_example.yaml").to_str().unwrap(),
    ]);
    let l = load(Command::Run, &a, &sample_env(), &Overlay(sample_files())).unwrap();
    let c = &l.config;
    assert_eq!(c.control_plane.url_path, "/chatgpttunnelgateway/dev/us");
    assert_eq!(
        c.control_plane.poll_timeout,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(
        c.control_plane.base_url, "https://mtls.api.openai.com",
        "cert+key switch the default base URL"
    );
    assert_eq!(
        c.control_plane.client_key.as_deref(),
        Some(Path::new("/run/secrets/control-plane-client.key"))
    );
    assert_eq!(c.control_plane.extra_headers.len(), 2);
    assert_eq!(
        c.mcp.server_urls[0].unix_socket.as_deref(),
        Some(Path::new("/run/mcp.sock"))
    );
    assert_eq!(c.mcp.commands[0].channel, "tools");
    assert_eq!(c.mcp.commands[0].argv, vec!["python", "-m", "tools_mcp"]);
    assert_eq!(
        c.mcp.discovery_extra_headers[0].value.expose(),
        "discovery-file-secret"
    );
    assert_eq!(
        c.harpoon.targets[0].description.as_deref(),
        Some("Auth server")
    );
    assert!(c.cloudflared.managed);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(
        c.process.pid_file.as_deref(),
        Some(Path::new("/run/tunnel-client/tunnel-client.pid"))
    );
    // Features not built yet are reported only because this profile uses them.
    let names: Vec<String> = unsupported_in_use(&l)
        .iter()
        .map(|e| match e {
            ConfigError::NotSupportedYet { name, .. } => name.clone(),
            other => panic!("{other}"),
        })
        .collect();
    assert!(
        !names
            .iter()
            .any(|x| x == "harpoon.target" || x == "harpoon.additional-transport"),
        "Harpoon targets and its streamable transport run: {names:?}"
    );
    for n in [
        "cloudflared.token",
        "cloudflared.managed",
        "cloudflared.path",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    // Unix-socket MCP bindings run (issue #17).
    assert!(
        !names.iter().any(|x| x.contains("unix-socket")),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|x| x == "proxy.check-interval" || x == "cloudflared.ready-timeout"),
        "defaults are not 'in use': {names:?}"
    );
    let msg = unsupported_in_use(&l)[0].to_string();
    assert!(msg.contains("is not supported yet"), "{msg}");
}

#[test]
fn inventory_samples_with_stdio_and_dcr_are_supported_as_is() {
    for p in go_sample_paths()
        .iter()
        .filter(|p| !p.ends_with("full_config_example.yaml"))
    {
        let l = load(
            Command::Run,
            &args(&["--config", p.to_str().unwrap()]),
            &sample_env(),
            &RealFiles,
        )
        .unwrap();
        assert!(
            unsupported_in_use(&l).is_empty(),
            "{}: {:?}",
            p.display(),
            unsupported_in_use(&l)
        );
    }
}

#[test]
fn named_profile_lookup_order() {
    let dir = temp_dir();
    std::fs::write(
        dir.join("dev.yaml"),
        format!("control_plane:\n  tunnel_id: {TID}\n"),
    )
    .unwrap();
    let mut e = base_env();
    e.remove("CONTROL_PLANE_TUNNEL_ID");
    // --profile-dir
    let l = ok(
        &["--profile", "dev", "--profile-dir", dir.to_str().unwrap()],
        &e,
    );
    assert_eq!(
        l.config.source,
        ConfigSource::Profile {
            name: "dev".into(),
            path: dir.join("dev.yaml")
        }
    );
    // TUNNEL_CLIENT_PROFILE_DIR + TUNNEL_CLIENT_PROFILE
    let mut e2 = e.clone();
    e2.insert(
        "TUNNEL_CLIENT_PROFILE_DIR".into(),
        dir.to_str().unwrap().into(),
    );
    e2.insert("TUNNEL_CLIENT_PROFILE".into(), "dev".into());
    assert_eq!(ok(&[], &e2).config.control_plane.tunnel_id, TID);
    // $XDG_CONFIG_HOME/tunnel-client
    let xdg = temp_dir();
    std::fs::create_dir_all(xdg.join("tunnel-client")).unwrap();
    std::fs::copy(dir.join("dev.yaml"), xdg.join("tunnel-client/dev.yaml")).unwrap();
    let mut e3 = e.clone();
    e3.insert("XDG_CONFIG_HOME".into(), xdg.to_str().unwrap().into());
    assert_eq!(
        ok(&["--profile=dev"], &e3).config.source.path().unwrap(),
        &xdg.join("tunnel-client/dev.yaml")
    );
    // ~/.config/tunnel-client
    let home = temp_dir();
    std::fs::create_dir_all(home.join(".config/tunnel-client")).unwrap();
    std::fs::copy(
        dir.join("dev.yaml"),
        home.join(".config/tunnel-client/dev.yaml"),
    )
    .unwrap();
    let mut e4 = e.clone();
    e4.insert("HOME".into(), home.to_str().unwrap().into());
    ok(&["--profile=dev"], &e4);
    // --profile-file expands ~.
    ok(&["--profile-file", "~/.config/tunnel-client/dev.yaml"], &e4);
    // Missing file.
    let m = err(&["--profile=nope"], &e4);
    assert!(
        m.starts_with("read config file ") && m.contains("nope.yaml"),
        "{m}"
    );
    assert!(err(&["--profile=dev", "--profile-dir="], &e4).contains("profile directory is empty"));
}

#[test]
fn unknown_yaml_keys_warn_with_line_and_config_version_is_checked() {
    let y = write_file("p.yaml", "config_version: 1\ncontrol_plane:\n  tunel_id: x\nmcpp: {}\nmcp:\n  server_urls:\n    - url: http://a/mcp\n      chanel: main\n");
    let l = ok(&["--config", y.to_str().unwrap()], &base_env());
    let w = l.warnings.join("\n");
    assert!(w.contains("control_plane.tunel_id at line 3"), "{w}");
    assert!(w.contains("unknown YAML key mcpp at line 4"), "{w}");
    assert!(w.contains("mcp.server_urls[0].chanel at line 8"), "{w}");
    let y = write_file("p.yaml", "config_version: 2\n");
    assert!(err(&["--config", y.to_str().unwrap()], &base_env())
        .contains("unsupported config_version 2"));
    let y = write_file("p.yaml", "control_plane: [1]\n");
    assert!(err(&["--config", y.to_str().unwrap()], &base_env()).contains("expected a map"));
    let y = write_file("p.yaml", "control_plane:\n  max_inflight_requests: [1]\n");
    assert!(err(&["--config", y.to_str().unwrap()], &base_env())
        .contains("control_plane.max_inflight_requests"));
    let y = write_file("p.yaml", "a: [\n");
    assert!(err(&["--config", y.to_str().unwrap()], &base_env()).contains("not valid YAML at line"));
    let y = write_file("p.yaml", "");
    ok(&["--config", y.to_str().unwrap()], &base_env());
    let y = write_file("p.yaml", "mcp:\n  commands:\n    - channel: x\n");
    assert!(
        err(&["--config", y.to_str().unwrap()], &base_env()).contains("every entry needs command")
    );
    let y = write_file("p.yaml", "control_plane:\n  base_url: env:BASE_FROM_ENV\n");
    let mut e = base_env();
    e.insert("BASE_FROM_ENV".into(), " https://b.example ".into());
    assert_eq!(
        ok(&["--config", y.to_str().unwrap()], &e)
            .config
            .control_plane
            .base_url,
        "https://b.example"
    );
    assert!(
        err(&["--config", y.to_str().unwrap()], &base_env()).contains("BASE_FROM_ENV is not set")
    );
}

const SECRETS: &[&str] = &[
    "runtime_key_from_env_1234",
    "cp-header-secret-value",
    "mcp-header-secret-value",
    "cloudflared-secret-token",
    "discovery-file-secret",
    "literalheadervalue",
    "bearer-token-xyz",
    "hunter2",
    "querysecret",
    "sk-abcdefghijklmnop",
];

#[test]
fn secrets_never_appear_in_debug_or_effective_config() {
    let d = profiles_dir();
    let a = args(&[
        "--config",
        d.join("full_config_example.yaml").to_str().unwrap(),
        "--mcp.extra-headers",
        "Authorization: Bearer bearer-token-xyz",
        "--mcp.extra-headers=X-Lit: literalheadervalue",
        "--mcp.server-url",
        "http://user:hunter2@h/mcp?token=querysecret&x=1",
        "--mcp.command",
        "channel=k,command=srv --api-key sk-abcdefghijklmnop",
        "--http-proxy",
        "http://u:hunter2@proxy:3128",
    ]);
    let l = load(Command::Run, &a, &sample_env(), &Overlay(sample_files())).unwrap();
    let dbg = format!("{l:?}");
    let rendered = render_effective(&l);
    for s in SECRETS {
        assert!(!dbg.contains(s), "Debug leaks {s}");
        assert!(
            !rendered.contains(s),
            "render_effective leaks {s}:\n{rendered}"
        );
    }
    assert_eq!(
        format!("{:?}", l.config.control_plane.api_key),
        "Secret(<redacted>)"
    );
    assert!(
        rendered.contains("control-plane.api-key: \"env:CONTROL_PLANE_API_KEY\""),
        "{rendered}"
    );
    assert!(
        rendered.contains("# yaml control_plane.tunnel_id"),
        "{rendered}"
    );
    assert!(
        rendered.contains("mcp.extra-headers:") && rendered.contains("# flag --mcp.extra-headers"),
        "{rendered}"
    );
    // Every setting of the command is rendered.
    for s in SETTINGS.iter().filter(|s| s.applies_to(Command::Run)) {
        assert!(
            rendered.contains(&format!("\n{}: ", s.name())),
            "{} missing",
            s.name()
        );
    }
    // A literal key from the environment.
    let l = ok(&[], &base_env());
    assert!(!format!("{l:?}").contains("sk-test_runtime_key"));
    assert!(!render_effective(&l).contains("sk-test_runtime_key"));
    // Errors never carry secret values.
    let mut e = base_env();
    e.insert(
        "CONTROL_PLANE_API_KEY".into(),
        "has space_secretvalue".into(),
    );
    assert!(!err(&[], &e).contains("secretvalue"));
    assert!(!err(&["--mcp.extra-headers", "X-A: hunter2\u{1}"], &base_env()).contains("hunter2"));
}

#[test]
fn help_is_generated_from_the_table() {
    let h = help_text(Command::Run);
    for s in SETTINGS.iter().filter(|s| s.applies_to(Command::Run)) {
        assert!(h.contains(s.flag), "{} missing from help", s.flag);
        for e in s.env {
            assert!(h.contains(e), "{e} missing from help");
        }
        if let Some(a) = s.alias {
            assert!(!h.contains(&format!("  {a} ")), "hidden alias {a} shown");
        }
    }
    assert!(
        h.contains("default 30s") && h.contains("env CONTROL_PLANE_API_KEY, then OPENAI_API_KEY")
    );
    assert!(h.contains("not supported yet"));
    assert!(!help_text(Command::Doctor).contains("--embedded-mcp-stub"));
    assert!(help_text(Command::Doctor).contains("--explain"));
}

#[test]
fn table_is_consistent() {
    let mut seen = std::collections::BTreeSet::new();
    for s in SETTINGS {
        assert!(
            s.flag.starts_with("--") && seen.insert(s.name()),
            "{}",
            s.flag
        );
        if let Some(y) = s.yaml {
            assert_eq!(by_yaml(y).unwrap().flag, s.flag);
        }
        if let Some(d) = s.default {
            match s.kind {
                Kind::Duration => assert!(parse_go_duration(d).is_ok(), "{d}"),
                Kind::Bool => assert!(parse_go_bool(d).is_some(), "{d}"),
                Kind::Int => assert!(d.parse::<i64>().is_ok(), "{d}"),
                _ => {}
            }
        }
    }
    // Defaults never count as "in use".
    assert!(unsupported_in_use(&ok(&[], &base_env())).is_empty());
    // health.unix-socket (issue #17) and the Harpoon host-include rules (issue #15) run
    // now: only the raw HTTP log is refused.
    let l = ok(
        &[
            "--harpoon.hosts-include-loopback=false",
            "--health.unix-socket=/s",
            "--log.http-raw-unsafe",
        ],
        &base_env(),
    );
    assert_eq!(unsupported_in_use(&l).len(), 1);
    let e = &unsupported_in_use(&l)[0].to_string();
    assert!(
        e.contains("`log.http-raw-unsafe` is not supported yet"),
        "{e}"
    );
}
