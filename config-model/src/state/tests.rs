use proptest::prelude::*;

use super::*;

/// Ids from a small alphabet, so old and new states share, change and drop keys.
fn id() -> impl Strategy<Value = String> {
    "[a-d]{1,2}"
}

fn text() -> impl Strategy<Value = String> {
    "[a-z]{0,3}"
}

fn org() -> impl Strategy<Value = pb::Org> {
    (id(), text(), text()).prop_map(|(id, slug, workspace)| pb::Org {
        id,
        slug,
        jwt_validation: Some(pb::JwtValidation { workspace, ..Default::default() }),
        ..Default::default()
    })
}

fn workspace() -> impl Strategy<Value = pb::Workspace> {
    (id(), text()).prop_map(|(id, name)| pb::Workspace { id, name, ..Default::default() })
}

fn server() -> impl Strategy<Value = pb::Server> {
    (id(), text(), proptest::collection::btree_map(text(), text(), 0..2)).prop_map(|(id, url, headers)| {
        pb::Server { id, url, headers: headers.into_iter().collect(), ..Default::default() }
    })
}

fn provision() -> impl Strategy<Value = pb::Provision> {
    (id(), id(), proptest::collection::vec(text(), 0..2)).prop_map(|(workspace_id, server_id, tool_deny)| {
        pb::Provision { workspace_id, server_id, tool_deny, ..Default::default() }
    })
}

fn token() -> impl Strategy<Value = pb::GatewayToken> {
    (id(), text(), any::<i64>()).prop_map(|(id, user, expires_at)| pb::GatewayToken {
        id,
        user,
        expires_at,
        ..Default::default()
    })
}

fn certificate_identity() -> impl Strategy<Value = pb::CertificateIdentity> {
    (id(), text()).prop_map(|(id, value)| pb::CertificateIdentity { id, value, ..Default::default() })
}

fn rate_limit() -> impl Strategy<Value = pb::RateLimit> {
    (id(), text(), any::<u64>()).prop_map(|(id, name, amount)| pb::RateLimit {
        id,
        name,
        amount,
        ..Default::default()
    })
}

fn completion() -> impl Strategy<Value = pb::ElicitationCompletion> {
    (id(), text()).prop_map(|(elicitation_id, user)| pb::ElicitationCompletion {
        elicitation_id,
        user,
        ..Default::default()
    })
}

prop_compose! {
    fn state()(
        orgs in proptest::collection::vec(org(), 0..4),
        workspaces in proptest::collection::vec(workspace(), 0..4),
        servers in proptest::collection::vec(server(), 0..4),
        provisions in proptest::collection::vec(provision(), 0..4),
        tokens in proptest::collection::vec(token(), 0..6),
        revoked_grants in proptest::collection::vec(id(), 0..3),
        certificate_identities in proptest::collection::vec(certificate_identity(), 0..3),
        completed_elicitations in proptest::collection::vec(completion(), 0..3),
        rate_limits in proptest::collection::vec(rate_limit(), 0..3),
        issuer in text(),
    ) -> ConfigState {
        ConfigState::from_wire(pb::ConfigState {
            orgs,
            workspaces,
            servers,
            provisions,
            tokens,
            revoked_grants,
            certificate_identities,
            completed_elicitations,
            rate_limits,
            settings: Some(pb::EdgeSettings { issuer, ..Default::default() }),
        })
    }
}

/// Records every hook call, to check that apply reports exactly what changed.
#[derive(Default)]
struct Recorder {
    calls: usize,
}

macro_rules! count_hooks {
    ($($field:ident: $Value:ty),*) => {
        impl Observer for Recorder {
            $( fn $field(&mut self, old: Option<&$Value>, new: Option<&$Value>) {
                assert!(old != new, "a hook reports a change");
                self.calls += 1;
            } )*
            fn settings(&mut self, _: &pb::EdgeSettings, _: &pb::EdgeSettings) {
                self.calls += 1;
            }
        }
    };
}

count_hooks!(
    orgs: pb::Org,
    workspaces: pb::Workspace,
    servers: pb::Server,
    provisions: pb::Provision,
    tokens: pb::GatewayToken,
    revoked_grants: String,
    certificate_identities: pb::CertificateIdentity,
    completed_elicitations: pb::ElicitationCompletion,
    rate_limits: pb::RateLimit
);

