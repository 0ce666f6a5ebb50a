//! Registered users: RegisterUser, BatchRegister, LoginUser, DescribeUser, and the names that
//! member records show.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension};

use roomlog_core::user::Registration;
use roomlog_core::{SdkAppId, StoreError, User};

use crate::error::{to_i64, Context};
use crate::rows::{self, user_columns};

/// A user by the platform's id, within one app. Phrased (`origin_id <> ''`) to match the partial
/// unique index `users_by_origin`: users without an OriginId are not in it.
pub(crate) const BY_ORIGIN: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE sdk_app_id = ?1 AND origin_id = ?2 AND origin_id <> ''"
);

const BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE user_id = ?1");

fn by_origin(conn: &Connection, app: i64, origin_id: &str) -> Result<Option<User>, StoreError> {
    conn.prepare_cached(BY_ORIGIN)
        .and_then(|mut stmt| stmt.query_row((app, origin_id), rows::user).optional())
        .context("looking up a user by OriginId")
}

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
            origin_id => by_origin(conn, app, origin_id)?,
        };
        let user = match Registration::decide(user, existing, overwrite)? {
            Registration::Overwrite(user) => {
                conn.prepare_cached(
                    "UPDATE users SET name = ?2, avatar = ?3, token = ?4, token_expires_ms = ?5
                     WHERE user_id = ?1",
                )
                .and_then(|mut stmt| {
                    stmt.execute((
                        &user.user_id,
                        &user.name,
                        &user.avatar,
                        &user.token,
                        user.token_expires_ms,
                    ))
                })
                .with_context(|| format!("overwriting user {}", user.user_id))?;
                user
            }
            Registration::Insert(user) => {
                conn.prepare_cached(
                    "INSERT INTO users (user_id, sdk_app_id, name, origin_id, avatar, token,
                                        token_expires_ms, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
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
    conn.prepare_cached(BY_ID)
        .and_then(|mut stmt| stmt.query_row([user_id], rows::user).optional())
        .context("loading a user")
}

pub(crate) fn get_by_origin(
    conn: &Connection,
    sdk_app_id: SdkAppId,
    origin_id: &str,
) -> Result<Option<User>, StoreError> {
    let Ok(app) = i64::try_from(sdk_app_id) else {
        return Ok(None);
    };
    by_origin(conn, app, origin_id)
}

pub(crate) fn set_token(
    conn: &Connection,
    user_id: &str,
    token: &str,
    expires_ms: i64,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached("UPDATE users SET token = ?2, token_expires_ms = ?3 WHERE user_id = ?1")
        .and_then(|mut stmt| stmt.execute((user_id, token, expires_ms)))
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
    let Ok(app) = i64::try_from(sdk_app_id) else {
        return Ok(names);
    };
    let tx = conn
        .unchecked_transaction()
        .context("starting a user name read")?;
    {
        let mut stmt = tx
            .prepare_cached("SELECT name FROM users WHERE user_id = ?1 AND sdk_app_id = ?2")
            .context("looking up user names")?;
        for user_id in user_ids {
            let name: Option<String> = stmt
                .query_row((user_id, app), |row| row.get(0))
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
