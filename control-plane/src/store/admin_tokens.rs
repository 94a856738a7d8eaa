//! Hashes of generated bootstrap admin tokens.

use sea_orm::{ActiveValue::Set, EntityTrait};

use super::entities::admin_token;
use super::{new_id, now, Store, StoreError};

impl Store {
    /// SHA-256 hashes of the stored admin tokens.
    pub async fn admin_token_hashes(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let rows = admin_token::Entity::find().all(&self.db).await?;
        rows.into_iter()
            .map(|r| {
                r.token_hash
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("admin token hash length".into()))
            })
            .collect()
    }

    /// Stores the hash of a newly generated admin token.
    pub async fn add_admin_token(&self, hash: [u8; 32]) -> Result<(), StoreError> {
        admin_token::Entity::insert(admin_token::ActiveModel {
            id: Set(new_id()),
            token_hash: Set(hash.to_vec()),
            created_at: Set(now()),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }
}
