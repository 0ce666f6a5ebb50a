//! Registered users (RegisterUser, BatchRegister, LoginUser, DescribeUser).

use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

use crate::account::SdkAppId;

/// A login token is valid this long (LCIC: 7 days).
pub const TOKEN_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Globally unique; what the classroom runtime reports as `UserId`.
    pub user_id: String,
    pub sdk_app_id: SdkAppId,
    pub name: String,
    /// The platform's own id for the user, unique within the app (empty: none).
    pub origin_id: String,
    pub avatar: String,
    pub token: String,
    /// Unix ms.
    pub token_expires_ms: i64,
    /// Unix seconds.
    pub created_at: i64,
}

impl User {
    pub fn new_user_id() -> String {
        Alphanumeric.sample_string(&mut rand::rng(), 24)
    }

    pub fn new_token() -> String {
        Alphanumeric.sample_string(&mut rand::rng(), 40)
    }
}
