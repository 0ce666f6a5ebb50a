//! The backend-agnostic conformance suite: the behaviour every [`Store`] must show, whatever
//! holds the data. A backend runs it from an integration test:
//!
//! ```ignore
//! use roomlog_core::conformance::Fixture;
//!
//! // A FRESH, empty store per call, plus anything that must outlive it (a temp dir, a
//! // throwaway database dropped by its guard, ...).
//! async fn fresh_store() -> Fixture<MyStore> {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = MyStore::open(&dir.path().join("roomlog.db")).unwrap();
//!     Fixture::with_guard(store, dir)
//! }
//!
//! roomlog_core::store_conformance_tests!(fresh_store());
//! ```
//!
//! The macro expands to one `#[tokio::test]` per case (so each is reported on its own); the
//! backend's crate needs `tokio` (features `macros`, `rt-multi-thread`) as a dev-dependency. Each
//! case is also a plain `pub async fn case_*<S: Store>(store: S)`, callable directly.
//!
//! Cases only use the trait, assert on results (never on timing) and panic with a message that
//! names what was expected.

use std::any::Any;
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::account::{Account, ApiKey, App};
use crate::error::DomainError;
use crate::event::{EventData, EventType, NewEvent, StoredEvent};
use crate::ingest;
use crate::room::{Room, RoomId, RoomQuery, RoomSpec, RoomStatus};
use crate::store::{Admission, AppendOutcome, PurgeStats, Store, StoreError};

/// One case's store, and whatever must stay alive until the store is gone.
pub struct Fixture<S> {
    store: S,
    guard: Box<dyn Any + Send>,
}

impl<S: Store> Fixture<S> {
    /// A store that needs nothing kept alive beside it.
    pub fn new(store: S) -> Self {
        Self::with_guard(store, ())
    }

    /// A store plus a guard (a temp dir, say) dropped only after the store.
    pub fn with_guard(store: S, guard: impl Any + Send) -> Self {
        Self {
            store,
            guard: Box::new(guard),
        }
    }

    /// Runs `case` on the store; the guard is dropped after the case (and with it the store).
    pub async fn run<F, Fut>(self, case: F)
    where
        F: FnOnce(S) -> Fut,
        Fut: Future<Output = ()>,
    {
        let Fixture { store, guard } = self;
        case(store).await;
        drop(guard);
    }
}

/// Expands to one `#[tokio::test]` per conformance case, each on a fresh store from
/// `$fixture` (an expression evaluating to a future of [`Fixture`]; evaluated once per case).
#[macro_export]
macro_rules! store_conformance_tests {
    ($fixture:expr) => {
        $crate::store_conformance_tests!(@cases $fixture;
            case_accounts_create_and_list,
            case_apps_create_list_get,
            case_keys_insert_list_enable,
            case_room_ids_unique_and_in_input_order,
            case_create_rooms_all_or_nothing,
            case_missing_room,
            case_modify_room,
            case_lifecycle_wrong_status,
            case_start_and_end_record_events,
            case_dense_sequences,
            case_idempotent_event_ids,
            case_retry_after_end_returns_duplicates,
            case_admission_sees_room_and_new_events_only,
            case_rejection_records_nothing,
            case_read_events_pages,
            case_read_events_of_type_paging,
            case_concurrent_appends_are_dense_and_exactly_once,
            case_room_ownership,
            case_delete_room_removes_events,
            case_purge,
            case_list_rooms_window_status_paging,
        );
    };
    (@cases $fixture:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::Fixture::run($fixture.await, $crate::conformance::$case)
                    .await;
            }
        )+
    };
}

// --- helpers ----------------------------------------------------------------------------------

/// A base unix time (seconds) for schedules.
const T0: u64 = 1_700_000_000;
/// A base unix time (milliseconds) for events.
const T0_MS: i64 = 1_700_000_000_000;

/// A valid spec scheduled `[start, end]` (unix seconds).
pub fn spec(name: &str, start: u64, end: u64) -> RoomSpec {
    RoomSpec {
        name: name.to_owned(),
        start_time: start,
        end_time: end,
        resolution: 1,
        max_mic_number: 6,
        sub_type: "videodoc".into(),
        ..RoomSpec::default()
    }
}

/// A reportable event of `event_type`, with the fields that type carries.
pub fn event(id: &str, event_type: EventType, timestamp_ms: i64) -> NewEvent {
    let mut data = EventData::default();
    if event_type.is_member() || event_type.is_media() {
        data.user_id = Some(format!("user-{id}"));
    }
    if event_type.is_member() {
        data.device = Some(5);
        data.role = Some(0);
    }
    if event_type == EventType::MemberQuit {
        data.reason = Some(4);
    }
    if event_type == EventType::RecordFinish {
        // Extremes: a store must give back any u64 it accepted.
        data.duration = Some(u64::MAX);
        data.record_size = Some(u64::MAX - 1);
        data.record_url = Some(format!("https://example.com/records/{id}.mp4"));
    }
    NewEvent {
        event_id: id.to_owned(),
        event_type,
        timestamp_ms,
        data,
    }
}

fn join(id: &str) -> NewEvent {
    event(id, EventType::MemberJoin, T0_MS)
}

/// Admits everything.
pub fn accept() -> Admission {
    Box::new(|_, _| Ok(()))
}

/// Refuses everything with `error`.
pub fn reject(error: DomainError) -> Admission {
    Box::new(move |_, _| Err(error))
}

/// Refuses everything and records that it was asked.
fn reject_and_flag() -> (Admission, Arc<AtomicBool>) {
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let admit: Admission = Box::new(move |_, _| {
        flag.store(true, Ordering::SeqCst);
        Err(DomainError::failed("admission must not be consulted"))
    });
    (admit, called)
}

async fn account_and_app<S: Store>(store: &S, name: &str) -> (Account, App) {
    let account = store.create_account(name).await.expect("create_account");
    let app = store
        .create_app(account.id, &format!("{name}-app"))
        .await
        .expect("create_app");
    (account, app)
}

