//! The schemas are the same, so `import::copy_from_sqlite` (what `roomlog copy` runs) moves a
//! database from the SQLite store to PostgreSQL table by table, column by column ([`TABLES`]),
//! verifies it, and the copy then answers every
//! question the way the original does — and goes on from where it was (sequences, presence,
//! deadlines, kick bars, callback heads, ids never reused).

mod common;

use common::{append, end, start};

use roomlog_core::callback::{AttemptOutcome, Delivery, DeliveryStatus};
use roomlog_core::conformance::{
    attendance_with, bars_probe, event, everything, page_of, presence_event, spec, T0, T0_MS,
};
use roomlog_core::store::prelude::*;
use roomlog_core::{ApiKey, App, EventType, NewEvent, RoomId, User};
use roomlog_postgres::{PgStore, TABLES};
use roomlog_sqlite::SqliteStore;

fn outcome(at_ms: i64, delivered: bool, retry_at_ms: Option<i64>) -> AttemptOutcome {
    AttemptOutcome {
        at_ms,
        delivered,
        http_status: Some(if delivered { 200 } else { 500 }),
        error: (!delivered).then(|| "HTTP 500".to_owned()),
        retry_at_ms,
    }
}

/// A SQLite database with a bit of everything: accounts, apps (one with a callback), keys,
/// users, rooms in every state, presence, kicks, attendance, deliveries in every state, and a
/// deleted room (whose id must never come back).
async fn populate(store: &SqliteStore) -> (Vec<App>, Vec<String>) {
    let a = store.create_account("alpha").await.unwrap();
    let b = store.create_account("beta").await.unwrap();
    let hooked = store.create_app(a.id, "hooked").await.unwrap();
    let plain = store.create_app(b.id, "plain").await.unwrap();
    store
        .set_app_callback(
            hooked.sdk_app_id,
            Some("https://hooks.example.com/x"),
            Some("k"),
        )
        .await
        .unwrap();
    let mut key = ApiKey::generate(a.id, 100);
    store.insert_key(&key).await.unwrap();
    key = ApiKey::generate(b.id, 101);
    store.insert_key(&key).await.unwrap();
    store.set_key_enabled(&key.secret_id, false).await.unwrap();
    let user = |app: &App, id: &str, origin: &str| User {
        user_id: id.to_owned(),
        sdk_app_id: app.sdk_app_id,
        name: format!("name of {id}"),
        origin_id: origin.to_owned(),
        avatar: String::new(),
        token: format!("t-{id}"),
        token_expires_ms: T0_MS,
        created_at: T0 as i64,
    };
    store
        .register_users(
            vec![
                user(&hooked, "u1", "o1"),
                user(&hooked, "u2", ""),
                user(&plain, "u3", "o1"),
            ],
            false,
        )
        .await
        .unwrap();

    for app in [&hooked, &plain] {
        let ids = store
            .create_rooms(
                app,
                vec![
                    spec("live", T0, T0 + 3600),
                    spec("ended", T0, T0 + 3600),
                    spec("waiting", T0 + 100, T0 + 7200),
                    spec("doomed", T0, T0 + 60),
                ],
                T0 as i64,
            )
            .await
            .unwrap();
        let [live, ended, waiting, doomed] = ids[..] else {
            unreachable!()
        };
        let j = |id: &str, user: &str, device: Option<u64>, at: i64| {
            presence_event(id, EventType::MemberJoin, user, device, T0_MS + at)
        };
        start(store, live, T0_MS).await;
        append(
            store,
            live,
            vec![
                j("j1", "ann", Some(1), 1),
                j("j2", "ann", Some(5), 2),
                j("j3", "ben", None, 3),
                event("rec", EventType::RecordFinish, T0_MS + 4),
                j("j4", "cat", Some(2), 5),
            ],
        )
        .await;
        let kick = NewEvent {
            event_id: "roomlog:kick:1".into(),
            event_type: EventType::MemberQuit,
            timestamp_ms: T0_MS + 6,
            data: roomlog_core::EventData {
                user_id: Some("cat".into()),
                reason: Some(1),
                ..Default::default()
            },
        };
        assert!(
            store
                .kick_user(live, "cat", Some(T0_MS + 600_000), kick)
                .await
                .unwrap()
                .value
        );
        start(store, ended, T0_MS).await;
        append(store, ended, vec![j("e1", "dan", Some(1), 1)]).await;
        end(store, ended, T0_MS + 50).await;
        store
            .save_attendance(ended, &attendance_with(5, "x"))
            .await
            .unwrap();
        append(store, waiting, vec![j("w1", "eve", Some(3), 1)]).await;
        store
            .kick_user(
                waiting,
                "fay",
                None,
                event("k2", EventType::MemberQuit, T0_MS),
            )
            .await
            .unwrap();
        append(store, doomed, vec![j("d1", "gus", None, 1)]).await;
        store.delete_room(doomed).await.unwrap();
    }
    // Deliveries in every state: the first rooms' heads delivered, retried and dead.
    let now = T0_MS + 1_000_000;
    let claimed = store
        .claim_due_deliveries(now, now + 10_000, 10)
        .await
        .unwrap();
    // The hooked app's live, ended and waiting rooms; the waiting room's stays leased.
    assert_eq!(claimed.len(), 3);
    store
        .record_attempt(claimed[0].room_id, 1, &outcome(now, true, None))
        .await
        .unwrap();
    store
        .record_attempt(
            claimed[1].room_id,
            1,
            &outcome(now, false, Some(now + 5_000)),
        )
        .await
        .unwrap();
    let next = store
        .claim_due_deliveries(now + 1, now + 10_000, 10)
        .await
        .unwrap();
    store
        .record_attempt(
            next[0].room_id,
            next[0].event.seq,
            &outcome(now, false, None),
        )
        .await
        .unwrap();
    // A lease still held when the copy is made.
    store
        .claim_due_deliveries(now + 2, now + 20_000, 10)
        .await
        .unwrap();
    let users = vec!["u1".into(), "u2".into(), "u3".into(), "nobody".into()];
    (vec![hooked, plain], users)
}

