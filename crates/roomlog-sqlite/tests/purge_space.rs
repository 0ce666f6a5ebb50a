//! Purges and room deletions give the disk space back, work in bounded batches, and finish
//! work an interrupted run left behind.

mod common;

use std::path::Path;

use common::*;
use roomlog_core::store::prelude::*;
use roomlog_core::PurgeStats;
use roomlog_sqlite::SqliteStore;

const EVENTS: usize = 20_000;
/// Bulky rows, so the space the purge frees shows in the file.
const URL_LEN: usize = 300;

/// The single integer `sql` selects.
fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// (logical database bytes, free pages, main file bytes, WAL bytes)
fn sizes(path: &Path) -> (i64, i64, u64, u64) {
    let conn = raw(path);
    let logical = pragma_i64(&conn, "page_count") * pragma_i64(&conn, "page_size");
    let free = pragma_i64(&conn, "freelist_count");
    drop(conn);
    let file = std::fs::metadata(path).unwrap().len();
    let wal = std::fs::metadata(path.with_extension("db-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    (logical, free, file, wal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_shrinks_the_file() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open_with(&path, small_batches()).unwrap();
    let app = app(&store).await;
    let big = room(&store, &app, "big").await;
    let small = room(&store, &app, "small").await;
    start(&store, big, 1_000).await;
    fill(&store, big, "big", EVENTS, URL_LEN).await;
    fill(&store, small, "small", 1_000, URL_LEN).await;
    end(&store, big, 2_000).await;
    attendance_done(&store, big).await;

    let (before, _, _, _) = sizes(&path);
    assert!(
        before > 8_000_000,
        "the test needs a sizeable database, got {before} bytes"
    );

    let stats = store.purge_events(2_000).await.unwrap();
    assert_eq!(
        stats,
        PurgeStats {
            rooms: 1,
            events: EVENTS as u64 + 2
        }
    );

    let (after, free, file, wal) = sizes(&path);
    assert_eq!(free, 0, "incremental vacuum released every free page");
    assert!(
        after * 4 < before,
        "the database shrank: {before} -> {after} bytes"
    );
    assert!(
        file as i64 <= after,
        "the file itself shrank to {file} bytes ({after} logical)"
    );
    assert_eq!(wal, 0, "the WAL was checkpointed and truncated");
    assert_eq!(
        store.read_events(small, 1, 10_000).await.unwrap().len(),
        1_000,
        "the room not purged keeps its events"
    );
    assert!(store.get_room(big).await.unwrap().unwrap().events_purged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_big_room_deletes_everything_and_shrinks_the_file() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open_with(&path, small_batches()).unwrap();
    let app = app(&store).await;
    let big = room(&store, &app, "big").await;
    fill(&store, big, "big", EVENTS, URL_LEN).await;
    let (before, _, _, _) = sizes(&path);

    store.delete_room(big).await.unwrap();
    assert_eq!(store.get_room(big).await.unwrap(), None);
    let conn = raw(&path);
    let left = count(&conn, "SELECT COUNT(*) FROM events");
    let queued = count(&conn, "SELECT COUNT(*) FROM deleted_rooms");
    assert_eq!(
        (left, queued),
        (0, 0),
        "every event deleted, nothing left queued"
    );
    drop(conn);
    let (after, free, _, _) = sizes(&path);
    assert_eq!(free, 0);
    assert!(after * 4 < before, "{before} -> {after} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_room_deletion_is_finished_by_the_next_purge() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open_with(&path, small_batches()).unwrap();
    let app = app(&store).await;
    let doomed = room(&store, &app, "doomed").await;
    let kept = room(&store, &app, "kept").await;
    fill(&store, doomed, "d", 3_000, URL_LEN).await;
    fill(&store, kept, "k", 1_000, URL_LEN).await;

    // What the first deletion command leaves if the process dies right after it: the room row
    // gone, its remaining events queued for cleanup.
    let conn = raw(&path);
    conn.execute_batch(&format!(
        "BEGIN;
         DELETE FROM rooms WHERE room_id = {doomed};
         DELETE FROM events WHERE room_id = {doomed} AND seq <= 1000;
         INSERT INTO deleted_rooms (room_id) VALUES ({doomed});
         COMMIT;"
    ))
    .unwrap();
    drop(store);

    let store = SqliteStore::open_with(&path, small_batches()).unwrap();
    assert_eq!(
        store.purge_events(0).await.unwrap(),
        PurgeStats::default(),
        "cleanup of deleted rooms is not counted as purged rooms"
    );
    let left = count(
        &conn,
        &format!("SELECT COUNT(*) FROM events WHERE room_id = {doomed}"),
    );
    let queued = count(&conn, "SELECT COUNT(*) FROM deleted_rooms");
    assert_eq!((left, queued), (0, 0));
    let kept_events = store.read_events(kept, 1, 5_000).await.unwrap();
    assert_eq!(kept_events.len(), 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_continues_while_a_purge_runs() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open_with(&path, small_batches()).unwrap();
    let app = app(&store).await;
    let old = room(&store, &app, "old").await;
    let live = room(&store, &app, "live").await;
    start(&store, old, 1_000).await;
    fill(&store, old, "old", 10_000, URL_LEN).await;
    end(&store, old, 2_000).await;
    attendance_done(&store, old).await;

    let purger = {
        let store = store.clone();
        tokio::spawn(async move { store.purge_events(2_000).await })
    };
    for i in 0..200 {
        append(&store, live, vec![join(&format!("live-{i}"))]).await;
    }
    let stats = purger.await.unwrap().unwrap();
    assert_eq!(stats.events, 10_002);
    let events = store.read_events(live, 1, 1_000).await.unwrap();
    assert_eq!(events.len(), 200);
}
