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
//! names what was expected. The deadline cases expect the store to use
//! `LifecyclePolicy::default()` (what a backend opens with unless configured otherwise).

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::account::{Account, ApiKey, App};
use crate::attendance::{MemberRecord, RoomAttendance};
use crate::callback::{AppCallback, AttemptOutcome, Delivery, DeliveryStatus};
use crate::error::DomainError;
use crate::event::{EventData, EventType, NewEvent, StoredEvent};
use crate::ingest;
use crate::lifecycle::{LifecyclePolicy, Occupancy};
use crate::room::{Room, RoomId, RoomQuery, RoomSpec, RoomStatus};
use crate::store::{
    Admission, AppendOutcome, AttendancePage, KickBars, PresentMember, PurgeStats, RoomPage, Store,
    StoreError,
};
use crate::user::User;

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
            case_first_account_only_once,
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
            case_read_room_page,
            case_read_events_of_type_paging,
            case_concurrent_appends_are_dense_and_exactly_once,
            case_room_ownership,
            case_delete_room_removes_events,
            case_purge,
            case_list_rooms_window_status_paging,
            case_deadlines_follow_the_schedule,
            case_deadlines_in_class_follow_end_delay_time,
            case_expire_room,
            case_presence_rules,
            case_presence_batches_match_single_events,
            case_current_members_pages,
            case_end_room_closes_presence,
            case_kicks,
            case_attendance_save_page_replace,
            case_attendance_survives_the_purge,
            case_users,
            case_callback_settings,
            case_no_deliveries_without_a_callback,
            case_every_event_path_queues_a_delivery,
            case_claim_hands_out_heads_in_due_order_with_leases,
            case_record_attempt_moves_the_head,
            case_list_deliveries_pages_and_filters,
            case_replay_deliveries,
            case_deliveries_outlive_the_event_purge_not_their_room,
            case_purge_deliveries_forgets_old_finished_ones,
            case_paused_apps_are_not_claimed,
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
    Box::new(|_, _, _| Ok(()))
}

/// Refuses everything with `error`.
pub fn reject(error: DomainError) -> Admission {
    Box::new(move |_, _, _| Err(error))
}

/// Refuses everything and records that it was asked.
fn reject_and_flag() -> (Admission, Arc<AtomicBool>) {
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let admit: Admission = Box::new(move |_, _, _| {
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

pub async fn case_first_account_only_once<S: Store>(store: S) {
    let first = store
        .create_first_account("default")
        .await
        .unwrap()
        .expect("a fresh store gets its first account");
    assert_eq!(first.name, "default");
    assert_eq!(store.create_first_account("again").await.unwrap(), None);
    assert_eq!(store.list_accounts().await.unwrap(), vec![first]);
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
    let result = store
        .create_rooms(&ghost, vec![spec("x", T0, T0 + 1)], 1)
        .await;
    assert!(
        matches!(result, Err(StoreError::AppNotFound)),
        "creating rooms in an app that does not exist is AppNotFound, got {result:?}"
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
    assert_eq!(
        ended.last_seq, 8,
        "RoomEnd takes the seq after the quits of the three members still in"
    );
    assert_eq!(
        room(&store, id).await,
        ended,
        "end_room returns the room as stored"
    );

    let events = all_events(&store, id).await;
    assert_eq!(seqs(&events), vec![1, 2, 3, 4, 5, 6, 7, 8]);
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
    let end = &events[7];
    assert_eq!(
        (end.event_type, end.event_id.as_str(), end.timestamp_ms),
        (EventType::RoomEnd, "roomlog:RoomEnd", T0_MS + 9000)
    );
    assert!(
        events[4..7]
            .iter()
            .all(|e| e.event_type == EventType::MemberQuit),
        "the members still in quit before RoomEnd (case_end_room_closes_presence has details)"
    );
    let ends = store
        .read_events_of_type(id, EventType::RoomEnd, 0, 10)
        .await
        .unwrap();
    assert_eq!(seqs(&ends), vec![8]);
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
    // RoomStart, two joins, the two quits RoomEnd records for them, RoomEnd.
    assert_eq!(ended.last_seq, 6);

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
            last_seq: 6
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
        Box::new(move |room, events, bars| ingest::admit(room, events, bars, now, retention))
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
        6,
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
            last_seq: 7
        }
    );
}

pub async fn case_admission_sees_room_and_new_events_only<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, vec![join("a")]).await;

    type Seen = Option<(Room, Vec<NewEvent>, KickBars)>;
    let seen: Arc<Mutex<Seen>> = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&seen);
    let admit: Admission = Box::new(move |room, events, bars| {
        *sink.lock().unwrap() = Some((room.clone(), events.to_vec(), bars.clone()));
        Ok(())
    });
    let batch = vec![join("a"), join("b"), join("b"), join("c")];
    let outcome = store.append_events(id, batch, admit).await.unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (2, 2));

    let (room_seen, events_seen, bars_seen) = seen
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
    assert_eq!(
        bars_seen,
        KickBars::new(),
        "nobody was kicked: no bars (case_kicks covers bars)"
    );
    assert_eq!(
        room_seen.occupancy.present, 1,
        "admission sees the room's presence before the batch"
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

pub async fn case_read_room_page<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    let kinds = [
        EventType::MemberJoin,
        EventType::CameraOn,
        EventType::MemberQuit,
        EventType::RecordFinish,
        EventType::MicOn,
    ];
    let mut sent: Vec<NewEvent> = (0..30)
        .map(|i| {
            event(
                &format!("e{i}"),
                kinds[i % kinds.len()],
                T0_MS + i as i64 * 777,
            )
        })
        .collect();
    // Text that JSON must escape, and an event with no data at all.
    sent[3].data.user_id = Some("quote\" back\\slash \u{1} é 😀".into());
    sent[7].data = EventData::default();
    append(&store, id, sent).await;
    // The expected pages: read_events' (which other cases pin down), rendered.
    let stored = room(&store, id).await;
    let render = |events: &[StoredEvent]| RoomPage::render(stored.clone(), events).events_json;

    // The range is decided from the room as read; the events are read_events' for it.
    let seen = Arc::new(Mutex::new(None));
    let saw = Arc::clone(&seen);
    let page = store
        .read_room_page(
            id,
            Box::new(move |room: &Room| {
                *saw.lock().unwrap() = Some(room.last_seq);
                Some((room.last_seq - 27, 100))
            }),
        )
        .await
        .expect("read_room_page")
        .expect("the room exists");
    assert_eq!(page.room, stored, "the room as get_room has it");
    assert_eq!(*seen.lock().unwrap(), Some(30), "the range saw the room");
    let expected = render(&store.read_events(id, 3, 100).await.unwrap());
    assert_eq!(page.count, 28);
    assert_eq!(
        String::from_utf8(page.events_json).unwrap(),
        String::from_utf8(expected).unwrap(),
        "the same events, rendered as RoomPage::render does"
    );
    let page = store
        .read_room_page(id, Box::new(|_: &Room| Some((10, 1))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(
        page.events_json,
        render(&store.read_events(id, 10, 1).await.unwrap())
    );

    for (range, what) in [
        (None, "no range"),
        (Some((u64::MAX, 10)), "a range past the end"),
    ] {
        let page = store
            .read_room_page(id, Box::new(move |_: &Room| range))
            .await
            .unwrap()
            .expect("the room exists");
        assert_eq!(
            (page.count, page.events_json),
            (0, Vec::new()),
            "{what}: no events"
        );
    }

    let asked = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&asked);
    let missing = store
        .read_room_page(
            id + 1_000_000,
            Box::new(move |_: &Room| {
                flag.store(true, Ordering::SeqCst);
                Some((1, 10))
            }),
        )
        .await
        .unwrap();
    assert!(missing.is_none(), "a missing room reads as None");
    assert!(
        !asked.load(Ordering::SeqCst),
        "no range is asked for a missing room"
    );
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
    // Media events: presence (and the quits RoomEnd records) plays no part in this case.
    let mic = |id: String| event(&id, EventType::MicOn, T0_MS);

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
        (0..5).map(|i| mic(format!("e{i}"))).collect(),
    )
    .await;
    store.end_room(early, end(10_000)).await.unwrap();
    store.start_room(late, start(2_000)).await.unwrap();
    append(&store, late, (0..3).map(|i| mic(format!("l{i}"))).collect()).await;
    store.end_room(late, end(20_000)).await.unwrap();
    store.start_room(live, start(3_000)).await.unwrap();
    append(&store, live, (0..4).map(|i| mic(format!("v{i}"))).collect()).await;
    append(
        &store,
        waiting,
        (0..2).map(|i| mic(format!("w{i}"))).collect(),
    )
    .await;

    // Until a room's attendance is stored its events are what it is computed from: kept.
    assert_eq!(
        store.next_purge_candidate().await.unwrap(),
        None,
        "rooms awaiting attendance are not purge candidates"
    );
    assert_eq!(
        store.purge_events(i64::MAX).await.unwrap(),
        PurgeStats::default(),
        "the purge skips rooms whose attendance is not stored"
    );
    assert_eq!(all_events(&store, early).await.len(), 7);
    assert!(!room(&store, early).await.events_purged);
    store
        .save_attendance(early, &attendance_with(3, "early"))
        .await
        .unwrap();

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
        None,
        "the next ended room still awaits its attendance"
    );
    store
        .save_attendance(late, &attendance_with(1, "late"))
        .await
        .unwrap();
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
    assert_eq!(store.next_purge_candidate().await.unwrap(), None);
    store
        .save_attendance(live, &attendance_with(0, "live"))
        .await
        .unwrap();
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

// --- lifecycle deadlines ----------------------------------------------------------------------

/// The deadlines these cases expect follow `LifecyclePolicy::default()`: run the suite on a
/// store opened with the default policy.
fn idle_end_ms() -> i64 {
    LifecyclePolicy::default().idle_end.as_millis() as i64
}

