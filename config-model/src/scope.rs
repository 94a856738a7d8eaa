//! Which org each entry and change of the edge config belongs to, so the
//! control plane can give an edge scoped to some orgs only those orgs' config:
//! its snapshot through [`ConfigState::only_orgs`], each delta through
//! [`change_org`].

use std::collections::BTreeSet;

use gatehouse_proto::config::v1 as pb;
use pb::change::Kind;

use crate::state::{ConfigState, ProvisionId};

/// The org a change belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOrg<'a> {
    /// Every edge gets it (the edge-wide settings).
    Global,
    /// The org with this id.
    Org(&'a str),
    /// The tombstone of the grant with this id, whose org the state does not
    /// carry (the control plane knows it).
    RevokedGrant(&'a str),
    /// An entry whose org neither state knows; no scoped edge gets it.
    Unknown,
}

/// The org of `change`, which leads from `before` to `after` (both whole
/// states): an upsert's entry is read from the change itself, or from `after`
/// for a provision (through its server); a delete's from `before`, where the
/// entry still is.
pub fn change_org<'a>(
    change: &'a pb::Change,
    before: &'a ConfigState,
    after: &'a ConfigState,
) -> ChangeOrg<'a> {
    let Some(kind) = &change.kind else {
        return ChangeOrg::Global;
    };
    let org = |id: Option<&'a str>| id.map_or(ChangeOrg::Unknown, ChangeOrg::Org);
    let server_org = |server_id: &str| {
        after.servers.get(server_id).or_else(|| before.servers.get(server_id)).map(|s| s.org_id.as_str())
    };
    match kind {
        Kind::Settings(_) => ChangeOrg::Global,
        Kind::RevokeGrant(id) | Kind::ForgetRevokedGrant(id) => ChangeOrg::RevokedGrant(id),
        Kind::UpsertOrg(o) => ChangeOrg::Org(&o.id),
        Kind::DeleteOrg(id) => ChangeOrg::Org(id),
        Kind::UpsertWorkspace(w) => ChangeOrg::Org(&w.org_id),
        Kind::DeleteWorkspace(id) => org(before.workspaces.get(id).map(|w| w.org_id.as_str())),
        Kind::UpsertServer(s) => ChangeOrg::Org(&s.org_id),
        Kind::DeleteServer(id) => org(before.servers.get(id).map(|s| s.org_id.as_str())),
        Kind::UpsertProvision(p) => org(server_org(&p.server_id)),
        Kind::DeleteProvision(key) => org(server_org(&key.server_id)),
        Kind::UpsertToken(t) => ChangeOrg::Org(&t.org_id),
        Kind::DeleteToken(id) => org(before.tokens.get(id).map(|t| t.org_id.as_str())),
        Kind::UpsertCertificateIdentity(c) => ChangeOrg::Org(&c.org_id),
        Kind::DeleteCertificateIdentity(id) => {
            org(before.certificate_identities.get(id).map(|c| c.org_id.as_str()))
        }
        Kind::CompleteElicitation(c) => ChangeOrg::Org(&c.org_id),
        Kind::ForgetElicitation(id) => org(before.completed_elicitations.get(id).map(|c| c.org_id.as_str())),
        Kind::UpsertRateLimit(r) => ChangeOrg::Org(&r.org_id),
        Kind::DeleteRateLimit(id) => org(before.rate_limits.get(id).map(|r| r.org_id.as_str())),
    }
}

impl ConfigState {
    /// The ids of the orgs whose slug is in `slugs`.
    pub fn org_ids_with_slugs(&self, slugs: &BTreeSet<String>) -> BTreeSet<String> {
        self.orgs.values().filter(|o| slugs.contains(&o.slug)).map(|o| o.id.clone()).collect()
    }

