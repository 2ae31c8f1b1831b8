//! `oauth_discovery` commands inside the engine: the core's [`Discovery`] runs within the
//! command's lifecycle, and each of its HTTP steps leaves the engine as an ordinary MCP
//! request ([`McpOp::Fetch`]) that the adapter performs like any other (same pool, proxy,
//! TLS; redirects never followed by the client). The budget and each step's timeout are
//! engine timers; the response comes back as the usual `Input::Mcp` events, buffered here
//! up to [`oauth::MAX_BODY`] + 1 bytes.
//!
//! With Harpoon configured, a discovery that found the metadata then fetches the metadata
//! of `authorization_servers[0]` (within the same budget) and registers the hosts of both
//! (§1.14) before the response is posted, as the Go client does.

use std::time::{Duration, Instant};

use http::{HeaderMap, Uri};

use super::fetch_buf::Fed;
use super::Timer;
use super::{Action, BindingKind, CommandId, Engine, Event, McpEvent, McpOp, McpOutput, McpWork};
use crate::classify::TransportError;
use crate::oauth::auth_server::AuthServerDiscovery;
use crate::oauth::discovery::urls::Origin;
use crate::oauth::{self, Discovery, Step};

/// Bound on one discovery, as in Go (`DefaultDiscoveryTimeout`).
pub const DISCOVERY_BUDGET: Duration = Duration::from_secs(5);
/// How much later than the engine's own timer the adapter's bound of a step ends: the
/// engine decides a timeout, the adapter's bound is only a backstop.
const BACKSTOP: Duration = Duration::from_secs(1);

/// A discovery in progress.
#[derive(Debug)]
pub(super) struct Running {
    d: Discovery,
    /// Sent on every request (`User-Agent`).
    headers: HeaderMap,
    end: Instant,
    head: Option<(u16, HeaderMap)>,
    body: Vec<u8>,
    /// `--mcp.extra-headers` for requests on the MCP server's origin.
    static_headers: HeaderMap,
    /// The metadata was found; the authorization server's is being fetched.
    found: Option<(oauth::Found, bool)>,
    auth: Option<AuthServerDiscovery>,
}

impl Engine {
    /// The main channel's MCP URL, where `oauth_discovery` looks (set by the adapter for
    /// a Streamable HTTP main channel).
    pub fn set_oauth_target(&mut self, mcp_url: Uri) {
        self.oauth_url = Some(mcp_url);
    }

    pub(super) fn start_discovery(
        &mut self,
        now: Instant,
        id: CommandId,
        headers: HeaderMap,
        static_headers: HeaderMap,
    ) {
        let url = self.oauth_url.clone().unwrap_or_default();
        let deadline = self.cmds.get(&id).and_then(|c| c.deadline);
        let end = now + DISCOVERY_BUDGET;
        let end = deadline.map_or(end, |d| d.min(end));
        let running = Running {
            d: Discovery::new(&url).with_static_headers(static_headers.clone()),
            headers,
            end,
            head: None,
            body: Vec::new(),
            static_headers,
            found: None,
            auth: None,
        };
        self.discoveries.insert(id, running);
        self.advance_discovery(now, id);
    }

    /// Runs the discovery to its next request (queued as `StartMcp`) or its outcome.
    fn advance_discovery(&mut self, now: Instant, id: CommandId) {
        loop {
            let Some(r) = self.discoveries.get_mut(&id) else {
                return;
            };
            if let Some(a) = &mut r.auth {
                match a.poll() {
                    Some(rq) => {
                        let left = r.end.saturating_duration_since(now);
                        if left.is_zero() {
                            a.handle_error(TransportError::Timeout);
                            continue;
                        }
                        let same_origin = Origin::of(&rq.uri).is_some()
                            && Origin::of(&rq.uri) == self.oauth_url.as_ref().and_then(Origin::of);
                        let mut headers = r.headers.clone();
                        if same_origin {
                            headers.extend(r.static_headers.clone());
                        }
                        headers.remove(http::header::ACCEPT);
                        let timeout = rq.timeout.min(left);
                        self.send_fetch(now, id, http::Method::GET, rq.uri, headers, timeout);
                        return;
                    }
                    None => {
                        let outcome = a.outcome().cloned();
                        if let Some((found, not_advertised)) = r.found.take() {
                            self.register_discovered(&found, outcome.as_ref());
                            self.finish_discovery(now, id, Ok(found), not_advertised);
                        }
                        return;
                    }
                }
            }
            match r.d.poll() {
                Step::Request {
                    method,
                    uri,
                    headers: own,
                    timeout,
                } => {
                    let left = r.end.saturating_duration_since(now);
                    if left.is_zero() {
                        r.d.budget_spent();
                        continue;
                    }
                    let mut headers = r.headers.clone();
                    headers.extend(own);
                    self.send_fetch(now, id, method, uri, headers, timeout.min(left));
                    return;
                }
                Step::Done(result) => {
                    let not_advertised = oauth::not_advertised(r.d.attempts());
                    // With Harpoon, the authorization server's metadata first (§2.6).
                    if let (Ok(found), Some(_)) = (&result, &self.cfg.harpoon) {
                        let issuer = crate::oauth::startup::first_authorization_server(&found.body);
                        if let Some(issuer) = issuer {
                            r.auth = Some(AuthServerDiscovery::new(&issuer));
                            r.found = result.ok().map(|f| (f, not_advertised));
                            continue;
                        }
                        self.register_discovered(found, None);
                    }
                    self.finish_discovery(now, id, result, not_advertised);
                    return;
                }
            }
        }
    }

