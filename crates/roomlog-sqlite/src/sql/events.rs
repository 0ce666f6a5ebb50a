//! The per-room event log: idempotent, admission-checked appends with dense sequence numbers,
//! and index-seek reads.

use std::collections::HashSet;

use rusqlite::Connection;

use roomlog_core::lifecycle::LifecyclePolicy;
use roomlog_core::{
    Admission, AppendOutcome, EventRange, EventType, NewEvent, Room, RoomId, RoomPage, StoreError,
    StoredEvent,
};

use crate::error::{saturating_i64, Context};
use crate::rows::{self, event_columns, u64_bits};
use crate::sql::deliveries::Outbox;
use crate::sql::kicks;
use crate::sql::presence as sql_presence;
use crate::sql::rooms::{deadline, require_room, room_key, save_log_state, SELECT_ROOM};
use roomlog_core::presence;

/// Is this event id recorded in the room? (The unique index, covering.)
pub(crate) const KNOWN_ID: &str = "SELECT 1 FROM events WHERE room_id = ?1 AND event_id = ?2";

/// A page of the log: a range seek on the primary key.
pub(crate) const READ_RANGE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE room_id = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq"
);

/// [`READ_RANGE`] with only the columns GetRoomEvent shows (`EventInfo` has no event id or
/// seq, and the room id is the one asked for): fewer columns to decode per row.
pub(crate) const RENDER_RANGE: &str = concat!(
    "SELECT ",
    rows::event_info_columns!(),
    " FROM events WHERE room_id = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq"
);

/// One type's events after a seq: a range seek on `events_by_type`. Without statistics the
/// planner prefers walking the primary key (it yields seq order too, and avoids a second lookup
/// per row), which reads the whole room to find a rare type; INDEXED BY pins the right plan and
/// makes the statement fail to prepare, loudly, should the index ever go missing.
pub(crate) const READ_OF_TYPE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events INDEXED BY events_by_type",
    " WHERE room_id = ?1 AND event_type = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4"
);

/// Records a command's new events in one room: each in the log and, while the room's app has a
/// callback URL, as a pending delivery in the outbox, in the same savepoint (a transactional
/// outbox: an acknowledged event cannot lose its callback). Every path that records events
/// (append, start, end and its quits, kick) goes through here. The caller keeps
/// `rooms.last_seq` in step.
pub(crate) struct Recorder {
    room: i64,
    outbox: Option<Outbox>,
}

impl Recorder {
    /// Looks up the app's callback once for the whole command, not per event: with no callback
    /// that one seek is all the outbox costs.
    pub(crate) fn new(conn: &Connection, room: &Room) -> Result<Recorder, StoreError> {
        Ok(Recorder {
            room: room.room_id as i64,
            outbox: Outbox::for_room(conn, room)?,
        })
    }

    /// Records `event` at `seq`.
    pub(crate) fn record(
        &mut self,
        conn: &Connection,
        seq: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        insert_event(conn, self.room, seq, event)?;
        if let Some(outbox) = &mut self.outbox {
            outbox.add(conn, seq, event)?;
        }
        Ok(())
    }
}

/// Records one event at `seq` in the log (only; see [`Recorder`]).
fn insert_event(
    conn: &Connection,
    room_key: i64,
    seq: u64,
    event: &NewEvent,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO events (room_id, seq, event_id, event_type, timestamp_ms, user_id, device,
                             role, reason, duration, record_size, record_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut stmt| {
        let data = &event.data;
        stmt.execute(rusqlite::params![
            room_key,
            seq as i64,
            event.event_id,
            event.event_type.code(),
            event.timestamp_ms,
            data.user_id,
            u64_bits(data.device),
            u64_bits(data.role),
            u64_bits(data.reason),
            u64_bits(data.duration),
            u64_bits(data.record_size),
            data.record_url,
        ])
    })
    .with_context(|| format!("recording event {:?} of room {room_key}", event.event_id))?;
    Ok(())
}

/// The store's `append_events`, run inside the writer's savepoint: everything it does is undone
/// if it returns an error.
pub(crate) fn append(
    conn: &Connection,
    room_id: RoomId,
    events: Vec<NewEvent>,
    admit: Admission,
    policy: &LifecyclePolicy,
) -> Result<AppendOutcome, StoreError> {
    let mut room = require_room(conn, room_id)?;
    let key = room_id as i64;

    // Drop what the room already has and what repeats an id earlier in the batch: a retried
    // batch is answered with its duplicates, never recorded twice.
    let mut is_new = Vec::with_capacity(events.len());
    {
        let mut seen: HashSet<&str> = HashSet::with_capacity(events.len());
        let mut known = conn
            .prepare_cached(KNOWN_ID)
            .context("checking event ids")?;
        for event in &events {
            let fresh = seen.insert(event.event_id.as_str())
                && !known
                    .exists((key, event.event_id.as_str()))
                    .context("checking event ids")?;
            is_new.push(fresh);
        }
    }
    let total = events.len() as u64;
    let fresh: Vec<NewEvent> = events
        .into_iter()
        .zip(is_new)
        .filter_map(|(event, new)| new.then_some(event))
        .collect();
    let duplicates = total - fresh.len() as u64;
    if fresh.is_empty() {
        // Nothing to record, so nothing to admit: a retry of a batch acknowledged before the
        // class ended must still succeed.
        return Ok(AppendOutcome {
            accepted: 0,
            duplicates,
            last_seq: room.last_seq,
        });
    }

    let bars = kicks::bars_for(conn, key, &fresh)?;
    admit(&room, &fresh, &bars)?;

    let first_seq = room.last_seq + 1;
    let mut seq = room.last_seq;
    let mut recorder = Recorder::new(conn, &room)?;
    for event in &fresh {
        seq += 1;
        recorder.record(conn, seq, event)?;
    }
    let changes = presence::changes(first_seq, &fresh);
    if changes.is_empty() {
        // The hot path of media and recording events: only the sequence moves.
        conn.prepare_cached("UPDATE rooms SET last_seq = ?2 WHERE room_id = ?1")
            .and_then(|mut stmt| stmt.execute((key, seq as i64)))
            .with_context(|| format!("advancing the sequence of room {room_id}"))?;
    } else {
        let deadline_before = deadline(&room, policy);
        room.occupancy = sql_presence::apply(conn, key, room.occupancy, &changes)?;
        room.last_seq = seq;
        save_log_state(conn, &room, deadline_before, policy)?;
    }
    Ok(AppendOutcome {
        accepted: fresh.len() as u64,
        duplicates,
        last_seq: seq,
    })
}

