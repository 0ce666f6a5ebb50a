//! roomlog's domain: accounts, apps and keys; rooms and their lifecycle; the per-room event log;
//! and [`Store`], the storage boundary every backend implements.
//!
//! Nothing here knows about HTTP or the Tencent Cloud wire protocol. Types validate at the edge
//! (`RoomSpec::validate`, `ingest::validate_report`) so the rest of the system can trust them.

pub mod account;
pub mod attendance;
pub mod callback;
pub mod classroom;
pub mod error;
pub mod event;
pub mod ingest;
pub mod lifecycle;
pub mod page;
pub mod presence;
pub mod room;
pub mod store;
pub mod time;
pub mod user;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use account::{Account, AccountId, ApiKey, App, SdkAppId};
pub use error::DomainError;
pub use event::{EventData, EventRef, EventType, NewEvent, StoredEvent};
pub use page::Page;
pub use room::{Room, RoomId, RoomQuery, RoomSpec, RoomStatus};
pub use store::{
    Accounts, Admission, AppendOutcome, Attendance, Changes, CommitNotice, EventLog, EventRange,
    KickBars, Outbox, Presence, PresentMember, PurgeStats, RoomPage, Rooms, Store, StoreError,
    Users, Written,
};
pub use user::User;
