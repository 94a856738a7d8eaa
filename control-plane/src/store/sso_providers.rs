//! Per-org OIDC providers; the client secret is sealed and never read back
//! except to call the provider's token endpoint.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use secrecy::{ExposeSecret, SecretString};

use super::entities::sso_provider;
use super::{from_json_text, new_id, now, to_json_text, Store, StoreError};
use crate::accounts::{ClaimMappings, ProviderKind};
use crate::credentials::SealedRecord;

/// An SSO provider as admins see it (the secret only as "is set").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoProvider {
    /// Stable id.
    pub id: String,
    /// Owning org.
    pub org_id: String,
    /// Display name, unique in the org.
    pub name: String,
    /// Preset.
    pub kind: ProviderKind,
    /// Issuer URL (discovery at `/.well-known/openid-configuration`).
    pub issuer: String,
    /// OAuth client id.
    pub client_id: String,
    /// Whether a client secret is stored.
    pub has_client_secret: bool,
    /// Scopes requested at login.
    pub scopes: Vec<String>,
    /// Claim mappings.
    pub claim_mappings: ClaimMappings,
    /// Disabled providers cannot be used to log in.
    pub enabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Input to create a provider (already validated).
#[derive(Debug, Clone)]
pub struct NewSsoProvider {
    /// Display name.
    pub name: String,
    /// Preset.
    pub kind: ProviderKind,
    /// Issuer URL.
    pub issuer: String,
    /// OAuth client id.
    pub client_id: String,
    /// Client secret (none for public clients using PKCE only).
    pub client_secret: Option<SecretString>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Claim mappings.
    pub claim_mappings: ClaimMappings,
    /// Enabled.
    pub enabled: bool,
}

/// A partial update (already validated); `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct SsoProviderPatch {
    /// Display name.
    pub name: Option<String>,
    /// Preset.
    pub kind: Option<ProviderKind>,
    /// Issuer URL.
    pub issuer: Option<String>,
    /// OAuth client id.
    pub client_id: Option<String>,
    /// New client secret.
    pub client_secret: Option<SecretString>,
    /// Scopes.
    pub scopes: Option<Vec<String>>,
    /// Claim mappings.
    pub claim_mappings: Option<ClaimMappings>,
    /// Enabled.
    pub enabled: Option<bool>,
}

pub(super) fn secret_aad(provider_id: &str) -> Vec<u8> {
    format!("sso_provider:{provider_id}:client_secret").into_bytes()
}

fn duplicate(name: &str) -> StoreError {
    StoreError::Conflict {
        field: Some("name"),
        message: format!("an sso provider named {name:?} already exists"),
    }
}

impl Store {
    /// Creates a provider, sealing its client secret.
    pub async fn create_sso_provider(
        &self,
        org_id: &str,
        new: NewSsoProvider,
    ) -> Result<SsoProvider, StoreError> {
        let id = new_id();
        let at = now();
        let mut row = sso_provider::Model {
            id: id.clone(),
            org_id: org_id.to_owned(),
            name: new.name,
            kind: new.kind.as_str().to_owned(),
            issuer: new.issuer,
            client_id: new.client_id,
            secret_key_id: None,
            secret_wrapped_key: None,
            secret_ciphertext: None,
            scopes: to_json_text(&new.scopes),
            claim_mappings: to_json_text(&new.claim_mappings),
            enabled: new.enabled,
            created_at: at,
            updated_at: at,
        };
        if let Some(secret) = &new.client_secret {
            self.seal_client_secret(&mut row, secret)?;
        }
        let name = row.name.clone();
        let txn = self.begin_change().await?;
        sso_provider::Entity::insert(sso_provider::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await
            .map_err(|e| {
                StoreError::unique_or_db(e, "name", format!("an sso provider named {name:?} already exists"))
            })?;
        let created = provider_from(row)?;
        txn.audit_after(&created);
        txn.commit().await?;
        Ok(created)
    }

    /// The org's providers, oldest first (the first enabled one is the default for login).
    pub async fn list_sso_providers(&self, org_id: &str) -> Result<Vec<SsoProvider>, StoreError> {
        sso_provider::Entity::find()
            .filter(sso_provider::Column::OrgId.eq(org_id))
            .order_by_asc(sso_provider::Column::CreatedAt)
            .order_by_asc(sso_provider::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(provider_from)
            .collect()
    }

    /// The provider `id` of the org.
    pub async fn get_sso_provider(&self, org_id: &str, id: &str) -> Result<SsoProvider, StoreError> {
        provider_from(self.find_sso_provider(org_id, id).await?)
    }

    /// Applies a partial update.
    pub async fn update_sso_provider(
        &self,
        org_id: &str,
        id: &str,
        patch: SsoProviderPatch,
    ) -> Result<SsoProvider, StoreError> {
        let mut row = self.find_sso_provider(org_id, id).await?;
        let before = provider_from(row.clone())?;
        if let Some(name) = patch.name {
            row.name = name;
        }
        if let Some(kind) = patch.kind {
            row.kind = kind.as_str().to_owned();
        }
        if let Some(issuer) = patch.issuer {
            row.issuer = issuer;
        }
        if let Some(client_id) = patch.client_id {
            row.client_id = client_id;
        }
        if let Some(secret) = &patch.client_secret {
            self.seal_client_secret(&mut row, secret)?;
        }
        if let Some(scopes) = &patch.scopes {
            row.scopes = to_json_text(scopes);
        }
        if let Some(mappings) = &patch.claim_mappings {
            row.claim_mappings = to_json_text(mappings);
        }
        if let Some(enabled) = patch.enabled {
            row.enabled = enabled;
        }
        row.updated_at = now();
        let name = row.name.clone();
        let txn = self.begin_change().await?;
        sso_provider::Entity::update(sso_provider::ActiveModel::from(row.clone()).reset_all())
            .exec(&txn)
            .await
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => duplicate(&name),
                _ => StoreError::Db(e),
            })?;
        let updated = provider_from(row)?;
        txn.audit_before(&before);
        txn.audit_after(&updated);
        txn.commit().await?;
        Ok(updated)
    }