/// Events with `first_seq <= seq < first_seq + limit`: a range seek on the primary key, so any
/// page costs the same however deep into the log it is.
pub(crate) fn read_range(
    conn: &Connection,
    room_id: RoomId,
    first_seq: u64,
    limit: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let Some(key) = room_key(room_id) else {
        return Ok(Vec::new());
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let end = saturating_i64(first_seq.saturating_add(limit));
    let mut stmt = conn.prepare_cached(READ_RANGE).context("reading events")?;
    // Sized up front: collecting an iterator of unknown length grows and copies the vector.
    let mut events = Vec::with_capacity(limit.min(1000) as usize);
    stmt.query_map((key, saturating_i64(first_seq), end), rows::stored_event)
        .and_then(|rows| {
            for event in rows {
                events.push(event?);
            }
            Ok(())
        })
        .with_context(|| format!("reading the events of room {room_id}"))?;
    Ok(events)
}

/// The store's `read_room_page`: the room, then the range of events `range` picks for it
/// written straight from the rows into the page's JSON, in ONE read transaction (one snapshot:
/// the page agrees with the room's `last_seq`, and the WAL read lock is taken once).
///
/// Without `BEGIN`/`COMMIT`: SQLite keeps a connection's implicit read transaction open while
/// any of its statements is active (stepped, not yet reset), so the room statement is kept
/// active until the page is read. That is the same snapshot for two statements fewer, which
/// mattered when the page itself is cached by the server and the room is all that is read.
pub(crate) fn read_room_page(
    conn: &Connection,
    room_id: RoomId,
    range: EventRange,
) -> Result<Option<RoomPage>, StoreError> {
    let Some(key) = room_key(room_id) else {
        return Ok(None);
    };
    let what = || format!("loading room {room_id}");
    let mut room_stmt = conn.prepare_cached(SELECT_ROOM).with_context(what)?;
    let mut room_rows = room_stmt.query([key]).with_context(what)?;
    let Some(row) = room_rows.next().with_context(what)? else {
        return Ok(None);
    };
    let mut page = RoomPage {
        room: rows::room(row).with_context(what)?,
        count: 0,
        events_json: Vec::new(),
    };
    if let Some((first_seq, limit)) = range(&page.room) {
        render_range(conn, room_id, first_seq, limit, &mut page)?;
    }
    // Resets the room statement: the read transaction ends here.
    drop(room_rows);
    Ok(Some(page))
}

/// [`read_range`]'s events, rendered into `page` as they are stepped through.
fn render_range(
    conn: &Connection,
    room_id: RoomId,
    first_seq: u64,
    limit: u64,
    page: &mut RoomPage,
) -> Result<(), StoreError> {
    let Some(key) = room_key(room_id) else {
        return Ok(());
    };
    if limit == 0 {
        return Ok(());
    }
    let what = || format!("reading the events of room {room_id}");
    let end = saturating_i64(first_seq.saturating_add(limit));
    let mut stmt = conn
        .prepare_cached(RENDER_RANGE)
        .context("reading events")?;
    let mut rows = stmt
        .query((key, saturating_i64(first_seq), end))
        .with_context(what)?;
    // ~110 bytes per event as the benchmark's events render; more only grows once or twice.
    page.events_json.reserve(limit.min(1000) as usize * 128);
    while let Some(row) = rows.next().with_context(what)? {
        let event = rows::event_info_ref(room_id, row).with_context(what)?;
        if page.count > 0 {
            page.events_json.push(b',');
        }
        event.write_event_info(&mut page.events_json);
        page.count += 1;
    }
    Ok(())
}

/// Up to `limit` events of one type after `after_seq`, via the (room_id, event_type, seq) index.
pub(crate) fn read_of_type(
    conn: &Connection,
    room_id: RoomId,
    event_type: EventType,
    after_seq: u64,
    limit: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let Some(key) = room_key(room_id) else {
        return Ok(Vec::new());
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare_cached(READ_OF_TYPE)
        .context("reading events of a type")?;
    let events = stmt
        .query_map(
            (
                key,
                event_type.code(),
                saturating_i64(after_seq),
                saturating_i64(limit),
            ),
            rows::stored_event,
        )
        .and_then(|rows| rows.collect())
        .with_context(|| format!("reading the {event_type} events of room {room_id}"))?;
    Ok(events)
}
