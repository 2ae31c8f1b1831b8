//! Which headers cross which boundary.
//!
//! The tunnel sits between three parties and must not leak headers between them:
//!
//! * **MCP response → control plane** ([`sanitize_response_headers`]): only the few headers a
//!   connector needs to speak MCP (content type, session and protocol version, auth
//!   challenges, resumption id, CORS exposure) are relayed. Anything else — cookies, server
//!   banners, internal routing headers of the customer's network — stays inside it.
//! * **Command → MCP request** ([`forward_request_headers`]): the connector's headers are
//!   passed through, but never ones that describe a *hop* (connection management, framing)
//!   or that would let the control plane impersonate a browser origin or redirect the
//!   request to another virtual host.
//! * **Operator config → control plane** ([`is_reserved_control_plane_header`]): extra
//!   headers can never override the ones that identify and authenticate the client.
//!
//! It also builds `X-Tunnel-MCP-Server-Info`, the header that tells the control plane which
//! channels this process serves ([`build_server_info`]).

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::channel::ChannelName;

/// Response headers relayed to the control plane, in the canonical spelling used on the wire.
pub const RELAYED_RESPONSE_HEADERS: [&str; 6] = [
    "Access-Control-Expose-Headers",
    "Content-Type",
    "Last-Event-Id",
    "Mcp-Protocol-Version",
    "Mcp-Session-Id",
    "Www-Authenticate",
];

/// Headers that only describe one connection (RFC 9110 §7.6.1, plus the legacy
/// `Keep-Alive` and `Proxy-Connection`); they never travel from one hop to the next.
pub const HOP_BY_HOP_HEADERS: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `Accept` sent to the MCP server when the command has none (Streamable HTTP requires both).
pub const DEFAULT_MCP_ACCEPT: &str = "application/json, text/event-stream";
/// `Content-Type` of the JSON-RPC body sent to the MCP server when the command has none.
pub const DEFAULT_MCP_CONTENT_TYPE: &str = "application/json";

/// Header names the client sets on control-plane requests and that operator extra headers
/// may not replace.
///
/// The first seven are the Go client's protected set: they authenticate and identify this
/// client. We also protect `X-Tunnel-Shard-Token` and `Content-Type`, which Go lets an
/// extra header override: the shard token routes each response to the command it answers
/// and the content type tells the service how to parse the body, so overriding either can
/// only turn every response POST into a misrouted or rejected request.
pub const RESERVED_CONTROL_PLANE_HEADERS: [&str; 9] = [
    "Authorization",
    "Accept",
    "User-Agent",
    "X-Tunnel-Client-Name",
    "X-Tunnel-Client-Version",
    "X-Tunnel-Client-Instance-Id",
    "X-Tunnel-MCP-Server-Info",
    "X-Tunnel-Shard-Token",
    "Content-Type",
];

/// Whether an operator extra header named `name` would collide with a header the client
/// owns on control-plane requests (case-insensitive).
pub fn is_reserved_control_plane_header(name: &str) -> bool {
    RESERVED_CONTROL_PLANE_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name.trim()))
}

