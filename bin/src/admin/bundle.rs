//! The support bundle (`GET /api/logs/export?minutes=N`): a `.tar.gz` an operator can attach
//! to a support request without leaking credentials (go-runtime.md §9.4).
//!
//! Members, in order: `manifest.json`, `README.txt`, `tunnel-client.runtime.yaml` (argv,
//! relevant environment, the config file re-parsed, the effective configuration),
//! `tunnel-client.logs.ndjson` (the buffered events of the window), `tunnel-client.metrics.prom`
//! (a `/metrics` snapshot) and `admin/status.json` (what `/api/status` shows).
//!
//! Redaction (go-harpoon-oauth-security.md §4.2): secret flags and keys become `[REDACTED]`
//! unless they are `env:`/`file:` references; header lists keep only the names; URLs lose
//! userinfo, query and fragment and secret-looking path segments; every string passes
//! through [`super::redact::text`], which also scrubs the configured secret values
//! themselves wherever they appear. The runtime document is computed once at startup
//! (nothing in it changes while the process runs).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use super::redact::{self, is_secret_key, REDACTED};
use super::targz::{tar_gz, Member};
use crate::config::{self, Kind, Loaded};

/// Environment variables kept in the snapshot: exact names and prefixes (Go's list).
const ENV_EXACT: &[&str] = &[
    "ALLOW_REMOTE_UI",
    "CA_BUNDLE",
    "HEALTH_LISTEN_ADDR",
    "HEALTH_UNIX_SOCKET",
    "HEALTH_URL_FILE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "OPENAI_API_KEY",
    "OPEN_WEB_UI",
    "PID_FILE",
    "PROXY_CHECK_INTERVAL",
];
const ENV_PREFIXES: &[&str] = &[
    "ADMIN_UI_",
    "CLOUDFLARED_",
    "CONTROL_PLANE_",
    "HARPOON_",
    "LOG_",
    "MCP_",
    "OPENAI_TUNNEL_",
    "TUNNEL_",
];

/// Default and largest window of the log export, in minutes.
pub const DEFAULT_MINUTES: u64 = 30;
pub const MAX_MINUTES: u64 = 1440;

/// What the bundle needs from startup.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `tunnel-client.runtime.yaml`, already redacted.
    pub runtime_yaml: String,
}

impl Inputs {
    /// Captures argv, the relevant environment and the config file now, redacted.
    pub fn capture(loaded: &Loaded, argv: &[String], env: &[(String, String)]) -> Inputs {
        let secret_env = secret_env_refs(loaded, argv);
        let mut doc = Map::new();
        doc.insert(
            "argv".into(),
            Value::Array(redact_argv(argv).into_iter().map(Value::String).collect()),
        );
        let mut envmap = BTreeMap::new();
        for (k, v) in env {
            let referenced = argv.iter().any(|a| a.contains(&format!("env:{k}")));
            let relevant = ENV_EXACT.contains(&k.as_str())
                || ENV_PREFIXES.iter().any(|p| k.starts_with(p))
                || referenced;
            if relevant {
                envmap.insert(k.clone(), redact_env(k, v, &secret_env));
            }
        }
        doc.insert(
            "environment".into(),
            Value::Object(
                envmap
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
        );
        doc.insert(
            "client".into(),
            json!({
                "client_name": "tunnel-client",
                "implementation": "rust",
                "semantic_version": env!("CARGO_PKG_VERSION"),
                "os": std::env::consts::OS,
                "arch": std::env::consts::ARCH,
            }),
        );
        doc.insert("config_file".into(), config_file(loaded));
        let effective = redact::string(&config::render_effective(loaded));
        doc.insert("effective_config".into(), Value::String(effective));
        let header = "# tunnel-client runtime snapshot (secrets redacted)\n";
        let body = yaml_serde::to_string(&Value::Object(doc))
            .unwrap_or_else(|e| format!("# could not render the snapshot: {e}\n"));
        Inputs {
            runtime_yaml: format!("{header}{}", redact::string(&body)),
        }
    }
}

/// Env vars that hold secrets because a secret setting points at them (`env:NAME` in argv
/// or YAML), plus the secret settings' own env vars.
fn secret_env_refs(loaded: &Loaded, argv: &[String]) -> Vec<String> {
    let mut names: Vec<String> = config::SETTINGS
        .iter()
        .filter(|s| s.secret || s.kind == Kind::Secret)
        .flat_map(|s| s.env.iter().map(|e| e.to_string()))
        .collect();
    let mut prev_secret = false;
    for a in argv {
        let (flag, attached) = match a.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v)),
            _ => (a.as_str(), None),
        };
        let value = if prev_secret {
            Some(a.as_str())
        } else {
            attached
        };
        if let Some(v) = value.and_then(|v| v.strip_prefix("env:")) {
            if prev_secret || flag_is_secret(flag) {
                names.push(v.to_string());
            }
        }
        prev_secret = attached.is_none() && flag.starts_with('-') && flag_is_secret(flag);
    }
    let mut refs = Vec::new();
    if let Some(path) = loaded.config.source.path() {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(v) = yaml_serde::from_str::<Value>(&text) {
                collect_secret_refs(&v, false, &mut refs);
            }
        }
    }
    names.extend(refs);
    names
}

