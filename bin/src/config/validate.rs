//! Builds the typed [`RunConfig`] in the Go client's validation order
//! (go-cli-config.md §2.2): YAML → CA bundle → global proxy → control plane → MCP →
//! logging → health/process → Harpoon → cloudflared/UI → poll-channel cross-check.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::argv::FlagValues;
use super::error::{problem, ConfigError, ConfigErrors};
use super::features::{channels, harpoon};
use super::grammar::{
    check_host_port, check_url, normalize_channel, parse_log_level, split_command_line,
    valid_channel, valid_tunnel_id,
};
use super::headers::RESERVED_CONTROL_PLANE_HEADERS;
use super::model::*;
use super::resolve::{resolve_path, resolve_proxy, row, Ctx, Raw};
use super::secret::{parse_ref, read_env_ref, read_file_ref, FileTrim, Ref, Secret, SecretOrigin};
use super::table::{Command, SETTINGS};
use super::{select, yaml, Env, Files, Loaded, Source};

const DEFAULT_BASE_URL: &str = "https://api.openai.com";

fn valid_api_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(crate) fn load_with_flags(
    cmd: Command,
    flags: &FlagValues,
    env: &dyn Env,
    files: &dyn Files,
) -> Result<Loaded, ConfigErrors> {
    let sel = select::select(flags, env)?;
    let mut yaml_file = String::new();
    let mut yv = yaml::YamlValues::default();
    if let Some(path) = sel.source.path() {
        yaml_file = path.display().to_string();
        let text = files
            .read_to_string(path)
            .map_err(|e| ConfigError::ReadFile {
                path: yaml_file.clone(),
                message: e.to_string(),
            })?;
        yv = yaml::parse_yaml(&text, &yaml_file, env, files);
        if !yv.errors.is_empty() {
            return Err(ConfigErrors(std::mem::take(&mut yv.errors)));
        }
    }
    let mut cx = Ctx {
        flags,
        env,
        files,
        warnings: std::mem::take(&mut yv.warnings),
        yaml: yv,
        errors: Vec::new(),
        sources: BTreeMap::new(),
        yaml_file,
    };
    for (n, s) in sel.sources {
        cx.sources.insert(n, s);
    }
    let mut c = RunConfig {
        source: sel.source,
        ..RunConfig::default()
    };
    c.ca_bundle = cx.path("ca-bundle");
    c.http_proxy = cx.proxy("http-proxy");
    control_plane(&mut cx, &mut c);
    mcp(&mut cx, &mut c);
    logging(&mut cx, &mut c);
    c.health.listen_addr = cx.string("health.listen-addr").unwrap_or_default();
    if let Err(e) = check_host_port(&c.health.listen_addr) {
        let v = c.health.listen_addr.clone();
        cx.errors.push(
            problem(
                e,
                "set --health.listen-addr to host:port, e.g. 127.0.0.1:8080 or 127.0.0.1:0",
            )
            .at(cx.origin("health.listen-addr"), Some(&v)),
        );
    }
    c.health.unix_socket = cx.path("health.unix-socket");
    c.health.url_file = cx.string("health.url-file").map(PathBuf::from);
    c.process.pid_file = cx.string("pid.file").map(PathBuf::from);
    harpoon(&mut cx, &mut c);
    c.cloudflared.token = cloudflared_token(&mut cx);
    c.cloudflared.managed = cx.boolean("cloudflared.managed");
    c.cloudflared.path = cx.string("cloudflared.path").map(PathBuf::from);
    c.cloudflared.ready_timeout = cx.duration("cloudflared.ready-timeout", |n| {
        if n > 0 {
            Ok(())
        } else {
            Err("must be positive")
        }
    });
    c.admin_ui.allow_remote = cx.boolean("allow-remote-ui");
    c.admin_ui.open_browser = cx.boolean("open-web-ui");
    c.admin_ui.log_buffer_events = cx.int("admin-ui.log-buffer-events", 1, Some(100_000)) as u32;
    c.proxy.check_interval = cx.duration("proxy.check-interval", |n| {
        if n > 0 {
            Ok(())
        } else {
            Err("must be positive")
        }
    });
    if cmd == Command::Run {
        c.embedded_mcp.enabled = cx.boolean("embedded-mcp-stub");
        c.embedded_mcp.listen_addr = cx.string("embedded-mcp-listen-addr").unwrap_or_default();
        c.embedded_mcp.server_name = cx.string("embedded-mcp-server-name").unwrap_or_default();
        c.embedded_mcp.server_version =
            cx.string("embedded-mcp-server-version").unwrap_or_default();
        c.record_trace = cx.string("record-trace").map(PathBuf::from);
    }
    if cmd == Command::Doctor {
        c.doctor.explain = cx.boolean("explain");
        c.doctor.json = cx.boolean("json");
    }
    channels(&mut cx, &mut c);
    for s in SETTINGS.iter().filter(|s| s.applies_to(cmd)) {
        cx.sources.entry(s.name()).or_insert(Source::Default);
    }
    if !cx.errors.is_empty() {
        return Err(ConfigErrors(cx.errors));
    }
    Ok(Loaded {
        command: cmd,
        config: c,
        warnings: cx.warnings,
        sources: cx.sources,
    })
}

