//! The control-plane checks: how the runtime API key is configured, and whether the control
//! plane accepts it for this tunnel (the `GET /v1/tunnels/{id}` `run` makes at startup).

use std::time::Duration;

use tunnel_core::wire::metadata::TunnelMetadata;

use super::{tls_evidence, why};
use crate::cli::api_errors::RequestError;
use crate::cli::doctor::probe::{self, Agents};
use crate::cli::doctor::report::{Check, Status};
use crate::cli::help_topics::{RUNTIME_KEYS_URL, TUNNELS_URL};
use crate::config::{self, Loaded, SecretOrigin, Source};

pub(super) fn api_key_check(l: &Loaded) -> Check {
    let key = &l.config.control_plane.api_key;
    let src = l.source("control-plane.api-key");
    match (src, key.origin()) {
        (Source::Yaml { key: k, file }, SecretOrigin::Literal(_)) => Check::warn(
            "control_plane_api_key",
            format!("configured (a literal key in {file}, not shown)"),
        )
        .why("a key written into a file is readable by anyone who can read the file, and ends up in backups and diffs.")
        .evidence([format!("YAML key {k} in {file} holds the key itself")])
        .next([
            format!("move the key to an env var and write {k}: \"env:CONTROL_PLANE_API_KEY\" (or file:/path) in {file}"),
            format!("rotate the key at {RUNTIME_KEYS_URL} if the file was shared"),
        ]),
        (Source::Env(e), _) => Check::pass("control_plane_api_key", format!("env:{e}")),
        (_, SecretOrigin::Literal(_)) => Check::pass("control_plane_api_key", "configured"),
        _ => Check::pass("control_plane_api_key", key.describe()),
    }
}

fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let s = std::collections::hash_map::RandomState::new();
    let mut h = s.build_hasher();
    h.write_u32(std::process::id());
    let a = h.finish();
    h.write_u64(a);
    format!("{a:016x}{:016x}", h.finish())
}

/// `GET <base>[/<path>]/v1/tunnels/<id>` with the runtime key: what `run` does first.
pub(super) fn control_plane_check(l: &Loaded, a: &Agents) -> Check {
    let c = &l.config;
    let cp = &c.control_plane;
    let path = format!("{}/v1/tunnels/{}", cp.url_path, cp.tunnel_id);
    let url = format!("{}{path}", cp.base_url.trim_end_matches('/'));
    let version = env!("CARGO_PKG_VERSION");
    let mut headers: Vec<(String, String)> = probe::header_pairs(&cp.extra_headers)
        .into_iter()
        .filter(|(k, _)| {
            !config::RESERVED_CONTROL_PLANE_HEADERS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(k))
        })
        .collect();
    headers.extend([
        (
            "Authorization".to_string(),
            format!("Bearer {}", cp.api_key.expose()),
        ),
        ("Accept".into(), "application/json".into()),
        ("User-Agent".into(), format!("oai-tunnel-client/{version}")),
        ("X-Tunnel-Client-Name".into(), "oai-tunnel-client".into()),
        ("X-Tunnel-Client-Version".into(), version.into()),
        ("X-Tunnel-Client-Instance-Id".into(), instance_id()),
    ]);
    if let Some(org) = &cp.organization_id {
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("OpenAI-Organization"));
        headers.push(("OpenAI-Organization".into(), org.clone()));
    }
    let proxy = cp.http_proxy.as_ref().or(c.http_proxy.as_ref());
    let mut evidence = vec![format!(
        "GET {url} with the runtime key ({})",
        cp.api_key.describe()
    )];
    evidence.extend(tls_evidence(l, proxy, cp.client_cert.as_ref()));
    match probe::request(&a.control_plane, &url, &headers, Duration::from_secs(10)) {
        Ok(r) if (200..300).contains(&r.status) => {
            let name = TunnelMetadata::parse(&r.body)
                .map(|m| m.name)
                .filter(|n| !n.is_empty());
            Check::pass(
                "control_plane_access",
                match name {
                    Some(n) => format!("tunnel {n:?} answered HTTP {} at {url}", r.status),
                    None => format!("HTTP {} from {url}", r.status),
                },
            )
        }
        Ok(r) => {
            let rid = r.header("x-request-id").map(String::from);
            let e = RequestError::new("GET", &path, r.status, &r.body, rid);
            evidence.push(e.to_string());
            let mut next: Vec<String> = Vec::new();
            if let Some(m) = &e.mitigation {
                next.push(m.clone());
            }
            match r.status {
                401 => next.extend([
                    format!("the runtime key ({}) was rejected: copy a valid runtime API key from {RUNTIME_KEYS_URL}", cp.api_key.describe()),
                    "make sure it is not the admin key (OPENAI_ADMIN_KEY is for `admin tunnels` only)".into(),
                ]),
                403 => next.push("check the key's organization/project and that its principal has Tunnels Read + Use on this tunnel".into()),
                404 => next.extend([
                    format!("tunnel {} is unknown to this key: check the id with `tunnel-client admin tunnels list --organization-id org_…` or {TUNNELS_URL}", cp.tunnel_id),
                    "a tunnel created in the last 30 s may not be visible yet; wait and retry".into(),
                    format!("check --control-plane.base-url ({}) and --control-plane.url-path ({:?})", cp.base_url, cp.url_path),
                ]),
                _ => {}
            }
            if let Some(h) = e.status_hint() {
                if next.is_empty() {
                    next.push(h.into());
                }
            }
            let status = if r.status == 429 || r.status >= 500 {
                Status::Warn
            } else {
                Status::Fail
            };
            let summary = match (r.status, e.code.as_deref()) {
                (401, _) => format!(
                    "the control plane rejected the runtime API key (HTTP 401{})",
                    e.code
                        .as_deref()
                        .map(|c| format!(" {c}"))
                        .unwrap_or_default()
                ),
                (404, _) => format!(
                    "tunnel {} not found for this key (HTTP 404 from {url})",
                    cp.tunnel_id
                ),
                (s, Some(code)) => format!("HTTP {s} {code} from {url}"),
                (s, None) => format!("HTTP {s} from {url}"),
            };
            Check::new("control_plane_access", status, summary)
                .why(why("control_plane_access"))
                .evidence(evidence)
                .next(next)
        }
        Err(e) => Check::fail("control_plane_access", e.describe(&url))
            .why(why("control_plane_access"))
            .evidence(evidence)
            .next([
                e.hint().to_string(),
                format!("check --control-plane.base-url ({})", cp.base_url),
                "proxy settings: --control-plane.http-proxy, --http-proxy, or HTTPS_PROXY/NO_PROXY"
                    .into(),
            ]),
    }
}
