//! Which edges are connected, and which config version each one serves.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// What the control plane knows about one edge node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeStatus {
    /// The node id the edge sent in its `Hello`.
    pub node_id: String,
    /// Whether at least one stream from the node is open now.
    pub connected: bool,
    /// Gatehouse version the edge reported.
    pub software_version: String,
    /// Last version the edge acknowledged, if any.
    pub acked_version: Option<u64>,
    /// Peer address of the latest stream.
    pub remote_addr: Option<String>,
    /// When the latest stream opened.
    pub connected_at: DateTime<Utc>,
    /// Last message from, or disconnection of, the edge.
    pub last_seen: DateTime<Utc>,
    /// Id of the edge token of the latest stream.
    pub token_id: String,
    /// Name of the edge token of the latest stream.
    pub token_name: String,
}

#[derive(Debug)]
struct Entry {
    status: EdgeStatus,
    streams: usize,
}

/// In-memory registry of edges seen by this replica.
#[derive(Debug)]
pub struct EdgeRegistry {
    entries: Mutex<HashMap<String, Entry>>,
    /// The open streams of each edge token, cancelled when it is revoked.
    streams_by_token: Mutex<HashMap<String, Vec<CancellationToken>>>,
    retention: Duration,
}

/// The edge token a stream was opened with.
#[derive(Debug, Clone, Copy)]
pub struct StreamToken<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its name.
    pub name: &'a str,
}

impl EdgeRegistry {
    /// A registry forgetting disconnected edges after `retention`.
    pub fn new(retention: Duration) -> Self {
        Self { entries: Mutex::new(HashMap::new()), streams_by_token: Mutex::default(), retention }
    }

    /// A token cancelled when the edge token `token_id` is revoked; cancel it
    /// when the stream ends.
    pub fn revocation_of(&self, token_id: &str) -> CancellationToken {
        let token = CancellationToken::new();
        let mut streams = self.streams_by_token.lock().expect("edge registry lock poisoned");
        streams.retain(|_, open| {
            open.retain(|t| !t.is_cancelled());
            !open.is_empty()
        });
        streams.entry(token_id.to_owned()).or_default().push(token.clone());
        token
    }

    /// Closes every stream of this replica opened with the edge token `token_id`.
    pub fn revoke_token(&self, token_id: &str) -> usize {
        let open = self.streams_by_token.lock().expect("edge registry lock poisoned").remove(token_id);
        let open = open.unwrap_or_default();
        let count = open.iter().filter(|t| !t.is_cancelled()).count();
        open.iter().for_each(CancellationToken::cancel);
        count
    }

    /// Records a new stream from `node_id`, opened with `token`.
    pub fn connected(
        &self,
        node_id: &str,
        software_version: &str,
        have_version: u64,
        remote_addr: Option<String>,
        token: StreamToken<'_>,
    ) {
        let now = Utc::now();
        let mut entries = self.entries.lock().expect("edge registry lock poisoned");
        let entry = entries.entry(node_id.to_owned()).or_insert_with(|| Entry {
            status: EdgeStatus {
                node_id: node_id.to_owned(),
                connected: true,
                software_version: String::new(),
                acked_version: None,
                remote_addr: None,
                connected_at: now,
                last_seen: now,
                token_id: String::new(),
                token_name: String::new(),
            },
            streams: 0,
        });
        entry.streams += 1;
        entry.status.connected = true;
        entry.status.software_version = software_version.to_owned();
        entry.status.remote_addr = remote_addr;
        entry.status.connected_at = now;
        entry.status.last_seen = now;
        token.id.clone_into(&mut entry.status.token_id);
        token.name.clone_into(&mut entry.status.token_name);
        if have_version > 0 && entry.status.acked_version.is_none() {
            entry.status.acked_version = Some(have_version);
        }
    }

    /// Records that `node_id` applied `version`.
    pub fn acked(&self, node_id: &str, version: u64) {
        let mut entries = self.entries.lock().expect("edge registry lock poisoned");
        if let Some(entry) = entries.get_mut(node_id) {
            entry.status.acked_version = Some(version);
            entry.status.last_seen = Utc::now();
        }
    }

    /// Records that a stream from `node_id` ended.
    pub fn disconnected(&self, node_id: &str) {
        let mut entries = self.entries.lock().expect("edge registry lock poisoned");
        if let Some(entry) = entries.get_mut(node_id) {
            entry.streams = entry.streams.saturating_sub(1);
            entry.status.connected = entry.streams > 0;
            entry.status.last_seen = Utc::now();
        }
    }

    /// Connected edges and those seen within the retention window, by node id.
    pub fn list(&self) -> Vec<EdgeStatus> {
        let cutoff = Utc::now() - chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let mut entries = self.entries.lock().expect("edge registry lock poisoned");
        entries.retain(|_, e| e.streams > 0 || e.status.last_seen >= cutoff);
        let mut list: Vec<EdgeStatus> = entries.values().map(|e| e.status.clone()).collect();
        list.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: StreamToken<'static> = StreamToken { id: "bootstrap", name: "bootstrap" };

    #[test]
    fn tracks_streams_acks_and_disconnects() {
        let reg = EdgeRegistry::new(Duration::from_secs(60));
        reg.connected("edge-1", "0.1.0", 0, None, TOKEN);
        reg.connected("edge-1", "0.1.0", 0, None, TOKEN);
        reg.acked("edge-1", 7);
        reg.disconnected("edge-1");
        let list = reg.list();
        assert_eq!(list.len(), 1);
        assert!(list[0].connected);
        assert_eq!(list[0].acked_version, Some(7));
        assert_eq!(list[0].token_name, "bootstrap");
        reg.disconnected("edge-1");
        assert!(!reg.list()[0].connected);

        let forgetful = EdgeRegistry::new(Duration::ZERO);
        forgetful.connected("edge-2", "0.1.0", 0, None, TOKEN);
        forgetful.disconnected("edge-2");
        std::thread::sleep(Duration::from_millis(2));
        assert!(forgetful.list().is_empty());
    }

    #[test]
    fn revoking_a_token_cancels_only_its_open_streams() {
        let reg = EdgeRegistry::new(Duration::from_secs(60));
        let a = reg.revocation_of("t1");
        let ended = reg.revocation_of("t1");
        ended.cancel();
        let b = reg.revocation_of("t2");
        assert_eq!(reg.revoke_token("t1"), 1);
        assert!(a.is_cancelled());
        assert!(!b.is_cancelled());
        assert_eq!(reg.revoke_token("t1"), 0);
    }
}
