//! The individual doctor checks.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use tunnel_core::wire::metadata::TunnelMetadata;

use super::probe::{self, Agents, Resp};
use super::report::{Check, Status};
use super::url_checks;
use crate::cli::api_errors::RequestError;
use crate::cli::help_topics::{ADMIN_KEYS_URL, RUNTIME_KEYS_URL, TUNNELS_URL};
use crate::cli::preflight;
use crate::config::{
    self, redact_text, redact_url, Command, ConfigError, ConfigSource, Env, Files, HttpBinding,
    Loaded, SecretOrigin, Source, StdioBinding,
};

/// What the checks start from.
pub struct Inputs<'a> {
    /// Doctor's arguments without `--offline`.
    pub args: &'a [String],
    /// The source selection (or why it failed).
    pub source: Result<ConfigSource, ConfigError>,
    pub offline: bool,
}

const PLACEHOLDER_TUNNEL: &str = "tunnel_00000000000000000000000000000000";
const PLACEHOLDER_KEY: &str = "doctor-placeholder-key";

/// The check a configuration error belongs to (go-cli-config.md §4.1 mapping, made from the
/// error's structure rather than its text where possible).
fn check_id(e: &ConfigError) -> &'static str {
    let has = |s: &str, keys: &[&str]| keys.iter().any(|k| s.contains(k));
    match e {
        ConfigError::ReadFile { .. } | ConfigError::Yaml { .. } => "profile_load",
        ConfigError::Missing { what, .. } => match what.as_str() {
            "tunnel ID" => "tunnel_id",
            "control plane API key" => "control_plane_api_key",
            "main channel" => "mcp_target",
            _ => "config_validation",
        },
        ConfigError::Invalid { origin, .. } => {
            if has(origin, &["tunnel-id", "TUNNEL_ID", "tunnel_id"]) {
                "tunnel_id"
            } else if has(origin, &["api-key", "API_KEY", "api_key"]) {
                "control_plane_api_key"
            } else if has(origin, &["base-url", "BASE_URL", "base_url"]) {
                "control_plane_base_url"
            } else if has(
                origin,
                &[
                    "mcp.server-url",
                    "mcp-server-url",
                    "MCP_SERVER_URL",
                    "mcp.server_urls",
                    "mcp.command",
                    "mcp-command",
                    "MCP_COMMAND",
                    "mcp.commands",
                ],
            ) {
                "mcp_target"
            } else if has(
                origin,
                &[
                    "health.listen-addr",
                    "health-listen-addr",
                    "HEALTH_LISTEN_ADDR",
                    "health.listen_addr",
                ],
            ) {
                "health_listener"
            } else {
                "config_validation"
            }
        }
        _ => "config_validation",
    }
}

fn why(id: &str) -> &'static str {
    match id {
        "config_source" => "run reads the same flags, environment and profile; if the source cannot be chosen, nothing else can be checked.",
        "profile_load" => "the profile holds the tunnel id, the key reference and the MCP target; run stops if it cannot read or parse it.",
        "tunnel_id" => "every control-plane request names the tunnel; without the right id run cannot poll for commands.",
        "control_plane_api_key" => "run authenticates every poll with the runtime API key; without it the control plane answers 401.",
        "control_plane_base_url" => "run sends every request to the base URL; a malformed one stops it at startup.",
        "control_plane_access" => "this is the request run makes at startup; if the control plane refuses the key or does not know the tunnel, run can never receive commands.",
        "mcp_target" => "the main channel is where ChatGPT's MCP requests go; without it run has nowhere to forward them.",
        "mcp_command_executable" => "run starts this command and speaks MCP over its stdin/stdout; if it cannot start, every request fails.",
        "mcp_server_reachable" => "run forwards every MCP request to this URL; if nothing answers there, every request fails.",
        "oauth_metadata" => "ChatGPT discovers how to sign in to your MCP server from its OAuth metadata, fetched through the tunnel; broken metadata blocks the connector's sign-in.",
        "health_listener" => "run serves /healthz, /readyz and /metrics there and stops at startup if it cannot bind it.",
        "config_warnings" => "these settings are accepted, but probably not what you meant.",
        _ => "run validates the whole configuration at startup and stops on the first error.",
    }
}

