//! Which target serves each of the engine's bindings: the check both adapters make at
//! start, written once. A binding without a target, a target without a binding, two
//! targets for one channel or an MCP URL that cannot work fail the start with a message
//! that names the channel; nothing is left to fail later on a command.

use std::collections::HashMap;

use http::Uri;

use super::{BindingKind, EngineConfig};
use crate::channel::ChannelName;

/// What a driver was given to serve the engine's bindings.
#[derive(Debug, Default)]
pub struct Targets<'a> {
    /// Streamable HTTP targets: channel and URL.
    pub http: Vec<(&'a ChannelName, &'a str)>,
    /// Channels with a stdio command.
    pub stdio: Vec<&'a ChannelName>,
    /// Channels with an in-process handler.
    pub in_process: Vec<&'a ChannelName>,
    /// Whether this driver runs in-process bindings at all.
    pub in_process_supported: bool,
}

/// How a channel is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    Http(Uri),
    Stdio,
    InProcess,
}

/// Why the targets do not fit the bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingError {
    /// An MCP server URL that cannot be used.
    BadUrl { url: String, why: &'static str },
    /// Two targets for one channel.
    Duplicate(ChannelName),
    /// A binding with no target of its kind.
    NoTarget(ChannelName, BindingKind),
    /// A target with no binding of its kind.
    NoBinding(ChannelName, BindingKind),
    /// A binding kind this driver does not run.
    Unsupported(ChannelName, BindingKind),
}

impl std::fmt::Display for BindingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindingError::BadUrl { url, why } => write!(f, "MCP server URL {url:?} {why}"),
            BindingError::Duplicate(ch) => write!(f, "channel {ch}: more than one MCP target"),
            BindingError::NoTarget(ch, kind) => {
                let what = match kind {
                    BindingKind::Http => "HTTP binding without an MCP server URL",
                    BindingKind::Stdio => "stdio binding without an MCP command",
                    BindingKind::InProcess => "in-process binding without a handler",
                };
                write!(f, "channel {ch}: {what}")
            }
            BindingError::NoBinding(ch, kind) => {
                let what = match kind {
                    BindingKind::Http => {
                        "MCP target given but the engine has no HTTP binding for it"
                    }
                    BindingKind::Stdio => {
                        "MCP command given but the engine has no stdio binding for it"
                    }
                    BindingKind::InProcess => {
                        "in-process handler given but the engine has no in-process binding for it"
                    }
                };
                write!(f, "channel {ch}: {what}")
            }
            BindingError::Unsupported(ch, _) => write!(
                f,
                "channel {ch}: in-process bindings are not supported by this adapter yet"
            ),
        }
    }
}

impl std::error::Error for BindingError {}

/// Checks an MCP endpoint URL: absolute `http`/`https` with a host.
pub fn parse_target_url(url: &str) -> Result<Uri, BindingError> {
    let bad = |why| BindingError::BadUrl {
        url: url.to_string(),
        why,
    };
    let uri: Uri = url.parse().map_err(|_| bad("is not a valid URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(bad("must start with http:// or https://"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(uri)
}

/// Matches every binding of `cfg` with exactly one target of its kind, and every target
/// with a binding.
pub fn check_bindings(
    cfg: &EngineConfig,
    targets: &Targets<'_>,
) -> Result<HashMap<ChannelName, Served>, BindingError> {
    let mut given: HashMap<ChannelName, Served> = HashMap::new();
    let mut add = |ch: &ChannelName, s: Served| match given.insert(ch.clone(), s) {
        Some(_) => Err(BindingError::Duplicate(ch.clone())),
        None => Ok(()),
    };
    for (ch, url) in &targets.http {
        add(ch, Served::Http(parse_target_url(url)?))?;
    }
    for ch in &targets.stdio {
        add(ch, Served::Stdio)?;
    }
    for ch in &targets.in_process {
        add(ch, Served::InProcess)?;
    }
    let kind_of = |s: &Served| match s {
        Served::Http(_) => BindingKind::Http,
        Served::Stdio => BindingKind::Stdio,
        Served::InProcess => BindingKind::InProcess,
    };
    let mut out = HashMap::new();
    for b in &cfg.bindings {
        if b.kind == BindingKind::InProcess && !targets.in_process_supported {
            return Err(BindingError::Unsupported(b.channel.clone(), b.kind));
        }
        match given.remove(&b.channel) {
            Some(s) if kind_of(&s) == b.kind => {
                out.insert(b.channel.clone(), s);
            }
            Some(s) => return Err(BindingError::NoBinding(b.channel.clone(), kind_of(&s))),
            None => return Err(BindingError::NoTarget(b.channel.clone(), b.kind)),
        }
    }
    if let Some((ch, s)) = given.into_iter().next() {
        return Err(BindingError::NoBinding(ch, kind_of(&s)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Binding;

    fn ch(n: &str) -> ChannelName {
        ChannelName::canonical(n).unwrap()
    }

    fn cfg(bindings: &[(&str, BindingKind)]) -> EngineConfig {
        let mut c = EngineConfig::new("https://cp.example".parse().unwrap(), "t", "k");
        c.bindings = bindings
            .iter()
            .map(|(n, kind)| Binding {
                channel: ch(n),
                kind: *kind,
                extra_headers: vec![],
            })
            .collect();
        c
    }

    #[test]
    fn target_urls_must_be_absolute_http_with_a_host() {
        assert!(parse_target_url("http://127.0.0.1:3000/mcp").is_ok());
        assert!(parse_target_url("https://mcp.internal/mcp").is_ok());
        for bad in ["ftp://x/mcp", "/mcp", "not a url"] {
            let e = parse_target_url(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn every_binding_gets_its_target_and_every_target_a_binding() {
        let (main, tools) = (ch("main"), ch("tools"));
        let c = cfg(&[("main", BindingKind::Http), ("tools", BindingKind::Stdio)]);
        let t = Targets {
            http: vec![(&main, "http://127.0.0.1:1/mcp")],
            stdio: vec![&tools],
            ..Targets::default()
        };
        let served = check_bindings(&c, &t).unwrap();
        assert!(matches!(served[&main], Served::Http(_)));
        assert_eq!(served[&tools], Served::Stdio);

        let missing = Targets {
            http: vec![(&main, "http://127.0.0.1:1/mcp")],
            ..Targets::default()
        };
        assert_eq!(
            check_bindings(&c, &missing).unwrap_err().to_string(),
            "channel tools: stdio binding without an MCP command"
        );
        let extra = Targets {
            http: vec![(&main, "http://127.0.0.1:1/mcp")],
            stdio: vec![&tools, &tools],
            ..Targets::default()
        };
        assert_eq!(
            check_bindings(&c, &extra).unwrap_err(),
            BindingError::Duplicate(tools.clone())
        );
        let only_main = cfg(&[("main", BindingKind::Http)]);
        assert!(check_bindings(&only_main, &t)
            .unwrap_err()
            .to_string()
            .contains("the engine has no stdio binding"));
    }

    #[test]
    fn in_process_bindings_need_a_driver_that_runs_them() {
        let main = ch("main");
        let c = cfg(&[("main", BindingKind::InProcess)]);
        let t = Targets {
            in_process: vec![&main],
            ..Targets::default()
        };
        assert!(matches!(
            check_bindings(&c, &t),
            Err(BindingError::Unsupported(..))
        ));
        let t = Targets {
            in_process_supported: true,
            ..t
        };
        assert_eq!(check_bindings(&c, &t).unwrap()[&main], Served::InProcess);
    }
}
