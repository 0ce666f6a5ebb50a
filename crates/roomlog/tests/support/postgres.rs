//! The PostgreSQL and Redis the scale-out tests use, and throwaway schemas.

use std::process::{Command, Stdio};

/// `ROOMLOG_TEST_POSTGRES`, or the local server (trust auth, database `test`).
pub fn url() -> String {
    std::env::var("ROOMLOG_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `ROOMLOG_TEST_REDIS`, or the local server.
pub fn redis_url() -> String {
    std::env::var("ROOMLOG_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A schema name of the test's own (`roomlog` creates it), dropped with everything in it when
/// this goes.
pub struct Schema {
    pub name: String,
}

impl Schema {
    pub fn new(prefix: &str) -> Self {
        Self {
            name: format!("{prefix}_{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // psql: Drop runs outside any runtime. Best effort: a failure leaves a schema behind.
        let _ = Command::new("psql")
            .args([
                &url(),
                "-q",
                "-c",
                &format!(
                    "SET client_min_messages TO warning; DROP SCHEMA IF EXISTS {} CASCADE",
                    self.name
                ),
            ])
            .stderr(Stdio::null())
            .status();
    }
}
