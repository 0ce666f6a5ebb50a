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

/// How every backend stores an attendance: the summary (everything but the records) and each
/// record, as JSON text.
pub fn attendance_json(attendance: &RoomAttendance) -> Result<(String, Vec<String>), StoreError> {
    // The summary is spelled out rather than cloned: cloning would copy every record only to
    // drop them.
    let summary = RoomAttendance {
        peak_member_number: attendance.peak_member_number,
        member_number: attendance.member_number,
        real_start_time: attendance.real_start_time,
        real_end_time: attendance.real_end_time,
        records: Vec::new(),
    };
    let summary = serde_json::to_string(&summary)
        .map_err(|e| json_error("serialising an attendance summary", e))?;
    let records = attendance
        .records
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()
        .map_err(|e| json_error("serialising a member record", e))?;
    Ok((summary, records))
}

impl AttendancePage {
    /// A page read back from what [`attendance_json`] stored: the summary, the number of records
    /// in all, and the page's records.
    pub fn from_json<'a>(
        summary: &str,
        total: u64,
        records: impl IntoIterator<Item = &'a str>,
    ) -> Result<AttendancePage, StoreError> {
        Ok(AttendancePage {
            summary: serde_json::from_str(summary)
                .map_err(|e| json_error("reading an attendance summary", e))?,
            total,
            records: records
                .into_iter()
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()
                .map_err(|e| json_error("reading a member record", e))?,
        })
    }
}

fn json_error(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("{what}: {e}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_attendance_reads_back_page_by_page() {
        let record = |user_id: &str| MemberRecord {
            user_id: user_id.into(),
            present_time: 60,
            ..MemberRecord::default()
        };
        let attendance = RoomAttendance {
            peak_member_number: 2,
            member_number: 3,
            real_start_time: 10,
            real_end_time: 20,
            records: vec![record("a"), record("b"), record("c")],
        };
        let (summary, records) = attendance_json(&attendance).unwrap();
        assert!(
            !summary.contains("\"a\""),
            "the summary leaves the records out"
        );
        let page = AttendancePage::from_json(&summary, 3, records[1..].iter().map(String::as_str));
        assert_eq!(
            page.unwrap(),
            AttendancePage {
                summary: RoomAttendance {
                    records: Vec::new(),
                    ..attendance.clone()
                },
                total: 3,
                records: attendance.records[1..].to_vec(),
            }
        );
        assert!(matches!(
            AttendancePage::from_json("{", 0, []),
            Err(StoreError::Backend(_))
        ));
    }
}