fn secs_ms(secs: u64) -> i64 {
    secs as i64 * 1000
}

/// Whether `room_id` is among the rooms due at `at_ms`.
async fn is_due<S: Store>(store: &S, room_id: RoomId, at_ms: i64) -> bool {
    store
        .due_rooms(at_ms, 10_000)
        .await
        .expect("due_rooms")
        .iter()
        .any(|r| r.room_id == room_id)
}

/// Asserts the room's stored deadline is exactly `expected`: not due a millisecond before it,
/// due at it (`None`: never due).
async fn expect_deadline<S: Store>(store: &S, room_id: RoomId, expected: Option<i64>, what: &str) {
    match expected {
        Some(at) => {
            assert!(
                !is_due(store, room_id, at - 1).await,
                "{what}: room {room_id} must not be due before {at}"
            );
            assert!(
                is_due(store, room_id, at).await,
                "{what}: room {room_id} must be due at {at}"
            );
        }
        None => assert!(
            !is_due(store, room_id, i64::MAX).await,
            "{what}: room {room_id} must have no deadline"
        ),
    }
}

pub async fn case_deadlines_follow_the_schedule<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    assert_eq!(store.next_deadline().await.unwrap(), None, "no rooms yet");
    assert_eq!(store.due_rooms(i64::MAX, 10).await.unwrap(), vec![]);

    // Not started: expires at EndTime ...
    let plain = new_room(&store, &app, spec("plain", T0, T0 + 3600)).await;
    expect_deadline(&store, plain, Some(secs_ms(T0 + 3600)), "plain room").await;
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(secs_ms(T0 + 3600))
    );
    // ... unless it starts by itself at StartTime.
    let auto_spec = RoomSpec {
        enable_auto_start: Some(1),
        ..spec("auto", T0 + 100, T0 + 3700)
    };
    let auto = new_room(&store, &app, auto_spec.clone()).await;
    expect_deadline(&store, auto, Some(secs_ms(T0 + 100)), "auto-start room").await;
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(secs_ms(T0 + 100)),
        "the earliest deadline of all rooms"
    );
    let later = new_room(&store, &app, spec("later", T0, T0 + 7200)).await;

    // due_rooms: exactly the rooms due, earliest first, at most `limit`.
    assert_eq!(
        room_ids(&store.due_rooms(secs_ms(T0 + 100) - 1, 10).await.unwrap()),
        Vec::<RoomId>::new()
    );
    assert_eq!(
        room_ids(&store.due_rooms(secs_ms(T0 + 3600), 10).await.unwrap()),
        vec![auto, plain],
        "due at or before now, earliest deadline first"
    );
    assert_eq!(
        room_ids(&store.due_rooms(i64::MAX, 10).await.unwrap()),
        vec![auto, plain, later]
    );
    assert_eq!(
        room_ids(&store.due_rooms(i64::MAX, 2).await.unwrap()),
        vec![auto, plain],
        "at most `limit` rooms"
    );
    let due = store.due_rooms(secs_ms(T0 + 100), 10).await.unwrap();
    assert_eq!(
        due,
        vec![room(&store, auto).await],
        "due rooms come back complete"
    );

    // ModifyRoom moves the deadline with the schedule.
    store
        .modify_room(
            auto,
            RoomSpec {
                start_time: T0 + 5000,
                end_time: T0 + 6000,
                ..auto_spec
            },
        )
        .await
        .unwrap();
    expect_deadline(&store, auto, Some(secs_ms(T0 + 5000)), "modified auto room").await;
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(secs_ms(T0 + 3600))
    );
    store
        .modify_room(plain, spec("plain", T0, T0 + 1800))
        .await
        .unwrap();
    expect_deadline(
        &store,
        plain,
        Some(secs_ms(T0 + 1800)),
        "modified plain room",
    )
    .await;

    // Ended and expired rooms have no deadline.
    store
        .start_room(later, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    store
        .end_room(later, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 1))
        .await
        .unwrap();
    expect_deadline(&store, later, None, "ended room").await;
    store.expire_room(plain).await.unwrap();
    expect_deadline(&store, plain, None, "expired room").await;
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(secs_ms(T0 + 5000)),
        "only the auto room is left"
    );
}

pub async fn case_deadlines_in_class_follow_end_delay_time<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let end_ms = secs_ms(T0 + 3600);
    let start_at = T0_MS + 5;
    let with_delay = |name: &str, delay: Option<i64>| RoomSpec {
        end_delay_time: delay,
        ..spec(name, T0, T0 + 3600)
    };
    let start = |id| {
        let store = &store;
        async move {
            store
                .start_room(id, NewEvent::lifecycle(EventType::RoomStart, start_at))
                .await
                .expect("start_room")
        }
    };

    // -1: no overtime, the class ends at EndTime, whoever is in.
    let none = new_room(&store, &app, with_delay("none", Some(-1))).await;
    start(none).await;
    expect_deadline(&store, none, Some(end_ms), "EndDelayTime -1").await;
    append(&store, none, vec![join("n1")]).await;
    expect_deadline(&store, none, Some(end_ms), "EndDelayTime -1, occupied").await;

    // 30: thirty minutes of overtime.
    let thirty = new_room(&store, &app, with_delay("thirty", Some(30))).await;
    start(thirty).await;
    expect_deadline(
        &store,
        thirty,
        Some(end_ms + 30 * 60_000),
        "EndDelayTime 30",
    )
    .await;

    // 0 (and absent): unlimited overtime. Empty since creation: ends the idle time after EndTime.
    let unlimited = new_room(&store, &app, with_delay("unlimited", Some(0))).await;
    let started = start(unlimited).await;
    assert_eq!(
        started.occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(secs_ms(T0))
        },
        "a room is empty since its creation"
    );
    let idle = idle_end_ms();
    expect_deadline(
        &store,
        unlimited,
        Some(end_ms + idle),
        "EndDelayTime 0, empty",
    )
    .await;
    let default_delay = new_room(&store, &app, with_delay("default", None)).await;
    start(default_delay).await;
    expect_deadline(
        &store,
        default_delay,
        Some(end_ms + idle),
        "no EndDelayTime is unlimited overtime",
    )
    .await;

    // Someone comes in: the class runs to the 72 h cap after its real start ...
    let cap = start_at + 72 * 3600 * 1000;
    append(
        &store,
        unlimited,
        vec![presence_event(
            "j",
            EventType::MemberJoin,
            "u",
            Some(5),
            T0_MS + 10,
        )],
    )
    .await;
    expect_deadline(&store, unlimited, Some(cap), "EndDelayTime 0, occupied").await;
    // ... and once they leave after EndTime, the idle time counts from their quit.
    let quit_at = end_ms + 50_000;
    append(
        &store,
        unlimited,
        vec![presence_event(
            "q",
            EventType::MemberQuit,
            "u",
            Some(5),
            quit_at,
        )],
    )
    .await;
    expect_deadline(
        &store,
        unlimited,
        Some(quit_at + idle),
        "EndDelayTime 0, emptied",
    )
    .await;
    // A media event changes nothing.
    append(
        &store,
        unlimited,
        vec![event("mic", EventType::MicOn, quit_at + 1)],
    )
    .await;
    expect_deadline(
        &store,
        unlimited,
        Some(quit_at + idle),
        "after a media event",
    )
    .await;

    // A kick that empties the room counts too.
    append(
        &store,
        unlimited,
        vec![presence_event(
            "j2",
            EventType::MemberJoin,
            "v",
            None,
            quit_at + 2,
        )],
    )
    .await;
    expect_deadline(&store, unlimited, Some(cap), "occupied again").await;
    let kick_at = quit_at + 90_000;
    assert!(store
        .kick_user(unlimited, "v", None, kick_quit("k", "v", 2, kick_at))
        .await
        .unwrap());
    expect_deadline(&store, unlimited, Some(kick_at + idle), "emptied by a kick").await;

    // Every room in class is due by its deadline, earliest first: EndTime (-1), EndTime + idle
    // (empty since creation), the kick + idle, EndTime + 30 min.
    let due = room_ids(&store.due_rooms(cap, 10).await.unwrap());
    assert_eq!(
        due,
        vec![none, default_delay, unlimited, thirty],
        "in deadline order"
    );
}

pub async fn case_expire_room<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, vec![join("early")]).await;
    let expired = store
        .expire_room(id)
        .await
        .expect("expire a room not started");
    assert_eq!(expired.status, RoomStatus::Expired);
    assert_eq!(
        (expired.real_start_ms, expired.real_end_ms),
        (None, None),
        "an expired class never took place"
    );
    assert_eq!(expired.last_seq, 1, "expiry records no event");
    assert_eq!(
        room(&store, id).await,
        expired,
        "expire_room returns the room as stored"
    );
    assert_eq!(seqs(&all_events(&store, id).await), vec![1]);
    expect_deadline(&store, id, None, "expired").await;
    assert_eq!(store.next_deadline().await.unwrap(), None);

    expect_wrong_status(
        store.expire_room(id).await,
        RoomStatus::Expired,
        "expire twice",
    );
    expect_wrong_status(
        store
            .start_room(id, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
            .await,
        RoomStatus::Expired,
        "start after expiry",
    );
    let live = plain_room(&store, &app, "live").await;
    store
        .start_room(live, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    expect_wrong_status(
        store.expire_room(live).await,
        RoomStatus::InClass,
        "expire in class",
    );
    store
        .end_room(live, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 1))
        .await
        .unwrap();
    expect_wrong_status(
        store.expire_room(live).await,
        RoomStatus::Ended,
        "expire after end",
    );
    expect_room_not_found(
        store.expire_room(live + 1_000_000).await,
        "expire a missing room",
    );
    assert!(
        !store
            .rooms_awaiting_attendance(10)
            .await
            .unwrap()
            .contains(&id),
        "an expired room has no attendance to compute"
    );
}

