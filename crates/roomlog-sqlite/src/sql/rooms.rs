//! Rooms: creation, lookup, the lifecycle compare-and-sets, and GetRooms.

use rusqlite::{Connection, OptionalExtension};

use roomlog_core::{App, NewEvent, Room, RoomId, RoomQuery, RoomSpec, RoomStatus, StoreError};

use crate::error::{saturating_i64, to_i64, Context};
use crate::rows::{self, room_columns};
use crate::sql::events::insert_event;

/// Room ids beyond i64 cannot exist in SQLite: such a lookup simply finds nothing.
pub(crate) fn room_key(room_id: RoomId) -> Option<i64> {
    i64::try_from(room_id).ok()
}

pub(crate) fn load_room(conn: &Connection, room_id: RoomId) -> Result<Option<Room>, StoreError> {
    let Some(key) = room_key(room_id) else {
        return Ok(None);
    };
    conn.prepare_cached(concat!(
        "SELECT ",
        room_columns!(),
        " FROM rooms WHERE room_id = ?1"
    ))
    .and_then(|mut stmt| stmt.query_row([key], rows::room).optional())
    .with_context(|| format!("loading room {room_id}"))
}

pub(crate) fn require_room(conn: &Connection, room_id: RoomId) -> Result<Room, StoreError> {
    load_room(conn, room_id)?.ok_or(StoreError::RoomNotFound)
}

fn spec_json(spec: &RoomSpec) -> Result<String, StoreError> {
    serde_json::to_string(spec)
        .map_err(|e| StoreError::Backend(format!("serialising a room spec: {e}")))
}

/// Start and end of the schedule as stored, and the span GetRooms must allow for.
fn schedule(spec: &RoomSpec) -> Result<(i64, i64, i64), StoreError> {
    let start = to_i64(spec.start_time, "StartTime")?;
    let end = to_i64(spec.end_time, "EndTime")?;
    Ok((start, end, end.saturating_sub(start).max(0)))
}

/// Raises the app's recorded longest room span (see `apps.max_room_secs`).
fn note_span(conn: &Connection, sdk_app_id: i64, span: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE apps SET max_room_secs = MAX(max_room_secs, ?2) WHERE sdk_app_id = ?1",
    )
    .and_then(|mut stmt| stmt.execute((sdk_app_id, span)))
    .context("recording an app's longest room")?;
    Ok(())
}

/// Inserts every room (the caller's savepoint makes it all or nothing), ids in input order.
pub(crate) fn create_rooms(
    conn: &Connection,
    app: &App,
    specs: &[RoomSpec],
    created_at: i64,
) -> Result<Vec<RoomId>, StoreError> {
    let sdk_app_id = to_i64(app.sdk_app_id, "SdkAppId")?;
    // The owner recorded on each room comes from the apps table itself, so a room's account
    // always matches its app's even if the caller's `App` is stale.
    let account_id: i64 = conn
        .prepare_cached("SELECT account_id FROM apps WHERE sdk_app_id = ?1")
        .and_then(|mut stmt| stmt.query_row([sdk_app_id], |row| row.get(0)).optional())
        .context("looking up the app of new rooms")?
        .ok_or_else(|| {
            StoreError::Backend(format!(
                "cannot create rooms: app {} does not exist",
                app.sdk_app_id
            ))
        })?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO rooms (sdk_app_id, account_id, status, start_time, end_time,
                                created_at, spec)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .context("creating rooms")?;
    let mut ids = Vec::with_capacity(specs.len());
    let mut longest = 0;
    for spec in specs {
        let (start, end, span) = schedule(spec)?;
        longest = longest.max(span);
        stmt.execute((
            sdk_app_id,
            account_id,
            RoomStatus::NotStarted.code() as i64,
            start,
            end,
            created_at,
            spec_json(spec)?,
        ))
        .context("creating a room")?;
        ids.push(conn.last_insert_rowid() as RoomId);
    }
    note_span(conn, sdk_app_id, longest)?;
    Ok(ids)
}

pub(crate) fn modify_room(
    conn: &Connection,
    room_id: RoomId,
    spec: RoomSpec,
) -> Result<Room, StoreError> {
    let mut room = require_room(conn, room_id)?;
    if room.status != RoomStatus::NotStarted {
        return Err(StoreError::WrongStatus(room.status));
    }
    let (start, end, span) = schedule(&spec)?;
    let json = spec_json(&spec)?;
    conn.prepare_cached(
        "UPDATE rooms SET spec = ?2, start_time = ?3, end_time = ?4 WHERE room_id = ?1",
    )
    .and_then(|mut stmt| stmt.execute((room_id as i64, json, start, end)))
    .with_context(|| format!("modifying room {room_id}"))?;
    note_span(conn, room.sdk_app_id as i64, span)?;
    room.spec = spec;
    Ok(room)
}

