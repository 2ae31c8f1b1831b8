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
use tunnel_core::engine::{CommandId, EngineConfig, McpOp, McpOutput, McpWork, Terminal};
use tunnel_core::wire::response::RespHeaders;

use tunnel_core::engine::{check_bindings, McpEvent, Served, Targets};

use crate::driver::{Msg, Task};
use crate::h1;
use crate::net::{Dialer, Net};
use crate::{InProcessHandler, RuntimeOptions, StartError};

#[derive(Clone)]
pub(crate) enum Binding {
    /// The endpoint and the way there (for the `harpoon` channel a placeholder URL: every
    /// hop is a fetch to a URL of its own).
    Http(Uri, Arc<Dialer>),
    InProcess(Arc<dyn InProcessHandler>),
    /// Served by the driver's `StdioChannel` of the same channel.
    Stdio,
}

/// The core's binding check (`tunnel_core::engine::check_bindings`), then a runner for
/// each channel (and the `harpoon` channel when Harpoon is on).
pub(crate) fn bindings(
    cfg: &EngineConfig,
    opts: &RuntimeOptions,
    net: &Net,
) -> Result<HashMap<ChannelName, Binding>, StartError> {
    let targets = Targets {
        http: opts
            .mcp_targets
            .iter()
            .map(|t| (&t.channel, t.url.as_str()))
            .collect(),
        stdio: opts.stdio_targets.iter().map(|t| &t.channel).collect(),
        in_process: opts.in_process.iter().map(|(c, _)| c).collect(),
        in_process_supported: true,
    };
    let served = check_bindings(cfg, &targets).map_err(|e| StartError::Target(e.to_string()))?;
    let mut out = HashMap::new();
    for (ch, s) in served {
        let binding = match s {
            Served::Http(uri) => {
                let t = opts.mcp_targets.iter().find(|t| t.channel == ch);
                let t = t.ok_or_else(|| StartError::Target(format!("channel {ch}: no target")))?;
                Binding::Http(uri, net.binding(t, &opts.tls)?)
            }
            Served::Stdio => Binding::Stdio,
            Served::InProcess => match opts.in_process.iter().find(|(c, _)| *c == ch) {
                Some((_, h)) => Binding::InProcess(Arc::clone(h)),
                None => continue, // impossible: the check matched a handler
            },
        };
        out.insert(ch, binding);
    }
    // Also with no target yet: discovery may register hosts while the tunnel runs.
    if let Some(server) = cfg.harpoon.as_ref() {
        let ch = tunnel_core::engine::HARPOON.parse::<ChannelName>();
        let ch = ch.map_err(|_| StartError::Target("harpoon channel name".into()))?;
        let placeholder = Uri::from_static("http://harpoon.invalid/");
        out.insert(
            ch,
            Binding::Http(placeholder, net.harpoon(&server.registry, &opts.tls)?),
        );
    }
    Ok(out)
}

/// Reports the steps of one command to the driver; false once the driver is gone.
#[derive(Clone)]
pub(crate) struct Reply {
    pub(crate) tx: Sender<Msg>,
    pub(crate) cmd: CommandId,
    /// Which start of `cmd` this task is (`Msg::Mcp`).
    pub(crate) generation: u64,
}

impl Reply {
    pub(crate) async fn send(&self, event: McpEvent) -> bool {
        let (cmd, generation) = (self.cmd, self.generation);
        let msg = Msg::Mcp {
            cmd,
            generation,
            event,
        };
        self.tx.send(msg).await.is_ok()
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
                .send(McpEvent::Output(McpOutput::Terminal(Terminal::Abandon {
                    reason: "in-process bindings only take JSON-RPC messages",
                })))
                .await;
            return;
        };
        let answer = handler.call(message.get()).await;
        for n in answer.notifications {
            if let Ok(raw) = RawValue::from_string(n) {
                if !reply.send(McpEvent::Output(McpOutput::Notify(raw))).await {
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
            .send(McpEvent::Output(McpOutput::Terminal(terminal)))
            .await;
    })
}

/// One exchange with a Streamable HTTP target, bounded by the command's deadline and the
/// connection TTL; or the output to report at once when there is nothing to send.
pub(crate) fn http(
    mut uri: Uri,
    work: McpWork,
    dialer: Arc<Dialer>,
    ttl: Duration,
    reply: Reply,
) -> Result<Task, McpOutput> {
    let cmd = work.cmd;
    let limit = work.bound(Instant::now(), ttl);
    let unix = work.unix_socket;
    let bound = limit.timeout;
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
        // A request the engine makes itself (an OAuth discovery step, a Harpoon hop):
        // another URL (this client never follows a redirect by itself).
        McpOp::Fetch {
            method,
            uri: target,
            headers,
            body,
        } => {
            uri = target;
            (method, headers, body.to_vec())
        }
    };
    Ok(Box::pin(async move {
        let run = async {
            let unix = unix.as_deref().map(std::path::Path::new);
            let mut resp = match h1::send(&dialer, &method, &uri, &headers, &body, unix).await {
                Ok(r) => r,
                Err((e, _)) => {
                    reply.send(McpEvent::Error(e)).await;
                    return;
                }
            };
            let head = McpEvent::Head {
                status: resp.status,
                headers: std::mem::take(&mut resp.headers),
            };
            if !reply.send(head).await {
                return;
            }
            loop {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        if !reply.send(McpEvent::Body(c.into())).await {
                            return;
                        }
                    }
                    Ok(None) => {
                        reply.send(McpEvent::End).await;
                        return;
                    }
                    Err(e) => {
                        reply.send(McpEvent::Error(e)).await;
                        return;
                    }
                }
            }
        };
        let expired = async {
            Timer::after(bound).await;
            if limit.by_ttl {
                log::info!("{}", limit.ttl_reached(cmd));
                reply.send(McpEvent::Error(TransportError::Canceled)).await;
            }
            // Otherwise the command's deadline: the engine's own timer ends it.
        };
        future::or(run, expired).await;
    }))
}
