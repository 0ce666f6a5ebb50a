//! Helpers shared by the SQLite integration tests.
#![allow(dead_code)]

use std::path::Path;

use roomlog_core::store::prelude::*;
use roomlog_core::{
    Admission, App, AppendOutcome, EventData, EventType, NewEvent, Room, RoomId, RoomSpec,
};
use roomlog_sqlite::SqliteStore;

pub const T0: u64 = 1_700_000_000;
pub const T0_MS: i64 = 1_700_000_000_000;

pub fn spec(name: &str) -> RoomSpec {
    RoomSpec {
        name: name.into(),
        start_time: T0,
        end_time: T0 + 3600,
        resolution: 1,
        max_mic_number: 6,
        sub_type: "videodoc".into(),
        ..RoomSpec::default()
    }
}

pub fn join(id: &str) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        event_type: EventType::MemberJoin,
        timestamp_ms: T0_MS,
        data: EventData {
            user_id: Some(format!("user-{id}")),
            device: Some(5),
            role: Some(0),
            ..EventData::default()
        },
    }
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

pub fn accept() -> Admission {
    Box::new(|_, _, _| Ok(()))
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

/// Stores an (empty) attendance for an ended room: the retention purge waits for it.
pub async fn attendance_done(store: &SqliteStore, room: RoomId) {
    store
        .save_attendance(room, &roomlog_core::attendance::RoomAttendance::default())
        .await
        .unwrap();
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

/// Starts `room` (a RoomStart at `at_ms`), which must succeed.
pub async fn start<S: Rooms + ?Sized>(store: &S, room: RoomId, at_ms: i64) -> Room {
    let event = NewEvent::lifecycle(EventType::RoomStart, at_ms);
    store
        .start_room(room, event)
        .await
        .expect("start_room")
        .value
}

/// Ends `room` (a RoomEnd at `at_ms`), which must succeed.
pub async fn end<S: Rooms + ?Sized>(store: &S, room: RoomId, at_ms: i64) -> Room {
    let event = NewEvent::lifecycle(EventType::RoomEnd, at_ms);
    store.end_room(room, event).await.expect("end_room").value
}

/// Appends `events` to `room`, admitting everything; the append must succeed.
pub async fn append<S: EventLog + ?Sized>(
    store: &S,
    room: RoomId,
    events: Vec<NewEvent>,
) -> AppendOutcome {
    store
        .append_events(room, events, accept())
        .await
        .expect("append_events")
        .value
}
