//! Certificate identities: client certificate names (SAN URI, SAN DNS, SAN
//! e-mail, subject CN) bound to a user and workspace. Registering and deleting
//! one bumps the config version like any edge-facing change.

use gatehouse_config::identity::cert_issuer;
use gatehouse_config::identity::cert_names::CertNameKind;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::{certificate_identity, workspace};
use super::tokens::{check_server_permissions, find_team, workspace_slugs};
use super::{
    from_json_text, new_id, now, to_json_text, CertificateIdentityRecord, CertificateIssuer,
    NewCertificateIdentity, Store, StoreError, Versioned,
};

impl Store {
    /// Registers a certificate identity. `team` and every server slug must exist in the
    /// org; the `(kind, value)` name must not be registered yet (in any org).
    pub async fn create_certificate_identity(
        &self,
        org_id: &str,
        new: NewCertificateIdentity,
    ) -> Result<Versioned<CertificateIdentityRecord>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let ws = find_team(&txn, org_id, &new.team).await?;
        check_server_permissions(&txn, org_id, &new.server_permissions).await?;
        super::users::refuse_deactivated(&txn, org_id, &new.user).await?;
        let row = certificate_identity::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            workspace_id: ws.id,
            kind: new.kind.as_str().to_owned(),
            value: new.value,
            user_name: new.user,
            scopes: to_json_text(&new.scopes),
            server_permissions: to_json_text(&new.server_permissions),
            tool_permissions: to_json_text(&new.tool_permissions),
            created_at: now(),
            disabled_at: None,
            issuer_ca_sha256: new.issuer.ca_sha256.map(|f| cert_issuer::fingerprint_hex(&f)),
            spiffe_trust_domain: new.issuer.spiffe_trust_domain,
        };
        certificate_identity::Entity::insert(certificate_identity::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await
            .map_err(|e| {
                let message = format!("{} {:?} is already registered", row.kind, row.value);
                StoreError::unique_or_db(e, "value", message)
            })?;
        txn.touched().certificate_identities.insert(row.id.clone());
        let created = record_from(row, ws.slug)?;
        txn.audit_after(&created);
        txn.commit().await?;
        Ok(Versioned { value: created, version })
    }

    /// The org's certificate identities, newest first.
    pub async fn list_certificate_identities(
        &self,
        org_id: &str,
    ) -> Result<Vec<CertificateIdentityRecord>, StoreError> {
        let rows = certificate_identity::Entity::find()
            .filter(certificate_identity::Column::OrgId.eq(org_id))
            .order_by_desc(certificate_identity::Column::CreatedAt)
            .order_by_desc(certificate_identity::Column::Id)
            .all(&self.db)
            .await?;
        let slugs = workspace_slugs(&self.db, Some(org_id)).await?;
        rows.into_iter()
            .map(|r| {
                let team = slugs.get(&r.workspace_id).cloned().unwrap_or_default();
                record_from(r, team)
            })
            .collect()
    }

    /// One certificate identity by id.
    pub async fn get_certificate_identity(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<CertificateIdentityRecord, StoreError> {
        let row = find(&self.db, org_id, id).await?.ok_or(StoreError::NotFound("certificate identity"))?;
        let team = team_of(&self.db, &row.workspace_id).await?;
        record_from(row, team)
    }

    /// Deletes a certificate identity: certificates carrying its name stop
    /// authenticating at every edge with the next config version.
    pub async fn delete_certificate_identity(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Versioned<CertificateIdentityRecord>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = find(&txn, org_id, id).await?.ok_or(StoreError::NotFound("certificate identity"))?;
        let team = team_of(&txn, &row.workspace_id).await?;
        certificate_identity::Entity::delete_by_id(row.id.clone()).exec(&txn).await?;
        txn.touched().certificate_identities.insert(row.id.clone());
        let deleted = record_from(row, team)?;
        txn.audit_before(&deleted);
        txn.commit().await?;
        Ok(Versioned { value: deleted, version })
    }
}

/// Every certificate identity of every org (only those `ids` names, when
/// given) for the edges, in one read.
pub(super) async fn load_certificate_identities(
    conn: &impl ConnectionTrait,
    ids: Option<&std::collections::BTreeSet<String>>,
) -> Result<Vec<CertificateIdentityRecord>, StoreError> {
    let slugs = workspace_slugs(conn, None).await?;
    // A disabled identity is absent from the edge config (so a touched one is deleted there).
    let mut query =
        certificate_identity::Entity::find().filter(certificate_identity::Column::DisabledAt.is_null());
    if let Some(ids) = ids {
        query = query.filter(certificate_identity::Column::Id.is_in(ids.iter().cloned()));
    }
    query
        .all(conn)
        .await?
        .into_iter()
        .map(|r| {
            let team = slugs.get(&r.workspace_id).cloned().unwrap_or_default();
            record_from(r, team)
        })
        .collect()
}

async fn find(
    conn: &impl ConnectionTrait,
    org_id: &str,
    id: &str,
) -> Result<Option<certificate_identity::Model>, StoreError> {
    Ok(certificate_identity::Entity::find_by_id(id.to_owned())
        .filter(certificate_identity::Column::OrgId.eq(org_id))
        .one(conn)
        .await?)
}

async fn team_of(conn: &impl ConnectionTrait, workspace_id: &str) -> Result<String, StoreError> {
    let ws = workspace::Entity::find_by_id(workspace_id.to_owned()).one(conn).await?;
    Ok(ws.map(|w| w.slug).unwrap_or_default())
}

fn record_from(
    m: certificate_identity::Model,
    team: String,
) -> Result<CertificateIdentityRecord, StoreError> {
    let kind = CertNameKind::parse(&m.kind)
        .ok_or_else(|| StoreError::Corrupt(format!("certificate_identities.kind {:?}", m.kind)))?;
    let ca_sha256 = m
        .issuer_ca_sha256
        .as_deref()
        .map(|hex| {
            cert_issuer::parse_fingerprint(hex)
                .map_err(|_| StoreError::Corrupt(format!("certificate_identities.issuer_ca_sha256 {hex:?}")))
        })
        .transpose()?;
    Ok(CertificateIdentityRecord {
        issuer: CertificateIssuer { ca_sha256, spiffe_trust_domain: m.spiffe_trust_domain },
        scopes: from_json_text("certificate_identities.scopes", &m.scopes)?,
        server_permissions: from_json_text(
            "certificate_identities.server_permissions",
            &m.server_permissions,
        )?,
        tool_permissions: from_json_text("certificate_identities.tool_permissions", &m.tool_permissions)?,
        id: m.id,
        org_id: m.org_id,
        workspace_id: m.workspace_id,
        team,
        kind,
        value: m.value,
        user: m.user_name,
        created_at: m.created_at,
        disabled_at: m.disabled_at,
    })
}
