//! The state behind the automatic lifecycle, presence, kicks, attendance and users lives in the
//! file: it survives closing and reopening, and deadlines follow the policy of each open.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use roomlog_core::attendance::{MemberRecord, RoomAttendance};
use roomlog_core::conformance::page_of;
use roomlog_core::lifecycle::LifecyclePolicy;
use roomlog_core::store::prelude::*;
use roomlog_core::{Admission, EventData, EventType, KickBars, NewEvent, RoomId, RoomSpec, User};
use roomlog_sqlite::{SqliteOptions, SqliteStore};

const END_MS: i64 = (T0 as i64 + 3600) * 1000;

fn member(id: &str, event_type: EventType, user: &str, at: i64) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        event_type,
        timestamp_ms: at,
        data: EventData {
            user_id: Some(user.into()),
            device: Some(5),
            ..EventData::default()
        },
    }
}

fn with_idle(minutes: u64) -> SqliteOptions {
    SqliteOptions {
        lifecycle: LifecyclePolicy {
            idle_end: Duration::from_secs(minutes * 60),
        },
        ..SqliteOptions::default()
    }
}

/// The rooms due at `at`, in order.
async fn due(store: &SqliteStore, at: i64) -> Vec<RoomId> {
    store
        .due_rooms(at, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.room_id)
        .collect()
}

