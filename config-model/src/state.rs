//! The edge configuration as one state of keyed collections, with `diff` and
//! `apply` generated side by side from one table.
//!
//! Every collection the config stream carries is one row of the table in
//! [`config_collections!`]: its key, its wire type, the change kinds that
//! upsert and delete it. Adding a collection is adding a row; the state type,
//! snapshot conversion, diff, apply and the edge's change hooks follow.
//!
//! The maps are persistent (structurally shared), so cloning a state is cheap
//! and applying a change touches only the entries it names: a new config
//! version shares everything unchanged with the previous one.

use std::collections::BTreeSet;

use gatehouse_proto::config::v1 as pb;
use imbl::ordmap::DiffItem;
use imbl::OrdMap;
use pb::change::Kind;

/// A collection key as it travels in a delete change.
pub trait WireKey: Sized {
    /// The delete change's payload.
    type Wire;
    /// The payload naming this key.
    fn to_wire(self) -> Self::Wire;
    /// The key a payload names.
    fn from_wire(wire: Self::Wire) -> Self;
}

impl WireKey for String {
    type Wire = String;
    fn to_wire(self) -> String {
        self
    }
    fn from_wire(wire: String) -> String {
        wire
    }
}

/// A provision's key: one server provisioned to one workspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct ProvisionId {
    /// The workspace.
    pub workspace_id: String,
    /// The server.
    pub server_id: String,
}

impl ProvisionId {
    /// The key of `provision`.
    pub fn of(provision: &pb::Provision) -> Self {
        Self { workspace_id: provision.workspace_id.clone(), server_id: provision.server_id.clone() }
    }
}

impl WireKey for ProvisionId {
    type Wire = pb::ProvisionKey;
    fn to_wire(self) -> pb::ProvisionKey {
        pb::ProvisionKey { workspace_id: self.workspace_id, server_id: self.server_id }
    }
    fn from_wire(wire: pb::ProvisionKey) -> Self {
        Self { workspace_id: wire.workspace_id, server_id: wire.server_id }
    }
}

