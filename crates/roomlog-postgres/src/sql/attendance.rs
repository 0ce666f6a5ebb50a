//! Stored attendance: the summary on the room row, the records in `attendance_records`.
//!
//! Computed once per room after its class (by whichever node gets to it first; a second node
//! computing it too just stores the same again) and kept after the events are purged.

use roomlog_core::attendance::RoomAttendance;
use roomlog_core::store::row::key;
use roomlog_core::store::sql::{
    ATTENDANCE_RECORDS, ATTENDANCE_SUMMARY, AWAITING_ATTENDANCE, DELETE_ATTENDANCE,
    SAVE_ATTENDANCE_SUMMARY,
};
use roomlog_core::store::{attendance_json, AttendancePage};
use roomlog_core::{Page, RoomId, StoreError};

use crate::error::{saturating_i64, Context, Error};
use crate::rows;
use crate::sql::rooms::lock_room;
use crate::sql::{commit, execute, query, query_opt, snapshot, write, Client};

pub(crate) async fn awaiting(c: &Client, limit: u64) -> Result<Vec<RoomId>, Error> {
    query(c, AWAITING_ATTENDANCE, &[&saturating_i64(limit)])
        .await
        .context("finding rooms awaiting attendance")?
        .iter()
        .map(|row| rows::get_u64(row, 0))
        .collect()
}

/// Replaces the room's attendance in one transaction, holding the room's lock (so two nodes
/// saving it at once replace it one after the other instead of mixing their records).
pub(crate) async fn save(
    c: &mut Client,
    room_id: RoomId,
    attendance: &RoomAttendance,
) -> Result<(), Error> {
    let what = || format!("storing the attendance of room {room_id}");
    let (summary, records) = attendance_json(attendance)?;
    let ords: Vec<i64> = (0..records.len() as i64).collect();

    let tx = write(c).await?;
    let key = lock_room(&tx, room_id).await?.key();
    delete(&tx, key).await?;
    if !records.is_empty() {
        execute(
            &tx,
            "INSERT INTO attendance_records (room_id, ord, record)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::text[])",
            &[&key, &ords, &records],
        )
        .await
        .with_context(what)?;
    }
    let total = records.len() as i64;
    execute(&tx, SAVE_ATTENDANCE_SUMMARY, &[&summary, &total, &key])
        .await
        .with_context(what)?;
    commit(tx).await
}

/// A page of the stored attendance, or `None` if it is not stored (or the room does not exist).
/// Summary and records are read in one snapshot, so they belong to the same computation.
pub(crate) async fn page(
    c: &mut Client,
    room_id: RoomId,
    page: Page,
) -> Result<Option<AttendancePage>, Error> {
    let key = key(room_id);
    let what = || format!("reading the attendance of room {room_id}");
    let tx = snapshot(c).await?;
    let stored = query_opt(&tx, ATTENDANCE_SUMMARY, &[&key])
        .await
        .with_context(what)?;
    let Some(stored) = stored else {
        commit(tx).await?;
        return Ok(None);
    };
    let summary: Option<&str> = rows::get(&stored, 0)?;
    let summary = summary.ok_or_else(|| {
        Error::Store(StoreError::Backend(format!(
            "room {room_id} has no attendance summary"
        )))
    })?;
    let total = rows::get::<i64>(&stored, 1)?.max(0) as u64;
    let mut records = Vec::new();
    if let Some((first, count)) = page.range(total) {
        // `Page::range` counts from 1; `ord` from 0.
        let from = saturating_i64(first - 1);
        records = query(
            &tx,
            ATTENDANCE_RECORDS,
            &[&key, &from, &from.saturating_add(saturating_i64(count))],
        )
        .await
        .with_context(what)?;
    }
    let page = AttendancePage::from_json(
        summary,
        total,
        records
            .iter()
            .map(|row| rows::get::<&str>(row, 0))
            .collect::<Result<Vec<_>, _>>()?,
    )?;
    commit(tx).await?;
    Ok(Some(page))
}

/// Deletes the room's attendance (the room is being deleted).
pub(crate) async fn delete(
    tx: &deadpool_postgres::Transaction<'_>,
    room: i64,
) -> Result<(), Error> {
    execute(tx, DELETE_ATTENDANCE, &[&room])
        .await
        .with_context(|| format!("deleting the attendance of room {room}"))?;
    Ok(())
}