/// Lower-cased tokens of every `Connection` value: the extra headers the sender declared
/// hop-by-hop for this connection.
fn connection_tokens<'a>(values: impl Iterator<Item = &'a [u8]>) -> HashSet<String> {
    values
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Response headers to relay to the control plane: the allowlist of
/// [`RELAYED_RESPONSE_HEADERS`] under their canonical names, minus headers the response's
/// `Connection` header nominates, minus empty values. Multiple values keep their order.
///
/// Values that are not valid UTF-8 are relayed with replacement characters (the wire is
/// JSON); nothing is dropped for it.
pub fn sanitize_response_headers(headers: &HeaderMap) -> BTreeMap<String, Vec<String>> {
    let nominated = connection_tokens(
        headers
            .get_all(header::CONNECTION)
            .iter()
            .map(HeaderValue::as_bytes),
    );
    let mut out = BTreeMap::new();
    for canonical in RELAYED_RESPONSE_HEADERS {
        let lower = canonical.to_ascii_lowercase();
        if nominated.contains(&lower) {
            continue;
        }
        let values: Vec<String> = headers
            .get_all(lower.as_str())
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .filter(|v| !v.trim().is_empty())
            .collect();
        if !values.is_empty() {
            out.insert(canonical.to_string(), values);
        }
    }
    out
}

/// Whether a header from a command must not be forwarded to the MCP server.
fn is_dropped_command_header(name: &HeaderName) -> bool {
    is_transport_managed(name) || name == header::ORIGIN
}

/// Headers the HTTP client computes itself for each hop: forwarding a stale copy would
/// corrupt framing (`Content-Length`, `Transfer-Encoding`) or route the request to the
/// wrong virtual host (`Host`: the target's own authority is always used).
fn is_transport_managed(name: &HeaderName) -> bool {
    name == header::HOST
        || name == header::CONTENT_LENGTH
        || HOP_BY_HOP_HEADERS.contains(&name.as_str())
}

/// The operator's static headers for OAuth discovery requests (Go's order,
/// `go-harpoon-oauth-security.md` §2.10): the MCP extra headers, then the discovery extra
/// headers, each replacing same-named values of the first. Transport-managed names are
/// left out, as for command requests.
pub fn discovery_static_headers(
    extra_headers: &[(HeaderName, HeaderValue)],
    discovery_headers: &[(HeaderName, HeaderValue)],
) -> HeaderMap {
    let mut out = HeaderMap::new();
    for list in [extra_headers, discovery_headers] {
        let mut replaced: HashSet<&HeaderName> = HashSet::new();
        for (name, value) in list {
            if is_transport_managed(name) {
                continue;
            }
            if replaced.insert(name) {
                out.remove(name);
            }
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Headers for the MCP request carrying a command.
///
/// Layering, later wins: the operator's `extra_headers` (e.g. a static API key for the MCP
/// server), then every header of the command, each replacing all same-named values. Never
/// forwarded from the command: hop-by-hop headers, `Host`, `Content-Length`, `Origin` (the
/// tunnel is not a browser; a forged origin would defeat the server's DNS-rebinding
/// checks) and any header the command's own `Connection` header nominates. Names or values
/// that are not valid HTTP (possible, since they come from JSON) are skipped, never fatal.
/// Same-named entries of the command that differ only in case are merged in order.
/// Finally `Accept` and `Content-Type` get the Streamable HTTP defaults if still absent.
pub fn forward_request_headers(
    command_headers: &[(String, Vec<String>)],
    extra_headers: &[(HeaderName, HeaderValue)],
) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in extra_headers {
        if !is_transport_managed(name) {
            out.append(name.clone(), value.clone());
        }
    }

    let nominated = connection_tokens(
        command_headers
            .iter()
            .filter(|(name, _)| name.trim().eq_ignore_ascii_case("connection"))
            .flat_map(|(_, values)| values.iter().map(String::as_bytes)),
    );
    let mut replaced: HashSet<HeaderName> = HashSet::new();
    for (name, values) in command_headers {
        let Ok(name) = HeaderName::from_bytes(name.trim().as_bytes()) else {
            continue;
        };
        if is_dropped_command_header(&name) || nominated.contains(name.as_str()) {
            continue;
        }
        if replaced.insert(name.clone()) {
            out.remove(&name);
        }
        for value in values {
            if let Ok(value) = HeaderValue::from_str(value) {
                out.append(name.clone(), value);
            }
        }
    }

    if !out.contains_key(header::ACCEPT) {
        out.insert(header::ACCEPT, HeaderValue::from_static(DEFAULT_MCP_ACCEPT));
    }
    if !out.contains_key(header::CONTENT_TYPE) {
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(DEFAULT_MCP_CONTENT_TYPE),
        );
    }
    out
}

/// Most channels one process may advertise.
pub const MAX_SERVER_INFO_CHANNELS: usize = 32;
/// Largest `X-Tunnel-MCP-Server-Info` value, in bytes.
pub const MAX_SERVER_INFO_BYTES: usize = 4096;

/// One channel as advertised in `X-Tunnel-MCP-Server-Info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfoChannel {
    pub name: ChannelName,
    /// The binding is tied to this process (stdio child, in-process handler), so the
    /// control plane should keep a session's commands on this poller.
    pub proc_affinity: bool,
}

/// Why `X-Tunnel-MCP-Server-Info` could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerInfoError {
    /// More than [`MAX_SERVER_INFO_CHANNELS`] channels.
    TooManyChannels { count: usize },
    /// The same channel configured twice.
    DuplicateChannel { name: ChannelName },
    /// The encoded header exceeds [`MAX_SERVER_INFO_BYTES`].
    TooLarge { bytes: usize },
}

