//! Small grammars shared by flags, env vars and YAML: Go durations and booleans, tunnel
//! ids, channel and profile names, URLs, `host:port`, log levels and stdio command lines.

use std::time::Duration;

/// Parses a Go `time.ParseDuration` string: `300ms`, `1.5h`, `2h45m`, `-1s`, `0`.
/// Units: `ns`, `us`, `µs` (U+00B5), `μs` (U+03BC), `ms`, `s`, `m`, `h`. A bare number other
/// than `0` is rejected, as in Go. Returns signed nanoseconds.
///
/// humantime is not used: it accepts `d`, `w`, spaces and bare words Go rejects.
pub fn parse_go_duration(s: &str) -> Result<i128, String> {
    let orig = s;
    let bad = || {
        format!("invalid duration {orig:?}: use a number with a unit (ns, us, ms, s, m, h), e.g. 30s, 1m30s, 500ms")
    };
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = if let Some(a) = after.strip_prefix('.') {
            let n = a.bytes().take_while(u8::is_ascii_digit).count();
            a.split_at(n)
        } else {
            ("", after)
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let int: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| bad())?
        };
        let mut v = int.checked_mul(scale).ok_or_else(bad)?;
        if !frac_part.is_empty() {
            let digits = &frac_part[..frac_part.len().min(18)];
            let num: i128 = digits.parse().map_err(|_| bad())?;
            v += num * scale / 10i128.pow(digits.len() as u32);
        }
        total = total.checked_add(v).ok_or_else(bad)?;
        if total > i64::MAX as i128 {
            return Err(format!("invalid duration {orig:?}: out of range"));
        }
        rest = after;
    }
    Ok(if neg { -total } else { total })
}

/// A non-negative Go duration as [`Duration`].
pub fn duration_from_nanos(n: i128) -> Duration {
    Duration::from_nanos(n.max(0) as u64)
}

/// Formats a duration the way Go prints it (`1m30s`, `500ms`, `0s`).
pub fn format_go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (v, u) = if ns % 1_000_000 == 0 {
            (ns / 1_000_000, "ms")
        } else if ns % 1_000 == 0 {
            (ns / 1_000, "µs")
        } else {
            (ns, "ns")
        };
        return format!("{v}{u}");
    }
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s_ns = ns % 60_000_000_000;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let secs = s_ns / 1_000_000_000;
    let frac = s_ns % 1_000_000_000;
    if frac == 0 {
        out.push_str(&format!("{secs}s"));
    } else {
        let f = format!("{frac:09}");
        out.push_str(&format!("{secs}.{}s", f.trim_end_matches('0')));
    }
    out
}

/// Go `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go `strconv.Atoi` (decimal, optional sign).
pub fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `^tunnel_[a-z0-9]{32}$` on the trimmed value. The Go docs say "hex"; the Go code accepts
/// any lowercase letter, and so do we (go-cli-config.md §12: code wins).
pub fn valid_tunnel_id(s: &str) -> bool {
    s.strip_prefix("tunnel_").is_some_and(|r| {
        r.len() == 32
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// Canonical channel name check: `^[a-z0-9_-]{1,64}$`. Kept in one function so it can be
/// swapped for `tunnel_core::channel::ChannelName` later.
pub fn valid_channel(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Lowercases and trims a channel; empty means `main`.
pub fn normalize_channel(s: &str) -> String {
    let c = s.trim().to_ascii_lowercase();
    if c.is_empty() {
        "main".into()
    } else {
        c
    }
}

/// Profile name: `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`, not `.`/`..`.
pub fn valid_profile_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        && s != "."
        && s != ".."
}

/// The pieces of an absolute URL, split without allocating (no `url` crate: +186 KB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    pub userinfo: Option<&'a str>,
    /// Host with the port, if any.
    pub host_port: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

/// Splits `scheme://[userinfo@]host[:port][/path][?query][#fragment]`.
pub fn split_url(s: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = s.split_once("://")?;
    let mut sc = scheme.chars();
    if !sc.next()?.is_ascii_alphabetic()
        || !sc.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    Some(UrlParts {
        scheme,
        userinfo,
        host_port,
        path,
        query,
        fragment,
    })
}

/// The host of `host[:port]` (brackets kept for IPv6).
fn host_of(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return host_port.find(']').map_or(host_port, |i| &host_port[..=i]);
    }
    host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
}

/// A URL with a scheme and a non-empty host, no whitespace or control characters.
pub fn check_url(s: &str) -> Result<UrlParts<'_>, String> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("URL must not contain spaces or control characters".into());
    }
    let p = split_url(s).ok_or("URL must include a scheme and host, e.g. https://host/path")?;
    if host_of(p.host_port).is_empty() {
        return Err("URL must include a host".into());
    }
    Ok(p)
}

