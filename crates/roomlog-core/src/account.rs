//! Accounts own apps (SdkAppId) and API keys (SecretId/SecretKey).

use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

pub type AccountId = u64;
pub type SdkAppId = u64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub sdk_app_id: SdkAppId,
    pub account_id: AccountId,
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub secret_id: String,
    pub secret_key: String,
    pub account_id: AccountId,
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl ApiKey {
    /// A fresh key pair in Tencent Cloud's shape: `AKID` + 32 characters, and a 32-character key.
    pub fn generate(account_id: AccountId, created_at: i64) -> Self {
        let mut rng = rand::rng();
        Self {
            secret_id: format!("AKID{}", Alphanumeric.sample_string(&mut rng, 32)),
            secret_key: Alphanumeric.sample_string(&mut rng, 32),
            account_id,
            enabled: true,
            created_at,
        }
    }
}
