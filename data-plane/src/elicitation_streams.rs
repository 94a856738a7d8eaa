//! Open standalone SSE streams (`GET /mcp/{org}/{slug}` with an `Mcp-Session-Id`),
//! by caller and session, so a completed URL elicitation can be reported to
//! the session it was handed to (`notifications/elicitation/complete`, MCP
//! 2025-11-25: only to the client that initiated the elicitation).
//!
//! Completions arrive in the config (see `EdgeState::install`); any edge
//! holding the session's stream sends it, the others have nothing to do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gatehouse_proto::config::v1 as pb;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

/// Notifications queued per stream before further ones are dropped (clients
/// ignore unknown and repeated ids, so a drop only loses a hint).
const QUEUE: usize = 16;

/// SHA-256 (lowercase hex) of a client-facing `Mcp-Session-Id`.
pub fn session_hash(session_id: &[u8]) -> String {
    format!("{:x}", Sha256::digest(session_id))
}

/// Who a stream belongs to; a completion is delivered only on an exact match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// Org of the caller.
    pub org: String,
    /// User of the caller.
    pub user: String,
    /// Upstream server id.
    pub server_id: String,
    /// [`session_hash`] of the session id.
    pub session_hash: String,
}

type Senders = Vec<(u64, mpsc::Sender<Arc<str>>)>;

/// The registry of open streams.
#[derive(Debug, Default)]
pub struct ElicitationStreams {
    next_id: AtomicU64,
    streams: Mutex<HashMap<StreamKey, Senders>>,
}

impl ElicitationStreams {
    /// Registers a stream; it stays registered until the returned
    /// subscription is dropped.
    pub fn subscribe(self: &Arc<Self>, key: StreamKey) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(QUEUE);
        self.lock().entry(key.clone()).or_default().push((id, tx));
        Subscription { registry: self.clone(), key, id, rx }
    }

    /// Queues the notification on every stream of the completion's session;
    /// returns on how many.
    pub fn complete(&self, completion: &pb::ElicitationCompletion) -> usize {
        let key = StreamKey {
            org: completion.org_id.clone(),
            user: completion.user.clone(),
            server_id: completion.server_id.clone(),
            session_hash: completion.session_hash.clone(),
        };
        let streams = self.lock();
        let Some(senders) = streams.get(&key) else { return 0 };
        let id: Arc<str> = Arc::from(completion.elicitation_id.as_str());
        senders.iter().filter(|(_, tx)| tx.try_send(id.clone()).is_ok()).count()
    }

    /// How many streams are open.
    pub fn open_streams(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamKey, Senders>> {
        // The map stays consistent even if a holder panicked: every update is one call.
        self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remove(&self, key: &StreamKey, id: u64) {
        let mut streams = self.lock();
        if let Some(senders) = streams.get_mut(key) {
            senders.retain(|(i, _)| *i != id);
            if senders.is_empty() {
                streams.remove(key);
            }
        }
    }
}

/// One registered stream: receives the elicitation ids to report.
#[derive(Debug)]
pub struct Subscription {
    registry: Arc<ElicitationStreams>,
    key: StreamKey,
    id: u64,
    rx: mpsc::Receiver<Arc<str>>,
}

impl Subscription {
    /// The next elicitation id to report (never ends while registered).
    pub async fn recv(&mut self) -> Option<Arc<str>> {
        self.rx.recv().await
    }

    /// An elicitation id already queued, without waiting.
    #[cfg(test)]
    fn try_recv(&mut self) -> Option<Arc<str>> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.registry.remove(&self.key, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str, session: &str) -> StreamKey {
        StreamKey {
            org: "o".into(),
            user: user.into(),
            server_id: "s".into(),
            session_hash: session_hash(session.as_bytes()),
        }
    }

    fn completion(id: &str, user: &str, session: &str) -> pb::ElicitationCompletion {
        pb::ElicitationCompletion {
            elicitation_id: id.into(),
            org_id: "o".into(),
            user: user.into(),
            server_id: "s".into(),
            session_hash: session_hash(session.as_bytes()),
        }
    }

    #[tokio::test]
    async fn delivers_only_to_the_matching_session_and_forgets_dropped_streams() {
        let registry = Arc::new(ElicitationStreams::default());
        let mut alice = registry.subscribe(key("alice", "s1"));
        let mut alice_other_session = registry.subscribe(key("alice", "s2"));
        let mut bob_same_session_id = registry.subscribe(key("bob", "s1"));
        assert_eq!(registry.open_streams(), 3);

        assert_eq!(registry.complete(&completion("e1", "alice", "s1")), 1);
        assert_eq!(alice.recv().await.as_deref(), Some("e1"));
        assert!(alice_other_session.try_recv().is_none());
        assert!(bob_same_session_id.try_recv().is_none());

        drop(alice);
        assert_eq!(registry.open_streams(), 2);
        assert_eq!(registry.complete(&completion("e2", "alice", "s1")), 0);
    }

    #[test]
    fn session_hash_is_lowercase_hex_sha256() {
        let h = session_hash(b"abc");
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