fn control_plane(cx: &mut Ctx<'_>, c: &mut RunConfig) {
    let cp = &mut c.control_plane;
    cp.client_cert = cx.path("control-plane.client-cert");
    cp.client_key = cx.path("control-plane.client-key");
    if cp.client_cert.is_some() != cp.client_key.is_some() {
        cx.errors.push(ConfigError::Missing {
            what: "--control-plane.client-cert together with --control-plane.client-key".into(),
            fix: "set both the control-plane client certificate and key, or neither".into(),
        });
    }
    let base = cx
        .string("control-plane.base-url")
        .unwrap_or_else(|| DEFAULT_BASE_URL.into());
    if let Err(e) = check_url(&base) {
        cx.errors.push(
            problem(
                e,
                "set --control-plane.base-url to e.g. https://api.openai.com",
            )
            .at(cx.origin("control-plane.base-url"), Some(&base)),
        );
    }
    cp.configured_base_url = base.clone();
    let has_cert = cp.client_cert.is_some() && cp.client_key.is_some();
    cp.base_url = match tunnel_core::egress::mtls_base_url(&base, has_cert) {
        Some(mtls) => mtls.into(),
        None => base,
    };
    let path = cx.string("control-plane.url-path").unwrap_or_default();
    if !path.is_empty() {
        let ok = path.starts_with('/')
            && !path.starts_with("//")
            && !path.contains(['?', '#', '@'])
            && !path.contains("://");
        if ok {
            cp.url_path = if path == "/" { String::new() } else { path };
        } else {
            cx.errors.push(
                problem(
                    "must be a path starting with / (no scheme, host, query or fragment)",
                    "e.g. --control-plane.url-path /chatgpttunnelgateway/dev/us",
                )
                .at(cx.origin("control-plane.url-path"), Some(&path)),
            );
        }
    }
    match cx.pick("control-plane.tunnel-id") {
        Some(Raw::Scalar(v)) if !v.trim().is_empty() => {
            let t = v.trim();
            if valid_tunnel_id(t) {
                cp.tunnel_id = t.to_string();
            } else {
                cx.errors.push(problem("must match tunnel_<32 lowercase letters or digits>", "copy the id from `tunnel-client admin tunnels list` or the tunnels management page").at(cx.origin("control-plane.tunnel-id"), Some(t)));
            }
        }
        _ => cx.errors.push(ConfigError::Missing {
            what: "tunnel ID".into(),
            fix: "set --control-plane.tunnel-id or CONTROL_PLANE_TUNNEL_ID (or control_plane.tunnel_id in the profile)".into(),
        }),
    }
    if let Some(org) = cx.string("control-plane.organization-id") {
        if org.contains(['\r', '\n']) {
            cx.errors.push(
                problem(
                    "must not contain line breaks",
                    "give the organization id on one line",
                )
                .at(cx.origin("control-plane.organization-id"), Some(&org)),
            );
        } else {
            cp.organization_id = Some(org);
        }
    }
    cp.max_inflight = cx.int("control-plane.max-inflight", 1, Some(10_000)) as u32;
    cp.poll_timeout = cx.duration("control-plane.poll-timeout", |n| {
        if n > 0 {
            Ok(())
        } else {
            Err("must be positive")
        }
    });
    cp.poll_deadline_guardrail = cx.duration("control-plane.poll-deadline-guardrail", |n| {
        if n <= 0 {
            Err("must be positive")
        } else if n >= 60_000_000_000 {
            Err("must be less than 1m")
        } else {
            Ok(())
        }
    });
    let sum = cp.poll_timeout + cp.poll_deadline_guardrail;
    if sum > std::time::Duration::from_secs(600) {
        let shown = super::grammar::format_go_duration(sum);
        cx.errors.push(ConfigError::Invalid {
            origin: format!(
                "{} + {}",
                cx.origin("control-plane.poll-timeout"),
                cx.origin("control-plane.poll-deadline-guardrail")
            ),
            value: Some(shown),
            problem: "poll timeout plus deadline guardrail must be at most 10m".into(),
            fix: "lower --control-plane.poll-timeout (30s is the default)".into(),
        });
    }
    let chans = cx.list("control-plane.poll-channel");
    if !matches!(
        cx.sources.get("control-plane.poll-channel"),
        Some(Source::Default | Source::EnvEmpty(_)) | None
    ) {
        let origin = cx.origin("control-plane.poll-channel");
        let mut seen: Vec<String> = Vec::new();
        if chans.is_empty() {
            cx.errors.push(
                problem(
                    "the poll channel list is empty",
                    "list at least one channel, or drop the setting",
                )
                .at(&origin, Some("")),
            );
        }
        for ch in chans {
            let canon = ch.trim().to_ascii_lowercase();
            if ch.trim().is_empty() {
                cx.errors.push(
                    problem("blank channel name", "remove the empty item").at(&origin, Some(&ch)),
                );
            } else if canon != ch {
                cx.errors.push(
                    problem(
                        format!("channel is not canonical; use {canon:?}"),
                        format!("write {canon}"),
                    )
                    .at(&origin, Some(&ch)),
                );
            } else if !valid_channel(&ch) {
                cx.errors.push(
                    problem("channel names match [a-z0-9_-]{1,64}", "rename the channel")
                        .at(&origin, Some(&ch)),
                );
            } else if seen.contains(&ch) {
                cx.errors.push(
                    problem("channel listed twice", "remove the duplicate").at(&origin, Some(&ch)),
                );
            } else {
                seen.push(ch);
            }
        }
        seen.sort();
        c.control_plane.poll_channels = Some(seen);
    }
    c.control_plane.api_key = api_key(cx).unwrap_or_default();
    c.control_plane.http_proxy = cx
        .proxy("control-plane.http-proxy")
        .or_else(|| c.http_proxy.clone());
    c.control_plane.extra_headers = cx.headers(
        "control-plane.extra-headers",
        RESERVED_CONTROL_PLANE_HEADERS,
    );
}

