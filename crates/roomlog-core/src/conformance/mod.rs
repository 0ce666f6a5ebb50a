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
use crate::page::Page;
use crate::room::{Room, RoomId, RoomQuery, RoomSpec, RoomStatus};
use crate::store::{
    Admission, AppendOutcome, AttendancePage, Changes, EventLog, KickBars, PresentMember,
    PurgeStats, RoomPage, Rooms, Store, StoreError,
};
use crate::user::User;

mod accounts;
mod attendance;
mod callbacks;
mod deadlines;
mod events;
mod kicks;
mod presence;
mod registration;
mod retention;
mod rooms;

pub use accounts::*;
pub use attendance::*;
pub use callbacks::*;
pub use deadlines::*;
pub use events::*;
pub use kicks::*;
pub use presence::*;
pub use registration::*;
pub use retention::*;
pub use rooms::*;

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
            case_writes_say_what_they_changed,
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
            case_a_stale_attempt_after_a_replay_frees_nothing,
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
pub const T0: u64 = 1_700_000_000;
/// A base unix time (milliseconds) for events.
pub const T0_MS: i64 = 1_700_000_000_000;

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

/// A MemberJoin of `user-{id}` at [`T0_MS`].
pub fn join(id: &str) -> NewEvent {
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

/// Account "a", its app, and a room "r" of the app: where most cases start.
async fn app_and_room<S: Store>(store: &S) -> (App, RoomId) {
    let (_, app) = account_and_app(store, "a").await;
    let id = plain_room(store, &app, "r").await;
    (app, id)
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

/// The log of a room that `tasks` tasks appended to at once, each its own `t{task}-{i}` for `i`
/// in `0..per_task` (besides ids they share): `unique` events, seqs dense from 1, no id twice,
/// and each task's own events in the order it appended them.
pub fn assert_concurrent_log(events: &[StoredEvent], unique: u64, tasks: usize, per_task: usize) {
    assert_eq!(
        seqs(events),
        (1..=unique).collect::<Vec<_>>(),
        "one dense, gap-free sequence"
    );
    let distinct: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(distinct.len(), events.len(), "no id recorded twice");
    for task in 0..tasks {
        let prefix = format!("t{task}-");
        let order: Vec<usize> = events
            .iter()
            .filter_map(|e| e.event_id.strip_prefix(&prefix)?.parse().ok())
            .collect();
        assert_eq!(
            order,
            (0..per_task).collect::<Vec<_>>(),
            "task {task}'s events in order"
        );
    }
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

/// Every room of the app, on one page.
pub fn everything(sdk_app_id: u64) -> RoomQuery {
    RoomQuery {
        sdk_app_id,
        window_start: 0,
        window_end: u64::MAX,
        statuses: Vec::new(),
        page: page_of(1, 1000),
    }
}

/// Page `number` of `limit` items, with no cap on the limit (the actions have theirs).
pub fn page_of(number: u64, limit: u64) -> Page {
    Page::new(number, limit, u64::MAX).expect("a page from 1 of at least 1 item")
}

fn room_ids(rooms: &[Room]) -> Vec<RoomId> {
    rooms.iter().map(|r| r.room_id).collect()
}

fn sorted_by_key<T, K: Ord>(mut items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    items.sort_by_key(key);
    items
}
