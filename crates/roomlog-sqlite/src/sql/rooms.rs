//! Rooms: creation, lookup, the room row's writes with their deadlines, the scheduler's
//! queries, and GetRooms.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use roomlog_core::lifecycle::{self, deadline_ms, LifecyclePolicy, Recording, RoomWrite};
use roomlog_core::store::row::{key, spec_columns};
use roomlog_core::store::sql::{
    APP_ACCOUNT, APP_LONGEST_ROOM, COUNT_ROOMS, DUE_ROOMS, NEXT_DEADLINE, PAGE_OF_ROOMS, ROOM,
    SAVE_LAST_SEQ, SAVE_SPEC, SAVE_STATUS,
};
use roomlog_core::{App, Room, RoomId, RoomQuery, RoomSpec, RoomStatus, StoreError, Written};

use crate::error::{saturating_i64, Context};
use crate::rows::{self, room_columns};

pub(crate) fn load_room(conn: &Connection, room_id: RoomId) -> Result<Option<Room>, StoreError> {
    conn.prepare_cached(ROOM)
        .and_then(|mut stmt| stmt.query_row([key(room_id)], rows::room).optional())
        .with_context(|| format!("loading room {room_id}"))
}

pub(crate) fn require_room(conn: &Connection, room_id: RoomId) -> Result<Room, StoreError> {
    load_room(conn, room_id)?.ok_or(StoreError::RoomNotFound)
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
    match (recording.room_write, recording.deadline_moved) {
        (RoomWrite::Unchanged, _) => Ok(0),
        (RoomWrite::LastSeq, _) => conn
            .prepare_cached(SAVE_LAST_SEQ)
            .and_then(|mut stmt| stmt.execute((last_seq, key))),
        (RoomWrite::Presence, false) => conn
            .prepare_cached(
                "UPDATE rooms SET last_seq = ?2, present_members = ?3, empty_since_ms = ?4
                 WHERE room_id = ?1",
            )
            .and_then(|mut stmt| stmt.execute((key, last_seq, present, empty_since_ms))),
        (RoomWrite::Presence, true) => conn
            .prepare_cached(
                "UPDATE rooms SET last_seq = ?2, present_members = ?3, empty_since_ms = ?4,
                                  deadline_ms = ?5
                 WHERE room_id = ?1",
            )
            .and_then(|mut stmt| {
                let deadline_ms = recording.deadline_ms;
                stmt.execute((key, last_seq, present, empty_since_ms, deadline_ms))
            }),
        (RoomWrite::Status, _) => conn.prepare_cached(SAVE_STATUS).and_then(|mut stmt| {
            stmt.execute((
                room.status.code() as i64,
                room.real_start_ms,
                room.real_end_ms,
                last_seq,
                present,
                empty_since_ms,
                recording.deadline_ms,
                key,
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
) -> Result<Written<Vec<RoomId>>, StoreError> {
    let sdk_app_id = key(app.sdk_app_id);
    // The owner recorded on each room comes from the apps table itself, so a room's account
    // always matches its app's even if the caller's `App` is stale.
    let account_id: i64 = conn
        .prepare_cached(APP_ACCOUNT)
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
        let columns = spec_columns(spec)?;
        longest = longest.max(columns.span);
        let room = Room::created(app.sdk_app_id, account_id as u64, spec.clone(), created_at);
        stmt.execute((
            sdk_app_id,
            account_id,
            RoomStatus::NotStarted.code() as i64,
            columns.start,
            columns.end,
            created_at,
            columns.json,
            room.occupancy.empty_since_ms,
            deadline_ms(&room, policy),
        ))
        .context("creating a room")?;
        ids.push(conn.last_insert_rowid() as RoomId);
    }
    note_span(conn, sdk_app_id, longest)?;
    Ok(lifecycle::created(ids))
}

pub(crate) fn modify_room(
    conn: &Connection,
    room_id: RoomId,
    spec: RoomSpec,
    policy: &LifecyclePolicy,
) -> Result<Written<Room>, StoreError> {
    let modified = lifecycle::modify(require_room(conn, room_id)?, spec, policy)?;
    let room = &modified.value;
    let columns = spec_columns(&room.spec)?;
    conn.prepare_cached(SAVE_SPEC)
        .and_then(|mut stmt| {
            stmt.execute((
                columns.json,
                columns.start,
                columns.end,
                deadline_ms(room, policy),
                room_id as i64,
            ))
        })
        .with_context(|| format!("modifying room {room_id}"))?;
    note_span(conn, room.sdk_app_id as i64, columns.span)?;
    Ok(modified)
}

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

pub(crate) fn list_rooms(
    conn: &Connection,
    query: &RoomQuery,
) -> Result<(u64, Vec<Room>), StoreError> {
    let sdk_app_id = key(query.sdk_app_id);
    // COUNT and the page must see the same snapshot, or Total could disagree with the page.
    let tx = conn
        .unchecked_transaction()
        .context("starting a GetRooms read")?;
    let longest: Option<i64> = tx
        .prepare_cached(APP_LONGEST_ROOM)
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