async fn new_room<S: Store>(store: &S, app: &App, spec: RoomSpec) -> RoomId {
    let ids = store
        .create_rooms(app, vec![spec], T0 as i64)
        .await
        .expect("create_rooms");
    assert_eq!(ids.len(), 1, "create_rooms of one spec must return one id");
    ids[0]
}

async fn plain_room<S: Store>(store: &S, app: &App, name: &str) -> RoomId {
    new_room(store, app, spec(name, T0, T0 + 3600)).await
}

async fn append<S: Store>(store: &S, room: RoomId, events: Vec<NewEvent>) -> AppendOutcome {
    store
        .append_events(room, events, accept())
        .await
        .expect("append_events")
}

async fn room<S: Store>(store: &S, room_id: RoomId) -> Room {
    store
        .get_room(room_id)
        .await
        .expect("get_room")
        .unwrap_or_else(|| panic!("room {room_id} should exist"))
}

async fn all_events<S: Store>(store: &S, room_id: RoomId) -> Vec<StoredEvent> {
    store
        .read_events(room_id, 1, u64::MAX)
        .await
        .expect("read_events")
}

fn seqs(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

fn ids(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_id.as_str()).collect()
}

fn expect_wrong_status<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    expected: RoomStatus,
    what: &str,
) {
    match result {
        Err(StoreError::WrongStatus(found)) => {
            assert_eq!(
                found, expected,
                "{what}: WrongStatus should carry the status found"
            )
        }
        other => panic!("{what}: expected WrongStatus({expected:?}), got {other:?}"),
    }
}

fn expect_room_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::RoomNotFound)),
        "{what}: expected RoomNotFound, got {result:?}"
    );
}

fn everything(sdk_app_id: u64) -> RoomQuery {
    RoomQuery {
        sdk_app_id,
        window_start: 0,
        window_end: u64::MAX,
        statuses: Vec::new(),
        page: 1,
        limit: 1000,
    }
}

fn room_ids(rooms: &[Room]) -> Vec<RoomId> {
    rooms.iter().map(|r| r.room_id).collect()
}

fn sorted_by_key<T, K: Ord>(mut items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    items.sort_by_key(key);
    items
}

// --- accounts, apps, keys ---------------------------------------------------------------------

pub async fn case_accounts_create_and_list<S: Store>(store: S) {
    assert_eq!(
        store.list_accounts().await.unwrap(),
        vec![],
        "a fresh store has no accounts"
    );
    let a = store.create_account("alpha").await.unwrap();
    let b = store.create_account("beta").await.unwrap();
    assert_ne!(a.id, b.id, "account ids are unique");
    assert_eq!(a.name, "alpha");
    assert_eq!(b.name, "beta");
    assert!(
        a.created_at > 1_600_000_000,
        "created_at is the current unix time in seconds, got {}",
        a.created_at
    );
    let listed = sorted_by_key(store.list_accounts().await.unwrap(), |x| x.id);
    assert_eq!(listed, sorted_by_key(vec![a, b], |x| x.id));
}

pub async fn case_apps_create_list_get<S: Store>(store: S) {
    let a = store.create_account("a").await.unwrap();
    let b = store.create_account("b").await.unwrap();
    let unknown_account = a.id.max(b.id) + 1000;
    assert!(
        matches!(
            store.create_app(unknown_account, "x").await,
            Err(StoreError::AccountNotFound)
        ),
        "create_app for an unknown account is AccountNotFound"
    );

    let a1 = store.create_app(a.id, "a-one").await.unwrap();
    let a2 = store.create_app(a.id, "a-two").await.unwrap();
    let b1 = store.create_app(b.id, "b-one").await.unwrap();
    let ids: HashSet<u64> = [a1.sdk_app_id, a2.sdk_app_id, b1.sdk_app_id].into();
    assert_eq!(
        ids.len(),
        3,
        "SdkAppIds are globally unique across accounts"
    );
    assert_eq!((a1.account_id, a1.name.as_str()), (a.id, "a-one"));
    assert_eq!((b1.account_id, b1.name.as_str()), (b.id, "b-one"));

    let by_id = |apps: Vec<App>| sorted_by_key(apps, |x| x.sdk_app_id);
    assert_eq!(
        by_id(store.list_apps(None).await.unwrap()),
        by_id(vec![a1.clone(), a2.clone(), b1.clone()])
    );
    assert_eq!(
        by_id(store.list_apps(Some(a.id)).await.unwrap()),
        by_id(vec![a1.clone(), a2.clone()]),
        "list_apps(Some(account)) lists only that account's apps"
    );
    assert_eq!(store.list_apps(Some(b.id)).await.unwrap(), vec![b1.clone()]);
    assert_eq!(
        store.list_apps(Some(unknown_account)).await.unwrap(),
        vec![]
    );

    assert_eq!(
        store.get_app(a2.sdk_app_id).await.unwrap(),
        Some(a2.clone())
    );
    let unknown_app = a1.sdk_app_id.max(a2.sdk_app_id).max(b1.sdk_app_id) + 1000;
    assert_eq!(store.get_app(unknown_app).await.unwrap(), None);
    // Clients send arbitrary u64 SdkAppIds: lookups must answer None, not fail.
    assert_eq!(store.get_app(u64::MAX).await.unwrap(), None);
}

