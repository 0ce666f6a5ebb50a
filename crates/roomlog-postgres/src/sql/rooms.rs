//! Rooms: creation, lookup and locking, the room row's writes with their deadlines, the
//! scheduler's queries, and GetRooms.
//!
//! Every write locks the room row first (`FOR UPDATE`) and checks the status it finds there:
//! two nodes racing to start, end or expire a room (their schedulers both saw it due) queue on
//! the lock, and the second finds the new status and gets `WrongStatus`.

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::types::ToSql;

use roomlog_core::lifecycle::{self, deadline_ms, LifecyclePolicy, Recording, RoomWrite};
use roomlog_core::{App, Room, RoomId, RoomQuery, RoomSpec, RoomStatus, StoreError};

use crate::error::{saturating_i64, to_i64, Context, Error};
use crate::rows::{self, room_columns};
use crate::sql::Client;
use crate::sql::{commit, execute, query, query_one, query_opt, snapshot, write};

/// Room ids beyond i64 cannot exist: such a lookup simply finds nothing.
pub(crate) fn room_key(room_id: RoomId) -> Option<i64> {
    i64::try_from(room_id).ok()
}

const ROOM: &str = concat!("SELECT ", room_columns!(), " FROM rooms WHERE room_id = $1");

/// The room, locked for the transaction, and whether its app has a callback URL (column 12).
const ROOM_FOR_UPDATE: &str = concat!(
    "SELECT ",
    room_columns!(),
    ", (SELECT a.callback_url <> '' FROM apps a WHERE a.sdk_app_id = rooms.sdk_app_id)",
    " FROM rooms WHERE room_id = $1 FOR UPDATE"
);

pub(crate) async fn load_room<C: GenericClient>(
    c: &C,
    room_id: RoomId,
) -> Result<Option<Room>, Error> {
    let Some(key) = room_key(room_id) else {
        return Ok(None);
    };
    query_opt(c, ROOM, &[&key])
        .await
        .with_context(|| format!("loading room {room_id}"))?
        .as_ref()
        .map(rows::room)
        .transpose()
}

/// A room locked by the current transaction (no other transaction changes it or records events
/// in it until this one ends).
pub(crate) struct Locked {
    pub room: Room,
    /// Its app had a callback URL when the room was locked (`Outbox::open` confirms it under a
    /// lock of its own).
    pub callback: bool,
}

impl Locked {
    pub(crate) fn key(&self) -> i64 {
        self.room.room_id as i64
    }
}

/// Locks the room row for the transaction: `RoomNotFound` if it does not exist (or was deleted
/// by a transaction this one waited for).
pub(crate) async fn lock_room(tx: &Transaction<'_>, room_id: RoomId) -> Result<Locked, Error> {
    let key = room_key(room_id).ok_or(StoreError::RoomNotFound)?;
    let row = query_opt(tx, ROOM_FOR_UPDATE, &[&key])
        .await
        .with_context(|| format!("locking room {room_id}"))?
        .ok_or(StoreError::RoomNotFound)?;
    Ok(Locked {
        room: rows::room(&row)?,
        callback: rows::get::<Option<bool>>(&row, 12)?.unwrap_or(false),
    })
}

fn spec_json(spec: &RoomSpec) -> Result<String, Error> {
    serde_json::to_string(spec)
        .map_err(|e| Error::Store(StoreError::Backend(format!("serialising a room spec: {e}"))))
}

/// Start and end of the schedule as stored, and the span GetRooms must allow for.
fn schedule(spec: &RoomSpec) -> Result<(i64, i64, i64), Error> {
    let start = to_i64(spec.start_time, "StartTime")?;
    let end = to_i64(spec.end_time, "EndTime")?;
    Ok((start, end, end.saturating_sub(start).max(0)))
}

/// Raises the app's recorded longest room span (see `apps.max_room_secs`). Only when it grows:
/// otherwise the app row is not even locked.
async fn note_span(tx: &Transaction<'_>, sdk_app_id: i64, span: i64) -> Result<(), Error> {
    execute(
        tx,
        "UPDATE apps SET max_room_secs = $2 WHERE sdk_app_id = $1 AND max_room_secs < $2",
        &[&sdk_app_id, &span],
    )
    .await
    .context("recording an app's longest room")?;
    Ok(())
}

