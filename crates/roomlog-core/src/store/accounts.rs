use async_trait::async_trait;

use super::StoreError;
use crate::account::{Account, AccountId, ApiKey, App, SdkAppId};

/// Accounts, their apps (SdkAppIds) and their API keys.
#[async_trait]
pub trait Accounts: Send + Sync {
    async fn create_account(&self, name: &str) -> Result<Account, StoreError>;
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Creates an account named `name` only if the store has none yet (a first start's
    /// bootstrap); `None` if there was one. The check and the insert are atomic, so processes
    /// starting together create one first account.
    async fn create_first_account(&self, name: &str) -> Result<Option<Account>, StoreError>;
    /// Allocates a new, globally unique SdkAppId. `AccountNotFound` if the account is unknown.
    async fn create_app(&self, account: AccountId, name: &str) -> Result<App, StoreError>;
    /// Every app, or only the account's.
    async fn list_apps(&self, account: Option<AccountId>) -> Result<Vec<App>, StoreError>;
    async fn get_app(&self, sdk_app_id: SdkAppId) -> Result<Option<App>, StoreError>;
    /// Stores a generated key. `AccountNotFound` if the account is unknown.
    async fn insert_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    /// Every key, or only the account's.
    async fn list_keys(&self, account: Option<AccountId>) -> Result<Vec<ApiKey>, StoreError>;
    /// Returns false if there is no such key.
    async fn set_key_enabled(&self, secret_id: &str, enabled: bool) -> Result<bool, StoreError>;
    async fn get_key(&self, secret_id: &str) -> Result<Option<ApiKey>, StoreError>;
}