async fn bars_seen(store: &SqliteStore, room: RoomId, id: &str, user: &str) -> KickBars {
    let seen = Arc::new(Mutex::new(KickBars::new()));
    let sink = Arc::clone(&seen);
    let admit: Admission = Box::new(move |_, _, bars| {
        *sink.lock().unwrap() = bars.clone();
        Ok(())
    });
    store
        .append_events(
            room,
            vec![member(id, EventType::MemberJoin, user, T0_MS)],
            admit,
        )
        .await
        .unwrap();
    let bars = seen.lock().unwrap().clone();
    bars
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_presence_kicks_attendance_and_users_survive_reopen() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).unwrap();
    let app = app(&store).await;
    let auto = store
        .create_rooms(
            &app,
            vec![RoomSpec {
                enable_auto_start: Some(1),
                ..spec("auto")
            }],
            T0 as i64,
        )
        .await
        .unwrap()[0];
    let live = room(&store, &app, "live").await;
    let done = room(&store, &app, "done").await;
    start(&store, live, T0_MS).await;
    append(
        &store,
        live,
        vec![
            member("a", EventType::MemberJoin, "ann", T0_MS + 1),
            member("b", EventType::MemberJoin, "ben", T0_MS + 2),
        ],
    )
    .await;
    store
        .kick_user(
            live,
            "cat",
            None,
            member("k", EventType::MemberQuit, "cat", T0_MS + 3),
        )
        .await
        .unwrap();
    start(&store, done, T0_MS).await;
    end(&store, done, T0_MS + 10).await;
    let attendance = RoomAttendance {
        member_number: 2,
        records: vec![MemberRecord {
            user_id: "ann".into(),
            ..MemberRecord::default()
        }],
        ..RoomAttendance::default()
    };
    store.save_attendance(done, &attendance).await.unwrap();
    let user = User {
        user_id: "uid".into(),
        sdk_app_id: app.sdk_app_id,
        name: "Ann".into(),
        origin_id: "o-ann".into(),
        avatar: String::new(),
        token: "t".into(),
        token_expires_ms: 5,
        created_at: 1,
    };
    store
        .register_users(vec![user.clone()], false)
        .await
        .unwrap();

    let next = store.next_deadline().await.unwrap();
    let due_before = due(&store, i64::MAX).await;
    let members = store.current_members(live, page_of(1, 10)).await.unwrap();
    let rooms = [
        store.get_room(auto).await.unwrap(),
        store.get_room(live).await.unwrap(),
        store.get_room(done).await.unwrap(),
    ];
    store.close().await;
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.next_deadline().await.unwrap(), next);
    assert_eq!(next, Some(T0 as i64 * 1000), "the auto room starts first");
    assert_eq!(due(&store, i64::MAX).await, due_before);
    assert_eq!(
        due_before,
        vec![auto, live],
        "the ended room has no deadline"
    );
    assert_eq!(
        store.current_members(live, page_of(1, 10)).await.unwrap(),
        members
    );
    assert_eq!(members.0, 2);
    for (id, before) in [auto, live, done].into_iter().zip(rooms) {
        assert_eq!(store.get_room(id).await.unwrap(), before, "room {id}");
    }
    assert_eq!(
        bars_seen(&store, live, "c", "cat").await.get("cat"),
        Some(&None),
        "the bar survived"
    );
    let page = store
        .attendance(done, page_of(1, 10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((page.total, page.records), (1, attendance.records.clone()));
    assert_eq!(
        store
            .get_user_by_origin(app.sdk_app_id, "o-ann")
            .await
            .unwrap(),
        Some(user)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_with_another_idle_time_moves_the_deadlines_of_rooms_in_class() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open_with(&path, with_idle(10)).unwrap();
    let app = app(&store).await;
    let empty = room(&store, &app, "empty").await;
    let occupied = room(&store, &app, "occupied").await;
    let waiting = room(&store, &app, "waiting").await;
    for id in [empty, occupied] {
        start(&store, id, T0_MS).await;
    }
    append(
        &store,
        occupied,
        vec![member("a", EventType::MemberJoin, "ann", T0_MS)],
    )
    .await;
    assert_eq!(
        due(&store, END_MS + 10 * 60_000).await,
        vec![waiting, empty]
    );
    drop(store);

    // A tool opening the store beside the server (`roomlog admin`) leaves the deadlines alone.
    let tool = SqliteStore::open_with(
        &path,
        SqliteOptions {
            recompute_deadlines: false,
            ..with_idle(1)
        },
    )
    .unwrap();
    assert_eq!(
        due(&tool, END_MS + 10 * 60_000 - 1).await,
        vec![waiting],
        "a tool's open kept the 10-minute idle deadline"
    );
    tool.close().await;
    drop(tool);

    let store = SqliteStore::open_with(&path, with_idle(1)).unwrap();
    assert_eq!(
        due(&store, END_MS + 60_000 - 1).await,
        vec![waiting],
        "only the room not started is due at its EndTime"
    );
    assert_eq!(
        due(&store, END_MS + 60_000).await,
        vec![waiting, empty],
        "the empty room in class now ends one minute after EndTime"
    );
    assert_eq!(
        due(&store, T0_MS + 72 * 3_600_000).await,
        vec![waiting, empty, occupied],
        "the occupied one still runs to the 72 h cap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_members_end_and_attendance_page_correctly() {
    const MEMBERS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
    let app = app(&store).await;
    let id = room(&store, &app, "big").await;
    start(&store, id, T0_MS).await;
    for chunk in 0..MEMBERS / 1000 {
        let joins = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                member(
                    &format!("j{n}"),
                    EventType::MemberJoin,
                    &format!("u{n}"),
                    T0_MS,
                )
            })
            .collect();
        append(&store, id, joins).await;
    }
    let (total, last_page) = store.current_members(id, page_of(10, 1000)).await.unwrap();
    assert_eq!(total, MEMBERS as u64);
    assert_eq!(last_page.len(), 1000);
    assert_eq!(last_page[999].user_id, format!("u{}", MEMBERS - 1));

    // RoomEnd records a quit for every one of them, in one command.
    let ended = end(&store, id, END_MS).await;
    assert_eq!(ended.last_seq, 1 + MEMBERS as u64 * 2 + 1);
    assert_eq!(ended.occupancy.present, 0);

    let attendance = RoomAttendance {
        member_number: MEMBERS as u64,
        records: (0..MEMBERS)
            .map(|n| MemberRecord {
                user_id: format!("u{n}"),
                present_time: n as u64,
                ..MemberRecord::default()
            })
            .collect(),
        ..RoomAttendance::default()
    };
    store.save_attendance(id, &attendance).await.unwrap();
    let page = store
        .attendance(id, page_of(10, 1000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.total, MEMBERS as u64);
    assert_eq!(page.records, attendance.records[9000..].to_vec());
    assert_eq!(page.summary.member_number, MEMBERS as u64);
    assert!(page.summary.records.is_empty());
}