/// Writes the room row as `recording` leaves it: `last_seq` alone on the hot path of ingest,
/// else the whole lifecycle state. (Columns written with their old values are unchanged indexed
/// values: PostgreSQL can still update the row in place.)
pub(crate) async fn save(tx: &Transaction<'_>, recording: &Recording) -> Result<(), Error> {
    let room = &recording.room;
    let key = room.room_id as i64;
    let last_seq = saturating_i64(room.last_seq);
    match recording.room_write {
        RoomWrite::Unchanged => Ok(0),
        RoomWrite::LastSeq => {
            let sql = "UPDATE rooms SET last_seq = $2 WHERE room_id = $1";
            execute(tx, sql, &[&key, &last_seq]).await
        }
        RoomWrite::Presence { .. } | RoomWrite::Status => {
            execute(
                tx,
                "UPDATE rooms SET status = $2, real_start_ms = $3, real_end_ms = $4,
                                  last_seq = $5, present_members = $6, empty_since_ms = $7,
                                  deadline_ms = $8
                 WHERE room_id = $1",
                &[
                    &key,
                    &(room.status.code() as i64),
                    &room.real_start_ms,
                    &room.real_end_ms,
                    &last_seq,
                    &saturating_i64(room.occupancy.present),
                    &room.occupancy.empty_since_ms,
                    &recording.deadline_ms,
                ],
            )
            .await
        }
    }
    .with_context(|| format!("updating room {}", room.room_id))?;
    Ok(())
}

/// Inserts every room in one transaction (all or none), ids in input order.
pub(crate) async fn create_rooms(
    c: &mut Client,
    app: &App,
    specs: &[RoomSpec],
    created_at: i64,
    policy: &LifecyclePolicy,
) -> Result<Vec<RoomId>, Error> {
    let Ok(sdk_app_id) = i64::try_from(app.sdk_app_id) else {
        return Err(StoreError::AppNotFound.into());
    };
    let tx = write(c).await?;
    // The owner recorded on each room comes from the apps table itself, so a room's account
    // always matches its app's even if the caller's `App` is stale.
    let account_id: i64 = query_opt(
        &tx,
        "SELECT account_id FROM apps WHERE sdk_app_id = $1",
        &[&sdk_app_id],
    )
    .await
    .context("looking up the app of new rooms")?
    .map(|row| rows::get(&row, 0))
    .transpose()?
    .ok_or(StoreError::AppNotFound)?;
    let mut ids = Vec::with_capacity(specs.len());
    let mut longest = 0;
    for spec in specs {
        let (start, end, span) = schedule(spec)?;
        longest = longest.max(span);
        let room = Room::created(app.sdk_app_id, account_id as u64, spec.clone(), created_at);
        let row = query_one(
            &tx,
            "INSERT INTO rooms (sdk_app_id, account_id, status, start_time, end_time,
                                created_at, spec, present_members, empty_since_ms, deadline_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)
             RETURNING room_id",
            &[
                &sdk_app_id,
                &account_id,
                &(RoomStatus::NotStarted.code() as i64),
                &start,
                &end,
                &created_at,
                &spec_json(spec)?,
                &room.occupancy.empty_since_ms,
                &deadline_ms(&room, policy),
            ],
        )
        .await
        .context("creating a room")?;
        ids.push(rows::get_u64(&row, 0)?);
    }
    if !ids.is_empty() {
        note_span(&tx, sdk_app_id, longest).await?;
    }
    commit(tx).await?;
    Ok(ids)
}

pub(crate) async fn modify_room(
    c: &mut Client,
    room_id: RoomId,
    spec: RoomSpec,
    policy: &LifecyclePolicy,
) -> Result<Room, Error> {
    let tx = write(c).await?;
    let room = lifecycle::modify(lock_room(&tx, room_id).await?.room, spec)?;
    let (start, end, span) = schedule(&room.spec)?;
    let json = spec_json(&room.spec)?;
    execute(
        &tx,
        "UPDATE rooms SET spec = $2, start_time = $3, end_time = $4, deadline_ms = $5
         WHERE room_id = $1",
        &[
            &(room.room_id as i64),
            &json,
            &start,
            &end,
            &deadline_ms(&room, policy),
        ],
    )
    .await
    .with_context(|| format!("modifying room {room_id}"))?;
    note_span(&tx, room.sdk_app_id as i64, span).await?;
    commit(tx).await?;
    Ok(room)
}

/// The earliest deadline: the first entry of the partial index `rooms_by_deadline`.
pub(crate) const NEXT_DEADLINE: &str =
    "SELECT MIN(deadline_ms) FROM rooms WHERE deadline_ms IS NOT NULL";

/// Rooms due, earliest first: a range on `rooms_by_deadline`.
pub(crate) const DUE_ROOMS: &str = concat!(
    "SELECT ",
    room_columns!(),
    " FROM rooms WHERE deadline_ms IS NOT NULL AND deadline_ms <= $1",
    " ORDER BY deadline_ms, room_id LIMIT $2"
);

pub(crate) async fn next_deadline_ms(c: &Client) -> Result<Option<i64>, Error> {
    let row = query_one(c, NEXT_DEADLINE, &[])
        .await
        .context("finding the next deadline")?;
    rows::get(&row, 0)
}