/// The API-key chain: flag ref > `CONTROL_PLANE_API_KEY` > YAML > `OPENAI_API_KEY`.
fn api_key(cx: &mut Ctx<'_>) -> Option<Secret> {
    let s = row("control-plane.api-key");
    let fix_ref = "use --control-plane.api-key env:VAR or file:/path (or put the key in CONTROL_PLANE_API_KEY)";
    let (src, got): (Source, Result<Secret, super::error::Problem>) = if let Some((typed, v)) =
        cx.flags.get(s)
    {
        let v = v.last().cloned().unwrap_or_default();
        let r = match parse_ref(&v, false) {
            Ref::Env(n) => {
                read_env_ref(cx.env, n, false).map(|k| Secret::new(k, SecretOrigin::Env(n.into())))
            }
            Ref::File(p) => read_file_ref(cx.files, p, FileTrim::All)
                .map(|k| Secret::new(k, SecretOrigin::File(p.trim().into()))),
            Ref::Literal(_) => Err(problem(
                "value must be prefixed with env: or file:",
                fix_ref,
            )),
        };
        (Source::Flag(typed), r)
    } else if let Some(v) = cx.env.var("CONTROL_PLANE_API_KEY") {
        let r = if v.is_empty() {
            Err(problem(
                "CONTROL_PLANE_API_KEY is set but empty (there is no fallback to OPENAI_API_KEY)",
                "unset CONTROL_PLANE_API_KEY or give it the key",
            ))
        } else {
            Ok(Secret::new(
                v,
                SecretOrigin::Env("CONTROL_PLANE_API_KEY".into()),
            ))
        };
        (Source::Env("CONTROL_PLANE_API_KEY"), r)
    } else if let Some((key, YamlRawScalar(v))) = cx
        .yaml
        .values
        .remove(s.name())
        .map(|(k, y)| (k, YamlRawScalar::from(y)))
    {
        let origin = format!("YAML key {key} in {}", cx.yaml_file);
        let r = match parse_ref(v.trim(), true) {
            Ref::Env(n) => {
                read_env_ref(cx.env, n, true).map(|k| Secret::new(k, SecretOrigin::Env(n.into())))
            }
            Ref::File(p) => read_file_ref(cx.files, p, FileTrim::All)
                .map(|k| Secret::new(k, SecretOrigin::File(p.trim().into()))),
            Ref::Literal(l) => Ok(Secret::new(l, SecretOrigin::Literal(origin))),
        };
        (
            Source::Yaml {
                key,
                file: cx.yaml_file.clone(),
            },
            r,
        )
    } else if let Some(v) = cx.env.var("OPENAI_API_KEY").filter(|v| !v.is_empty()) {
        (
            Source::Env("OPENAI_API_KEY"),
            Ok(Secret::new(v, SecretOrigin::Env("OPENAI_API_KEY".into()))),
        )
    } else {
        cx.sources.insert(s.name(), Source::Default);
        cx.errors.push(ConfigError::Missing {
            what: "control plane API key".into(),
            fix: "set CONTROL_PLANE_API_KEY (or OPENAI_API_KEY), --control-plane.api-key env:VAR|file:/path, or control_plane.api_key in the profile".into(),
        });
        return None;
    };
    cx.sources.insert(s.name(), src);
    let origin = cx.origin(s.name());
    match got {
        Ok(k) if valid_api_key(k.expose()) => Some(k),
        Ok(_) => {
            cx.errors.push(problem("control plane API key is malformed (allowed: letters, digits, _ and -, no surrounding whitespace)", "copy the runtime API key again without quotes or spaces").at(origin, None));
            None
        }
        Err(p) => {
            cx.errors.push(p.at(origin, None));
            None
        }
    }
}

