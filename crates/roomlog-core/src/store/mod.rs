//! The storage boundary: one trait per area (accounts, rooms, the event log, presence,
//! attendance, users, the callback outbox) and [`Store`], which requires them all so the
//! server holds one `Arc<dyn Store>`. Two backends implement it, embedded SQLite and shared
//! PostgreSQL, and pass the same conformance suite (`conformance`, feature `conformance`).
//!
//! Contract shared by all backends:
//! - A method returns only after its writes are durable (committed and synced).
//! - Each room's events get dense sequence numbers 1, 2, 3, ... in commit order.
//! - An event id is recorded at most once per room (idempotent ingest).
//! - Lifecycle changes (start, end) and the event they record commit together.
//!
//! Calling these methods on a concrete store needs the traits in scope: `use
//! roomlog_core::store::prelude::*`.

mod accounts;
mod attendance;
mod changes;
mod event_log;
mod outbox;
mod presence;
mod rooms;
pub mod row;
pub mod sql;
mod users;

use async_trait::async_trait;

use crate::error::DomainError;
use crate::room::{RoomId, RoomStatus};

pub use accounts::Accounts;
pub use attendance::{attendance_json, Attendance, AttendancePage};
pub use changes::{Changes, Written};
pub use event_log::{
    in_batches, Admission, AppendOutcome, EventLog, EventRange, PurgeStats, PurgeStep, RoomPage,
};
pub use outbox::Outbox;
pub use presence::{KickBars, Presence, PresentMember};
pub use rooms::Rooms;
pub use users::Users;

/// Every storage trait, for code that calls them on a concrete store.
pub mod prelude {
    pub use super::{Accounts, Attendance, EventLog, Outbox, Presence, Rooms, Store, Users};
}

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

/// What a store's commit feed says (see [`Store::commit_feed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitNotice {
    /// Events were committed to this room.
    Room(RoomId),
    /// Notices may have been lost (the feed's connection dropped and is back): any room may
    /// have new events, so whoever waits for some should look.
    MaybeMissed,
}

/// A whole storage backend: every area, and how the backend is shared and shut down.
#[async_trait]
pub trait Store:
    Accounts + Rooms + EventLog + Presence + Attendance + Users + Outbox + Send + Sync + 'static
{
    /// Finishes queued writes and releases the backend (graceful shutdown). Later calls fail.
    async fn close(&self);

    /// Whether other processes (other roomlog nodes) write to this store too. Their writes
    /// wake nothing in this process, so background jobs then look for work periodically.
    fn is_shared(&self) -> bool;

    /// Rooms as events are committed to them by any process sharing the store (this one
    /// included), for live streams on every node, and [`CommitNotice::MaybeMissed`] when some
    /// may have gone unannounced. `None`: the backend has no such feed (the embedded store has
    /// one process, which notifies its streams itself).
    async fn commit_feed(&self) -> Option<tokio::sync::mpsc::Receiver<CommitNotice>>;
}