// --- presence ---------------------------------------------------------------------------------

/// A member event of `user` with an explicit Device (or none).
pub fn presence_event(
    id: &str,
    event_type: EventType,
    user: &str,
    device: Option<u64>,
    timestamp_ms: i64,
) -> NewEvent {
    let join = event_type == EventType::MemberJoin;
    NewEvent {
        event_id: id.to_owned(),
        event_type,
        timestamp_ms,
        data: EventData {
            user_id: Some(user.to_owned()),
            device,
            role: join.then_some(0),
            reason: (!join).then_some(0),
            ..EventData::default()
        },
    }
}

fn kick_quit(id: &str, user: &str, reason: u64, timestamp_ms: i64) -> NewEvent {
    NewEvent {
        event_id: format!("roomlog:kick:{id}"),
        event_type: EventType::MemberQuit,
        timestamp_ms,
        data: EventData {
            user_id: Some(user.to_owned()),
            reason: Some(reason),
            ..EventData::default()
        },
    }
}

/// Who is in: `(user, devices)` in order of arrival.
async fn present<S: Store>(store: &S, room_id: RoomId) -> Vec<(String, u64)> {
    let (total, members) = store
        .current_members(room_id, 1, 1000)
        .await
        .expect("current_members");
    assert_eq!(
        total,
        members.len() as u64,
        "the total counts the users present"
    );
    assert_eq!(
        room(store, room_id).await.occupancy.present,
        total,
        "Room::occupancy agrees with current_members"
    );
    members
        .into_iter()
        .map(|m| (m.user_id, m.devices))
        .collect()
}

fn users(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(u, d)| ((*u).to_owned(), *d)).collect()
}

/// The presence rules: sessions per user and device, reconnects, quits with an unknown device
/// or none, quits without a join; occupancy and when the room emptied.
pub async fn case_presence_rules<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    let at = |n: i64| T0_MS + n * 1000;
    let ev = |n: i64, t: EventType, user: &str, device: Option<u64>| {
        presence_event(&format!("p{n}"), t, user, device, at(n))
    };
    use EventType::{MemberJoin as J, MemberQuit as Q};
    let step = |events: Vec<NewEvent>| {
        let store = &store;
        async move { append(store, id, events).await }
    };

    assert_eq!(present(&store, id).await, vec![]);
    assert_eq!(
        room(&store, id).await.occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(secs_ms(T0))
        },
        "empty since its creation"
    );

    // A second join on an open device is a reconnect: one session, joined at the first join.
    step(vec![ev(1, J, "alice", Some(5))]).await;
    step(vec![ev(2, J, "alice", Some(5))]).await;
    assert_eq!(present(&store, id).await, users(&[("alice", 1)]));
    let (_, members) = store.current_members(id, 1, 10).await.unwrap();
    assert_eq!(members[0].joined_ms, at(1), "the reconnect opened nothing");
    assert_eq!(
        room(&store, id).await.occupancy,
        Occupancy {
            present: 1,
            empty_since_ms: None
        }
    );

    // Bob arrives; then Alice with a second device: two sessions, still one user.
    step(vec![ev(3, J, "bob", Some(1))]).await;
    step(vec![ev(4, J, "alice", Some(1))]).await;
    assert_eq!(
        present(&store, id).await,
        users(&[("alice", 2), ("bob", 1)])
    );
    let (_, members) = store.current_members(id, 1, 10).await.unwrap();
    assert_eq!(
        (members[0].user_id.as_str(), members[0].joined_ms),
        ("alice", at(1)),
        "joined_ms: when the earliest of her open sessions began"
    );

    // A quit without a join changes nothing.
    step(vec![ev(5, Q, "carol", Some(5))]).await;
    step(vec![ev(6, Q, "carol", None)]).await;
    assert_eq!(
        present(&store, id).await,
        users(&[("alice", 2), ("bob", 1)])
    );

    // A quit with a device Alice is not in closes her earliest-opened session (device 5, the
    // first join): she stays, and her arrival is now that of device 1 — after Bob.
    step(vec![ev(7, Q, "alice", Some(3))]).await;
    assert_eq!(
        present(&store, id).await,
        users(&[("bob", 1), ("alice", 1)])
    );
    let (_, members) = store.current_members(id, 1, 10).await.unwrap();
    assert_eq!(
        (members[1].user_id.as_str(), members[1].joined_ms),
        ("alice", at(4)),
        "joined_ms is that of the earliest open session"
    );

    // A quit without a device closes all the user's sessions.
    step(vec![ev(8, J, "alice", Some(5)), ev(9, Q, "alice", None)]).await;
    assert_eq!(present(&store, id).await, users(&[("bob", 1)]));
    assert_eq!(room(&store, id).await.occupancy.empty_since_ms, None);

    // The last one out empties the room at the quit's time.
    step(vec![ev(10, Q, "bob", Some(1))]).await;
    assert_eq!(present(&store, id).await, vec![]);
    assert_eq!(
        room(&store, id).await.occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(at(10))
        }
    );
    // Quitting again, or with another device, changes nothing.
    step(vec![ev(11, Q, "bob", Some(1)), ev(12, Q, "bob", None)]).await;
    assert_eq!(
        room(&store, id).await.occupancy.empty_since_ms,
        Some(at(10))
    );

    // Role and Device are the latest a MemberJoin reported.
    let mut rejoin = ev(13, J, "bob", Some(4));
    rejoin.data.role = Some(1);
    let mut reconnect = ev(14, J, "bob", Some(4));
    reconnect.data.role = Some(3);
    step(vec![rejoin]).await;
    // A reconnect opens nothing but still reports the current role.
    step(vec![reconnect]).await;
    let (_, members) = store.current_members(id, 1, 10).await.unwrap();
    assert_eq!(
        members,
        vec![PresentMember {
            user_id: "bob".into(),
            role: Some(3),
            device: Some(4),
            joined_ms: at(13),
            devices: 1,
        }]
    );

    // Media events do not make anyone present.
    step(vec![event("mic", EventType::MicOn, at(15))]).await;
    assert_eq!(present(&store, id).await, users(&[("bob", 1)]));
}

/// Presence is the same whether events come one per call or all in one batch (stores may
/// apply a batch at once), and a batch may both fill and empty the room.
pub async fn case_presence_batches_match_single_events<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let single = plain_room(&store, &app, "single").await;
    let batched = plain_room(&store, &app, "batched").await;
    use EventType::{MemberJoin as J, MemberQuit as Q};
    let script: Vec<(EventType, &str, Option<u64>)> = vec![
        (J, "a", Some(1)),
        (J, "b", Some(2)),
        (J, "a", Some(2)),
        (Q, "c", None),
        (J, "a", Some(1)),
        (Q, "a", Some(7)),
        (J, "c", None),
        (Q, "b", Some(2)),
        (J, "d", Some(3)),
        (Q, "c", Some(0)),
        (J, "b", Some(5)),
        (Q, "a", None),
        (J, "e", Some(1)),
        (Q, "d", Some(9)),
    ];
    let events: Vec<NewEvent> = script
        .iter()
        .enumerate()
        .map(|(i, (t, user, device))| {
            presence_event(&format!("s{i}"), *t, user, *device, T0_MS + i as i64)
        })
        .collect();
    for event in &events {
        append(&store, single, vec![event.clone()]).await;
    }
    append(&store, batched, events.clone()).await;

    let listing = |room_id| {
        let store = &store;
        async move { store.current_members(room_id, 1, 100).await.unwrap() }
    };
    let expected = listing(single).await;
    assert_eq!(
        expected
            .1
            .iter()
            .map(|m| m.user_id.as_str())
            .collect::<Vec<_>>(),
        vec!["b", "e"],
        "the users still in, in order of arrival (b's open session is its rejoin, before e's)"
    );
    assert_eq!(
        listing(batched).await,
        expected,
        "one batch = one event per call"
    );
    assert_eq!(
        room(&store, batched).await.occupancy,
        room(&store, single).await.occupancy
    );

    // A batch that empties the room records when, from the event that did it.
    let out = vec![
        presence_event("o1", Q, "b", None, T0_MS + 100),
        presence_event("o2", J, "x", None, T0_MS + 101),
        presence_event("o3", Q, "e", Some(1), T0_MS + 102),
        presence_event("o4", Q, "x", None, T0_MS + 103),
        event("o5", EventType::CameraOn, T0_MS + 104),
    ];
    append(&store, batched, out).await;
    assert_eq!(
        room(&store, batched).await.occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(T0_MS + 103)
        }
    );
}

