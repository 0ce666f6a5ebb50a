use std::collections::HashMap;

use async_trait::async_trait;

use super::{StoreError, Written};
use crate::event::NewEvent;
use crate::page::Page;
use crate::room::RoomId;

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

/// Who is in a room now, and who is barred from it.
///
/// The store tracks presence from MemberJoin/MemberQuit as it records them, with the rules of
/// `attendance` (per user and device; a quit with an unknown device closes the earliest
/// session; a quit without Device closes all of the user's sessions). `Room::occupancy`
/// reflects it; `empty_since_ms` is set whenever nobody is present (from the room's creation).
#[async_trait]
pub trait Presence: Send + Sync {
    /// Users present now, in order of arrival, paged: `(total, page)`.
    async fn current_members(
        &self,
        room_id: RoomId,
        page: Page,
    ) -> Result<(u64, Vec<PresentMember>), StoreError>;
    /// Bars `user_id` from the room until `until_ms` (`None`: permanently) and, if the user is
    /// present, records `quit` (a MemberQuit with the kick's Reason, no Device) closing all
    /// their sessions — in one transaction. Room must be NotStarted or InClass
    /// (`WrongStatus`). Returns whether the user was present, and what changed.
    async fn kick_user(
        &self,
        room_id: RoomId,
        user_id: &str,
        until_ms: Option<i64>,
        quit: NewEvent,
    ) -> Result<Written<bool>, StoreError>;
    /// Lifts a bar; returns whether there was one.
    async fn unblock_user(&self, room_id: RoomId, user_id: &str) -> Result<bool, StoreError>;
}
