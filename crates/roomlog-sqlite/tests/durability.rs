//! What survives closing and reopening the file, how the schema is versioned, and how the store
//! behaves around its own lifetime (close, drop, bad data on disk).

mod common;

use common::*;
use roomlog_core::store::prelude::*;
use roomlog_core::{ApiKey, RoomStatus, StoreError};
use roomlog_sqlite::{SqliteStore, SCHEMA_VERSION};

/// The message of a `Backend` error; anything else fails the test.
fn backend_error<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Backend(message)) => message,
        other => panic!("expected a Backend error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    // Parent directories are created as needed.
    let path = dir.path().join("nested/deeper/roomlog.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.path(), path.as_path());
    let account = store.create_account("acme").await.unwrap();
    let app = store.create_app(account.id, "main").await.unwrap();
    let key = ApiKey::generate(account.id, 42);
    store.insert_key(&key).await.unwrap();
    let ids = store
        .create_rooms(&app, vec![spec("a"), spec("b")], 7)
        .await
        .unwrap();
    append(&store, ids[0], vec![join("x"), join("y")]).await;
    start(&store, ids[0], T0_MS).await;
    let ended = end(&store, ids[0], T0_MS + 1).await;
    let other = store.get_room(ids[1]).await.unwrap().unwrap();
    let events = store.read_events(ids[0], 1, 100).await.unwrap();
    // Two joins, RoomStart, the two quits RoomEnd records for those still in, RoomEnd.
    assert_eq!(events.len(), 6);
    store.close().await;
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.list_accounts().await.unwrap(), vec![account.clone()]);
    assert_eq!(
        store.get_app(app.sdk_app_id).await.unwrap(),
        Some(app.clone())
    );
    assert_eq!(store.get_key(&key.secret_id).await.unwrap(), Some(key));
    assert_eq!(store.get_room(ids[0]).await.unwrap(), Some(ended));
    assert_eq!(store.get_room(ids[1]).await.unwrap(), Some(other));
    assert_eq!(store.read_events(ids[0], 1, 100).await.unwrap(), events);
    // Sequences continue where they were.
    let outcome = append(&store, ids[1], vec![join("x")]).await;
    assert_eq!(outcome.last_seq, 1);
    // Deleted ids are never handed out again, across restarts too.
    store.delete_room(ids[1]).await.unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    let next = store.create_rooms(&app, vec![spec("c")], 8).await.unwrap();
    assert!(
        next[0] > ids[1],
        "room ids are never reused: {} after {}",
        next[0],
        ids[1]
    );
}

#[tokio::test]
async fn dropping_the_last_handle_flushes_and_releases_the_file() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).unwrap();
    let app = app(&store).await;
    let room = room(&store, &app, "r").await;
    let clone = store.clone();
    append(&store, room, vec![join("a")]).await;
    drop(store);
    // A clone keeps the store alive.
    append(&clone, room, vec![join("b")]).await;
    drop(clone);
    let store = SqliteStore::open(&path).unwrap();
    let events = store.read_events(room, 1, 10).await.unwrap();
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn ids_start_in_lcic_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
    let app = app(&store).await;
    assert_eq!(app.sdk_app_id, 3_000_001);
    let rooms = store
        .create_rooms(&app, vec![spec("a"), spec("b")], 1)
        .await
        .unwrap();
    assert_eq!(rooms.value, vec![300_000_001, 300_000_002]);
}

#[tokio::test]
async fn migrations_run_once_and_the_file_has_the_right_settings() {
    let (_dir, path) = db_path();
    drop(SqliteStore::open(&path).unwrap());
    drop(SqliteStore::open(&path).unwrap());
    let store = SqliteStore::open(&path).unwrap();

    let conn = raw(&path);
    assert_eq!(pragma_i64(&conn, "user_version"), SCHEMA_VERSION);
    let applied: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        applied,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>(),
        "each migration once"
    );
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(
        pragma_i64(&conn, "auto_vacuum"),
        2,
        "incremental auto_vacuum"
    );
    drop(store);
}