pub async fn case_keys_insert_list_enable<S: Store>(store: S) {
    let a = store.create_account("a").await.unwrap();
    let b = store.create_account("b").await.unwrap();
    let orphan = ApiKey::generate(a.id.max(b.id) + 1000, 100);
    assert!(
        matches!(
            store.insert_key(&orphan).await,
            Err(StoreError::AccountNotFound)
        ),
        "insert_key for an unknown account is AccountNotFound"
    );
    assert_eq!(store.get_key(&orphan.secret_id).await.unwrap(), None);

    let k1 = ApiKey::generate(a.id, 100);
    let k2 = ApiKey::generate(a.id, 101);
    let k3 = ApiKey::generate(b.id, 102);
    for key in [&k1, &k2, &k3] {
        store.insert_key(key).await.unwrap();
    }
    assert_eq!(
        store.get_key(&k1.secret_id).await.unwrap(),
        Some(k1.clone())
    );
    assert_eq!(store.get_key("AKIDdoesnotexist").await.unwrap(), None);

    let by_id = |keys: Vec<ApiKey>| sorted_by_key(keys, |k| k.secret_id.clone());
    assert_eq!(
        by_id(store.list_keys(None).await.unwrap()),
        by_id(vec![k1.clone(), k2.clone(), k3.clone()])
    );
    assert_eq!(
        by_id(store.list_keys(Some(a.id)).await.unwrap()),
        by_id(vec![k1.clone(), k2.clone()]),
        "list_keys(Some(account)) lists only that account's keys"
    );

    assert!(store.set_key_enabled(&k1.secret_id, false).await.unwrap());
    let disabled = store.get_key(&k1.secret_id).await.unwrap().unwrap();
    assert!(!disabled.enabled, "set_key_enabled(false) disables the key");
    assert_eq!(
        disabled,
        ApiKey {
            enabled: false,
            ..k1.clone()
        },
        "disabling changes nothing else"
    );
    assert!(
        store.get_key(&k2.secret_id).await.unwrap().unwrap().enabled,
        "other keys stay enabled"
    );
    assert!(
        !store
            .set_key_enabled("AKIDdoesnotexist", false)
            .await
            .unwrap(),
        "set_key_enabled on an unknown key returns false"
    );
    assert!(store.set_key_enabled(&k1.secret_id, true).await.unwrap());
    assert!(store.get_key(&k1.secret_id).await.unwrap().unwrap().enabled);
}

// --- rooms --------------------------------------------------------------------------------------

pub async fn case_room_ids_unique_and_in_input_order<S: Store>(store: S) {
    let (account, app) = account_and_app(&store, "a").await;
    let (_, other_app) = account_and_app(&store, "b").await;
    // Deliberately not in schedule order: ids come back in INPUT order.
    let specs = vec![
        spec("r0", T0 + 500, T0 + 900),
        spec("r1", T0 + 100, T0 + 200),
        spec("r2", T0 + 300, T0 + 400),
        spec("r3", T0 + 50, T0 + 60),
        RoomSpec {
            teacher_id: Some("teacher".into()),
            assistants: Some(vec!["as1".into(), "as2".into()]),
            room_type: Some(1),
            record_lang: Some("en".into()),
            rtc_audience_number: Some(7),
            ..spec("r4", T0, T0 + 3600)
        },
    ];
    let ids = store.create_rooms(&app, specs.clone(), 1234).await.unwrap();
    assert_eq!(ids.len(), specs.len(), "one id per spec");
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "room ids are unique: {ids:?}"
    );
    for (id, spec) in ids.iter().zip(&specs) {
        let stored = room(&store, *id).await;
        assert_eq!(
            stored.spec, *spec,
            "room {id} must hold the spec at the same position"
        );
        assert_eq!(stored.room_id, *id);
        assert_eq!(stored.sdk_app_id, app.sdk_app_id);
        assert_eq!(stored.account_id, account.id);
        assert_eq!(stored.status, RoomStatus::NotStarted);
        assert_eq!((stored.real_start_ms, stored.real_end_ms), (None, None));
        assert_eq!(stored.created_at, 1234, "created_at is the value passed in");
        assert_eq!(stored.last_seq, 0);
        assert!(!stored.events_purged);
    }
    let more = store
        .create_rooms(
            &other_app,
            vec![spec("o0", T0, T0 + 1), spec("o1", T0, T0 + 1)],
            1,
        )
        .await
        .unwrap();
    let all: HashSet<RoomId> = ids.iter().chain(&more).copied().collect();
    assert_eq!(
        all.len(),
        ids.len() + more.len(),
        "room ids are unique across apps"
    );
    assert_eq!(
        store.create_rooms(&app, Vec::new(), 1).await.unwrap(),
        Vec::<RoomId>::new(),
        "an empty batch creates nothing"
    );
}

pub async fn case_create_rooms_all_or_nothing<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let ghost = App {
        sdk_app_id: app.sdk_app_id + 1000,
        ..app.clone()
    };
    assert!(
        store
            .create_rooms(&ghost, vec![spec("x", T0, T0 + 1)], 1)
            .await
            .is_err(),
        "creating rooms in an app that does not exist fails"
    );

    // The third spec's schedule cannot be stored by a backend with signed 64-bit integers; a
    // backend that can store it must then store all three.
    let specs = vec![
        spec("ok-1", T0, T0 + 60),
        spec("ok-2", T0, T0 + 60),
        spec("unstorable", u64::MAX - 1, u64::MAX),
    ];
    match store.create_rooms(&app, specs, 1).await {
        Err(_) => {
            let (total, rooms) = store.list_rooms(&everything(app.sdk_app_id)).await.unwrap();
            assert_eq!(
                (total, rooms.len()),
                (0, 0),
                "a failed create_rooms must create none of the rooms: {rooms:?}"
            );
        }
        Ok(ids) => {
            assert_eq!(ids.len(), 3);
            for id in ids {
                room(&store, id).await;
            }
        }
    }
    let id = plain_room(&store, &app, "after").await;
    assert_eq!(
        room(&store, id).await.spec.name,
        "after",
        "the store still works"
    );
}

pub async fn case_missing_room<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let existing = plain_room(&store, &app, "r").await;
    let missing = existing + 1_000_000;
    assert_eq!(store.get_room(missing).await.unwrap(), None);
    // Clients send arbitrary u64 RoomIds: lookups must answer None, not fail.
    assert_eq!(store.get_room(u64::MAX).await.unwrap(), None);
    expect_room_not_found(
        store.modify_room(missing, spec("x", T0, T0 + 1)).await,
        "modify_room",
    );
    expect_room_not_found(store.delete_room(missing).await, "delete_room");
    expect_room_not_found(
        store
            .start_room(missing, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
            .await,
        "start_room",
    );
    expect_room_not_found(
        store
            .end_room(missing, NewEvent::lifecycle(EventType::RoomEnd, T0_MS))
            .await,
        "end_room",
    );
    expect_room_not_found(
        store
            .append_events(missing, vec![join("a")], accept())
            .await,
        "append_events",
    );
    expect_room_not_found(
        store
            .append_events(u64::MAX, vec![join("a")], accept())
            .await,
        "append_events(u64::MAX)",
    );
    assert_eq!(store.read_events(missing, 1, 10).await.unwrap(), vec![]);
    assert_eq!(
        store
            .read_events_of_type(missing, EventType::MemberJoin, 0, 10)
            .await
            .unwrap(),
        vec![]
    );
}

