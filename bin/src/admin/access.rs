//! Who may use the admin UI and its API (go-runtime.md §9.1, with two additions).
//!
//! - **Peer**: loopback only unless `--allow-remote-ui` (Go's rule and message).
//! - **Host** (ours): without `--allow-remote-ui` the `Host` header must name a loopback
//!   address or `localhost`. A page on `http://evil.example` whose name is re-pointed to
//!   127.0.0.1 (DNS rebinding) talks to us from a loopback peer; its `Host` still says
//!   `evil.example`, so it is refused and cannot read the logs or the bundle.
//! - **Same origin** for anything that changes state (`PUT /api/log-level`):
//!   `Sec-Fetch-Site: cross-site` / `same-site` is refused; an `Origin` (or, without one, a
//!   `Referer`) must be `http://<Host>`; `Origin: null` is refused. Requests without these
//!   headers (curl, scripts) are allowed, as in Go: they are not a browser being tricked.

use std::net::IpAddr;

use crate::daemon::listener::{Request, Response};

pub const REMOTE_REFUSED: &str =
    "admin UI is restricted to loopback; set --allow-remote-ui to override\n";

pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The host part of a `Host` header value (`[::1]:8080` → `::1`, `localhost:80` →
/// `localhost`).
fn host_name(host: &str) -> &str {
    let h = host.trim();
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => h,
    }
}

fn loopback_host(host: &str) -> bool {
    let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(is_loopback)
}

/// Checks the peer and the `Host` header of an admin request.
pub fn check_peer(req: &Request, allow_remote: bool) -> Result<(), Response> {
    if allow_remote {
        return Ok(());
    }
    if !is_loopback(req.peer.ip()) {
        return Err(Response::text(403, REMOTE_REFUSED));
    }
    match req.header("host") {
        Some(h) if loopback_host(h) => Ok(()),
        // HTTP/1.0 without Host: the peer check already passed.
        None => Ok(()),
        Some(_) => Err(Response::text(
            403,
            "admin UI: the Host header must be localhost or a loopback address (DNS rebinding protection); set --allow-remote-ui to serve other names\n",
        )),
    }
}

/// The `scheme://host[:port]` part of a URL, lowercased.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    Some(format!("{}://{}", scheme, authority).to_ascii_lowercase())
}

/// Refuses cross-origin browser requests that would change state.
pub fn check_same_origin(req: &Request) -> Result<(), Response> {
    let refuse = |why: &str| {
        Err(Response::text(
            403,
            format!("cross-origin request refused: {why}\n"),
        ))
    };
    if let Some(site) = req.header("sec-fetch-site") {
        if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
            return refuse(&format!("Sec-Fetch-Site: {site}"));
        }
    }
    let host = req.header("host").unwrap_or("").to_ascii_lowercase();
    let expected = format!("http://{host}");
    if let Some(origin) = req.header("origin") {
        return match origin_of(origin) {
            Some(o) if o == expected => Ok(()),
            _ => refuse(&format!("Origin {origin} is not {expected}")),
        };
    }
    if let Some(referer) = req.header("referer") {
        return match origin_of(referer) {
            Some(o) if o == expected => Ok(()),
            _ => refuse("Referer is another origin"),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(peer: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: "PUT".into(),
            path: "/api/log-level".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
            body: Vec::new(),
            peer: peer.parse().unwrap(),
        }
    }

    #[test]
    fn remote_peers_are_refused_unless_allowed() {
        let local = req("127.0.0.1:5", &[("host", "127.0.0.1:8080")]);
        assert!(check_peer(&local, false).is_ok());
        let mapped = req("[::ffff:127.0.0.1]:5", &[("host", "localhost:8080")]);
        assert!(check_peer(&mapped, false).is_ok());
        let v6 = req("[::1]:5", &[("host", "[::1]:8080")]);
        assert!(check_peer(&v6, false).is_ok());
        let remote = req("10.1.2.3:5", &[("host", "10.1.2.4:8080")]);
        let r = check_peer(&remote, false).unwrap_err();
        assert_eq!(r.status, 403);
        assert_eq!(String::from_utf8_lossy(&r.body), REMOTE_REFUSED);
        assert!(check_peer(&remote, true).is_ok());
    }

    #[test]
    fn rebinding_hosts_are_refused() {
        let r = req("127.0.0.1:5", &[("host", "evil.example:8080")]);
        assert_eq!(check_peer(&r, false).unwrap_err().status, 403);
        assert!(check_peer(&r, true).is_ok());
        let ok = req("127.0.0.1:5", &[("host", "app.localhost")]);
        assert!(check_peer(&ok, false).is_ok());
    }

    #[test]
    fn state_changes_need_the_same_origin() {
        let h = ("host", "127.0.0.1:8080");
        assert!(check_same_origin(&req("127.0.0.1:5", &[h])).is_ok());
        assert!(check_same_origin(&req(
            "127.0.0.1:5",
            &[h, ("origin", "http://127.0.0.1:8080")]
        ))
        .is_ok());
        for bad in [
            vec![h, ("origin", "http://evil.example")],
            vec![h, ("origin", "null")],
            vec![h, ("origin", "http://127.0.0.1:9999")],
            vec![h, ("referer", "http://evil.example/x")],
            vec![h, ("sec-fetch-site", "cross-site")],
            vec![h, ("sec-fetch-site", "same-site")],
        ] {
            assert_eq!(
                check_same_origin(&req("127.0.0.1:5", &bad))
                    .unwrap_err()
                    .status,
                403,
                "{bad:?}"
            );
        }
        assert!(check_same_origin(&req(
            "127.0.0.1:5",
            &[h, ("referer", "http://127.0.0.1:8080/ui")]
        ))
        .is_ok());
    }
}