#[tokio::test]
async fn a_database_from_a_newer_roomlog_is_refused() {
    let (_dir, path) = db_path();
    drop(SqliteStore::open(&path).unwrap());
    raw(&path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let message = backend_error(SqliteStore::open(&path).map(|_| "opened"));
    assert!(message.contains("newer"), "{message}");
    let newer = (SCHEMA_VERSION + 1).to_string();
    assert!(message.contains(&newer), "{message}");
}

#[tokio::test]
async fn a_fresh_empty_file_in_wal_mode_still_gets_incremental_auto_vacuum() {
    let (_dir, path) = db_path();
    {
        // Something else made the file WAL first, which fixes auto_vacuum at NONE.
        let conn = raw(&path);
        let _: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .unwrap();
    }
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(pragma_i64(&raw(&path), "auto_vacuum"), 2);
}

#[tokio::test]
async fn close_finishes_queued_writes_then_refuses_more() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).unwrap();
    let app = app(&store).await;
    let room = room(&store, &app, "r").await;

    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("e{i}");
            let result = store.append_events(room, vec![join(&id)], accept()).await;
            (id, result.is_ok())
        }));
    }
    tokio::task::yield_now().await;
    store.close().await;
    store.close().await; // idempotent
    let mut acknowledged = Vec::new();
    for task in tasks {
        let (id, ok) = task.await.unwrap();
        if ok {
            acknowledged.push(id);
        }
    }
    backend_error(
        store
            .append_events(room, vec![join("late")], accept())
            .await,
    );
    backend_error(store.get_room(room).await);
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    let stored = store.read_events(room, 1, 1000).await.unwrap();
    let mut stored_ids: Vec<String> = stored.into_iter().map(|e| e.event_id).collect();
    stored_ids.sort();
    acknowledged.sort();
    assert_eq!(
        stored_ids, acknowledged,
        "exactly the acknowledged writes are stored"
    );
}

#[tokio::test]
async fn bad_rows_on_disk_are_errors_not_panics() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).unwrap();
    let app = app(&store).await;
    let room = room(&store, &app, "r").await;
    append(&store, room, vec![join("a")]).await;

    let conn = raw(&path);
    conn.execute(
        "INSERT INTO events (room_id, seq, event_id, event_type, timestamp_ms)
         VALUES (?1, 2, 'bogus', 99, 0)",
        [room as i64],
    )
    .unwrap();
    let message = backend_error(store.read_events(room, 1, 10).await);
    assert!(message.contains("unknown event type code 99"), "{message}");
    // The first page is fine: only reads that touch the bad row fail.
    assert_eq!(store.read_events(room, 1, 1).await.unwrap().len(), 1);
    // GetRoomEvent's read renders rows as it goes: the same error, and the reader is reusable.
    let first_page = |size: u64| Box::new(move |_: &roomlog_core::Room| Some((1, size)));
    for _ in 0..2 {
        let message = backend_error(store.read_room_page(room, first_page(10)).await);
        assert!(message.contains("unknown event type code 99"), "{message}");
    }
    let page = store
        .read_room_page(room, first_page(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.count, 1);

    // The schema's CHECK refuses an unknown status; corruption would not ask.
    conn.pragma_update(None, "ignore_check_constraints", true)
        .unwrap();
    let room_param = [room as i64];
    conn.execute("UPDATE rooms SET status = 7 WHERE room_id = ?1", room_param)
        .unwrap();
    let message = backend_error(store.get_room(room).await);
    assert!(message.contains("unknown room status 7"), "{message}");
    let not_json = "UPDATE rooms SET status = 0, spec = 'not json' WHERE room_id = ?1";
    conn.execute(not_json, room_param).unwrap();
    let message = backend_error(store.get_room(room).await);
    assert!(message.contains("JSON"), "{message}");
    // Writes that load the room fail the same way, and roll back.
    backend_error(store.append_events(room, vec![join("b")], accept()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_file() {
    // Two stores on one file behave like the server and the admin CLI: separate writers that
    // SQLite's locks serialise. Both keep the room's sequence dense.
    let (_dir, path) = db_path();
    let server = SqliteStore::open(&path).unwrap();
    let cli = SqliteStore::open(&path).unwrap();
    let app = app(&server).await;
    let room = room(&cli, &app, "shared").await;
    assert_eq!(
        server.get_room(room).await.unwrap().unwrap().status,
        RoomStatus::NotStarted
    );

    let mut tasks = Vec::new();
    for (n, store) in [server.clone(), cli.clone()].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                append(&store, room, vec![join(&format!("s{n}-{i}"))]).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let events = server.read_events(room, 1, 1000).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    assert_eq!(cli.get_room(room).await.unwrap().unwrap().last_seq, 200);
}
