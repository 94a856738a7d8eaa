//! Deltas and snapshots for edges scoped to some orgs: the publisher labels
//! each change of a delta once with the slug of its org, and each scoped
//! edge's stream keeps the changes of its orgs. A change costs its size per
//! edge, never a rebuild of the state.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use gatehouse_config::scope::{change_org, ChangeOrg};
use gatehouse_config::state::ConfigState;
use gatehouse_proto::config::v1 as pb;

/// A published delta with, for each change, the slug of the org it belongs
/// to (`None`: every edge gets it).
#[derive(Debug, Clone)]
pub struct ScopedDelta {
    /// The whole delta, as unscoped edges get it.
    pub delta: pb::Delta,
    orgs: Vec<Option<Arc<str>>>,
}

impl ScopedDelta {
    /// Labels the changes of `delta`, which leads from `before` to `after`;
    /// `grant_orgs` has the org of every grant tombstone either state holds.
    pub(super) fn new(
        delta: pb::Delta,
        before: &ConfigState,
        after: &ConfigState,
        grant_orgs: &HashMap<String, String>,
    ) -> Self {
        let slug = |id: &str| {
            let org = after.orgs.get(id).or_else(|| before.orgs.get(id));
            // An empty slug, which no scope names.
            Some(org.map_or_else(|| Arc::from(""), |o| Arc::from(o.slug.as_str())))
        };
        let orgs = delta
            .changes
            .iter()
            .map(|change| match change_org(change, before, after) {
                ChangeOrg::Global => None,
                ChangeOrg::Org(id) => slug(id),
                // A tombstone of an unknown org goes to every edge: a missed one
                // could let a cached token of a deleted grant be used.
                ChangeOrg::RevokedGrant(grant_id) => grant_orgs.get(grant_id).and_then(|id| slug(id)),
                ChangeOrg::Unknown => Some(Arc::from("")),
            })
            .collect();
        Self { delta, orgs }
    }

    /// The delta an edge seeing the orgs `slugs` (`None` = every org) gets:
    /// the same versions, only its orgs' changes (possibly none).
    pub fn for_orgs(&self, slugs: Option<&BTreeSet<String>>) -> pb::Delta {
        let Some(slugs) = slugs else {
            return self.delta.clone();
        };
        let changes = self
            .delta
            .changes
            .iter()
            .zip(&self.orgs)
            .filter(|(_, org)| org.as_deref().is_none_or(|slug| slugs.contains(slug)))
            .map(|(change, _)| change.clone())
            .collect();
        pb::Delta { from_version: self.delta.from_version, version: self.delta.version, changes }
    }
}

/// The snapshot of `state` at `version` for an edge seeing the orgs `slugs`;
/// `grant_orgs` has the org of every grant tombstone (unknown ones are kept).
pub(super) fn scoped_snapshot(
    version: u64,
    state: &ConfigState,
    slugs: &BTreeSet<String>,
    grant_orgs: &HashMap<String, String>,
) -> pb::Snapshot {
    let org_ids = state.org_ids_with_slugs(slugs);
    let mut scoped = state.only_orgs(&org_ids);
    scoped.revoked_grants = scoped
        .revoked_grants
        .iter()
        .filter(|(id, _)| grant_orgs.get(*id).is_none_or(|org| org_ids.contains(org)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    pb::Snapshot { version, state: Some(scoped.to_wire()) }
}
