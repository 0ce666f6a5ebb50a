//! Upgrading a database written by roomlog with schema version 1: nothing is lost, and the new
//! state (presence, deadlines, attendance queue) is backfilled as if it had always been kept.

mod common;

use std::path::Path;

use common::*;
use roomlog_core::callback::{AppCallback, AttemptOutcome, DeliveryStatus};
use roomlog_core::conformance::{claim, page_of};
use roomlog_core::lifecycle::{LifecyclePolicy, Occupancy};
use roomlog_core::store::prelude::*;
use roomlog_core::time::now_ms;
use roomlog_core::{PresentMember, RoomSpec, RoomStatus};
use roomlog_sqlite::{SqliteStore, SCHEMA_VERSION};

const HOUR_MS: i64 = 3_600_000;

/// A version-1 database as roomlog 1 left it: its schema (the released migration, verbatim),
/// its bookkeeping, and rows written with version 1's columns only.
fn create_v1(path: &Path) -> rusqlite::Connection {
    let conn = raw(path);
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(include_str!("../src/migrations/0001_initial.sql"))
        .unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
         INSERT INTO schema_migrations VALUES (1, 'initial schema', 1);
         PRAGMA user_version = 1;
         INSERT INTO accounts (name, created_at) VALUES ('acme', 1);
         INSERT INTO apps (account_id, name, created_at, max_room_secs) VALUES (1, 'main', 1, 3600);",
    )
    .unwrap();
    conn
}

/// Inserts a room with version 1's columns; returns its id.
fn v1_room(
    conn: &rusqlite::Connection,
    spec: &RoomSpec,
    status: RoomStatus,
    real: (Option<i64>, Option<i64>),
) -> u64 {
    conn.execute(
        "INSERT INTO rooms (sdk_app_id, account_id, status, start_time, end_time, real_start_ms,
                            real_end_ms, created_at, spec)
         VALUES (3000001, 1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        rusqlite::params![
            status.code() as i64,
            spec.start_time as i64,
            spec.end_time as i64,
            real.0,
            real.1,
            T0 as i64,
            serde_json::to_string(spec).unwrap(),
        ],
    )
    .unwrap();
    conn.last_insert_rowid() as u64
}

/// Appends member events (user, join?, device, at) to a version-1 room's log.
fn v1_events(conn: &rusqlite::Connection, room: u64, events: &[(&str, bool, Option<i64>, i64)]) {
    let mut seq: i64 = conn
        .query_row(
            "SELECT last_seq FROM rooms WHERE room_id = ?1",
            [room as i64],
            |r| r.get(0),
        )
        .unwrap();
    for (user, join, device, at) in events {
        seq += 1;
        conn.execute(
            "INSERT INTO events (room_id, seq, event_id, event_type, timestamp_ms, user_id, device)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                room as i64,
                seq,
                format!("e{seq}"),
                if *join { 3 } else { 4 },
                at,
                user,
                device
            ],
        )
        .unwrap();
    }
    conn.execute(
        "UPDATE rooms SET last_seq = ?2 WHERE room_id = ?1",
        (room as i64, seq),
    )
    .unwrap();
}

