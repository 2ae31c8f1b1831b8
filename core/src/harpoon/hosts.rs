//! The host-include rules (`--harpoon.hosts-include-*`): which hosts found in OAuth
//! metadata may be registered as Harpoon targets on their own (§1.10, §1.14).
//!
//! Only the literal hostname is looked at, never DNS, as in Go: `localhost` and loopback
//! IP literals (`loopback`), private IP literals (`private-ip`: 10/8, 172.16/12,
//! 192.168/16, fc00::/7), then the operator's suffixes (`suffix:.<s>`) and case-insensitive,
//! unanchored regexes (`regex:(?i:<p>)`). Link-local, CGNAT, unspecified and multicast
//! addresses are never "private" here (the address guard refuses the first at call time).

use std::fmt;
use std::net::IpAddr;

/// A regex that does not compile (Go: `invalid harpoon host regex "<raw>": …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRegex {
    pub raw: String,
    pub error: String,
}

impl fmt::Display for BadRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid harpoon host regex {:?}: {}",
            self.raw, self.error
        )
    }
}

impl std::error::Error for BadRegex {}

/// The classifier.
#[derive(Debug, Clone)]
pub struct HostRules {
    include_loopback: bool,
    include_private: bool,
    /// Lower-cased, each starting with `.`.
    suffixes: Vec<String>,
    /// `(?i:<pattern>)` and its compiled form.
    regexes: Vec<(String, regex_lite::Regex)>,
}

impl Default for HostRules {
    /// Go's defaults: loopback and private included, no suffix, no regex.
    fn default() -> Self {
        HostRules {
            include_loopback: true,
            include_private: true,
            suffixes: Vec::new(),
            regexes: Vec::new(),
        }
    }
}

/// Compiles one pattern the way the classifier uses it (`None` for a blank one).
fn compile(raw: &str) -> Result<Option<(String, regex_lite::Regex)>, BadRegex> {
    let p = raw.trim();
    if p.is_empty() {
        return Ok(None);
    }
    let wrapped = format!("(?i:{p})");
    regex_lite::Regex::new(&wrapped)
        .map(|r| Some((wrapped, r)))
        .map_err(|e| BadRegex {
            raw: raw.to_string(),
            error: e.to_string(),
        })
}

/// Checks a `--harpoon.hosts-include-regex` value at configuration time.
pub fn check_regex(raw: &str) -> Result<(), BadRegex> {
    compile(raw).map(|_| ())
}

/// An IP literal (brackets already stripped; an IPv6 zone is allowed and ignored).
fn ip_literal(host: &str) -> Option<IpAddr> {
    let h = host.split('%').next().unwrap_or(host);
    h.parse().ok()
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => v.is_loopback(),
        IpAddr::V6(v) => v
            .to_ipv4_mapped()
            .map_or(v.is_loopback(), |m| m.is_loopback()),
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => v.is_private(),
        IpAddr::V6(v) => match v.to_ipv4_mapped() {
            Some(m) => m.is_private(),
            None => v.segments()[0] & 0xfe00 == 0xfc00,
        },
    }
}

impl HostRules {
    pub fn new(
        include_loopback: bool,
        include_private: bool,
        suffixes: &[String],
        regexes: &[String],
    ) -> Result<HostRules, BadRegex> {
        let suffixes = suffixes
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.starts_with('.') {
                    s
                } else {
                    format!(".{s}")
                }
            })
            .collect();
        let mut compiled = Vec::new();
        for r in regexes {
            compiled.extend(compile(r)?);
        }
        Ok(HostRules {
            include_loopback,
            include_private,
            suffixes,
            regexes: compiled,
        })
    }

    /// `Some(reason)` when `host` (a URL's hostname, brackets stripped) counts as private.
    pub fn classify(&self, host: &str) -> Option<String> {
        let host = host.trim().to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        if host.is_empty() {
            return None;
        }
        if self.include_loopback && host == "localhost" {
            return Some("loopback".into());
        }
        if let Some(ip) = ip_literal(host) {
            if self.include_loopback && is_loopback(ip) {
                return Some("loopback".into());
            }
            if self.include_private && is_private(ip) {
                return Some("private-ip".into());
            }
        }
        for s in &self.suffixes {
            if host == &s[1..] || host.ends_with(s.as_str()) {
                return Some(format!("suffix:{s}"));
            }
        }
        self.regexes
            .iter()
            .find(|(_, r)| r.is_match(host))
            .map(|(p, _)| format!("regex:{p}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(lb: bool, pv: bool, suffixes: &[&str], regexes: &[&str]) -> HostRules {
        let s: Vec<String> = suffixes.iter().map(|s| s.to_string()).collect();
        let r: Vec<String> = regexes.iter().map(|s| s.to_string()).collect();
        HostRules::new(lb, pv, &s, &r).unwrap()
    }

    #[test]
    fn defaults_classify_loopback_and_private_literals() {
        let d = HostRules::default();
        for (h, why) in [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("localhost", "loopback"),
            ("LOCALHOST", "loopback"),
            ("localhost.", "loopback"),
            ("10.0.0.1", "private-ip"),
            ("172.16.5.4", "private-ip"),
            ("192.168.1.10", "private-ip"),
            ("fd00::1", "private-ip"),
            ("fe80::1%eth0", ""),
        ] {
            assert_eq!(d.classify(h).unwrap_or_default(), why, "{h}");
        }
        for h in [
            "foo.localhost",
            "notlocalhost",
            "localhost.example",
            "169.254.169.254",
            "fe80::1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "public.example.com",
            "172.32.0.1",
            "",
        ] {
            assert_eq!(d.classify(h), None, "{h}");
        }
    }

    #[test]
    fn switches_suffixes_and_regexes() {
        let off = rules(false, false, &[], &[]);
        assert_eq!(off.classify("127.0.0.1"), None);
        assert_eq!(off.classify("localhost"), None);
        assert_eq!(off.classify("10.0.0.1"), None);
        let r = rules(
            true,
            true,
            &[".internal", "CORP", " "],
            &["^auth[0-9]+\\.example\\.com$"],
        );
        assert_eq!(r.classify("auth.internal").unwrap(), "suffix:.internal");
        assert_eq!(r.classify("internal").unwrap(), "suffix:.internal");
        assert_eq!(r.classify("foo.corp").unwrap(), "suffix:.corp");
        assert_eq!(r.classify("xinternal"), None);
        assert_eq!(
            r.classify("AUTH12.Example.com").unwrap(),
            "regex:(?i:^auth[0-9]+\\.example\\.com$)"
        );
        assert_eq!(r.classify("public.example.com"), None);
        // Unanchored unless the pattern anchors itself, as in Go.
        let u = rules(true, true, &[], &["corp"]);
        assert!(u.classify("a.corp.example.com").is_some());
    }

    #[test]
    fn bad_regexes_are_refused_with_gos_text() {
        let e = check_regex("(unclosed").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("invalid harpoon host regex \"(unclosed\": "));
        assert!(check_regex("  ").is_ok());
        assert!(HostRules::new(true, true, &[], &["[".into()]).is_err());
    }
}