/// `host:port` with a numeric port; the host may be empty (`:8080`) or `[v6]`.
pub fn check_host_port(s: &str) -> Result<(), String> {
    let (host, port) = if let Some(r) = s.strip_prefix('[') {
        let (h, p) = r
            .split_once("]:")
            .ok_or("use host:port, e.g. 127.0.0.1:8080 or [::1]:8080")?;
        (h, p)
    } else {
        s.rsplit_once(':')
            .ok_or("use host:port, e.g. 127.0.0.1:8080 or :0")?
    };
    if host.contains(':') && !s.starts_with('[') {
        return Err("IPv6 hosts need brackets, e.g. [::1]:8080".into());
    }
    if host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err("the host part is not a host name or IP address".into());
    }
    match port.parse::<u32>() {
        Ok(p) if p <= 65535 && !port.starts_with('+') => Ok(()),
        _ => Err(format!("port {port:?} must be a number from 0 to 65535")),
    }
}

/// A Go `slog` level: `debug|info|warn|error` (case-insensitive) with an optional `+N`/`-N`.
/// Returns the canonical lowercase form (`info`, `debug+2`).
pub fn parse_log_level(s: &str) -> Option<String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(['+', '-']).unwrap_or(t.len());
    let (base, off) = t.split_at(split);
    if !matches!(base, "debug" | "info" | "warn" | "error") {
        return None;
    }
    if off.is_empty() {
        return Some(base.into());
    }
    let n: i32 = off.parse().ok()?;
    Some(if n == 0 {
        base.into()
    } else {
        format!("{base}{off}")
    })
}

/// Why a command line could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// A `'` or `"` was never closed.
    UnterminatedQuote(char),
    /// The line ends with a lone backslash.
    TrailingBackslash,
    /// Nothing but whitespace.
    Empty,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::UnterminatedQuote(q) => write!(f, "unterminated {q} quote"),
            SplitError::TrailingBackslash => {
                f.write_str("unterminated escape (trailing backslash)")
            }
            SplitError::Empty => f.write_str("the command line is empty"),
        }
    }
}

/// Splits a stdio command line shell-style, without a shell: whitespace separates words;
/// single quotes are literal; inside double quotes a backslash escapes `"`, `\\`, `$`,
/// `` ` `` and newline (POSIX; other backslashes stay, so `"C:\\dir"` survives); an unquoted backslash
/// escapes the next character; no variable expansion, no globbing.
///
/// Deliberate difference from Go: an empty quoted argument (`""` or `''`) is kept as an
/// empty argv entry (the Go tokenizer drops it), because servers that take an empty
/// argument must receive it.
pub fn split_command_line(s: &str) -> Result<Vec<String>, SplitError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(SplitError::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`' | '\n')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err(SplitError::UnterminatedQuote('"')),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(SplitError::UnterminatedQuote('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => cur.push(ch),
                    None => return Err(SplitError::TrailingBackslash),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    if out.is_empty() {
        return Err(SplitError::Empty);
    }
    Ok(out)
}
