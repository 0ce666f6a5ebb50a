//! Registered users: RegisterUser, BatchRegister, LoginUser, DescribeUser, and the names that
//! member records show.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension};

use roomlog_core::store::row::key;
use roomlog_core::store::sql::{
    INSERT_USER, OVERWRITE_USER, SET_USER_TOKEN, USER_BY_ID, USER_BY_ORIGIN,
};
use roomlog_core::user::Registration;
use roomlog_core::{SdkAppId, StoreError, User};

use crate::error::{to_i64, Context};
use crate::rows;

/// The store's `register_users`, in the caller's savepoint: an error undoes every registration
/// of the call.
pub(crate) fn register(
    conn: &Connection,
    users: Vec<User>,
    overwrite: bool,
) -> Result<Vec<User>, StoreError> {
    // Every app must exist (the foreign key would refuse it too, but as an opaque failure).
    let apps: HashSet<SdkAppId> = users.iter().map(|u| u.sdk_app_id).collect();
    for app in apps {
        let Ok(id) = i64::try_from(app) else {
            return Err(StoreError::AppNotFound);
        };
        let exists = conn
            .prepare_cached("SELECT 1 FROM apps WHERE sdk_app_id = ?1")
            .and_then(|mut stmt| stmt.exists([id]))
            .context("looking up the app of new users")?;
        if !exists {
            return Err(StoreError::AppNotFound);
        }
    }
    let mut stored = Vec::with_capacity(users.len());
    for user in users {
        let app = to_i64(user.sdk_app_id, "SdkAppId")?;
        let existing = match user.origin_id.as_str() {
            "" => None,
            origin_id => get_by_origin(conn, user.sdk_app_id, origin_id)?,
        };
        let user = match Registration::decide(user, existing, overwrite)? {
            Registration::Overwrite(user) => {
                conn.prepare_cached(OVERWRITE_USER)
                    .and_then(|mut stmt| {
                        stmt.execute((
                            &user.name,
                            &user.avatar,
                            &user.token,
                            user.token_expires_ms,
                            &user.user_id,
                        ))
                    })
                    .with_context(|| format!("overwriting user {}", user.user_id))?;
                user
            }
            Registration::Insert(user) => {
                conn.prepare_cached(INSERT_USER)
                    .and_then(|mut stmt| {
                        stmt.execute((
                            &user.user_id,
                            app,
                            &user.name,
                            &user.origin_id,
                            &user.avatar,
                            &user.token,
                            user.token_expires_ms,
                            user.created_at,
                        ))
                    })
                    .with_context(|| format!("registering user {}", user.user_id))?;
                user
            }
        };
        stored.push(user);
    }
    Ok(stored)
}

pub(crate) fn get(conn: &Connection, user_id: &str) -> Result<Option<User>, StoreError> {
    conn.prepare_cached(USER_BY_ID)
        .and_then(|mut stmt| stmt.query_row([user_id], rows::user).optional())
        .context("loading a user")
}

pub(crate) fn get_by_origin(
    conn: &Connection,
    sdk_app_id: SdkAppId,
    origin_id: &str,
) -> Result<Option<User>, StoreError> {
    conn.prepare_cached(USER_BY_ORIGIN)
        .and_then(|mut stmt| {
            stmt.query_row((key(sdk_app_id), origin_id), rows::user)
                .optional()
        })
        .context("looking up a user by OriginId")
}

pub(crate) fn set_token(
    conn: &Connection,
    user_id: &str,
    token: &str,
    expires_ms: i64,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(SET_USER_TOKEN)
        .and_then(|mut stmt| stmt.execute((token, expires_ms, user_id)))
        .context("replacing a user's token")?;
    Ok(changed > 0)
}

/// Names of the app's users among `user_ids`: one primary-key seek each, in one snapshot.
pub(crate) fn names(
    conn: &Connection,
    sdk_app_id: SdkAppId,
    user_ids: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    let mut names = HashMap::new();
    let tx = conn
        .unchecked_transaction()
        .context("starting a user name read")?;
    {
        let mut stmt = tx
            .prepare_cached("SELECT name FROM users WHERE user_id = ?1 AND sdk_app_id = ?2")
            .context("looking up user names")?;
        for user_id in user_ids {
            let name: Option<String> = stmt
                .query_row((user_id, key(sdk_app_id)), |row| row.get(0))
                .optional()
                .context("looking up user names")?;
            if let Some(name) = name {
                names.insert(user_id.clone(), name);
            }
        }
    }
    tx.finish().context("finishing a user name read")?;
    Ok(names)
}
