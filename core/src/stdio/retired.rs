//! Bounded bookkeeping for the multiplexer: retired request ids and server→client requests
//! relayed to connectors.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use crate::engine::CommandId;

/// Tunnel ids of requests that were given up (deadline, cancellation) while the child may
/// still be working on them. Ids are never reused, so this set is not needed to keep
/// commands apart; it tells a *late* response (expected, discarded quietly) from an
/// *unknown* one (a child bug, worth a warning), and it tells the routing rule for
/// unattributed messages that an abandoned request may still be talking.
#[derive(Debug)]
pub(crate) struct Retired {
    cap: usize,
    /// Insertion order, for eviction; may hold ids already answered (skipped on eviction).
    order: VecDeque<u64>,
    at: BTreeMap<u64, Instant>,
}

impl Retired {
    pub(crate) fn new(cap: usize) -> Self {
        Retired {
            cap,
            order: VecDeque::new(),
            at: BTreeMap::new(),
        }
    }

    /// Records `id`, evicting the oldest entry when full. Returns the evicted id.
    pub(crate) fn insert(&mut self, id: u64, now: Instant) -> Option<u64> {
        if self.cap == 0 {
            return None;
        }
        let mut evicted = None;
        while self.at.len() >= self.cap {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if self.at.remove(&old).is_some() {
                evicted = Some(old);
            }
        }
        self.at.insert(id, now);
        self.order.push_back(id);
        if self.order.len() > self.cap.saturating_mul(2) {
            let at = &self.at;
            self.order.retain(|i| at.contains_key(i));
        }
        evicted
    }

    /// Forgets `id`; true if it was retired.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        self.at.remove(&id).is_some()
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.at.contains_key(&id)
    }

    /// Retired ids younger than `window` at `now`.
    pub(crate) fn recent(&self, now: Instant, window: Duration) -> usize {
        self.at
            .values()
            .filter(|t| now.saturating_duration_since(**t) < window)
            .count()
    }

    pub(crate) fn len(&self) -> usize {
        self.at.len()
    }

    pub(crate) fn clear(&mut self) {
        self.order.clear();
        self.at.clear();
    }
}

/// A request the child sent (sampling, elicitation, roots, …) that was relayed to a
/// connector under a tunnel id, so the connector's answer can be written back under the
/// child's own id.
#[derive(Debug)]
pub(crate) struct ServerRequest {
    pub(crate) child_id: Box<RawValue>,
    pub(crate) cmd: CommandId,
}

/// Server→client requests awaiting a connector's answer, bounded (oldest evicted: a
/// connector that never answers must not grow memory).
#[derive(Debug)]
pub(crate) struct ServerRequests {
    cap: usize,
    map: BTreeMap<u64, ServerRequest>,
}

impl ServerRequests {
    pub(crate) fn new(cap: usize) -> Self {
        ServerRequests {
            cap,
            map: BTreeMap::new(),
        }
    }

    pub(crate) fn insert(&mut self, tunnel_id: u64, req: ServerRequest) {
        if self.cap == 0 {
            return;
        }
        while self.map.len() >= self.cap {
            // Tunnel ids grow monotonically: the first key is the oldest.
            if self.map.pop_first().is_none() {
                break;
            }
        }
        self.map.insert(tunnel_id, req);
    }

    pub(crate) fn take(&mut self, tunnel_id: u64) -> Option<ServerRequest> {
        self.map.remove(&tunnel_id)
    }

    /// The tunnel id under which the child's request `child_id` was relayed.
    pub(crate) fn find_child_id(&self, child_id: &RawValue) -> Option<u64> {
        self.map
            .iter()
            .find(|(_, r)| crate::wire::jsonrpc::ids_equal(&r.child_id, child_id))
            .map(|(k, _)| *k)
    }

    pub(crate) fn get(&self, tunnel_id: u64) -> Option<&ServerRequest> {
        self.map.get(&tunnel_id)
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_set_is_bounded_and_evicts_the_oldest() {
        let now = Instant::now();
        let mut r = Retired::new(3);
        assert_eq!(r.insert(1, now), None);
        assert_eq!(r.insert(2, now), None);
        assert!(r.remove(1));
        assert_eq!(r.insert(3, now), None);
        assert_eq!(r.insert(4, now), None);
        // Full (2, 3, 4): 1 was already answered, so 2 is the one to go.
        assert_eq!(r.insert(5, now), Some(2));
        assert_eq!(r.len(), 3);
        assert!(!r.contains(2) && r.contains(5));
        for i in 6..10_000 {
            r.insert(i, now);
            r.remove(i - 1);
        }
        assert!(r.order.len() <= 6, "order queue stays bounded");
    }

    #[test]
    fn recent_counts_only_the_window() {
        let t0 = Instant::now();
        let mut r = Retired::new(10);
        r.insert(1, t0);
        r.insert(2, t0 + Duration::from_secs(5));
        assert_eq!(
            r.recent(t0 + Duration::from_secs(6), Duration::from_secs(3)),
            1
        );
        assert_eq!(
            r.recent(t0 + Duration::from_secs(9), Duration::from_secs(3)),
            0
        );
    }

    #[test]
    fn server_requests_are_bounded() {
        let mut s = ServerRequests::new(2);
        let id = |t: &str| RawValue::from_string(t.to_string()).unwrap();
        for t in 1..=3u64 {
            s.insert(
                t,
                ServerRequest {
                    child_id: id(&t.to_string()),
                    cmd: CommandId(t),
                },
            );
        }
        assert!(s.get(1).is_none());
        assert_eq!(s.find_child_id(&id("3")), Some(3));
        assert_eq!(s.take(2).map(|r| r.cmd), Some(CommandId(2)));
    }
}