fn next_for(id: &str, e: &ConfigError, source: &ConfigSource) -> Vec<String> {
    let file = source
        .path()
        .map(|p| format!(" (in {})", p.display()))
        .unwrap_or_default();
    match (id, e) {
        ("tunnel_id", ConfigError::Missing { .. }) => vec![
            format!("find the id: open {TUNNELS_URL}, or run `tunnel-client admin tunnels list --organization-id org_…` (needs OPENAI_ADMIN_KEY)"),
            format!("give it to run: --control-plane.tunnel-id tunnel_…, export CONTROL_PLANE_TUNNEL_ID=tunnel_…, or control_plane.tunnel_id{file}"),
            "or write a profile with it: tunnel-client init --tunnel-id tunnel_… --mcp-server-url URL | --mcp-command \"CMD\"".into(),
        ],
        ("tunnel_id", _) => vec![
            "a tunnel id is tunnel_ followed by 32 lowercase letters or digits; copy it again without quotes or spaces".into(),
            format!("list yours: `tunnel-client admin tunnels list --organization-id org_…` (needs OPENAI_ADMIN_KEY) or {TUNNELS_URL}"),
        ],
        ("control_plane_api_key", _) => vec![
            format!("create or copy a runtime API key at {RUNTIME_KEYS_URL} (its principal needs Tunnels Read + Use)"),
            "export CONTROL_PLANE_API_KEY=<the key> in the shell or service unit that starts run (profiles reference it as env:CONTROL_PLANE_API_KEY)".into(),
            "check key and tunnel together: tunnel-client admin tunnels get <tunnel_id>".into(),
            format!("do not use the admin key ({ADMIN_KEYS_URL}) for run"),
        ],
        ("mcp_target", ConfigError::Missing { .. }) => vec![
            "bind channel main: --mcp.server-url URL (HTTP) or --mcp.command \"CMD\" (stdio), or MCP_SERVER_URL / MCP_COMMAND, or mcp.server_urls / mcp.commands in the profile".into(),
            "or start from a sample: tunnel-client init --tunnel-id tunnel_… --mcp-command \"python /path/server.py\"".into(),
        ],
        ("profile_load", ConfigError::ReadFile { .. }) => vec![
            "list the profiles you have: tunnel-client profiles list".into(),
            "create one: tunnel-client init --tunnel-id tunnel_… --mcp-server-url URL | --mcp-command \"CMD\"".into(),
            "or point at the file: --profile-file /path/name.yaml or --config /path/file.yaml".into(),
        ],
        ("profile_load", _) => vec![
            "fix the YAML at the line named above (`tunnel-client profiles edit <name>` validates before saving)".into(),
            "compare with a sample: tunnel-client profiles samples show sample_mcp_with_dcr".into(),
        ],
        _ => vec![format!("{}", error_fix(e))],
    }
}

/// The `fix:` part of an error, or the whole message.
fn error_fix(e: &ConfigError) -> String {
    match e {
        ConfigError::Invalid { fix, .. } | ConfigError::Conflict { fix, .. } => fix.clone(),
        ConfigError::Missing { fix, .. } => fix.clone(),
        other => other.to_string(),
    }
}

