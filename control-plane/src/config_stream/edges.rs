//! Which edges are connected, and which config version each one serves.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

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
    retention: Duration,
}

impl EdgeRegistry {
    /// A registry forgetting disconnected edges after `retention`.
    pub fn new(retention: Duration) -> Self {
        Self { entries: Mutex::new(HashMap::new()), retention }
    }

    /// Records a new stream from `node_id`.
    pub fn connected(
        &self,
        node_id: &str,
        software_version: &str,
        have_version: u64,
        remote_addr: Option<String>,
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
            },
            streams: 0,
        });
        entry.streams += 1;
        entry.status.connected = true;
        entry.status.software_version = software_version.to_owned();
        entry.status.remote_addr = remote_addr;
        entry.status.connected_at = now;
        entry.status.last_seen = now;
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

    #[test]
    fn tracks_streams_acks_and_disconnects() {
        let reg = EdgeRegistry::new(Duration::from_secs(60));
        reg.connected("edge-1", "0.1.0", 0, None);
        reg.connected("edge-1", "0.1.0", 0, None);
        reg.acked("edge-1", 7);
        reg.disconnected("edge-1");
        let list = reg.list();
        assert_eq!(list.len(), 1);
        assert!(list[0].connected);
        assert_eq!(list[0].acked_version, Some(7));
        reg.disconnected("edge-1");
        assert!(!reg.list()[0].connected);

        let forgetful = EdgeRegistry::new(Duration::ZERO);
        forgetful.connected("edge-2", "0.1.0", 0, None);
        forgetful.disconnected("edge-2");
        std::thread::sleep(Duration::from_millis(2));
        assert!(forgetful.list().is_empty());
    }
}
