//! Stored attendance: the summary on the room row, the records in `attendance_records`.
//!
//! Computed once per room after its class (by whichever node gets to it first; a second node
//! computing it too just stores the same again) and kept after the events are purged.

use roomlog_core::attendance::RoomAttendance;
use roomlog_core::store::{attendance_json, AttendancePage};
use roomlog_core::{Page, RoomId, StoreError};

use crate::error::{saturating_i64, Context, Error};
use crate::rows;
use crate::sql::rooms::{lock_room, room_key};
use crate::sql::{commit, execute, query, query_opt, snapshot, write, Client};

/// Ended rooms still waiting for their attendance, oldest end first: the partial index
/// `rooms_awaiting_attendance`.
pub(crate) const AWAITING: &str = "SELECT room_id FROM rooms \
     WHERE status = 2 AND attendance_ready = 0 ORDER BY real_end_ms, room_id LIMIT $1";

/// A page of records: a range seek on the primary key.
pub(crate) const RECORDS_PAGE: &str = "SELECT record FROM attendance_records \
     WHERE room_id = $1 AND ord >= $2 AND ord < $3 ORDER BY ord";

pub(crate) async fn awaiting(c: &Client, limit: u64) -> Result<Vec<RoomId>, Error> {
    query(c, AWAITING, &[&saturating_i64(limit)])
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
    execute(
        &tx,
        "DELETE FROM attendance_records WHERE room_id = $1",
        &[&key],
    )
    .await
    .with_context(what)?;
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
    execute(
        &tx,
        "UPDATE rooms SET attendance_ready = 1, attendance_summary = $2, attendance_total = $3
         WHERE room_id = $1",
        &[&key, &summary, &(records.len() as i64)],
    )
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
    let Some(key) = room_key(room_id) else {
        return Ok(None);
    };
    let what = || format!("reading the attendance of room {room_id}");
    let tx = snapshot(c).await?;
    let stored = query_opt(
        &tx,
        "SELECT attendance_summary, attendance_total FROM rooms
         WHERE room_id = $1 AND attendance_ready = 1",
        &[&key],
    )
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
            RECORDS_PAGE,
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
    execute(
        tx,
        "DELETE FROM attendance_records WHERE room_id = $1",
        &[&room],
    )
    .await
    .with_context(|| format!("deleting the attendance of room {room}"))?;
    Ok(())
}
