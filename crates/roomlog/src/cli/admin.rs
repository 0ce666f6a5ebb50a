//! `roomlog admin ...`: accounts, apps and keys, written to the same store the server uses.
//! SQLite lets this process write while the server runs; the server sees changes at once
//! (PostgreSQL too, with `--store`).

use std::path::Path;

use anyhow::bail;
use roomlog_core::time::now_secs;
use roomlog_core::{ApiKey, Store};

use super::store::{StoreArgs, StoreLocation};
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Create an account.
    CreateAccount { name: String },
    /// List accounts.
    ListAccounts,
    /// Create an app (SdkAppId) for an account.
    CreateApp {
        #[arg(long)]
        account: u64,
        #[arg(long, default_value = "app")]
        name: String,
    },
    /// List apps, of every account or one.
    ListApps {
        #[arg(long)]
        account: Option<u64>,
    },
    /// Create a key pair for an account; the SecretKey is printed only here.
    CreateKey {
        #[arg(long)]
        account: u64,
    },
    /// List keys (without their SecretKey).
    ListKeys {
        #[arg(long)]
        account: Option<u64>,
    },
    /// Disable a key: requests signed with it answer AuthFailure.SecretIdNotFound.
    DisableKey { secret_id: String },
    /// Enable a disabled key again.
    EnableKey { secret_id: String },
}

pub async fn run(data_dir: &Path, args: &StoreArgs, command: AdminCommand) -> anyhow::Result<()> {
    let location = StoreLocation::new(
        args.store.as_deref(),
        args.store_schema.as_deref(),
        data_dir,
    )?;
    if let StoreLocation::Embedded(path) = &location {
        if !path.exists() {
            bail!(
                "no store at {} (start `roomlog serve --data-dir {}` once, or pass --data-dir)",
                path.display(),
                data_dir.display()
            );
        }
    }
    let store = location.open(None).await?;
    let result = execute(store.as_ref(), command).await;
    store.close().await;
    let output = result?;
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

async fn execute(store: &dyn Store, command: AdminCommand) -> anyhow::Result<serde_json::Value> {
    Ok(match command {
        AdminCommand::CreateAccount { name } => {
            let account = store.create_account(&name).await?;
            json!({ "AccountId": account.id, "Name": account.name })
        }
        AdminCommand::ListAccounts => {
            let accounts = store.list_accounts().await?;
            json!(accounts
                .iter()
                .map(|a| json!({ "AccountId": a.id, "Name": a.name, "CreatedAt": a.created_at }))
                .collect::<Vec<_>>())
        }
        AdminCommand::CreateApp { account, name } => {
            let app = store.create_app(account, &name).await?;
            json!({ "SdkAppId": app.sdk_app_id, "AccountId": app.account_id, "Name": app.name })
        }
        AdminCommand::ListApps { account } => {
            let apps = store.list_apps(account).await?;
            json!(apps
                .iter()
                .map(|a| json!({ "SdkAppId": a.sdk_app_id, "AccountId": a.account_id, "Name": a.name, "CreatedAt": a.created_at }))
                .collect::<Vec<_>>())
        }
        AdminCommand::CreateKey { account } => {
            let key = ApiKey::generate(account, now_secs());
            store.insert_key(&key).await?;
            json!({ "SecretId": key.secret_id, "SecretKey": key.secret_key, "AccountId": account })
        }
        AdminCommand::ListKeys { account } => {
            let keys = store.list_keys(account).await?;
            json!(keys
                .iter()
                .map(|k| json!({ "SecretId": k.secret_id, "AccountId": k.account_id, "Enabled": k.enabled, "CreatedAt": k.created_at }))
                .collect::<Vec<_>>())
        }
        AdminCommand::DisableKey { secret_id } => set_enabled(store, &secret_id, false).await?,
        AdminCommand::EnableKey { secret_id } => set_enabled(store, &secret_id, true).await?,
    })
}

async fn set_enabled(
    store: &dyn Store,
    secret_id: &str,
    enabled: bool,
) -> anyhow::Result<serde_json::Value> {
    if !store.set_key_enabled(secret_id, enabled).await? {
        bail!("no key with SecretId {secret_id}");
    }
    Ok(json!({ "SecretId": secret_id, "Enabled": enabled }))
}
