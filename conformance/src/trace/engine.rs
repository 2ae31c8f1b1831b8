//! What replays and the recorder share with tunnel-core: the engine configuration a trace
//! asks for, and the trace spelling of transport errors.

use std::time::Duration;

use tunnel_core::channel::ChannelName;
use tunnel_core::classify::TransportError;
use tunnel_core::engine::{Binding, BindingKind, EngineConfig};

use super::format::{BindingSpec, TraceConfig};

/// The API key every replay uses (traces carry `<redacted:api_key>` instead).
pub const REPLAY_API_KEY: &str = "replay-api-key";
/// The instance id every replay uses.
pub const REPLAY_INSTANCE_ID: &str = "0123456789abcdef0123456789abcdef";

/// Spelling of a transport error in a trace (the contract's `transport_error_kind` names,
/// plus `canceled` and `other`).
pub fn error_name(e: TransportError) -> &'static str {
    match e {
        TransportError::Dns => "dns",
        TransportError::Tls => "tls",
        TransportError::ConnectionRefused => "connection_refused",
        TransportError::NetworkUnreachable => "network_unreachable",
        TransportError::HostUnreachable => "host_unreachable",
        TransportError::Dial => "dial",
        TransportError::Timeout => "timeout",
        TransportError::ConnectionReset => "connection_reset",
        TransportError::ConnectionAborted => "connection_aborted",
        TransportError::ConnectionClosed => "connection_closed",
        TransportError::ClosedPipe => "closed_pipe",
        TransportError::Eof => "eof",
        TransportError::UnexpectedEof => "unexpected_eof",
        TransportError::Canceled => "canceled",
        TransportError::Other => "other",
    }
}

/// The transport error a trace names (`other` for anything unknown).
pub fn error_from_name(s: &str) -> TransportError {
    TransportError::ALL
        .into_iter()
        .find(|e| error_name(*e) == s)
        .unwrap_or(TransportError::Other)
}

fn kind_of(s: &str) -> BindingKind {
    match s {
        "stdio" => BindingKind::Stdio,
        "in_process" => BindingKind::InProcess,
        _ => BindingKind::Http,
    }
}

fn kind_name(k: BindingKind) -> &'static str {
    match k {
        BindingKind::Http => "http",
        BindingKind::Stdio => "stdio",
        BindingKind::InProcess => "in_process",
    }
}

/// The engine configuration a trace was recorded with, pointed at `base_url` with `api_key`.
pub fn engine_config(
    c: &TraceConfig,
    base_url: &str,
    api_key: &str,
) -> Result<EngineConfig, String> {
    let uri = base_url
        .parse()
        .map_err(|e| format!("base URL {base_url:?}: {e}"))?;
    let mut cfg = EngineConfig::new(uri, &c.tunnel_id, api_key);
    cfg.url_path = c.url_path.clone();
    cfg.instance_id = REPLAY_INSTANCE_ID.to_string();
    cfg.max_inflight = c.max_inflight;
    cfg.max_concurrent = c.max_concurrent;
    cfg.poll_timeout = Duration::from_millis(c.poll_timeout_ms);
    cfg.poll_guardrail = Duration::from_millis(c.poll_guardrail_ms);
    cfg.poll_channels = match &c.poll_channels {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|s| ChannelName::canonical(s).map_err(|e| format!("channel {s:?}: {e}")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let mcp_extra = header_list(&c.mcp_extra_headers)?;
    cfg.discovery_extra_headers = header_list(&c.discovery_extra_headers)?;
    cfg.bindings = c
        .bindings
        .iter()
        .map(|b| {
            let kind = kind_of(&b.kind);
            Ok(Binding {
                channel: ChannelName::canonical(&b.channel)
                    .map_err(|e| format!("binding {:?}: {e}", b.channel))?,
                kind,
                extra_headers: if kind == BindingKind::Http {
                    mcp_extra.clone()
                } else {
                    Vec::new()
                },
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(cfg)
}

/// A trace's operator header map as the engine takes it.
fn header_list(
    map: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, String> {
    map.iter()
        .map(|(k, v)| {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("header name {k:?}: {e}"))?;
            let value =
                http::HeaderValue::from_str(v).map_err(|e| format!("header {k:?} value: {e}"))?;
            Ok((name, value))
        })
        .collect()
}

/// The trace configuration of a live engine configuration (for the recorder).
pub fn trace_config(cfg: &EngineConfig) -> TraceConfig {
    TraceConfig {
        tunnel_id: cfg.tunnel_id.clone(),
        url_path: cfg.url_path.clone(),
        max_inflight: cfg.max_inflight,
        max_concurrent: cfg.max_concurrent,
        poll_timeout_ms: u64::try_from(cfg.poll_timeout.as_millis()).unwrap_or(u64::MAX),
        poll_guardrail_ms: u64::try_from(cfg.poll_guardrail.as_millis()).unwrap_or(u64::MAX),
        poll_channels: cfg
            .poll_channels
            .as_ref()
            .map(|v| v.iter().map(|c| c.to_string()).collect()),
        bindings: cfg
            .bindings
            .iter()
            .map(|b| BindingSpec {
                channel: b.channel.to_string(),
                kind: kind_name(b.kind).to_string(),
            })
            .collect(),
        // Operator headers are secrets: a recorded trace never carries them.
        mcp_extra_headers: Default::default(),
        discovery_extra_headers: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_round_trip() {
        for name in [
            "eof",
            "unexpected_eof",
            "connection_refused",
            "timeout",
            "canceled",
        ] {
            assert_eq!(error_name(error_from_name(name)), name);
        }
        assert_eq!(error_from_name("nonsense"), TransportError::Other);
    }

    #[test]
    fn configs_round_trip() {
        let c = TraceConfig {
            poll_channels: Some(vec!["main".into(), "beta".into()]),
            ..TraceConfig::default()
        };
        let e = engine_config(&c, "http://127.0.0.1:1", "k").unwrap();
        let mut back = trace_config(&e);
        back.poll_channels = back.poll_channels.map(|mut v| {
            v.sort();
            v
        });
        let mut want = c.clone();
        want.poll_channels = Some(vec!["beta".into(), "main".into()]);
        assert_eq!(back.tunnel_id, want.tunnel_id);
        assert_eq!(back.bindings, want.bindings);
    }
}
