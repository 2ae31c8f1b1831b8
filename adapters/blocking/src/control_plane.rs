//! Control-plane exchanges: the long poll (its own thread, one at a time), response POSTs and
//! the metadata fetch (on the poster pool).
//!
//! Requests arrive from the engine fully built (every header set); this module only sends
//! them with the action's timeout, bounds what it reads, and reports the outcome with the
//! instant the response head arrived (which anchors `response_timeout`).

use std::io::Read;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::Request;
use tunnel_core::classify::TransportError;
use tunnel_core::engine::{HttpResponse, PollId, PostError, PostId};
use tunnel_core::explain::Explainer;

use tunnel_core::engine::Input;

use crate::driver::ToDriver;
use crate::errors::{classify, classify_io, Phase};

/// Body bounds for control-plane responses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// A 200 poll or metadata body.
    pub ok_body: usize,
    /// Any other body (errors, POST answers): read this much and keep it, drop the rest.
    pub other_body: usize,
}

/// Logs why a control-plane request failed below HTTP, in the operator's words
/// (`tunnel_core::explain`).
pub(crate) fn explain(kind: TransportError, e: &ureq::Error) {
    static LAST: std::sync::Mutex<Explainer> = std::sync::Mutex::new(Explainer::new());
    let mut x = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(line) = x.explain(kind, &e.to_string()) {
        log::warn!("{line}");
    }
}

/// A poll for the poller thread.
pub(crate) struct PollJob {
    pub id: PollId,
    pub request: Request<()>,
    pub timeout: Duration,
}

/// Sends `request` and reads the response within `limits`. Returns when the head arrived
/// (or the failure, with the instant it happened).
pub(crate) fn send<B: ureq::AsSendBody>(
    agent: &ureq::Agent,
    request: Request<B>,
    timeout: Duration,
    limits: Limits,
) -> (Instant, Result<HttpResponse, (TransportError, ureq::Error)>) {
    let request = agent
        .configure_request(request)
        .timeout_global(Some(timeout))
        .build();
    let response = match agent.run(request) {
        Ok(r) => r,
        Err(e) => {
            let kind = classify(&e, Phase::Head);
            explain(kind, &e);
            return (Instant::now(), Err((kind, e)));
        }
    };
    let at = Instant::now();
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    let ok = status == 200;
    let limit = if ok {
        limits.ok_body
    } else {
        limits.other_body
    };
    let mut buf = Vec::new();
    // One byte more than allowed tells "exactly at the limit" from "over it".
    let read = body
        .into_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut buf);
    match read {
        Err(e) if ok => {
            let kind = classify_io(&e, Phase::Body);
            return (at, Err((kind, ureq::Error::Io(e))));
        }
        // A failed error body still carries the status, which is what matters.
        Err(_) => {}
        Ok(_) if buf.len() > limit && ok => {
            let e = ureq::Error::BodyExceedsLimit(limit as u64);
            return (at, Err((TransportError::Other, e)));
        }
        Ok(_) => buf.truncate(limit),
    }
    (
        at,
        Ok(HttpResponse {
            status,
            headers: parts.headers,
            body: Bytes::from(buf),
        }),
    )
}

/// One poll, on a thread of the poll pool (one long poll, a few more while the service has
/// a backlog: the engine decides); its outcome goes to the driver.
pub(crate) fn poll_once(agent: &ureq::Agent, job: PollJob, tx: &Sender<ToDriver>, limits: Limits) {
    let (at, result) = send(agent, job.request, job.timeout, limits);
    let result = result.map_err(|(kind, e)| {
        log::debug!("poll failed: {e}");
        kind
    });
    let _ = tx.send(ToDriver::Engine(Input::Poll {
        id: job.id,
        received: at,
        wall: SystemTime::now(),
        result,
    }));
}

/// Whether a failed POST may have reached the service. Only failures before any byte of
/// the request could be written are "not written"; everything else might have landed (a
/// notification is then not re-sent, so it cannot be enqueued twice).
pub(crate) fn post_was_written(kind: TransportError, err: &ureq::Error) -> bool {
    if let ureq::Error::Timeout(t) = err {
        return !matches!(
            t,
            ureq::Timeout::Resolve | ureq::Timeout::Connect | ureq::Timeout::SendRequest
        );
    }
    !matches!(
        kind,
        TransportError::Dns
            | TransportError::Tls
            | TransportError::ConnectionRefused
            | TransportError::NetworkUnreachable
            | TransportError::HostUnreachable
            | TransportError::Dial
    )
}

/// One response POST (on a poster thread).
pub(crate) fn post(
    agent: &ureq::Agent,
    id: PostId,
    request: Request<Bytes>,
    timeout: Duration,
    limits: Limits,
    tx: &Sender<ToDriver>,
) {
    let (mut parts, body) = request.into_parts();
    // Stated up front (ureq would send the same length): the timing middleware reads it
    // for `http_client_request_body_size_bytes`.
    parts.headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(body.len()),
    );
    let request = Request::from_parts(parts, &body[..]);
    let (_, result) = send(agent, request, timeout, limits);
    let result = result.map_err(|(kind, e)| {
        log::debug!("response POST failed: {e}");
        PostError {
            error: kind,
            written: post_was_written(kind, &e),
        }
    });
    let wall = SystemTime::now();
    let _ = tx.send(ToDriver::Engine(Input::Post { id, wall, result }));
}

/// The metadata fetch (on a poster thread).
pub(crate) fn metadata(
    agent: &ureq::Agent,
    request: Request<()>,
    timeout: Duration,
    limits: Limits,
    tx: &Sender<ToDriver>,
) {
    let (_, result) = send(agent, request, timeout, limits);
    let result = result.map_err(|(kind, e)| {
        log::debug!("metadata fetch failed: {e}");
        kind
    });
    let _ = tx.send(ToDriver::Engine(Input::Metadata { result }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_were_not_written() {
        let e = ureq::Error::Timeout(ureq::Timeout::Connect);
        assert!(!post_was_written(TransportError::Timeout, &e));
        let e = ureq::Error::Timeout(ureq::Timeout::RecvResponse);
        assert!(post_was_written(TransportError::Timeout, &e));
        let e = ureq::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(!post_was_written(TransportError::ConnectionRefused, &e));
        let e = ureq::Error::Io(std::io::ErrorKind::ConnectionReset.into());
        assert!(post_was_written(TransportError::ConnectionReset, &e));
    }
}
