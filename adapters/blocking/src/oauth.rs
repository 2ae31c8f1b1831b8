//! `oauth_discovery` commands: the core's [`Discovery`] driven with ureq.
//!
//! The core decides which URLs to try, which redirects to follow and which document to
//! select; this module performs each request (redirects off: the binding's agent never
//! follows them, so a 3xx reaches the state machine), reads at most `MAX_BODY + 1` bytes,
//! and hands the outcome back. It runs on the MCP worker pool like any MCP exchange.

use std::io::Read;
use std::time::{Duration, Instant};

use http::HeaderMap;
use tunnel_core::engine::McpOutput;
use tunnel_core::oauth::{self, Discovery, Step};

use crate::binding::McpSink;
use crate::errors::{classify, classify_io, Phase};

/// Bound on one discovery, as in Go (`DefaultDiscoveryTimeout`).
pub(crate) const BUDGET: Duration = Duration::from_secs(5);

/// Runs the discovery `d` within `budget`; `headers` (from the engine: `User-Agent`) go on
/// every request.
pub(crate) fn discover(
    agent: &ureq::Agent,
    mut d: Discovery,
    headers: &HeaderMap,
    budget: Duration,
    sink: &McpSink,
) {
    let end = Instant::now() + budget;
    loop {
        if sink.is_cancelled() {
            return;
        }
        match d.poll() {
            Step::Request {
                method,
                uri,
                headers: own,
                timeout,
            } => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    d.handle_error(tunnel_core::classify::TransportError::Timeout);
                    continue;
                }
                let mut request = http::Request::new(());
                *request.method_mut() = method;
                *request.uri_mut() = uri;
                let h = request.headers_mut();
                h.extend(headers.clone());
                h.extend(own);
                let request = agent
                    .configure_request(request)
                    .timeout_global(Some(timeout.min(left)))
                    .build();
                match agent.run(request) {
                    Err(e) => d.handle_error(classify(&e, Phase::Head)),
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        let mut buf = Vec::new();
                        let cap = oauth::MAX_BODY as u64 + 1;
                        match body.into_reader().take(cap).read_to_end(&mut buf) {
                            Ok(_) => d.handle_response(parts.status.as_u16(), &parts.headers, &buf),
                            Err(e) => d.handle_error(classify_io(&e, Phase::Body)),
                        }
                    }
                }
            }
            Step::Done(result) => {
                let (found, what) = oauth::describe(&result);
                let level = if found {
                    log::Level::Info
                } else {
                    log::Level::Warn
                };
                log::log!(
                    level,
                    "oauth discovery for command {:?}: {what}",
                    sink.command()
                );
                sink.output(McpOutput::Terminal(oauth::terminal(result)));
                return;
            }
        }
    }
}
