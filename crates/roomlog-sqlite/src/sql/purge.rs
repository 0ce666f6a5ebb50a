//! Deleting events in bounded batches (retention purge, room deletion) and giving the space back.
//!
//! Each function here deletes at most `budget` events, so one writer command never holds the
//! write transaction for long: ingest keeps flowing between batches. Callers loop until `done`.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use roomlog_core::lifecycle;
use roomlog_core::store::PurgeStep;
use roomlog_core::{RoomId, StoreError};

use crate::connection::CHECKPOINT_BUSY_TIMEOUT;
use crate::error::Context;
use crate::sql::rooms::require_room;
use crate::sql::{attendance, deliveries, kicks, presence};

/// A bounded range delete on the primary key.
pub(crate) const DELETE_BELOW: &str = "DELETE FROM events WHERE room_id = ?1 AND seq < ?2";

/// Phrased to match the partial index `rooms_purge_queue`: ended rooms whose events are still
/// there and whose attendance is stored (until it is, the events are its source).
pub(crate) const NEXT_TO_PURGE: &str = "SELECT room_id FROM rooms \
     WHERE real_end_ms IS NOT NULL AND events_purged = 0 AND attendance_ready = 1 \
     AND real_end_ms <= ?1 ORDER BY real_end_ms, room_id LIMIT 1";

pub(crate) const PURGE_CANDIDATE: &str = "SELECT MIN(real_end_ms) FROM rooms \
     WHERE real_end_ms IS NOT NULL AND events_purged = 0 AND attendance_ready = 1";

/// Deletes up to `budget` of the room's oldest events; returns how many, and whether any remain.
fn delete_some_events(
    conn: &Connection,
    room: i64,
    budget: u64,
) -> Result<(u64, bool), StoreError> {
    let what = || format!("deleting events of room {room}");
    let first: Option<i64> = conn
        .prepare_cached("SELECT MIN(seq) FROM events WHERE room_id = ?1")
        .and_then(|mut stmt| stmt.query_row([room], |row| row.get(0)))
        .with_context(what)?;
    let Some(first) = first else {
        return Ok((0, false));
    };
    // Seqs are dense, so this range holds at most `budget` rows: a bounded range delete on the
    // primary key (no OFFSET, no LIMIT on DELETE, which stock SQLite lacks).
    let below = first.saturating_add(i64::try_from(budget.max(1)).unwrap_or(i64::MAX));
    let deleted = conn
        .prepare_cached(DELETE_BELOW)
        .and_then(|mut stmt| stmt.execute((room, below)))
        .with_context(what)?;
    let remaining = conn
        .prepare_cached("SELECT 1 FROM events WHERE room_id = ?1 LIMIT 1")
        .and_then(|mut stmt| stmt.exists([room]))
        .with_context(what)?;
    Ok((deleted as u64, remaining))
}

/// Deletes up to `budget` rows of a deleted room: its events, then its callback deliveries
/// (which the retention purge leaves alone, but which go with their room). Returns how many,
/// and whether any remain.
fn delete_some_of_room(
    conn: &Connection,
    room: i64,
    budget: u64,
) -> Result<(u64, bool), StoreError> {
    let (events, events_left) = delete_some_events(conn, room, budget)?;
    if events_left {
        return Ok((events, true));
    }
    let (deliveries, deliveries_left) =
        deliveries::delete_some_of_room(conn, room, budget.saturating_sub(events))?;
    Ok((events + deliveries, deliveries_left))
}

/// The first command of `delete_room`: the room row goes at once (so the room is gone for every
/// reader as soon as this commits) and with it the first batch of its events (and callback
/// deliveries); a room with more is queued in `deleted_rooms` until [`delete_orphaned_events`]
/// has removed the rest.
pub(crate) fn delete_room(
    conn: &Connection,
    room_id: RoomId,
    budget: u64,
) -> Result<PurgeStep, StoreError> {
    lifecycle::check_delete(&require_room(conn, room_id)?)?;
    let key = room_id as i64;
    conn.prepare_cached("DELETE FROM rooms WHERE room_id = ?1")
        .and_then(|mut stmt| stmt.execute([key]))
        .with_context(|| format!("deleting room {room_id}"))?;
    // What hangs off the room goes with it, at once: these are small next to the events (the
    // attendance of a 10,000-member class is 10,000 rows, one range delete).
    presence::clear(conn, key)?;
    kicks::clear(conn, key)?;
    attendance::delete(conn, key)?;
    // No more callbacks of it are handed out from now on; its deliveries go in the batches.
    deliveries::forget_head(conn, key)?;
    let (events, remaining) = delete_some_of_room(conn, key, budget)?;
    if remaining {
        conn.prepare_cached("INSERT OR IGNORE INTO deleted_rooms (room_id) VALUES (?1)")
            .and_then(|mut stmt| stmt.execute([key]))
            .with_context(|| format!("queueing the events of deleted room {room_id}"))?;
    }
    Ok(PurgeStep {
        rooms: u64::from(!remaining),
        events,
        done: !remaining,
    })
}