/// One FAIL check per group of errors.
fn error_checks(errors: &[ConfigError], source: &ConfigSource) -> Vec<Check> {
    let mut groups: Vec<(&'static str, Vec<&ConfigError>)> = Vec::new();
    for e in errors {
        let id = check_id(e);
        match groups.iter_mut().find(|(g, _)| *g == id) {
            Some((_, v)) => v.push(e),
            None => groups.push((id, vec![e])),
        }
    }
    groups
        .into_iter()
        .map(|(id, errs)| {
            let mut next = next_for(id, errs[0], source);
            for e in &errs[1..] {
                let f = error_fix(e);
                if !next.contains(&f) {
                    next.push(f);
                }
            }
            Check::fail(id, errs[0].to_string())
                .why(why(id))
                .evidence(errs.iter().map(|e| e.to_string()))
                .next(next)
        })
        .collect()
}

/// An environment with placeholders for the tunnel id and/or key, so the checks after a
/// wrong id or key still run.
struct Placeholders<'a> {
    inner: &'a dyn Env,
    tunnel: bool,
    key: bool,
}

impl Env for Placeholders<'_> {
    fn var(&self, name: &str) -> Option<String> {
        match name {
            "CONTROL_PLANE_TUNNEL_ID" if self.tunnel => Some(PLACEHOLDER_TUNNEL.into()),
            "CONTROL_PLANE_API_KEY" if self.key => Some(PLACEHOLDER_KEY.into()),
            _ => self.inner.var(name),
        }
    }
}

/// `args` without the flags of the named settings (both spellings, both value forms).
fn without_settings(args: &[String], names: &[&str]) -> Vec<String> {
    let flags: Vec<&str> = names
        .iter()
        .filter_map(|n| config::setting(n))
        .flat_map(|s| std::iter::once(s.flag).chain(s.alias))
        .collect();
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            out.push(a.clone());
            out.extend(it.by_ref().cloned());
            break;
        }
        if flags.contains(&a.as_str()) {
            it.next();
            continue;
        }
        if flags
            .iter()
            .any(|f| a.strip_prefix(f).is_some_and(|r| r.starts_with('=')))
        {
            continue;
        }
        out.push(a.clone());
    }
    out
}

fn source_summary(s: &ConfigSource) -> String {
    match s {
        ConfigSource::None => "flags/environment only".into(),
        ConfigSource::Config(p) => p.display().to_string(),
        ConfigSource::Profile { name, .. } => format!("profile: {name}"),
        ConfigSource::ProfileFile(p) => format!("profile file: {}", p.display()),
    }
}

/// Runs every check.
pub fn run_checks(inp: &Inputs<'_>, env: &dyn Env, files: &dyn Files) -> Vec<Check> {
    let mut checks = Vec::new();
    let source = match &inp.source {
        Ok(s) => s.clone(),
        Err(e) => {
            checks.push(
                Check::fail("config_source", e.to_string())
                    .why(why("config_source"))
                    .evidence([e.to_string()])
                    .next([
                        error_fix(e),
                        "give one of --config, --profile or --profile-file (flags beat TUNNEL_CLIENT_CONFIG / TUNNEL_CLIENT_PROFILE / TUNNEL_CLIENT_PROFILE_FILE)".into(),
                    ]),
            );
            checks.extend(url_checks());
            return checks;
        }
    };
    checks.push(Check::pass("config_source", source_summary(&source)));
    if let Some(p) = source.path() {
        if let Err(e) = files.read_to_string(p) {
            let err = ConfigError::ReadFile {
                path: p.display().to_string(),
                message: e.to_string(),
            };
            checks.extend(error_checks(&[err], &source));
            checks.extend(url_checks());
            return checks;
        }
    }
    let loaded = config::load(Command::Doctor, inp.args, env, files);
    let (loaded, failed) = match loaded {
        Ok(l) => (l, Vec::new()),
        Err(errs) => {
            let errs = errs.0;
            let ids: Vec<&str> = errs.iter().map(check_id).collect();
            let retry = ids
                .iter()
                .all(|i| matches!(*i, "tunnel_id" | "control_plane_api_key"));
            let second = retry.then(|| {
                let ph = Placeholders {
                    inner: env,
                    tunnel: ids.contains(&"tunnel_id"),
                    key: ids.contains(&"control_plane_api_key"),
                };
                let args = without_settings(
                    inp.args,
                    &["control-plane.tunnel-id", "control-plane.api-key"],
                );
                config::load(Command::Doctor, &args, &ph, files)
            });
            match second {
                Some(Ok(l)) => (l, error_checks(&errs, &source)),
                _ => {
                    let profile_failed = ids.contains(&"profile_load");
                    if !profile_failed {
                        checks.push(profile_pass(&source));
                    }
                    checks.extend(error_checks(&errs, &source));
                    checks.extend(url_checks());
                    return checks;
                }
            }
        }
    };
    checks.push(profile_pass(&source));
    checks.extend(loaded_checks(&loaded, &failed, inp.offline, env));
    checks
}