pub async fn case_current_members_pages<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    // Arrival order deliberately differs from the order of the ids.
    let names: Vec<String> = (0..7).map(|i| format!("user-{}", 7 - i)).collect();
    let joins: Vec<NewEvent> = names
        .iter()
        .enumerate()
        .map(|(i, u)| presence_event(&format!("j{i}"), EventType::MemberJoin, u, Some(5), T0_MS))
        .collect();
    append(&store, id, joins).await;
    let page = |page: u64, limit: u64| {
        let store = &store;
        async move {
            let (total, members) = store.current_members(id, page, limit).await.unwrap();
            (
                total,
                members.into_iter().map(|m| m.user_id).collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(page(1, 3).await, (7, names[0..3].to_vec()));
    assert_eq!(page(2, 3).await, (7, names[3..6].to_vec()));
    assert_eq!(page(3, 3).await, (7, names[6..7].to_vec()));
    assert_eq!(
        page(4, 3).await,
        (7, vec![]),
        "past the end: empty, with the total"
    );
    assert_eq!(page(1, 1000).await, (7, names.clone()));
    let missing = store.current_members(id + 1_000_000, 1, 10).await;
    assert!(
        matches!(missing, Ok((0, ref m)) if m.is_empty())
            || matches!(missing, Err(StoreError::RoomNotFound)),
        "a missing room has nobody in it: {missing:?}"
    );
}

/// RoomEnd closes the class for everyone: a MemberQuit (Reason 5, the user's Role, no Device,
/// reserved id, RoomEnd's time) per user still in, in order of arrival, then the RoomEnd;
/// presence empties.
pub async fn case_end_room_closes_presence<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    use EventType::{MemberJoin as J, MemberQuit as Q};
    append(
        &store,
        id,
        vec![presence_event("j0", J, "zed", Some(5), T0_MS)],
    )
    .await;
    // Refused transitions record nothing, quits included.
    expect_wrong_status(
        store
            .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, T0_MS))
            .await,
        RoomStatus::NotStarted,
        "end before start",
    );
    assert_eq!(room(&store, id).await.last_seq, 1);
    store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, T0_MS + 1))
        .await
        .unwrap();
    // amy comes back on a second device as the teacher: her latest Role is 1.
    let mut amy_teaching = presence_event("j2", J, "amy", Some(4), T0_MS + 3);
    amy_teaching.data.role = Some(1);
    append(
        &store,
        id,
        vec![
            presence_event("j1", J, "amy", Some(1), T0_MS + 2),
            amy_teaching,
            presence_event("j3", J, "left", Some(1), T0_MS + 4),
            presence_event("q3", Q, "left", None, T0_MS + 5),
            presence_event("j4", J, "bea", None, T0_MS + 6),
        ],
    )
    .await;
    // zed arrived first, then amy (two devices), then bea; "left" is gone.
    let end_at = T0_MS + 60_000;
    let ended = store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, end_at))
        .await
        .unwrap();
    assert_eq!(
        ended.last_seq, 11,
        "three quits and the RoomEnd after seq 7"
    );
    assert_eq!(
        ended.occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(end_at)
        },
        "nobody is in after the end, since the end"
    );
    assert_eq!(
        room(&store, id).await,
        ended,
        "end_room returns the room as stored"
    );
    let tail = store.read_events(id, 8, 10).await.unwrap();
    let expected: Vec<StoredEvent> = [("zed", 0), ("amy", 1), ("bea", 0)]
        .iter()
        .zip(8..)
        .map(|((user, role), seq)| StoredEvent {
            room_id: id,
            seq,
            event_id: format!("roomlog:RoomEnd:{user}"),
            event_type: Q,
            timestamp_ms: end_at,
            data: EventData {
                user_id: Some((*user).to_owned()),
                role: Some(*role),
                reason: Some(5),
                ..EventData::default()
            },
        })
        .chain(std::iter::once(StoredEvent {
            room_id: id,
            seq: 11,
            event_id: "roomlog:RoomEnd".into(),
            event_type: EventType::RoomEnd,
            timestamp_ms: end_at,
            data: EventData::default(),
        }))
        .collect();
    assert_eq!(
        tail, expected,
        "a Reason 5 quit per user still in, in order of arrival, then RoomEnd"
    );
    assert_eq!(
        store.current_members(id, 1, 10).await.unwrap(),
        (0, vec![]),
        "presence is empty after the end"
    );
    // Really empty: a join admitted after the end (admission is the caller's rule, not the
    // store's) starts a new stay, not a reconnect of a session the end closed.
    append(
        &store,
        id,
        vec![presence_event("late", J, "amy", Some(1), end_at + 5)],
    )
    .await;
    let (total, members) = store.current_members(id, 1, 10).await.unwrap();
    assert_eq!(
        (total, members[0].devices, members[0].joined_ms),
        (1, 1, end_at + 5),
        "the end closed every session"
    );

    // A class nobody attended ends with just the RoomEnd.
    let empty = plain_room(&store, &app, "empty").await;
    store
        .start_room(empty, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    let ended = store
        .end_room(empty, NewEvent::lifecycle(EventType::RoomEnd, end_at))
        .await
        .unwrap();
    assert_eq!(ended.last_seq, 2);
}

// --- kicks --------------------------------------------------------------------------------------

/// An admission that records the bars it was given, and accepts.
fn bars_probe() -> (Admission, Arc<Mutex<Option<KickBars>>>) {
    let seen = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&seen);
    let admit: Admission = Box::new(move |_, _, bars| {
        *sink.lock().unwrap() = Some(bars.clone());
        Ok(())
    });
    (admit, seen)
}

async fn bars_for_join<S: Store>(store: &S, room_id: RoomId, id: &str, user: &str) -> KickBars {
    let (admit, seen) = bars_probe();
    store
        .append_events(
            room_id,
            vec![presence_event(
                id,
                EventType::MemberJoin,
                user,
                Some(5),
                T0_MS,
            )],
            admit,
        )
        .await
        .expect("append_events");
    let bars = seen.lock().unwrap().take();
    bars.expect("admission is consulted for a new MemberJoin")
}

pub async fn case_kicks<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    append(
        &store,
        id,
        vec![
            presence_event("a1", EventType::MemberJoin, "ann", Some(5), T0_MS + 1),
            presence_event("a2", EventType::MemberJoin, "ann", Some(1), T0_MS + 2),
            presence_event("b1", EventType::MemberJoin, "ben", Some(5), T0_MS + 3),
        ],
    )
    .await;
    assert_eq!(room(&store, id).await.last_seq, 4);

    // Kicking a present user bars them and records the quit, closing every session.
    let until = T0_MS + 600_000;
    let was_in = store
        .kick_user(id, "ann", Some(until), kick_quit("1", "ann", 1, T0_MS + 10))
        .await
        .unwrap();
    assert!(was_in, "ann was present");
    let quit = store.read_events(id, 5, 10).await.unwrap();
    assert_eq!(
        (
            quit.len(),
            quit[0].seq,
            quit[0].event_id.as_str(),
            quit[0].data.reason
        ),
        (1, 5, "roomlog:kick:1", Some(1)),
        "the quit is recorded with the next seq: {quit:?}"
    );
    assert_eq!(present(&store, id).await, users(&[("ben", 1)]));

    // Kicking an absent user bars them and records nothing.
    let was_in = store
        .kick_user(id, "cat", None, kick_quit("2", "cat", 2, T0_MS + 11))
        .await
        .unwrap();
    assert!(!was_in, "cat was not present");
    assert_eq!(
        room(&store, id).await.last_seq,
        5,
        "no quit for an absent user"
    );

    // Admission is given the bars of the users a batch lets in.
    let bars = bars_for_join(&store, id, "a3", "ann").await;
    assert_eq!(bars.get("ann"), Some(&Some(until)), "ann's bar, until when");
    let bars = bars_for_join(&store, id, "c1", "cat").await;
    assert_eq!(bars.get("cat"), Some(&None), "cat's bar is permanent");
    let bars = bars_for_join(&store, id, "d1", "dan").await;
    assert_eq!(bars.get("dan"), None, "dan was never kicked");
    // With the real rule the join of a barred user is refused, and nothing is recorded.
    let last = room(&store, id).await.last_seq;
    let refused = store
        .append_events(
            id,
            vec![
                event("mic", EventType::MicOn, T0_MS + 20),
                presence_event("c2", EventType::MemberJoin, "cat", Some(5), T0_MS + 20),
            ],
            Box::new(|room, events, bars| ingest::admit(room, events, bars, T0_MS + 20, 3_600_000)),
        )
        .await;
    match refused {
        Err(StoreError::Rejected(e)) => assert_eq!(e.code, ingest::USER_KICKED),
        other => panic!("a barred user's MemberJoin must be refused, got {other:?}"),
    }
    assert_eq!(room(&store, id).await.last_seq, last);

    // A second kick replaces the bar.
    store
        .kick_user(id, "ann", None, kick_quit("3", "ann", 2, T0_MS + 30))
        .await
        .unwrap();
    assert_eq!(
        bars_for_join(&store, id, "a4", "ann").await.get("ann"),
        Some(&None)
    );

    // Unblocking lifts the bar, once.
    assert!(
        store.unblock_user(id, "cat").await.unwrap(),
        "cat had a bar"
    );
    assert!(!store.unblock_user(id, "cat").await.unwrap(), "no bar left");
    assert!(
        !store.unblock_user(id, "dan").await.unwrap(),
        "dan never had one"
    );
    assert_eq!(
        bars_for_join(&store, id, "c3", "cat").await.get("cat"),
        None
    );

    // Kicks need a room that is not over.
    store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 100))
        .await
        .unwrap();
    let last = room(&store, id).await.last_seq;
    expect_wrong_status(
        store
            .kick_user(id, "ben", None, kick_quit("4", "ben", 2, T0_MS + 200))
            .await,
        RoomStatus::Ended,
        "kick after the end",
    );
    assert_eq!(
        room(&store, id).await.last_seq,
        last,
        "a refused kick records nothing"
    );
    let waiting = plain_room(&store, &app, "waiting").await;
    assert!(!store
        .kick_user(waiting, "ben", Some(until), kick_quit("5", "ben", 1, T0_MS))
        .await
        .expect("rooms not started take kicks"));
    store.expire_room(waiting).await.unwrap();
    expect_wrong_status(
        store
            .kick_user(waiting, "ben", None, kick_quit("6", "ben", 2, T0_MS))
            .await,
        RoomStatus::Expired,
        "kick after expiry",
    );
    expect_room_not_found(
        store
            .kick_user(id + 1_000_000, "ben", None, kick_quit("7", "ben", 2, T0_MS))
            .await,
        "kick in a missing room",
    );
}

// --- attendance ---------------------------------------------------------------------------------