    /// This state with only the entries of the orgs `org_ids` (and everything
    /// edge-wide: the settings; and every grant tombstone, which carries no org).
    pub fn only_orgs(&self, org_ids: &BTreeSet<String>) -> ConfigState {
        let has = |org_id: &String| org_ids.contains(org_id);
        let provision_in =
            |key: &ProvisionId| self.servers.get(&key.server_id).is_some_and(|s| has(&s.org_id));
        ConfigState {
            orgs: self.orgs.iter().filter(|(id, _)| has(id)).map(|(k, v)| (k.clone(), v.clone())).collect(),
            workspaces: self
                .workspaces
                .iter()
                .filter(|(_, w)| has(&w.org_id))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            servers: self
                .servers
                .iter()
                .filter(|(_, s)| has(&s.org_id))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            provisions: self
                .provisions
                .iter()
                .filter(|(key, _)| provision_in(key))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            tokens: self
                .tokens
                .iter()
                .filter(|(_, t)| has(&t.org_id))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            revoked_grants: self.revoked_grants.clone(),
            certificate_identities: self
                .certificate_identities
                .iter()
                .filter(|(_, c)| has(&c.org_id))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            completed_elicitations: self
                .completed_elicitations
                .iter()
                .filter(|(_, c)| has(&c.org_id))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            rate_limits: self
                .rate_limits
                .iter()
                .filter(|(_, r)| has(&r.org_id))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            settings: self.settings.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ConfigState {
        let mut s = ConfigState::default();
        for (id, slug) in [("o1", "acme"), ("o2", "globex")] {
            s.orgs.insert(id.into(), pb::Org { id: id.into(), slug: slug.into(), ..Default::default() });
            let server = format!("s-{id}");
            s.servers.insert(
                server.clone(),
                pb::Server { id: server.clone(), org_id: id.into(), ..Default::default() },
            );
            let ws = format!("w-{id}");
            s.workspaces.insert(
                ws.clone(),
                pb::Workspace { id: ws.clone(), org_id: id.into(), ..Default::default() },
            );
            let p = pb::Provision { workspace_id: ws, server_id: server, ..Default::default() };
            s.provisions.insert(ProvisionId::of(&p), p);
        }
        s.revoked_grants.insert("g".into(), "g".into());
        s
    }

    #[test]
    fn only_orgs_keeps_one_orgs_entries_and_everything_edge_wide() {
        let s = state();
        let ids = s.org_ids_with_slugs(&BTreeSet::from(["acme".to_owned()]));
        assert_eq!(ids, BTreeSet::from(["o1".to_owned()]));
        let only = s.only_orgs(&ids);
        assert_eq!(only.orgs.keys().collect::<Vec<_>>(), ["o1"]);
        assert_eq!(only.servers.keys().collect::<Vec<_>>(), ["s-o1"]);
        assert_eq!(only.workspaces.keys().collect::<Vec<_>>(), ["w-o1"]);
        assert_eq!(only.provisions.len(), 1);
        assert_eq!(only.revoked_grants.len(), 1);
    }

    #[test]
    fn deletes_are_placed_by_the_state_before_and_provisions_by_their_server() {
        let before = state();
        let mut after = before.clone();
        let changes = before.diff(&ConfigState {
            servers: Default::default(),
            provisions: Default::default(),
            ..before.clone()
        });
        after.apply(changes.clone(), &mut crate::state::NoObserver);
        let orgs: Vec<_> = changes.iter().map(|c| change_org(c, &before, &after)).collect();
        assert_eq!(orgs.len(), 4);
        assert!(orgs.contains(&ChangeOrg::Org("o1")) && orgs.contains(&ChangeOrg::Org("o2")));
        assert!(!orgs.contains(&ChangeOrg::Unknown));
        let settings = pb::Change { kind: Some(Kind::Settings(pb::EdgeSettings::default())) };
        assert_eq!(change_org(&settings, &before, &after), ChangeOrg::Global);
        let tombstone = pb::Change { kind: Some(Kind::RevokeGrant("g".into())) };
        assert_eq!(change_org(&tombstone, &before, &after), ChangeOrg::RevokedGrant("g"));
        let stray = pb::Change { kind: Some(Kind::DeleteServer("nope".into())) };
        assert_eq!(change_org(&stray, &before, &after), ChangeOrg::Unknown);
    }
}