fn profile_pass(source: &ConfigSource) -> Check {
    Check::pass(
        "profile_load",
        source
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "flags/environment only".into()),
    )
}

fn loaded_checks(l: &Loaded, failed: &[Check], offline: bool, env: &dyn Env) -> Vec<Check> {
    let c = &l.config;
    let mut out = Vec::new();
    if !l.warnings.is_empty() {
        out.push(
            Check::warn(
                "config_warnings",
                format!("{} warning(s); first: {}", l.warnings.len(), l.warnings[0]),
            )
            .why(why("config_warnings"))
            .evidence(l.warnings.iter().cloned())
            .next(["fix or remove the settings named above"]),
        );
    }
    let unsupported = config::unsupported_in_use(l);
    let agents = probe::agents(c);
    let mut blockers: Vec<String> = unsupported.iter().map(ToString::to_string).collect();
    if let Err(e) = &agents {
        blockers.push(format!("run would refuse this configuration: {e}"));
    }
    if !blockers.is_empty() {
        out.push(
            Check::fail("config_validation", blockers[0].clone())
                .why(why("config_validation"))
                .evidence(blockers.iter().cloned())
                .next([
                    "remove the settings this version does not support yet, or fix the CA bundle / client certificate / proxy named above".to_string(),
                ]),
        );
    }
    let failed_id = |id: &str| failed.iter().find(|f| f.id == id).cloned();
    out.push(
        failed_id("tunnel_id")
            .unwrap_or_else(|| Check::pass("tunnel_id", &c.control_plane.tunnel_id)),
    );
    out.push(failed_id("control_plane_api_key").unwrap_or_else(|| api_key_check(l)));
    let blocked: Vec<&str> = failed.iter().map(|f| f.id.as_str()).collect();
    out.push(if offline {
        Check::skip("control_plane_access", "not contacted (--offline)")
    } else if !blocked.is_empty() {
        Check::skip(
            "control_plane_access",
            format!("blocked by {}", blocked.join(", ")),
        )
    } else {
        match &agents {
            Ok(a) => control_plane_check(l, a),
            Err(_) => Check::skip("control_plane_access", "blocked by config_validation"),
        }
    });
    out.extend(url_checks());
    let main_http = c.mcp.server_urls.iter().find(|b| b.channel == "main");
    let main_stdio = c.mcp.commands.iter().find(|b| b.channel == "main");
    let others: Vec<String> = c
        .mcp
        .server_urls
        .iter()
        .map(|b| b.channel.clone())
        .chain(c.mcp.commands.iter().map(|b| b.channel.clone()))
        .filter(|ch| ch != "main")
        .collect();
    let mut target = match (main_http, main_stdio) {
        (Some(b), _) => Check::pass("mcp_target", redact_url(&b.url)),
        (_, Some(b)) => Check::pass("mcp_target", redact_text(&b.command_line)),
        _ => Check::skip(
            "mcp_target",
            "no main channel binding (only the polled channels are served)",
        ),
    };
    if !others.is_empty() {
        target = target.evidence([format!(
            "other channels (not probed): {}",
            others.join(", ")
        )]);
    }
    out.push(target);
    if let Some(b) = main_http {
        let (reach, first) = match (&agents, offline) {
            (_, true) => (
                Check::skip("mcp_server_reachable", "not contacted (--offline)"),
                None,
            ),
            (Err(_), _) => (
                Check::skip("mcp_server_reachable", "blocked by config_validation"),
                None,
            ),
            (Ok(a), false) => reachability(l, b, a),
        };
        let unreachable = reach.status == Status::Fail;
        out.push(reach);
        out.push(match (&agents, offline) {
            (_, true) => Check::skip("oauth_metadata", "not contacted (--offline)"),
            (Err(_), _) => Check::skip("oauth_metadata", "blocked by config_validation"),
            (Ok(_), false) if unreachable => {
                Check::skip("oauth_metadata", "blocked by mcp_server_reachable")
            }
            (Ok(a), false) => oauth_check(l, b, a, first.as_ref()),
        });
    } else if let Some(b) = main_stdio {
        out.push(stdio_check(b, env));
        out.push(Check::skip(
            "mcp_server_reachable",
            "stdio targets are not probed over the network",
        ));
        out.push(Check::skip(
            "oauth_metadata",
            "stdio targets do not expose OAuth metadata URLs",
        ));
    }
    out.push(health_check(l));
    out
}

