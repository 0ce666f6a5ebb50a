//! Accounts, apps and API keys: small tables, admin-rate traffic.

use rusqlite::{Connection, OptionalExtension};

use roomlog_core::{Account, AccountId, ApiKey, App, SdkAppId, StoreError};

use crate::error::{to_i64, Context};
use crate::rows;

pub(crate) fn insert_account(
    conn: &Connection,
    name: &str,
    created_at: i64,
) -> Result<Account, StoreError> {
    conn.prepare_cached("INSERT INTO accounts (name, created_at) VALUES (?1, ?2)")
        .and_then(|mut stmt| stmt.execute((name, created_at)))
        .context("creating an account")?;
    let id = conn.last_insert_rowid();
    Ok(Account {
        id: id as AccountId,
        name: name.to_owned(),
        created_at,
    })
}

/// [`insert_account`] only if there is no account yet, in one statement (the writer runs one
/// command at a time, and SQLite's lock keeps another process out meanwhile).
pub(crate) fn insert_first_account(
    conn: &Connection,
    name: &str,
    created_at: i64,
) -> Result<Option<Account>, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO accounts (name, created_at) SELECT ?1, ?2
             WHERE NOT EXISTS (SELECT 1 FROM accounts)",
        )
        .and_then(|mut stmt| stmt.execute((name, created_at)))
        .context("creating the first account")?;
    Ok((inserted > 0).then(|| Account {
        id: conn.last_insert_rowid() as AccountId,
        name: name.to_owned(),
        created_at,
    }))
}

pub(crate) fn list_accounts(conn: &Connection) -> Result<Vec<Account>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT account_id, name, created_at FROM accounts ORDER BY account_id")
        .context("listing accounts")?;
    let accounts = stmt
        .query_map([], rows::account)
        .and_then(|rows| rows.collect())
        .context("listing accounts")?;
    Ok(accounts)
}

fn account_exists(conn: &Connection, account: AccountId) -> Result<bool, StoreError> {
    let Ok(id) = i64::try_from(account) else {
        return Ok(false);
    };
    conn.prepare_cached("SELECT 1 FROM accounts WHERE account_id = ?1")
        .and_then(|mut stmt| stmt.exists([id]))
        .context("looking up an account")
}

pub(crate) fn insert_app(
    conn: &Connection,
    account: AccountId,
    name: &str,
    created_at: i64,
) -> Result<App, StoreError> {
    if !account_exists(conn, account)? {
        return Err(StoreError::AccountNotFound);
    }
    let account_id = to_i64(account, "account id")?;
    conn.prepare_cached("INSERT INTO apps (account_id, name, created_at) VALUES (?1, ?2, ?3)")
        .and_then(|mut stmt| stmt.execute((account_id, name, created_at)))
        .context("creating an app")?;
    Ok(App {
        sdk_app_id: conn.last_insert_rowid() as SdkAppId,
        account_id: account,
        name: name.to_owned(),
        created_at,
    })
}

pub(crate) fn list_apps(
    conn: &Connection,
    account: Option<AccountId>,
) -> Result<Vec<App>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT sdk_app_id, account_id, name, created_at FROM apps
             WHERE ?1 IS NULL OR account_id = ?1
             ORDER BY sdk_app_id",
        )
        .context("listing apps")?;
    let filter = account.map(|a| to_i64(a, "account id")).transpose()?;
    let apps = stmt
        .query_map([filter], rows::app)
        .and_then(|rows| rows.collect())
        .context("listing apps")?;
    Ok(apps)
}

pub(crate) fn get_app(conn: &Connection, sdk_app_id: SdkAppId) -> Result<Option<App>, StoreError> {
    let Ok(id) = i64::try_from(sdk_app_id) else {
        return Ok(None);
    };
    conn.prepare_cached(
        "SELECT sdk_app_id, account_id, name, created_at FROM apps WHERE sdk_app_id = ?1",
    )
    .and_then(|mut stmt| stmt.query_row([id], rows::app).optional())
    .context("loading an app")
}

pub(crate) fn insert_key(conn: &Connection, key: &ApiKey) -> Result<(), StoreError> {
    if !account_exists(conn, key.account_id)? {
        return Err(StoreError::AccountNotFound);
    }
    let account_id = to_i64(key.account_id, "account id")?;
    conn.prepare_cached(
        "INSERT INTO api_keys (secret_id, secret_key, account_id, enabled, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute((
            &key.secret_id,
            &key.secret_key,
            account_id,
            key.enabled,
            key.created_at,
        ))
    })
    .context("storing an API key")?;
    Ok(())
}

const KEY_COLUMNS: &str = "secret_id, secret_key, account_id, enabled, created_at";

pub(crate) fn list_keys(
    conn: &Connection,
    account: Option<AccountId>,
) -> Result<Vec<ApiKey>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys
             WHERE ?1 IS NULL OR account_id = ?1
             ORDER BY account_id, created_at, secret_id"
        ))
        .context("listing API keys")?;
    let filter = account.map(|a| to_i64(a, "account id")).transpose()?;
    let keys = stmt
        .query_map([filter], rows::api_key)
        .and_then(|rows| rows.collect())
        .context("listing API keys")?;
    Ok(keys)
}

pub(crate) fn set_key_enabled(
    conn: &Connection,
    secret_id: &str,
    enabled: bool,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached("UPDATE api_keys SET enabled = ?2 WHERE secret_id = ?1")
        .and_then(|mut stmt| stmt.execute((secret_id, enabled)))
        .context("enabling or disabling an API key")?;
    Ok(changed > 0)
}

pub(crate) fn get_key(conn: &Connection, secret_id: &str) -> Result<Option<ApiKey>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_id = ?1"
    ))
    .and_then(|mut stmt| stmt.query_row([secret_id], rows::api_key).optional())
    .context("loading an API key")
}