/// Every event row, as text.
fn dump_events(conn: &rusqlite::Connection) -> Vec<String> {
    conn.prepare(
        "SELECT room_id || '|' || seq || '|' || event_id || '|' || event_type || '|' ||
                timestamp_ms || '|' || COALESCE(user_id, '') || '|' || COALESCE(device, '')
         FROM events ORDER BY room_id, seq",
    )
    .unwrap()
    .query_map([], |r| r.get(0))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn deadline_ms(conn: &rusqlite::Connection, room: u64) -> Option<i64> {
    conn.query_row(
        "SELECT deadline_ms FROM rooms WHERE room_id = ?1",
        [room as i64],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_database_upgrades_without_losing_data() {
    let (_dir, path) = db_path();
    let conn = create_v1(&path);
    let end_ms = (T0 as i64 + 3600) * 1000;

    let waiting = v1_room(
        &conn,
        &spec("waiting"),
        RoomStatus::NotStarted,
        (None, None),
    );
    let auto = v1_room(
        &conn,
        &RoomSpec {
            enable_auto_start: Some(1),
            ..spec("auto")
        },
        RoomStatus::NotStarted,
        (None, None),
    );
    // In class, with odd events the replay must tolerate: a reconnect, a quit without a join.
    let busy = v1_room(
        &conn,
        &spec("busy"),
        RoomStatus::InClass,
        (Some(T0_MS), None),
    );
    v1_events(
        &conn,
        busy,
        &[
            ("u1", true, Some(5), T0_MS + 1),
            ("u2", true, Some(1), T0_MS + 2),
            ("u2", true, Some(5), T0_MS + 3),
            ("u2", true, Some(5), T0_MS + 4),
            ("u1", false, None, T0_MS + 5),
            ("u3", false, Some(2), T0_MS + 6),
        ],
    );
    let emptied = v1_room(
        &conn,
        &spec("emptied"),
        RoomStatus::InClass,
        (Some(T0_MS), None),
    );
    v1_events(
        &conn,
        emptied,
        &[
            ("u1", true, None, T0_MS + 1),
            ("u1", false, Some(4), end_ms + 60_000),
        ],
    );
    let ended = v1_room(
        &conn,
        &spec("ended"),
        RoomStatus::Ended,
        (Some(T0_MS), Some(T0_MS + HOUR_MS)),
    );
    v1_events(&conn, ended, &[("u1", true, Some(5), T0_MS + 1)]);
    let expired = v1_room(&conn, &spec("expired"), RoomStatus::Expired, (None, None));
    let events_before = dump_events(&conn);
    drop(conn);

    // Open (and so upgrade) it.
    let store = SqliteStore::open(&path).unwrap();
    let conn = raw(&path);
    assert_eq!(pragma_i64(&conn, "user_version"), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 4);
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4]);

    // Nothing lost.
    assert_eq!(
        dump_events(&conn),
        events_before,
        "every event kept as it was"
    );
    assert_eq!(store.list_apps(None).await.unwrap().len(), 1);
    let busy_events = store.read_events(busy, 1, 100).await.unwrap();
    assert_eq!(busy_events.len(), 6);
    assert_eq!(busy_events[3].data.user_id.as_deref(), Some("u2"));
    assert_eq!(store.get_room(busy).await.unwrap().unwrap().last_seq, 6);

    // Presence replayed from the log, by the store's rules.
    let room = store.get_room(busy).await.unwrap().unwrap();
    assert_eq!(
        room.occupancy,
        Occupancy {
            present: 1,
            empty_since_ms: None
        }
    );
    assert_eq!(
        store.current_members(busy, page_of(1, 10)).await.unwrap(),
        (
            1,
            vec![PresentMember {
                user_id: "u2".into(),
                role: None,
                device: Some(5),
                joined_ms: T0_MS + 2,
                devices: 2,
            }]
        )
    );
    assert_eq!(
        store.get_room(emptied).await.unwrap().unwrap().occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(end_ms + 60_000)
        },
        "empty since the last quit"
    );
    for (room, empty_since) in [
        (waiting, T0 as i64 * 1000),
        (ended, T0_MS + HOUR_MS),
        (expired, T0 as i64 * 1000),
    ] {
        assert_eq!(
            store.get_room(room).await.unwrap().unwrap().occupancy,
            Occupancy {
                present: 0,
                empty_since_ms: Some(empty_since)
            },
            "room {room}"
        );
    }

    // Deadlines backfilled with the default policy.
    let idle = LifecyclePolicy::default().idle_end.as_millis() as i64;
    assert_eq!(
        deadline_ms(&conn, waiting),
        Some(end_ms),
        "expires at EndTime"
    );
    assert_eq!(
        deadline_ms(&conn, auto),
        Some(T0 as i64 * 1000),
        "starts at StartTime"
    );
    assert_eq!(
        deadline_ms(&conn, busy),
        Some(T0_MS + 72 * HOUR_MS),
        "occupied, unlimited overtime: the 72 h cap"
    );
    assert_eq!(deadline_ms(&conn, emptied), Some(end_ms + 60_000 + idle));
    assert_eq!(deadline_ms(&conn, ended), None);
    assert_eq!(deadline_ms(&conn, expired), None);
    assert_eq!(store.next_deadline().await.unwrap(), Some(T0 as i64 * 1000));

    // The ended room now waits for its attendance before its events may be purged.
    assert_eq!(
        store.rooms_awaiting_attendance(10).await.unwrap(),
        vec![ended]
    );
    assert_eq!(store.next_purge_candidate().await.unwrap(), None);

    // Version 3: no app has a callback, so nothing is owed one; setting one starts the outbox.
    let app = store.list_apps(None).await.unwrap()[0].sdk_app_id;
    assert_eq!(
        store.app_callback(app).await.unwrap(),
        AppCallback::default()
    );
    assert_eq!(
        store
            .list_deliveries(app, None, None, page_of(1, 10))
            .await
            .unwrap(),
        (0, vec![])
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), None);
    store
        .set_app_callback(app, Some("https://hooks.example.com/"), None)
        .await
        .unwrap();

    // And the upgraded rooms work like new ones: the replayed presence is what RoomEnd closes.
    let outcome = append(&store, busy, vec![join("after")]).await;
    assert_eq!(outcome.last_seq, 7);
    let room = end(&store, busy, end_ms).await;
    let quits: Vec<String> = store
        .read_events(busy, 8, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        quits,
        vec![
            "roomlog:RoomEnd:u2",
            "roomlog:RoomEnd:user-after",
            "roomlog:RoomEnd"
        ]
    );
    assert_eq!(room.last_seq, 10);
    let (owed, deliveries) = store
        .list_deliveries(app, None, None, page_of(1, 10))
        .await
        .unwrap();
    assert_eq!(owed, 4, "the events recorded since the callback was set");
    assert_eq!(
        deliveries.iter().map(|d| d.event.seq).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );

    // A second open has nothing to migrate.
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(deadline_ms(&conn, emptied), Some(end_ms + 60_000 + idle));
    assert_eq!(
        store.get_room(busy).await.unwrap().unwrap().status,
        RoomStatus::Ended
    );
}

