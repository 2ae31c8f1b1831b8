//! Harpoon settings, the poll-channel / main-binding cross-check and the
//! "not supported yet" gate.

use super::error::{problem, ConfigError};
use super::grammar::check_url;
use super::model::*;
use super::resolve::{resolve_path, Ctx, Raw};
use super::table::{Status, SETTINGS};
use super::{Loaded, Source};

pub(crate) fn harpoon(cx: &mut Ctx<'_>, c: &mut RunConfig) {
    let h = &mut c.harpoon;
    h.allow_plaintext_http = cx.boolean("harpoon.allow-plaintext-http");
    h.max_response_bytes = cx.int("harpoon.max-response-bytes", 1, Some(102_400)) as u32;
    h.max_redirects = cx.int("harpoon.max-redirects", 0, Some(5)) as u32;
    h.http_proxy = cx.proxy("harpoon.http-proxy");
    let origin_t = |cx: &Ctx<'_>| cx.origin("harpoon.target");
    if let Some(Raw::Targets(ts)) = cx.pick("harpoon.target") {
        let origin = origin_t(cx);
        for t in ts {
            if !super::entries::valid_harpoon_label(&t.label) {
                cx.errors.push(
                    problem(
                        "label must match ^[a-z0-9][a-z0-9_-]{0,63}$",
                        "give the target label=<lowercase name>",
                    )
                    .at(&origin, Some(&t.label)),
                );
                continue;
            }
            match check_url(&t.url) {
                Ok(p) if !h.allow_plaintext_http && !p.scheme.eq_ignore_ascii_case("https") => {
                    cx.errors.push(
                        problem(
                            "https is required",
                            "use an https:// URL or set --harpoon.allow-plaintext-http",
                        )
                        .at(&origin, Some(&super::render::redact_url(&t.url))),
                    );
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    cx.errors.push(
                        problem(e, "use https://host/path")
                            .at(&origin, Some(&super::render::redact_url(&t.url))),
                    );
                    continue;
                }
            }
            let allow_link_local = match t.allow_link_local.as_deref().map(str::trim) {
                None => false,
                Some(v) if v.eq_ignore_ascii_case("true") => true,
                Some(v) if v.eq_ignore_ascii_case("false") => false,
                Some(v) => {
                    cx.errors.push(
                        problem(
                            format!("allow-link-local must be true or false, got {v:?}"),
                            "write allow-link-local=true only for a target really served on a link-local address",
                        )
                        .at(&origin, Some(&t.label)),
                    );
                    continue;
                }
            };
            let unix_socket = t.unix_socket.as_deref().and_then(|p| {
                resolve_path(p, cx.env)
                    .map_err(|pr| cx.errors.push(pr.at(&origin, Some(p))))
                    .ok()
            });
            h.targets.push(HarpoonTarget {
                label: t.label,
                url: t.url,
                unix_socket,
                description: t.description,
                allow_link_local,
            });
        }
    }
    for t in cx.list("harpoon.additional-transport") {
        let l = t.trim().to_ascii_lowercase();
        if l != "http-streamable" {
            cx.errors.push(
                problem(
                    format!("unsupported harpoon transport {t:?}"),
                    "the only transport is http-streamable",
                )
                .at(cx.origin("harpoon.additional-transport"), Some(&t)),
            );
        } else if !h.additional_transports.contains(&l) {
            h.additional_transports.push(l);
        }
    }
    h.hosts_include_suffix = cx.list("harpoon.hosts-include-suffix");
    h.hosts_include_regex = cx.list("harpoon.hosts-include-regex");
    for r in &h.hosts_include_regex {
        if let Err(e) = tunnel_core::harpoon::hosts::check_regex(r) {
            cx.errors.push(
                problem(
                    e.to_string(),
                    "fix the pattern (RE2 syntax, matched case-insensitively against the host name)",
                )
                .at(cx.origin("harpoon.hosts-include-regex"), Some(r)),
            );
        }
    }
    h.hosts_include_loopback = cx.boolean("harpoon.hosts-include-loopback");
    h.hosts_include_private = cx.boolean("harpoon.hosts-include-private");
    h.capture_payloads = cx.boolean("harpoon.capture-payloads");
}

/// Poll allowlist / main-binding cross-check, and the embedded stub exclusion.
pub(crate) fn channels(cx: &mut Ctx<'_>, c: &mut RunConfig) {
    let bound: Vec<&str> = c
        .mcp
        .server_urls
        .iter()
        .map(|b| b.channel.as_str())
        .chain(c.mcp.commands.iter().map(|b| b.channel.as_str()))
        .collect();
    let stub = c.embedded_mcp.enabled;
    if stub {
        for n in ["mcp.server-url", "mcp.command"] {
            if let Some(Source::Flag(f)) = cx.sources.get(n) {
                cx.errors.push(ConfigError::Conflict {
                    first: "--embedded-mcp-stub".into(),
                    second: (*f).into(),
                    fix: "use one main MCP target path".into(),
                });
            }
        }
    }
    let has_main = stub || bound.contains(&"main");
    match &c.control_plane.poll_channels {
        Some(list) => {
            let origin = cx.origin("control-plane.poll-channel");
            for ch in list {
                let ok = match ch.as_str() {
                    "main" => has_main,
                    "harpoon" => !c.harpoon.targets.is_empty() || list.iter().any(|x| x == "main"),
                    other => bound.contains(&other),
                };
                if !ok {
                    let msg = if ch == "harpoon" {
                        "control-plane.poll-channel harpoon has no routable target".to_string()
                    } else {
                        format!("channel {ch} is polled but has no binding")
                    };
                    cx.errors.push(problem(msg, format!("bind channel {ch} with --mcp.server-url/--mcp.command channel={ch},... or stop polling it")).at(&origin, Some(ch)));
                }
            }
        }
        None if !has_main && cx.errors.is_empty() => {
            let fix = if bound.is_empty() {
                "set --mcp.server-url or --mcp.command, or MCP_SERVER_URL or MCP_COMMAND"
                    .to_string()
            } else {
                format!(
                    "add channel=main to one binding (bound now: {})",
                    bound.join(", ")
                )
            };
            cx.errors.push(ConfigError::Missing {
                what: "main channel".into(),
                fix,
            });
        }
        None => {}
    }
}

/// See [`super::unsupported_in_use`].
pub(crate) fn unsupported_in_use(l: &Loaded) -> Vec<ConfigError> {
    let c = &l.config;
    let mut out = Vec::new();
    for s in SETTINGS
        .iter()
        .filter(|s| s.status == Status::NotYet && s.applies_to(l.command))
    {
        let cf = &c.cloudflared;
        let secs = |d: std::time::Duration| d.as_secs_f64();
        let non_default = match s.name() {
            "log.http-raw-unsafe" => c.log.http_raw_unsafe,
            "cloudflared.token" => cf.token.is_some(),
            "cloudflared.managed" => cf.managed,
            "cloudflared.path" => cf.path.is_some(),
            "cloudflared.ready-timeout" => secs(cf.ready_timeout) != 30.0,
            other => unreachable!("not-yet setting {other} has no default check"),
        };
        if non_default {
            out.push(ConfigError::NotSupportedYet {
                name: s.name().into(),
                origin: l.source(s.name()).origin(s),
            });
        }
    }
    out
}