/// A YAML scalar as text (lists/maps never reach secret settings: the walker checks kinds).
struct YamlRawScalar(String);
impl From<yaml::YamlRaw> for YamlRawScalar {
    fn from(y: yaml::YamlRaw) -> Self {
        match y {
            yaml::YamlRaw::Scalar(s) => YamlRawScalar(s),
            _ => YamlRawScalar(String::new()),
        }
    }
}

fn cloudflared_token(cx: &mut Ctx<'_>) -> Option<Secret> {
    let v = cx.raw_scalar("cloudflared.token")?;
    let origin = cx.origin("cloudflared.token");
    let r = match cx.sources.get("cloudflared.token") {
        Some(Source::Env(e)) => {
            let t = v.trim();
            if t.is_empty() {
                return None;
            }
            Ok(Secret::new(t, SecretOrigin::Env((*e).into())))
        }
        _ => match parse_ref(v.trim(), true) {
            Ref::Env(n) => {
                read_env_ref(cx.env, n, true).map(|k| Secret::new(k, SecretOrigin::Env(n.into())))
            }
            Ref::File(p) => read_file_ref(cx.files, p, FileTrim::All)
                .map(|k| Secret::new(k, SecretOrigin::File(p.trim().into()))),
            Ref::Literal(_) => Err(problem(
                "the token must be a reference: env:VAR or file:/path (literal tokens are refused)",
                "put the token in a file or env var and reference it",
            )),
        },
    };
    r.map_err(|p| cx.errors.push(p.at(origin, None))).ok()
}