/// A version-3 database upgraded while one of its heads was leased (by a worker of the roomlog
/// before): the lease has no seq, so no attempt settles it (not even that worker's, which may
/// be of a seq a replay moved the head back to); it runs out and the head goes again, leased
/// for its seq this time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_kept_from_version_3_runs_out_and_settles_nothing() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).unwrap();
    let app = app(&store).await;
    store
        .set_app_callback(app.sdk_app_id, Some("http://127.0.0.1:9/hook"), None)
        .await
        .unwrap();
    let id = room(&store, &app, "r").await;
    store
        .append_events(id, vec![join("a"), join("b")], accept())
        .await
        .unwrap();
    let l = now_ms() + HOUR_MS;
    let claimed = store.claim_due_deliveries(l, l + 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    drop(store);
    // Back to version 3's schema, as a roomlog of that version left the lease: without its seq.
    raw(&path)
        .execute_batch(
            "ALTER TABLE delivery_heads DROP COLUMN leased_seq;
             DELETE FROM schema_migrations WHERE version = 4;
             PRAGMA user_version = 3;",
        )
        .unwrap();

    let store = SqliteStore::open(&path).unwrap();
    let conn = raw(&path);
    assert_eq!(pragma_i64(&conn, "user_version"), SCHEMA_VERSION);
    let head: (i64, Option<i64>, Option<i64>) = conn
        .query_row(
            "SELECT head_seq, leased_until_ms, leased_seq FROM delivery_heads",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        head,
        (1, Some(l + 60_000), None),
        "the lease kept, its seq unknown"
    );

    store
        .record_attempt(id, 1, &AttemptOutcome::delivered(l + 1, 200))
        .await
        .unwrap();
    let (_, deliveries) = store
        .list_deliveries(app.sdk_app_id, Some(id), None, page_of(1, 10))
        .await
        .unwrap();
    assert_eq!(
        (deliveries[0].status, deliveries[0].attempts),
        (DeliveryStatus::Pending, 1),
        "counted, settles nothing"
    );
    assert_eq!(
        claim(&store, l + 2, l + 70_000, 10).await,
        vec![],
        "the lease stands"
    );
    assert_eq!(
        claim(&store, l + 60_000, l + 70_000, 10).await,
        vec![(id, 1)],
        "it runs out and the head goes again"
    );
    store
        .record_attempt(id, 1, &AttemptOutcome::delivered(l + 60_001, 200))
        .await
        .unwrap();
    assert_eq!(
        claim(&store, l + 60_002, l + 70_000, 10).await,
        vec![(id, 2)],
        "leased for its seq now: its attempt settled it"
    );
}
