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

impl Schema {
    /// Ends the connections the schema's nodes LISTEN on for each other's commits (as a
    /// PostgreSQL restart or a network blip would); returns how many there were.
    pub fn drop_commit_listeners(&self) -> u32 {
        let channel = roomlog_postgres::commit_channel(Some(&self.name));
        let output = Command::new("psql")
            .args([
                &url(),
                "-tA",
                "-c",
                &format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE query = 'LISTEN {channel}'"
                ),
            ])
            .output()
            .expect("psql");
        assert!(output.status.success(), "psql: {output:?}");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("a count")
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
