//! The control-plane exchanges as driver tasks: the long poll, a response POST and the
//! metadata fetch. Each sends the engine's request as it was built (every header set),
//! bounds what it reads, and reports the outcome as the engine's input, with the instant
//! the response head arrived (which anchors `response_timeout`).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_channel::Sender;
use async_io::Timer;
use bytes::Bytes;
use futures_lite::future;
use http::Request;
use tunnel_core::classify::TransportError;
use tunnel_core::engine::{HttpResponse, Input, PollId, PostError, PostId};

use crate::driver::{Msg, Task};
use crate::h1;
use crate::net::Dialer;

/// Body bounds for control-plane responses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// A 200 poll or metadata body.
    pub ok_body: usize,
    /// Any other body (errors, POST answers): this much is kept.
    pub other_body: usize,
}

/// One long poll.
pub(crate) fn poll(
    cp: Arc<Dialer>,
    tx: Sender<Msg>,
    id: PollId,
    request: Request<()>,
    timeout: Duration,
    limits: Limits,
) -> Task {
    Box::pin(async move {
        let (parts, _) = request.into_parts();
        let (received, result) = exchange(&cp, parts, &[], timeout, limits).await;
        let input = Input::Poll {
            id,
            received,
            wall: SystemTime::now(),
            result: result.map_err(|(e, _)| e),
        };
        let _ = tx.send(Msg::Engine(input)).await;
    })
}

/// One response POST; its answer is small whatever its status.
pub(crate) fn post(
    cp: Arc<Dialer>,
    tx: Sender<Msg>,
    id: PostId,
    request: Request<Bytes>,
    timeout: Duration,
    small: usize,
) -> Task {
    Box::pin(async move {
        let (parts, body) = request.into_parts();
        let limits = Limits {
            ok_body: small,
            other_body: small,
        };
        let (_, result) = exchange(&cp, parts, &body, timeout, limits).await;
        let result = result.map_err(|(error, written)| PostError { error, written });
        let wall = SystemTime::now();
        let _ = tx.send(Msg::Engine(Input::Post { id, wall, result })).await;
    })
}

/// The tunnel's metadata.
pub(crate) fn metadata(
    cp: Arc<Dialer>,
    tx: Sender<Msg>,
    request: Request<()>,
    timeout: Duration,
    limits: Limits,
) -> Task {
    Box::pin(async move {
        let (parts, _) = request.into_parts();
        let (_, result) = exchange(&cp, parts, &[], timeout, limits).await;
        let result = result.map_err(|(e, _)| e);
        let _ = tx.send(Msg::Engine(Input::Metadata { result })).await;
    })
}

/// A control-plane exchange: the response (body bounded) and when its head arrived, or the
/// failure with whether the request had been written.
async fn exchange(
    cp: &Dialer,
    parts: http::request::Parts,
    body: &[u8],
    timeout: Duration,
    limits: Limits,
) -> (Instant, Result<HttpResponse, (TransportError, bool)>) {
    let run = async {
        let mut resp =
            match h1::send(cp, &parts.method, &parts.uri, &parts.headers, body, None).await {
                Ok(r) => r,
                Err(e) => return (Instant::now(), Err(e)),
            };
        let at = Instant::now();
        let ok = resp.status == 200;
        let limit = if ok {
            limits.ok_body
        } else {
            limits.other_body
        };
        let body = resp.read_all(limit, ok).await;
        let mut response = |body| HttpResponse {
            status: resp.status,
            headers: std::mem::take(&mut resp.headers),
            body,
        };
        match body {
            Ok(b) => (at, Ok(response(Bytes::from(b)))),
            // A failed error body still carries the status, which is what matters.
            Err(_) if !ok => (at, Ok(response(Bytes::new()))),
            Err(e) => (at, Err((e, true))),
        }
    };
    let timed_out = async {
        Timer::after(timeout).await;
        (Instant::now(), Err((TransportError::Timeout, true)))
    };
    future::or(run, timed_out).await
}
