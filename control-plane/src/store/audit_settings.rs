//! An org's audit settings: how long its events are kept and when a run of
//! authentication failures from one address counts as a burst.

use sea_orm::sea_query::OnConflict;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::entities::audit_setting;
use super::{now, Store, StoreError};

/// Days an org's audit events are kept when it sets nothing.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 30;
/// Authentication failures from one address, within the window, that make a burst.
pub const DEFAULT_BURST_THRESHOLD: u32 = 20;
/// The burst window, in seconds.
pub const DEFAULT_BURST_WINDOW_SECS: u32 = 60;

/// An org's audit settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditSettings {
    /// Days events are kept (1-3650; default 30).
    pub audit_retention_days: u32,
    /// Authentication failures from one client address within `auth_failure_burst_window_secs`
    /// that emit one `auth_failure_burst` event (1-100000; default 20).
    pub auth_failure_burst_threshold: u32,
    /// The burst window in seconds (1-86400; default 60).
    pub auth_failure_burst_window_secs: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            audit_retention_days: DEFAULT_AUDIT_RETENTION_DAYS,
            auth_failure_burst_threshold: DEFAULT_BURST_THRESHOLD,
            auth_failure_burst_window_secs: DEFAULT_BURST_WINDOW_SECS,
        }
    }
}

fn from_model(m: &audit_setting::Model) -> AuditSettings {
    let positive = |v: i32, default: u32| u32::try_from(v).ok().filter(|v| *v > 0).unwrap_or(default);
    AuditSettings {
        audit_retention_days: positive(m.retention_days, DEFAULT_AUDIT_RETENTION_DAYS),
        auth_failure_burst_threshold: positive(m.burst_threshold, DEFAULT_BURST_THRESHOLD),
        auth_failure_burst_window_secs: positive(m.burst_window_secs, DEFAULT_BURST_WINDOW_SECS),
    }
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl Store {
    /// The org's audit settings (the defaults when it set none).
    pub async fn audit_settings(&self, org_id: &str) -> Result<AuditSettings, StoreError> {
        let row = audit_setting::Entity::find_by_id(org_id).one(&self.db).await?;
        Ok(row.as_ref().map(from_model).unwrap_or_default())
    }

    /// Every org that set its own audit settings, with them.
    pub async fn all_audit_settings(&self) -> Result<Vec<(String, AuditSettings)>, StoreError> {
        let rows = audit_setting::Entity::find().all(&self.db).await?;
        Ok(rows.iter().map(|r| (r.org_id.clone(), from_model(r))).collect())
    }

    /// Replaces the org's audit settings; the change and its audit row commit together.
    pub async fn set_audit_settings(
        &self,
        org_id: &str,
        settings: AuditSettings,
    ) -> Result<AuditSettings, StoreError> {
        let txn = self.begin_change().await?;
        let before = audit_setting::Entity::find_by_id(org_id).one(&txn).await?;
        let before = before.as_ref().map(from_model).unwrap_or_default();
        audit_setting::Entity::insert(audit_setting::ActiveModel {
            org_id: Set(org_id.to_owned()),
            retention_days: Set(to_i32(settings.audit_retention_days)),
            burst_threshold: Set(to_i32(settings.auth_failure_burst_threshold)),
            burst_window_secs: Set(to_i32(settings.auth_failure_burst_window_secs)),
            updated_at: Set(now()),
        })
        .on_conflict(
            OnConflict::column(audit_setting::Column::OrgId)
                .update_columns([
                    audit_setting::Column::RetentionDays,
                    audit_setting::Column::BurstThreshold,
                    audit_setting::Column::BurstWindowSecs,
                    audit_setting::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        txn.set_audit_change(serde_json::to_value(before).ok(), serde_json::to_value(settings).ok());
        txn.commit().await?;
        Ok(settings)
    }
}