/// An attendance with `records` member records whose user ids start with `tag`.
pub fn attendance_with(records: usize, tag: &str) -> RoomAttendance {
    RoomAttendance {
        peak_member_number: records as u64 / 2,
        member_number: records as u64,
        real_start_time: T0,
        real_end_time: T0 + 3600,
        records: (0..records)
            .map(|i| MemberRecord {
                user_id: format!("{tag}-{i}"),
                user_name: format!("Name {i}"),
                present_time: i as u64 * 7,
                camera: (i % 2) as u64,
                first_join_timestamp: T0 + i as u64,
                last_quit_timestamp: T0 + 3600,
                device: 5,
                role: (i % 4) as u64,
                sub_group_id: vec![format!("g{i}")],
                current_state: 2,
                ..MemberRecord::default()
            })
            .collect(),
    }
}

async fn ended_room<S: Store>(store: &S, app: &App, name: &str, end_ms: i64) -> RoomId {
    let id = plain_room(store, app, name).await;
    store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, 1))
        .await
        .unwrap();
    store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, end_ms))
        .await
        .unwrap();
    id
}

pub async fn case_attendance_save_page_replace<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let live = plain_room(&store, &app, "live").await;
    let second = ended_room(&store, &app, "second", 20_000).await;
    let first = ended_room(&store, &app, "first", 10_000).await;
    let third = ended_room(&store, &app, "third", 30_000).await;

    assert_eq!(
        store.rooms_awaiting_attendance(10).await.unwrap(),
        vec![first, second, third],
        "ended rooms await attendance, oldest end first (rooms not ended do not)"
    );
    assert_eq!(
        store.rooms_awaiting_attendance(2).await.unwrap(),
        vec![first, second]
    );
    assert_eq!(
        store.attendance(first, 1, 10).await.unwrap(),
        None,
        "not computed yet"
    );

    let full = attendance_with(25, "m");
    store.save_attendance(first, &full).await.unwrap();
    assert_eq!(
        store.rooms_awaiting_attendance(10).await.unwrap(),
        vec![second, third],
        "a stored attendance is no longer awaited"
    );
    let summary = RoomAttendance {
        records: Vec::new(),
        ..full.clone()
    };
    let page = |room_id, page, limit| {
        let store = &store;
        async move {
            store
                .attendance(room_id, page, limit)
                .await
                .unwrap()
                .expect("attendance is stored")
        }
    };
    assert_eq!(
        page(first, 1, 10).await,
        AttendancePage {
            summary: summary.clone(),
            total: 25,
            records: full.records[0..10].to_vec(),
        },
        "the first page, with the summary and the total"
    );
    assert_eq!(page(first, 2, 10).await.records, full.records[10..20]);
    assert_eq!(
        page(first, 3, 10).await.records,
        full.records[20..25],
        "the last page is short"
    );
    let past = page(first, 4, 10).await;
    assert_eq!(
        (past.total, past.records.len()),
        (25, 0),
        "past the end: no records, still the total"
    );
    assert_eq!(
        page(first, 1, 1000).await.records,
        full.records,
        "in stored order"
    );

    // Saving again replaces everything.
    let fewer = attendance_with(3, "n");
    store.save_attendance(first, &fewer).await.unwrap();
    let replaced = page(first, 1, 100).await;
    assert_eq!(
        (replaced.total, replaced.records),
        (3, fewer.records.clone()),
        "no record of the previous attendance is left"
    );
    assert_eq!(replaced.summary.member_number, 3);

    // An empty attendance is still an attendance.
    store
        .save_attendance(second, &RoomAttendance::default())
        .await
        .unwrap();
    assert_eq!(
        page(second, 1, 10).await,
        AttendancePage {
            summary: RoomAttendance::default(),
            total: 0,
            records: vec![],
        }
    );
    assert_eq!(
        store.rooms_awaiting_attendance(10).await.unwrap(),
        vec![third]
    );
    assert_eq!(store.attendance(live, 1, 10).await.unwrap(), None);
    assert_eq!(
        store.attendance(third + 1_000_000, 1, 10).await.unwrap(),
        None
    );
    expect_room_not_found(
        store.save_attendance(third + 1_000_000, &fewer).await,
        "save_attendance for a missing room",
    );
}

pub async fn case_attendance_survives_the_purge<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = plain_room(&store, &app, "r").await;
    store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, 1_000))
        .await
        .unwrap();
    append(&store, id, vec![join("a"), join("b")]).await;
    store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, 5_000))
        .await
        .unwrap();
    assert_eq!(
        store.purge_events(i64::MAX).await.unwrap(),
        PurgeStats::default(),
        "no purge before the attendance is stored"
    );
    assert_eq!(all_events(&store, id).await.len(), 6);

    let attendance = attendance_with(12, "s");
    store.save_attendance(id, &attendance).await.unwrap();
    assert_eq!(
        store.purge_events(i64::MAX).await.unwrap(),
        PurgeStats {
            rooms: 1,
            events: 6
        }
    );
    assert!(room(&store, id).await.events_purged);
    assert_eq!(store.read_events(id, 1, 100).await.unwrap(), vec![]);
    let kept = store
        .attendance(id, 2, 5)
        .await
        .unwrap()
        .expect("the attendance outlives the events");
    assert_eq!(
        (kept.total, kept.records),
        (12, attendance.records[5..10].to_vec())
    );
    assert_eq!(
        kept.summary.peak_member_number,
        attendance.peak_member_number
    );
    assert_eq!(
        store.rooms_awaiting_attendance(10).await.unwrap(),
        Vec::<RoomId>::new()
    );

    // Deleting the room deletes its attendance.
    store.delete_room(id).await.unwrap();
    assert_eq!(store.attendance(id, 1, 10).await.unwrap(), None);
}

// --- users --------------------------------------------------------------------------------------

fn user(app: &App, id: &str, origin: &str) -> User {
    User {
        user_id: id.to_owned(),
        sdk_app_id: app.sdk_app_id,
        name: format!("name of {id}"),
        origin_id: origin.to_owned(),
        avatar: format!("https://example.com/{id}.png"),
        token: format!("token-{id}"),
        token_expires_ms: T0_MS + 1,
        created_at: T0 as i64,
    }
}

pub async fn case_users<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let (_, other) = account_and_app(&store, "b").await;

    let batch = vec![
        user(&app, "u-plain", ""),
        user(&app, "u-o1", "o1"),
        user(&app, "u-o2", "o2"),
        user(&app, "u-also-plain", ""),
    ];
    assert_eq!(
        store.register_users(batch.clone(), false).await.unwrap(),
        batch,
        "new users are stored as given, in input order"
    );
    for u in &batch {
        assert_eq!(store.get_user(&u.user_id).await.unwrap().as_ref(), Some(u));
    }
    assert_eq!(store.get_user("nobody").await.unwrap(), None);
    assert_eq!(
        store
            .get_user_by_origin(app.sdk_app_id, "o1")
            .await
            .unwrap(),
        Some(batch[1].clone())
    );
    assert_eq!(
        store
            .get_user_by_origin(other.sdk_app_id, "o1")
            .await
            .unwrap(),
        None,
        "OriginIds are looked up within one app"
    );
    assert_eq!(
        store.get_user_by_origin(app.sdk_app_id, "").await.unwrap(),
        None,
        "an empty OriginId names nobody"
    );

    // The same OriginId in another app is another user.
    let theirs = user(&other, "v-o1", "o1");
    store
        .register_users(vec![theirs.clone()], false)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_user_by_origin(other.sdk_app_id, "o1")
            .await
            .unwrap(),
        Some(theirs.clone())
    );

    // Without overwrite an existing OriginId fails the whole call.
    let result = store
        .register_users(
            vec![user(&app, "u-o3", "o3"), user(&app, "u-dup", "o2")],
            false,
        )
        .await;
    match result {
        Err(StoreError::Rejected(e)) => assert_eq!(e.code, "FailedOperation.OriginIdExists"),
        other => panic!("expected Rejected(OriginIdExists), got {other:?}"),
    }
    assert_eq!(
        store.get_user("u-o3").await.unwrap(),
        None,
        "all or nothing: the call's other users were not registered"
    );
    assert_eq!(
        store
            .get_user_by_origin(app.sdk_app_id, "o3")
            .await
            .unwrap(),
        None
    );

    // With overwrite the existing user keeps its id and takes the new name, avatar and token.
    let newer = User {
        name: "renamed".into(),
        avatar: "https://example.com/new.png".into(),
        token: "fresh-token".into(),
        token_expires_ms: T0_MS + 99,
        ..user(&app, "u-ignored", "o2")
    };
    let stored = store
        .register_users(vec![user(&app, "u-o4", "o4"), newer.clone()], true)
        .await
        .unwrap();
    let expected = User {
        name: newer.name.clone(),
        avatar: newer.avatar.clone(),
        token: newer.token.clone(),
        token_expires_ms: newer.token_expires_ms,
        ..batch[2].clone()
    };
    assert_eq!(stored, vec![user(&app, "u-o4", "o4"), expected.clone()]);
    assert_eq!(store.get_user("u-o2").await.unwrap(), Some(expected));
    assert_eq!(store.get_user("u-ignored").await.unwrap(), None);
    assert_eq!(
        store
            .get_user_by_origin(other.sdk_app_id, "o1")
            .await
            .unwrap(),
        Some(theirs.clone()),
        "other apps are untouched"
    );

    // Tokens.
    assert!(store
        .set_user_token("u-plain", "t2", T0_MS + 500)
        .await
        .unwrap());
    let renewed = store.get_user("u-plain").await.unwrap().unwrap();
    assert_eq!(
        (
            renewed.token.as_str(),
            renewed.token_expires_ms,
            renewed.name.as_str()
        ),
        ("t2", T0_MS + 500, "name of u-plain")
    );
    assert!(!store.set_user_token("nobody", "t", 1).await.unwrap());

    // Names of the app's users only.
    let ids: Vec<String> = ["u-plain", "u-o2", "v-o1", "nobody"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let names = store.user_names(app.sdk_app_id, &ids).await.unwrap();
    let expected = HashMap::from([
        ("u-plain".to_owned(), "name of u-plain".to_owned()),
        ("u-o2".to_owned(), "renamed".to_owned()),
    ]);
    assert_eq!(
        names, expected,
        "another app's user and unknown ids are absent"
    );
    assert_eq!(
        store.user_names(other.sdk_app_id, &ids).await.unwrap(),
        HashMap::from([("v-o1".to_owned(), "name of v-o1".to_owned())])
    );
    assert_eq!(
        store.user_names(app.sdk_app_id, &[]).await.unwrap(),
        HashMap::new()
    );
}