fn api_key_check(l: &Loaded) -> Check {
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

fn tls_evidence(
    l: &Loaded,
    proxy: Option<&config::Proxy>,
    cert: Option<&std::path::PathBuf>,
) -> Vec<String> {
    let c = &l.config;
    vec![
        format!(
            "CA bundle: {}",
            c.ca_bundle
                .as_ref()
                .map(|p| format!("{} (plus the built-in roots)", p.display()))
                .unwrap_or_else(|| "built-in roots".into())
        ),
        format!(
            "proxy: {}",
            proxy
                .map(|p| format!("{} (from {})", redact_url(&p.url), p.source))
                .unwrap_or_else(|| "none configured".into())
        ),
        format!(
            "client certificate: {}",
            cert.map(|p| p.display().to_string())
                .unwrap_or_else(|| "none".into())
        ),
    ]
}

/// `GET <base>[/<path>]/v1/tunnels/<id>` with the runtime key: what `run` does first.
fn control_plane_check(l: &Loaded, a: &Agents) -> Check {
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

/// MCP extra headers, with the discovery headers overriding them (probe requests).
fn mcp_headers(l: &Loaded, include_extra: bool) -> Vec<(String, String)> {
    let m = &l.config.mcp;
    let mut map: BTreeMap<String, (String, String)> = BTreeMap::new();
    let extra = if include_extra {
        probe::header_pairs(&m.extra_headers)
    } else {
        Vec::new()
    };
    for (k, v) in extra
        .into_iter()
        .chain(probe::header_pairs(&m.discovery_extra_headers))
    {
        map.insert(k.to_ascii_lowercase(), (k, v));
    }
    map.into_values().collect()
}

fn reachability(l: &Loaded, b: &HttpBinding, a: &Agents) -> (Check, Option<Resp>) {
    let url = &b.url;
    let shown = redact_url(url);
    let c = &l.config;
    let mut evidence = vec![format!("GET {shown}")];
    evidence.extend(tls_evidence(
        l,
        b.http_proxy.as_ref(),
        b.client_cert.as_ref(),
    ));
    match probe::request(&a.mcp, url, &mcp_headers(l, true), Duration::from_secs(2)) {
        Ok(r) if r.status >= 500 => (
            Check::warn(
                "mcp_server_reachable",
                format!("HTTP {} from {shown}", r.status),
            )
            .why("the server answers, but with a server error; MCP requests may fail the same way.")
            .evidence(evidence)
            .next(["check the MCP server's logs"]),
            Some(r),
        ),
        Ok(r) => (
            Check::pass(
                "mcp_server_reachable",
                format!("HTTP {} from {shown}", r.status),
            ),
            Some(r),
        ),
        Err(e) => {
            let mut next = vec![
                e.hint().to_string(),
                format!(
                    "check the URL given by {} (now {shown})",
                    l.source("mcp.server-url")
                        .origin(config::setting("mcp.server-url").expect("table row"))
                ),
                "for a quick test, start the demo server: tunnel-client dev mcp-stub".into(),
            ];
            let direct = b.http_proxy.is_none() && c.http_proxy.is_none();
            if e.kind == tunnel_core::classify::TransportError::Timeout && direct {
                if let Some(addr) = probe::origin_and_path(url)
                    .and_then(|(o, _)| o.split_once("://").map(|(_, hp)| hp.to_string()))
                {
                    if tcp_dial(&addr) {
                        return (
                            Check::warn(
                                "mcp_server_reachable",
                                format!(
                                    "TCP connect succeeded to {addr}, but no HTTP answer within 2s"
                                ),
                            )
                            .why("something listens there but did not answer an HTTP GET in time.")
                            .evidence(evidence)
                            .next([
                                "check that the URL points at the MCP endpoint of an HTTP server",
                            ]),
                            None,
                        );
                    }
                }
            }
            next.dedup();
            (
                Check::fail("mcp_server_reachable", e.describe(&shown))
                    .why(why("mcp_server_reachable"))
                    .evidence(evidence)
                    .next(next),
                None,
            )
        }
    }
}

fn tcp_dial(host_port: &str) -> bool {
    let port_default = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:80")
    };
    port_default
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

/// RFC 9728 protected-resource metadata, then the RFC 8414 authorization-server metadata
/// it names. 404 on every candidate = the server uses no OAuth = PASS.
fn oauth_check(l: &Loaded, b: &HttpBinding, a: &Agents, first: Option<&Resp>) -> Check {
    let deadline = Instant::now() + Duration::from_secs(5);
    let remaining = || {
        deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(2))
    };
    let Some((mcp_origin, _)) = probe::origin_and_path(&b.url) else {
        return Check::skip("oauth_metadata", "the MCP URL has no origin");
    };
    let headers_for = |u: &str| {
        if probe::origin_and_path(u).is_some_and(|(o, _)| o == mcp_origin) {
            mcp_headers(l, false)
        } else {
            Vec::new()
        }
    };
    let mut candidates: Vec<String> = Vec::new();
    if let Some(r) = first.filter(|r| r.status == 401) {
        if let Some(u) = r
            .header("www-authenticate")
            .and_then(probe::resource_metadata_param)
        {
            candidates.push(u);
        }
    }
    for u in [
        probe::well_known(&b.url, "oauth-protected-resource"),
        Some(format!("{mcp_origin}/.well-known/oauth-protected-resource")),
    ]
    .into_iter()
    .flatten()
    {
        if !candidates.contains(&u) {
            candidates.push(u);
        }
    }
    let mut evidence = Vec::new();
    let fail = |summary: String, evidence: Vec<String>, extra: Vec<String>| {
        let prm = probe::well_known(&b.url, "oauth-protected-resource").unwrap_or_default();
        let mut next = extra;
        next.extend([
            format!("serve GET {prm} with {{\"resource\": \"{}\", \"authorization_servers\": [\"https://<issuer>\"]}}", redact_url(&b.url)),
            "serve the authorization server's metadata at <issuer origin>/.well-known/oauth-authorization-server<issuer path>".to_string(),
            "if the server uses no OAuth, make those paths answer 404 (see `tunnel-client help oauth`)".to_string(),
        ]);
        Check::fail("oauth_metadata", summary)
            .why(why("oauth_metadata"))
            .evidence(evidence)
            .next(next)
    };
    let mut prmd: Option<(String, serde_json::Value)> = None;
    for u in &candidates {
        match probe::request(&a.mcp, u, &headers_for(u), remaining()) {
            Ok(r) if r.status == 404 => evidence.push(format!("HTTP 404 from {u}")),
            Ok(r) if (200..300).contains(&r.status) => {
                evidence.push(format!("HTTP {} from {u}", r.status));
                match serde_json::from_slice::<serde_json::Value>(&r.body) {
                    Ok(v) if v.is_object() => {
                        prmd = Some((u.clone(), v));
                        break;
                    }
                    _ => {
                        return fail(
                            format!("protected-resource metadata at {u} is not a JSON object"),
                            evidence,
                            vec![],
                        )
                    }
                }
            }
            Ok(r) => {
                evidence.push(format!("HTTP {} from {u}", r.status));
                return fail(format!("HTTP {} from {u}", r.status), evidence, vec![]);
            }
            Err(e) => {
                evidence.push(e.describe(u));
                return fail(e.describe(u), evidence, vec![e.hint().to_string()]);
            }
        }
    }
    let Some((prm_url, doc)) = prmd else {
        return Check::pass(
            "oauth_metadata",
            "OAuth metadata not advertised; all candidates returned HTTP 404",
        )
        .evidence(evidence);
    };
    if let Some(res) = doc.get("resource").and_then(|r| r.as_str()) {
        if res.trim_end_matches('/') != b.url.trim_end_matches('/') {
            evidence.push(format!(
                "resource is {res:?}, the MCP URL is {:?} (RFC 9728 expects them to match)",
                redact_url(&b.url)
            ));
        }
    }
    let issuer = doc
        .get("authorization_servers")
        .and_then(|v| v.as_array())
        .and_then(|a| a.first())
        .and_then(|v| v.as_str())
        .map(String::from);
    let Some(issuer) = issuer else {
        return fail(
            format!("{prm_url} names no authorization_servers"),
            evidence,
            vec![],
        );
    };
    let mut as_candidates = vec![];
    if let Some(u) = probe::well_known(&issuer, "oauth-authorization-server") {
        as_candidates.push(u);
    }
    as_candidates.push(format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ));
    for u in &as_candidates {
        match probe::request(&a.mcp, u, &headers_for(u), remaining()) {
            Ok(r) if (200..300).contains(&r.status) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
                let missing: Vec<&str> = ["issuer", "authorization_endpoint", "token_endpoint"]
                    .into_iter()
                    .filter(|k| v.get(k).and_then(|x| x.as_str()).is_none())
                    .collect();
                evidence.push(format!("HTTP {} from {u}", r.status));
                if !missing.is_empty() {
                    return fail(
                        format!(
                            "authorization server metadata at {u} lacks {}",
                            missing.join(", ")
                        ),
                        evidence,
                        vec![],
                    );
                }
                if v.get("registration_endpoint").is_none() {
                    evidence.push(
                        "no registration_endpoint: dynamic client registration is not offered"
                            .into(),
                    );
                }
                return Check::pass("oauth_metadata", format!("HTTP {} from {u}", r.status))
                    .evidence(evidence);
            }
            Ok(r) => evidence.push(format!("HTTP {} from {u}", r.status)),
            Err(e) => evidence.push(e.describe(u)),
        }
    }
    fail(
        format!("no authorization server metadata for {issuer} (named by {prm_url})"),
        evidence,
        vec![],
    )
}