/// Continues deleting the events of a room [`delete_room`] removed.
pub(crate) fn delete_orphaned_events(
    conn: &Connection,
    room_id: RoomId,
    budget: u64,
) -> Result<PurgeStep, StoreError> {
    let key = room_id as i64;
    let (events, remaining) = delete_some_of_room(conn, key, budget)?;
    if !remaining {
        forget_deleted(conn, key)?;
    }
    Ok(PurgeStep {
        rooms: u64::from(!remaining),
        events,
        done: !remaining,
    })
}

fn forget_deleted(conn: &Connection, key: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM deleted_rooms WHERE room_id = ?1")
        .and_then(|mut stmt| stmt.execute([key]))
        .context("finishing a deleted room's cleanup")?;
    Ok(())
}

/// Finishes deletions an earlier run left half-done (the process stopped between batches).
pub(crate) fn drain_deleted_rooms(conn: &Connection, budget: u64) -> Result<PurgeStep, StoreError> {
    let mut step = PurgeStep::default();
    // Every pass deletes events or finishes a room, so this bounds the command's work even
    // when it meets many rooms without events.
    while step.events + step.rooms < budget {
        let next: Option<i64> = conn
            .prepare_cached("SELECT room_id FROM deleted_rooms ORDER BY room_id LIMIT 1")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)).optional())
            .context("finding deleted rooms to clean up")?;
        let Some(key) = next else {
            step.done = true;
            return Ok(step);
        };
        let (events, remaining) =
            delete_some_of_room(conn, key, budget - step.events - step.rooms)?;
        step.events += events;
        if !remaining {
            forget_deleted(conn, key)?;
            step.rooms += 1;
        }
    }
    Ok(step)
}

/// One batch of the retention purge: rooms that ended at or before `cutoff_ms` and still have
/// their events, oldest end first. A room is marked purged in the same transaction that deletes
/// its last events, so a room is never marked while events remain (an append that slips in
/// between two batches is deleted by the next one).
pub(crate) fn purge_some(
    conn: &Connection,
    cutoff_ms: i64,
    budget: u64,
) -> Result<PurgeStep, StoreError> {
    let mut step = PurgeStep::default();
    // Every pass deletes events or finishes a room, so this bounds the command's work even
    // when it meets many rooms without events.
    while step.events + step.rooms < budget {
        let next: Option<i64> = conn
            .prepare_cached(NEXT_TO_PURGE)
            .and_then(|mut stmt| stmt.query_row([cutoff_ms], |row| row.get(0)).optional())
            .context("finding rooms to purge")?;
        let Some(key) = next else {
            step.done = true;
            return Ok(step);
        };
        let (events, remaining) = delete_some_events(conn, key, budget - step.events - step.rooms)?;
        step.events += events;
        if !remaining {
            let marked = conn
                .prepare_cached("UPDATE rooms SET events_purged = 1 WHERE room_id = ?1")
                .and_then(|mut stmt| stmt.execute([key]))
                .with_context(|| format!("marking room {key} purged"))?;
            // The room was just selected in this transaction, so this cannot miss; if it ever
            // did, the same room would be selected again forever.
            if marked != 1 {
                return Err(StoreError::Backend(format!(
                    "room {key} could not be marked purged"
                )));
            }
            step.rooms += 1;
        }
    }
    Ok(step)
}

pub(crate) fn next_purge_candidate(conn: &Connection) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(PURGE_CANDIDATE)
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .context("finding the next room to purge")
}

/// Moves up to `pages` free pages to the end of the file and truncates them away (in WAL mode
/// the file shrinks at the next checkpoint). Returns the free pages left. Run outside the group
/// transaction, in its own, so it is one bounded step like the deletes.
pub(crate) fn incremental_vacuum(conn: &Connection, pages: u32) -> Result<u64, StoreError> {
    conn.execute_batch(&format!("PRAGMA incremental_vacuum({pages})"))
        .context("reclaiming free pages")?;
    free_pages(conn)
}

pub(crate) fn free_pages(conn: &Connection) -> Result<u64, StoreError> {
    let count: i64 = conn
        .pragma_query_value(None, "freelist_count", |row| row.get(0))
        .context("counting free pages")?;
    Ok(count.max(0) as u64)
}

/// Copies the WAL into the database and truncates it to zero bytes, so the space a purge freed
/// leaves the disk now rather than at some later checkpoint. It waits for readers at most
/// [`CHECKPOINT_BUSY_TIMEOUT`] (this runs on the writer thread); if readers are still busy the
/// checkpoint is partial and the next one finishes the job. Returns whether it completed.
pub(crate) fn checkpoint_truncate(
    conn: &Connection,
    busy_timeout: Duration,
) -> Result<bool, StoreError> {
    conn.busy_timeout(CHECKPOINT_BUSY_TIMEOUT)
        .context("checkpointing the WAL")?;
    let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        row.get::<_, i64>(0)
    });
    conn.busy_timeout(busy_timeout)
        .context("restoring the busy timeout")?;
    let busy = result.context("checkpointing the WAL")?;
    Ok(busy == 0)
}