// --- callbacks (outbox) ---------------------------------------------------------------------------
//
// These cases assume only the trait's contract: a new delivery is due when its event is
// recorded (so by `later()` at the latest); due times after that come from `record_attempt`'s
// retry times and `replay_deliveries`' now, which the cases choose.

const HOUR_MS: i64 = 3_600_000;
const HOOK: &str = "https://hooks.example.com/lcic";

/// A time by which every delivery recorded so far is due.
fn later() -> i64 {
    crate::time::now_ms() + HOUR_MS
}

async fn with_callback<S: Store>(store: &S, app: &App) {
    store
        .set_app_callback(app.sdk_app_id, Some(HOOK), Some("key"))
        .await
        .expect("set_app_callback");
}

/// Every delivery `list_deliveries` shows for the filters (checking its total).
async fn deliveries<S: Store>(
    store: &S,
    app: &App,
    room_id: Option<RoomId>,
    status: Option<DeliveryStatus>,
) -> Vec<Delivery> {
    let (total, page) = store
        .list_deliveries(app.sdk_app_id, room_id, status, 1, 10_000)
        .await
        .expect("list_deliveries");
    assert_eq!(
        total,
        page.len() as u64,
        "list_deliveries' total counts what matches"
    );
    page
}

/// `(room, seq)` of each delivery, in order.
fn keys(deliveries: &[Delivery]) -> Vec<(RoomId, u64)> {
    deliveries
        .iter()
        .map(|d| (d.room_id, d.event.seq))
        .collect()
}

/// Claims and returns `(room, seq)` of what was handed out, checking each is pending.
async fn claim<S: Store>(
    store: &S,
    now_ms: i64,
    lease_until_ms: i64,
    limit: u64,
) -> Vec<(RoomId, u64)> {
    let claimed = store
        .claim_due_deliveries(now_ms, lease_until_ms, limit)
        .await
        .expect("claim_due_deliveries");
    assert!(
        claimed.iter().all(|d| d.status == DeliveryStatus::Pending),
        "claimed deliveries are pending: {claimed:?}"
    );
    keys(&claimed)
}

fn delivered(at_ms: i64) -> AttemptOutcome {
    AttemptOutcome {
        at_ms,
        delivered: true,
        http_status: Some(200),
        error: None,
        retry_at_ms: None,
    }
}

fn failed(at_ms: i64, http_status: Option<u16>, retry_at_ms: Option<i64>) -> AttemptOutcome {
    AttemptOutcome {
        at_ms,
        delivered: false,
        http_status,
        error: Some(match http_status {
            Some(status) => format!("the receiver answered HTTP {status}"),
            None => "timed out".into(),
        }),
        retry_at_ms,
    }
}

async fn record<S: Store>(store: &S, key: (RoomId, u64), outcome: AttemptOutcome) {
    store
        .record_attempt(key.0, key.1, &outcome)
        .await
        .expect("record_attempt");
}

/// Media events (no presence effects) with ids `<tag>0`, `<tag>1`, ...
fn mics(tag: &str, n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| event(&format!("{tag}{i}"), EventType::MicOn, T0_MS + i as i64))
        .collect()
}

pub async fn case_callback_settings<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let (_, other) = account_and_app(&store, "b").await;
    let unknown = app.sdk_app_id.max(other.sdk_app_id) + 1000;
    assert_eq!(
        store.app_callback(app.sdk_app_id).await.unwrap(),
        AppCallback::default(),
        "a new app has no callback"
    );
    for id in [unknown, u64::MAX] {
        assert!(
            matches!(store.app_callback(id).await, Err(StoreError::AppNotFound)),
            "app_callback of an unknown app is AppNotFound"
        );
        assert!(
            matches!(
                store.set_app_callback(id, Some(HOOK), None).await,
                Err(StoreError::AppNotFound)
            ),
            "set_app_callback of an unknown app is AppNotFound"
        );
    }

    let both = AppCallback {
        url: HOOK.into(),
        key: "k1".into(),
    };
    assert_eq!(
        store
            .set_app_callback(app.sdk_app_id, Some(HOOK), Some("k1"))
            .await
            .unwrap(),
        both,
        "set_app_callback returns the new configuration"
    );
    assert_eq!(store.app_callback(app.sdk_app_id).await.unwrap(), both);
    let rekeyed = store
        .set_app_callback(app.sdk_app_id, None, Some("k2"))
        .await
        .unwrap();
    assert_eq!(
        rekeyed,
        AppCallback {
            url: HOOK.into(),
            key: "k2".into()
        },
        "None keeps the URL"
    );
    let cleared = store
        .set_app_callback(app.sdk_app_id, Some(""), None)
        .await
        .unwrap();
    assert_eq!(
        cleared,
        AppCallback {
            url: String::new(),
            key: "k2".into()
        },
        "Some(\"\") clears the URL, None keeps the key"
    );
    assert_eq!(store.app_callback(app.sdk_app_id).await.unwrap(), cleared);
    assert_eq!(
        store.app_callback(other.sdk_app_id).await.unwrap(),
        AppCallback::default(),
        "other apps are untouched"
    );
}

pub async fn case_no_deliveries_without_a_callback<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    // A key alone is no callback.
    store
        .set_app_callback(app.sdk_app_id, None, Some("key"))
        .await
        .unwrap();
    let id = plain_room(&store, &app, "r").await;
    store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    append(
        &store,
        id,
        vec![
            presence_event("j1", EventType::MemberJoin, "ann", Some(5), T0_MS + 1),
            presence_event("j2", EventType::MemberJoin, "ben", Some(5), T0_MS + 2),
            event("m1", EventType::MicOn, T0_MS + 3),
        ],
    )
    .await;
    assert!(store
        .kick_user(id, "ann", None, kick_quit("k", "ann", 1, T0_MS + 4))
        .await
        .unwrap());
    store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 5))
        .await
        .unwrap();
    assert_eq!(
        room(&store, id).await.last_seq,
        7,
        "the events are recorded"
    );
    assert_eq!(
        deliveries(&store, &app, None, None).await,
        vec![],
        "no callback URL, no deliveries"
    );
    assert_eq!(claim(&store, later(), later() + 1, 100).await, vec![]);
    assert_eq!(store.next_delivery_due().await.unwrap(), None);
}

pub async fn case_every_event_path_queues_a_delivery<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    // Events recorded before the app has a callback are owed none.
    let early = plain_room(&store, &app, "early").await;
    append(&store, early, mics("before", 2)).await;
    with_callback(&store, &app).await;
    append(&store, early, mics("after", 1)).await;
    assert_eq!(
        keys(&deliveries(&store, &app, Some(early), None).await),
        vec![(early, 3)],
        "only the event recorded once the callback was set"
    );

    let before_ms = crate::time::now_ms();
    let id = plain_room(&store, &app, "r").await;
    use EventType::{MemberJoin as J, MemberQuit as Q};
    store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
        .await
        .unwrap();
    let batch = vec![
        presence_event("j1", J, "ann", Some(5), T0_MS + 1),
        presence_event("j2", J, "ben", Some(5), T0_MS + 2),
        event("m1", EventType::MicOn, T0_MS + 3),
    ];
    append(&store, id, batch.clone()).await;
    // Neither a retried batch nor a refused one queues anything.
    assert_eq!(append(&store, id, batch).await.accepted, 0);
    let _ = store
        .append_events(
            id,
            vec![event("m2", EventType::MicOn, T0_MS)],
            reject(DomainError::failed("no")),
        )
        .await;
    // A kick records a quit (and queues it) only for a user who is in.
    assert!(store
        .kick_user(id, "ann", None, kick_quit("1", "ann", 1, T0_MS + 4))
        .await
        .unwrap());
    assert!(!store
        .kick_user(id, "nobody", None, kick_quit("2", "nobody", 1, T0_MS + 5))
        .await
        .unwrap());
    append(
        &store,
        id,
        vec![presence_event("j3", J, "cat", None, T0_MS + 6)],
    )
    .await;
    // The end records a Reason-5 quit for ben and cat, then RoomEnd.
    store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 7))
        .await
        .unwrap();
    let after_ms = crate::time::now_ms();

    let events = all_events(&store, id).await;
    assert_eq!(events.len(), 9);
    assert_eq!(
        events[6..8]
            .iter()
            .map(|e| (e.event_type, e.data.reason))
            .collect::<Vec<_>>(),
        vec![(Q, Some(5)), (Q, Some(5))]
    );
    let queued = deliveries(&store, &app, Some(id), None).await;
    assert_eq!(
        queued.iter().map(|d| d.event.clone()).collect::<Vec<_>>(),
        events,
        "one delivery per recorded event (start, append, kick, the end's quits, end), \
         carrying the event as recorded"
    );
    for d in &queued {
        assert_eq!((d.sdk_app_id, d.room_id), (app.sdk_app_id, id));
        assert_eq!(d.status, DeliveryStatus::Pending, "{d:?}");
        assert_eq!(
            (
                d.attempts,
                d.first_attempt_ms,
                d.last_attempt_ms,
                d.last_status,
                d.last_error.as_deref()
            ),
            (0, None, None, None, None),
            "not attempted yet: {d:?}"
        );
        assert!(
            d.next_attempt_ms.is_some(),
            "a pending delivery is due: {d:?}"
        );
        assert!(
            (before_ms..=after_ms).contains(&d.created_ms),
            "created_ms is the wall clock when the event was recorded: {d:?}"
        );
    }
}

