//! Precedence over the inventory: for each sampled setting, the value from each source and
//! the winner when several are set (flag > env > YAML > default).

#[path = "config_common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use tunnel_client::config::{format_go_duration, setting, Header, Proxy, RunConfig, Source};

type Get = fn(&RunConfig) -> String;

struct Row {
    name: &'static str,
    flag: &'static str,
    env: &'static str,
    /// YAML value text (flow style for lists and maps).
    yaml: &'static str,
    get: Get,
    want_flag: &'static str,
    want_env: &'static str,
    want_yaml: &'static str,
    want_default: &'static str,
}

fn p(v: &Option<PathBuf>) -> String {
    v.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}
fn px(v: &Option<Proxy>) -> String {
    v.as_ref().map(|p| p.url.clone()).unwrap_or_default()
}
fn d(v: Duration) -> String {
    format_go_duration(v)
}
fn hn(v: &[Header]) -> String {
    v.iter()
        .map(|h| h.name.clone())
        .collect::<Vec<_>>()
        .join(",")
}

macro_rules! row {
    ($name:expr, $f:expr, $e:expr, $y:expr, $get:expr, [$wf:expr, $we:expr, $wy:expr, $wd:expr]) => {
        Row {
            name: $name,
            flag: $f,
            env: $e,
            yaml: $y,
            get: $get,
            want_flag: $wf,
            want_env: $we,
            want_yaml: $wy,
            want_default: $wd,
        }
    };
    ($name:expr, $f:expr, $e:expr, $y:expr, $get:expr, $wd:expr) => {
        Row {
            name: $name,
            flag: $f,
            env: $e,
            yaml: $y,
            get: $get,
            want_flag: $f,
            want_env: $e,
            want_yaml: $y,
            want_default: $wd,
        }
    };
}

const T_F: &str = "tunnel_ffffffffffffffffffffffffffffffff";
const T_E: &str = "tunnel_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
const T_Y: &str = "tunnel_99999999999999999999999999999999";

