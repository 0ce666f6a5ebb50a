//! Connecting: the URL plus the optional schema into a `tokio_postgres::Config`, and the pool.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use roomlog_core::StoreError;

/// How long connecting to the server may take before the call fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call waits for a free pooled connection (all busy) before it fails: long enough
/// for a burst, short enough that an overloaded node answers with errors instead of piling up.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A schema name roomlog accepts: a plain identifier, which travels in the connection's startup
/// options (`-c search_path=...`, split on whitespace by the server) without any escaping.
pub(crate) fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !schema.starts_with(|c: char| c.is_ascii_digit() || c == '$');
    if valid {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "invalid PostgreSQL schema name {schema:?}: use 1 to 63 ASCII letters, digits and \
             underscores, not starting with a digit"
        )))
    }
}

/// `schema` as a quoted identifier (case kept as given).
pub(crate) fn quote_ident(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', "\"\""))
}

/// The connection settings of `url`, with `schema` (if any) as every session's `search_path`:
/// all of roomlog's tables, sequences and its migration history live there.
pub(crate) fn pg_config(
    url: &str,
    schema: Option<&str>,
) -> Result<tokio_postgres::Config, StoreError> {
    // The error never repeats the URL: it may hold a password.
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
    if let Some(schema) = schema {
        check_schema_name(schema)?;
        let mut options = config.get_options().unwrap_or_default().to_owned();
        if !options.is_empty() {
            options.push(' ');
        }
        options.push_str(&format!("-c search_path={}", quote_ident(schema)));
        config.options(&options);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("roomlog");
    }
    Ok(config)
}

/// `config`, made to commit durably: if the server's (or the role's, or the URL's) default is
/// `synchronous_commit = off`, the store's sessions turn it on, since a call must not return
/// before its writes survive a crash. Stronger settings (`remote_apply`, ...) are kept.
pub(crate) async fn durable(
    mut config: tokio_postgres::Config,
) -> Result<tokio_postgres::Config, StoreError> {
    let client = connect_one(&config).await?;
    let mode: String = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| {
            StoreError::Backend(format!(
                "reading synchronous_commit: {}",
                crate::error::describe(&e)
            ))
        })?;
    if mode == "off" {
        tracing::warn!(
            "PostgreSQL's synchronous_commit is off by default here; roomlog turns it on for \
             its sessions (acknowledged writes must survive a crash)"
        );
        let mut options = config.get_options().unwrap_or_default().to_owned();
        if !options.is_empty() {
            options.push(' ');
        }
        options.push_str("-c synchronous_commit=on");
        config.options(&options);
    }
    Ok(config)
}

/// Connects once, outside the pool (for migrations). The connection is driven by a task that
/// ends when the returned client is dropped.
pub(crate) async fn connect_one(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        StoreError::Backend(format!(
            "connecting to PostgreSQL: {}",
            crate::error::describe(&e)
        ))
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "a PostgreSQL connection failed");
        }
    });
    Ok(client)
}

/// The pool of connections every call takes one from. Connections are opened on demand (up to
/// `size`) and checked only for being closed when reused: a query on a connection the server
/// dropped fails that call, and the broken connection is then discarded.
pub(crate) fn pool(config: tokio_postgres::Config, size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Backend(format!("creating the PostgreSQL pool: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        for ok in ["roomlog", "roomlog_test_0af3", "Mixed_Case", "_x"] {
            assert!(check_schema_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "a b", "a\"b", "a;b", "a-b", &"x".repeat(64)] {
            assert!(check_schema_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_schema_becomes_the_search_path_and_keeps_other_options() {
        let config = pg_config(
            "postgres://u@localhost/db?options=-c%20statement_timeout%3D5000",
            Some("Tenant_1"),
        )
        .unwrap();
        assert_eq!(
            config.get_options(),
            Some("-c statement_timeout=5000 -c search_path=\"Tenant_1\"")
        );
        let plain = pg_config("postgres://u@localhost/db", None).unwrap();
        assert_eq!(plain.get_options(), None);
        assert!(pg_config("not a url ://", None).is_err());
    }
}
