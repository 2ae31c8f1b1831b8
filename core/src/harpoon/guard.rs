//! The address guard (beyond Go, §1.10): before a Harpoon request connects, every address
//! its host resolved to is checked, and the connection goes to an address that passed.
//!
//! Reaching loopback and private networks is Harpoon's purpose (the allowlist of exact
//! URLs is the guard there), but cloud-metadata and link-local addresses hold instance
//! credentials: a DNS answer that points an allowlisted name at them (rebinding, a
//! poisoned record) must not turn Harpoon into a credential fetcher. Such addresses are
//! refused unless the target explicitly allows them (`allow-link-local=true`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// A cloud metadata endpoint outside link-local (fd00:ec2::254, 100.100.100.200).
    Metadata,
    /// 0.0.0.0 / `::`: "this host" on some stacks.
    Unspecified,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::LinkLocal => "link-local address",
            Refusal::Metadata => "cloud metadata address",
            Refusal::Unspecified => "unspecified address",
        })
    }
}

/// The operator-facing text for a refused connection to `ip`.
pub fn refusal_text(ip: IpAddr, why: Refusal) -> String {
    format!(
        "address guard refused {ip} ({why}); set allow-link-local=true on the target only if it really is served there"
    )
}

fn v4(ip: Ipv4Addr) -> Option<Refusal> {
    let o = ip.octets();
    if o[0] == 169 && o[1] == 254 {
        Some(Refusal::LinkLocal)
    } else if o == [100, 100, 100, 200] {
        Some(Refusal::Metadata)
    } else if ip.is_unspecified() {
        Some(Refusal::Unspecified)
    } else {
        None
    }
}

fn v6(ip: Ipv6Addr) -> Option<Refusal> {
    if let Some(m) = ip.to_ipv4_mapped() {
        return v4(m);
    }
    let s = ip.segments();
    if s[0] & 0xffc0 == 0xfe80 {
        Some(Refusal::LinkLocal)
    } else if s == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] {
        Some(Refusal::Metadata)
    } else if ip.is_unspecified() {
        Some(Refusal::Unspecified)
    } else {
        None
    }
}

/// Checks one address. `allow_link_local` lifts the link-local and metadata refusals.
pub fn check(ip: IpAddr, allow_link_local: bool) -> Result<(), Refusal> {
    let r = match ip {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(a) => v6(a),
    };
    match r {
        Some(Refusal::Unspecified) => Err(Refusal::Unspecified),
        Some(_) if allow_link_local => Ok(()),
        Some(r) => Err(r),
        None => Ok(()),
    }
}

/// The guard of one registry: [`check`] on every resolved address, lifted for the hosts of
/// targets registered with `allow-link-local=true`. Both adapters apply it to what they
/// resolved and connect only to an address that passed.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    permissive: Vec<String>,
}

impl AddressPolicy {
    pub fn new(registry: &super::registry::Registry) -> AddressPolicy {
        AddressPolicy {
            permissive: registry
                .targets()
                .iter()
                .filter(|t| t.allow_link_local)
                .map(|t| t.url.hostname())
                .collect(),
        }
    }

    /// `Ok` when `ip` (resolved for `host`, brackets allowed) may be connected to; else the
    /// operator-facing refusal ([`refusal_text`]).
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let allow = self.permissive.iter().any(|p| p.eq_ignore_ascii_case(host));
        check(ip, allow).map_err(|why| refusal_text(ip, why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn metadata_and_link_local_are_refused_unless_allowed() {
        for (a, why) in [
            ("169.254.169.254", Refusal::LinkLocal),
            ("169.254.0.1", Refusal::LinkLocal),
            ("fe80::1", Refusal::LinkLocal),
            ("febf::1", Refusal::LinkLocal),
            ("fd00:ec2::254", Refusal::Metadata),
            ("100.100.100.200", Refusal::Metadata),
            ("::ffff:169.254.169.254", Refusal::LinkLocal),
        ] {
            assert_eq!(check(ip(a), false), Err(why), "{a}");
            assert_eq!(check(ip(a), true), Ok(()), "{a}");
        }
        for a in ["0.0.0.0", "::"] {
            assert_eq!(check(ip(a), true), Err(Refusal::Unspecified));
        }
    }

    #[test]
    fn loopback_private_and_public_addresses_pass() {
        for a in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "fd00::1",
            "100.64.0.1",
            "8.8.8.8",
            "fec0::1",
        ] {
            assert_eq!(check(ip(a), false), Ok(()), "{a}");
        }
        assert!(refusal_text(ip("169.254.169.254"), Refusal::LinkLocal)
            .contains("169.254.169.254 (link-local address)"));
    }
}