pub async fn case_modify_room<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = new_room(&store, &app, spec("before", T0, T0 + 600)).await;
    let changed = RoomSpec {
        teacher_id: Some("t1".into()),
        max_mic_number: 3,
        ..spec("after", T0 + 10_000, T0 + 12_000)
    };
    let modified = store.modify_room(id, changed.clone()).await.unwrap();
    assert_eq!(
        modified.spec, changed,
        "modify_room returns the room with the new spec"
    );
    assert_eq!(modified.status, RoomStatus::NotStarted);
    assert_eq!(
        room(&store, id).await,
        modified,
        "the returned room is what is stored"
    );

    // The schedule columns moved with the spec: GetRooms finds it only at its new time.
    let window = |start: u64, end: u64| RoomQuery {
        window_start: start,
        window_end: end,
        ..everything(app.sdk_app_id)
    };
    let (total, _) = store.list_rooms(&window(T0, T0 + 600)).await.unwrap();
    assert_eq!(total, 0, "the old schedule no longer matches");
    let (total, rooms) = store
        .list_rooms(&window(T0 + 11_000, T0 + 11_001))
        .await
        .unwrap();
    assert_eq!(
        (total, room_ids(&rooms)),
        (1, vec![id]),
        "the new schedule matches"
    );

    store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    expect_wrong_status(
        store.modify_room(id, spec("late", T0, T0 + 1)).await,
        RoomStatus::InClass,
        "modify after start",
    );
    store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 1))
        .await
        .unwrap();
    expect_wrong_status(
        store.modify_room(id, spec("later", T0, T0 + 1)).await,
        RoomStatus::Ended,
        "modify after end",
    );
    assert_eq!(
        room(&store, id).await.spec,
        changed,
        "refused modifications change nothing"
    );
}

pub async fn case_lifecycle_wrong_status<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    let start = || NewEvent::lifecycle(EventType::RoomStart, T0_MS);
    let end = || NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 1000);

    expect_wrong_status(
        store.end_room(id, end()).await,
        RoomStatus::NotStarted,
        "end before start",
    );
    store.start_room(id, start()).await.unwrap();
    expect_wrong_status(
        store.start_room(id, start()).await,
        RoomStatus::InClass,
        "start twice",
    );
    expect_wrong_status(
        store.delete_room(id).await,
        RoomStatus::InClass,
        "delete in class",
    );
    assert!(
        store.get_room(id).await.unwrap().is_some(),
        "a refused delete deletes nothing"
    );
    store.end_room(id, end()).await.unwrap();
    expect_wrong_status(
        store.end_room(id, end()).await,
        RoomStatus::Ended,
        "end twice",
    );
    expect_wrong_status(
        store.start_room(id, start()).await,
        RoomStatus::Ended,
        "start after end",
    );

    let events = all_events(&store, id).await;
    assert_eq!(
        events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        vec![EventType::RoomStart, EventType::RoomEnd],
        "refused transitions record nothing"
    );
    assert_eq!(room(&store, id).await.last_seq, 2);

    store
        .delete_room(id)
        .await
        .expect("an ended room can be deleted");
    assert_eq!(store.get_room(id).await.unwrap(), None);
    let fresh = plain_room(&store, &app, "never started").await;
    store
        .delete_room(fresh)
        .await
        .expect("a room not started can be deleted");
    assert_eq!(store.get_room(fresh).await.unwrap(), None);
}

pub async fn case_start_and_end_record_events<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    // Members may arrive before the class starts.
    append(&store, id, vec![join("early-1"), join("early-2")]).await;

    let started = store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, T0_MS + 5))
        .await
        .unwrap();
    assert_eq!(started.status, RoomStatus::InClass);
    assert_eq!(
        started.real_start_ms,
        Some(T0_MS + 5),
        "real_start_ms is the event's time"
    );
    assert_eq!(started.real_end_ms, None);
    assert_eq!(started.last_seq, 3, "RoomStart takes the next seq");
    assert_eq!(
        room(&store, id).await,
        started,
        "start_room returns the room as stored"
    );

    append(&store, id, vec![join("during")]).await;
    let ended = store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 9000))
        .await
        .unwrap();
    assert_eq!(ended.status, RoomStatus::Ended);
    assert_eq!(
        ended.real_start_ms,
        Some(T0_MS + 5),
        "the start time is kept"
    );
    assert_eq!(
        ended.real_end_ms,
        Some(T0_MS + 9000),
        "real_end_ms is the event's time"
    );
    assert_eq!(ended.last_seq, 5, "RoomEnd takes the next seq");
    assert_eq!(
        room(&store, id).await,
        ended,
        "end_room returns the room as stored"
    );

    let events = all_events(&store, id).await;
    assert_eq!(seqs(&events), vec![1, 2, 3, 4, 5]);
    let start = &events[2];
    assert_eq!(
        (
            start.event_type,
            start.event_id.as_str(),
            start.timestamp_ms,
            start.room_id
        ),
        (EventType::RoomStart, "roomlog:RoomStart", T0_MS + 5, id)
    );
    assert_eq!(start.data, EventData::default());
    let end = &events[4];
    assert_eq!(
        (end.event_type, end.event_id.as_str(), end.timestamp_ms),
        (EventType::RoomEnd, "roomlog:RoomEnd", T0_MS + 9000)
    );
    let ends = store
        .read_events_of_type(id, EventType::RoomEnd, 0, 10)
        .await
        .unwrap();
    assert_eq!(seqs(&ends), vec![5]);
}

