//! `oauth_discovery` commands: the core's [`Discovery`] driven with this crate's HTTP/1.1
//! client, inside the driver future like any MCP exchange.
//!
//! The core decides which URLs to try, which redirects to follow (the client never follows
//! one by itself) and which document to select; this module performs each request, reads
//! at most `MAX_BODY + 1` bytes, and reports the outcome.

use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::future;
use http::HeaderMap;
use tunnel_core::classify::TransportError;
use tunnel_core::engine::McpOutput;
use tunnel_core::oauth::{self, Discovery, Step as Next};

use tunnel_core::engine::McpEvent;

use crate::driver::Task;
use crate::h1::{self, Tls};
use crate::mcp::Reply;

/// Bound on one discovery, as in Go (`DefaultDiscoveryTimeout`).
pub(crate) const BUDGET: Duration = Duration::from_secs(5);

/// The discovery `d` within `budget`; `headers` (from the engine: `User-Agent`) go on
/// every request.
pub(crate) fn discover(
    mut d: Discovery,
    headers: HeaderMap,
    tls: Tls,
    budget: Duration,
    reply: Reply,
) -> Task {
    Box::pin(async move {
        let end = Instant::now() + budget;
        loop {
            match d.poll() {
                Next::Request {
                    method,
                    uri,
                    headers: own,
                    timeout,
                } => {
                    let left = end.saturating_duration_since(Instant::now());
                    let mut h = headers.clone();
                    h.extend(own);
                    let fetch = async {
                        let mut resp = h1::send(&tls, &method, &uri, &h, &[])
                            .await
                            .map_err(|(e, _)| e)?;
                        let body = resp.read_all(oauth::MAX_BODY + 1, false).await?;
                        Ok((resp.status, std::mem::take(&mut resp.headers), body))
                    };
                    let expired = async {
                        Timer::after(timeout.min(left)).await;
                        Err(TransportError::Timeout)
                    };
                    match future::or(fetch, expired).await {
                        Ok((status, h, body)) => d.handle_response(status, &h, &body),
                        Err(e) => d.handle_error(e),
                    }
                }
                Next::Done(result) => {
                    let (found, what) = oauth::describe(&result);
                    let level = if found {
                        log::Level::Info
                    } else {
                        log::Level::Warn
                    };
                    log::log!(level, "oauth discovery for command {:?}: {what}", reply.cmd);
                    let out = McpOutput::Terminal(oauth::terminal(result));
                    reply.send(McpEvent::Output(out)).await;
                    return;
                }
            }
        }
    })
}
