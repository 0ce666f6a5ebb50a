//! Presence as stored: one `presence` row per user in the room (their open sessions packed in
//! it), and the room's count in `rooms.present_members` / `rooms.empty_since_ms`.
//!
//! A batch of member events is folded in memory ([`roomlog_core::presence`]) into the users it
//! names, loaded once each, and only the users it changed are written back: an append costs a
//! seek and a write per distinct user it mentions, and nothing at all for events that are not
//! member events.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

use roomlog_core::{Page, PresentMember, RoomId, StoreError};

use crate::error::{saturating_i64, Context};
use crate::rows::{self, from_bits, u64_bits};
use roomlog_core::presence::{PresenceWrite, UserPresence};
use roomlog_core::store::row::key;

/// A user's presence: the primary key.
pub(crate) const PRESENT_USER: &str =
    "SELECT role, device, sessions FROM presence WHERE room_id = ?1 AND user_id = ?2";

/// Who is in, in order of arrival (DescribeCurrentMemberList, and the quits RoomEnd records).
pub(crate) const PRESENT_IN_ORDER: &str = "SELECT user_id, role, device, joined_ms, devices \
     FROM presence WHERE room_id = ?1 ORDER BY arrival_seq LIMIT ?2 OFFSET ?3";

/// The stored presence of `users` in the room (absent users are not in the map): a seek each.
pub(crate) fn load(
    conn: &Connection,
    room: i64,
    users: &[&str],
) -> Result<HashMap<String, UserPresence>, StoreError> {
    let mut stored = HashMap::with_capacity(users.len());
    for user in users {
        let what = || format!("loading the presence of `{user}` in room {room}");
        let row: Option<(Option<i64>, Option<i64>, String)> = conn
            .prepare_cached(PRESENT_USER)
            .and_then(|mut stmt| {
                stmt.query_row((room, user), |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
            })
            .with_context(what)?;
        if let Some((role, device, sessions)) = row {
            let state = UserPresence::from_stored(from_bits(role), from_bits(device), &sessions)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", what())))?;
            stored.insert((*user).to_owned(), state);
        }
    }
    Ok(stored)
}

/// Writes the new state of one user whose state changed.
fn store_user(
    conn: &Connection,
    room: i64,
    user: &str,
    after: &UserPresence,
) -> Result<(), StoreError> {
    let what = || format!("storing the presence of `{user}` in room {room}");
    let (Some(arrival), Some(joined_ms)) = (after.arrival_seq(), after.joined_ms()) else {
        // Gone: no sessions left.
        conn.prepare_cached("DELETE FROM presence WHERE room_id = ?1 AND user_id = ?2")
            .and_then(|mut stmt| stmt.execute((room, user)))
            .with_context(what)?;
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT OR REPLACE INTO presence
             (room_id, user_id, arrival_seq, joined_ms, devices, role, device, sessions)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut stmt| {
        stmt.execute(rusqlite::params![
            room,
            user,
            saturating_i64(arrival),
            joined_ms,
            after.sessions.len() as i64,
            u64_bits(after.role),
            u64_bits(after.device),
            after.sessions_json(),
        ])
    })
    .with_context(what)?;
    Ok(())
}

/// Writes what a recording does to the room's presence rows.
pub(crate) fn write(conn: &Connection, room: i64, write: &PresenceWrite) -> Result<(), StoreError> {
    match write {
        PresenceWrite::Unchanged => Ok(()),
        PresenceWrite::Users(users) => users
            .iter()
            .try_for_each(|(user, after)| store_user(conn, room, user, after)),
        PresenceWrite::Clear => clear(conn, room),
    }
}

/// Everyone present, in order of arrival.
pub(crate) fn present_in_order(
    conn: &Connection,
    room: i64,
) -> Result<Vec<PresentMember>, StoreError> {
    let mut stmt = conn
        .prepare_cached(PRESENT_IN_ORDER)
        .context("listing the users present")?;
    let users = stmt
        .query_map((room, -1, 0), rows::present_member)
        .and_then(|rows| rows.collect())
        .with_context(|| format!("listing the users present in room {room}"))?;
    Ok(users)
}

/// Empties the room (its class ended, or it is deleted).
pub(crate) fn clear(conn: &Connection, room: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM presence WHERE room_id = ?1")
        .and_then(|mut stmt| stmt.execute([room]))
        .with_context(|| format!("clearing the presence of room {room}"))?;
    Ok(())
}

/// DescribeCurrentMemberList: `(users present, the page)`, in order of arrival. The total and the
/// page are read in one snapshot so they agree.
pub(crate) fn current_members(
    conn: &Connection,
    room_id: RoomId,
    page: Page,
) -> Result<(u64, Vec<PresentMember>), StoreError> {
    let key = key(room_id);
    let tx = conn
        .unchecked_transaction()
        .context("starting a member list read")?;
    let total: Option<i64> = tx
        .prepare_cached("SELECT present_members FROM rooms WHERE room_id = ?1")
        .and_then(|mut stmt| stmt.query_row([key], |row| row.get(0)).optional())
        .context("counting the members present")?;
    let total = total.unwrap_or(0).max(0) as u64;
    let mut members = Vec::new();
    if let Some((first, count)) = page.range(total) {
        let mut stmt = tx
            .prepare_cached(PRESENT_IN_ORDER)
            .context("listing the members present")?;
        members = stmt
            .query_map(
                (key, saturating_i64(count), saturating_i64(first - 1)),
                rows::present_member,
            )
            .and_then(|rows| rows.collect())
            .with_context(|| format!("listing the members present in room {room_id}"))?;
    }
    tx.finish().context("finishing a member list read")?;
    Ok((total, members))
}