/// The lifecycle compare-and-set: `from` -> `to`, stamping the real start or end time and
/// recording `event` with the room's next seq, all in the caller's savepoint.
pub(crate) fn transition(
    conn: &Connection,
    room_id: RoomId,
    from: RoomStatus,
    to: RoomStatus,
    event: NewEvent,
) -> Result<Room, StoreError> {
    let mut room = require_room(conn, room_id)?;
    if room.status != from {
        return Err(StoreError::WrongStatus(room.status));
    }
    let seq = room.last_seq + 1;
    let key = room_id as i64;
    insert_event(conn, key, seq, &event)?;
    let sql = match to {
        RoomStatus::InClass => {
            room.real_start_ms = Some(event.timestamp_ms);
            "UPDATE rooms SET status = ?2, real_start_ms = ?3, last_seq = ?4 WHERE room_id = ?1"
        }
        _ => {
            room.real_end_ms = Some(event.timestamp_ms);
            "UPDATE rooms SET status = ?2, real_end_ms = ?3, last_seq = ?4 WHERE room_id = ?1"
        }
    };
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute((key, to.code() as i64, event.timestamp_ms, seq as i64)))
        .with_context(|| format!("moving room {room_id} to {to:?}"))?;
    room.status = to;
    room.last_seq = seq;
    Ok(room)
}

/// GetRooms' filter: app, the bounded start-time range, overlap, and the status bitmask.
macro_rules! rooms_filter {
    () => {
        " FROM rooms WHERE sdk_app_id = ?1 AND start_time BETWEEN ?2 AND ?3 AND end_time >= ?4 \
         AND (?5 = 0 OR (?5 >> status) & 1 = 1)"
    };
}

/// Counted from the covering index `rooms_by_app_schedule` alone.
pub(crate) const COUNT_ROOMS: &str = concat!("SELECT COUNT(*)", rooms_filter!());

pub(crate) const PAGE_OF_ROOMS: &str = concat!(
    "SELECT ",
    room_columns!(),
    rooms_filter!(),
    " ORDER BY start_time, room_id LIMIT ?6 OFFSET ?7"
);

pub(crate) fn list_rooms(
    conn: &Connection,
    query: &RoomQuery,
) -> Result<(u64, Vec<Room>), StoreError> {
    let Ok(sdk_app_id) = i64::try_from(query.sdk_app_id) else {
        return Ok((0, Vec::new()));
    };
    // COUNT and the page must see the same snapshot, or Total could disagree with the page.
    let tx = conn
        .unchecked_transaction()
        .context("starting a GetRooms read")?;
    let longest: Option<i64> = tx
        .prepare_cached("SELECT max_room_secs FROM apps WHERE sdk_app_id = ?1")
        .and_then(|mut stmt| stmt.query_row([sdk_app_id], |row| row.get(0)).optional())
        .context("looking up an app for GetRooms")?;
    let Some(longest) = longest else {
        return Ok((0, Vec::new()));
    };
    let window_start = saturating_i64(query.window_start);
    let window_end = saturating_i64(query.window_end);
    // Overlap is `start_time <= window_end AND end_time >= window_start`. No room is longer than
    // `longest`, so a room that overlaps also starts at or after `window_start - longest`: that
    // lower bound turns the scan into a bounded index range instead of the app's whole past.
    let lowest_start = window_start.saturating_sub(longest);
    // Statuses as a bitmask (bit n = status code n; 0 = all): one cached statement for any set.
    let mask: i64 = query
        .statuses
        .iter()
        .fold(0, |mask, status| mask | (1 << status.code()));
    let total: i64 = tx
        .prepare_cached(COUNT_ROOMS)
        .and_then(|mut stmt| {
            stmt.query_row(
                (sdk_app_id, lowest_start, window_end, window_start, mask),
                |row| row.get(0),
            )
        })
        .context("counting rooms for GetRooms")?;
    let mut page = Vec::new();
    if query.limit > 0 && total > 0 {
        let limit = saturating_i64(query.limit);
        let offset = saturating_i64(
            query
                .page
                .max(1)
                .saturating_sub(1)
                .saturating_mul(query.limit),
        );
        let mut stmt = tx
            .prepare_cached(PAGE_OF_ROOMS)
            .context("listing rooms for GetRooms")?;
        page = stmt
            .query_map(
                (
                    sdk_app_id,
                    lowest_start,
                    window_end,
                    window_start,
                    mask,
                    limit,
                    offset,
                ),
                rows::room,
            )
            .and_then(|rows| rows.collect())
            .context("listing rooms for GetRooms")?;
    }
    tx.finish().context("finishing a GetRooms read")?;
    Ok((total.max(0) as u64, page))
}
