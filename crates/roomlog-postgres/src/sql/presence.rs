//! Presence as stored: one `presence` row per user in the room (their open sessions packed in
//! it, as JSON, exactly as the SQLite store keeps them), and the room's count in
//! `rooms.present_members` / `rooms.empty_since_ms`.
//!
//! A batch of member events is folded in memory ([`roomlog_core::presence`]) into the users it
//! names, loaded with one query, and only the users it changed are written back, with one upsert
//! and one delete. The room row is locked throughout (by the caller), so nothing else changes the
//! room's presence meanwhile.

use std::collections::HashMap;

use deadpool_postgres::Transaction;

use roomlog_core::{Page, PresentMember, RoomId};

use crate::error::{corrupt, saturating_i64, Context, Error};
use crate::rows::{self, from_bits, u64_bits};
use crate::sql::{commit, execute, query, query_opt, snapshot, Client};
use roomlog_core::presence::{PresenceWrite, UserPresence};
use roomlog_core::store::row::key;

/// Who is in, in order of arrival (DescribeCurrentMemberList, and the quits RoomEnd records:
/// `LIMIT NULL` is all of them).
pub(crate) const PRESENT_IN_ORDER: &str = "SELECT user_id, role, device, joined_ms, devices \
     FROM presence WHERE room_id = $1 ORDER BY arrival_seq LIMIT $2 OFFSET $3";

/// The stored presence of `users` in the room (absent users are not in the map): one query,
/// none for no users.
pub(crate) async fn load(
    tx: &Transaction<'_>,
    room: i64,
    users: &[&str],
) -> Result<HashMap<String, UserPresence>, Error> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let found = query(
        tx,
        "SELECT user_id, role, device, sessions FROM presence
         WHERE room_id = $1 AND user_id = ANY($2)",
        &[&room, &users],
    )
    .await
    .with_context(|| format!("loading the presence of room {room}"))?;
    let mut stored = HashMap::with_capacity(found.len());
    for row in &found {
        let user: String = rows::get(row, 0)?;
        let (role, device) = (from_bits(rows::get(row, 1)?), from_bits(rows::get(row, 2)?));
        let state = UserPresence::from_stored(role, device, rows::get(row, 3)?)
            .map_err(|e| corrupt(format!("the presence of `{user}` in room {room}: {e}")))?;
        stored.insert(user, state);
    }
    Ok(stored)
}

/// Writes what a recording does to the room's presence rows: one delete for the users gone,
/// one upsert for those still in.
pub(crate) async fn write(
    tx: &Transaction<'_>,
    room: i64,
    write: &PresenceWrite,
) -> Result<(), Error> {
    let users = match write {
        PresenceWrite::Unchanged => return Ok(()),
        PresenceWrite::Clear => return clear(tx, room).await,
        PresenceWrite::Users(users) => users,
    };
    let mut gone: Vec<&str> = Vec::new();
    let mut upsert = Upsert::default();
    for (user, after) in users {
        match (after.arrival_seq(), after.joined_ms()) {
            (Some(arrival), Some(joined_ms)) => upsert.push(user, after, arrival, joined_ms),
            _ => gone.push(user),
        }
    }
    let what = || format!("storing the presence of room {room}");
    if !gone.is_empty() {
        execute(
            tx,
            "DELETE FROM presence WHERE room_id = $1 AND user_id = ANY($2)",
            &[&room, &gone],
        )
        .await
        .with_context(what)?;
    }
    if !upsert.user_id.is_empty() {
        execute(
            tx,
            "INSERT INTO presence
                 (room_id, user_id, arrival_seq, joined_ms, devices, role, device, sessions)
             SELECT $1, * FROM UNNEST($2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                                      $6::bigint[], $7::bigint[], $8::text[])
             ON CONFLICT (room_id, user_id) DO UPDATE SET
                 arrival_seq = excluded.arrival_seq, joined_ms = excluded.joined_ms,
                 devices = excluded.devices, role = excluded.role, device = excluded.device,
                 sessions = excluded.sessions",
            &[
                &room,
                &upsert.user_id,
                &upsert.arrival_seq,
                &upsert.joined_ms,
                &upsert.devices,
                &upsert.role,
                &upsert.device,
                &upsert.sessions,
            ],
        )
        .await
        .with_context(what)?;
    }
    Ok(())
}

/// The users still present after a batch, as column arrays.
#[derive(Default)]
struct Upsert<'a> {
    user_id: Vec<&'a str>,
    arrival_seq: Vec<i64>,
    joined_ms: Vec<i64>,
    devices: Vec<i64>,
    role: Vec<Option<i64>>,
    device: Vec<Option<i64>>,
    sessions: Vec<String>,
}

impl<'a> Upsert<'a> {
    fn push(&mut self, user: &'a str, state: &UserPresence, arrival: u64, joined_ms: i64) {
        self.user_id.push(user);
        self.arrival_seq.push(saturating_i64(arrival));
        self.joined_ms.push(joined_ms);
        self.devices.push(state.sessions.len() as i64);
        self.role.push(u64_bits(state.role));
        self.device.push(u64_bits(state.device));
        self.sessions.push(state.sessions_json());
    }
}

/// Everyone present, in order of arrival.
pub(crate) async fn present_in_order(
    tx: &Transaction<'_>,
    room: i64,
) -> Result<Vec<PresentMember>, Error> {
    let found = query(tx, PRESENT_IN_ORDER, &[&room, &None::<i64>, &0i64])
        .await
        .with_context(|| format!("listing the users present in room {room}"))?;
    rows::all(&found, rows::present_member)
}

/// Empties the room (its class ended, or it is deleted).
pub(crate) async fn clear(tx: &Transaction<'_>, room: i64) -> Result<(), Error> {
    execute(tx, "DELETE FROM presence WHERE room_id = $1", &[&room])
        .await
        .with_context(|| format!("clearing the presence of room {room}"))?;
    Ok(())
}

/// DescribeCurrentMemberList: `(users present, the page)`, in order of arrival, read in one
/// snapshot so the total and the page agree.
pub(crate) async fn current_members(
    c: &mut Client,
    room_id: RoomId,
    page: Page,
) -> Result<(u64, Vec<PresentMember>), Error> {
    let key = key(room_id);
    let tx = snapshot(c).await?;
    let total: Option<i64> = query_opt(
        &tx,
        "SELECT present_members FROM rooms WHERE room_id = $1",
        &[&key],
    )
    .await
    .context("counting the members present")?
    .map(|row| rows::get(&row, 0))
    .transpose()?;
    let total = total.unwrap_or(0).max(0) as u64;
    let mut members = Vec::new();
    if let Some((first, count)) = page.range(total) {
        let found = query(
            &tx,
            PRESENT_IN_ORDER,
            &[&key, &saturating_i64(count), &saturating_i64(first - 1)],
        )
        .await
        .with_context(|| format!("listing the members present in room {room_id}"))?;
        members = rows::all(&found, rows::present_member)?;
    }
    commit(tx).await?;
    Ok((total, members))
}
