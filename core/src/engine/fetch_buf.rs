//! Buffering one engine-made fetch (OAuth discovery step, startup discovery step, Harpoon
//! hop) from its MCP events into "a whole response" or "a transport error".
//!
//! Why one place: all three machines want the same thing from the adapter's events — the
//! head, at most `cap` body bytes (callers pass their limit + 1 so an oversized body is
//! seen as oversized, never silently truncated), and the end — and they had three copies.

use http::HeaderMap;

use super::McpEvent;
use crate::classify::TransportError;

/// What one event did to a fetch.
pub(super) enum Fed {
    /// Nothing decided yet.
    More,
    /// The response is complete (or has reached `cap`): its head, if one arrived.
    Done(Option<(u16, HeaderMap)>),
    /// The exchange failed.
    Failed(TransportError),
}

/// Feeds `event` into `head`/`body`, keeping at most `cap` body bytes.
pub(super) fn feed(
    head: &mut Option<(u16, HeaderMap)>,
    body: &mut Vec<u8>,
    event: McpEvent,
    cap: usize,
) -> Fed {
    match event {
        McpEvent::Head { status, headers } => {
            *head = Some((status, headers));
            Fed::More
        }
        McpEvent::Body(chunk) => {
            let room = cap.saturating_sub(body.len());
            body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or(&[]));
            if body.len() >= cap {
                Fed::Done(head.take())
            } else {
                Fed::More
            }
        }
        McpEvent::End => Fed::Done(head.take()),
        McpEvent::Response {
            status,
            headers,
            body: whole,
        } => {
            *head = None;
            *body = whole.get(..cap.min(whole.len())).unwrap_or(&[]).to_vec();
            Fed::Done(Some((status, headers)))
        }
        McpEvent::Error(e) => Fed::Failed(e),
        // Nothing else reports on a fetch.
        McpEvent::Output(_) => Fed::More,
    }
}
