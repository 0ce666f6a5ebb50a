//! KickUserFromRoom's bars (the kick itself is `recording::kick`).

use rusqlite::{Connection, OptionalExtension};

use roomlog_core::lifecycle::KickWrite;
use roomlog_core::store::row::key;
use roomlog_core::store::sql::{BAR_USER, CLEAR_BARS, LIFT_BAR};
use roomlog_core::{KickBars, RoomId, StoreError};

use crate::error::Context;

/// Does the room have any bar? One seek, so a batch of joins into a room nobody was kicked from
/// (nearly every batch) looks up nothing per user.
pub(crate) const ROOM_HAS_BARS: &str = "SELECT 1 FROM kicks WHERE room_id = ?1 LIMIT 1";

/// One user's bar: the primary key.
pub(crate) const BAR_OF: &str = "SELECT until_ms FROM kicks WHERE room_id = ?1 AND user_id = ?2";

/// The bars on record for `users` (those a batch lets in), for admission.
pub(crate) fn bars_of(
    conn: &Connection,
    room: i64,
    users: &[&str],
) -> Result<KickBars, StoreError> {
    let what = || format!("looking up the kick bars of room {room}");
    let any = conn
        .prepare_cached(ROOM_HAS_BARS)
        .and_then(|mut stmt| stmt.exists([room]))
        .with_context(what)?;
    let mut bars = KickBars::new();
    if !any {
        return Ok(bars);
    }
    let mut stmt = conn.prepare_cached(BAR_OF).with_context(what)?;
    for user in users {
        let bar: Option<Option<i64>> = stmt
            .query_row((room, user), |row| row.get(0))
            .optional()
            .with_context(what)?;
        if let Some(until) = bar {
            bars.insert((*user).to_owned(), until);
        }
    }
    Ok(bars)
}

/// Writes what a recording does to the room's bars.
pub(crate) fn write(conn: &Connection, room: i64, write: &KickWrite) -> Result<(), StoreError> {
    match write {
        KickWrite::Unchanged => Ok(()),
        KickWrite::Bar { user, until_ms } => {
            conn.prepare_cached(BAR_USER)
                .and_then(|mut stmt| stmt.execute((room, user, until_ms)))
                .with_context(|| format!("barring `{user}` from room {room}"))?;
            Ok(())
        }
        KickWrite::Clear => clear(conn, room),
    }
}

/// Lifts a bar; returns whether there was one.
pub(crate) fn unblock(conn: &Connection, room_id: RoomId, user: &str) -> Result<bool, StoreError> {
    let removed = conn
        .prepare_cached(LIFT_BAR)
        .and_then(|mut stmt| stmt.execute((key(room_id), user)))
        .with_context(|| format!("lifting the bar of `{user}` in room {room_id}"))?;
    Ok(removed > 0)
}

/// Drops every bar of the room (its class is over, or the room is deleted).
pub(crate) fn clear(conn: &Connection, room: i64) -> Result<(), StoreError> {
    conn.prepare_cached(CLEAR_BARS)
        .and_then(|mut stmt| stmt.execute([room]))
        .with_context(|| format!("dropping the kick bars of room {room}"))?;
    Ok(())
}