impl fmt::Display for ServerInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerInfoError::TooManyChannels { count } => write!(
                f,
                "{count} MCP channels configured; at most {MAX_SERVER_INFO_CHANNELS} can be advertised to the control plane"
            ),
            ServerInfoError::DuplicateChannel { name } => {
                write!(f, "MCP channel {name:?} is configured more than once")
            }
            ServerInfoError::TooLarge { bytes } => write!(
                f,
                "X-Tunnel-MCP-Server-Info would be {bytes} bytes; at most {MAX_SERVER_INFO_BYTES} are allowed"
            ),
        }
    }
}

impl std::error::Error for ServerInfoError {}

/// Builds the compact JSON value of `X-Tunnel-MCP-Server-Info` (version 1), channels in the
/// given order, `proc_affinity` only when true:
/// `{"version":1,"channels":[{"name":"main"},{"name":"x","proc_affinity":true}]}`.
pub fn build_server_info(channels: &[ServerInfoChannel]) -> Result<String, ServerInfoError> {
    if channels.len() > MAX_SERVER_INFO_CHANNELS {
        return Err(ServerInfoError::TooManyChannels {
            count: channels.len(),
        });
    }
    let mut seen = HashSet::new();
    let mut out = String::from(r#"{"version":1,"channels":["#);
    for (i, channel) in channels.iter().enumerate() {
        if !seen.insert(channel.name.as_str()) {
            return Err(ServerInfoError::DuplicateChannel {
                name: channel.name.clone(),
            });
        }
        if i > 0 {
            out.push(',');
        }
        // Canonical names are `[a-z0-9_-]`: nothing to escape.
        out.push_str(r#"{"name":""#);
        out.push_str(channel.name.as_str());
        out.push('"');
        if channel.proc_affinity {
            out.push_str(r#","proc_affinity":true"#);
        }
        out.push('}');
    }
    out.push_str("]}");
    if out.len() > MAX_SERVER_INFO_BYTES {
        return Err(ServerInfoError::TooLarge { bytes: out.len() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(HeaderName, HeaderValue)> {
        list.iter()
            .map(|(k, v)| (k.parse().unwrap(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn discovery_headers_override_mcp_extra_headers_by_name() {
        let extra = pairs(&[
            ("X-Gateway-Key", "general"),
            ("X-Team", "a"),
            ("Host", "evil"),
        ]);
        let disc = pairs(&[("x-gateway-key", "discovery"), ("X-Scope", "s")]);
        let m = discovery_static_headers(&extra, &disc);
        assert_eq!(values(&m, "x-gateway-key"), vec!["discovery"]);
        assert_eq!(values(&m, "x-team"), vec!["a"]);
        assert_eq!(values(&m, "x-scope"), vec!["s"]);
        assert!(!m.contains_key("host"));
        assert_eq!(
            values(&discovery_static_headers(&extra, &[]), "x-gateway-key"),
            vec!["general"]
        );
    }

    fn cmd(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    fn values(m: &HeaderMap, name: &str) -> Vec<String> {
        m.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn sanitize_keeps_only_allowlisted_headers_under_canonical_names() {
        let h = map(&[
            ("content-type", "text/event-stream"),
            ("mcp-session-id", "s1"),
            ("MCP-Protocol-Version", "2025-11-25"),
            ("www-authenticate", "Bearer resource_metadata=\"x\""),
            ("last-event-id", "9"),
            ("access-control-expose-headers", "Mcp-Session-Id"),
            ("set-cookie", "secret=1"),
            ("server", "nginx"),
            ("x-internal", "yes"),
        ]);
        let s = sanitize_response_headers(&h);
        let keys: Vec<&str> = s.keys().map(String::as_str).collect();
        assert_eq!(keys, RELAYED_RESPONSE_HEADERS.to_vec());
        assert_eq!(s["Mcp-Protocol-Version"], vec!["2025-11-25"]);
    }

    #[test]
    fn sanitize_preserves_multiple_values_in_order() {
        let h = map(&[
            ("www-authenticate", "Bearer a"),
            ("www-authenticate", "Basic b"),
        ]);
        assert_eq!(
            sanitize_response_headers(&h)["Www-Authenticate"],
            vec!["Bearer a", "Basic b"]
        );
    }

    #[test]
    fn sanitize_drops_connection_nominated_headers() {
        let h = map(&[
            ("connection", "keep-alive, Mcp-Session-Id"),
            ("connection", " content-type "),
            ("mcp-session-id", "s1"),
            ("content-type", "application/json"),
            ("mcp-protocol-version", "v"),
        ]);
        let s = sanitize_response_headers(&h);
        assert_eq!(s.keys().collect::<Vec<_>>(), vec!["Mcp-Protocol-Version"]);
    }

    #[test]
    fn sanitize_drops_empty_values() {
        let h = map(&[
            ("mcp-session-id", ""),
            ("content-type", "a"),
            ("content-type", ""),
        ]);
        let s = sanitize_response_headers(&h);
        assert!(!s.contains_key("Mcp-Session-Id"));
        assert_eq!(s["Content-Type"], vec!["a"]);
        assert!(sanitize_response_headers(&map(&[("mcp-session-id", "")])).is_empty());
    }

    #[test]
    fn sanitize_relays_non_utf8_values_lossily() {
        let mut h = HeaderMap::new();
        h.insert(
            "mcp-session-id",
            HeaderValue::from_bytes(b"a\xFFb").unwrap(),
        );
        assert_eq!(
            sanitize_response_headers(&h)["Mcp-Session-Id"],
            vec!["a\u{FFFD}b"]
        );
    }

    #[test]
    fn forward_command_headers_replace_operator_headers() {
        let extra = [
            (
                HeaderName::from_static("authorization"),
                HeaderValue::from_static("Bearer operator"),
            ),
            (
                HeaderName::from_static("x-static"),
                HeaderValue::from_static("1"),
            ),
        ];
        let h = forward_request_headers(
            &cmd(&[("Authorization", &["Bearer user", "second"])]),
            &extra,
        );
        assert_eq!(values(&h, "authorization"), vec!["Bearer user", "second"]);
        assert_eq!(values(&h, "x-static"), vec!["1"]);
    }

    #[test]
    fn forward_drops_hop_by_hop_host_origin_and_length() {
        let c = cmd(&[
            ("Connection", &["close"]),
            ("Keep-Alive", &["timeout=5"]),
            ("Proxy-Connection", &["keep-alive"]),
            ("Proxy-Authenticate", &["x"]),
            ("Proxy-Authorization", &["x"]),
            ("TE", &["trailers"]),
            ("Trailer", &["x"]),
            ("Transfer-Encoding", &["chunked"]),
            ("Upgrade", &["websocket"]),
            ("Host", &["evil.example"]),
            ("Origin", &["https://evil.example"]),
            ("Content-Length", &["5"]),
            ("Mcp-Session-Id", &["s1"]),
        ]);
        let h = forward_request_headers(&c, &[]);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["accept", "content-type", "mcp-session-id"]);
    }

    #[test]
    fn forward_drops_headers_the_command_connection_nominates() {
        let c = cmd(&[
            ("Connection", &["X-Hop, x-other"]),
            ("X-Hop", &["1"]),
            ("X-Other", &["2"]),
            ("X-Kept", &["3"]),
        ]);
        let h = forward_request_headers(&c, &[]);
        assert!(!h.contains_key("x-hop") && !h.contains_key("x-other"));
        assert_eq!(values(&h, "x-kept"), vec!["3"]);
    }

    #[test]
    fn forward_keeps_operator_origin() {
        let extra = [(
            header::ORIGIN,
            HeaderValue::from_static("https://ok.example"),
        )];
        let h = forward_request_headers(&cmd(&[("Origin", &["https://evil.example"])]), &extra);
        assert_eq!(values(&h, "origin"), vec!["https://ok.example"]);
    }

    #[test]
    fn forward_defaults_accept_and_content_type() {
        let h = forward_request_headers(&[], &[]);
        assert_eq!(values(&h, "accept"), vec![DEFAULT_MCP_ACCEPT]);
        assert_eq!(values(&h, "content-type"), vec![DEFAULT_MCP_CONTENT_TYPE]);
        let h = forward_request_headers(&cmd(&[("accept", &["text/event-stream"])]), &[]);
        assert_eq!(values(&h, "accept"), vec!["text/event-stream"]);
    }

    #[test]
    fn forward_skips_invalid_names_and_values() {
        let c = cmd(&[
            ("Bad Name", &["1"]),
            ("", &["1"]),
            ("X-Ok", &["good", "bad\r\nInjected: 1", "also\0bad", ""]),
        ]);
        let h = forward_request_headers(&c, &[]);
        assert_eq!(values(&h, "x-ok"), vec!["good", ""]);
        assert!(!h.contains_key("injected"));
    }

    #[test]
    fn forward_merges_case_variant_command_headers() {
        let c = cmd(&[("X-A", &["1"]), ("x-a", &["2"])]);
        assert_eq!(
            values(&forward_request_headers(&c, &[]), "x-a"),
            vec!["1", "2"]
        );
    }

    #[test]
    fn reserved_control_plane_headers_are_case_insensitive() {
        for name in [
            "authorization",
            "ACCEPT",
            "x-tunnel-mcp-server-info",
            "X-Tunnel-Client-Instance-Id",
            "x-tunnel-shard-token",
            "content-type",
        ] {
            assert!(is_reserved_control_plane_header(name), "{name}");
        }
        assert!(!is_reserved_control_plane_header("OpenAI-Organization"));
        assert!(!is_reserved_control_plane_header("X-Custom"));
    }

    fn ch(name: &str, proc_affinity: bool) -> ServerInfoChannel {
        ServerInfoChannel {
            name: ChannelName::canonical(name).unwrap(),
            proc_affinity,
        }
    }

    #[test]
    fn server_info_has_the_documented_shape() {
        assert_eq!(
            build_server_info(&[ch("main", false), ch("harpoon", true)]).unwrap(),
            r#"{"version":1,"channels":[{"name":"main"},{"name":"harpoon","proc_affinity":true}]}"#
        );
        assert_eq!(
            build_server_info(&[]).unwrap(),
            r#"{"version":1,"channels":[]}"#
        );
    }

    #[test]
    fn server_info_refuses_duplicate_channels() {
        assert_eq!(
            build_server_info(&[ch("a", false), ch("b", false), ch("a", true)]),
            Err(ServerInfoError::DuplicateChannel {
                name: ChannelName::canonical("a").unwrap()
            })
        );
    }

    #[test]
    fn server_info_allows_32_channels_and_refuses_33() {
        let mk = |n: usize| {
            (0..n)
                .map(|i| ch(&format!("{i:0>64}"), true))
                .collect::<Vec<_>>()
        };
        let ok = build_server_info(&mk(32)).unwrap();
        assert!(ok.len() <= MAX_SERVER_INFO_BYTES);
        assert_eq!(
            build_server_info(&mk(33)),
            Err(ServerInfoError::TooManyChannels { count: 33 })
        );
    }

    #[test]
    fn server_info_is_valid_json_and_a_valid_header_value() {
        let v = build_server_info(&[ch("main", false), ch("x_y-1", true)]).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&v).unwrap();
        assert_eq!(parsed["channels"][1]["proc_affinity"], true);
        assert!(HeaderValue::from_str(&v).is_ok());
    }

    #[test]
    fn server_info_errors_read_well() {
        assert_eq!(
            ServerInfoError::TooManyChannels { count: 40 }.to_string(),
            "40 MCP channels configured; at most 32 can be advertised to the control plane"
        );
    }

    fn header_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Connection".to_string()),
            Just("content-type".to_string()),
            Just("Mcp-Session-Id".to_string()),
            Just("Host".to_string()),
            Just("Origin".to_string()),
            Just("transfer-encoding".to_string()),
            Just("X-A".to_string()),
            "[A-Za-z-]{1,10}",
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn prop_forward_never_panics_and_never_forwards_dropped_headers(
            c in proptest::collection::vec((header_name(), proptest::collection::vec(
                prop_oneof!["[ -~]{0,12}", any::<String>(), Just("x-a, mcp-session-id".to_string())], 0..3)), 0..8),
        ) {
            let h = forward_request_headers(&c, &[]);
            let nominated = connection_tokens(
                c.iter().filter(|(n, _)| n.trim().eq_ignore_ascii_case("connection"))
                    .flat_map(|(_, vs)| vs.iter().map(String::as_bytes)),
            );
            for name in h.keys() {
                prop_assert!(!is_dropped_command_header(name));
                prop_assert!(!nominated.contains(name.as_str()));
            }
            prop_assert!(h.contains_key(header::ACCEPT) && h.contains_key(header::CONTENT_TYPE));
        }

        #[test]
        fn prop_sanitize_output_is_allowlisted_and_non_empty(
            pairs in proptest::collection::vec((header_name(), "[ -~]{0,12}"), 0..10),
        ) {
            let mut h = HeaderMap::new();
            for (k, v) in &pairs {
                if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                    h.append(k, v);
                }
            }
            let s = sanitize_response_headers(&h);
            for (k, vs) in &s {
                prop_assert!(RELAYED_RESPONSE_HEADERS.contains(&k.as_str()));
                prop_assert!(!vs.is_empty() && vs.iter().all(|v| !v.trim().is_empty()));
                prop_assert_eq!(vs.len(), h.get_all(k.as_str()).iter().filter(|v| !v.as_bytes().trim_ascii().is_empty()).count());
            }
        }

        #[test]
        fn prop_server_info_succeeds_iff_unique_and_bounded(
            names in proptest::collection::vec("[a-z0-9_-]{1,8}", 0..40),
            affinity in any::<bool>(),
        ) {
            let channels: Vec<_> = names.iter().map(|n| ch(n, affinity)).collect();
            let unique = names.iter().collect::<HashSet<_>>().len() == names.len();
            match build_server_info(&channels) {
                Ok(v) => {
                    prop_assert!(unique && names.len() <= 32 && v.len() <= MAX_SERVER_INFO_BYTES);
                    let parsed: serde_json::Value = serde_json::from_str(&v).unwrap();
                    prop_assert_eq!(parsed["channels"].as_array().unwrap().len(), names.len());
                }
                Err(_) => prop_assert!(!unique || names.len() > 32),
            }
        }
    }
}