// --- events -------------------------------------------------------------------------------------

pub async fn case_dense_sequences<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let a = plain_room(&store, &app, "a").await;
    let b = plain_room(&store, &app, "b").await;
    let mut expected_a = Vec::new();
    for call in 0..40u64 {
        let size = call % 7 + 1;
        let batch: Vec<NewEvent> = (0..size).map(|i| join(&format!("a-{call}-{i}"))).collect();
        expected_a.extend(batch.iter().map(|e| e.event_id.clone()));
        let outcome = append(&store, a, batch).await;
        assert_eq!(
            outcome,
            AppendOutcome {
                accepted: size,
                duplicates: 0,
                last_seq: expected_a.len() as u64,
            },
            "append #{call}"
        );
        // Interleave another room: sequences are per room.
        let outcome = append(&store, b, vec![join(&format!("b-{call}"))]).await;
        assert_eq!(outcome.last_seq, call + 1, "room b's sequence is its own");
    }
    let events = all_events(&store, a).await;
    assert_eq!(
        seqs(&events),
        (1..=expected_a.len() as u64).collect::<Vec<_>>(),
        "seqs are dense from 1"
    );
    assert_eq!(ids(&events), expected_a, "events are in append order");
    assert!(events.iter().all(|e| e.room_id == a));
    assert_eq!(room(&store, a).await.last_seq, expected_a.len() as u64);
    assert_eq!(
        seqs(&all_events(&store, b).await),
        (1..=40).collect::<Vec<_>>()
    );
}

pub async fn case_idempotent_event_ids<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    let other = plain_room(&store, &app, "other").await;

    let outcome = append(&store, id, vec![join("a"), join("b"), join("a")]).await;
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 2,
            duplicates: 1,
            last_seq: 2
        },
        "an id repeated within a batch is a duplicate"
    );
    let outcome = append(&store, id, vec![join("b"), join("c")]).await;
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 1,
            duplicates: 1,
            last_seq: 3
        },
        "an id recorded by an earlier call is a duplicate"
    );
    // A whole retried batch: nothing new, so admission is not consulted at all.
    let (admit, called) = reject_and_flag();
    let outcome = store
        .append_events(id, vec![join("a"), join("b"), join("c")], admit)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 0,
            duplicates: 3,
            last_seq: 3
        }
    );
    assert!(
        !called.load(Ordering::SeqCst),
        "admission is skipped when nothing is new"
    );
    // Same id, different content: still a duplicate; the first recording wins.
    let imposter = event("a", EventType::MicOn, T0_MS + 99);
    let outcome = append(&store, id, vec![imposter]).await;
    assert_eq!((outcome.accepted, outcome.duplicates), (0, 1));
    let (admit, called) = reject_and_flag();
    let outcome = store.append_events(id, Vec::new(), admit).await.unwrap();
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 0,
            duplicates: 0,
            last_seq: 3
        },
        "an empty batch records nothing"
    );
    assert!(!called.load(Ordering::SeqCst));

    let events = all_events(&store, id).await;
    assert_eq!(
        ids(&events),
        vec!["a", "b", "c"],
        "each id recorded exactly once"
    );
    assert_eq!(
        events[0].event_type,
        EventType::MemberJoin,
        "the first recording is kept"
    );
    assert_eq!(room(&store, id).await.last_seq, 3);

    let outcome = append(&store, other, vec![join("a")]).await;
    assert_eq!(
        (outcome.accepted, outcome.duplicates),
        (1, 0),
        "event ids are unique per room, not globally"
    );
}

pub async fn case_retry_after_end_returns_duplicates<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    append(&store, id, vec![join("a"), join("b")]).await;
    let ended = store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 60_000))
        .await
        .unwrap();
    assert_eq!(ended.last_seq, 4);

    // The batch was acknowledged before the class ended; its retry must still succeed.
    let (admit, called) = reject_and_flag();
    let outcome = store
        .append_events(id, vec![join("a"), join("b")], admit)
        .await
        .expect("a retried batch after the end answers with its duplicates");
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 0,
            duplicates: 2,
            last_seq: 4
        }
    );
    assert!(
        !called.load(Ordering::SeqCst),
        "admission is not consulted for pure duplicates"
    );

    // With the real ingest rule: new member events are refused after the end ...
    let now = T0_MS + 61_000;
    let retention = 3_600_000;
    let real_admit = || -> Admission {
        Box::new(move |room, events| ingest::admit(room, events, now, retention))
    };
    match store
        .append_events(id, vec![join("a"), join("late")], real_admit())
        .await
    {
        Err(StoreError::Rejected(e)) => assert_eq!(e.code, "FailedOperation.ClassEnded"),
        other => panic!("a new MemberJoin after the end must be rejected, got {other:?}"),
    }
    assert_eq!(
        room(&store, id).await.last_seq,
        4,
        "a rejected batch records nothing"
    );
    // ... while a RecordFinish still is taken, next to a duplicate.
    let outcome = store
        .append_events(
            id,
            vec![join("a"), event("rec", EventType::RecordFinish, now)],
            real_admit(),
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 1,
            duplicates: 1,
            last_seq: 5
        }
    );
}

pub async fn case_admission_sees_room_and_new_events_only<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, vec![join("a")]).await;

    type Seen = Option<(Room, Vec<NewEvent>)>;
    let seen: Arc<Mutex<Seen>> = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&seen);
    let admit: Admission = Box::new(move |room, events| {
        *sink.lock().unwrap() = Some((room.clone(), events.to_vec()));
        Ok(())
    });
    let batch = vec![join("a"), join("b"), join("b"), join("c")];
    let outcome = store.append_events(id, batch, admit).await.unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (2, 2));

    let (room_seen, events_seen) = seen
        .lock()
        .unwrap()
        .take()
        .expect("admission is consulted when there are new events");
    assert_eq!(room_seen.room_id, id);
    assert_eq!(
        room_seen.last_seq, 1,
        "admission sees the room as stored before the batch"
    );
    assert_eq!(room_seen.status, RoomStatus::NotStarted);
    assert_eq!(room_seen.sdk_app_id, app.sdk_app_id);
    assert_eq!(
        events_seen
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        vec!["b", "c"],
        "admission sees only the new events, once each, in order"
    );
}

