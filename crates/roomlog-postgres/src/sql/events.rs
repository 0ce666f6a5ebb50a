//! The per-room event log's rows: the columns of an insert (appends are `recording::append`)
//! and index-seek reads.

use tokio_postgres::types::ToSql;

use roomlog_core::store::row::{key, seq_range};
use roomlog_core::store::sql::{READ_RANGE, RENDER_RANGE};
use roomlog_core::store::{EventRange, RoomPage};
use roomlog_core::{EventType, NewEvent, RoomId, StoredEvent};

use crate::error::{saturating_i64, Context, Error};
use crate::rows::{self, event_columns, u64_bits};
use crate::sql::rooms::load_room;
use crate::sql::{query, Client};

/// One type's events after a seq: a range seek on `events_by_type`.
pub(crate) const READ_OF_TYPE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE room_id = $1 AND event_type = $2 AND seq > $3 ORDER BY seq LIMIT $4"
);

/// A batch of events as column arrays, for one `INSERT ... SELECT FROM UNNEST(...)` (the event
/// columns of both `events` and `deliveries`).
pub(crate) struct EventColumns<'a> {
    pub seq: Vec<i64>,
    pub event_id: Vec<&'a str>,
    pub event_type: Vec<i64>,
    pub timestamp_ms: Vec<i64>,
    pub user_id: Vec<Option<&'a str>>,
    pub device: Vec<Option<i64>>,
    pub role: Vec<Option<i64>>,
    pub reason: Vec<Option<i64>>,
    pub duration: Vec<Option<i64>>,
    pub record_size: Vec<Option<i64>>,
    pub record_url: Vec<Option<&'a str>>,
}

impl<'a> EventColumns<'a> {
    /// `events` numbered `first_seq, first_seq + 1, ...`.
    pub(crate) fn new(first_seq: u64, events: &[&'a NewEvent]) -> EventColumns<'a> {
        let mut columns = EventColumns {
            seq: Vec::with_capacity(events.len()),
            event_id: Vec::with_capacity(events.len()),
            event_type: Vec::with_capacity(events.len()),
            timestamp_ms: Vec::with_capacity(events.len()),
            user_id: Vec::with_capacity(events.len()),
            device: Vec::with_capacity(events.len()),
            role: Vec::with_capacity(events.len()),
            reason: Vec::with_capacity(events.len()),
            duration: Vec::with_capacity(events.len()),
            record_size: Vec::with_capacity(events.len()),
            record_url: Vec::with_capacity(events.len()),
        };
        for (event, seq) in events.iter().zip(first_seq..) {
            let data = &event.data;
            columns.seq.push(saturating_i64(seq));
            columns.event_id.push(&event.event_id);
            columns.event_type.push(event.event_type.code());
            columns.timestamp_ms.push(event.timestamp_ms);
            columns.user_id.push(data.user_id.as_deref());
            columns.device.push(u64_bits(data.device));
            columns.role.push(u64_bits(data.role));
            columns.reason.push(u64_bits(data.reason));
            columns.duration.push(u64_bits(data.duration));
            columns.record_size.push(u64_bits(data.record_size));
            columns.record_url.push(data.record_url.as_deref());
        }
        columns
    }

    /// `room` then the eleven arrays, in the order of the event columns: `$1` to `$12` of both
    /// inserts (the outbox's appends its own after them).
    pub(crate) fn params<'p>(&'p self, room: &'p i64) -> Vec<&'p (dyn ToSql + Sync)> {
        vec![
            room,
            &self.seq,
            &self.event_id,
            &self.event_type,
            &self.timestamp_ms,
            &self.user_id,
            &self.device,
            &self.role,
            &self.reason,
            &self.duration,
            &self.record_size,
            &self.record_url,
        ]
    }
}

/// Events with seqs in `from .. to` (`row::seq_range`): a range seek on the primary key.
pub(crate) async fn read_range(
    c: &Client,
    room_id: RoomId,
    (from, to): (i64, i64),
) -> Result<Vec<StoredEvent>, Error> {
    let found = query(c, READ_RANGE, &[&key(room_id), &from, &to])
        .await
        .with_context(|| format!("reading the events of room {room_id}"))?;
    rows::all(&found, rows::stored_event)
}

/// The store's `read_room_page`: the room, then the range of events `range` picks for it,
/// written straight from the rows into the page's JSON, on one connection: two round trips
/// (each statement prepared once per connection), where `get_room` + `read_events` take two
/// pool checkouts as well.
///
/// Not one snapshot (as the default implementation, which it matches byte for byte): a page
/// never reaches past the room's `last_seq` as read, and events below it only ever disappear
/// with the room (deletion) or its whole log (purge), so the two statements disagree only when
/// such a deletion commits between them. A REPEATABLE READ transaction would add round trips.
pub(crate) async fn read_room_page(
    c: &Client,
    room_id: RoomId,
    range: EventRange,
) -> Result<Option<RoomPage>, Error> {
    let Some(room) = load_room(c, room_id).await? else {
        return Ok(None);
    };
    let mut page = RoomPage {
        room,
        count: 0,
        events_json: Vec::new(),
    };
    if let Some((first_seq, limit)) = range(&page.room) {
        render_range(c, room_id, seq_range(first_seq, limit), &mut page).await?;
    }
    Ok(Some(page))
}

/// [`read_range`]'s events, rendered into `page` from the rows' borrowed column values.
async fn render_range(
    c: &Client,
    room_id: RoomId,
    (from, to): (i64, i64),
    page: &mut RoomPage,
) -> Result<(), Error> {
    let found = query(c, RENDER_RANGE, &[&key(room_id), &from, &to])
        .await
        .with_context(|| format!("reading the events of room {room_id}"))?;
    // ~110 bytes per event as the benchmark's events render.
    page.events_json.reserve(found.len() * 128);
    for row in &found {
        let event = rows::event_info_ref(room_id, row)?;
        if page.count > 0 {
            page.events_json.push(b',');
        }
        event.write_event_info(&mut page.events_json);
        page.count += 1;
    }
    Ok(())
}

/// Up to `limit` events of one type after `after_seq`, via `events_by_type`.
pub(crate) async fn read_of_type(
    c: &Client,
    room_id: RoomId,
    event_type: EventType,
    after_seq: u64,
    limit: u64,
) -> Result<Vec<StoredEvent>, Error> {
    let found = query(
        c,
        READ_OF_TYPE,
        &[
            &key(room_id),
            &event_type.code(),
            &saturating_i64(after_seq),
            &saturating_i64(limit),
        ],
    )
    .await
    .with_context(|| format!("reading the {event_type} events of room {room_id}"))?;
    rows::all(&found, rows::stored_event)
}
