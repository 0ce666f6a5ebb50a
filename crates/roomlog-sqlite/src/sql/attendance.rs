//! Stored attendance: the summary on the room row, the records in `attendance_records`.
//!
//! Computed once per room after its class (by the server, from the log) and kept after the
//! events are purged; a page of records is a range seek on `(room_id, ord)`.

use rusqlite::{Connection, OptionalExtension};

use roomlog_core::attendance::RoomAttendance;
use roomlog_core::store::row::key;
use roomlog_core::store::sql::{
    ATTENDANCE_RECORDS, ATTENDANCE_SUMMARY, AWAITING_ATTENDANCE, DELETE_ATTENDANCE,
    SAVE_ATTENDANCE_SUMMARY,
};
use roomlog_core::store::{attendance_json, AttendancePage};
use roomlog_core::{Page, RoomId, StoreError};

use crate::error::{saturating_i64, Context};

pub(crate) fn awaiting(conn: &Connection, limit: u64) -> Result<Vec<RoomId>, StoreError> {
    let mut stmt = conn
        .prepare_cached(AWAITING_ATTENDANCE)
        .context("finding rooms awaiting attendance")?;
    let rooms = stmt
        .query_map([saturating_i64(limit)], |row| row.get::<_, i64>(0))
        .and_then(|rows| rows.collect::<Result<Vec<i64>, _>>())
        .context("finding rooms awaiting attendance")?;
    Ok(rooms.into_iter().map(|id| id as RoomId).collect())
}

/// Replaces the room's attendance, in the caller's savepoint (one writer command, however many
/// records: one prepared insert per record, one commit).
pub(crate) fn save(
    conn: &Connection,
    room_id: RoomId,
    attendance: &RoomAttendance,
) -> Result<(), StoreError> {
    let key = key(room_id);
    let what = || format!("storing the attendance of room {room_id}");
    let exists = conn
        .prepare_cached("SELECT 1 FROM rooms WHERE room_id = ?1")
        .and_then(|mut stmt| stmt.exists([key]))
        .with_context(what)?;
    if !exists {
        return Err(StoreError::RoomNotFound);
    }
    delete(conn, key)?;
    let mut insert = conn
        .prepare_cached("INSERT INTO attendance_records (room_id, ord, record) VALUES (?1, ?2, ?3)")
        .with_context(what)?;
    let (summary, records) = attendance_json(attendance)?;
    for (ord, record) in records.iter().enumerate() {
        insert
            .execute((key, ord as i64, record))
            .with_context(what)?;
    }
    conn.prepare_cached(SAVE_ATTENDANCE_SUMMARY)
        .and_then(|mut stmt| stmt.execute((summary, records.len() as i64, key)))
        .with_context(what)?;
    Ok(())
}

/// A page of the stored attendance, or `None` if it is not stored (or the room does not exist).
/// Summary and records are read in one snapshot, so they belong to the same computation.
pub(crate) fn page(
    conn: &Connection,
    room_id: RoomId,
    page: Page,
) -> Result<Option<AttendancePage>, StoreError> {
    let key = key(room_id);
    let what = || format!("reading the attendance of room {room_id}");
    let tx = conn.unchecked_transaction().with_context(what)?;
    let stored: Option<(Option<String>, i64)> = tx
        .prepare_cached(ATTENDANCE_SUMMARY)
        .and_then(|mut stmt| {
            stmt.query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .with_context(what)?;
    let Some((summary, total)) = stored else {
        return Ok(None);
    };
    let summary = summary
        .ok_or_else(|| StoreError::Backend(format!("room {room_id} has no attendance summary")))?;
    let total = total.max(0) as u64;
    let mut records = Vec::new();
    if let Some((first, count)) = page.range(total) {
        // `Page::range` counts from 1; `ord` from 0.
        let from = saturating_i64(first - 1);
        let mut stmt = tx.prepare_cached(ATTENDANCE_RECORDS).with_context(what)?;
        records = stmt
            .query_map(
                (key, from, from.saturating_add(saturating_i64(count))),
                |row| row.get::<_, String>(0),
            )
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .with_context(what)?;
    }
    tx.finish().with_context(what)?;
    AttendancePage::from_json(&summary, total, records.iter().map(String::as_str)).map(Some)
}

/// Deletes the room's attendance (the room is being deleted).
pub(crate) fn delete(conn: &Connection, room: i64) -> Result<(), StoreError> {
    conn.prepare_cached(DELETE_ATTENDANCE)
        .and_then(|mut stmt| stmt.execute([room]))
        .with_context(|| format!("deleting the attendance of room {room}"))?;
    Ok(())
}
