//! `roomlog serve | admin | call | simulate`.

mod admin;
mod call;
mod copy;
mod serve;
mod simulate;
pub mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use admin::AdminCommand;
pub use call::CallArgs;
pub use serve::ServeArgs;
pub use simulate::SimulateArgs;

#[derive(Debug, Parser)]
#[command(
    name = "roomlog",
    version,
    about = "Classroom room-event service speaking Tencent Cloud LCIC's API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (zero configuration: embedded store in ./roomlog-data, 127.0.0.1:7600).
    Serve(Box<ServeArgs>),
    /// Manage accounts, apps and keys in the store (also while the server runs).
    Admin {
        /// The data directory the server uses.
        #[arg(long, env = "ROOMLOG_DATA_DIR", default_value = "roomlog-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        store: store::StoreArgs,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Bring the store's schema up to date (`serve` does this at start too) and exit.
    Migrate {
        /// The data directory of the embedded store (without --store).
        #[arg(long, env = "ROOMLOG_DATA_DIR", default_value = "roomlog-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        store: store::StoreArgs,
    },
    /// Copy everything from an embedded store into an empty PostgreSQL database, then verify
    /// the copy (row counts and checksums of every table).
    Copy(copy::CopyArgs),
    /// Call an API action, signed with TC3 (like tccli), and print the response.
    Call(CallArgs),
    /// Play a class through the public API: a room, a teacher and students joining, toggling
    /// camera and mic, leaving, the recording finishing.
    Simulate(SimulateArgs),
}

/// Where a client finds the service and its credentials (shared by `call` and `simulate`).
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The service's address.
    #[arg(long, env = "ROOMLOG_ENDPOINT", default_value = crate::client::DEFAULT_ENDPOINT)]
    pub endpoint: String,
    #[arg(long, env = "ROOMLOG_SECRET_ID", requires = "secret_key")]
    pub secret_id: Option<String>,
    #[arg(
        long,
        env = "ROOMLOG_SECRET_KEY",
        hide_env_values = true,
        requires = "secret_id"
    )]
    pub secret_key: Option<String>,
    /// Without --secret-id/--secret-key, the credentials a first start wrote here are used.
    #[arg(long, env = "ROOMLOG_DATA_DIR", default_value = "roomlog-data")]
    pub data_dir: PathBuf,
}

impl ClientArgs {
    pub fn client(&self) -> anyhow::Result<crate::client::Client> {
        match (&self.secret_id, &self.secret_key) {
            (Some(id), Some(key)) => crate::client::Client::new(&self.endpoint, id, key),
            _ => crate::client::Client::from_data_dir(&self.endpoint, &self.data_dir),
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(*args).await.map(|()| ExitCode::SUCCESS),
        Command::Admin {
            data_dir,
            store,
            command,
        } => admin::run(&data_dir, &store, command)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Migrate { data_dir, store } => {
            migrate(&data_dir, &store).await.map(|()| ExitCode::SUCCESS)
        }
        Command::Copy(args) => copy::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Call(args) => call::run(args).await,
        Command::Simulate(args) => simulate::run(args).await.map(|()| ExitCode::SUCCESS),
    }
}

async fn migrate(data_dir: &std::path::Path, args: &store::StoreArgs) -> anyhow::Result<()> {
    let location = store::StoreLocation::new(
        args.store.as_deref(),
        args.store_schema.as_deref(),
        data_dir,
    )?;
    match &location {
        store::StoreLocation::Postgres { url, schema } => {
            let applied = roomlog_postgres::migrate(url, schema.as_deref()).await?;
            if applied.is_empty() {
                println!("{}: schema up to date", location.describe());
            } else {
                println!("{}: applied migrations {applied:?}", location.describe());
            }
        }
        store::StoreLocation::Embedded(_) => {
            // Opening the embedded store migrates it.
            let store = location.open(None).await?;
            store.close().await;
            println!(
                "{}: schema up to date (version {})",
                location.describe(),
                roomlog_sqlite::SCHEMA_VERSION
            );
        }
    }
    Ok(())
}