pub async fn case_claim_hands_out_heads_in_due_order_with_leases<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let a = plain_room(&store, &app, "a").await;
    let b = plain_room(&store, &app, "b").await;
    let c = plain_room(&store, &app, "c").await;
    for id in [a, b, c] {
        append(&store, id, mics("m", 2)).await;
    }
    let now = later();
    let lease = now + 10_000;
    let mut first = claim(&store, now, lease, 100).await;
    first.sort_unstable();
    assert_eq!(
        first,
        vec![(a, 1), (b, 1), (c, 1)],
        "only each room's head of line (its lowest seq) is handed out"
    );
    assert_eq!(
        claim(&store, now + 1, now + 20_000, 100).await,
        vec![],
        "a leased head is not handed out again before its lease ends"
    );
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        Some(lease),
        "the next due time counts leases"
    );
    // The worker holding them died: once the lease ran out they are handed out again.
    let mut again = claim(&store, lease, lease + 10_000, 100).await;
    again.sort_unstable();
    assert_eq!(
        again, first,
        "an expired lease makes the head available again"
    );

    // Retries set the due times; claims follow them, earliest first.
    let r = lease + 20_000;
    record(&store, (a, 1), failed(r, Some(500), Some(r + 300))).await;
    record(&store, (b, 1), failed(r, Some(500), Some(r + 100))).await;
    record(&store, (c, 1), failed(r, None, Some(r + 200))).await;
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(r + 100));
    assert_eq!(
        claim(&store, r + 99, r + 10_000, 100).await,
        vec![],
        "nothing is due before its retry time"
    );
    assert_eq!(
        claim(&store, r + 150, r + 10_000, 100).await,
        vec![(b, 1)],
        "only what is due"
    );
    assert_eq!(
        claim(&store, r + 1000, r + 10_000, 0).await,
        vec![],
        "limit 0"
    );
    assert_eq!(
        claim(&store, r + 1000, r + 10_000, 1).await,
        vec![(c, 1)],
        "earliest due first, up to the limit"
    );
    assert_eq!(claim(&store, r + 1000, r + 10_000, 100).await, vec![(a, 1)]);
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(r + 10_000));
}

pub async fn case_record_attempt_moves_the_head<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, mics("m", 3)).await;
    let by_seq = |all: Vec<Delivery>, seq: u64| {
        all.into_iter()
            .find(|d| d.event.seq == seq)
            .unwrap_or_else(|| panic!("delivery of seq {seq}"))
    };
    let l = later();

    assert_eq!(claim(&store, l, l + 10_000, 10).await, vec![(id, 1)]);
    record(&store, (id, 1), delivered(l + 1)).await;
    let one = by_seq(deliveries(&store, &app, Some(id), None).await, 1);
    assert_eq!(
        (
            one.status,
            one.attempts,
            one.first_attempt_ms,
            one.last_attempt_ms,
            one.last_status,
            one.last_error,
            one.next_attempt_ms
        ),
        (
            DeliveryStatus::Delivered,
            1,
            Some(l + 1),
            Some(l + 1),
            Some(200),
            None,
            None
        ),
        "a delivered attempt"
    );
    assert_eq!(
        claim(&store, l + 2, l + 10_002, 10).await,
        vec![(id, 2)],
        "success releases the room: its next delivery is due at once"
    );

    record(&store, (id, 2), failed(l + 3, Some(500), Some(l + 5_000))).await;
    let two = by_seq(deliveries(&store, &app, Some(id), None).await, 2);
    assert_eq!(
        (
            two.status,
            two.attempts,
            two.first_attempt_ms,
            two.last_status,
            two.next_attempt_ms
        ),
        (
            DeliveryStatus::Pending,
            1,
            Some(l + 3),
            Some(500),
            Some(l + 5_000)
        ),
        "a failed attempt with a retry stays pending"
    );
    assert!(two.last_error.is_some(), "the failure is noted: {two:?}");
    assert_eq!(
        claim(&store, l + 4_000, l + 14_000, 10).await,
        vec![],
        "the room's next delivery waits behind the one being retried (per-room order)"
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(l + 5_000));
    assert_eq!(
        claim(&store, l + 5_000, l + 15_000, 10).await,
        vec![(id, 2)]
    );

    record(&store, (id, 2), failed(l + 5_001, None, None)).await;
    let dead = by_seq(deliveries(&store, &app, Some(id), None).await, 2);
    assert_eq!(
        (
            dead.status,
            dead.attempts,
            dead.first_attempt_ms,
            dead.last_attempt_ms,
            dead.last_status,
            dead.next_attempt_ms
        ),
        (
            DeliveryStatus::Dead,
            2,
            Some(l + 3),
            Some(l + 5_001),
            None,
            None
        ),
        "a failure without a retry is a dead letter; the first attempt is kept"
    );
    assert_eq!(
        claim(&store, l + 5_002, l + 15_002, 10).await,
        vec![(id, 3)],
        "a dead letter releases the room too"
    );
    record(&store, (id, 3), delivered(l + 5_003)).await;
    assert_eq!(claim(&store, l + 5_004, l + 15_004, 10).await, vec![]);
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        None,
        "nothing pending"
    );
    let seqs_of = |all: Vec<Delivery>| all.iter().map(|d| d.event.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs_of(deliveries(&store, &app, None, Some(DeliveryStatus::Delivered)).await),
        vec![1, 3]
    );
    assert_eq!(
        seqs_of(deliveries(&store, &app, None, Some(DeliveryStatus::Dead)).await),
        vec![2]
    );
    assert_eq!(
        seqs_of(deliveries(&store, &app, None, Some(DeliveryStatus::Pending)).await),
        Vec::<u64>::new()
    );
}

pub async fn case_list_deliveries_pages_and_filters<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let (_, other) = account_and_app(&store, "b").await;
    with_callback(&store, &app).await;
    with_callback(&store, &other).await;
    let r1 = plain_room(&store, &app, "r1").await;
    let r2 = plain_room(&store, &app, "r2").await;
    let r3 = plain_room(&store, &other, "r3").await;
    append(&store, r1, mics("x", 3)).await;
    append(&store, r2, mics("y", 2)).await;
    append(&store, r3, mics("z", 2)).await;
    let l = later();
    let mut heads = claim(&store, l, l + 10_000, 10).await;
    heads.sort_unstable();
    assert_eq!(heads, vec![(r1, 1), (r2, 1), (r3, 1)]);
    record(&store, (r1, 1), delivered(l)).await;
    record(&store, (r2, 1), failed(l, Some(404), None)).await;

    let all = vec![(r1, 1), (r1, 2), (r1, 3), (r2, 1), (r2, 2)];
    assert_eq!(
        keys(&deliveries(&store, &app, None, None).await),
        all,
        "an app's deliveries, by room then seq; not another app's"
    );
    let page = |room, status, page, limit| {
        let (store, app) = (&store, &app);
        async move {
            let (total, page) = store
                .list_deliveries(app.sdk_app_id, room, status, page, limit)
                .await
                .expect("list_deliveries");
            (total, keys(&page))
        }
    };
    assert_eq!(page(None, None, 1, 2).await, (5, all[0..2].to_vec()));
    assert_eq!(page(None, None, 2, 2).await, (5, all[2..4].to_vec()));
    assert_eq!(
        page(None, None, 3, 2).await,
        (5, all[4..5].to_vec()),
        "the last page is short"
    );
    assert_eq!(
        page(None, None, 4, 2).await,
        (5, vec![]),
        "past the end: no deliveries, still the total"
    );
    assert_eq!(
        keys(&deliveries(&store, &app, Some(r2), None).await),
        vec![(r2, 1), (r2, 2)],
        "one room's"
    );
    assert_eq!(
        keys(&deliveries(&store, &app, None, Some(DeliveryStatus::Pending)).await),
        vec![(r1, 2), (r1, 3), (r2, 2)],
        "one status"
    );
    assert_eq!(
        keys(&deliveries(&store, &app, None, Some(DeliveryStatus::Dead)).await),
        vec![(r2, 1)]
    );
    assert_eq!(
        keys(&deliveries(&store, &app, None, Some(DeliveryStatus::Delivered)).await),
        vec![(r1, 1)]
    );
    assert_eq!(
        keys(&deliveries(&store, &app, Some(r1), Some(DeliveryStatus::Pending)).await),
        vec![(r1, 2), (r1, 3)],
        "one room's of one status"
    );
    assert_eq!(
        page(Some(r1), Some(DeliveryStatus::Pending), 2, 1).await,
        (2, vec![(r1, 3)])
    );
    assert_eq!(
        deliveries(&store, &app, Some(r3), None).await,
        vec![],
        "another app's room is not the app's"
    );
    assert_eq!(
        keys(&deliveries(&store, &other, None, None).await),
        vec![(r3, 1), (r3, 2)]
    );
    let unknown = app.sdk_app_id.max(other.sdk_app_id) + 1000;
    for id in [unknown, u64::MAX] {
        assert_eq!(
            store.list_deliveries(id, None, None, 1, 10).await.unwrap(),
            (0, vec![]),
            "an unknown app has none"
        );
    }
}

