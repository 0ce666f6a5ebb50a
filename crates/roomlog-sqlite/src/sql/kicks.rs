//! KickUserFromRoom's bars, and the kick itself (bar + the quit of a present user).

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension};

use roomlog_core::lifecycle::LifecyclePolicy;
use roomlog_core::{EventType, KickBars, NewEvent, RoomId, RoomStatus, StoreError};

use crate::error::Context;
use crate::sql::events::Recorder;
use crate::sql::presence;
use crate::sql::rooms::{deadline, require_room, room_key, save_log_state};
use roomlog_core::presence::{Action, Change};

/// Does the room have any bar? One seek, so a batch of joins into a room nobody was kicked from
/// (nearly every batch) looks up nothing per user.
pub(crate) const ROOM_HAS_BARS: &str = "SELECT 1 FROM kicks WHERE room_id = ?1 LIMIT 1";

/// One user's bar: the primary key.
pub(crate) const BAR_OF: &str = "SELECT until_ms FROM kicks WHERE room_id = ?1 AND user_id = ?2";

/// The bars on record for the users `events` would let in (their MemberJoins), for admission.
pub(crate) fn bars_for(
    conn: &Connection,
    room: i64,
    events: &[NewEvent],
) -> Result<KickBars, StoreError> {
    let joining: HashSet<&str> = events
        .iter()
        .filter(|e| e.event_type == EventType::MemberJoin)
        .filter_map(|e| e.data.user_id.as_deref())
        .collect();
    let mut bars = KickBars::new();
    if joining.is_empty() {
        return Ok(bars);
    }
    let what = || format!("looking up the kick bars of room {room}");
    let any = conn
        .prepare_cached(ROOM_HAS_BARS)
        .and_then(|mut stmt| stmt.exists([room]))
        .with_context(what)?;
    if !any {
        return Ok(bars);
    }
    let mut stmt = conn.prepare_cached(BAR_OF).with_context(what)?;
    for user in joining {
        let bar: Option<Option<i64>> = stmt
            .query_row((room, user), |row| row.get(0))
            .optional()
            .with_context(what)?;
        if let Some(until) = bar {
            bars.insert(user.to_owned(), until);
        }
    }
    Ok(bars)
}

/// The store's `kick_user`: bars the user and, if present, records `quit` closing all their
/// sessions, in the caller's savepoint. Returns whether the user was present.
pub(crate) fn kick(
    conn: &Connection,
    room_id: RoomId,
    user: &str,
    until_ms: Option<i64>,
    quit: NewEvent,
    policy: &LifecyclePolicy,
) -> Result<bool, StoreError> {
    let mut room = require_room(conn, room_id)?;
    if !matches!(room.status, RoomStatus::NotStarted | RoomStatus::InClass) {
        return Err(StoreError::WrongStatus(room.status));
    }
    let key = room_id as i64;
    conn.prepare_cached(
        "INSERT INTO kicks (room_id, user_id, until_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (room_id, user_id) DO UPDATE SET until_ms = excluded.until_ms",
    )
    .and_then(|mut stmt| stmt.execute((key, user, until_ms)))
    .with_context(|| format!("barring `{user}` from room {room_id}"))?;
    if !presence::is_present(conn, key, user)? {
        return Ok(false);
    }
    let seq = room.last_seq + 1;
    Recorder::new(conn, &room)?.record(conn, seq, &quit)?;
    // The kick closes every session, whatever Device the quit event carries.
    let change = Change {
        user,
        action: Action::Quit { device: None },
        at_ms: quit.timestamp_ms,
        seq,
    };
    let deadline_before = deadline(&room, policy);
    room.occupancy = presence::apply(conn, key, room.occupancy, &[change])?;
    room.last_seq = seq;
    save_log_state(conn, &room, deadline_before, policy)?;
    Ok(true)
}

/// Lifts a bar; returns whether there was one.
pub(crate) fn unblock(conn: &Connection, room_id: RoomId, user: &str) -> Result<bool, StoreError> {
    let Some(key) = room_key(room_id) else {
        return Ok(false);
    };
    let removed = conn
        .prepare_cached("DELETE FROM kicks WHERE room_id = ?1 AND user_id = ?2")
        .and_then(|mut stmt| stmt.execute((key, user)))
        .with_context(|| format!("lifting the bar of `{user}` in room {room_id}"))?;
    Ok(removed > 0)
}

/// Drops every bar of the room (its class is over, or the room is deleted).
pub(crate) fn clear(conn: &Connection, room: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM kicks WHERE room_id = ?1")
        .and_then(|mut stmt| stmt.execute([room]))
        .with_context(|| format!("dropping the kick bars of room {room}"))?;
    Ok(())
}
