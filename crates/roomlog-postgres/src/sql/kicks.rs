//! KickUserFromRoom's bars, and the kick itself (bar + the quit of a present user).

use std::collections::HashSet;

use deadpool_postgres::Transaction;

use roomlog_core::lifecycle::LifecyclePolicy;
use roomlog_core::{EventType, KickBars, NewEvent, RoomId, RoomStatus, StoreError};

use crate::error::{Context, Error};
use crate::rows;
use crate::sql::events::Recorder;
use crate::sql::rooms::{lock_room, room_key, save_log_state};
use crate::sql::{commit, execute, presence, query, write, Client};
use roomlog_core::presence::{Action, Change};

/// The bars on record for the users `events` would let in (their MemberJoins), for admission:
/// one query for the whole batch, none when it lets nobody in.
pub(crate) async fn bars_for(
    tx: &Transaction<'_>,
    room: i64,
    events: &[NewEvent],
) -> Result<KickBars, Error> {
    let joining: HashSet<&str> = events
        .iter()
        .filter(|e| e.event_type == EventType::MemberJoin)
        .filter_map(|e| e.data.user_id.as_deref())
        .collect();
    let mut bars = KickBars::new();
    if joining.is_empty() {
        return Ok(bars);
    }
    let users: Vec<&str> = joining.into_iter().collect();
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

/// The store's `kick_user`: bars the user and, if present, records `quit` closing all their
/// sessions, in one transaction. Returns whether the user was present.
pub(crate) async fn kick(
    c: &mut Client,
    room_id: RoomId,
    user: &str,
    until_ms: Option<i64>,
    quit: NewEvent,
    policy: &LifecyclePolicy,
) -> Result<bool, Error> {
    let tx = write(c).await?;
    let locked = lock_room(&tx, room_id).await?;
    if !matches!(
        locked.room.status,
        RoomStatus::NotStarted | RoomStatus::InClass
    ) {
        return Err(StoreError::WrongStatus(locked.room.status).into());
    }
    let key = locked.key();
    execute(
        &tx,
        "INSERT INTO kicks (room_id, user_id, until_ms) VALUES ($1, $2, $3)
         ON CONFLICT (room_id, user_id) DO UPDATE SET until_ms = excluded.until_ms",
        &[&key, &user, &until_ms],
    )
    .await
    .with_context(|| format!("barring `{user}` from room {room_id}"))?;
    if !presence::is_present(&tx, key, user).await? {
        commit(tx).await?;
        return Ok(false);
    }
    let seq = locked.room.last_seq + 1;
    Recorder::open(&tx, &locked)
        .await?
        .record(&tx, seq, &[&quit])
        .await?;
    // The kick closes every session, whatever Device the quit event carries.
    let change = Change {
        user,
        action: Action::Quit { device: None },
        at_ms: quit.timestamp_ms,
        seq,
    };
    let mut room = locked.room;
    room.occupancy = presence::apply(&tx, key, room.occupancy, &[change]).await?;
    room.last_seq = seq;
    save_log_state(&tx, &room, policy).await?;
    commit(tx).await?;
    Ok(true)
}

/// Lifts a bar; returns whether there was one. One statement: it needs no room lock (an append
/// racing it either sees the bar or does not, as with any order of the two).
pub(crate) async fn unblock(c: &Client, room_id: RoomId, user: &str) -> Result<bool, Error> {
    let Some(key) = room_key(room_id) else {
        return Ok(false);
    };
    let removed = execute(
        c,
        "DELETE FROM kicks WHERE room_id = $1 AND user_id = $2",
        &[&key, &user],
    )
    .await
    .with_context(|| format!("lifting the bar of `{user}` in room {room_id}"))?;
    Ok(removed > 0)
}

/// Drops every bar of the room (its class is over, or the room is deleted).
pub(crate) async fn clear(tx: &Transaction<'_>, room: i64) -> Result<(), Error> {
    execute(tx, "DELETE FROM kicks WHERE room_id = $1", &[&room])
        .await
        .with_context(|| format!("dropping the kick bars of room {room}"))?;
    Ok(())
}