fn rows() -> Vec<Row> {
    vec![
        row!(
            "ca-bundle",
            "/f.pem",
            "/e.pem",
            "/y.pem",
            |c| p(&c.ca_bundle),
            ""
        ),
        row!(
            "http-proxy",
            "http://f.proxy:1",
            "http://e.proxy:2",
            "http://y.proxy:3",
            |c| px(&c.http_proxy),
            ""
        ),
        row!(
            "control-plane.base-url",
            "https://f.example",
            "https://e.example",
            "https://y.example",
            |c| c.control_plane.base_url.clone(),
            "https://api.openai.com"
        ),
        row!(
            "control-plane.url-path",
            "/f",
            "/e",
            "/y",
            |c| c.control_plane.url_path.clone(),
            ""
        ),
        row!(
            "control-plane.tunnel-id",
            T_F,
            T_E,
            T_Y,
            |c| c.control_plane.tunnel_id.clone(),
            "<required>"
        ),
        row!(
            "control-plane.organization-id",
            "org-f",
            "org-e",
            "org-y",
            |c| c.control_plane.organization_id.clone().unwrap_or_default(),
            ""
        ),
        row!(
            "control-plane.api-key",
            "env:FLAG_KEY",
            "envliteralkey",
            "env:YAML_KEY",
            |c| c.control_plane.api_key.describe(),
            [
                "env:FLAG_KEY",
                "env:CONTROL_PLANE_API_KEY",
                "env:YAML_KEY",
                "<required>"
            ]
        ),
        row!(
            "control-plane.http-proxy",
            "http://f.cp:1",
            "http://e.cp:2",
            "http://y.cp:3",
            |c| px(&c.control_plane.http_proxy),
            ""
        ),
        row!(
            "control-plane.max-inflight",
            "11",
            "12",
            "13",
            |c| c.control_plane.max_inflight.to_string(),
            "20"
        ),
        row!(
            "control-plane.poll-timeout",
            "11s",
            "12s",
            "13s",
            |c| d(c.control_plane.poll_timeout),
            "30s"
        ),
        row!(
            "control-plane.poll-deadline-guardrail",
            "1s",
            "2s",
            "3s",
            |c| d(c.control_plane.poll_deadline_guardrail),
            "5s"
        ),
        row!(
            "control-plane.extra-headers",
            "X-F: 1",
            "X-E: 2",
            "{x-y: \"3\"}",
            |c| hn(&c.control_plane.extra_headers),
            ["X-F", "X-E", "X-Y", ""]
        ),
        row!(
            "log.level",
            "debug",
            "warn",
            "error",
            |c| c.log.level.clone(),
            "info"
        ),
        row!(
            "log.format",
            "json",
            "struct-text",
            "json",
            |c| format!("{:?}", c.log.format),
            ["Json", "StructText", "Json", "Plain"]
        ),
        row!(
            "log.file",
            "/f.log",
            "/e.log",
            "/y.log",
            |c| p(&c.log.file),
            ""
        ),
        row!(
            "log.http-raw-unsafe",
            "true",
            "false",
            "true",
            |c| c.log.http_raw_unsafe.to_string(),
            "false"
        ),
        row!(
            "health.listen-addr",
            "127.0.0.1:1",
            "127.0.0.1:2",
            "127.0.0.1:3",
            |c| c.health.listen_addr.clone(),
            "127.0.0.1:8080"
        ),
        row!(
            "health.unix-socket",
            "/f.sock",
            "/e.sock",
            "/y.sock",
            |c| p(&c.health.unix_socket),
            ""
        ),
        row!(
            "health.url-file",
            "/f.url",
            "/e.url",
            "/y.url",
            |c| p(&c.health.url_file),
            ""
        ),
        row!(
            "pid.file",
            "/f.pid",
            "/e.pid",
            "/y.pid",
            |c| p(&c.process.pid_file),
            ""
        ),
        row!(
            "mcp.server-url",
            "http://f.mcp/mcp",
            "http://e.mcp/mcp",
            "[{url: \"http://y.mcp/mcp\"}]",
            |c| c
                .mcp
                .server_urls
                .iter()
                .map(|b| b.url.clone())
                .collect::<Vec<_>>()
                .join(","),
            [
                "http://f.mcp/mcp",
                "http://e.mcp/mcp",
                "http://y.mcp/mcp",
                "<required>"
            ]
        ),
        row!(
            "mcp.command",
            "channel=tools,command=f-srv",
            "channel=tools,command=e-srv",
            "[{channel: tools, command: y-srv}]",
            |c| c
                .mcp
                .commands
                .iter()
                .map(|b| b.argv.join(" "))
                .collect::<Vec<_>>()
                .join(","),
            ["f-srv", "e-srv", "y-srv", ""]
        ),
        row!(
            "mcp.http-proxy",
            "http://f.m:1",
            "http://e.m:2",
            "http://y.m:3",
            |c| px(&c.mcp.http_proxy),
            ""
        ),
        row!(
            "mcp.extra-headers",
            "X-F: 1",
            "X-E: 2",
            "{X-Y: \"3\"}",
            |c| hn(&c.mcp.extra_headers),
            ["X-F", "X-E", "X-Y", ""]
        ),
        row!(
            "mcp.discovery-extra-headers",
            "X-F: 1",
            "X-E: 2",
            "{X-Y: \"3\"}",
            |c| hn(&c.mcp.discovery_extra_headers),
            ["X-F", "X-E", "X-Y", ""]
        ),
        row!(
            "mcp.startup-wait-timeout",
            "1s",
            "2s",
            "3s",
            |c| d(c.mcp.startup_wait_timeout),
            "0s"
        ),
        row!(
            "mcp.connection-max-ttl",
            "1m0s",
            "2m0s",
            "3m0s",
            |c| d(c.mcp.connection_max_ttl),
            "10m0s"
        ),
        row!(
            "mcp.max-concurrent-requests",
            "1",
            "2",
            "3",
            |c| c.mcp.max_concurrent_requests.to_string(),
            "10"
        ),
        row!(
            "harpoon.target",
            "label=f,url=https://f.example",
            "label=e,url=https://e.example",
            "[{label: y, url: \"https://y.example\"}]",
            |c| c
                .harpoon
                .targets
                .iter()
                .map(|t| t.label.clone())
                .collect::<Vec<_>>()
                .join(","),
            ["f", "e", "y", ""]
        ),
        row!(
            "harpoon.allow-plaintext-http",
            "true",
            "false",
            "true",
            |c| c.harpoon.allow_plaintext_http.to_string(),
            "false"
        ),
        row!(
            "harpoon.max-response-bytes",
            "1",
            "2",
            "3",
            |c| c.harpoon.max_response_bytes.to_string(),
            "102400"
        ),
        row!(
            "harpoon.max-redirects",
            "1",
            "2",
            "3",
            |c| c.harpoon.max_redirects.to_string(),
            "5"
        ),
        row!(
            "harpoon.http-proxy",
            "http://f.h:1",
            "http://e.h:2",
            "http://y.h:3",
            |c| px(&c.harpoon.http_proxy),
            ""
        ),
        row!(
            "harpoon.hosts-include-suffix",
            ".f.example",
            ".e.example",
            "[.y.example]",
            |c| c.harpoon.hosts_include_suffix.join(","),
            [".f.example", ".e.example", ".y.example", ""]
        ),
        row!(
            "harpoon.hosts-include-regex",
            "^f$",
            "^e$",
            "[\"^y$\"]",
            |c| c.harpoon.hosts_include_regex.join(","),
            ["^f$", "^e$", "^y$", ""]
        ),
        row!(
            "harpoon.hosts-include-loopback",
            "false",
            "true",
            "false",
            |c| c.harpoon.hosts_include_loopback.to_string(),
            "true"
        ),
        row!(
            "harpoon.hosts-include-private",
            "false",
            "true",
            "false",
            |c| c.harpoon.hosts_include_private.to_string(),
            "true"
        ),
        row!(
            "harpoon.capture-payloads",
            "true",
            "false",
            "true",
            |c| c.harpoon.capture_payloads.to_string(),
            "false"
        ),
        row!(
            "cloudflared.token",
            "env:FLAG_TOK",
            "literal-token",
            "env:YAML_TOK",
            |c| c
                .cloudflared
                .token
                .as_ref()
                .map(|t| t.describe())
                .unwrap_or_default(),
            [
                "env:FLAG_TOK",
                "env:CLOUDFLARED_TUNNEL_TOKEN",
                "env:YAML_TOK",
                ""
            ]
        ),
        row!(
            "cloudflared.managed",
            "true",
            "false",
            "true",
            |c| c.cloudflared.managed.to_string(),
            "false"
        ),
        row!(
            "cloudflared.path",
            "/f/cfd",
            "/e/cfd",
            "/y/cfd",
            |c| p(&c.cloudflared.path),
            ""
        ),
        row!(
            "cloudflared.ready-timeout",
            "1s",
            "2s",
            "3s",
            |c| d(c.cloudflared.ready_timeout),
            "30s"
        ),
        row!(
            "allow-remote-ui",
            "true",
            "false",
            "true",
            |c| c.admin_ui.allow_remote.to_string(),
            "false"
        ),
        row!(
            "open-web-ui",
            "true",
            "false",
            "true",
            |c| c.admin_ui.open_browser.to_string(),
            "false"
        ),
        row!(
            "admin-ui.log-buffer-events",
            "1",
            "2",
            "3",
            |c| c.admin_ui.log_buffer_events.to_string(),
            "2000"
        ),
        row!(
            "proxy.check-interval",
            "1s",
            "2s",
            "3s",
            |c| d(c.proxy.check_interval),
            "1m0s"
        ),
    ]
}

