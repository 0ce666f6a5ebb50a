//! Deleting events in bounded batches (retention purge, room deletion).
//!
//! Each function here is one transaction deleting at most `budget` rows, so ingest into the
//! rooms involved waits for one batch at most. Callers loop until `done`.
//!
//! Several nodes purge at once: a batch takes the rooms it works on with
//! `FOR UPDATE SKIP LOCKED`, so each room is worked on by one node at a time and the others
//! move on to other rooms (or finish, leaving it to the node that has it). Every deletion is
//! counted by the node whose statement deleted it, so the nodes' counts add up to what was
//! deleted, once.

use deadpool_postgres::Transaction;

use roomlog_core::lifecycle;
use roomlog_core::store::PurgeStep;
use roomlog_core::{RoomId, StoreError};

use crate::error::{saturating_i64, Context, Error};
use crate::rows;
use crate::sql::rooms::lock_room;
use crate::sql::{
    attendance, commit, deliveries, execute, kicks, presence, query_one, query_opt, write, Client,
};

/// The next room to purge: ended, events still there, attendance stored, ended by the cutoff,
/// and not being purged by another node (the partial index `rooms_purge_queue`).
pub(crate) const NEXT_TO_PURGE: &str = "SELECT room_id FROM rooms \
     WHERE real_end_ms IS NOT NULL AND events_purged = 0 AND attendance_ready = 1 \
     AND real_end_ms <= $1 ORDER BY real_end_ms, room_id LIMIT 1 FOR UPDATE SKIP LOCKED";

pub(crate) const PURGE_CANDIDATE: &str = "SELECT MIN(real_end_ms) FROM rooms \
     WHERE real_end_ms IS NOT NULL AND events_purged = 0 AND attendance_ready = 1";

/// Deletes up to `budget` of the room's oldest events; returns how many, and whether any remain.
async fn delete_some_events(
    tx: &Transaction<'_>,
    room: i64,
    budget: u64,
) -> Result<(u64, bool), Error> {
    let what = || format!("deleting events of room {room}");
    let first: Option<i64> = rows::get(
        &query_one(
            tx,
            "SELECT MIN(seq) FROM events WHERE room_id = $1",
            &[&room],
        )
        .await
        .with_context(what)?,
        0,
    )?;
    let Some(first) = first else {
        return Ok((0, false));
    };
    // Seqs are dense, so this range holds at most `budget` rows: a bounded range delete on the
    // primary key.
    let below = first.saturating_add(saturating_i64(budget.max(1)));
    let deleted = execute(
        tx,
        "DELETE FROM events WHERE room_id = $1 AND seq < $2",
        &[&room, &below],
    )
    .await
    .with_context(what)?;
    let remaining = query_opt(
        tx,
        "SELECT 1 FROM events WHERE room_id = $1 LIMIT 1",
        &[&room],
    )
    .await
    .with_context(what)?
    .is_some();
    Ok((deleted, remaining))
}

/// Deletes up to `budget` rows of a deleted room: its events, then its callback deliveries.
/// Returns how many, and whether any remain.
async fn delete_some_of_room(
    tx: &Transaction<'_>,
    room: i64,
    budget: u64,
) -> Result<(u64, bool), Error> {
    let (events, events_left) = delete_some_events(tx, room, budget).await?;
    if events_left {
        return Ok((events, true));
    }
    let (deliveries, deliveries_left) =
        deliveries::delete_some_of_room(tx, room, budget.saturating_sub(events)).await?;
    Ok((events + deliveries, deliveries_left))
}

/// The first transaction of `delete_room`: the room row goes at once (the room is gone for
/// everyone as soon as this commits) and with it the first batch of its events and callback
/// deliveries; a room with more is queued in `deleted_rooms` until the rest is removed.
pub(crate) async fn delete_room(
    c: &mut Client,
    room_id: RoomId,
    budget: u64,
) -> Result<PurgeStep, Error> {
    let tx = write(c).await?;
    let locked = lock_room(&tx, room_id).await?;
    lifecycle::check_delete(&locked.room)?;
    let key = locked.key();
    execute(&tx, "DELETE FROM rooms WHERE room_id = $1", &[&key])
        .await
        .with_context(|| format!("deleting room {room_id}"))?;
    // What hangs off the room goes with it, at once: these are small next to the events.
    presence::clear(&tx, key).await?;
    kicks::clear(&tx, key).await?;
    attendance::delete(&tx, key).await?;
    // No more callbacks of it are handed out from now on; its deliveries go in the batches.
    deliveries::forget_head(&tx, key).await?;
    let (events, remaining) = delete_some_of_room(&tx, key, budget).await?;
    if remaining {
        execute(
            &tx,
            "INSERT INTO deleted_rooms (room_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&key],
        )
        .await
        .with_context(|| format!("queueing the events of deleted room {room_id}"))?;
    }
    commit(tx).await?;
    Ok(PurgeStep {
        rooms: u64::from(!remaining),
        events,
        done: !remaining,
    })
}