pub async fn case_rejection_records_nothing<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, vec![join("x")]).await;

    let refusal = DomainError::new("FailedOperation.Test", "not now");
    let result = store
        .append_events(
            id,
            vec![join("a"), join("b"), join("c")],
            reject(refusal.clone()),
        )
        .await;
    match result {
        Err(StoreError::Rejected(e)) => assert_eq!(e, refusal, "the admission error is returned"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        room(&store, id).await.last_seq,
        1,
        "a rejected batch records nothing"
    );
    assert_eq!(ids(&all_events(&store, id).await), vec!["x"]);

    let outcome = append(&store, id, vec![join("a"), join("b"), join("c")]).await;
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 3,
            duplicates: 0,
            last_seq: 4
        },
        "the rejected ids were not recorded, so they are new now"
    );
}

pub async fn case_read_events_pages<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    let kinds = [
        EventType::MemberJoin,
        EventType::CameraOn,
        EventType::MemberQuit,
        EventType::RecordFinish,
        EventType::VisibleOff,
    ];
    let sent: Vec<NewEvent> = (0..25)
        .map(|i| event(&format!("e{i}"), kinds[i % kinds.len()], T0_MS + i as i64))
        .collect();
    append(&store, id, sent[..12].to_vec()).await;
    append(&store, id, sent[12..].to_vec()).await;

    let all = all_events(&store, id).await;
    let expected: Vec<StoredEvent> = sent
        .iter()
        .enumerate()
        .map(|(i, e)| StoredEvent {
            room_id: id,
            seq: i as u64 + 1,
            event_id: e.event_id.clone(),
            event_type: e.event_type,
            timestamp_ms: e.timestamp_ms,
            data: e.data.clone(),
        })
        .collect();
    assert_eq!(
        all, expected,
        "events come back exactly as recorded, with every field"
    );

    let page = |first: u64, limit: u64| {
        let store = &store;
        async move { seqs(&store.read_events(id, first, limit).await.unwrap()) }
    };
    assert_eq!(page(1, 10).await, (1..=10).collect::<Vec<_>>());
    assert_eq!(page(11, 10).await, (11..=20).collect::<Vec<_>>());
    assert_eq!(
        page(21, 10).await,
        (21..=25).collect::<Vec<_>>(),
        "a short last page"
    );
    assert_eq!(
        page(26, 10).await,
        Vec::<u64>::new(),
        "a page past the end is empty"
    );
    assert_eq!(page(1000, 10).await, Vec::<u64>::new());
    assert_eq!(
        page(u64::MAX, 10).await,
        Vec::<u64>::new(),
        "no overflow at the top"
    );
    assert_eq!(
        page(0, 5).await,
        (1..=4).collect::<Vec<_>>(),
        "the range is first_seq..first_seq+limit"
    );
    assert_eq!(page(5, 0).await, Vec::<u64>::new(), "limit 0 reads nothing");
    assert_eq!(page(7, 1).await, vec![7]);
}

pub async fn case_read_events_of_type_paging<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    let other = plain_room(&store, &app, "other").await;
    let kinds = [
        EventType::MemberJoin,
        EventType::MicOn,
        EventType::MemberQuit,
    ];
    let batch: Vec<NewEvent> = (0..30)
        .map(|i| event(&format!("e{i}"), kinds[i % 3], T0_MS + i as i64))
        .collect();
    append(&store, id, batch).await;
    append(&store, other, vec![join("o1"), join("o2")]).await;

    let joins: Vec<u64> = (0..10).map(|i| 1 + 3 * i).collect();
    let mut got = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .read_events_of_type(id, EventType::MemberJoin, after, 3)
            .await
            .unwrap();
        assert!(page.len() <= 3, "at most `limit` events per call");
        assert!(
            page.iter()
                .all(|e| e.event_type == EventType::MemberJoin && e.room_id == id),
            "only the requested type of the requested room"
        );
        let Some(last) = page.last() else { break };
        after = last.seq;
        got.extend(seqs(&page));
    }
    assert_eq!(
        got, joins,
        "paging by after_seq yields every event of the type, in order"
    );
    assert_eq!(
        seqs(
            &store
                .read_events_of_type(id, EventType::MemberJoin, 7, 2)
                .await
                .unwrap()
        ),
        vec![10, 13],
        "after_seq is exclusive"
    );
    assert_eq!(
        store
            .read_events_of_type(id, EventType::ScreenOn, 0, 100)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .read_events_of_type(id, EventType::MicOn, 0, 0)
            .await
            .unwrap(),
        vec![],
        "limit 0 reads nothing"
    );
    let quits = store
        .read_events_of_type(id, EventType::MemberQuit, 0, 100)
        .await
        .unwrap();
    assert_eq!(seqs(&quits), (0..10).map(|i| 3 + 3 * i).collect::<Vec<_>>());
    assert_eq!(
        quits[0].data.reason,
        Some(4),
        "event data comes back with typed reads too"
    );
}

pub async fn case_concurrent_appends_are_dense_and_exactly_once<S: Store>(store: S) {
    const TASKS: usize = 16;
    const PER_TASK: usize = 25;
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    let store = Arc::new(store);

    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut totals = (0u64, 0u64);
            for i in 0..PER_TASK {
                // Each task's own event, plus one id that every task races to record.
                let batch = vec![join(&format!("t{task}-{i}")), join(&format!("shared-{i}"))];
                let outcome = store
                    .append_events(id, batch, accept())
                    .await
                    .expect("concurrent append");
                totals.0 += outcome.accepted;
                totals.1 += outcome.duplicates;
            }
            totals
        }));
    }
    let (mut accepted, mut duplicates) = (0, 0);
    for handle in handles {
        let (a, d) = handle.await.expect("append task");
        accepted += a;
        duplicates += d;
    }
    let unique = (TASKS * PER_TASK + PER_TASK) as u64;
    assert_eq!(accepted, unique, "every distinct id accepted exactly once");
    assert_eq!(duplicates, (TASKS * PER_TASK) as u64 - PER_TASK as u64);

    let events = all_events(&*store, id).await;
    assert_eq!(
        seqs(&events),
        (1..=unique).collect::<Vec<_>>(),
        "a dense, gap-free sequence"
    );
    let distinct: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(distinct.len(), events.len(), "no id recorded twice");
    assert_eq!(room(&*store, id).await.last_seq, unique);
    // Each task awaited its appends one by one: its events are in its order.
    for task in 0..TASKS {
        let prefix = format!("t{task}-");
        let order: Vec<usize> = events
            .iter()
            .filter_map(|e| e.event_id.strip_prefix(&prefix)?.parse().ok())
            .collect();
        assert_eq!(
            order,
            (0..PER_TASK).collect::<Vec<_>>(),
            "task {task}'s events in order"
        );
    }
}