/// Nested YAML for a dotted path.
fn yaml_for(path: &str, value: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let mut out = String::from("config_version: 1\n");
    for (i, p) in parts.iter().enumerate() {
        let indent = "  ".repeat(i);
        if i + 1 == parts.len() {
            out.push_str(&format!("{indent}{p}: {value}\n"));
        } else {
            out.push_str(&format!("{indent}{p}:\n"));
        }
    }
    out
}

#[test]
fn every_sampled_setting_takes_each_layer_and_the_right_winner() {
    let rows = rows();
    assert!(
        rows.len() >= 40,
        "sample must cover at least 40 settings, has {}",
        rows.len()
    );
    for (i, r) in rows.iter().enumerate() {
        let s = setting(r.name).unwrap_or_else(|| panic!("no setting {}", r.name));
        let var = s.env[0];
        let mut base = base_env();
        base.remove(var);
        base.insert("LOG_FORMAT".into(), "json".into());
        if r.name == "log.format" {
            base.remove("LOG_FORMAT");
        }
        for (k, v) in [
            ("FLAG_KEY", "flagkey_123"),
            ("YAML_KEY", "yamlkey_456"),
            ("FLAG_TOK", "ftok"),
            ("YAML_TOK", "ytok"),
        ] {
            base.insert(k.into(), v.into());
        }
        let yaml_path = write_file("p.yaml", &yaml_for(s.yaml.unwrap(), r.yaml));
        let cfg = format!("--config={}", yaml_path.display());
        // Alternate `--flag=value` and `--flag value` forms.
        let flag_args: Vec<String> = if s.kind == tunnel_client::config::Kind::Bool || i % 2 == 0 {
            vec![format!("{}={}", s.flag, r.flag)]
        } else {
            vec![s.flag.to_string(), r.flag.to_string()]
        };
        let with_env = |mut e: std::collections::BTreeMap<String, String>| {
            e.insert(var.into(), r.env.into());
            e
        };
        let check = |what: &str,
                     a: Vec<String>,
                     e: &std::collections::BTreeMap<String, String>,
                     want: &str,
                     src: fn(&Source) -> bool| {
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let l = ok(&a, e);
            assert_eq!((r.get)(&l.config), want, "{}: {what}", r.name);
            assert!(
                src(l.source(r.name)),
                "{}: {what}: source was {:?}",
                r.name,
                l.source(r.name)
            );
        };
        // YAML only.
        check("yaml only", vec![cfg.clone()], &base, r.want_yaml, |s| {
            matches!(s, Source::Yaml { .. })
        });
        // env beats YAML.
        check(
            "env over yaml",
            vec![cfg.clone()],
            &with_env(base.clone()),
            r.want_env,
            |s| matches!(s, Source::Env(_)),
        );
        // env only.
        check(
            "env only",
            vec![],
            &with_env(base.clone()),
            r.want_env,
            |s| matches!(s, Source::Env(_)),
        );
        // flag beats env and YAML.
        let mut a = flag_args.clone();
        a.push(cfg.clone());
        check(
            "flag over env and yaml",
            a,
            &with_env(base.clone()),
            r.want_flag,
            |s| matches!(s, Source::Flag(_)),
        );
        // flag only.
        check("flag only", flag_args.clone(), &base, r.want_flag, |s| {
            matches!(s, Source::Flag(_))
        });
        // default.
        if r.want_default != "<required>" {
            check("default", vec![], &base, r.want_default, |s| {
                matches!(s, Source::Default)
            });
        }
    }
}

