//! Valid and invalid cases of every grammar and validation rule.

#[path = "config_common/mod.rs"]
mod common;

use common::*;
use tunnel_client::config::*;

#[test]
fn go_durations() {
    for (s, ns) in [
        ("0", 0i128),
        ("300ms", 300_000_000),
        ("1.5h", 5_400_000_000_000),
        ("2h45m", 9_900_000_000_000),
        ("30000ms", 30_000_000_000),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("10ns", 10),
        ("-1s", -1_000_000_000),
        ("+5s", 5_000_000_000),
        (".5s", 500_000_000),
        ("1m30s", 90_000_000_000),
    ] {
        assert_eq!(parse_go_duration(s), Ok(ns), "{s}");
    }
    for s in [
        "", "30", "1d", "1 s", "s", "1.s5", "1w", "--1s", "1sec", "1.2.3s",
    ] {
        assert!(parse_go_duration(s).is_err(), "{s:?} should be rejected");
    }
    assert_eq!(
        format_go_duration(std::time::Duration::from_secs(90)),
        "1m30s"
    );
    assert_eq!(
        format_go_duration(std::time::Duration::from_millis(500)),
        "500ms"
    );
}

#[test]
fn go_bools_and_tunnel_ids_and_channels() {
    for s in ["1", "t", "T", "TRUE", "true", "True"] {
        assert_eq!(parse_go_bool(s), Some(true));
    }
    for s in ["yes", "on", "", "tRUE"] {
        assert_eq!(parse_go_bool(s), None);
    }
    assert!(valid_tunnel_id(TID));
    assert!(
        valid_tunnel_id("tunnel_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"),
        "code accepts any lowercase letter"
    );
    for t in [
        "tunnel_0123",
        "Tunnel_0123456789abcdef0123456789abcdef",
        "tunnel_0123456789ABCDEF0123456789abcdef",
        "tunnel-0123456789abcdef0123456789abcdef",
        "tunnel_0123456789abcdef0123456789abcdef0",
    ] {
        assert!(!valid_tunnel_id(t), "{t}");
    }
    assert!(valid_channel("main") && valid_channel("a-b_9") && valid_channel(&"x".repeat(64)));
    for c in ["", "Main", "a b", "a.b", &"x".repeat(65)] {
        assert!(!valid_channel(c), "{c}");
    }
}