proptest! {
    #[test]
    fn apply_of_diff_turns_old_into_new(old in state(), new in state()) {
        let changes = old.diff(&new);
        let mut applied = old.clone();
        let mut recorder = Recorder::default();
        applied.apply(changes.clone(), &mut recorder);
        prop_assert_eq!(&applied, &new);
        prop_assert_eq!(recorder.calls, changes.len());
        prop_assert!(new.diff(&new).is_empty());
        // The old state is untouched: readers of the previous version keep it whole.
        prop_assert_eq!(old.clone().diff(&old), Vec::new());
    }

    #[test]
    fn snapshot_form_round_trips(state in state()) {
        prop_assert_eq!(ConfigState::from_wire(state.to_wire()), state);
    }
}

#[test]
fn diff_upserts_parents_first_and_deletes_children_first() {
    let old = ConfigState::from_wire(pb::ConfigState {
        workspaces: vec![
            pb::Workspace { id: "a".into(), name: "A".into(), ..Default::default() },
            pb::Workspace { id: "b".into(), name: "B".into(), ..Default::default() },
        ],
        provisions: vec![pb::Provision {
            workspace_id: "b".into(),
            server_id: "s".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let new = ConfigState::from_wire(pb::ConfigState {
        workspaces: vec![
            pb::Workspace { id: "a".into(), name: "A2".into(), ..Default::default() },
            pb::Workspace { id: "c".into(), name: "C".into(), ..Default::default() },
        ],
        settings: Some(pb::EdgeSettings { session_binding_key: vec![1; 32], ..Default::default() }),
        ..Default::default()
    });
    let kinds: Vec<Kind> = old.diff(&new).into_iter().filter_map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            Kind::UpsertWorkspace(pb::Workspace { id: "a".into(), name: "A2".into(), ..Default::default() }),
            Kind::UpsertWorkspace(pb::Workspace { id: "c".into(), name: "C".into(), ..Default::default() }),
            Kind::Settings(pb::EdgeSettings { session_binding_key: vec![1; 32], ..Default::default() }),
            Kind::DeleteProvision(pb::ProvisionKey { workspace_id: "b".into(), server_id: "s".into() }),
            Kind::DeleteWorkspace("b".into()),
        ]
    );
}

#[test]
fn deleting_an_absent_key_changes_nothing() {
    let mut state = ConfigState::default();
    let mut recorder = Recorder::default();
    state.apply([pb::Change { kind: Some(Kind::DeleteToken("nope".into())) }], &mut recorder);
    assert_eq!(state, ConfigState::default());
    assert_eq!(recorder.calls, 0);
}

/// Every key present in `a` or `b`, and the settings.
fn all_keys(a: &ConfigState, b: &ConfigState) -> KeySet {
    let mut keys = KeySet { settings: true, ..Default::default() };
    for s in [a, b] {
        keys.orgs.extend(s.orgs.keys().cloned());
        keys.workspaces.extend(s.workspaces.keys().cloned());
        keys.servers.extend(s.servers.keys().cloned());
        keys.provisions.extend(s.provisions.keys().cloned());
        keys.tokens.extend(s.tokens.keys().cloned());
        keys.revoked_grants.extend(s.revoked_grants.keys().cloned());
        keys.certificate_identities.extend(s.certificate_identities.keys().cloned());
        keys.completed_elicitations.extend(s.completed_elicitations.keys().cloned());
        keys.rate_limits.extend(s.rate_limits.keys().cloned());
    }
    keys
}

proptest! {
    #[test]
    fn changes_to_the_touched_keys_turn_old_into_new(old in state(), new in state()) {
        let keys = all_keys(&old, &new);
        let changes = old.changes_to(&keys, &new);
        prop_assert_eq!(&changes, &old.diff(&new));
        let mut applied = old.clone();
        applied.apply(changes, &mut NoObserver);
        prop_assert_eq!(applied, new);
    }

    #[test]
    fn changes_to_leave_unnamed_keys_alone(old in state(), new in state()) {
        // Name only the tokens: nothing else may change.
        let keys = KeySet { tokens: all_keys(&old, &new).tokens, ..Default::default() };
        let mut applied = old.clone();
        applied.apply(old.changes_to(&keys, &new), &mut NoObserver);
        prop_assert_eq!(&applied.tokens, &new.tokens);
        prop_assert_eq!(&applied.servers, &old.servers);
        prop_assert_eq!(&applied.settings, &old.settings);
    }

    #[test]
    fn key_sets_round_trip_through_json(old in state(), new in state()) {
        let keys = all_keys(&old, &new);
        let text = serde_json::to_string(&keys).unwrap();
        prop_assert_eq!(serde_json::from_str::<KeySet>(&text).unwrap(), keys);
    }
}
