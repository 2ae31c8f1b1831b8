//! Response POSTs: one at a time per command, notifications in stream order before the
//! terminal, retries with backoff that never outlive the command's deadline.
//!
//! Retry policy (terminal): transport failures, 408, 429, 502, 503, 504 are retried with the
//! identical request; 404 means the service already has a response (done, never replayed);
//! 413 is an operator problem (done, reported); anything else ends the command.
//! Notifications are retried only on 429 and on failures before the request was written,
//! because a notification the service may already have enqueued must not be sent twice. A
//! failed notification stops later notifications for the command, not its terminal.

use std::time::{Instant, SystemTime};

use super::{
    Action, CommandId, Engine, Event, HttpResponse, Phase, PostError, PostId, PostState, Timer,
};
use crate::backoff::with_retry_after;
use crate::retry_after::parse_retry_after;
use crate::wire::api_error::ApiError;
use crate::wire::response::RespType;

impl Engine {
    /// Sends the command's next POST if none is in flight or waiting to be retried.
    pub(super) fn pump_posts(&mut self, now: Instant, id: CommandId) {
        let Some(cmd) = self.cmds.get(&id) else {
            return;
        };
        if !matches!(cmd.post, PostState::Idle) {
            return;
        }
        if cmd.outbox.is_empty() {
            if matches!(cmd.phase, Phase::Posting) {
                // Terminal delivered or given up: nothing more for this command.
                self.remove_cmd(id);
            }
            return;
        }
        self.send_post(now, id, 1);
    }

    fn send_post(&mut self, now: Instant, id: CommandId, attempt: u32) {
        let timeout = self.cp_timeout();
        let Some(cmd) = self.cmds.get_mut(&id) else {
            return;
        };
        if cmd.deadline.is_some_and(|d| d <= now) {
            // Once the deadline has passed nothing is posted, whatever produced the response
            // (an MCP failure reported at the deadline must not race the deadline timer).
            self.on_deadline(now, id);
            return;
        }
        let Some(out) = cmd.outbox.front() else {
            return;
        };
        let timeout = match cmd.deadline {
            Some(d) => timeout.min(d.saturating_duration_since(now)),
            None => timeout,
        };
        let post_id = PostId(self.next_post);
        self.next_post += 1;
        let request = self.req.response(
            cmd.shard.expose(),
            cmd.client_request_id.as_deref(),
            out.body.clone(),
        );
        cmd.post = PostState::InFlight {
            id: post_id,
            attempt,
        };
        self.posts.insert(post_id, id);
        self.actions.push_back(Action::Post {
            id: post_id,
            request,
            timeout,
        });
    }

    pub(super) fn on_post_retry(&mut self, now: Instant, id: CommandId) {
        let Some(cmd) = self.cmds.get(&id) else {
            return;
        };
        if let PostState::RetryAt { attempt, .. } = cmd.post {
            self.send_post(now, id, attempt);
        }
    }

    /// Reports the outcome of a response POST attempt.
    pub fn handle_post_result(
        &mut self,
        now: Instant,
        wall: SystemTime,
        post: PostId,
        result: Result<HttpResponse, PostError>,
    ) {
        self.expire_due(now);
        let Some(id) = self.posts.remove(&post) else {
            return;
        };
        let Some(cmd) = self.cmds.get_mut(&id) else {
            return;
        };
        let PostState::InFlight { attempt, .. } = cmd.post else {
            return;
        };
        cmd.post = PostState::Idle;
        let Some(out) = cmd.outbox.front().cloned() else {
            return;
        };
        let terminal = out.resp_type.is_terminal();
        let status = result.as_ref().ok().map(|r| r.status);
        let retry_after = result
            .as_ref()
            .ok()
            .and_then(|r| r.headers.get(http::header::RETRY_AFTER))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, wall));
        let success = matches!(status, Some(200..=299));
        let retryable = match (&result, terminal) {
            (Ok(r), true) => matches!(r.status, 408 | 429 | 502 | 503 | 504),
            (Err(_), true) => true,
            (Ok(r), false) => r.status == 429,
            (Err(e), false) => !e.written,
        };
        let (rid, ch) = (cmd.request_id.clone(), cmd.channel.clone());

        if success || (terminal && status == Some(404)) {
            cmd.outbox.pop_front();
            cmd.post_backoff.reset();
            if terminal {
                self.events.push_back(Event::CommandCompleted {
                    request_id: rid,
                    channel: ch,
                    resp_type: out.resp_type,
                    resp_code: out.resp_code,
                    request_kind: cmd.request_kind,
                    method: cmd.method,
                    poll_to_response: now.saturating_duration_since(cmd.polled_at),
                    created_at: cmd.created_at.clone(),
                    already_fulfilled: !success,
                });
                cmd.outbox.clear();
            }
        } else if retryable && attempt < self.cfg.post_attempts {
            let delay = with_retry_after(cmd.post_backoff.next_delay(&mut self.rng), retry_after);
            let at = now.checked_add(delay).unwrap_or(now);
            if cmd.deadline.is_some_and(|d| at >= d) {
                // A retry would land after the deadline: the service has given up by then.
                self.give_up(id, out.resp_type, status, attempt, None);
            } else {
                let cmd = self.cmds.get_mut(&id);
                if let Some(cmd) = cmd {
                    cmd.post = PostState::RetryAt {
                        attempt: attempt + 1,
                    };
                }
                self.set_timer(at, Timer::PostRetry(id));
            }
        } else {
            let api_error = result.as_ref().ok().and_then(|r| ApiError::parse(&r.body));
            self.give_up(id, out.resp_type, status, attempt, api_error);
        }
        self.drive(now);
    }

    fn give_up(
        &mut self,
        id: CommandId,
        resp_type: RespType,
        status: Option<u16>,
        attempts: u32,
        api_error: Option<ApiError>,
    ) {
        let Some(cmd) = self.cmds.get_mut(&id) else {
            return;
        };
        let rid = cmd.request_id.clone();
        if resp_type.is_terminal() {
            cmd.outbox.clear();
            match status {
                Some(s @ 413) | Some(s @ (400..=499)) if s != 408 && s != 429 => {
                    self.events.push_back(Event::ResponseRejected {
                        request_id: rid,
                        status: s,
                        api_error,
                    });
                }
                _ => self.events.push_back(Event::ResponseDeliveryFailed {
                    request_id: rid,
                    status,
                    attempts,
                }),
            }
        } else {
            cmd.notify_failed = true;
            cmd.outbox.retain(|o| o.resp_type.is_terminal());
            self.events.push_back(Event::NotifyDeliveryFailed {
                request_id: rid,
                status,
            });
        }
    }
}
