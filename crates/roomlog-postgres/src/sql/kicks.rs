//! KickUserFromRoom's bars (the kick itself is `recording::kick`).

use deadpool_postgres::Transaction;

use roomlog_core::lifecycle::KickWrite;
use roomlog_core::store::row::key;
use roomlog_core::store::sql::{BAR_USER, CLEAR_BARS, LIFT_BAR};
use roomlog_core::{KickBars, RoomId};

use crate::error::{Context, Error};
use crate::rows;
use crate::sql::{execute, query, Client};

/// The bars on record for `users` (those a batch lets in), for admission: one query for the
/// whole batch, none when it lets nobody in.
pub(crate) async fn bars_of(
    tx: &Transaction<'_>,
    room: i64,
    users: &[&str],
) -> Result<KickBars, Error> {
    let mut bars = KickBars::new();
    if users.is_empty() {
        return Ok(bars);
    }
    let found = query(
        tx,
        "SELECT user_id, until_ms FROM kicks WHERE room_id = $1 AND user_id = ANY($2)",
        &[&room, &users],
    )
    .await
    .with_context(|| format!("looking up the kick bars of room {room}"))?;
    for row in &found {
        bars.insert(rows::get(row, 0)?, rows::get(row, 1)?);
    }
    Ok(bars)
}

/// Writes what a recording does to the room's bars.
pub(crate) async fn write(tx: &Transaction<'_>, room: i64, write: &KickWrite) -> Result<(), Error> {
    match write {
        KickWrite::Unchanged => Ok(()),
        KickWrite::Bar { user, until_ms } => {
            execute(tx, BAR_USER, &[&room, user, until_ms])
                .await
                .with_context(|| format!("barring `{user}` from room {room}"))?;
            Ok(())
        }
        KickWrite::Clear => clear(tx, room).await,
    }
}

/// Lifts a bar; returns whether there was one. One statement: it needs no room lock (an append
/// racing it either sees the bar or does not, as with any order of the two).
pub(crate) async fn unblock(c: &Client, room_id: RoomId, user: &str) -> Result<bool, Error> {
    let removed = execute(c, LIFT_BAR, &[&key(room_id), &user])
        .await
        .with_context(|| format!("lifting the bar of `{user}` in room {room_id}"))?;
    Ok(removed > 0)
}

/// Drops every bar of the room (its class is over, or the room is deleted).
pub(crate) async fn clear(tx: &Transaction<'_>, room: i64) -> Result<(), Error> {
    execute(tx, CLEAR_BARS, &[&room])
        .await
        .with_context(|| format!("dropping the kick bars of room {room}"))?;
    Ok(())
}