/// Continues deleting the rows of a room [`delete_room`] removed (unless a purge on some node
/// finished it meanwhile).
pub(crate) async fn delete_orphaned_events(
    c: &mut Client,
    room_id: RoomId,
    budget: u64,
) -> Result<PurgeStep, Error> {
    let key = room_id as i64;
    let tx = write(c).await?;
    let queued = query_opt(
        &tx,
        "SELECT 1 FROM deleted_rooms WHERE room_id = $1 FOR UPDATE",
        &[&key],
    )
    .await
    .with_context(|| format!("finding deleted room {room_id}"))?
    .is_some();
    if !queued {
        commit(tx).await?;
        return Ok(PurgeStep {
            rooms: 0,
            events: 0,
            done: true,
        });
    }
    let (events, remaining) = delete_some_of_room(&tx, key, budget).await?;
    if !remaining {
        forget_deleted(&tx, key).await?;
    }
    commit(tx).await?;
    Ok(PurgeStep {
        rooms: u64::from(!remaining),
        events,
        done: !remaining,
    })
}

async fn forget_deleted(tx: &Transaction<'_>, key: i64) -> Result<(), Error> {
    execute(tx, "DELETE FROM deleted_rooms WHERE room_id = $1", &[&key])
        .await
        .context("finishing a deleted room's cleanup")?;
    Ok(())
}

/// Finishes deletions an earlier run left half-done (a process stopped between batches).
pub(crate) async fn drain_deleted_rooms(c: &mut Client, budget: u64) -> Result<PurgeStep, Error> {
    let tx = write(c).await?;
    let mut step = PurgeStep::default();
    // Every pass deletes rows or finishes a room, so this bounds the transaction's work even
    // when it meets many rooms without rows.
    while step.events + step.rooms < budget {
        let next = query_opt(
            &tx,
            "SELECT room_id FROM deleted_rooms ORDER BY room_id LIMIT 1 FOR UPDATE SKIP LOCKED",
            &[],
        )
        .await
        .context("finding deleted rooms to clean up")?;
        let Some(next) = next else {
            step.done = true;
            break;
        };
        let key: i64 = rows::get(&next, 0)?;
        let (events, remaining) =
            delete_some_of_room(&tx, key, budget - step.events - step.rooms).await?;
        step.events += events;
        if !remaining {
            forget_deleted(&tx, key).await?;
            step.rooms += 1;
        } else {
            // Out of budget with this room unfinished: the next batch goes on with it.
            break;
        }
    }
    commit(tx).await?;
    Ok(step)
}

/// One batch of the retention purge: rooms that ended at or before `cutoff_ms` and still have
/// their events, oldest end first. A room is marked purged in the same transaction that deletes
/// its last events, so a room is never marked while events remain.
pub(crate) async fn purge_some(
    c: &mut Client,
    cutoff_ms: i64,
    budget: u64,
) -> Result<PurgeStep, Error> {
    let tx = write(c).await?;
    let mut step = PurgeStep::default();
    while step.events + step.rooms < budget {
        let next = query_opt(&tx, NEXT_TO_PURGE, &[&cutoff_ms])
            .await
            .context("finding rooms to purge")?;
        let Some(next) = next else {
            step.done = true;
            break;
        };
        let key: i64 = rows::get(&next, 0)?;
        let (events, remaining) =
            delete_some_events(&tx, key, budget - step.events - step.rooms).await?;
        step.events += events;
        if remaining {
            break;
        }
        // Locked by this transaction since it was selected, so this cannot miss; if it ever
        // did, the same room would be selected again forever.
        let marked = execute(
            &tx,
            "UPDATE rooms SET events_purged = 1 WHERE room_id = $1",
            &[&key],
        )
        .await
        .with_context(|| format!("marking room {key} purged"))?;
        if marked != 1 {
            return Err(
                StoreError::Backend(format!("room {key} could not be marked purged")).into(),
            );
        }
        step.rooms += 1;
    }
    commit(tx).await?;
    Ok(step)
}

pub(crate) async fn next_purge_candidate(c: &Client) -> Result<Option<i64>, Error> {
    rows::get(
        &query_one(c, PURGE_CANDIDATE, &[])
            .await
            .context("finding the next room to purge")?,
        0,
    )
}
