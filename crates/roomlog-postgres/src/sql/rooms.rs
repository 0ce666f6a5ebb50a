//! Rooms: creation, lookup and locking, the room row's writes with their deadlines, the
//! scheduler's queries, and GetRooms.
//!
//! Every write locks the room row first (`FOR UPDATE`) and checks the status it finds there:
//! two nodes racing to start, end or expire a room (their schedulers both saw it due) queue on
//! the lock, and the second finds the new status and gets `WrongStatus`.

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::types::ToSql;

use roomlog_core::lifecycle::{self, deadline_ms, LifecyclePolicy, Recording, RoomWrite};
use roomlog_core::store::row::{key, spec_columns};
use roomlog_core::store::sql::{
    APP_ACCOUNT, APP_LONGEST_ROOM, COUNT_ROOMS, DUE_ROOMS, NEXT_DEADLINE, PAGE_OF_ROOMS, ROOM,
    SAVE_LAST_SEQ, SAVE_SPEC, SAVE_STATUS,
};
use roomlog_core::{App, Room, RoomId, RoomQuery, RoomSpec, RoomStatus, StoreError, Written};

use crate::error::{saturating_i64, Context, Error};
use crate::rows::{self, room_columns};
use crate::sql::Client;
use crate::sql::{commit, execute, query, query_one, query_opt, snapshot, write};

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
    query_opt(c, ROOM, &[&key(room_id)])
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
    let row = query_opt(tx, ROOM_FOR_UPDATE, &[&key(room_id)])
        .await
        .with_context(|| format!("locking room {room_id}"))?
        .ok_or(StoreError::RoomNotFound)?;
    Ok(Locked {
        room: rows::room(&row)?,
        callback: rows::get::<Option<bool>>(&row, 12)?.unwrap_or(false),
    })
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
        RoomWrite::LastSeq => execute(tx, SAVE_LAST_SEQ, &[&last_seq, &key]).await,
        RoomWrite::Presence | RoomWrite::Status => {
            execute(
                tx,
                SAVE_STATUS,
                &[
                    &(room.status.code() as i64),
                    &room.real_start_ms,
                    &room.real_end_ms,
                    &last_seq,
                    &saturating_i64(room.occupancy.present),
                    &room.occupancy.empty_since_ms,
                    &recording.deadline_ms,
                    &key,
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
) -> Result<Written<Vec<RoomId>>, Error> {
    let sdk_app_id = key(app.sdk_app_id);
    let tx = write(c).await?;
    // The owner recorded on each room comes from the apps table itself, so a room's account
    // always matches its app's even if the caller's `App` is stale.
    let account_id: i64 = query_opt(&tx, APP_ACCOUNT, &[&sdk_app_id])
        .await
        .context("looking up the app of new rooms")?
        .map(|row| rows::get(&row, 0))
        .transpose()?
        .ok_or(StoreError::AppNotFound)?;
    let mut ids = Vec::with_capacity(specs.len());
    let mut longest = 0;
    for spec in specs {
        let columns = spec_columns(spec)?;
        longest = longest.max(columns.span);
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
                &columns.start,
                &columns.end,
                &created_at,
                &columns.json,
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
    Ok(lifecycle::created(ids))
}

pub(crate) async fn modify_room(
    c: &mut Client,
    room_id: RoomId,
    spec: RoomSpec,
    policy: &LifecyclePolicy,
) -> Result<Written<Room>, Error> {
    let tx = write(c).await?;
    let modified = lifecycle::modify(lock_room(&tx, room_id).await?.room, spec, policy)?;
    let room = &modified.value;
    let columns = spec_columns(&room.spec)?;
    execute(
        &tx,
        SAVE_SPEC,
        &[
            &columns.json,
            &columns.start,
            &columns.end,
            &deadline_ms(room, policy),
            &(room.room_id as i64),
        ],
    )
    .await
    .with_context(|| format!("modifying room {room_id}"))?;
    note_span(&tx, room.sdk_app_id as i64, columns.span).await?;
    commit(tx).await?;
    Ok(modified)
}

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

pub(crate) async fn list_rooms(
    c: &mut Client,
    query_: &RoomQuery,
) -> Result<(u64, Vec<Room>), Error> {
    let sdk_app_id = key(query_.sdk_app_id);
    // COUNT and the page must see the same snapshot, or Total could disagree with the page.
    let tx = snapshot(c).await?;
    let longest: Option<i64> = query_opt(&tx, APP_LONGEST_ROOM, &[&sdk_app_id])
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
