//! The storage boundary. Every backend (embedded SQLite today, PostgreSQL next) implements
//! [`Store`] and passes the same conformance suite (`conformance`, feature `conformance`).
//!
//! Contract shared by all backends:
//! - A method returns only after its writes are durable (committed and synced).
//! - Each room's events get dense sequence numbers 1, 2, 3, ... in commit order.
//! - An event id is recorded at most once per room (idempotent ingest).
//! - Lifecycle changes (start, end) and the event they record commit together.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::account::{Account, AccountId, ApiKey, App, SdkAppId};
use crate::attendance::{MemberRecord, RoomAttendance};
use crate::callback::{AppCallback, AttemptOutcome, Delivery, DeliveryStatus};
use crate::error::DomainError;
use crate::event::{EventType, NewEvent, StoredEvent};
use crate::room::{Room, RoomId, RoomQuery, RoomSpec, RoomStatus};
use crate::user::User;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("room not found")]
    RoomNotFound,
    #[error("account not found")]
    AccountNotFound,
    #[error("app not found")]
    AppNotFound,
    /// A compare-and-set on the room's status failed; carries the status found.
    #[error("room is {0:?}")]
    WrongStatus(RoomStatus),
    /// The admission check run inside the transaction refused the write.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// The backend failed (I/O, connection, corruption): the write did not happen.
    #[error("storage failure: {0}")]
    Backend(String),
}

/// The rule a room must satisfy to take a batch of events, evaluated by the store inside the
/// recording transaction (holding the write lock: it must be fast and must not block) against
/// the room as stored there, the events not yet recorded, and the kick bars of the users those
/// events would let in (see `ingest::admit`).
pub type Admission =
    Box<dyn FnOnce(&Room, &[NewEvent], &KickBars) -> Result<(), DomainError> + Send>;

/// What a store's commit feed says (see [`Store::commit_feed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitNotice {
    /// Events were committed to this room.
    Room(RoomId),
    /// Notices may have been lost (the feed's connection dropped and is back): any room may
    /// have new events, so whoever waits for some should look.
    MaybeMissed,
}

/// Which events of a room to read, decided from the room as read (see
/// [`Store::read_room_page`]): `Some((first_seq, limit))`, or `None` for none. Runs where the
/// backend reads (it must be fast and must not block).
pub type EventRange = Box<dyn FnOnce(&Room) -> Option<(u64, u64)> + Send>;

/// A room and some of its events as GetRoomEvent shows them (see [`Store::read_room_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPage {
    pub room: Room,
    /// How many events `events_json` holds.
    pub count: u64,
    /// The events' `EventInfo` objects as [`StoredEvent::write_event_info`] writes them, in
    /// sequence order, separated by commas: the inside of a JSON array.
    pub events_json: Vec<u8>,
}

impl RoomPage {
    /// Renders `events` (of `room`) the way [`RoomPage::events_json`] holds them.
    pub fn render(room: Room, events: &[StoredEvent]) -> RoomPage {
        let mut events_json = Vec::with_capacity(events.len() * 128);
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                events_json.push(b',');
            }
            event.write_event_info(&mut events_json);
        }
        RoomPage {
            room,
            count: events.len() as u64,
            events_json,
        }
    }
}

/// Kick bars on record for users: user id -> barred until (unix ms), `None` = permanently.
/// Bars that already lapsed may be included; the admission rule compares with its own now.
pub type KickBars = HashMap<String, Option<i64>>;

/// A user in a room now (DescribeCurrentMemberList).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentMember {
    pub user_id: String,
    /// The latest Role / Device reported by the user's MemberJoin events (if any).
    pub role: Option<u64>,
    pub device: Option<u64>,
    /// When the user's earliest open session began, unix ms.
    pub joined_ms: i64,
    /// Devices the user is in with.
    pub devices: u64,
}