// --- ownership, deletion, purge, GetRooms -----------------------------------------------------------

pub async fn case_room_ownership<S: Store>(store: S) {
    let (a, app_a) = account_and_app(&store, "a").await;
    let (b, app_b) = account_and_app(&store, "b").await;
    let ra = plain_room(&store, &app_a, "ra").await;
    let rb = plain_room(&store, &app_b, "rb").await;

    // The store is tenant-agnostic (callers check ownership) but records it faithfully.
    let room_a = room(&store, ra).await;
    let room_b = room(&store, rb).await;
    assert_eq!(
        (room_a.sdk_app_id, room_a.account_id),
        (app_a.sdk_app_id, a.id)
    );
    assert_eq!(
        (room_b.sdk_app_id, room_b.account_id),
        (app_b.sdk_app_id, b.id)
    );

    let (total, rooms) = store
        .list_rooms(&everything(app_a.sdk_app_id))
        .await
        .unwrap();
    assert_eq!(
        (total, room_ids(&rooms)),
        (1, vec![ra]),
        "GetRooms lists one app's rooms"
    );
    let (total, rooms) = store
        .list_rooms(&everything(app_b.sdk_app_id))
        .await
        .unwrap();
    assert_eq!((total, room_ids(&rooms)), (1, vec![rb]));
    let nobody = app_a.sdk_app_id.max(app_b.sdk_app_id) + 1000;
    let (total, rooms) = store.list_rooms(&everything(nobody)).await.unwrap();
    assert_eq!((total, rooms.len()), (0, 0), "an unknown app has no rooms");

    append(&store, ra, vec![join("same-id")]).await;
    append(&store, rb, vec![join("same-id")]).await;
    assert!(all_events(&store, ra).await.iter().all(|e| e.room_id == ra));
    assert!(all_events(&store, rb).await.iter().all(|e| e.room_id == rb));
}

pub async fn case_delete_room_removes_events<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let doomed = plain_room(&store, &app, "doomed").await;
    let kept = plain_room(&store, &app, "kept").await;
    append(
        &store,
        doomed,
        (0..5).map(|i| join(&format!("d{i}"))).collect(),
    )
    .await;
    append(
        &store,
        kept,
        (0..3).map(|i| join(&format!("k{i}"))).collect(),
    )
    .await;

    store.delete_room(doomed).await.unwrap();
    assert_eq!(
        store.get_room(doomed).await.unwrap(),
        None,
        "a deleted room is gone"
    );
    assert_eq!(
        store.read_events(doomed, 1, 100).await.unwrap(),
        vec![],
        "with its events"
    );
    assert_eq!(
        store
            .read_events_of_type(doomed, EventType::MemberJoin, 0, 100)
            .await
            .unwrap(),
        vec![]
    );
    expect_room_not_found(
        store
            .append_events(doomed, vec![join("d9")], accept())
            .await,
        "append to a deleted room",
    );
    expect_room_not_found(store.delete_room(doomed).await, "delete twice");
    expect_room_not_found(
        store
            .start_room(doomed, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
            .await,
        "start a deleted room",
    );
    let (total, rooms) = store.list_rooms(&everything(app.sdk_app_id)).await.unwrap();
    assert_eq!(
        (total, room_ids(&rooms)),
        (1, vec![kept]),
        "GetRooms no longer lists it"
    );

    assert_eq!(
        seqs(&all_events(&store, kept).await),
        vec![1, 2, 3],
        "other rooms untouched"
    );
    assert_eq!(room(&store, kept).await.last_seq, 3);

    store
        .start_room(kept, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    store
        .end_room(kept, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 1))
        .await
        .unwrap();
    store.delete_room(kept).await.unwrap();
    assert_eq!(store.get_room(kept).await.unwrap(), None);
    assert_eq!(store.read_events(kept, 1, 100).await.unwrap(), vec![]);
}