#[test]
fn hidden_dash_alias_applies_only_without_the_canonical_flag() {
    let e = base_env();
    let l = ok(
        &[
            "--health-listen-addr",
            "127.0.0.1:7",
            "--health.listen-addr=127.0.0.1:8",
        ],
        &e,
    );
    assert_eq!(l.config.health.listen_addr, "127.0.0.1:8");
    let l = ok(&["--health-listen-addr=127.0.0.1:7"], &e);
    assert_eq!(l.config.health.listen_addr, "127.0.0.1:7");
    assert_eq!(
        l.source("health.listen-addr"),
        &Source::Flag("--health-listen-addr")
    );
    let l = ok(
        &[
            "--mcp-server-url",
            "http://a/mcp",
            "--mcp.server-url",
            "http://b/mcp",
        ],
        &e,
    );
    assert_eq!(l.config.mcp.server_urls.len(), 1);
    assert_eq!(l.config.mcp.server_urls[0].url, "http://b/mcp");
}

#[test]
fn repeatable_flags_accumulate_and_scalars_take_the_last() {
    let e = base_env();
    let l = ok(
        &[
            "--mcp.server-url=http://a/mcp",
            "--mcp.server-url",
            "channel=b,url=http://b/mcp",
            "--control-plane.max-inflight=3",
            "--control-plane.max-inflight=4",
        ],
        &e,
    );
    assert_eq!(l.config.mcp.server_urls.len(), 2);
    assert_eq!(l.config.mcp.server_urls[1].channel, "b");
    assert_eq!(l.config.control_plane.max_inflight, 4);
}