fn mcp(cx: &mut Ctx<'_>, c: &mut RunConfig) {
    let http = match cx.pick("mcp.server-url") {
        Some(Raw::Http(v)) => v,
        _ => Vec::new(),
    };
    let http_origin = cx.origin("mcp.server-url");
    let stdio = match cx.pick("mcp.command") {
        Some(Raw::Stdio(v)) => v,
        _ => Vec::new(),
    };
    let stdio_origin = cx.origin("mcp.command");
    let m = &mut c.mcp;
    m.client_cert = cx.path("mcp.client-cert");
    m.client_key = cx.path("mcp.client-key");
    if m.client_cert.is_some() != m.client_key.is_some() {
        cx.errors.push(ConfigError::Missing {
            what: "--mcp.client-cert together with --mcp.client-key".into(),
            fix: "set both, or neither".into(),
        });
    }
    if m.client_cert.is_some() && http.is_empty() {
        cx.errors.push(ConfigError::Missing {
            what: "an HTTP MCP binding (--mcp.server-url) for --mcp.client-cert/--mcp.client-key"
                .into(),
            fix: "add --mcp.server-url or drop the MCP client certificate".into(),
        });
    }
    m.connection_max_ttl = cx.duration("mcp.connection-max-ttl", |n| {
        if n > 0 {
            Ok(())
        } else {
            Err("must be positive")
        }
    });
    m.startup_wait_timeout = cx.duration("mcp.startup-wait-timeout", |n| {
        if n >= 0 {
            Ok(())
        } else {
            Err("must not be negative")
        }
    });
    m.max_concurrent_requests =
        cx.int("mcp.max-concurrent-requests", 1, Some(u32::MAX as i64)) as u32;
    m.http_proxy = cx.proxy("mcp.http-proxy");
    m.extra_headers = cx.headers("mcp.extra-headers", &[]);
    m.discovery_extra_headers = cx.headers("mcp.discovery-extra-headers", &[]);
    let mut bound: Vec<String> = Vec::new();
    let mut bind = |cx: &mut Ctx<'_>, raw: Option<&str>, origin: &str| -> Option<String> {
        let ch = normalize_channel(raw.unwrap_or(""));
        if !valid_channel(&ch) {
            cx.errors.push(
                problem("channel names match [a-z0-9_-]{1,64}", "rename the channel")
                    .at(origin, raw),
            );
            return None;
        }
        if ch == "harpoon" {
            cx.errors.push(
                problem(
                    "channel harpoon is reserved for the embedded Harpoon server",
                    "bind another channel name",
                )
                .at(origin, raw),
            );
            return None;
        }
        if bound.contains(&ch) {
            cx.errors.push(
                problem(
                    format!("channel {ch} is bound twice"),
                    "give each --mcp.server-url / --mcp.command entry its own channel",
                )
                .at(origin, Some(&ch)),
            );
            return None;
        }
        bound.push(ch.clone());
        Some(ch)
    };
    for e in http {
        let Some(channel) = bind(cx, e.channel.as_deref(), &http_origin) else {
            continue;
        };
        if let Err(p) = check_url(&e.url) {
            cx.errors.push(
                problem(p, "use http(s)://host[:port]/path")
                    .at(&http_origin, Some(&super::render::redact_url(&e.url))),
            );
            continue;
        }
        let mut path_of = |v: &Option<String>, what: &str| {
            v.as_deref().and_then(|p| {
                resolve_path(p, cx.env)
                    .map_err(|pr| {
                        cx.errors
                            .push(pr.at(format!("{http_origin} ({what})"), Some(p)))
                    })
                    .ok()
            })
        };
        let unix_socket = path_of(&e.unix_socket, "unix-socket");
        let client_cert = path_of(&e.client_cert, "client-cert");
        let client_key = path_of(&e.client_key, "client-key");
        if client_cert.is_some() != client_key.is_some() {
            cx.errors.push(
                problem(
                    "client-cert and client-key must be given together",
                    "set both in the entry, or neither",
                )
                .at(&http_origin, Some(&channel)),
            );
        }
        if e.unix_socket.is_some() && e.http_proxy.is_some() {
            cx.errors.push(
                problem(
                    "unix-socket cannot be combined with http-proxy",
                    "drop one of them from the entry",
                )
                .at(&http_origin, Some(&channel)),
            );
        }
        let http_proxy = match &e.http_proxy {
            Some(p) => resolve_proxy(p, "mcp.server-url", cx.env)
                .map_err(|pr| {
                    cx.errors
                        .push(pr.at(&http_origin, Some(&super::render::redact_url(p))))
                })
                .ok(),
            None if e.unix_socket.is_some() => None,
            None => m.http_proxy.clone().or_else(|| c.http_proxy.clone()),
        };
        m.server_urls.push(HttpBinding {
            channel,
            url: e.url,
            unix_socket,
            http_proxy,
            client_cert: client_cert.or_else(|| m.client_cert.clone()),
            client_key: client_key.or_else(|| m.client_key.clone()),
        });
    }
    for e in stdio {
        let Some(channel) = bind(cx, e.channel.as_deref(), &stdio_origin) else {
            continue;
        };
        match split_command_line(&e.command) {
            Ok(argv) => m.commands.push(StdioBinding {
                channel,
                command_line: e.command,
                argv,
            }),
            Err(err) => cx.errors.push(
                problem(
                    format!("{err} in the command line of channel {channel}"),
                    "close the quote or escape the character",
                )
                .at(&stdio_origin, Some(&super::render::redact_text(&e.command))),
            ),
        }
    }
}

