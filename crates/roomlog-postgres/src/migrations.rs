//! Versioned schema migrations: the SQL files in `migrations/` (`V<n>__<name>.sql`), embedded at
//! compile time and applied by refinery, each in its own transaction together with its row in
//! `refinery_schema_history` (which lives in the store's schema).
//!
//! Versions follow the SQLite store's: version N of both schemas has the same tables and
//! columns, so a copy between them can check it copies like for like ([`SCHEMA_VERSION`]).
//! Migrations are append-only: never edit a released one (refinery refuses a database whose
//! applied migration differs from the file), add the next number. A database migrated by a newer
//! roomlog (a version this build does not have) is refused.
//!
//! Several nodes start at once: whoever migrates holds a session advisory lock (keyed by the
//! schema) meanwhile, so the others wait and then find nothing to do.

use roomlog_core::StoreError;

use crate::connection::{connect_one, quote_ident};
use crate::error::describe;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The schema version this build creates and understands (the SQLite store's number too).
pub const SCHEMA_VERSION: i32 = 4;

/// Key of the advisory lock taken while migrating: per schema (`$1`, or the session's current
/// schema when none is named), so stores in different schemas do not wait for each other.
const LOCK_KEY: &str =
    "hashtext('roomlog.migrate.' || COALESCE(NULLIF($1, ''), current_schema(), ''))";

/// Brings the schema up to date; returns the versions applied (empty: it was up to date).
pub(crate) async fn migrate(
    config: &tokio_postgres::Config,
    schema: Option<&str>,
) -> Result<Vec<i32>, StoreError> {
    let mut client = connect_one(config).await?;
    let name = schema.unwrap_or("");
    client
        .execute(&format!("SELECT pg_advisory_lock({LOCK_KEY})"), &[&name])
        .await
        .map_err(|e| backend("taking the migration lock", &e))?;
    let applied = migrate_locked(&mut client, schema).await;
    // Dropping the connection releases the lock too; unlocking first lets the next node go at
    // once rather than when the server notices the session ended.
    if let Err(e) = client
        .execute(&format!("SELECT pg_advisory_unlock({LOCK_KEY})"), &[&name])
        .await
    {
        tracing::warn!(error = %describe(&e), "releasing the migration lock failed");
    }
    applied
}

async fn migrate_locked(
    client: &mut tokio_postgres::Client,
    schema: Option<&str>,
) -> Result<Vec<i32>, StoreError> {
    if let Some(schema) = schema {
        // Only when missing: CREATE SCHEMA needs a privilege an operator may not have granted
        // for a schema they created beforehand.
        let exists = client
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
            .await
            .map_err(|e| backend("looking up the schema", &e))?
            .is_some();
        if !exists {
            client
                .batch_execute(&format!("CREATE SCHEMA {}", quote_ident(schema)))
                .await
                .map_err(|e| backend(&format!("creating schema {schema}"), &e))?;
        }
    }
    let report = embedded::migrations::runner()
        .run_async(client)
        .await
        .map_err(|e| {
            StoreError::Backend(format!(
                "migrating the PostgreSQL schema (this roomlog knows versions 1 to \
                 {SCHEMA_VERSION}; a database migrated by a newer roomlog is refused): {e}"
            ))
        })?;
    let applied: Vec<i32> = report
        .applied_migrations()
        .iter()
        .map(|m| m.version())
        .collect();
    if !applied.is_empty() {
        tracing::info!(?applied, "migrated the PostgreSQL schema");
    }
    Ok(applied)
}

fn backend(what: &str, e: &tokio_postgres::Error) -> StoreError {
    StoreError::Backend(format!("{what}: {}", describe(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dense_and_end_at_schema_version() {
        let runner = embedded::migrations::runner();
        let mut versions: Vec<i32> = runner
            .get_migrations()
            .iter()
            .map(|m| m.version())
            .collect();
        versions.sort_unstable();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    }
}