#[test]
fn set_but_empty_env_hides_yaml_and_gives_the_default() {
    let y = write_file("p.yaml", "health:\n  listen_addr: 127.0.0.1:9999\n");
    let mut e = base_env();
    e.insert("HEALTH_LISTEN_ADDR".into(), "".into());
    let l = ok(&["--config", y.to_str().unwrap()], &e);
    assert_eq!(l.config.health.listen_addr, "127.0.0.1:8080");
    assert_eq!(
        l.source("health.listen-addr"),
        &Source::EnvEmpty("HEALTH_LISTEN_ADDR")
    );
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("HEALTH_LISTEN_ADDR") && w.contains("health.listen_addr")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn empty_tunnel_id_env_is_an_error_even_with_yaml() {
    let y = write_file("p.yaml", &format!("control_plane:\n  tunnel_id: {TID}\n"));
    let mut e = base_env();
    e.insert("CONTROL_PLANE_TUNNEL_ID".into(), "".into());
    let m = err(&["--config", y.to_str().unwrap()], &e);
    assert!(
        m.starts_with(
            "tunnel ID is required; set --control-plane.tunnel-id or CONTROL_PLANE_TUNNEL_ID"
        ),
        "{m}"
    );
}

#[test]
fn header_env_set_at_all_drops_yaml_headers() {
    let y = write_file("p.yaml", "mcp:\n  extra_headers:\n    X-Yaml: a\n");
    let mut e = base_env();
    e.insert("MCP_EXTRA_HEADERS".into(), "".into());
    let l = ok(&["--config", y.to_str().unwrap()], &e);
    assert!(l.config.mcp.extra_headers.is_empty());
}

#[test]
fn api_key_chain() {
    let mut e = base_env();
    e.remove("CONTROL_PLANE_API_KEY");
    // OPENAI_API_KEY is the last fallback.
    e.insert("OPENAI_API_KEY".into(), "openai_key_1".into());
    let l = ok(&[], &e);
    assert_eq!(l.config.control_plane.api_key.expose(), "openai_key_1");
    // YAML beats OPENAI_API_KEY.
    let y = write_file("p.yaml", "control_plane:\n  api_key: yaml_literal_key\n");
    let l = ok(&["--config", y.to_str().unwrap()], &e);
    assert_eq!(l.config.control_plane.api_key.expose(), "yaml_literal_key");
    // Set-but-empty CONTROL_PLANE_API_KEY is an error with no fallback.
    e.insert("CONTROL_PLANE_API_KEY".into(), "".into());
    let m = err(&[], &e);
    assert!(m.contains("CONTROL_PLANE_API_KEY is set but empty"), "{m}");
    // The flag must be a reference.
    let m = err(
        &["--control-plane.api-key", "sk-literal_abcdefghijkl"],
        &base_env(),
    );
    assert!(m.contains("must be prefixed with env: or file:"), "{m}");
    assert!(!m.contains("sk-literal"), "{m}");
    // Missing everywhere.
    let mut e = base_env();
    e.remove("CONTROL_PLANE_API_KEY");
    let m = err(&[], &e);
    assert!(m.contains("control plane API key is required"), "{m}");
    // Malformed key never echoed.
    let mut e = base_env();
    e.insert("CONTROL_PLANE_API_KEY".into(), " bad key! ".into());
    let m = err(&[], &e);
    assert!(m.contains("malformed") && !m.contains("bad key"), "{m}");
    // file: reference, trimmed.
    let f = write_file("key", "file_key_9\n");
    let l = ok(
        &["--control-plane.api-key", &format!("file:{}", f.display())],
        &base_env(),
    );
    assert_eq!(l.config.control_plane.api_key.expose(), "file_key_9");
}
