//! Entry grammars of `--mcp.server-url`, `--mcp.command` and `--harpoon.target`
//! (go-cli-config.md §2.7). YAML entries are read into the same raw shapes.

use super::error::{problem, Problem};

/// One HTTP binding before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawHttpEntry {
    pub channel: Option<String>,
    pub url: String,
    pub unix_socket: Option<String>,
    pub http_proxy: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
}

/// One stdio binding before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawStdioEntry {
    pub channel: Option<String>,
    pub command: String,
}

/// One Harpoon target before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawTarget {
    pub label: String,
    pub url: String,
    pub unix_socket: Option<String>,
    pub description: Option<String>,
    /// Beyond Go: `allow-link-local=true` lifts the address guard's link-local and
    /// cloud-metadata refusal for this target (raw text; validated with the target).
    pub allow_link_local: Option<String>,
}

const QUALIFIED: &[&str] = &[
    "url=",
    "command=",
    "channel=",
    "unix-socket=",
    "http-proxy=",
    "client-cert=",
    "client-key=",
];

fn starts_ci(s: &str, p: &str) -> bool {
    s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p)
}

/// Parses one `--mcp.server-url` entry: a bare URL (bound to `main`) or
/// `channel=c,url=u[,unix-socket=p][,http-proxy=x][,client-cert=c][,client-key=k]`.
pub fn parse_server_url_entry(s: &str) -> Result<RawHttpEntry, Problem> {
    let s = s.trim();
    if s.is_empty() {
        return Err(problem(
            "empty entry",
            "give a URL or channel=<name>,url=<url>",
        ));
    }
    if !QUALIFIED.iter().any(|p| starts_ci(s, p)) {
        return Ok(RawHttpEntry {
            url: s.to_string(),
            ..RawHttpEntry::default()
        });
    }
    let mut e = RawHttpEntry::default();
    let mut url = None;
    for part in s.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            return Err(problem(
                format!("{:?} is not a key=value pair", part.trim()),
                "write channel=<name>,url=<url> (commas separate pairs)",
            ));
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
        if v.is_empty() {
            return Err(problem(
                format!("key {k} has an empty value"),
                format!("give {k}= a value or drop it"),
            ));
        }
        let slot = match k.as_str() {
            "channel" => &mut e.channel,
            "url" => &mut url,
            "unix-socket" => &mut e.unix_socket,
            "http-proxy" => &mut e.http_proxy,
            "client-cert" => &mut e.client_cert,
            "client-key" => &mut e.client_key,
            "command" => {
                return Err(problem(
                    "command= is not valid in an HTTP entry",
                    "put stdio commands in --mcp.command / MCP_COMMAND",
                ))
            }
            _ => {
                return Err(problem(
                    format!("unknown key {k:?}"),
                    "use only channel, url, unix-socket, http-proxy, client-cert, client-key",
                ))
            }
        };
        if slot.is_some() {
            return Err(problem(
                format!("key {k} is given twice"),
                format!("keep one {k}="),
            ));
        }
        *slot = Some(v);
    }
    e.url = url.ok_or_else(|| problem("url= is missing", "add url=<http(s) URL> to the entry"))?;
    Ok(e)
}

/// Parses one `--mcp.command` entry: a bare command line (bound to `main`),
/// `channel=<c>,command=<rest of line>` or `command=<cmd>[,channel=<c>]` (the last
/// `,channel=` is split off).
pub fn parse_command_entry(s: &str) -> Result<RawStdioEntry, Problem> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (channel, command) = if starts_ci(t, "channel=") {
        let rest = &t["channel=".len()..];
        let Some((c, after)) = rest.split_once(',') else {
            return Err(problem(
                "channel= must be followed by ,command=",
                "write channel=<name>,command=<command line>",
            ));
        };
        let after = after.trim_start();
        if !starts_ci(after, "command=") {
            return Err(problem(
                "channel= must be followed by ,command=",
                "write channel=<name>,command=<command line>",
            ));
        }
        (Some(c.trim().to_string()), &after["command=".len()..])
    } else if starts_ci(t, "command=") {
        match lower.rfind(",channel=") {
            Some(i) => (
                Some(t[i + ",channel=".len()..].trim().to_string()),
                &t["command=".len()..i],
            ),
            None => (None, &t["command=".len()..]),
        }
    } else {
        (None, t)
    };
    if command.trim().is_empty() {
        return Err(problem(
            "the command line is empty",
            "give the MCP server's command line, e.g. npx -y @modelcontextprotocol/server-everything",
        ));
    }
    if channel.as_deref() == Some("") {
        return Err(problem(
            "channel= is empty",
            "give channel= a name or drop it",
        ));
    }
    Ok(RawStdioEntry {
        channel,
        command: command.trim().to_string(),
    })
}

/// Parses one `--harpoon.target`: `label=<l>,url=<u>[,unix-socket=<p>][,desc=<d>]`.
/// Returns the target and any keys Go silently ignores (we warn about them).
pub fn parse_harpoon_target(s: &str) -> Result<(RawTarget, Vec<String>), Problem> {
    let mut t = RawTarget::default();
    let mut ignored = Vec::new();
    for part in s.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(problem(
                format!("{:?}: expected key=value pairs", part.trim()),
                "write label=<name>,url=<https URL>[,desc=<text>]",
            ));
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim().trim_matches(['"', '\'']).to_string();
        match k.as_str() {
            "" => return Err(problem("empty key", "write label=<name>,url=<https URL>")),
            "label" => t.label = v,
            "url" => t.url = v,
            "unix-socket" => t.unix_socket = Some(v),
            "desc" => t.description = Some(v),
            "allow-link-local" => t.allow_link_local = Some(v),
            _ => ignored.push(k),
        }
    }
    Ok((t, ignored))
}

/// `^[a-z0-9][a-z0-9_-]{0,63}$`
pub fn valid_harpoon_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'))
}
