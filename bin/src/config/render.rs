//! The redacted "effective config" rendering used by `doctor` and the support bundle, and
//! the redaction helpers for URLs and command lines (go-harpoon-oauth-security.md §4.2).
//! These add the URL- and argv-shaped rules to the free-text redaction of
//! [`crate::admin::redact`], which every result also passes through.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::grammar::{format_go_duration, split_url};
use super::model::{Header, LogFormat, Proxy};
use super::secret::{Secret, SecretOrigin};
use super::table::SETTINGS;
use super::Loaded;

use crate::admin::redact;

/// A query parameter, flag or `name=value` name whose value is hidden: the log redaction's
/// secret parameters, and any name that mentions a secret, password or token or ends in a key.
fn is_sensitive_name(n: &str) -> bool {
    let n = n.to_ascii_lowercase();
    redact::SECRET_PARAMS.contains(&n.as_str())
        || n.contains("secret")
        || n.contains("password")
        || n.contains("token")
        || n.ends_with("_key")
        || n.ends_with("-key")
}

/// Redacts a URL: userinfo and secret-looking query parameters become `[REDACTED]`.
pub fn redact_url(s: &str) -> String {
    let Some(p) = split_url(s) else {
        return redact_embedded_url(s);
    };
    let mut out = format!("{}://", p.scheme);
    if p.userinfo.is_some() {
        out.push_str("[REDACTED]@");
    }
    out.push_str(p.host_port);
    out.push_str(&redact_text(p.path));
    if let Some(q) = p.query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if is_sensitive_name(k) => format!("{k}=[REDACTED]"),
                _ => redact_text(kv),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    if p.fragment.is_some() {
        out.push_str("#[REDACTED]");
    }
    out
}

/// A word that is not a bare URL but contains one (`url=http://u:p@h`, `--x=http://…`):
/// the prefix is redacted as text, the URL as a URL. Never calls back into [`redact_text`]
/// with the same word (that recursion overflowed the stack): a word without a usable
/// scheme gets the free-text rules only (they hide userinfo after `://`).
fn redact_embedded_url(s: &str) -> String {
    if let Some(i) = s.find("://") {
        let start = s[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |p| p + 1);
        if start > 0 && split_url(&s[start..]).is_some() {
            return format!("{}{}", redact_text(&s[..start]), redact_url(&s[start..]));
        }
        return redact::string(s);
    }
    redact_text(s)
}