#[test]
fn command_line_splitting() {
    let ok = |s: &str, want: &[&str]| assert_eq!(split_command_line(s).unwrap(), want, "{s}");
    ok("python -m srv", &["python", "-m", "srv"]);
    ok("  a\t b  ", &["a", "b"]);
    ok("echo 'a b' \"c d\"", &["echo", "a b", "c d"]);
    ok(r#"echo "a\"b" 'x\y'"#, &["echo", "a\"b", "x\\y"]);
    ok(r"a\ b", &["a b"]);
    ok(r#"run "C:\dir""#, &["run", "C:\\dir"]);
    ok("x '' \"\" y", &["x", "", "", "y"]);
    ok("a'b'\"c\"", &["abc"]);
    ok("$HOME *", &["$HOME", "*"]);
    assert_eq!(
        split_command_line("a 'b"),
        Err(SplitError::UnterminatedQuote('\''))
    );
    assert_eq!(
        split_command_line("a \"b"),
        Err(SplitError::UnterminatedQuote('"'))
    );
    assert_eq!(
        split_command_line("a \\"),
        Err(SplitError::TrailingBackslash)
    );
    assert_eq!(split_command_line("   "), Err(SplitError::Empty));
}

#[test]
fn server_url_entries() {
    let e = parse_server_url_entry("http://127.0.0.1:3001/mcp").unwrap();
    assert_eq!(
        (e.channel, e.url.as_str()),
        (None, "http://127.0.0.1:3001/mcp")
    );
    let e = parse_server_url_entry(
        "CHANNEL=docs,url=https://d/mcp,http-proxy=http://p:1,client-cert=/c,client-key=/k",
    )
    .unwrap();
    assert_eq!(e.channel.as_deref(), Some("docs"));
    assert_eq!(e.http_proxy.as_deref(), Some("http://p:1"));
    assert_eq!(e.client_key.as_deref(), Some("/k"));
    for bad in [
        "channel=a",
        "channel=a,url=",
        "url=http://a,colour=red",
        "command=x",
        "channel=a,url=http://x,channel=b",
        "channel=a,junk",
        "",
    ] {
        assert!(parse_server_url_entry(bad).is_err(), "{bad}");
    }
    // Through the loader: URL needs scheme and host; a bad entry names the flag.
    let m = err(&["--mcp.server-url", "channel=x,url=notaurl"], &base_env());
    assert!(
        m.contains("--mcp.server-url") && m.contains("scheme"),
        "{m}"
    );
}

#[test]
fn command_entries() {
    let e = parse_command_entry("npx -y server").unwrap();
    assert_eq!((e.channel, e.command.as_str()), (None, "npx -y server"));
    let e = parse_command_entry("channel=tools,command=python -m a,b").unwrap();
    assert_eq!(
        (e.channel.as_deref(), e.command.as_str()),
        (Some("tools"), "python -m a,b")
    );
    let e = parse_command_entry("command=srv --x=a,b,channel=docs").unwrap();
    assert_eq!(
        (e.channel.as_deref(), e.command.as_str()),
        (Some("docs"), "srv --x=a,b")
    );
    for bad in [
        "",
        "channel=a",
        "channel=a,cmd=x",
        "command=",
        "command=x,channel=",
    ] {
        assert!(parse_command_entry(bad).is_err(), "{bad:?}");
    }
    let m = err(
        &["--mcp.command", "channel=t,command=srv 'unterminated"],
        &base_env(),
    );
    assert!(
        m.contains("unterminated") && m.contains("--mcp.command") && m.contains("channel t"),
        "{m}"
    );
}

#[test]
fn harpoon_targets() {
    let (t, ignored) =
        parse_harpoon_target("label=auth,url='https://a.example',desc=\"Auth\",colour=x").unwrap();
    assert_eq!(
        (t.label.as_str(), t.url.as_str(), t.description.as_deref()),
        ("auth", "https://a.example", Some("Auth"))
    );
    assert_eq!(ignored, vec!["colour".to_string()]);
    assert!(parse_harpoon_target("label").is_err());
    assert!(parse_harpoon_target("=x").is_err());
    let e = base_env();
    assert!(err(&["--harpoon.target", "label=Auth,url=https://a"], &e).contains("label"));
    assert!(err(&["--harpoon.target", "label=a,url=http://a"], &e).contains("https is required"));
    ok(
        &[
            "--harpoon.target",
            "label=a,url=http://a",
            "--harpoon.allow-plaintext-http",
        ],
        &e,
    );
    assert!(err(&["--harpoon.additional-transport", "sse"], &e)
        .contains("unsupported harpoon transport"));
    assert!(err(&["--harpoon.hosts-include-regex", "(a"], &e).contains("regex"));
    let mut e2 = base_env();
    e2.insert(
        "HARPOON_TARGETS".into(),
        "label=a,url=https://a;label=b,url=https://b\nlabel=c,url=https://c".into(),
    );
    assert_eq!(ok(&[], &e2).config.harpoon.targets.len(), 3);
    // Beyond Go: a target may lift the address guard's link-local refusal, explicitly.
    let l = ok(
        &[
            "--harpoon.target",
            "label=meta,url=https://metadata.internal/x,allow-link-local=TRUE",
            "--harpoon.target",
            "label=plain,url=https://a",
        ],
        &e,
    );
    let t = &l.config.harpoon.targets;
    assert!(t[0].allow_link_local && !t[1].allow_link_local);
    assert!(err(
        &[
            "--harpoon.target",
            "label=m,url=https://m,allow-link-local=yes"
        ],
        &e
    )
    .contains("allow-link-local must be true or false"));
}

#[test]
fn headers_and_reserved_control_plane_headers() {
    let mut e = base_env();
    e.insert("HDR".into(), "  v1  ".into());
    let l = ok(
        &[
            "--mcp.extra-headers",
            "x-api-key: env:HDR",
            "--mcp.extra-headers=X-Other: plain",
        ],
        &e,
    );
    let h = &l.config.mcp.extra_headers;
    assert_eq!(h[0].name, "X-Api-Key");
    assert_eq!(h[0].value.expose(), "v1");
    assert_eq!(h[1].value.expose(), "plain");
    let mut e2 = base_env();
    e2.insert(
        "CONTROL_PLANE_EXTRA_HEADERS".into(),
        "X-A: 1; X-B: 2, X-C: 3".into(),
    );
    assert_eq!(ok(&[], &e2).config.control_plane.extra_headers.len(), 3);
    for r in [
        "Authorization: x",
        "accept: x",
        "User-Agent: x",
        "X-Tunnel-Client-Name: x",
        "x-tunnel-client-version: x",
        "X-Tunnel-MCP-Server-Info: x",
    ] {
        let m = err(&["--control-plane.extra-headers", r], &base_env());
        assert!(m.contains("cannot be overridden"), "{r}: {m}");
    }
    // Instance id is only protected at request time (doc/code mismatch: code wins).
    ok(
        &[
            "--control-plane.extra-headers",
            "X-Tunnel-Client-Instance-Id: x",
        ],
        &base_env(),
    );
    for bad in [
        "NoColon",
        ": v",
        "K:",
        "Bad Name: v",
        "X-A: env:UNSET_VAR_Q",
        "X-A: env:1BAD",
    ] {
        let m = err(&["--mcp.extra-headers", bad], &base_env());
        assert!(m.contains("--mcp.extra-headers"), "{bad}: {m}");
    }
    // Case-variant duplicates: same value collapses, different value fails.
    assert_eq!(
        ok(
            &["--mcp.extra-headers=X-A: 1", "--mcp.extra-headers=x-a: 1"],
            &base_env()
        )
        .config
        .mcp
        .extra_headers
        .len(),
        1
    );
    assert!(err(
        &["--mcp.extra-headers=X-A: 1", "--mcp.extra-headers=x-a: 2"],
        &base_env()
    )
    .contains("twice"));
    // file: keeps everything but one trailing line ending.
    let f = write_file("h", "tok en\n");
    let l = ok(
        &["--mcp.extra-headers", &format!("X-F: file:{}", f.display())],
        &base_env(),
    );
    assert_eq!(l.config.mcp.extra_headers[0].value.expose(), "tok en");
    let f = write_file("h", "a\nb\n");
    assert!(err(
        &["--mcp.extra-headers", &format!("X-F: file:{}", f.display())],
        &base_env()
    )
    .contains("control characters"));
}

#[test]
fn ranges_and_ceilings() {
    let e = base_env();
    for (a, good) in [
        ("--control-plane.max-inflight=0", false),
        ("--control-plane.max-inflight=1", true),
        ("--control-plane.max-inflight=10000", true),
        ("--control-plane.max-inflight=10001", false),
        ("--control-plane.max-inflight=ten", false),
        ("--mcp.max-concurrent-requests=0", false),
        ("--mcp.max-concurrent-requests=100000", true),
        ("--harpoon.max-response-bytes=102401", false),
        ("--harpoon.max-redirects=6", false),
        ("--harpoon.max-redirects=0", true),
        ("--admin-ui.log-buffer-events=100001", false),
        ("--control-plane.poll-timeout=0s", false),
        ("--control-plane.poll-deadline-guardrail=1m", false),
        ("--control-plane.poll-deadline-guardrail=59s", true),
        ("--mcp.connection-max-ttl=0", false),
        ("--mcp.startup-wait-timeout=-1s", false),
        ("--proxy.check-interval=0s", false),
        ("--cloudflared.ready-timeout=-5s", false),
    ] {
        let r = load_run(&[a], &e);
        assert_eq!(r.is_ok(), good, "{a}: {:?}", r.err().map(|e| e.to_string()));
    }
    ok(
        &[
            "--control-plane.poll-timeout=9m55s",
            "--control-plane.poll-deadline-guardrail=5s",
        ],
        &e,
    );
    let m = err(
        &[
            "--control-plane.poll-timeout=9m56s",
            "--control-plane.poll-deadline-guardrail=5s",
        ],
        &e,
    );
    assert!(m.contains("at most 10m"), "{m}");
    let m = err(&["--control-plane.max-inflight", "0"], &e);
    assert!(
        m.contains("\"0\"") && m.contains("--control-plane.max-inflight") && m.contains("fix:"),
        "{m}"
    );
    let mut e2 = base_env();
    e2.insert("CONTROL_PLANE_MAX_INFLIGHT_REQUESTS".into(), "99999".into());
    assert!(err(&[], &e2).contains("env var CONTROL_PLANE_MAX_INFLIGHT_REQUESTS"));
}

#[test]
fn log_level_and_format_combinations() {
    let e = base_env();
    assert!(err(&["--log.level=debug"], &e)
        .contains("log level requires 'struct-text' or 'json' log format"));
    assert_eq!(
        ok(&["--log.level=DEBUG", "--log.format=json"], &e)
            .config
            .log
            .level,
        "debug"
    );
    assert_eq!(
        ok(&["--log.level=warn+2", "--log.format=STRUCT-TEXT"], &e)
            .config
            .log
            .format,
        LogFormat::StructText
    );
    let l = ok(&["--log.level=error", "--log.file=/tmp/x.log"], &e);
    assert_eq!(
        l.config.log.format,
        LogFormat::StructText,
        "log.file implies struct-text"
    );
    assert!(err(&["--log.level=verbose", "--log.format=json"], &e).contains("unknown log level"));
    assert!(err(&["--log.format=xml"], &e).contains("unknown log format"));
    assert_eq!(
        ok(&["--log.level=info"], &e).config.log.format,
        LogFormat::Plain
    );
}

#[test]
fn urls_paths_proxies_and_listen_addresses() {
    let e = base_env();
    assert!(err(&["--control-plane.base-url=api.openai.com"], &e).contains("scheme"));
    assert_eq!(
        ok(&["--control-plane.url-path=/"], &e)
            .config
            .control_plane
            .url_path,
        ""
    );
    for bad in ["a/b", "/a?x=1", "/a#f", "https://h/a", "//h/a"] {
        assert!(
            load_run(&["--control-plane.url-path", bad], &e).is_err(),
            "{bad}"
        );
    }
    assert!(err(&["--http-proxy=ftp://p:1"], &e).contains("http or https"));
    assert!(err(&["--http-proxy="], &e).contains("value is required"));
    let mut e2 = base_env();
    e2.insert("CORP_PROXY".into(), "http://user:pw@corp:3128".into());
    let l = ok(&["--http-proxy=env:CORP_PROXY"], &e2);
    let p = l.config.http_proxy.unwrap();
    assert_eq!(p.source, "env:CORP_PROXY");
    // The global proxy applies to MCP bindings and the control plane.
    assert_eq!(
        l.config.mcp.server_urls[0].http_proxy.as_ref().unwrap().url,
        p.url
    );
    assert_eq!(
        l.config.control_plane.http_proxy.as_ref().unwrap().url,
        p.url
    );
    for good in ["127.0.0.1:0", ":8080", "[::1]:9", "localhost:80"] {
        ok(&["--health.listen-addr", good], &e);
    }
    for bad in ["127.0.0.1", "127.0.0.1:99999", "::1:80", "h:x"] {
        assert!(
            load_run(&["--health.listen-addr", bad], &e).is_err(),
            "{bad}"
        );
    }
    // mTLS switch of the default base URL.
    let l = ok(
        &[
            "--control-plane.client-cert=/c.pem",
            "--control-plane.client-key=/k.pem",
        ],
        &e,
    );
    assert_eq!(
        l.config.control_plane.base_url,
        "https://mtls.api.openai.com"
    );
    assert!(err(&["--control-plane.client-cert=/c.pem"], &e).contains("client-key"));
}

#[test]
fn mutual_exclusions_and_channels() {
    let e = base_env();
    let y = write_file("a.yaml", "config_version: 1\n");
    let ys = y.to_str().unwrap();
    assert!(err(&["--config", ys, "--profile", "x"], &e)
        .contains("--config and --profile are mutually exclusive"));
    let mut e2 = base_env();
    e2.insert("TUNNEL_CLIENT_PROFILE".into(), "x".into());
    e2.insert("TUNNEL_CLIENT_PROFILE_FILE".into(), "/x.yaml".into());
    assert!(err(&[], &e2).contains("mutually exclusive"));
    // A flag wins over the env selection entirely.
    ok(&["--config", ys], &e2);
    assert!(err(&["--profile-file", "/tmp/x.yml"], &e).contains(".yaml"));
    assert!(err(&["--profile", "../x"], &e).contains("profile name"));
    assert!(err(&["--config="], &e).contains("empty"));
    assert!(err(
        &["--embedded-mcp-stub", "--mcp.server-url=http://a/mcp"],
        &e
    )
    .contains("--embedded-mcp-stub and --mcp.server-url are mutually exclusive"));
    assert!(err(&["--mcp.command=channel=main,command=srv"], &e)
        .contains("channel main is bound twice"));
    assert!(err(&["--mcp.command=channel=harpoon,command=srv"], &e).contains("reserved"));
    assert!(err(
        &["--mcp.server-url=channel=a,url=http://a,unix-socket=/s,http-proxy=http://p:1"],
        &e
    )
    .contains("unix-socket cannot be combined"));
    let l = ok(&["--mcp.client-cert=/c", "--mcp.client-key=/k"], &e);
    assert_eq!(
        l.config.mcp.server_urls[0].client_cert.as_deref(),
        Some(std::path::Path::new("/c"))
    );
    let mut stdio_only = base_env();
    stdio_only.remove("MCP_SERVER_URL");
    stdio_only.insert("MCP_COMMAND".into(), "srv".into());
    assert!(err(
        &["--mcp.client-cert=/c", "--mcp.client-key=/k"],
        &stdio_only
    )
    .contains("HTTP MCP binding"));
    // Poll channels.
    let l = ok(&["--control-plane.poll-channel=main"], &e);
    assert_eq!(
        l.config.control_plane.poll_channels,
        Some(vec!["main".to_string()])
    );
    assert!(err(&["--control-plane.poll-channel=Main"], &e).contains("not canonical"));
    assert!(err(
        &[
            "--control-plane.poll-channel=main",
            "--control-plane.poll-channel=main"
        ],
        &e
    )
    .contains("twice"));
    assert!(err(&["--control-plane.poll-channel=docs"], &e).contains("no binding"));
    assert!(err(&["--control-plane.poll-channel=harpoon"], &e)
        .contains("harpoon has no routable target"));
    let mut e3 = base_env();
    e3.insert("CONTROL_PLANE_POLL_CHANNELS".into(), "main,,docs".into());
    assert!(err(&[], &e3).contains("blank"));
    // Main binding required unless polled channels say otherwise.
    let mut e4 = base_env();
    e4.remove("MCP_SERVER_URL");
    assert!(err(&[], &e4)
        .starts_with("main channel is required; set --mcp.server-url or --mcp.command"));
    assert!(err(&["--mcp.command=channel=docs,command=srv"], &e4).contains("add channel=main"));
    ok(
        &[
            "--mcp.command=channel=docs,command=srv",
            "--control-plane.poll-channel=docs",
        ],
        &e4,
    );
}

#[test]
fn argv_errors() {
    let e = base_env();
    let m = err(&["--control-plane.tunel-id", TID], &e);
    assert!(
        m.contains("unknown flag --control-plane.tunel-id")
            && m.contains("--control-plane.tunnel-id"),
        "{m}"
    );
    assert!(err(&["--log.level"], &e).contains("needs a value"));
    assert!(err(&["stray"], &e).contains("unexpected argument"));
    assert!(err(&["--json"], &e).contains("not accepted by `run`"));
    assert!(err(&["--allow-remote-ui=maybe"], &e).contains("not a boolean"));
    let l = load(
        Command::Doctor,
        &args(&["--json", "--explain"]),
        &e,
        &RealFiles,
    )
    .unwrap();
    assert!(l.config.doctor.json && l.config.doctor.explain);
    assert!(load(
        Command::Doctor,
        &args(&["--embedded-mcp-stub"]),
        &e,
        &RealFiles
    )
    .is_err());
    assert!(wants_help(&args(&["--log.level=info", "--help"])));
}

#[test]
fn redaction_of_urls_behind_a_prefix_terminates() {
    // `url=…` / `--flag=…` words are not bare URLs; this used to recurse until the stack
    // overflowed (doctor / effective config of a stdio command with such an argument).
    assert_eq!(
        redact_text("npx mcp-remote --url=http://u:p4ss@h/x"),
        "npx mcp-remote --url=http://[REDACTED]@h/x"
    );
    assert_eq!(
        redact_url("url=http://u:p@h:1/m"),
        "url=http://[REDACTED]@h:1/m"
    );
    assert_eq!(redact_text("1x://u:p@h"), "1x://[REDACTED]@h");
}
