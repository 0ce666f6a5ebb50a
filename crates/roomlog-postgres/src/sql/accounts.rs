//! Accounts, apps and API keys: small tables, admin-rate traffic. Each write is one statement.

use roomlog_core::{Account, AccountId, ApiKey, App, SdkAppId, StoreError};

use crate::error::{is_unique_violation, to_i64, Context, Error};
use crate::rows;
use crate::sql::{commit, execute, query, query_one, query_opt, write, Client};

pub(crate) async fn insert_account(
    c: &Client,
    name: &str,
    created_at: i64,
) -> Result<Account, Error> {
    let row = query_one(
        c,
        "INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING account_id",
        &[&name, &created_at],
    )
    .await
    .context("creating an account")?;
    Ok(Account {
        id: rows::get_u64(&row, 0)?,
        name: name.to_owned(),
        created_at,
    })
}

/// [`insert_account`] only if there is no account yet, serialised with every other node's
/// attempt by a transaction-scoped advisory lock (under READ COMMITTED the check after the lock
/// sees any first account another node committed meanwhile).
pub(crate) async fn insert_first_account(
    c: &mut Client,
    name: &str,
    created_at: i64,
) -> Result<Option<Account>, Error> {
    let tx = write(c).await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('roomlog.first-account'))",
        &[],
    )
    .await
    .context("waiting for the first-account lock")?;
    let row = tx
        .query_opt(
            "INSERT INTO accounts (name, created_at) SELECT $1, $2 \
             WHERE NOT EXISTS (SELECT 1 FROM accounts) RETURNING account_id",
            &[&name, &created_at],
        )
        .await
        .context("creating the first account")?;
    commit(tx).await?;
    row.map(|row| {
        Ok(Account {
            id: rows::get_u64(&row, 0)?,
            name: name.to_owned(),
            created_at,
        })
    })
    .transpose()
}

pub(crate) async fn list_accounts(c: &Client) -> Result<Vec<Account>, Error> {
    let found = query(
        c,
        "SELECT account_id, name, created_at FROM accounts ORDER BY account_id",
        &[],
    )
    .await
    .context("listing accounts")?;
    rows::all(&found, rows::account)
}

/// A foreign key names the account, so a missing one fails the insert: that failure is
/// `AccountNotFound`, with no lookup before (and no race between lookup and insert).
fn missing_account(e: &tokio_postgres::Error, constraint: &str) -> bool {
    e.as_db_error().is_some_and(|db| {
        *db.code() == tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION
            && db.constraint() == Some(constraint)
    })
}

pub(crate) async fn insert_app(
    c: &Client,
    account: AccountId,
    name: &str,
    created_at: i64,
) -> Result<App, Error> {
    let Ok(account_id) = i64::try_from(account) else {
        return Err(StoreError::AccountNotFound.into());
    };
    let row = match query_one(
        c,
        "INSERT INTO apps (account_id, name, created_at) VALUES ($1, $2, $3) RETURNING sdk_app_id",
        &[&account_id, &name, &created_at],
    )
    .await
    {
        Err(e) if missing_account(&e, "apps_account_id_fkey") => {
            return Err(StoreError::AccountNotFound.into())
        }
        other => other.context("creating an app")?,
    };
    Ok(App {
        sdk_app_id: rows::get_u64(&row, 0)?,
        account_id: account,
        name: name.to_owned(),
        created_at,
    })
}

pub(crate) async fn list_apps(c: &Client, account: Option<AccountId>) -> Result<Vec<App>, Error> {
    let filter = account.map(|a| to_i64(a, "account id")).transpose();
    // An account id beyond i64 has no apps.
    let Ok(filter) = filter else {
        return Ok(Vec::new());
    };
    let found = query(
        c,
        "SELECT sdk_app_id, account_id, name, created_at FROM apps
         WHERE $1::bigint IS NULL OR account_id = $1
         ORDER BY sdk_app_id",
        &[&filter],
    )
    .await
    .context("listing apps")?;
    rows::all(&found, rows::app)
}

pub(crate) async fn get_app(c: &Client, sdk_app_id: SdkAppId) -> Result<Option<App>, Error> {
    let Ok(id) = i64::try_from(sdk_app_id) else {
        return Ok(None);
    };
    query_opt(
        c,
        "SELECT sdk_app_id, account_id, name, created_at FROM apps WHERE sdk_app_id = $1",
        &[&id],
    )
    .await
    .context("loading an app")?
    .as_ref()
    .map(rows::app)
    .transpose()
}

const KEY_COLUMNS: &str = "secret_id, secret_key, account_id, enabled, created_at";

pub(crate) async fn insert_key(c: &Client, key: &ApiKey) -> Result<(), Error> {
    let Ok(account_id) = i64::try_from(key.account_id) else {
        return Err(StoreError::AccountNotFound.into());
    };
    let result = execute(
        c,
        "INSERT INTO api_keys (secret_id, secret_key, account_id, enabled, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &key.secret_id,
            &key.secret_key,
            &account_id,
            &i64::from(key.enabled),
            &key.created_at,
        ],
    )
    .await;
    match result {
        Err(e) if missing_account(&e, "api_keys_account_id_fkey") => {
            Err(StoreError::AccountNotFound.into())
        }
        Err(e) if is_unique_violation(&e, "api_keys_pkey") => Err(Error::Store(
            StoreError::Backend(format!("an API key {} already exists", key.secret_id)),
        )),
        other => other.context("storing an API key").map(drop),
    }
}

pub(crate) async fn list_keys(
    c: &Client,
    account: Option<AccountId>,
) -> Result<Vec<ApiKey>, Error> {
    let Ok(filter) = account.map(|a| to_i64(a, "account id")).transpose() else {
        return Ok(Vec::new());
    };
    let found = query(
        c,
        &format!(
            "SELECT {KEY_COLUMNS} FROM api_keys
             WHERE $1::bigint IS NULL OR account_id = $1
             ORDER BY account_id, created_at, secret_id"
        ),
        &[&filter],
    )
    .await
    .context("listing API keys")?;
    rows::all(&found, rows::api_key)
}

pub(crate) async fn set_key_enabled(
    c: &Client,
    secret_id: &str,
    enabled: bool,
) -> Result<bool, Error> {
    let changed = execute(
        c,
        "UPDATE api_keys SET enabled = $2 WHERE secret_id = $1",
        &[&secret_id, &i64::from(enabled)],
    )
    .await
    .context("enabling or disabling an API key")?;
    Ok(changed > 0)
}

pub(crate) async fn get_key(c: &Client, secret_id: &str) -> Result<Option<ApiKey>, Error> {
    query_opt(
        c,
        &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_id = $1"),
        &[&secret_id],
    )
    .await
    .context("loading an API key")?
    .as_ref()
    .map(rows::api_key)
    .transpose()
}