/// Generates [`ConfigState`], [`Observer`] and [`KeySet`] from the table
/// of collections. Rows are listed parents first: a diff upserts in table
/// order and deletes in reverse, so a child never refers to a missing parent.
macro_rules! config_collections {
    ($(
        $(#[$doc:meta])*
        $field:ident ($variant:ident): $Key:ty => $Value:ty {
            key: |$v:ident| $key:expr,
            upsert: $Upsert:ident,
            delete: $Delete:ident,
        }
    )*) => {
        /// One config version's content: every collection, keyed, plus the edge-wide settings.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct ConfigState {
            $( $(#[$doc])* pub $field: OrdMap<$Key, $Value>, )*
            /// Edge-wide settings, replaced whole.
            pub settings: pb::EdgeSettings,
        }

        /// Keys of entries per collection (and whether the settings), e.g. the
        /// entries one transaction touched.
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct KeySet {
            $(
                $(#[$doc])*
                #[serde(skip_serializing_if = "BTreeSet::is_empty")]
                pub $field: BTreeSet<$Key>,
            )*
            /// The edge-wide settings.
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            pub settings: bool,
        }

        impl KeySet {
            /// Adds every key of `other`.
            pub fn merge(&mut self, other: KeySet) {
                $( self.$field.extend(other.$field); )*
                self.settings |= other.settings;
            }

            /// Whether no key is named.
            pub fn is_empty(&self) -> bool {
                $( self.$field.is_empty() && )* !self.settings
            }

            /// How many keys are named (the settings count as one).
            pub fn len(&self) -> usize {
                0 $( + self.$field.len() )* + usize::from(self.settings)
            }
        }

        /// Hooks called for every entry a change touches, with its value before
        /// and after (`None` = absent), so derived indexes are updated entry by
        /// entry instead of rebuilt.
        pub trait Observer {
            $(
                $(#[$doc])*
                fn $field(&mut self, old: Option<&$Value>, new: Option<&$Value>) {
                    let _ = (old, new);
                }
            )*
            /// The edge-wide settings changed.
            fn settings(&mut self, old: &pb::EdgeSettings, new: &pb::EdgeSettings) {
                let _ = (old, new);
            }
        }

        impl ConfigState {
            /// The state a snapshot carries.
            pub fn from_wire(state: pb::ConfigState) -> Self {
                let mut out = Self::default();
                $(
                    for value in state.$field {
                        let $v = &value;
                        let key: $Key = $key;
                        out.$field.insert(key, value);
                    }
                )*
                out.settings = state.settings.unwrap_or_default();
                out
            }

            /// The snapshot form of this state.
            pub fn to_wire(&self) -> pb::ConfigState {
                pb::ConfigState {
                    $( $field: self.$field.values().cloned().collect(), )*
                    settings: Some(self.settings.clone()),
                }
            }

            /// Tells `observer` about every entry (and the settings) as if each
            /// were added to an empty state: how a snapshot's indexes are built.
            pub fn replay(&self, observer: &mut impl Observer) {
                observer.settings(&pb::EdgeSettings::default(), &self.settings);
                $( for value in self.$field.values() { observer.$field(None, Some(value)); } )*
            }

            /// The changes that turn `self` into `new`: upserts parents first,
            /// deletes children first. Unchanged subtrees shared by both states
            /// are skipped without being compared entry by entry.
            pub fn diff(&self, new: &Self) -> Vec<pb::Change> {
                let mut upserts = Vec::new();
                let mut deletes: Vec<Vec<Kind>> = Vec::new();
                $(
                    let mut gone = Vec::new();
                    for item in self.$field.diff(&new.$field) {
                        match item {
                            DiffItem::Add(_, value) | DiffItem::Update { new: (_, value), .. } => {
                                upserts.push(Kind::$Upsert(value.clone()));
                            }
                            DiffItem::Remove(key, _) => {
                                gone.push(Kind::$Delete(WireKey::to_wire(key.clone())));
                            }
                        }
                    }
                    deletes.push(gone);
                )*
                if self.settings != new.settings {
                    upserts.push(Kind::Settings(new.settings.clone()));
                }
                in_order(upserts, deletes)
            }

            /// The changes that make the entries named by `keys` what they are in
            /// `loaded` (a state holding at least every named entry that exists):
            /// a named entry absent from `loaded` is deleted, an unchanged one is
            /// left out. Ordered like [`ConfigState::diff`].
            pub fn changes_to(&self, keys: &KeySet, loaded: &ConfigState) -> Vec<pb::Change> {
                let mut upserts = Vec::new();
                let mut deletes: Vec<Vec<Kind>> = Vec::new();
                $(
                    let mut gone = Vec::new();
                    for key in &keys.$field {
                        match (self.$field.get(key), loaded.$field.get(key)) {
                            (old, Some(new)) if old != Some(new) => upserts.push(Kind::$Upsert(new.clone())),
                            (Some(_), None) => gone.push(Kind::$Delete(WireKey::to_wire(key.clone()))),
                            _ => {}
                        }
                    }
                    deletes.push(gone);
                )*
                if keys.settings && self.settings != loaded.settings {
                    upserts.push(Kind::Settings(loaded.settings.clone()));
                }
                in_order(upserts, deletes)
            }

            /// Applies `changes` in order, telling `observer` about each entry
            /// touched. Deleting an absent key changes nothing.
            pub fn apply(&mut self, changes: impl IntoIterator<Item = pb::Change>, observer: &mut impl Observer) {
                for change in changes {
                    if let Some(kind) = change.kind {
                        self.apply_kind(kind, observer);
                    }
                }
            }

            fn apply_kind(&mut self, kind: Kind, observer: &mut impl Observer) {
                match kind {
                    $(
                        Kind::$Upsert(value) => {
                            let key: $Key = {
                                let $v = &value;
                                $key
                            };
                            let old = self.$field.insert(key.clone(), value);
                            let new = self.$field.get(&key);
                            // Re-sending an unchanged entry keeps what was derived from it.
                            if old.as_ref() != new {
                                observer.$field(old.as_ref(), new);
                            }
                        }
                        Kind::$Delete(wire) => {
                            let key = <$Key as WireKey>::from_wire(wire);
                            if let Some(old) = self.$field.remove(&key) {
                                observer.$field(Some(&old), None);
                            }
                        }
                    )*
                    Kind::Settings(settings) => {
                        let old = std::mem::replace(&mut self.settings, settings);
                        if old != self.settings {
                            observer.settings(&old, &self.settings);
                        }
                    }
                }
            }
        }

    };
}

/// One delta's changes: upserts in table order (parents first), then the
/// deletes of each collection in reverse table order (children first).
fn in_order(upserts: Vec<Kind>, deletes: Vec<Vec<Kind>>) -> Vec<pb::Change> {
    upserts
        .into_iter()
        .chain(deletes.into_iter().rev().flatten())
        .map(|kind| pb::Change { kind: Some(kind) })
        .collect()
}

config_collections! {
    /// Organisations (tenants) and their org-wide identity settings, by org id.
    orgs (Orgs): String => pb::Org {
        key: |o| o.id.clone(),
        upsert: UpsertOrg,
        delete: DeleteOrg,
    }
    /// Workspaces (teams), by workspace id.
    workspaces (Workspaces): String => pb::Workspace {
        key: |w| w.id.clone(),
        upsert: UpsertWorkspace,
        delete: DeleteWorkspace,
    }
    /// Upstream MCP servers with their decrypted credentials, by server id.
    servers (Servers): String => pb::Server {
        key: |s| s.id.clone(),
        upsert: UpsertServer,
        delete: DeleteServer,
    }
    /// Servers provisioned to workspaces, with their tool rules.
    provisions (Provisions): ProvisionId => pb::Provision {
        key: |p| ProvisionId::of(p),
        upsert: UpsertProvision,
        delete: DeleteProvision,
    }
    /// Active gateway tokens (hashes only), by token id.
    tokens (Tokens): String => pb::GatewayToken {
        key: |t| t.id.clone(),
        upsert: UpsertToken,
        delete: DeleteToken,
    }
    /// Tombstones of recently deleted upstream grants, by grant id.
    revoked_grants (RevokedGrants): String => String {
        key: |id| id.clone(),
        upsert: RevokeGrant,
        delete: ForgetRevokedGrant,
    }
    /// Client-certificate names bound to callers, by identity id.
    certificate_identities (CertificateIdentities): String => pb::CertificateIdentity {
        key: |c| c.id.clone(),
        upsert: UpsertCertificateIdentity,
        delete: DeleteCertificateIdentity,
    }
    /// Recently completed URL elicitations, by elicitation id.
    completed_elicitations (CompletedElicitations): String => pb::ElicitationCompletion {
        key: |c| c.elicitation_id.clone(),
        upsert: CompleteElicitation,
        delete: ForgetElicitation,
    }
    /// Rate limits and budgets, by id.
    rate_limits (RateLimits): String => pb::RateLimit {
        key: |r| r.id.clone(),
        upsert: UpsertRateLimit,
        delete: DeleteRateLimit,
    }
}

/// An observer that ignores every change (for states without derived indexes).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {}

#[cfg(test)]
mod tests;
