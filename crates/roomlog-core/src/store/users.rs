use std::collections::HashMap;

use async_trait::async_trait;

use super::StoreError;
use crate::account::SdkAppId;
use crate::user::User;

/// Registered users.
#[async_trait]
pub trait Users: Send + Sync {
    /// Registers users in one transaction. A user whose `origin_id` (non-empty) already exists
    /// in the same app: with `overwrite`, the existing user keeps its `user_id` and gets the new
    /// name, avatar and token; without, the whole call fails with
    /// `Rejected(FailedOperation.OriginIdExists)`. Returns the stored users in input order.
    async fn register_users(
        &self,
        users: Vec<User>,
        overwrite: bool,
    ) -> Result<Vec<User>, StoreError>;
    async fn get_user(&self, user_id: &str) -> Result<Option<User>, StoreError>;
    async fn get_user_by_origin(
        &self,
        sdk_app_id: SdkAppId,
        origin_id: &str,
    ) -> Result<Option<User>, StoreError>;
    /// Replaces a user's token; `false` if there is no such user.
    async fn set_user_token(
        &self,
        user_id: &str,
        token: &str,
        expires_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Names of the app's registered users among `user_ids` (unregistered ones are absent).
    async fn user_names(
        &self,
        sdk_app_id: SdkAppId,
        user_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError>;
}
