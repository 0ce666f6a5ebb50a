//! What the PostgreSQL tests share: the server to use, and throwaway schemas.
//!
//! Every test works in a schema of its own (`roomlog_test_<uuid>`), dropped with everything in it
//! when the test's [`Schema`] guard goes, so tests run side by side on one database and leave
//! nothing behind. The server: `ROOMLOG_TEST_POSTGRES`, or the local one.

#![allow(dead_code)] // Each test binary uses its own part of this.

use roomlog_postgres::{PgOptions, PgStore};

#[allow(unused_imports)] // Each test binary uses its own part of this.
pub use roomlog_core::conformance::{append, end, start};

pub fn url() -> String {
    std::env::var("ROOMLOG_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema name no other test uses. (Not created here: `migrate`/`connect` create it.)
pub fn schema_name() -> String {
    format!("roomlog_test_{}", uuid::Uuid::new_v4().simple())
}

/// Options for a test store in `schema`: a small pool (tests run side by side, and other
/// projects' tests may share the server's connection limit).
pub fn options(schema: &str) -> PgOptions {
    PgOptions {
        pool_size: 8,
        schema: Some(schema.to_owned()),
        ..PgOptions::default()
    }
}

/// Drops its schema (CASCADE: tables, sequences, the migration history) when dropped.
pub struct Schema {
    pub name: String,
}

impl Schema {
    pub fn new() -> Schema {
        Schema {
            name: schema_name(),
        }
    }

    /// A store on this schema, as a node would open it.
    pub async fn connect(&self) -> PgStore {
        PgStore::connect(&url(), options(&self.name))
            .await
            .expect("connecting to the test PostgreSQL (set ROOMLOG_TEST_POSTGRES)")
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block on a future: the schema is
        // dropped from a thread with a runtime of its own, joined so it is gone when this
        // returns. Best effort: a failure only leaves a schema behind.
        let (url, name) = (url(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                let driver = tokio::spawn(connection);
                let result = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await
                    .map_err(|e| e.to_string());
                drop(client);
                let _ = driver.await;
                result
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("dropping test schema {}: {e}", self.name),
            Err(_) => eprintln!("dropping test schema {}: the thread panicked", self.name),
        }
    }
}
