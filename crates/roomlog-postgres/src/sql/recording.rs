//! The writes that record events or change a room's lifecycle (append, start, end, expire,
//! kick): one transaction each, which locks the room row, loads the rows the write builds on,
//! asks `roomlog_core` what the write does (a [`Recording`]), and writes that.
//!
//! Whatever node it runs on, a write to one room therefore runs after the others: each sees
//! every event committed before it (READ COMMITTED: every statement after the lock reads the
//! latest commits), checks its ids against them, and takes its sequence numbers from
//! `rooms.last_seq` — dense, gap-free, each id recorded once. The unique index on
//! (room_id, event_id) backs the check up.

use std::collections::HashSet;

use deadpool_postgres::Transaction;

use roomlog_core::ingest::{distinct_ids, Batch};
use roomlog_core::lifecycle::{self, LifecyclePolicy, Recording};
use roomlog_core::{Admission, AppendOutcome, NewEvent, Room, RoomId, StoreError, Written};

use crate::error::{Context, Error};
use crate::rows;
use crate::sql::deliveries::Outbox;
use crate::sql::events::EventColumns;
use crate::sql::rooms::{lock_room, save};
use crate::sql::{commit, execute, kicks, presence, query, write, Client};

/// Records `events` at `first_seq, first_seq + 1, ...` in one locked room: in the log and,
/// while the room's app has a callback URL (`callback`, as seen when the room was locked), as
/// pending deliveries in the outbox, in the same transaction (an acknowledged event cannot lose
/// its callback).
async fn insert_events(
    tx: &Transaction<'_>,
    room: &Room,
    callback: bool,
    first_seq: u64,
    events: &[&NewEvent],
) -> Result<(), Error> {
    let key = room.room_id as i64;
    let columns = EventColumns::new(first_seq, events);
    execute(
        tx,
        "INSERT INTO events (room_id, seq, event_id, event_type, timestamp_ms, user_id,
                             device, role, reason, duration, record_size, record_url)
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
                                  $6::text[], $7::bigint[], $8::bigint[], $9::bigint[],
                                  $10::bigint[], $11::bigint[], $12::text[])",
        &columns.params(&key),
    )
    .await
    .with_context(|| format!("recording {} events in room {key}", events.len()))?;
    // The outbox confirms the callback under a lock of its own.
    if callback {
        if let Some(mut outbox) = Outbox::open(tx, room).await? {
            outbox.add(tx, &columns, events).await?;
        }
    }
    Ok(())
}

/// Writes what `recording` says: its events (log and outbox), presence, kick bars, room row.
async fn record(tx: &Transaction<'_>, callback: bool, recording: &Recording) -> Result<(), Error> {
    let key = recording.room.room_id as i64;
    if !recording.events.is_empty() {
        let events: Vec<&NewEvent> = recording.events.iter().collect();
        let first_seq = recording.first_seq();
        insert_events(tx, &recording.room, callback, first_seq, &events).await?;
    }
    presence::write(tx, key, &recording.presence).await?;
    kicks::write(tx, key, &recording.kicks).await?;
    save(tx, recording).await
}

/// The store's `append_events`: one transaction, holding the room's lock throughout.
pub(crate) async fn append(
    c: &mut Client,
    room_id: RoomId,
    events: Vec<NewEvent>,
    admit: Admission,
    policy: &LifecyclePolicy,
) -> Result<Written<AppendOutcome>, Error> {
    let tx = write(c).await?;
    let locked = lock_room(&tx, room_id).await?;
    let key = locked.key();
    let ids = distinct_ids(&events);
    let known: HashSet<String> = if ids.is_empty() {
        HashSet::new()
    } else {
        query(
            &tx,
            "SELECT event_id FROM events WHERE room_id = $1 AND event_id = ANY($2)",
            &[&key, &ids],
        )
        .await
        .with_context(|| format!("checking event ids in room {room_id}"))?
        .iter()
        .map(|row| rows::get(row, 0))
        .collect::<Result<_, _>>()?
    };
    let batch = Batch::new(events, |id| Ok::<_, Error>(known.contains(id)))?;
    if let Some(outcome) = batch.nothing_new(&locked.room) {
        tx.rollback().await.context("finishing an append")?;
        return Ok(outcome);
    }
    let bars = kicks::bars_of(&tx, key, &batch.joining_users()).await?;
    if let Err(refusal) = admit(&locked.room, &batch.fresh, &bars) {
        tx.rollback().await.context("finishing a refused append")?;
        return Err(StoreError::Rejected(refusal).into());
    }
    let stored = presence::load(&tx, key, &batch.member_users()).await?;
    let (recording, outcome) = batch.record(locked.room, stored, policy);
    record(&tx, locked.callback, &recording).await?;
    commit(tx).await?;
    Ok(recording.written(outcome))
}

/// The store's `start_room`.
pub(crate) async fn start(
    c: &mut Client,
    room_id: RoomId,
    event: NewEvent,
    policy: &LifecyclePolicy,
) -> Result<Written<Room>, Error> {
    let tx = write(c).await?;
    let locked = lock_room(&tx, room_id).await?;
    let recording = lifecycle::start(locked.room, event, policy)?;
    record(&tx, locked.callback, &recording).await?;
    commit(tx).await?;
    Ok(recording.into_room())
}

/// The store's `end_room`.
pub(crate) async fn end(
    c: &mut Client,
    room_id: RoomId,
    event: NewEvent,
    policy: &LifecyclePolicy,
) -> Result<Written<Room>, Error> {
    let tx = write(c).await?;
    let locked = lock_room(&tx, room_id).await?;
    let present = presence::present_in_order(&tx, locked.key()).await?;
    let recording = lifecycle::end(locked.room, &present, event, policy)?;
    record(&tx, locked.callback, &recording).await?;
    commit(tx).await?;
    Ok(recording.into_room())
}

/// The store's `expire_room`.
pub(crate) async fn expire(
    c: &mut Client,
    room_id: RoomId,
    policy: &LifecyclePolicy,
) -> Result<Written<Room>, Error> {
    let tx = write(c).await?;
    let locked = lock_room(&tx, room_id).await?;
    let recording = lifecycle::expire(locked.room, policy)?;
    record(&tx, locked.callback, &recording).await?;
    commit(tx).await?;
    Ok(recording.into_room())
}

/// The store's `kick_user`: returns whether the user was present.
pub(crate) async fn kick(
    c: &mut Client,
    room_id: RoomId,
    user: &str,
    until_ms: Option<i64>,
    quit: NewEvent,
    policy: &LifecyclePolicy,
) -> Result<Written<bool>, Error> {
    let tx = write(c).await?;
    let locked = lock_room(&tx, room_id).await?;
    let stored = presence::load(&tx, locked.key(), &[user])
        .await?
        .remove(user)
        .unwrap_or_default();
    let recording = lifecycle::kick(locked.room, user, until_ms, quit, stored, policy)?;
    record(&tx, locked.callback, &recording).await?;
    commit(tx).await?;
    Ok(recording.written(!recording.events.is_empty()))
}