fn logging(cx: &mut Ctx<'_>, c: &mut RunConfig) {
    let level_raw = cx.string("log.level").unwrap_or_else(|| "info".into());
    let fmt_raw = cx.string("log.format").unwrap_or_default();
    c.log.file = cx.string("log.file").map(PathBuf::from);
    c.log.http_raw_unsafe = cx.boolean("log.http-raw-unsafe");
    c.log.format = match fmt_raw.to_ascii_lowercase().as_str() {
        "" if c.log.file.is_some() => LogFormat::StructText,
        "" => LogFormat::Plain,
        // Ours: `text` names the unset (plain) format explicitly; the Go client rejects it.
        "text" => LogFormat::Plain,
        "struct-text" => LogFormat::StructText,
        "json" => LogFormat::Json,
        _ => {
            cx.errors.push(
                problem("unknown log format", "use struct-text or json (or text)")
                    .at(cx.origin("log.format"), Some(&fmt_raw)),
            );
            LogFormat::Plain
        }
    };
    match parse_log_level(&level_raw) {
        Some(l) => {
            // Go: a non-info level needs struct-text or json. An explicit `text` (ours) is
            // a format choice, so it lifts the rule.
            let explicit_text = fmt_raw.eq_ignore_ascii_case("text");
            if l != "info" && c.log.format == LogFormat::Plain && !explicit_text && cx.errors.iter().all(|e| !matches!(e, ConfigError::Invalid { origin, .. } if origin.contains("log.format") || origin.contains("LOG_FORMAT"))) {
                cx.errors.push(problem("log level requires 'struct-text' or 'json' log format", "add --log.format struct-text (or json), or use level info").at(cx.origin("log.level"), Some(&level_raw)));
            }
            c.log.level = l;
        }
        None => cx.errors.push(
            problem(
                "unknown log level",
                "use debug, info, warn or error (optionally +N/-N)",
            )
            .at(cx.origin("log.level"), Some(&level_raw)),
        ),
    }
}
