//! Which store a command works on: the embedded SQLite file in the data directory (default),
//! or a PostgreSQL database shared by several nodes (`--store postgres://...`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use roomlog_core::lifecycle::LifecyclePolicy;
use roomlog_core::Store;
use roomlog_postgres::import::redact;
use roomlog_postgres::{PgOptions, PgStore};
use roomlog_sqlite::{SqliteOptions, SqliteStore};

/// `--store` / `--store-schema`, shared by every command that opens the store itself.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// Keep the data in PostgreSQL, e.g. postgres://roomlog@db:5432/roomlog, shared by every
    /// node of a deployment [default: the embedded store in the data directory].
    #[arg(long, env = "ROOMLOG_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// The PostgreSQL schema to use (created if missing) [default: the connection's].
    #[arg(long, env = "ROOMLOG_STORE_SCHEMA", value_name = "NAME")]
    pub store_schema: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Embedded(PathBuf),
    Postgres { url: String, schema: Option<String> },
}

impl StoreLocation {
    /// `store` is a PostgreSQL URL or absent (the embedded store in `data_dir`).
    pub fn new(store: Option<&str>, schema: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        match store {
            None | Some("") => {
                if schema.is_some() {
                    bail!("--store-schema applies to a PostgreSQL store only (give --store)");
                }
                Ok(Self::Embedded(data_dir.join("roomlog.db")))
            }
            Some(url) if is_postgres_url(url) => Ok(Self::Postgres {
                url: url.to_owned(),
                schema: schema.map(str::to_owned),
            }),
            Some(other) => bail!(
                "--store must be a postgres:// or postgresql:// URL (got `{}`); without it the \
                 embedded store in the data directory is used",
                redact(other)
            ),
        }
    }

    /// Opens the store, running pending schema migrations. `lifecycle`: the server's policy,
    /// which rooms' stored deadlines are brought in line with; `None` for tools (admin,
    /// migrate), which leave them as the servers set them.
    pub async fn open(&self, lifecycle: Option<LifecyclePolicy>) -> anyhow::Result<Arc<dyn Store>> {
        let recompute_deadlines = lifecycle.is_some();
        let lifecycle = lifecycle.unwrap_or_default();
        Ok(match self {
            Self::Embedded(path) => {
                if let Some(dir) = path.parent() {
                    create_private_dir(dir)?;
                }
                let options = SqliteOptions {
                    lifecycle,
                    recompute_deadlines,
                    ..SqliteOptions::default()
                };
                Arc::new(
                    SqliteStore::open_with(path, options)
                        .with_context(|| format!("opening {}", path.display()))?,
                )
            }
            Self::Postgres { url, schema } => {
                let options = PgOptions {
                    lifecycle,
                    recompute_deadlines,
                    schema: schema.clone(),
                    ..PgOptions::default()
                };
                Arc::new(
                    PgStore::connect(url, options)
                        .await
                        .with_context(|| format!("connecting to {}", redact(url)))?,
                )
            }
        })
    }

    /// For logs and messages: never the password.
    pub fn describe(&self) -> String {
        match self {
            Self::Embedded(path) => format!("embedded store {}", path.display()),
            Self::Postgres { url, schema } => match schema {
                Some(schema) => format!("PostgreSQL {} (schema {schema})", redact(url)),
                None => format!("PostgreSQL {}", redact(url)),
            },
        }
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Creates `dir` (and its parents) if missing; the directory itself 0700 on Unix: it holds the
/// store's secrets (the store tightens an existing one when it opens).
pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let dir = Path::new("data");
        assert_eq!(
            StoreLocation::new(None, None, dir).unwrap(),
            StoreLocation::Embedded(dir.join("roomlog.db"))
        );
        assert!(matches!(
            StoreLocation::new(Some("postgresql://h/db"), Some("s"), dir).unwrap(),
            StoreLocation::Postgres { .. }
        ));
        assert!(StoreLocation::new(Some("mysql://h/db"), None, dir).is_err());
        assert!(StoreLocation::new(None, Some("s"), dir).is_err());
    }
}