    /// Sends one discovery request.
    fn send_fetch(
        &mut self,
        now: Instant,
        id: CommandId,
        method: http::Method,
        uri: Uri,
        headers: HeaderMap,
        timeout: Duration,
    ) {
        if let Some(r) = self.discoveries.get_mut(&id) {
            r.head = None;
            r.body.clear();
        }
        let at = now + timeout;
        self.set_timer(at, Timer::Discovery(id));
        let Some(cmd) = self.cmds.get(&id) else {
            return;
        };
        self.actions.push_back(Action::StartMcp(McpWork {
            cmd: id,
            request_id: cmd.request_id.clone(),
            channel: cmd.channel.clone(),
            kind: BindingKind::Http,
            deadline: Some(at + BACKSTOP),
            unix_socket: None,
            op: McpOp::Fetch {
                method,
                uri,
                headers,
                body: bytes::Bytes::new(),
            },
        }));
    }

    /// The discovery is over: its log line and the command's terminal response.
    fn finish_discovery(
        &mut self,
        now: Instant,
        id: CommandId,
        result: Result<oauth::Found, oauth::DiscoveryError>,
        not_advertised: bool,
    ) {
        self.discoveries.remove(&id);
        self.clear_timer(Timer::Discovery(id));
        let (found, what) = oauth::describe(&result);
        if let Some(cmd) = self.cmds.get(&id) {
            let request_id = cmd.request_id.clone();
            self.events.push_back(Event::OAuthDiscovered {
                request_id,
                found,
                what,
            });
        }
        let out = McpOutput::Terminal(oauth::terminal(result, not_advertised));
        self.handle_mcp_output(now, id, out);
    }

    /// An MCP event for a discovering command; gives it back when the command is not
    /// discovering.
    pub(super) fn discovery_event(
        &mut self,
        now: Instant,
        id: CommandId,
        event: McpEvent,
    ) -> Option<McpEvent> {
        let Some(r) = self.discoveries.get_mut(&id) else {
            return Some(event);
        };
        match super::fetch_buf::feed(&mut r.head, &mut r.body, event, oauth::MAX_BODY + 1) {
            Fed::More => {}
            Fed::Failed(e) => {
                match &mut r.auth {
                    Some(a) => a.handle_error(e),
                    None => r.d.handle_error(e),
                }
                self.end_fetch(now, id);
            }
            Fed::Done(head) => {
                match (head, &mut r.auth) {
                    (Some((status, headers)), Some(a)) => {
                        a.handle_response(status, &headers, &r.body)
                    }
                    (Some((status, headers)), None) => {
                        r.d.handle_response(status, &headers, &r.body)
                    }
                    (None, Some(a)) => a.handle_error(TransportError::Eof),
                    (None, None) => r.d.handle_error(TransportError::Eof),
                }
                self.end_fetch(now, id);
            }
        }
        None
    }

    /// The step's own timeout (or the budget) passed.
    pub(super) fn on_discovery_timeout(&mut self, now: Instant, id: CommandId) {
        if let Some(r) = self.discoveries.get_mut(&id) {
            match &mut r.auth {
                Some(a) => a.handle_error(TransportError::Timeout),
                None => r.d.handle_error(TransportError::Timeout),
            }
            self.end_fetch(now, id);
        }
    }

    /// A step is over: its exchange is closed and the next one (or the outcome) follows.
    fn end_fetch(&mut self, now: Instant, id: CommandId) {
        self.clear_timer(Timer::Discovery(id));
        self.actions.push_back(Action::CancelMcp { cmd: id });
        self.advance_discovery(now, id);
        self.drive(now);
    }
}
