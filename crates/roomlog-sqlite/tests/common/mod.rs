//! Helpers shared by the SQLite integration tests.
#![allow(dead_code, unused_imports)] // Each test binary uses its own part of this.

use std::path::Path;

use roomlog_core::store::prelude::*;
use roomlog_core::{App, EventData, EventType, NewEvent, RoomId, RoomSpec};
use roomlog_sqlite::SqliteStore;

pub use roomlog_core::conformance::{accept, append, end, join, start, T0, T0_MS};

pub fn spec(name: &str) -> RoomSpec {
    roomlog_core::conformance::spec(name, T0, T0 + 3600)
}

/// A RecordFinish with a URL of `url_len` bytes: bulky rows for the space tests.
pub fn record(id: &str, url_len: usize) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        event_type: EventType::RecordFinish,
        timestamp_ms: T0_MS,
        data: EventData {
            duration: Some(60),
            record_size: Some(1 << 20),
            record_url: Some(format!("https://example.com/{}", "x".repeat(url_len))),
            ..EventData::default()
        },
    }
}

pub async fn app(store: &SqliteStore) -> App {
    let account = store.create_account("acme").await.unwrap();
    store.create_app(account.id, "main").await.unwrap()
}

pub async fn room(store: &SqliteStore, app: &App, name: &str) -> RoomId {
    store
        .create_rooms(app, vec![spec(name)], T0 as i64)
        .await
        .unwrap()[0]
}

/// Small batches so bulk deletes take many writer commands.
pub fn small_batches() -> roomlog_sqlite::SqliteOptions {
    roomlog_sqlite::SqliteOptions {
        purge_batch: 1_000,
        ..Default::default()
    }
}

/// Appends `count` (a multiple of 1000) RecordFinish events with `url_len`-byte URLs to `room`,
/// a thousand at a time.
pub async fn fill(store: &SqliteStore, room: RoomId, prefix: &str, count: usize, url_len: usize) {
    for chunk in 0..count / 1000 {
        let batch = (0..1000)
            .map(|i| record(&format!("{prefix}-{chunk}-{i}"), url_len))
            .collect();
        append(store, room, batch).await;
    }
}

/// Stores an (empty) attendance for an ended room: the retention purge waits for it.
pub async fn attendance_done(store: &SqliteStore, room: RoomId) {
    store
        .save_attendance(room, &roomlog_core::attendance::RoomAttendance::default())
        .await
        .unwrap();
}

/// A temp dir (kept until dropped) and the path of a database file in it.
pub fn db_path() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roomlog.db");
    (dir, path)
}

/// A raw connection to the same file, as another process (the admin CLI) would have.
pub fn raw(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

pub fn pragma_i64(conn: &rusqlite::Connection, name: &str) -> i64 {
    conn.pragma_query_value(None, name, |row| row.get(0))
        .unwrap()
}