fn stdio_check(b: &StdioBinding, env: &dyn Env) -> Check {
    match preflight::check_argv(&b.argv, env) {
        Ok(p) => Check::pass("mcp_command_executable", p.executable.display().to_string())
            .evidence(p.evidence),
        Err(e) => Check::fail("mcp_command_executable", e.problem.clone())
            .why(why("mcp_command_executable"))
            .evidence(
                std::iter::once(format!("command: {}", redact_text(&b.command_line)))
                    .chain(e.evidence.iter().cloned()),
            )
            .next([
                e.fix.clone(),
                "the command is split like a shell would, but not run through one: no $VAR expansion; use sh -c '…' if you need a shell".into(),
            ]),
    }
}

fn health_check(l: &Loaded) -> Check {
    let h = &l.config.health;
    let addr_s = &h.listen_addr;
    let Ok(addr) = crate::daemon::health::resolve_listen_addr(addr_s) else {
        return Check::fail(
            "health_listener",
            format!("{addr_s:?} does not resolve to an address"),
        )
        .why(why("health_listener"))
        .next(["set --health.listen-addr (HEALTH_LISTEN_ADDR, health.listen_addr) to host:port, e.g. 127.0.0.1:8080"]);
    };
    let shown_host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        match addr {
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
            SocketAddr::V4(a) => a.ip().to_string(),
        }
    };
    match TcpListener::bind(addr) {
        Ok(listener) => {
            let port = listener
                .local_addr()
                .map(|a| a.port())
                .unwrap_or(addr.port());
            drop(listener);
            if addr.port() == 0 {
                Check::pass(
                    "health_listener",
                    format!("ephemeral bind ok on http://{shown_host}:{port}"),
                )
                .evidence([
                    "with :0 the port changes each start; set --health.url-file to learn it",
                ])
            } else {
                Check::pass(
                    "health_listener",
                    format!("will bind http://{shown_host}:{port}"),
                )
            }
        }
        Err(e) => {
            let origin = l
                .source("health.listen-addr")
                .origin(config::setting("health.listen-addr").expect("table row"));
            let mut evidence = vec![format!("bind {addr} (from {origin}): {e}")];
            let probe_url = format!("http://{shown_host}:{}/healthz", addr.port());
            if let Ok(r) = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .proxy(None)
                .timeout_global(Some(Duration::from_millis(500)))
                .build()
                .new_agent()
                .get(&probe_url)
                .call()
            {
                evidence.push(format!(
                    "{probe_url} answers HTTP {}: another tunnel-client (or another service) is already running there",
                    r.status().as_u16()
                ));
            }
            let summary = if e.kind() == std::io::ErrorKind::AddrInUse {
                format!("port {} on {shown_host} is already in use", addr.port())
            } else {
                format!("cannot bind {addr}: {e}")
            };
            Check::fail("health_listener", summary)
                .why(why("health_listener"))
                .evidence(evidence)
                .next([
                    format!("stop the process holding {addr}, or choose another address: --health.listen-addr 127.0.0.1:0 (HEALTH_LISTEN_ADDR, health.listen_addr)"),
                    "if a tunnel-client with this profile is already running, it is doing the job: check it with curl <its address>/readyz".to_string(),
                ])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_check_ids() {
        let missing = |w: &str| ConfigError::Missing {
            what: w.into(),
            fix: String::new(),
        };
        assert_eq!(check_id(&missing("tunnel ID")), "tunnel_id");
        assert_eq!(
            check_id(&missing("control plane API key")),
            "control_plane_api_key"
        );
        assert_eq!(check_id(&missing("main channel")), "mcp_target");
        let inv = |o: &str| ConfigError::Invalid {
            origin: o.into(),
            value: None,
            problem: String::new(),
            fix: String::new(),
        };
        assert_eq!(
            check_id(&inv("env var CONTROL_PLANE_API_KEY")),
            "control_plane_api_key"
        );
        assert_eq!(
            check_id(&inv("YAML key control_plane.tunnel_id in f")),
            "tunnel_id"
        );
        assert_eq!(check_id(&inv("--mcp.command")), "mcp_target");
        assert_eq!(check_id(&inv("--log.level")), "config_validation");
    }

    #[test]
    fn strips_both_flag_forms() {
        let a: Vec<String> = [
            "--control-plane.tunnel-id",
            "x",
            "--control-plane-api-key=env:K",
            "--json",
            "--control-plane.tunnel-id=y",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            without_settings(&a, &["control-plane.tunnel-id", "control-plane.api-key"]),
            ["--json"]
        );
    }
}
