//! Registered users (RegisterUser, BatchRegister, LoginUser, DescribeUser).

use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

use crate::account::SdkAppId;
use crate::error::DomainError;

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

/// What registering a user does, given the user the app already has with its OriginId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// A new user: insert it.
    Insert(User),
    /// The existing user keeps its id and gets the new name, avatar and token: update it to this.
    Overwrite(User),
}

/// The code of a registration whose OriginId the app already has (without overwrite).
const ORIGIN_ID_EXISTS: &str = "FailedOperation.OriginIdExists";

impl Registration {
    /// Registering `user` when `existing` has its OriginId in its app (`None`: nobody, or `user`
    /// has no OriginId): a new user, an overwrite of the existing one, or, without `overwrite`,
    /// `FailedOperation.OriginIdExists`.
    pub fn decide(
        user: User,
        existing: Option<User>,
        overwrite: bool,
    ) -> Result<Registration, DomainError> {
        match existing {
            None => Ok(Registration::Insert(user)),
            Some(existing) if overwrite => Ok(Registration::Overwrite(User {
                name: user.name,
                avatar: user.avatar,
                token: user.token,
                token_expires_ms: user.token_expires_ms,
                ..existing
            })),
            Some(existing) => Err(DomainError::new(
                ORIGIN_ID_EXISTS,
                format!(
                    "A user with OriginId `{}` already exists in app {}: {}.",
                    user.origin_id, user.sdk_app_id, existing.user_id
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(user_id: &str, name: &str, token: &str) -> User {
        User {
            user_id: user_id.into(),
            sdk_app_id: 7,
            name: name.into(),
            origin_id: "o1".into(),
            avatar: format!("{name}.png"),
            token: token.into(),
            token_expires_ms: token.len() as i64,
            created_at: 1,
        }
    }

    #[test]
    fn registration_inserts_overwrites_or_refuses() {
        let new = user("new", "Bo", "t-new");
        let old = user("old", "Al", "t-old");
        assert_eq!(
            Registration::decide(new.clone(), None, false),
            Ok(Registration::Insert(new.clone()))
        );
        assert_eq!(
            Registration::decide(new.clone(), Some(old.clone()), true),
            Ok(Registration::Overwrite(User {
                user_id: "old".into(),
                ..new.clone()
            })),
            "the existing user keeps its id, and gets the new name, avatar and token"
        );
        let refused = Registration::decide(new, Some(old), false).unwrap_err();
        assert_eq!(refused.code, ORIGIN_ID_EXISTS);
        assert!(refused.message.contains("`o1`") && refused.message.contains("old"));
    }
}