/// One page of a room's stored attendance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendancePage {
    /// The whole attendance minus the records (its `records` is empty).
    pub summary: RoomAttendance,
    /// Records in the whole attendance.
    pub total: u64,
    pub records: Vec<MemberRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendOutcome {
    /// Events recorded by this call.
    pub accepted: u64,
    /// Events whose id the room already had (or that repeated an id earlier in the batch).
    pub duplicates: u64,
    /// The room's last sequence number after this call.
    pub last_seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeStats {
    pub rooms: u64,
    pub events: u64,
}

fn unsupported(what: &str) -> StoreError {
    StoreError::Backend(format!("this storage backend does not support {what}"))
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Finishes queued writes and releases the backend (graceful shutdown). Later calls fail.
    async fn close(&self) {}

    /// Whether other processes (other roomlog nodes) write to this store too. Their writes
    /// wake nothing in this process, so background jobs then look for work periodically.
    fn is_shared(&self) -> bool {
        false
    }

    /// Rooms as events are committed to them by any process sharing the store (this one
    /// included), for live streams on every node, and [`CommitNotice::MaybeMissed`] when some
    /// may have gone unannounced. `None`: the backend has no such feed (the embedded store has
    /// one process, which notifies its streams itself).
    async fn commit_feed(&self) -> Option<tokio::sync::mpsc::Receiver<CommitNotice>> {
        None
    }

    // --- accounts, apps, keys ------------------------------------------------------------
    async fn create_account(&self, name: &str) -> Result<Account, StoreError>;
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Creates an account named `name` only if the store has none yet (a first start's
    /// bootstrap); `None` if there was one. A backend that several processes share makes the
    /// check and the insert atomic, so nodes starting together create one first account.
    async fn create_first_account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        if !self.list_accounts().await?.is_empty() {
            return Ok(None);
        }
        self.create_account(name).await.map(Some)
    }
    /// Allocates a new, globally unique SdkAppId. `AccountNotFound` if the account is unknown.
    async fn create_app(&self, account: AccountId, name: &str) -> Result<App, StoreError>;
    /// Every app, or only the account's.
    async fn list_apps(&self, account: Option<AccountId>) -> Result<Vec<App>, StoreError>;
    async fn get_app(&self, sdk_app_id: SdkAppId) -> Result<Option<App>, StoreError>;
    /// Stores a generated key. `AccountNotFound` if the account is unknown.
    async fn insert_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    /// Every key, or only the account's.
    async fn list_keys(&self, account: Option<AccountId>) -> Result<Vec<ApiKey>, StoreError>;
    /// Returns false if there is no such key.
    async fn set_key_enabled(&self, secret_id: &str, enabled: bool) -> Result<bool, StoreError>;
    async fn get_key(&self, secret_id: &str) -> Result<Option<ApiKey>, StoreError>;

    // --- rooms ----------------------------------------------------------------------------
    /// Creates all rooms in one transaction (all or none), returning their new, globally
    /// unique ids in input order. The app must exist (the caller checked its ownership).
    async fn create_rooms(
        &self,
        app: &App,
        specs: Vec<RoomSpec>,
        created_at: i64,
    ) -> Result<Vec<RoomId>, StoreError>;
    /// `None` for rooms that never existed or were deleted.
    async fn get_room(&self, room_id: RoomId) -> Result<Option<Room>, StoreError>;
    /// Replaces the spec of a room that has not started; `WrongStatus` otherwise.
    async fn modify_room(&self, room_id: RoomId, spec: RoomSpec) -> Result<Room, StoreError>;
    /// Deletes a room that is not in class, with all its events; `WrongStatus(InClass)` otherwise.
    async fn delete_room(&self, room_id: RoomId) -> Result<(), StoreError>;
    /// NotStarted -> InClass, recording `event` (RoomStart) in the same transaction.
    async fn start_room(&self, room_id: RoomId, event: NewEvent) -> Result<Room, StoreError>;
    /// InClass -> Ended, recording `event` (RoomEnd) in the same transaction. RoomEnd closes the
    /// class for everyone: first, for each user still present, a `MemberQuit` with `Reason` 5,
    /// no Device, EventId `roomlog:RoomEnd:<UserId>` and RoomEnd's timestamp is recorded (users
    /// in order of arrival), then the RoomEnd; presence is then empty.
    async fn end_room(&self, room_id: RoomId, event: NewEvent) -> Result<Room, StoreError>;
    /// NotStarted -> Expired (never started by its EndTime); records no event.
    async fn expire_room(&self, room_id: RoomId) -> Result<Room, StoreError>;
    /// GetRooms: `(total matching, the requested page)`, ordered by StartTime then RoomId.
    async fn list_rooms(&self, query: &RoomQuery) -> Result<(u64, Vec<Room>), StoreError>;

    // --- lifecycle deadlines --------------------------------------------------------------
    // The store keeps each room's next automatic transition (`lifecycle::next_deadline` with
    // the policy the backend was opened with), recomputed in every write that changes the room
    // (create, modify, start, end, expire, member events, kicks), in an index.
    /// The earliest deadline (unix ms) of any room, if any.
    async fn next_deadline(&self) -> Result<Option<i64>, StoreError>;
    /// Up to `limit` rooms whose deadline is at or before `now_ms`, earliest first.
    async fn due_rooms(&self, now_ms: i64, limit: u64) -> Result<Vec<Room>, StoreError>;

    // --- presence and kicks -----------------------------------------------------------------
    // The store tracks presence from MemberJoin/MemberQuit as it records them, with the rules
    // of `attendance` (per user and device; a quit with an unknown device closes the earliest
    // session; a quit without Device closes all of the user's sessions). `Room::occupancy`
    // reflects it; `empty_since_ms` is set whenever nobody is present (from the room's creation).
    /// Users present now, in order of arrival, paged (`page` from 1): `(total, page)`.
    async fn current_members(
        &self,
        room_id: RoomId,
        page: u64,
        limit: u64,
    ) -> Result<(u64, Vec<PresentMember>), StoreError>;
    /// Bars `user_id` from the room until `until_ms` (`None`: permanently) and, if the user is
    /// present, records `quit` (a MemberQuit with the kick's Reason, no Device) closing all
    /// their sessions — in one transaction. Room must be NotStarted or InClass
    /// (`WrongStatus`). Returns whether the user was present.
    async fn kick_user(
        &self,
        room_id: RoomId,
        user_id: &str,
        until_ms: Option<i64>,
        quit: NewEvent,
    ) -> Result<bool, StoreError>;
    /// Lifts a bar; returns whether there was one.
    async fn unblock_user(&self, room_id: RoomId, user_id: &str) -> Result<bool, StoreError>;

    // --- attendance --------------------------------------------------------------------------
    /// Ended rooms whose attendance is not stored yet (oldest end first), up to `limit`.
    /// The retention purge leaves their events alone until it is.
    async fn rooms_awaiting_attendance(&self, limit: u64) -> Result<Vec<RoomId>, StoreError>;
    /// Stores a room's attendance (replacing any). Kept after the events are purged.
    async fn save_attendance(
        &self,
        room_id: RoomId,
        attendance: &RoomAttendance,
    ) -> Result<(), StoreError>;
    /// A page (`page` from 1) of the stored attendance, records in stored order; `None` if not
    /// computed yet.
    async fn attendance(
        &self,
        room_id: RoomId,
        page: u64,
        limit: u64,
    ) -> Result<Option<AttendancePage>, StoreError>;

    // --- users -------------------------------------------------------------------------------
    /// Registers users in one transaction. A user whose `origin_id` (non-empty) already exists
    /// in the same app: with `overwrite`, the existing user keeps its `user_id` and gets the new
    /// name, avatar and token; without, the whole call fails with
    /// `Rejected(FailedOperation.OriginIdExists)`. Returns the stored users in input order.
    async fn register_users(
        &self,
        users: Vec<User>,
        overwrite: bool,
    ) -> Result<Vec<User>, StoreError>;
    async fn get_user(&self, user_id: &str) -> Result<Option<User>, StoreError>;
    async fn get_user_by_origin(
        &self,
        sdk_app_id: SdkAppId,
        origin_id: &str,
    ) -> Result<Option<User>, StoreError>;
    /// Replaces a user's token; `false` if there is no such user.
    async fn set_user_token(
        &self,
        user_id: &str,
        token: &str,
        expires_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Names of the app's registered users among `user_ids` (unregistered ones are absent).
    async fn user_names(
        &self,
        sdk_app_id: SdkAppId,
        user_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError>;

    // --- callbacks (outbox) ------------------------------------------------------------------
    // Every event recorded in a room whose app has a callback URL at that moment gets a pending
    // delivery, written in the same transaction as the event (append, start, end and the
    // Reason-5 quits it records, kick): an acknowledged event is delivered even if the server
    // dies right after. A delivery carries a copy of its event, so it outlives the room's
    // event purge. Per room, deliveries go in sequence order: only a room's lowest pending
    // delivery ("head of line") is ever handed out.
    /// Sets the app's callback URL and/or key (`Some("")` clears; `None` keeps), returning the
    /// new configuration. `AppNotFound` if unknown.
    async fn set_app_callback(
        &self,
        _sdk_app_id: SdkAppId,
        _callback: Option<&str>,
        _callback_key: Option<&str>,
    ) -> Result<AppCallback, StoreError> {
        Err(unsupported("callbacks"))
    }
    /// The app's callback configuration (empty strings when none is set).
    async fn app_callback(&self, _sdk_app_id: SdkAppId) -> Result<AppCallback, StoreError> {
        Err(unsupported("callbacks"))
    }
    /// Hands out up to `limit` head-of-line deliveries due at `now_ms` (of apps that have a
    /// callback URL now), earliest due first, leasing each until `lease_until_ms` so no other
    /// worker (or node) takes it meanwhile; an expired lease makes it available again (a worker
    /// died). Each returned delivery's room has no other delivery in flight.
    async fn claim_due_deliveries(
        &self,
        _now_ms: i64,
        _lease_until_ms: i64,
        _limit: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        Err(unsupported("callbacks"))
    }
    /// Releases every delivery lease, making leased deliveries due again at their planned time.
    /// Only for a store one server uses at a time (the embedded one): a restarted server calls
    /// it, so the deliveries its previous run had in flight when it died go again at once rather
    /// than after their lease runs out. A store several nodes share keeps its leases (another
    /// node may be delivering): it returns 0. Returns how many leases were released.
    async fn release_orphaned_leases(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// When the next head-of-line delivery becomes due (unix ms), leases included.
    async fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        Err(unsupported("callbacks"))
    }
    /// Records an attempt of the delivery of (`room_id`, `seq`) and releases its lease:
    /// delivered, retried at `retry_at_ms`, or dead (no retry).
    async fn record_attempt(
        &self,
        _room_id: RoomId,
        _seq: u64,
        _outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        Err(unsupported("callbacks"))
    }
    /// DescribeCallbackDeliveries: `(total, page)` of an app's deliveries, optionally of one
    /// room and one status, ordered by room then seq.
    async fn list_deliveries(
        &self,
        _sdk_app_id: SdkAppId,
        _room_id: Option<RoomId>,
        _status: Option<DeliveryStatus>,
        _page: u64,
        _limit: u64,
    ) -> Result<(u64, Vec<Delivery>), StoreError> {
        Err(unsupported("callbacks"))
    }
    /// ReplayCallbacks: makes the room's kept deliveries with `seq >= from_seq` (all if
    /// `None`) and, if given, with an id in `event_ids`, pending again and due at `now_ms`
    /// (attempt counts go on). Returns how many.
    async fn replay_deliveries(
        &self,
        _room_id: RoomId,
        _from_seq: Option<u64>,
        _event_ids: Option<Vec<String>>,
        _now_ms: i64,
    ) -> Result<u64, StoreError> {
        Err(unsupported("callbacks"))
    }
    /// Forgets delivered and dead deliveries whose last attempt was before `before_ms`.
    async fn purge_deliveries(&self, _before_ms: i64) -> Result<u64, StoreError> {
        Err(unsupported("callbacks"))
    }

    // --- events -------------------------------------------------------------------------
    /// Records the events whose ids the room does not have yet, in order, after `admit`
    /// accepted the room's state and those new events, and updates the room's presence.
    /// Durable before it returns.
    async fn append_events(
        &self,
        room_id: RoomId,
        events: Vec<NewEvent>,
        admit: Admission,
    ) -> Result<AppendOutcome, StoreError>;
    /// Events with `seq` in `first_seq .. first_seq + limit`, in order (an index seek).
    async fn read_events(
        &self,
        room_id: RoomId,
        first_seq: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// A room and some of its events as one read, the events already written as JSON: the
    /// room (`None` if it does not exist; nothing else is read then) and, if `range` picks
    /// `(first_seq, limit)` for it, exactly the events [`Store::read_events`] returns for that
    /// range, rendered as [`RoomPage::render`] does. What GetRoomEvent reads per request: a
    /// backend that can should read both in one snapshot and one round trip, and write its rows
    /// straight into the JSON ([`crate::EventRef`]); the default reads the room, then the
    /// events, and renders them.
    async fn read_room_page(
        &self,
        room_id: RoomId,
        range: EventRange,
    ) -> Result<Option<RoomPage>, StoreError> {
        let Some(room) = self.get_room(room_id).await? else {
            return Ok(None);
        };
        let events = match range(&room) {
            Some((first_seq, limit)) => self.read_events(room_id, first_seq, limit).await?,
            None => Vec::new(),
        };
        Ok(Some(RoomPage::render(room, &events)))
    }
    /// Up to `limit` events of one type with `seq > after_seq`, in order: callers page through
    /// a large result by passing the last seq they got.
    async fn read_events_of_type(
        &self,
        room_id: RoomId,
        event_type: EventType,
        after_seq: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Deletes the events of every room that ended at or before `ended_at_or_before_ms` (and
    /// whose attendance is stored) and marks those rooms purged. Works in bounded batches; reclaims the space.
    async fn purge_events(&self, ended_at_or_before_ms: i64) -> Result<PurgeStats, StoreError>;
    /// The earliest end time (unix ms) among ended rooms whose events are not purged yet: the
    /// purger sleeps until that plus the retention.
    async fn next_purge_candidate(&self) -> Result<Option<i64>, StoreError>;
}
