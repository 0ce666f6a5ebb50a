//! Registered users: RegisterUser, BatchRegister, LoginUser, DescribeUser, and the names that
//! member records show.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::GenericClient;

use roomlog_core::store::row::key;
use roomlog_core::store::sql::{
    INSERT_USER, OVERWRITE_USER, SET_USER_TOKEN, USER_BY_ID, USER_BY_ORIGIN,
};
use roomlog_core::user::Registration;
use roomlog_core::{SdkAppId, StoreError, User};

use crate::error::{is_unique_violation, to_i64, Context, Error};
use crate::rows;
use crate::sql::{commit, execute, query, query_opt, write, Client};

pub(crate) async fn get_by_origin<C: GenericClient>(
    c: &C,
    sdk_app_id: SdkAppId,
    origin_id: &str,
) -> Result<Option<User>, Error> {
    query_opt(c, USER_BY_ORIGIN, &[&key(sdk_app_id), &origin_id])
        .await
        .context("looking up a user by OriginId")?
        .as_ref()
        .map(rows::user)
        .transpose()
}

/// The store's `register_users`, in one transaction: an error undoes every registration of the
/// call. Two nodes registering the same OriginId at once: the loser's insert hits the unique
/// index, and the whole call is retried (`Error::Retry`), now seeing the winner's user.
pub(crate) async fn register(
    c: &mut Client,
    users: &[User],
    overwrite: bool,
) -> Result<Vec<User>, Error> {
    let tx = write(c).await?;
    // Every app must exist (the foreign key would refuse it too, but as an opaque failure).
    let apps: HashSet<SdkAppId> = users.iter().map(|u| u.sdk_app_id).collect();
    let mut app_ids = Vec::with_capacity(apps.len());
    for app in apps {
        app_ids.push(i64::try_from(app).map_err(|_| StoreError::AppNotFound)?);
    }
    let found = query(
        &tx,
        "SELECT COUNT(*) FROM apps WHERE sdk_app_id = ANY($1)",
        &[&app_ids],
    )
    .await
    .context("looking up the apps of new users")?;
    let existing: i64 = found
        .first()
        .map(|row| rows::get(row, 0))
        .transpose()?
        .unwrap_or(0);
    if existing != app_ids.len() as i64 {
        return Err(StoreError::AppNotFound.into());
    }
    let mut stored = Vec::with_capacity(users.len());
    for user in users {
        let app = to_i64(user.sdk_app_id, "SdkAppId")?;
        let existing = match user.origin_id.as_str() {
            "" => None,
            origin_id => get_by_origin(&tx, user.sdk_app_id, origin_id).await?,
        };
        let user = match Registration::decide(user.clone(), existing, overwrite)
            .map_err(StoreError::Rejected)?
        {
            Registration::Overwrite(user) => {
                execute(
                    &tx,
                    OVERWRITE_USER,
                    &[
                        &user.name,
                        &user.avatar,
                        &user.token,
                        &user.token_expires_ms,
                        &user.user_id,
                    ],
                )
                .await
                .with_context(|| format!("overwriting user {}", user.user_id))?;
                user
            }
            Registration::Insert(user) => {
                let inserted = execute(
                    &tx,
                    INSERT_USER,
                    &[
                        &user.user_id,
                        &app,
                        &user.name,
                        &user.origin_id,
                        &user.avatar,
                        &user.token,
                        &user.token_expires_ms,
                        &user.created_at,
                    ],
                )
                .await;
                match inserted {
                    Err(e) if is_unique_violation(&e, "users_by_origin") => {
                        return Err(Error::Retry(format!(
                            "registering user {}: OriginId `{}` was registered concurrently",
                            user.user_id, user.origin_id
                        )));
                    }
                    other => {
                        other.with_context(|| format!("registering user {}", user.user_id))?;
                    }
                }
                user
            }
        };
        stored.push(user);
    }
    commit(tx).await?;
    Ok(stored)
}

pub(crate) async fn get(c: &Client, user_id: &str) -> Result<Option<User>, Error> {
    query_opt(c, USER_BY_ID, &[&user_id])
        .await
        .context("loading a user")?
        .as_ref()
        .map(rows::user)
        .transpose()
}

pub(crate) async fn set_token(
    c: &Client,
    user_id: &str,
    token: &str,
    expires_ms: i64,
) -> Result<bool, Error> {
    let changed = execute(c, SET_USER_TOKEN, &[&token, &expires_ms, &user_id])
        .await
        .context("replacing a user's token")?;
    Ok(changed > 0)
}

/// Names of the app's users among `user_ids`: one query (one snapshot).
pub(crate) async fn names(
    c: &Client,
    sdk_app_id: SdkAppId,
    user_ids: &[String],
) -> Result<HashMap<String, String>, Error> {
    let mut names = HashMap::new();
    if user_ids.is_empty() {
        return Ok(names);
    }
    let found = query(
        c,
        "SELECT user_id, name FROM users WHERE sdk_app_id = $1 AND user_id = ANY($2)",
        &[&key(sdk_app_id), &user_ids],
    )
    .await
    .context("looking up user names")?;
    for row in &found {
        names.insert(rows::get(row, 0)?, rows::get(row, 1)?);
    }
    Ok(names)
}
