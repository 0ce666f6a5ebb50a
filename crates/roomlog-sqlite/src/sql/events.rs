//! The per-room event log's rows: inserts (appends are `recording::append`) and index-seek
//! reads.

use rusqlite::Connection;

use roomlog_core::store::row::{key, seq_range};
use roomlog_core::store::sql::{READ_RANGE, RENDER_RANGE, ROOM};
use roomlog_core::{EventRange, EventType, NewEvent, RoomId, RoomPage, StoreError, StoredEvent};

use crate::error::{saturating_i64, Context};
use crate::rows::{self, event_columns, u64_bits};

/// Is this event id recorded in the room? (The unique index, covering.)
pub(crate) const KNOWN_ID: &str = "SELECT 1 FROM events WHERE room_id = ?1 AND event_id = ?2";

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

/// Records one event at `seq` in the log (only: `recording` adds its outbox entry).
pub(crate) fn insert_event(
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

/// Events with seqs in `from .. to` (`row::seq_range`): a range seek on the primary key, so any
/// page costs the same however deep into the log it is.
pub(crate) fn read_range(
    conn: &Connection,
    room_id: RoomId,
    (from, to): (i64, i64),
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(READ_RANGE).context("reading events")?;
    // Sized up front: collecting an iterator of unknown length grows and copies the vector.
    let mut events = Vec::with_capacity(to.saturating_sub(from).clamp(0, 1000) as usize);
    stmt.query_map((key(room_id), from, to), rows::stored_event)
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
    let what = || format!("loading room {room_id}");
    let mut room_stmt = conn.prepare_cached(ROOM).with_context(what)?;
    let mut room_rows = room_stmt.query([key(room_id)]).with_context(what)?;
    let Some(row) = room_rows.next().with_context(what)? else {
        return Ok(None);
    };
    let mut page = RoomPage {
        room: rows::room(row).with_context(what)?,
        count: 0,
        events_json: Vec::new(),
    };
    if let Some((first_seq, limit)) = range(&page.room) {
        render_range(conn, room_id, seq_range(first_seq, limit), &mut page)?;
    }
    // Resets the room statement: the read transaction ends here.
    drop(room_rows);
    Ok(Some(page))
}

/// [`read_range`]'s events, rendered into `page` as they are stepped through.
fn render_range(
    conn: &Connection,
    room_id: RoomId,
    (from, to): (i64, i64),
    page: &mut RoomPage,
) -> Result<(), StoreError> {
    let what = || format!("reading the events of room {room_id}");
    let mut stmt = conn
        .prepare_cached(RENDER_RANGE)
        .context("reading events")?;
    let mut rows = stmt.query((key(room_id), from, to)).with_context(what)?;
    // ~110 bytes per event as the benchmark's events render; more only grows once or twice.
    page.events_json
        .reserve(to.saturating_sub(from).clamp(0, 1000) as usize * 128);
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
    let mut stmt = conn
        .prepare_cached(READ_OF_TYPE)
        .context("reading events of a type")?;
    let events = stmt
        .query_map(
            (
                key(room_id),
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