fn collect_secret_refs(v: &Value, secret: bool, out: &mut Vec<String>) {
    match v {
        Value::String(s) if secret => {
            if let Some(name) = s.strip_prefix("env:") {
                out.push(name.to_string());
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_secret_refs(x, secret, out)),
        Value::Object(m) => {
            for (k, x) in m {
                collect_secret_refs(x, secret || is_secret_key(k), out);
            }
        }
        _ => {}
    }
}

fn flag_is_secret(flag: &str) -> bool {
    config::setting(flag).is_some_and(|s| s.secret || s.kind == Kind::Secret)
}

/// A secret flag's value: references are safe to show, literals are not.
fn secret_value(v: &str) -> String {
    if v.starts_with("env:") || v.starts_with("file:") {
        v.to_string()
    } else {
        REDACTED.to_string()
    }
}

/// `Name: value` entries (separated by `,`, `;` or newlines) → `Name: [REDACTED]`.
fn header_list(v: &str) -> String {
    v.split([',', ';', '\n'])
        .filter(|e| !e.trim().is_empty())
        .map(|e| match e.split_once(':') {
            Some((name, _)) => format!("{}: {REDACTED}", name.trim()),
            None => REDACTED.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Redacts argv: `--flag=value` and `--flag value` forms, driven by the settings table.
pub fn redact_argv(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        let (flag, attached) = match a.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let Some(s) = a.starts_with('-').then(|| config::setting(flag)).flatten() else {
            out.push(snapshot_text(a));
            continue;
        };
        if s.kind == Kind::Bool && attached.is_none() {
            out.push(a.clone());
            continue;
        }
        let value = match attached {
            Some(v) => v,
            None if i < argv.len() => {
                i += 1;
                argv[i - 1].clone()
            }
            None => {
                out.push(a.clone());
                continue;
            }
        };
        let shown = redact_setting_value(s, &value);
        match a.split_once('=') {
            Some(_) => out.push(format!("{flag}={shown}")),
            None => {
                out.push(flag.to_string());
                out.push(shown);
            }
        }
    }
    out
}

fn redact_setting_value(s: &config::Setting, v: &str) -> String {
    if s.secret || s.kind == Kind::Secret {
        return secret_value(v);
    }
    match s.kind {
        Kind::Headers => header_list(v),
        _ => snapshot_text(v),
    }
}

fn redact_env(name: &str, value: &str, secret_env: &[String]) -> String {
    if secret_env.iter().any(|n| n == name) {
        return REDACTED.into();
    }
    if name.ends_with("EXTRA_HEADERS") || name.ends_with("EXTRA_HEADER") {
        return header_list(value);
    }
    if is_secret_key(name) {
        return REDACTED.into();
    }
    snapshot_text(value)
}

/// The config file re-parsed, with secret keys, header maps, URLs and text redacted.
fn config_file(loaded: &Loaded) -> Value {
    let Some(path) = loaded.config.source.path() else {
        return Value::Null;
    };
    let mut out = Map::new();
    out.insert("path".into(), Value::String(path.display().to_string()));
    match std::fs::read_to_string(path) {
        Err(e) => {
            out.insert("error".into(), Value::String(format!("cannot read: {e}")));
        }
        Ok(text) => match yaml_serde::from_str::<Value>(&text) {
            Ok(mut v) => {
                redact_config_value(&mut v, false);
                out.insert("contents".into(), v);
            }
            Err(_) => {
                out.insert(
                    "error".into(),
                    Value::String("not parseable as YAML any more; contents omitted".into()),
                );
            }
        },
    }
    Value::Object(out)
}

fn redact_config_value(v: &mut Value, headers: bool) {
    match v {
        Value::String(s) if headers => *s = REDACTED.into(),
        Value::String(s) => *s = snapshot_text(s),
        Value::Array(a) => a.iter_mut().for_each(|x| redact_config_value(x, headers)),
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let is_headers = k.ends_with("extra_headers") || k.ends_with("extra_header");
                if is_headers {
                    redact_config_value(x, true);
                } else if is_secret_key(k) {
                    let keep = x
                        .as_str()
                        .is_some_and(|s| s.starts_with("env:") || s.starts_with("file:"));
                    if !keep && !x.is_null() {
                        *x = Value::String(REDACTED.into());
                    }
                } else {
                    redact_config_value(x, headers);
                }
            }
        }
        _ => {}
    }
}

/// Text in a snapshot: command lines lose secret-looking arguments, URLs lose userinfo,
/// query, fragment and secret-looking path segments, then the log rules apply.
pub fn snapshot_text(s: &str) -> String {
    let words: Vec<String> = config::redact_text(s)
        .split(' ')
        .map(|w| {
            if w.contains("://") {
                snapshot_url(w)
            } else {
                w.to_string()
            }
        })
        .collect();
    redact::string(&words.join(" "))
}

/// `scheme://user:pass@host/p/sk-x?q=1#f` → `scheme://[REDACTED]@host/p/[REDACTED]?[REDACTED]#[REDACTED]`.
/// Text before the scheme (`url=`) is kept.
pub fn snapshot_url(s: &str) -> String {
    let Some(i) = s.find("://") else {
        return s.to_string();
    };
    let scheme_start = s[..i]
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
        .map(|p| p + 1)
        .unwrap_or(0);
    let (prefix, scheme) = (&s[..scheme_start], &s[scheme_start..i]);
    let rest = &s[i + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rfind('@') {
        Some(at) => format!("{REDACTED}@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let (path_q, fragment) = match tail.split_once('#') {
        Some((p, _)) => (p, true),
        None => (tail, false),
    };
    let (path, query) = match path_q.split_once('?') {
        Some((p, _)) => (p, true),
        None => (path_q, false),
    };
    let mut out = format!("{prefix}{scheme}://{host}");
    let mut prev_keylike = false;
    for seg in path.split('/').skip(1) {
        out.push('/');
        let lower = seg.to_ascii_lowercase();
        let secret = prev_keylike
            || lower.contains("secret")
            || lower.starts_with("sk-")
            || (seg.matches('.').count() >= 2 && seg.len() >= 40)
            || redact::text(seg) != seg;
        out.push_str(if secret && !seg.is_empty() {
            REDACTED
        } else {
            seg
        });
        prev_keylike = matches!(
            lower.as_str(),
            "api_key"
                | "apikey"
                | "access_token"
                | "refresh_token"
                | "id_token"
                | "client_secret"
                | "code"
                | "password"
                | "secret"
                | "token"
                | "authorization"
                | "cookie"
                | "key"
        );
    }
    if query {
        out.push('?');
        out.push_str(REDACTED);
    }
    if fragment {
        out.push('#');
        out.push_str(REDACTED);
    }
    out
}

/// Go's duration text for whole minutes (`30m0s`, `24h0m0s`).
fn go_minutes(m: u64) -> String {
    config::format_go_duration(Duration::from_secs(m * 60))
}

/// `YYYYMMDDTHHMMSSZ` for the file name.
fn compact_time(t: SystemTime) -> String {
    let s = crate::logging::rfc3339_millis(t);
    // 2026-11-25T20:00:00.123Z → 20261125T200000Z
    let digits: String = s[..19].chars().filter(|c| *c != '-' && *c != ':').collect();
    format!("{digits}Z")
}

/// What goes into one bundle besides the startup inputs.
pub struct Live<'a> {
    pub logs: &'a [super::logbuf::LogEvent],
    pub log_capacity: usize,
    pub metrics: &'a str,
    pub status: Value,
    /// Harpoon's status, targets and last calls (`admin/harpoon.json`).
    pub harpoon: Value,
    /// `/api/system` and `/api/oauth` (already redacted by their handlers).
    pub system: Value,
    pub oauth: Value,
    pub minutes: u64,
    pub now: SystemTime,
}

/// Builds the archive: (file name, bytes).
pub fn build(inputs: &Inputs, live: Live<'_>) -> (String, Vec<u8>) {
    let window_start = live
        .now
        .checked_sub(Duration::from_secs(live.minutes * 60))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut ndjson = String::new();
    for e in live.logs {
        let mut v = e.to_json();
        redact::json(&mut v);
        ndjson.push_str(&v.to_string());
        ndjson.push('\n');
    }
    let mut status = live.status;
    redact::json(&mut status);
    let status_text = format!(
        "{}\n",
        serde_json::to_string_pretty(&status).unwrap_or_default()
    );
    let pretty = |v: &Value| format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default());
    let system_text = pretty(&live.system);
    let oauth_text = pretty(&live.oauth);
    let metrics = redact::string(live.metrics);
    let mut harpoon = live.harpoon;
    redact::json(&mut harpoon);
    let harpoon_text = format!(
        "{}\n",
        serde_json::to_string_pretty(&harpoon).unwrap_or_default()
    );
    let readme = README.to_string();
    let files = [
        "manifest.json",
        "README.txt",
        "tunnel-client.runtime.yaml",
        "tunnel-client.logs.ndjson",
        "tunnel-client.metrics.prom",
        "admin/status.json",
        "admin/harpoon.json",
        "admin/system.json",
        "admin/oauth.json",
    ];
    let manifest = json!({
        "generated_at": crate::logging::rfc3339_millis(live.now),
        "window_start": crate::logging::rfc3339_millis(window_start),
        "window_end": crate::logging::rfc3339_millis(live.now),
        "window": go_minutes(live.minutes),
        "event_count": live.logs.len(),
        "log_buffer_capacity": live.log_capacity,
        "metrics_bytes": metrics.len(),
        "redacted": true,
        "files": files,
        "client": {
            "client_name": "tunnel-client",
            "implementation": "rust",
            "semantic_version": env!("CARGO_PKG_VERSION"),
        },
    });
    let manifest_text = format!(
        "{}\n",
        serde_json::to_string_pretty(&manifest).unwrap_or_default()
    );
    let members = [
        Member {
            name: files[0],
            data: manifest_text.as_bytes(),
        },
        Member {
            name: files[1],
            data: readme.as_bytes(),
        },
        Member {
            name: files[2],
            data: inputs.runtime_yaml.as_bytes(),
        },
        Member {
            name: files[3],
            data: ndjson.as_bytes(),
        },
        Member {
            name: files[4],
            data: metrics.as_bytes(),
        },
        Member {
            name: files[5],
            data: status_text.as_bytes(),
        },
        Member {
            name: files[6],
            data: harpoon_text.as_bytes(),
        },
        Member {
            name: files[7],
            data: system_text.as_bytes(),
        },
        Member {
            name: files[8],
            data: oauth_text.as_bytes(),
        },
    ];
    let name = format!("tunnel-client-logs-{}.tar.gz", compact_time(live.now));
    (name, tar_gz(&members, live.now))
}

/// Parses `minutes` as Go does: missing, invalid or ≤ 0 → 30; at most 1440.
pub fn parse_minutes(raw: Option<&str>) -> u64 {
    match raw.and_then(|r| r.trim().parse::<i64>().ok()) {
        Some(m) if m > 0 => (m as u64).min(MAX_MINUTES),
        _ => DEFAULT_MINUTES,
    }
}

const README: &str = "\
tunnel-client support bundle
============================

manifest.json               what is in here, the log window, sizes
tunnel-client.runtime.yaml  argv, relevant environment variables, the config file (re-parsed)
                            and the effective configuration
tunnel-client.logs.ndjson   buffered log events of the window, one JSON object per line
tunnel-client.metrics.prom  a /metrics snapshot (Prometheus text format)
admin/status.json           what the admin UI's overview showed (/api/status)
            data: harpoon_text.as_bytes(),
        },
        Member {
            name: files[7],
            data: system_text.as_bytes(),
        },
        Member {
            name: files[8],
            data: oauth_text.as_bytes(),

Redacted before writing: API keys, bearer tokens, cookies, shard tokens, extra-header values,
URL userinfo, query strings and fragments in configuration URLs, secret-looking query
parameters and path segments, and the configured secret values wherever they appeared.
Secrets given as env:/file: references are shown as the reference, never the value.
Check the files before sharing them anyway.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn argv_secrets_headers_and_urls_are_redacted() {
        let out = redact_argv(&argv(&[
            "tunnel-client",
            "run",
            "--control-plane.api-key",
            "env:MY_KEY",
            "--control-plane.client-key=/secret/key.pem",
            "--mcp.extra-headers",
            "Authorization: Bearer abc",
            "--control-plane.extra-headers=X-Api-Key: k1, X-Other: k2",
            "--mcp.server-url",
            "channel=main,url=http://u:p4ss@127.0.0.1:3000/mcp?token=t",
            "--embedded-mcp-stub",
            "--log.level",
            "debug",
        ]));
        let joined = out.join(" ");
        assert!(
            joined.contains("--control-plane.api-key env:MY_KEY"),
            "{joined}"
        );
        assert!(
            joined.contains("--control-plane.client-key=[REDACTED]"),
            "{joined}"
        );
        assert!(
            joined.contains("--mcp.extra-headers Authorization: [REDACTED]"),
            "{joined}"
        );
        assert!(
            joined.contains("X-Api-Key: [REDACTED], X-Other: [REDACTED]"),
            "{joined}"
        );
        assert!(
            !joined.contains("p4ss") && !joined.contains("token=t"),
            "{joined}"
        );
        assert!(
            joined.contains("url=http://[REDACTED]@127.0.0.1:3000/mcp?[REDACTED]"),
            "{joined}"
        );
        assert!(
            joined.contains("--embedded-mcp-stub --log.level debug"),
            "{joined}"
        );
    }

    #[test]
    fn env_values_by_name_and_reference() {
        let secret_env = vec!["MY_KEY".to_string()];
        assert_eq!(redact_env("MY_KEY", "abc", &secret_env), REDACTED);
        assert_eq!(redact_env("CONTROL_PLANE_API_KEY", "abc", &[]), REDACTED);
        assert_eq!(
            redact_env("MCP_EXTRA_HEADERS", "A: 1;B: 2", &[]),
            "A: [REDACTED], B: [REDACTED]"
        );
        assert_eq!(
            redact_env("HTTPS_PROXY", "http://user:pw@proxy:3128", &[]),
            "http://[REDACTED]@proxy:3128"
        );
        assert_eq!(redact_env("LOG_LEVEL", "debug", &[]), "debug");
    }

    #[test]
    fn config_values_keep_references_and_lose_secrets() {
        let mut v: Value = serde_json::json!({
            "control_plane": {"api_key": "env:K", "tunnel_id": "tunnel_x",
                              "extra_headers": {"X-A": "v"}},
            "mcp": {"server_urls": [{"channel": "main", "url": "https://h/p/token/abc?x=1"}],
                    "client_key": "/k.pem"},
            "cloudflared": {"token": "literal"}
        });
        redact_config_value(&mut v, false);
        assert_eq!(v["control_plane"]["api_key"], "env:K");
        assert_eq!(v["control_plane"]["extra_headers"]["X-A"], REDACTED);
        assert_eq!(v["mcp"]["client_key"], REDACTED);
        assert_eq!(v["cloudflared"]["token"], REDACTED);
        assert_eq!(
            v["mcp"]["server_urls"][0]["url"],
            "https://h/p/token/[REDACTED]?[REDACTED]"
        );
        assert_eq!(v["control_plane"]["tunnel_id"], "tunnel_x");
    }

    #[test]
    fn urls_lose_secret_segments() {
        assert_eq!(
            snapshot_url("https://h:1/a/sk-abcdefghijkl/b#frag"),
            "https://h:1/a/[REDACTED]/b#[REDACTED]"
        );
        assert_eq!(snapshot_url("http://h/mcp"), "http://h/mcp");
        assert_eq!(
            snapshot_url("url=http://h/x/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig"),
            "url=http://h/x/[REDACTED]"
        );
    }

    #[test]
    fn command_lines_with_url_flags() {
        let s = snapshot_text("npx mcp-remote --url=http://u:p4ss@h/x --token abc");
        assert!(!s.contains("p4ss") && !s.contains("abc"), "{s}");
        // config::redact_text used to recurse forever on a URL behind a prefix.
        assert_eq!(
            config::redact_text("--url=http://u:p@h/x"),
            "--url=http://[REDACTED]@h/x"
        );
        assert_eq!(config::redact_text("1x://u:p@h"), "1x://[REDACTED]@h");
    }

    #[test]
    fn minutes_follow_go() {
        assert_eq!(parse_minutes(None), 30);
        assert_eq!(parse_minutes(Some("x")), 30);
        assert_eq!(parse_minutes(Some("-5")), 30);
        assert_eq!(parse_minutes(Some("0")), 30);
        assert_eq!(parse_minutes(Some("5")), 5);
        assert_eq!(parse_minutes(Some("99999")), 1440);
        assert_eq!(go_minutes(30), "30m0s");
        assert_eq!(
            compact_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_100_800)),
            "20251125T200000Z"
        );
    }
}
