use async_trait::async_trait;

use super::StoreError;
use crate::attendance::{MemberRecord, RoomAttendance};
use crate::page::Page;
use crate::room::RoomId;

/// One page of a room's stored attendance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendancePage {
    /// The whole attendance minus the records (its `records` is empty).
    pub summary: RoomAttendance,
    /// Records in the whole attendance.
    pub total: u64,
    pub records: Vec<MemberRecord>,
}

/// Attendance of ended rooms, computed once and kept after their events are purged.
#[async_trait]
pub trait Attendance: Send + Sync {
    /// Ended rooms whose attendance is not stored yet (oldest end first), up to `limit`.
    /// The retention purge leaves their events alone until it is.
    async fn rooms_awaiting_attendance(&self, limit: u64) -> Result<Vec<RoomId>, StoreError>;
    /// Stores a room's attendance (replacing any). Kept after the events are purged.
    async fn save_attendance(
        &self,
        room_id: RoomId,
        attendance: &RoomAttendance,
    ) -> Result<(), StoreError>;
    /// A page of the stored attendance, records in stored order; `None` if not computed yet.
    async fn attendance(
        &self,
        room_id: RoomId,
        page: Page,
    ) -> Result<Option<AttendancePage>, StoreError>;
}
