//! The `tool` label values of each server, capped so that clients naming tools at random
//! cannot grow the metrics without bound.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use super::labels::OTHER;

/// Most distinct `tool` label values one server gets; later names are counted as `other`.
///
/// A server's tools are what its upstream lists, usually a few dozen; a client may still name
/// any tool in a `tools/call` (denied or not), so the first names seen win and the rest fold.
pub const MAX_TOOL_LABELS_PER_SERVER: usize = 100;

/// Longest tool name kept as a label; longer names (not a real tool's) are `other`.
pub const MAX_TOOL_LABEL_BYTES: usize = 128;

/// An (org, server) label pair.
type ServerKey = (Arc<str>, Arc<str>);

/// Hashed with foldhash: looked up on every `tools/call`, keyed by config names and tool
/// names whose count per server is capped, so SipHash's flood resistance buys nothing.
type Hasher = foldhash::fast::RandomState;

/// Tool label values per (org, server) label pair, interned so a repeated name costs a
/// read lock and a hash lookup, never an allocation.
#[derive(Debug)]
pub(super) struct ToolNames {
    servers: RwLock<HashMap<ServerKey, HashSet<Arc<str>, Hasher>, Hasher>>,
    other: Arc<str>,
}

impl Default for ToolNames {
    fn default() -> Self {
        Self { servers: RwLock::default(), other: Arc::from(OTHER) }
    }
}

impl ToolNames {
    /// The label of `tool` on `server` of `org`: the tool's name while the server has fewer
    /// than [`MAX_TOOL_LABELS_PER_SERVER`] names, else `other`.
    pub(super) fn label(&self, org: &Arc<str>, server: &Arc<str>, tool: &str) -> Arc<str> {
        if tool.len() > MAX_TOOL_LABEL_BYTES || tool == OTHER {
            return self.other.clone();
        }
        let key = (org.clone(), server.clone());
        {
            let servers = self.servers.read().unwrap_or_else(|e| e.into_inner());
            if let Some(names) = servers.get(&key) {
                if let Some(name) = names.get(tool) {
                    return name.clone();
                }
                if names.len() >= MAX_TOOL_LABELS_PER_SERVER {
                    return self.other.clone();
                }
            }
        }
        let mut servers = self.servers.write().unwrap_or_else(|e| e.into_inner());
        let names = servers.entry(key).or_default();
        if let Some(name) = names.get(tool) {
            return name.clone();
        }
        if names.len() >= MAX_TOOL_LABELS_PER_SERVER {
            return self.other.clone();
        }
        let name: Arc<str> = Arc::from(tool);
        names.insert(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_gets_at_most_the_cap_and_the_rest_fold_into_other() {
        let names = ToolNames::default();
        let (org, a, b) = (Arc::from("acme"), Arc::from("github"), Arc::from("jira"));
        for i in 0..MAX_TOOL_LABELS_PER_SERVER {
            assert_eq!(&*names.label(&org, &a, &format!("tool_{i}")), format!("tool_{i}"));
        }
        assert_eq!(&*names.label(&org, &a, "one_too_many"), OTHER);
        // Names seen before the cap keep their label; another server has its own budget.
        assert_eq!(&*names.label(&org, &a, "tool_0"), "tool_0");
        assert_eq!(&*names.label(&org, &b, "one_too_many"), "one_too_many");
        assert_eq!(&*names.label(&org, &b, &"x".repeat(MAX_TOOL_LABEL_BYTES + 1)), OTHER);
    }

    #[test]
    fn a_repeated_name_is_the_same_allocation() {
        let names = ToolNames::default();
        let (org, server) = (Arc::from("acme"), Arc::from("github"));
        let first = names.label(&org, &server, "search");
        assert!(Arc::ptr_eq(&first, &names.label(&org, &server, "search")));
    }
}