/// Redacts secret-looking parts of a command line or free text: `Bearer`/`Basic <token>`,
/// URL userinfo, `name=value` / `--name value` pairs whose name looks secret, then all the
/// rules of [`redact::text`] (`sk-…` keys, registered secrets, `Authorization: …`, …).
pub fn redact_text(s: &str) -> String {
    let words: Vec<&str> = s.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut hide_next = false;
    for w in words {
        if hide_next && !w.is_empty() {
            out.push("[REDACTED]".into());
            hide_next = false;
            continue;
        }
        let lw = w.to_ascii_lowercase();
        if lw == "bearer" || lw == "basic" || lw == "authorization:" {
            hide_next = true;
            out.push(w.into());
            continue;
        }
        if let Some(flag) = w.strip_prefix("--").or_else(|| w.strip_prefix('-')) {
            if !flag.contains('=') && is_sensitive_name(&flag.replace('-', "_")) {
                hide_next = true;
                out.push(w.into());
                continue;
            }
        }
        if let Some((k, _)) = w.split_once('=') {
            if is_sensitive_name(k.trim_start_matches('-')) {
                out.push(format!("{k}=[REDACTED]"));
                continue;
            }
        }
        if w.contains("://") && w.contains('@') {
            out.push(redact_url(w));
            continue;
        }
        out.push(w.into());
    }
    redact::string(&out.join(" "))
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn secret(s: &Secret) -> String {
    match s.origin() {
        SecretOrigin::Literal(_) => "\"[REDACTED]\"".into(),
        o => format!("{} (resolved, [REDACTED])", q(&o.to_string())),
    }
}

fn opt_path(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map_or("null".into(), |p| q(&p.display().to_string()))
}

fn proxy(p: &Option<Proxy>) -> String {
    p.as_ref().map_or("null".into(), |p| {
        format!("{} (from {})", q(&redact_url(&p.url)), p.source)
    })
}

fn headers(h: &[Header]) -> String {
    let items: Vec<String> = h
        .iter()
        .map(|h| format!("{}: {}", q(&h.name), secret(&h.value)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| q(s)).collect();
    format!("[{}]", items.join(", "))
}

fn dur(d: Duration) -> String {
    q(&format_go_duration(d))
}

/// The rendered value of one setting, or `None` for settings without a value (`doctor`
/// flags under `run`).
fn value(name: &str, l: &Loaded) -> Option<String> {
    let c = &l.config;
    let cp = &c.control_plane;
    let m = &c.mcp;
    let h = &c.harpoon;
    let b = |v: bool| v.to_string();
    Some(match name {
        "config" | "profile" | "profile-file" => {
            let p = match (&c.source, name) {
                (super::ConfigSource::Config(p), "config")
                | (super::ConfigSource::ProfileFile(p), "profile-file") => p.display().to_string(),
                (super::ConfigSource::Profile { name, .. }, "profile") => name.clone(),
                _ => return Some("null".into()),
            };
            q(&p)
        }
        "profile-dir" => match &c.source {
            super::ConfigSource::Profile { path, .. } => {
                opt_path(&path.parent().map(PathBuf::from))
            }
            _ => "null".into(),
        },
        "ca-bundle" => opt_path(&c.ca_bundle),
        "http-proxy" => proxy(&c.http_proxy),
        "control-plane.base-url" if cp.base_url != cp.configured_base_url => {
            format!(
                "{} (configured {}; switched for mTLS)",
                q(&redact_url(&cp.base_url)),
                q(&redact_url(&cp.configured_base_url))
            )
        }
        "control-plane.base-url" => q(&redact_url(&cp.base_url)),
        "control-plane.url-path" => q(&cp.url_path),
        "control-plane.tunnel-id" => q(&cp.tunnel_id),
        "control-plane.organization-id" => cp.organization_id.as_deref().map_or("null".into(), q),
        "control-plane.api-key" => secret(&cp.api_key),
        "control-plane.client-cert" => opt_path(&cp.client_cert),
        "control-plane.client-key" => cp
            .client_key
            .as_ref()
            .map_or("null".into(), |_| "\"[set]\"".into()),
        "control-plane.http-proxy" => proxy(&cp.http_proxy),
        "control-plane.max-inflight" => cp.max_inflight.to_string(),
        "control-plane.poll-timeout" => dur(cp.poll_timeout),
        "control-plane.poll-deadline-guardrail" => dur(cp.poll_deadline_guardrail),
        "control-plane.poll-channel" => cp
            .poll_channels
            .as_deref()
            .map_or("null (all channels)".into(), list),
        "control-plane.extra-headers" => headers(&cp.extra_headers),
        "log.level" => q(&c.log.level),
        "log.format" => q(match c.log.format {
            LogFormat::Plain => "",
            LogFormat::StructText => "struct-text",
            LogFormat::Json => "json",
        }),
        "log.file" => opt_path(&c.log.file),
        "log.http-raw-unsafe" => b(c.log.http_raw_unsafe),
        "health.listen-addr" => q(&c.health.listen_addr),
        "health.unix-socket" => opt_path(&c.health.unix_socket),
        "health.url-file" => opt_path(&c.health.url_file),
        "pid.file" => opt_path(&c.process.pid_file),
        "mcp.server-url" => {
            let items: Vec<String> = m
                .server_urls
                .iter()
                .map(|e| {
                    let mut s = format!(
                        "{{channel: {}, url: {}",
                        q(&e.channel),
                        q(&redact_url(&e.url))
                    );
                    if let Some(u) = &e.unix_socket {
                        let _ = write!(s, ", unix_socket: {}", q(&u.display().to_string()));
                    }
                    if e.http_proxy.is_some() {
                        let _ = write!(s, ", http_proxy: {}", proxy(&e.http_proxy));
                    }
                    if e.client_cert.is_some() {
                        let _ = write!(
                            s,
                            ", client_cert: {}, client_key: \"[set]\"",
                            opt_path(&e.client_cert)
                        );
                    }
                    s + "}"
                })
                .collect();
            format!("[{}]", items.join(", "))
        }
        "mcp.command" => {
            let items: Vec<String> = m
                .commands
                .iter()
                .map(|e| {
                    format!(
                        "{{channel: {}, command: {}}}",
                        q(&e.channel),
                        q(&redact_text(&e.command_line))
                    )
                })
                .collect();
            format!("[{}]", items.join(", "))
        }
        "mcp.http-proxy" => proxy(&m.http_proxy),
        "mcp.client-cert" => opt_path(&m.client_cert),
        "mcp.client-key" => m
            .client_key
            .as_ref()
            .map_or("null".into(), |_| "\"[set]\"".into()),
        "mcp.extra-headers" => headers(&m.extra_headers),
        "mcp.discovery-extra-headers" => headers(&m.discovery_extra_headers),
        "mcp.startup-wait-timeout" => dur(m.startup_wait_timeout),
        "mcp.connection-max-ttl" => dur(m.connection_max_ttl),
        "mcp.max-concurrent-requests" => m.max_concurrent_requests.to_string(),
        "harpoon.target" => {
            let items: Vec<String> = h
                .targets
                .iter()
                .map(|t| {
                    format!(
                        "{{label: {}, url: {}}}",
                        q(&t.label),
                        q(&redact_url(&t.url))
                    )
                })
                .collect();
            format!("[{}]", items.join(", "))
        }
        "harpoon.allow-plaintext-http" => b(h.allow_plaintext_http),
        "harpoon.max-response-bytes" => h.max_response_bytes.to_string(),
        "harpoon.max-redirects" => h.max_redirects.to_string(),
        "harpoon.http-proxy" => proxy(&h.http_proxy),
        "harpoon.additional-transport" => list(&h.additional_transports),
        "harpoon.hosts-include-suffix" => list(&h.hosts_include_suffix),
        "harpoon.hosts-include-regex" => list(&h.hosts_include_regex),
        "harpoon.hosts-include-loopback" => b(h.hosts_include_loopback),
        "harpoon.hosts-include-private" => b(h.hosts_include_private),
        "harpoon.capture-payloads" => b(h.capture_payloads),
        "cloudflared.token" => c.cloudflared.token.as_ref().map_or("null".into(), secret),
        "cloudflared.managed" => b(c.cloudflared.managed),
        "cloudflared.path" => opt_path(&c.cloudflared.path),
        "cloudflared.ready-timeout" => dur(c.cloudflared.ready_timeout),
        "allow-remote-ui" => b(c.admin_ui.allow_remote),
        "open-web-ui" => b(c.admin_ui.open_browser),
        "admin-ui.log-buffer-events" => c.admin_ui.log_buffer_events.to_string(),
        "proxy.check-interval" => dur(c.proxy.check_interval),
        "embedded-mcp-stub" => b(c.embedded_mcp.enabled),
        "embedded-mcp-listen-addr" => q(&c.embedded_mcp.listen_addr),
        "embedded-mcp-server-name" => q(&c.embedded_mcp.server_name),
        "embedded-mcp-server-version" => q(&c.embedded_mcp.server_version),
        "record-trace" => opt_path(&c.record_trace),
        "explain" => b(c.doctor.explain),
        "json" => b(c.doctor.json),
        _ => return None,
    })
}

/// Renders every setting of the loaded command as `name: value  # source`, YAML-ish, with
/// secrets, literal header values, URL userinfo and secret query parameters redacted.
pub fn render_effective(l: &Loaded) -> String {
    let mut out = format!(
        "# tunnel-client {} effective configuration (secrets redacted)\n",
        l.command.as_str()
    );
    let src = match &l.config.source {
        super::ConfigSource::None => "flags/environment only".to_string(),
        super::ConfigSource::Config(p) => format!("config file {}", p.display()),
        super::ConfigSource::Profile { name, path } => {
            format!("profile {name} ({})", path.display())
        }
        super::ConfigSource::ProfileFile(p) => format!("profile file {}", p.display()),
    };
    let _ = writeln!(out, "# source: {src}");
    for s in SETTINGS.iter().filter(|s| s.applies_to(l.command)) {
        if let Some(v) = value(s.name(), l) {
            let _ = writeln!(out, "{}: {v}  # {}", s.name(), l.source(s.name()).label());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_get_the_log_rules_too() {
        // The word rules alone hid `Bearer` and printed the token after it.
        assert_eq!(
            redact_text("curl -H Authorization: Bearer tok1234"),
            "curl -H Authorization: [REDACTED]"
        );
        assert_eq!(
            redact_text("srv --client-secret x api_key: abc123"),
            "srv --client-secret [REDACTED] api_key: [REDACTED]"
        );
        assert_eq!(redact_text("srv sk-abcdefghij12345"), "srv sk-REDACTED");
        assert_eq!(
            redact_text("srv --api-key=[REDACTED]"),
            "srv --api-key=[REDACTED]"
        );
    }
}
