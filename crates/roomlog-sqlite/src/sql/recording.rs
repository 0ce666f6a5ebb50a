//! The writes that record events or change a room's lifecycle (append, start, end, expire,
//! kick), each run inside the writer's savepoint: it loads the rows the write builds on, asks
//! `roomlog_core` what the write does (a [`Recording`]), and writes that.

use rusqlite::Connection;

use roomlog_core::ingest::Batch;
use roomlog_core::lifecycle::{self, LifecyclePolicy, Recording};
use roomlog_core::{Admission, AppendOutcome, NewEvent, Room, RoomId, StoreError, Written};

use crate::error::Context;
use crate::sql::deliveries::Outbox;
use crate::sql::events::{insert_event, KNOWN_ID};
use crate::sql::rooms::{require_room, save};
use crate::sql::{kicks, presence};

/// Writes what `recording` says: its events (log and outbox), presence, kick bars, room row.
fn write(conn: &Connection, recording: &Recording) -> Result<(), StoreError> {
    let key = recording.room.room_id as i64;
    if !recording.events.is_empty() {
        // Each event goes in the log and, while the room's app has a callback URL, in the outbox
        // as a pending delivery, in the same savepoint: an acknowledged event cannot lose its
        // callback. The callback is looked up once per write: with none, that seek is all the
        // outbox costs.
        let mut outbox = Outbox::for_room(conn, &recording.room)?;
        for (seq, event) in recording.numbered() {
            insert_event(conn, key, seq, event)?;
            if let Some(outbox) = &mut outbox {
                outbox.add(conn, seq, event)?;
            }
        }
    }
    presence::write(conn, key, &recording.presence)?;
    kicks::write(conn, key, &recording.kicks)?;
    save(conn, recording)
}

/// The store's `append_events`.
pub(crate) fn append(
    conn: &Connection,
    room_id: RoomId,
    events: Vec<NewEvent>,
    admit: Admission,
    policy: &LifecyclePolicy,
) -> Result<Written<AppendOutcome>, StoreError> {
    let room = require_room(conn, room_id)?;
    let key = room_id as i64;
    let mut known = conn
        .prepare_cached(KNOWN_ID)
        .context("checking event ids")?;
    let batch = Batch::new(events, |id| {
        known.exists((key, id)).context("checking event ids")
    })?;
    if let Some(outcome) = batch.nothing_new(&room) {
        return Ok(outcome);
    }
    let bars = kicks::bars_of(conn, key, &batch.joining_users())?;
    admit(&room, &batch.fresh, &bars)?;
    let stored = presence::load(conn, key, &batch.member_users())?;
    let (recording, outcome) = batch.record(room, stored, policy);
    write(conn, &recording)?;
    Ok(recording.written(outcome))
}

/// The store's `start_room`.
pub(crate) fn start(
    conn: &Connection,
    room_id: RoomId,
    event: NewEvent,
    policy: &LifecyclePolicy,
) -> Result<Written<Room>, StoreError> {
    let recording = lifecycle::start(require_room(conn, room_id)?, event, policy)?;
    write(conn, &recording)?;
    Ok(recording.into_room())
}

/// The store's `end_room`.
pub(crate) fn end(
    conn: &Connection,
    room_id: RoomId,
    event: NewEvent,
    policy: &LifecyclePolicy,
) -> Result<Written<Room>, StoreError> {
    let room = require_room(conn, room_id)?;
    let present = presence::present_in_order(conn, room_id as i64)?;
    let recording = lifecycle::end(room, &present, event, policy)?;
    write(conn, &recording)?;
    Ok(recording.into_room())
}

/// The store's `expire_room`.
pub(crate) fn expire(
    conn: &Connection,
    room_id: RoomId,
    policy: &LifecyclePolicy,
) -> Result<Written<Room>, StoreError> {
    let recording = lifecycle::expire(require_room(conn, room_id)?, policy)?;
    write(conn, &recording)?;
    Ok(recording.into_room())
}

/// The store's `kick_user`: returns whether the user was present.
pub(crate) fn kick(
    conn: &Connection,
    room_id: RoomId,
    user: &str,
    until_ms: Option<i64>,
    quit: NewEvent,
    policy: &LifecyclePolicy,
) -> Result<Written<bool>, StoreError> {
    let room = require_room(conn, room_id)?;
    let stored = presence::load(conn, room_id as i64, &[user])?
        .remove(user)
        .unwrap_or_default();
    let recording = lifecycle::kick(room, user, until_ms, quit, stored, policy)?;
    write(conn, &recording)?;
    Ok(recording.written(!recording.events.is_empty()))
}
