//! The storage boundary. Every backend (embedded SQLite today, PostgreSQL next) implements
//! [`Store`] and passes the same conformance suite (`conformance`, feature `conformance`).
//!
//! Contract shared by all backends:
//! - A method returns only after its writes are durable (committed and synced).
//! - Each room's events get dense sequence numbers 1, 2, 3, ... in commit order.
//! - An event id is recorded at most once per room (idempotent ingest).
//! - Lifecycle changes (start, end) and the event they record commit together.

use async_trait::async_trait;

use crate::account::{Account, AccountId, ApiKey, App, SdkAppId};
use crate::error::DomainError;
use crate::event::{EventType, NewEvent, StoredEvent};
use crate::room::{Room, RoomId, RoomQuery, RoomSpec, RoomStatus};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("room not found")]
    RoomNotFound,
    #[error("account not found")]
    AccountNotFound,
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
/// recording transaction against the room as stored there and the events not yet recorded
/// (see `ingest::admit`).
pub type Admission = Box<dyn FnOnce(&Room, &[NewEvent]) -> Result<(), DomainError> + Send>;

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

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- accounts, apps, keys ------------------------------------------------------------
    async fn create_account(&self, name: &str) -> Result<Account, StoreError>;
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError>;
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
    /// InClass -> Ended, recording `event` (RoomEnd) in the same transaction.
    async fn end_room(&self, room_id: RoomId, event: NewEvent) -> Result<Room, StoreError>;
    /// GetRooms: `(total matching, the requested page)`, ordered by StartTime then RoomId.
    async fn list_rooms(&self, query: &RoomQuery) -> Result<(u64, Vec<Room>), StoreError>;

    // --- events -------------------------------------------------------------------------
    /// Records the events whose ids the room does not have yet, in order, after `admit`
    /// accepted the room's state and those new events. Durable before it returns.
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
    /// Up to `limit` events of one type with `seq > after_seq`, in order: callers page through
    /// a large result by passing the last seq they got.
    async fn read_events_of_type(
        &self,
        room_id: RoomId,
        event_type: EventType,
        after_seq: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Deletes the events of every room that ended at or before `ended_at_or_before_ms` and
    /// marks those rooms purged. Works in bounded batches; reclaims the space.
    async fn purge_events(&self, ended_at_or_before_ms: i64) -> Result<PurgeStats, StoreError>;
    /// The earliest end time (unix ms) among ended rooms whose events are not purged yet: the
    /// purger sleeps until that plus the retention.
    async fn next_purge_candidate(&self) -> Result<Option<i64>, StoreError>;
}
