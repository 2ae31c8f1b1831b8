//! Loading the configuration again with placeholders for a wrong tunnel id and/or key, so the
//! checks after them (the MCP target, the health listener, …) still run and report.

use crate::config::{self, Env};

const PLACEHOLDER_TUNNEL: &str = "tunnel_00000000000000000000000000000000";
const PLACEHOLDER_KEY: &str = "doctor-placeholder-key";

/// An environment with placeholders for the tunnel id and/or key, so the checks after a
/// wrong id or key still run.
pub(super) struct Placeholders<'a> {
    pub(super) inner: &'a dyn Env,
    pub(super) tunnel: bool,
    pub(super) key: bool,
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
pub(super) fn without_settings(args: &[String], names: &[&str]) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