pub async fn case_replay_deliveries<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, mics("e", 4)).await;
    let l = later();
    let far = l + 100 * HOUR_MS;
    // seq 1 delivered, 2 dead, 3 delivered, 4 failing with a retry far away.
    assert_eq!(claim(&store, l, l + 1, 10).await, vec![(id, 1)]);
    record(&store, (id, 1), delivered(l)).await;
    assert_eq!(claim(&store, l, l + 1, 10).await, vec![(id, 2)]);
    record(&store, (id, 2), failed(l, Some(500), None)).await;
    assert_eq!(claim(&store, l, l + 1, 10).await, vec![(id, 3)]);
    record(&store, (id, 3), delivered(l)).await;
    assert_eq!(claim(&store, l, l + 1, 10).await, vec![(id, 4)]);
    record(&store, (id, 4), failed(l, Some(503), Some(far))).await;
    let n = l + 10;
    assert_eq!(claim(&store, n, n + 1, 10).await, vec![]);

    // From a seq: the head moves back to the lowest replayed delivery, due now.
    assert_eq!(
        store.replay_deliveries(id, Some(2), None, n).await.unwrap(),
        3,
        "seqs 2, 3 and 4, whatever their status"
    );
    let pending = deliveries(&store, &app, Some(id), Some(DeliveryStatus::Pending)).await;
    assert_eq!(keys(&pending), vec![(id, 2), (id, 3), (id, 4)]);
    assert!(
        pending.iter().all(|d| d.next_attempt_ms == Some(n)),
        "replayed deliveries are due at the replay's now: {pending:?}"
    );
    assert_eq!(
        pending.iter().map(|d| d.attempts).collect::<Vec<_>>(),
        vec![1, 1, 1],
        "attempt counts go on"
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(n));
    for seq in [2, 3, 4] {
        assert_eq!(
            claim(&store, n, n + 1_000, 10).await,
            vec![(id, seq)],
            "replayed deliveries go again in order"
        );
        record(&store, (id, seq), delivered(n)).await;
    }
    let two = deliveries(&store, &app, Some(id), None).await[1].clone();
    assert_eq!(
        (two.status, two.attempts),
        (DeliveryStatus::Delivered, 2),
        "the dead letter, replayed, delivered on its second attempt"
    );

    // By event ids (unknown ids are ignored), optionally from a seq.
    assert_eq!(
        store
            .replay_deliveries(id, None, Some(vec!["e0".into(), "nope".into()]), n)
            .await
            .unwrap(),
        1
    );
    assert_eq!(claim(&store, n, n + 1_000, 10).await, vec![(id, 1)]);
    record(&store, (id, 1), delivered(n)).await;
    assert_eq!(
        store
            .replay_deliveries(id, Some(2), Some(vec!["e0".into()]), n)
            .await
            .unwrap(),
        0,
        "both filters apply"
    );
    assert_eq!(
        store
            .replay_deliveries(id, Some(3), Some(vec!["e1".into(), "e3".into()]), n)
            .await
            .unwrap(),
        1
    );
    assert_eq!(claim(&store, n, n + 1_000, 10).await, vec![(id, 4)]);
    record(&store, (id, 4), delivered(n)).await;
    assert_eq!(
        store
            .replay_deliveries(id, Some(100), None, n)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .replay_deliveries(id, None, Some(vec![]), n)
            .await
            .unwrap(),
        0,
        "an empty id list matches nothing"
    );
    assert_eq!(claim(&store, n, n + 1_000, 10).await, vec![]);
    assert_eq!(store.next_delivery_due().await.unwrap(), None);

    // A replay while one of the room's deliveries is in flight moves the head back, but the
    // room still has that delivery in flight until its lease ends.
    assert_eq!(
        store
            .replay_deliveries(id, None, Some(vec!["e2".into()]), n)
            .await
            .unwrap(),
        1
    );
    assert_eq!(claim(&store, n, n + 1_000, 10).await, vec![(id, 3)]);
    assert_eq!(store.replay_deliveries(id, None, None, n).await.unwrap(), 4);
    assert_eq!(
        claim(&store, n + 1, n + 2_000, 10).await,
        vec![],
        "never two deliveries of a room in flight"
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(n + 1_000));
    assert_eq!(
        claim(&store, n + 1_000, n + 2_000, 10).await,
        vec![(id, 1)],
        "then the lowest replayed delivery goes first"
    );
}

/// Deliveries carry a copy of their event: the retention purge leaves them (and their events)
/// intact; deleting the room deletes them.
pub async fn case_deliveries_outlive_the_event_purge_not_their_room<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let id = plain_room(&store, &app, "r").await;
    let kept = plain_room(&store, &app, "kept").await;
    store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, 1_000))
        .await
        .unwrap();
    append(&store, id, mics("m", 2)).await;
    store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, 5_000))
        .await
        .unwrap();
    append(&store, kept, mics("k", 1)).await;
    let events = all_events(&store, id).await;
    store
        .save_attendance(id, &attendance_with(0, "x"))
        .await
        .unwrap();
    assert_eq!(store.purge_events(i64::MAX).await.unwrap().events, 4);
    assert_eq!(store.read_events(id, 1, 100).await.unwrap(), vec![]);
    let queued = deliveries(&store, &app, Some(id), None).await;
    assert_eq!(
        queued.iter().map(|d| d.event.clone()).collect::<Vec<_>>(),
        events,
        "the deliveries keep their events after the purge"
    );
    let l = later();
    let claimed = store.claim_due_deliveries(l, l + 1_000, 10).await.unwrap();
    let head = claimed
        .iter()
        .find(|d| d.room_id == id)
        .expect("a purged room's deliveries are still handed out");
    assert_eq!(head.event, events[0]);

    store.delete_room(id).await.unwrap();
    assert_eq!(
        deliveries(&store, &app, Some(id), None).await,
        vec![],
        "deleting a room deletes its deliveries"
    );
    assert_eq!(
        keys(&deliveries(&store, &app, None, None).await),
        vec![(kept, 1)],
        "other rooms keep theirs"
    );
    // Both heads were leased until l + 1_000; after that only `kept`'s comes back.
    assert_eq!(
        claim(&store, l + 2_000, l + 5_000, 10).await,
        vec![(kept, 1)],
        "nothing of the deleted room is handed out"
    );
    // An attempt that was in flight when its room was deleted is accepted and changes nothing.
    store
        .record_attempt(id, 1, &delivered(l + 2_001))
        .await
        .expect("recording an attempt of a deleted room's delivery");
    assert_eq!(deliveries(&store, &app, Some(id), None).await, vec![]);
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        Some(l + 5_000),
        "only `kept`'s lease remains"
    );
}

pub async fn case_purge_deliveries_forgets_old_finished_ones<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, mics("m", 4)).await;
    let l = later();
    // Attempt times are what the purge compares: seq 1 at 1_000, 2 (dead) at 2_000, 3 at 3_000,
    // 4 failing (pending) at 500.
    for (seq, outcome) in [
        (1, delivered(1_000)),
        (2, failed(2_000, Some(500), None)),
        (3, delivered(3_000)),
        (4, failed(500, Some(500), Some(far_retry()))),
    ] {
        assert_eq!(claim(&store, l, l + 1, 10).await, vec![(id, seq)]);
        record(&store, (id, seq), outcome).await;
    }
    assert_eq!(
        store.purge_deliveries(1_000).await.unwrap(),
        0,
        "strictly before"
    );
    assert_eq!(store.purge_deliveries(2_000).await.unwrap(), 1);
    assert_eq!(
        keys(&deliveries(&store, &app, None, None).await),
        vec![(id, 2), (id, 3), (id, 4)]
    );
    assert_eq!(
        store.purge_deliveries(i64::MAX).await.unwrap(),
        2,
        "delivered and dead ones"
    );
    assert_eq!(
        keys(&deliveries(&store, &app, None, None).await),
        vec![(id, 4)],
        "a pending delivery is never forgotten, however old its last attempt"
    );
    assert_eq!(store.purge_deliveries(i64::MAX).await.unwrap(), 0);
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        Some(far_retry()),
        "the pending one is still on its way"
    );
}

fn far_retry() -> i64 {
    T0_MS * 2
}

pub async fn case_paused_apps_are_not_claimed<S: Store>(store: S) {
    let (_, paused) = account_and_app(&store, "p").await;
    let (_, active) = account_and_app(&store, "q").await;
    with_callback(&store, &paused).await;
    with_callback(&store, &active).await;
    let p = plain_room(&store, &paused, "p").await;
    let q = plain_room(&store, &active, "q").await;
    append(&store, p, mics("p", 3)).await;
    append(&store, q, mics("q", 1)).await;
    let pause = |on: bool| {
        let store = &store;
        let url = if on {
            ""
        } else {
            "https://elsewhere.example.com/hook"
        };
        async move {
            store
                .set_app_callback(paused.sdk_app_id, Some(url), None)
                .await
                .expect("set_app_callback");
        }
    };

    pause(true).await;
    let l = later();
    assert_eq!(
        claim(&store, l, l + 10_000, 10).await,
        vec![(q, 1)],
        "an app without a callback URL is paused: its deliveries are not handed out"
    );
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        Some(l + 10_000),
        "nor counted as due"
    );
    record(&store, (q, 1), delivered(l)).await;
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        None,
        "only the paused app has pending deliveries: nothing is due"
    );
    assert_eq!(claim(&store, l, l + 10_000, 10).await, vec![]);
    append(&store, p, mics("while-paused", 1)).await;
    assert_eq!(
        keys(&deliveries(&store, &paused, None, Some(DeliveryStatus::Pending)).await),
        vec![(p, 1), (p, 2), (p, 3)],
        "pending deliveries wait; events recorded while paused are owed none"
    );

    // A new URL resumes: what was pending goes there.
    pause(false).await;
    assert!(store.next_delivery_due().await.unwrap().is_some());
    assert_eq!(claim(&store, l, l + 10_000, 10).await, vec![(p, 1)]);
    // Paused while a delivery is in flight: its outcome is recorded, the next one waits.
    pause(true).await;
    record(&store, (p, 1), delivered(l)).await;
    assert_eq!(claim(&store, l, l + 10_000, 10).await, vec![]);
    assert_eq!(store.next_delivery_due().await.unwrap(), None);
    pause(false).await;
    assert_eq!(claim(&store, l, l + 10_000, 10).await, vec![(p, 2)]);
}