    /// Deletes a provider (its pending logins go with it; users stay).
    pub async fn delete_sso_provider(&self, org_id: &str, id: &str) -> Result<(), StoreError> {
        let row = self.find_sso_provider(org_id, id).await?;
        let txn = self.begin_change().await?;
        txn.audit_before(&provider_from(row.clone())?);
        sso_provider::Entity::delete_by_id(row.id).exec(&txn).await?;
        txn.commit().await
    }

    /// The provider's client secret, unsealed for a token request.
    pub async fn sso_provider_secret(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        let row = self.find_sso_provider(org_id, id).await?;
        match (row.secret_key_id, row.secret_wrapped_key, row.secret_ciphertext) {
            (Some(key_id), Some(wrapped_key), Some(ciphertext)) => {
                let sealed = SealedRecord { key_id, wrapped_key, ciphertext };
                Ok(Some(self.keyring.unseal_string(&sealed, &secret_aad(&row.id))?))
            }
            _ => Ok(None),
        }
    }

    async fn find_sso_provider(&self, org_id: &str, id: &str) -> Result<sso_provider::Model, StoreError> {
        sso_provider::Entity::find_by_id(id)
            .filter(sso_provider::Column::OrgId.eq(org_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound("sso provider"))
    }

    fn seal_client_secret(
        &self,
        row: &mut sso_provider::Model,
        secret: &SecretString,
    ) -> Result<(), StoreError> {
        let sealed = self.keyring.seal(secret.expose_secret().as_bytes(), &secret_aad(&row.id))?;
        row.secret_key_id = Some(sealed.key_id);
        row.secret_wrapped_key = Some(sealed.wrapped_key);
        row.secret_ciphertext = Some(sealed.ciphertext);
        Ok(())
    }
}

fn provider_from(m: sso_provider::Model) -> Result<SsoProvider, StoreError> {
    let kind = ProviderKind::parse(&m.kind)
        .ok_or_else(|| StoreError::Corrupt(format!("sso_providers.kind: unknown kind {:?}", m.kind)))?;
    Ok(SsoProvider {
        scopes: from_json_text("sso_providers.scopes", &m.scopes)?,
        claim_mappings: from_json_text("sso_providers.claim_mappings", &m.claim_mappings)?,
        has_client_secret: m.secret_ciphertext.is_some(),
        id: m.id,
        org_id: m.org_id,
        name: m.name,
        kind,
        issuer: m.issuer,
        client_id: m.client_id,
        enabled: m.enabled,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

impl super::audit_views::AuditView for SsoProvider {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind.as_str(),
            "issuer": self.issuer,
            "client_id": self.client_id,
            "has_client_secret": self.has_client_secret,
            "scopes": self.scopes,
            "claim_mappings": serde_json::to_value(&self.claim_mappings).unwrap_or_default(),
            "enabled": self.enabled,
        })
    }
}