/// Asks both stores the same questions; the answers must be equal. (`exact`: deliveries'
/// `created_ms` too, which is the wall clock of the write: the same only for copied rows.)
async fn same_answers(
    old: &SqliteStore,
    new: &PgStore,
    apps: &[App],
    users: &[String],
    exact: bool,
) {
    let deliveries = |mut listed: (u64, Vec<Delivery>)| {
        if !exact {
            listed.1.iter_mut().for_each(|d| d.created_ms = 0);
        }
        listed
    };
    // `same!(read(args))`: `old.read(args)` and `new.read(args)` answer alike.
    macro_rules! same {
        ($($read:tt)+) => {
            let old_answer = old.$($read)+.await.unwrap();
            let new_answer = new.$($read)+.await.unwrap();
            assert_eq!(old_answer, new_answer, "{}", stringify!($($read)+));
        };
    }
    same!(list_accounts());
    same!(list_apps(None));
    same!(list_keys(None));
    same!(next_deadline());
    same!(due_rooms(i64::MAX, 100));
    same!(rooms_awaiting_attendance(100));
    same!(next_purge_candidate());
    same!(next_delivery_due());
    for user in users {
        same!(get_user(user));
    }
    for app in apps {
        let id = app.sdk_app_id;
        same!(app_callback(id));
        same!(get_user_by_origin(id, "o1"));
        same!(user_names(id, users));
        for status in [
            None,
            Some(DeliveryStatus::Pending),
            Some(DeliveryStatus::Dead),
        ] {
            let page = page_of(1, 1000);
            let old_listed = old.list_deliveries(id, None, status, page).await.unwrap();
            let new_listed = new.list_deliveries(id, None, status, page).await.unwrap();
            assert_eq!(deliveries(old_listed), deliveries(new_listed), "{status:?}");
        }
        let (total, rooms) = old.list_rooms(&everything(id)).await.unwrap();
        assert_eq!(
            (total, rooms.clone()),
            new.list_rooms(&everything(id)).await.unwrap()
        );
        for room in rooms {
            let r = room.room_id;
            same!(get_room(r));
            same!(read_events(r, 1, u64::MAX));
            same!(current_members(r, page_of(1, 100)));
            same!(attendance(r, page_of(1, 100)));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_copied_column_by_column_answers_and_goes_on_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roomlog.db");
    let old = SqliteStore::open(&path).unwrap();
    let (apps, users) = populate(&old).await;

    let schema = common::Schema::new();
    let report =
        roomlog_postgres::import::copy_from_sqlite(&path, &common::url(), Some(&schema.name))
            .await
            .unwrap();
    assert_eq!(
        report
            .tables
            .iter()
            .map(|t| t.table.as_str())
            .collect::<Vec<_>>(),
        TABLES,
        "every table copied and verified"
    );
    assert!(!report.already_copied);
    assert!(
        report
            .tables
            .iter()
            .find(|t| t.table == "events")
            .unwrap()
            .rows
            > 0
    );
    let new = schema.connect().await;
    same_answers(&old, &new, &apps, &users, true).await;

    // Both go on the same way: the same writes give the same state.
    let (_, rooms) = old
        .list_rooms(&everything(apps[0].sdk_app_id))
        .await
        .unwrap();
    let live = rooms
        .iter()
        .find(|r| r.spec.name == "live")
        .unwrap()
        .room_id;
    let waiting = rooms
        .iter()
        .find(|r| r.spec.name == "waiting")
        .unwrap()
        .room_id;
    let more = vec![
        presence_event("q1", EventType::MemberQuit, "ann", Some(7), T0_MS + 10),
        presence_event("q2", EventType::MemberQuit, "ben", None, T0_MS + 11),
        presence_event("j9", EventType::MemberJoin, "hal", Some(4), T0_MS + 12),
        event("j1", EventType::MemberJoin, T0_MS), // a duplicate
    ];
    assert_eq!(
        append(&old, live, more.clone()).await,
        append(&new, live, more).await,
        "the sequence and idempotency go on"
    );
    for store in [&old as &dyn Store, &new as &dyn Store] {
        end(store, live, T0_MS + 100).await;
    }
    let (old_admit, old_bars) = bars_probe();
    let (new_admit, new_bars) = bars_probe();
    let fay = |id: &str| presence_event(id, EventType::MemberJoin, "fay", None, T0_MS);
    old.append_events(waiting, vec![fay("f1")], old_admit)
        .await
        .unwrap();
    new.append_events(waiting, vec![fay("f1")], new_admit)
        .await
        .unwrap();
    assert_eq!(
        *old_bars.lock().unwrap(),
        *new_bars.lock().unwrap(),
        "kick bars came along"
    );
    let later = T0_MS + 1_000_000 + 30_000;
    let mut old_claim: Vec<(RoomId, u64)> = old
        .claim_due_deliveries(later, later + 1, 100)
        .await
        .unwrap()
        .iter()
        .map(|d| (d.room_id, d.event.seq))
        .collect();
    let mut new_claim: Vec<(RoomId, u64)> = new
        .claim_due_deliveries(later, later + 1, 100)
        .await
        .unwrap()
        .iter()
        .map(|d| (d.room_id, d.event.seq))
        .collect();
    old_claim.sort_unstable();
    new_claim.sort_unstable();
    assert!(!new_claim.is_empty());
    assert_eq!(old_claim, new_claim, "the callback heads came along");
    same_answers(&old, &new, &apps, &users, false).await;

    // New ids continue past everything SQLite ever gave out, deleted rooms included.
    for store in [&old as &dyn Store, &new as &dyn Store] {
        let account = store.create_account("new").await.unwrap();
        let app = store.create_app(account.id, "new").await.unwrap();
        let room = store
            .create_rooms(&app, vec![spec("new", T0, T0 + 60)], T0 as i64)
            .await
            .unwrap();
        assert_eq!(
            (account.id, app.sdk_app_id, room.len()),
            (3, apps[1].sdk_app_id + 1, 1)
        );
    }
    let old_max = old
        .list_rooms(&everything(apps[1].sdk_app_id + 1))
        .await
        .unwrap();
    let new_max = new
        .list_rooms(&everything(apps[1].sdk_app_id + 1))
        .await
        .unwrap();
    assert_eq!(
        old_max.1[0].room_id, new_max.1[0].room_id,
        "the next room id is the same: the deleted room's id is not reused"
    );
}
