use async_trait::async_trait;

use super::{StoreError, Written};
use crate::account::App;
use crate::event::NewEvent;
use crate::room::{Room, RoomId, RoomQuery, RoomSpec};

/// Rooms, their lifecycle and their deadlines.
///
/// The writes return what they changed ([`Written`]), as `lifecycle` decides it.
///
/// The store keeps each room's next automatic transition (`lifecycle::next_deadline` with the
/// policy the backend was opened with), recomputed in every write that changes the room
/// (create, modify, start, end, expire, member events, kicks), in an index.
#[async_trait]
pub trait Rooms: Send + Sync {
    /// Creates all rooms in one transaction (all or none), returning their new, globally
    /// unique ids in input order. The app must exist (the caller checked its ownership).
    async fn create_rooms(
        &self,
        app: &App,
        specs: Vec<RoomSpec>,
        created_at: i64,
    ) -> Result<Written<Vec<RoomId>>, StoreError>;
    /// `None` for rooms that never existed or were deleted.
    async fn get_room(&self, room_id: RoomId) -> Result<Option<Room>, StoreError>;
    /// Replaces the spec of a room that has not started; `WrongStatus` otherwise.
    async fn modify_room(
        &self,
        room_id: RoomId,
        spec: RoomSpec,
    ) -> Result<Written<Room>, StoreError>;
    /// Deletes a room that is not in class, with all its events; `WrongStatus(InClass)` otherwise.
    async fn delete_room(&self, room_id: RoomId) -> Result<(), StoreError>;
    /// NotStarted -> InClass, recording `event` (RoomStart) in the same transaction.
    async fn start_room(
        &self,
        room_id: RoomId,
        event: NewEvent,
    ) -> Result<Written<Room>, StoreError>;
    /// InClass -> Ended, recording `event` (RoomEnd) in the same transaction. RoomEnd closes the
    /// class for everyone: first, for each user still present, a `MemberQuit` with `Reason` 5,
    /// no Device, EventId `roomlog:RoomEnd:<UserId>` and RoomEnd's timestamp is recorded (users
    /// in order of arrival), then the RoomEnd; presence is then empty.
    async fn end_room(&self, room_id: RoomId, event: NewEvent)
        -> Result<Written<Room>, StoreError>;
    /// NotStarted -> Expired (never started by its EndTime); records no event.
    async fn expire_room(&self, room_id: RoomId) -> Result<Written<Room>, StoreError>;
    /// GetRooms: `(total matching, the requested page)`, ordered by StartTime then RoomId.
    async fn list_rooms(&self, query: &RoomQuery) -> Result<(u64, Vec<Room>), StoreError>;

    /// The earliest deadline (unix ms) of any room, if any.
    async fn next_deadline(&self) -> Result<Option<i64>, StoreError>;
    /// Up to `limit` rooms whose deadline is at or before `now_ms`, earliest first.
    async fn due_rooms(&self, now_ms: i64, limit: u64) -> Result<Vec<Room>, StoreError>;
}
