//! Rooms: creation, lookup, the room row's writes with their deadlines, the scheduler's
//! queries, and GetRooms.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use roomlog_core::lifecycle::{self, deadline_ms, LifecyclePolicy, Recording, RoomWrite};
use roomlog_core::{App, Room, RoomId, RoomQuery, RoomSpec, RoomStatus, StoreError};

use crate::error::{saturating_i64, to_i64, Context};
use crate::rows::{self, room_columns};

/// Room ids beyond i64 cannot exist in SQLite: such a lookup simply finds nothing.
pub(crate) fn room_key(room_id: RoomId) -> Option<i64> {
    i64::try_from(room_id).ok()
}

/// One room by id, the columns [`rows::room`] reads.
pub(crate) const SELECT_ROOM: &str =
    concat!("SELECT ", room_columns!(), " FROM rooms WHERE room_id = ?1");

pub(crate) fn load_room(conn: &Connection, room_id: RoomId) -> Result<Option<Room>, StoreError> {
    let Some(key) = room_key(room_id) else {
        return Ok(None);
    };
    conn.prepare_cached(SELECT_ROOM)
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

/// Writes the room row as `recording` leaves it: only the columns its [`RoomWrite`] names, so
/// the frequent writes leave status and schedule (and their indexes) alone, and the deadline's
/// index too when the deadline did not move.
pub(crate) fn save(conn: &Connection, recording: &Recording) -> Result<(), StoreError> {
    let room = &recording.room;
    let what = || format!("updating room {}", room.room_id);
    let (key, last_seq) = (room.room_id as i64, saturating_i64(room.last_seq));
    let (present, empty_since_ms) = (
        saturating_i64(room.occupancy.present),
        room.occupancy.empty_since_ms,
    );
    match recording.room_write {
        RoomWrite::Unchanged => Ok(0),
        RoomWrite::LastSeq => conn
            .prepare_cached("UPDATE rooms SET last_seq = ?2 WHERE room_id = ?1")
            .and_then(|mut stmt| stmt.execute((key, last_seq))),
        RoomWrite::Presence {
            deadline_moved: false,
        } => conn
            .prepare_cached(
                "UPDATE rooms SET last_seq = ?2, present_members = ?3, empty_since_ms = ?4
                 WHERE room_id = ?1",
            )
            .and_then(|mut stmt| stmt.execute((key, last_seq, present, empty_since_ms))),
        RoomWrite::Presence {
            deadline_moved: true,
        } => conn
            .prepare_cached(
                "UPDATE rooms SET last_seq = ?2, present_members = ?3, empty_since_ms = ?4,
                                  deadline_ms = ?5
                 WHERE room_id = ?1",
            )
            .and_then(|mut stmt| {
                let deadline_ms = recording.deadline_ms;
                stmt.execute((key, last_seq, present, empty_since_ms, deadline_ms))
            }),
        RoomWrite::Status => conn
            .prepare_cached(
                "UPDATE rooms SET status = ?2, real_start_ms = ?3, real_end_ms = ?4,
                                  last_seq = ?5, present_members = ?6, empty_since_ms = ?7,
                                  deadline_ms = ?8
                 WHERE room_id = ?1",
            )
            .and_then(|mut stmt| {
                stmt.execute((
                    key,
                    room.status.code() as i64,
                    room.real_start_ms,
                    room.real_end_ms,
                    last_seq,
                    present,
                    empty_since_ms,
                    recording.deadline_ms,
                ))
            }),
    }
    .with_context(what)?;
    Ok(())
}

/// Inserts every room (the caller's savepoint makes it all or nothing), ids in input order.
pub(crate) fn create_rooms(
    conn: &Connection,
    app: &App,
    specs: &[RoomSpec],
    created_at: i64,
    policy: &LifecyclePolicy,
) -> Result<Vec<RoomId>, StoreError> {
    let Ok(sdk_app_id) = i64::try_from(app.sdk_app_id) else {
        return Err(StoreError::AppNotFound);
    };
    // The owner recorded on each room comes from the apps table itself, so a room's account
    // always matches its app's even if the caller's `App` is stale.
    let account_id: i64 = conn
        .prepare_cached("SELECT account_id FROM apps WHERE sdk_app_id = ?1")
        .and_then(|mut stmt| stmt.query_row([sdk_app_id], |row| row.get(0)).optional())
        .context("looking up the app of new rooms")?
        .ok_or(StoreError::AppNotFound)?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO rooms (sdk_app_id, account_id, status, start_time, end_time,
                                created_at, spec, present_members, empty_since_ms, deadline_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9)",
        )
        .context("creating rooms")?;
    let mut ids = Vec::with_capacity(specs.len());
    let mut longest = 0;
    for spec in specs {
        let (start, end, span) = schedule(spec)?;
        longest = longest.max(span);
        let room = Room::created(app.sdk_app_id, account_id as u64, spec.clone(), created_at);
        stmt.execute((
            sdk_app_id,
            account_id,
            RoomStatus::NotStarted.code() as i64,
            start,
            end,
            created_at,
            spec_json(spec)?,
            room.occupancy.empty_since_ms,
            deadline_ms(&room, policy),
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
    policy: &LifecyclePolicy,
) -> Result<Room, StoreError> {
    let room = lifecycle::modify(require_room(conn, room_id)?, spec)?;
    let (start, end, span) = schedule(&room.spec)?;
    let json = spec_json(&room.spec)?;
    conn.prepare_cached(
        "UPDATE rooms SET spec = ?2, start_time = ?3, end_time = ?4, deadline_ms = ?5
         WHERE room_id = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute((room_id as i64, json, start, end, deadline_ms(&room, policy)))
    })
    .with_context(|| format!("modifying room {room_id}"))?;
    note_span(conn, room.sdk_app_id as i64, span)?;
    Ok(room)
}

/// The earliest deadline: the first entry of the partial index `rooms_by_deadline`.
pub(crate) const NEXT_DEADLINE: &str =
    "SELECT MIN(deadline_ms) FROM rooms WHERE deadline_ms IS NOT NULL";

/// Rooms due, earliest first: a range on `rooms_by_deadline` (ties by room id, which every index
/// entry ends with).
pub(crate) const DUE_ROOMS: &str = concat!(
    "SELECT ",
    room_columns!(),
    " FROM rooms WHERE deadline_ms IS NOT NULL AND deadline_ms <= ?1",
    " ORDER BY deadline_ms, room_id LIMIT ?2"
);

pub(crate) fn next_deadline_ms(conn: &Connection) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(NEXT_DEADLINE)
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .context("finding the next deadline")
}

pub(crate) fn due_rooms(
    conn: &Connection,
    now_ms: i64,
    limit: u64,
) -> Result<Vec<Room>, StoreError> {
    let mut stmt = conn
        .prepare_cached(DUE_ROOMS)
        .context("finding the rooms due")?;
    let rooms = stmt
        .query_map((now_ms, saturating_i64(limit)), rows::room)
        .and_then(|rows| rows.collect())
        .context("finding the rooms due")?;
    Ok(rooms)
}

/// Rooms in class (the partial index `rooms_in_class`): their deadline depends on the policy.
pub(crate) const IN_CLASS_ROOMS: &str =
    concat!("SELECT ", room_columns!(), " FROM rooms WHERE status = 1");

/// Rooms not ended or expired yet. A full scan: only for the one-time backfill of migration 2.
pub(crate) const ACTIVE_ROOMS: &str = concat!(
    "SELECT ",
    room_columns!(),
    " FROM rooms WHERE status IN (0, 1)"
);

/// Recomputes the deadline of every room `query` selects (one of the constants above), writing
/// only those that changed; returns how many did.
pub(crate) fn refresh_deadlines(
    conn: &Connection,
    query: &str,
    policy: &LifecyclePolicy,
) -> Result<usize, StoreError> {
    let rooms: Vec<Room> = conn
        .prepare(query)
        .and_then(|mut stmt| stmt.query_map([], rows::room)?.collect())
        .context("loading rooms to recompute their deadlines")?;
    let mut changed = 0;
    for room in rooms {
        changed += conn
            .prepare_cached(
                "UPDATE rooms SET deadline_ms = ?2 WHERE room_id = ?1 AND deadline_ms IS NOT ?2",
            )
            .and_then(|mut stmt| stmt.execute((room.room_id as i64, deadline_ms(&room, policy))))
            .with_context(|| format!("recomputing the deadline of room {}", room.room_id))?;
    }
    Ok(changed)
}

/// At open: recomputes the deadlines of the rooms in class with `policy` (see `IN_CLASS_ROOMS`).
pub(crate) fn refresh_in_class_deadlines(
    conn: &mut Connection,
    policy: &LifecyclePolicy,
) -> Result<(), StoreError> {
    // IMMEDIATE: a read that later writes could otherwise fail at once (not after the busy
    // timeout) if the admin CLI wrote in between.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting the deadline refresh")?;
    let changed = refresh_deadlines(&tx, IN_CLASS_ROOMS, policy)?;
    tx.commit().context("committing the deadline refresh")?;
    if changed > 0 {
        tracing::info!(
            rooms = changed,
            "recomputed the deadlines of rooms in class for the current lifecycle policy"
        );
    }
    Ok(())
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
    let [lowest_start, window_end, window_start, mask] = query.filter(longest);
    let filter = (sdk_app_id, lowest_start, window_end, window_start, mask);
    let total: i64 = tx
        .prepare_cached(COUNT_ROOMS)
        .and_then(|mut stmt| stmt.query_row(filter, |row| row.get(0)))
        .context("counting rooms for GetRooms")?;
    let mut page = Vec::new();
    if total > 0 {
        let (limit, offset) = query.limit_offset();
        let mut stmt = tx
            .prepare_cached(PAGE_OF_ROOMS)
            .context("listing rooms for GetRooms")?;
        let params = (
            sdk_app_id,
            lowest_start,
            window_end,
            window_start,
            mask,
            limit,
            offset,
        );
        page = stmt
            .query_map(params, rows::room)
            .and_then(|rows| rows.collect())
            .context("listing rooms for GetRooms")?;
    }
    tx.finish().context("finishing a GetRooms read")?;
    Ok((total.max(0) as u64, page))
}