pub(crate) async fn due_rooms(c: &Client, now_ms: i64, limit: u64) -> Result<Vec<Room>, Error> {
    let found = query(c, DUE_ROOMS, &[&now_ms, &saturating_i64(limit)])
        .await
        .context("finding the rooms due")?;
    rows::all(&found, rows::room)
}

/// Rooms recomputed per transaction by [`refresh_in_class_deadlines`].
const REFRESH_CHUNK: usize = 500;

/// At connect: recomputes the deadlines of the rooms in class with `policy` (the idle-end policy
/// is configuration and may have changed), writing only those that changed; returns how many.
/// Each chunk of rooms is locked (in id order, so two nodes connecting at once queue rather
/// than deadlock) while its deadlines are recomputed from the rows as they are then.
pub(crate) async fn refresh_in_class_deadlines(
    c: &mut Client,
    policy: &LifecyclePolicy,
) -> Result<u64, Error> {
    let ids: Vec<i64> = query(
        c,
        "SELECT room_id FROM rooms WHERE status = 1 ORDER BY room_id",
        &[],
    )
    .await
    .context("listing the rooms in class")?
    .iter()
    .map(|row| rows::get(row, 0))
    .collect::<Result<_, _>>()?;
    let mut changed = 0;
    for chunk in ids.chunks(REFRESH_CHUNK) {
        let tx = write(c).await?;
        let locked = query(
            &tx,
            concat!(
                "SELECT ",
                room_columns!(),
                ", deadline_ms FROM rooms WHERE room_id = ANY($1) AND status = 1",
                " ORDER BY room_id FOR UPDATE"
            ),
            &[&chunk],
        )
        .await
        .context("locking rooms in class")?;
        for row in &locked {
            let room = rows::room(row)?;
            let stored: Option<i64> = rows::get(row, 12)?;
            let fresh = deadline_ms(&room, policy);
            if fresh != stored {
                execute(
                    &tx,
                    "UPDATE rooms SET deadline_ms = $2 WHERE room_id = $1",
                    &[&(room.room_id as i64), &fresh],
                )
                .await
                .with_context(|| format!("recomputing the deadline of room {}", room.room_id))?;
                changed += 1;
            }
        }
        commit(tx).await?;
    }
    Ok(changed)
}

/// GetRooms' filter: app, the bounded start-time range, overlap, and the status bitmask.
macro_rules! rooms_filter {
    () => {
        " FROM rooms WHERE sdk_app_id = $1 AND start_time BETWEEN $2 AND $3 AND end_time >= $4 \
         AND ($5::bigint = 0 OR (($5::bigint >> status::int) & 1) = 1)"
    };
}

pub(crate) const COUNT_ROOMS: &str = concat!("SELECT COUNT(*)", rooms_filter!());

pub(crate) const PAGE_OF_ROOMS: &str = concat!(
    "SELECT ",
    room_columns!(),
    rooms_filter!(),
    " ORDER BY start_time, room_id LIMIT $6 OFFSET $7"
);

pub(crate) async fn list_rooms(
    c: &mut Client,
    query_: &RoomQuery,
) -> Result<(u64, Vec<Room>), Error> {
    let Ok(sdk_app_id) = i64::try_from(query_.sdk_app_id) else {
        return Ok((0, Vec::new()));
    };
    // COUNT and the page must see the same snapshot, or Total could disagree with the page.
    let tx = snapshot(c).await?;
    let longest: Option<i64> = query_opt(
        &tx,
        "SELECT max_room_secs FROM apps WHERE sdk_app_id = $1",
        &[&sdk_app_id],
    )
    .await
    .context("looking up an app for GetRooms")?
    .map(|row| rows::get(&row, 0))
    .transpose()?;
    let Some(longest) = longest else {
        return Ok((0, Vec::new()));
    };
    let [lowest_start, window_end, window_start, mask] = query_.filter(longest);
    let filter: [&(dyn ToSql + Sync); 5] = [
        &sdk_app_id,
        &lowest_start,
        &window_end,
        &window_start,
        &mask,
    ];
    let total: i64 = rows::get(
        &query_one(&tx, COUNT_ROOMS, &filter)
            .await
            .context("counting rooms for GetRooms")?,
        0,
    )?;
    let mut page = Vec::new();
    if total > 0 {
        let (limit, offset) = query_.limit_offset();
        let params = [&filter[..], &[&limit, &offset]].concat();
        let found = query(&tx, PAGE_OF_ROOMS, &params)
            .await
            .context("listing rooms for GetRooms")?;
        page = rows::all(&found, rows::room)?;
    }
    commit(tx).await?;
    Ok((total.max(0) as u64, page))
}