pub async fn case_purge<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let start = |at: i64| NewEvent::lifecycle(EventType::RoomStart, at);
    let end = |at: i64| NewEvent::lifecycle(EventType::RoomEnd, at);

    assert_eq!(
        store.next_purge_candidate().await.unwrap(),
        None,
        "nothing ended yet"
    );
    assert_eq!(
        store.purge_events(i64::MAX).await.unwrap(),
        PurgeStats::default()
    );

    // early: ended at 10_000 with 7 events; late: ended at 20_000 with 5;
    // live: in class with 5; waiting: not started with 2.
    let early = plain_room(&store, &app, "early").await;
    let late = plain_room(&store, &app, "late").await;
    let live = plain_room(&store, &app, "live").await;
    let waiting = plain_room(&store, &app, "waiting").await;
    store.start_room(early, start(1_000)).await.unwrap();
    append(
        &store,
        early,
        (0..5).map(|i| join(&format!("e{i}"))).collect(),
    )
    .await;
    store.end_room(early, end(10_000)).await.unwrap();
    store.start_room(late, start(2_000)).await.unwrap();
    append(
        &store,
        late,
        (0..3).map(|i| join(&format!("l{i}"))).collect(),
    )
    .await;
    store.end_room(late, end(20_000)).await.unwrap();
    store.start_room(live, start(3_000)).await.unwrap();
    append(
        &store,
        live,
        (0..4).map(|i| join(&format!("v{i}"))).collect(),
    )
    .await;
    append(
        &store,
        waiting,
        (0..2).map(|i| join(&format!("w{i}"))).collect(),
    )
    .await;

    assert_eq!(store.next_purge_candidate().await.unwrap(), Some(10_000));
    assert_eq!(
        store.purge_events(9_999).await.unwrap(),
        PurgeStats::default(),
        "a cutoff before every end purges nothing"
    );
    assert_eq!(all_events(&store, early).await.len(), 7);

    assert_eq!(
        store.purge_events(15_000).await.unwrap(),
        PurgeStats {
            rooms: 1,
            events: 7
        },
        "only the room that ended before the cutoff"
    );
    let purged = room(&store, early).await;
    assert!(purged.events_purged, "a purged room is marked");
    assert_eq!(purged.status, RoomStatus::Ended, "the room itself stays");
    assert_eq!(purged.last_seq, 7, "the room keeps its last seq");
    assert_eq!(purged.real_end_ms, Some(10_000));
    assert_eq!(store.read_events(early, 1, 100).await.unwrap(), vec![]);
    assert_eq!(
        all_events(&store, late).await.len(),
        5,
        "a later room keeps its events"
    );
    assert!(!room(&store, late).await.events_purged);
    assert_eq!(
        store.next_purge_candidate().await.unwrap(),
        Some(20_000),
        "the candidate moves to the next ended room"
    );
    assert_eq!(
        store.purge_events(15_000).await.unwrap(),
        PurgeStats::default(),
        "purging again finds nothing"
    );

    assert_eq!(
        store.purge_events(20_000).await.unwrap(),
        PurgeStats {
            rooms: 1,
            events: 5
        },
        "the cutoff is inclusive"
    );
    assert!(room(&store, late).await.events_purged);
    assert_eq!(store.next_purge_candidate().await.unwrap(), None);

    assert_eq!(
        all_events(&store, live).await.len(),
        5,
        "rooms in class are never purged"
    );
    assert_eq!(
        all_events(&store, waiting).await.len(),
        2,
        "rooms not started are never purged"
    );
    assert!(!room(&store, live).await.events_purged);
    assert_eq!(
        store.purge_events(i64::MAX).await.unwrap(),
        PurgeStats::default(),
        "only ended rooms are purged, whatever the cutoff"
    );

    store.end_room(live, end(30_000)).await.unwrap();
    assert_eq!(store.next_purge_candidate().await.unwrap(), Some(30_000));
}

pub async fn case_list_rooms_window_status_paging<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let (_, other_app) = account_and_app(&store, "b").await;
    let at = |name: &str, start: u64, end: u64| spec(name, T0 + start, T0 + end);
    let ids = store
        .create_rooms(
            &app,
            vec![
                at("r1", 1000, 2000),
                at("r2", 1500, 3000),
                at("r3", 3000, 4000), // starts exactly at the window's end
                at("r4", 100, 999),   // ends just before the window
                at("r5", 3001, 5000), // starts just after the window
                at("r6", 500, 1000),  // ends exactly at the window's start
                at("r7", 1500, 1600), // same start as r2: ordered by id
            ],
            1,
        )
        .await
        .unwrap();
    let [r1, r2, r3, _r4, _r5, r6, r7] = ids[..] else {
        panic!("seven ids expected, got {ids:?}");
    };
    store
        .create_rooms(&other_app, vec![at("elsewhere", 1000, 2000)], 1)
        .await
        .unwrap();

    let query = |statuses: Vec<RoomStatus>, page: u64, limit: u64| RoomQuery {
        sdk_app_id: app.sdk_app_id,
        window_start: T0 + 1000,
        window_end: T0 + 3000,
        statuses,
        page,
        limit,
    };
    let list = |q: RoomQuery| {
        let store = &store;
        async move {
            let (total, rooms) = store.list_rooms(&q).await.unwrap();
            (total, room_ids(&rooms))
        }
    };

    assert_eq!(
        list(query(vec![], 1, 100)).await,
        (5, vec![r6, r1, r2, r7, r3]),
        "rooms overlapping the window (bounds inclusive), by start time then id"
    );
    assert_eq!(list(query(vec![], 1, 2)).await, (5, vec![r6, r1]));
    assert_eq!(list(query(vec![], 2, 2)).await, (5, vec![r2, r7]));
    assert_eq!(list(query(vec![], 3, 2)).await, (5, vec![r3]));
    assert_eq!(
        list(query(vec![], 4, 2)).await,
        (5, vec![]),
        "a page past the end is empty but still counts the total"
    );

    let (_, rooms) = store.list_rooms(&query(vec![], 1, 100)).await.unwrap();
    for listed in &rooms {
        assert_eq!(
            *listed,
            room(&store, listed.room_id).await,
            "listed rooms are complete"
        );
    }

    store
        .start_room(r1, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    store
        .start_room(r2, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    store
        .end_room(r2, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 1))
        .await
        .unwrap();
    assert_eq!(
        list(query(vec![RoomStatus::InClass], 1, 100)).await,
        (1, vec![r1])
    );
    assert_eq!(
        list(query(vec![RoomStatus::Ended, RoomStatus::InClass], 1, 100)).await,
        (2, vec![r1, r2])
    );
    assert_eq!(
        list(query(vec![RoomStatus::NotStarted], 1, 2)).await,
        (3, vec![r6, r7]),
        "status filter and paging combine; the total counts filtered rooms"
    );
    assert_eq!(
        list(query(vec![RoomStatus::Expired], 1, 100)).await,
        (0, vec![])
    );

    // A long class is found through a window near its end, far from its start.
    let long = new_room(&store, &app, at("long", 100_000, 100_000 + 72 * 3600)).await;
    let late_window = RoomQuery {
        window_start: T0 + 100_000 + 70 * 3600,
        window_end: T0 + 100_000 + 71 * 3600,
        ..query(vec![], 1, 100)
    };
    assert_eq!(list(late_window).await, (1, vec![long]));
}
