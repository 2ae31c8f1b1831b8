//! Which runner serves each channel, and the MCP exchanges that are one future each:
//! Streamable HTTP targets and in-process handlers. (A stdio channel is long-lived state
//! of its own, `crate::stdio`.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::Sender;
use async_io::Timer;
use futures_lite::future;
use http::{Method, Uri};
use serde_json::value::RawValue;
use tunnel_core::channel::ChannelName;
use tunnel_core::classify::{TransportError, TunnelFailure};
use tunnel_core::engine::{
    BindingKind, CommandId, EngineConfig, McpOp, McpOutput, McpWork, Terminal,
};
use tunnel_core::wire::response::RespHeaders;

use crate::driver::{Input, Step, Task};
use crate::h1::{self, Tls};
use crate::{InProcessHandler, RuntimeOptions, StartError};

#[derive(Clone)]
pub(crate) enum Binding {
    Http(Uri),
    InProcess(Arc<dyn InProcessHandler>),
    /// Served by the driver's `StdioChannel` of the same channel.
    Stdio,
}

fn target_error(channel: &ChannelName, what: &str) -> StartError {
    StartError::Target(format!("channel {channel}: {what}"))
}

/// Checks that every engine binding has a runner here, and every stdio command a binding.
pub(crate) fn bindings(
    cfg: &EngineConfig,
    opts: &RuntimeOptions,
) -> Result<HashMap<ChannelName, Binding>, StartError> {
    let mut out = HashMap::new();
    for b in &cfg.bindings {
        let binding = match b.kind {
            BindingKind::Http => {
                let t = opts
                    .mcp_targets
                    .iter()
                    .find(|t| t.channel == b.channel)
                    .ok_or_else(|| {
                        target_error(&b.channel, "HTTP binding without an MCP server URL")
                    })?;
                let uri: Uri = t.url.parse().map_err(|_| {
                    StartError::Target(format!("MCP server URL {:?} is not a valid URL", t.url))
                })?;
                if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                    return Err(StartError::Target(format!(
                        "MCP server URL {:?} must be http:// or https:// with a host",
                        t.url
                    )));
                }
                Binding::Http(uri)
            }
            BindingKind::InProcess => {
                let h = opts
                    .in_process
                    .iter()
                    .find(|(c, _)| *c == b.channel)
                    .ok_or_else(|| {
                        target_error(&b.channel, "in-process binding without a handler")
                    })?;
                Binding::InProcess(Arc::clone(&h.1))
            }
            BindingKind::Stdio => {
                let n = opts
                    .stdio_targets
                    .iter()
                    .filter(|t| t.channel == b.channel)
                    .count();
                match n {
                    0 => {
                        return Err(target_error(
                            &b.channel,
                            "stdio binding without an MCP command",
                        ))
                    }
                    1 => Binding::Stdio,
                    _ => return Err(target_error(&b.channel, "more than one MCP target")),
                }
            }
        };
        out.insert(b.channel.clone(), binding);
    }
    if let Some(t) = opts
        .stdio_targets
        .iter()
        .find(|t| !matches!(out.get(&t.channel), Some(Binding::Stdio)))
    {
        return Err(target_error(
            &t.channel,
            "MCP command given but the engine has no stdio binding for it",
        ));
    }
    Ok(out)
}

/// Reports the steps of one command to the driver; false once the driver is gone.
#[derive(Clone)]
pub(crate) struct Reply {
    pub(crate) tx: Sender<Input>,
    pub(crate) cmd: CommandId,
}

impl Reply {
    pub(crate) async fn send(&self, step: Step) -> bool {
        let cmd = self.cmd;
        self.tx.send(Input::Mcp { cmd, step }).await.is_ok()
    }
}

/// One message to an in-process handler: its notifications, then the terminal.
pub(crate) fn in_process(handler: Arc<dyn InProcessHandler>, work: McpWork, reply: Reply) -> Task {
    Box::pin(async move {
        let McpOp::Send {
            message,
            expects_response,
            ..
        } = work.op
        else {
            reply
                .send(Step::Output(McpOutput::Terminal(Terminal::Abandon {
                    reason: "in-process bindings only take JSON-RPC messages",
                })))
                .await;
            return;
        };
        let answer = handler.call(message.get()).await;
        for n in answer.notifications {
            if let Ok(raw) = RawValue::from_string(n) {
                if !reply.send(Step::Output(McpOutput::Notify(raw))).await {
                    return;
                }
            }
        }
        let mut json_headers = RespHeaders::new();
        json_headers.insert("Content-Type".into(), vec!["application/json".into()]);
        let invalid = |headers| Terminal::Failure {
            failure: TunnelFailure::protocol_invalid_response(),
            resp_code: 502,
            headers,
        };
        let terminal = match (answer.response, expects_response) {
            (Some(r), true) => match RawValue::from_string(r) {
                Ok(json) => Terminal::JsonRpc {
                    json,
                    status: 200,
                    headers: json_headers,
                },
                Err(_) => invalid(json_headers),
            },
            (None, true) => invalid(json_headers),
            (_, false) => Terminal::Ack {
                status: 200,
                headers: RespHeaders::new(),
            },
        };
        reply
            .send(Step::Output(McpOutput::Terminal(terminal)))
            .await;
    })
}

/// One exchange with a Streamable HTTP target, bounded by the command's deadline and the
/// connection TTL; or the output to report at once when there is nothing to send.
pub(crate) fn http(
    uri: Uri,
    work: McpWork,
    tls: Tls,
    ttl: Duration,
    reply: Reply,
) -> Result<Task, McpOutput> {
    let cmd = work.cmd;
    let (bound, by_ttl) = match work.io_deadline() {
        None => (ttl, true),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            (left.min(ttl), ttl < left)
        }
    };
    let (method, headers, body) = match work.op {
        McpOp::Send {
            message,
            mut headers,
            ..
        } => {
            tunnel_core::mcp_http::json_content_type_unless_set(&mut headers);
            (Method::POST, headers, message.get().as_bytes().to_vec())
        }
        McpOp::TerminateSession { headers, .. } => (Method::DELETE, headers, Vec::new()),
        McpOp::OAuthDiscovery {
            headers,
            static_headers,
        } => {
            let budget = bound.min(crate::oauth::BUDGET);
            let d = tunnel_core::oauth::Discovery::new(&uri).with_static_headers(static_headers);
            return Ok(crate::oauth::discover(d, headers, tls, budget, reply));
        }
    };
    Ok(Box::pin(async move {
        let run = async {
            let mut resp = match h1::send(&tls, &method, &uri, &headers, &body).await {
                Ok(r) => r,
                Err((e, _)) => {
                    reply.send(Step::Error(e)).await;
                    return;
                }
            };
            let head = Step::Head(resp.status, std::mem::take(&mut resp.headers));
            if !reply.send(head).await {
                return;
            }
            loop {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        if !reply.send(Step::Body(c)).await {
                            return;
                        }
                    }
                    Ok(None) => {
                        reply.send(Step::End).await;
                        return;
                    }
                    Err(e) => {
                        reply.send(Step::Error(e)).await;
                        return;
                    }
                }
            }
        };
        let expired = async {
            Timer::after(bound).await;
            if by_ttl {
                log::info!("MCP connection TTL ({bound:?}) reached for command {cmd:?}; stopping response forwarding");
                reply.send(Step::Error(TransportError::Canceled)).await;
            }
            // Otherwise the command's deadline: the engine's own timer ends it.
        };
        future::or(run, expired).await;
    }))
}
