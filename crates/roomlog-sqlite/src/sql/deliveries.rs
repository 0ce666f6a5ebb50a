//! Callbacks: the apps' callback settings and the delivery outbox.
//!
//! `deliveries` holds one row per event recorded while its room's app had a callback URL,
//! written by the same command that records the event ([`Outbox`], through
//! `recording`); `delivery_heads` one row per room with a pending delivery, its head of
//! line. Every write here keeps them as `roomlog_core::callback::schedule` rules, in the same
//! savepoint; a head's `paused` (the app has no URL) keeps it out of the partial index the
//! worker reads, so a paused app costs the worker nothing (and cannot make it spin).
//!
//! Status codes in SQL text are literals (0 pending; see `DeliveryStatus::code`) because
//! the partial indexes only match queries that repeat their conditions literally.

use rusqlite::{params_from_iter, Connection, OptionalExtension};

use roomlog_core::callback::schedule::{self, Head, Lease};
use roomlog_core::callback::{
    AppCallback, AttemptOutcome, Delivery, DeliveryListing, DeliveryStatus,
};
use roomlog_core::store::row::key;
use roomlog_core::time::now_ms;
use roomlog_core::{NewEvent, Room, RoomId, SdkAppId, StoreError};

use crate::error::{saturating_i64, to_i64, Context};
use crate::rows::{self, delivery_columns};
use crate::sql::rooms::require_room;

// --- callback settings ---------------------------------------------------------------------------

/// Does the app have a callback URL? A primary-key seek on the small `apps` table: all that a
/// command recording events pays for the outbox while its app has no callback.
pub(crate) const APP_HAS_CALLBACK: &str =
    "SELECT callback_url <> '' FROM apps WHERE sdk_app_id = ?1";

fn load_callback(conn: &Connection, app: i64) -> Result<Option<AppCallback>, StoreError> {
    conn.prepare_cached("SELECT callback_url, callback_key FROM apps WHERE sdk_app_id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([app], |row| {
                Ok(AppCallback {
                    url: row.get(0)?,
                    key: row.get(1)?,
                })
            })
            .optional()
        })
        .with_context(|| format!("loading the callback of app {app}"))
}

pub(crate) fn app_callback(
    conn: &Connection,
    sdk_app_id: SdkAppId,
) -> Result<AppCallback, StoreError> {
    let Ok(app) = i64::try_from(sdk_app_id) else {
        return Err(StoreError::AppNotFound);
    };
    load_callback(conn, app)?.ok_or(StoreError::AppNotFound)
}

/// The store's `set_app_callback`: `None` keeps a setting, `Some("")` clears it.
pub(crate) fn set_app_callback(
    conn: &Connection,
    sdk_app_id: SdkAppId,
    url: Option<&str>,
    key: Option<&str>,
) -> Result<AppCallback, StoreError> {
    let Ok(app) = i64::try_from(sdk_app_id) else {
        return Err(StoreError::AppNotFound);
    };
    let before = load_callback(conn, app)?.ok_or(StoreError::AppNotFound)?;
    let after = before.updated(url, key);
    let what = || format!("setting the callback of app {app}");
    conn.prepare_cached(
        "UPDATE apps SET callback_url = ?2, callback_key = ?3 WHERE sdk_app_id = ?1",
    )
    .and_then(|mut stmt| stmt.execute((app, &after.url, &after.key)))
    .with_context(what)?;
    if let Some(paused) = before.pause_change(&after) {
        // The app's heads leave or rejoin the worker's index.
        conn.prepare_cached("UPDATE delivery_heads SET paused = ?2 WHERE sdk_app_id = ?1")
            .and_then(|mut stmt| stmt.execute((app, paused)))
            .with_context(what)?;
    }
    Ok(after)
}

// --- the outbox, written with the events ----------------------------------------------------------

/// A command's deliveries in one room, for a room whose app has a callback URL.
pub(crate) struct Outbox {
    room: i64,
    sdk_app_id: i64,
    /// Wall clock when the command began recording: the deliveries' `created_ms`, from which
    /// the delivery lag (commit to receipt) is measured.
    now_ms: i64,
    /// The room's head is known to exist (this command already wrote a delivery).
    head_ensured: bool,
}

impl Outbox {
    /// The room's outbox if its app has a callback URL now, else `None`: looked up once per
    /// command, not per event.
    pub(crate) fn for_room(conn: &Connection, room: &Room) -> Result<Option<Outbox>, StoreError> {
        let sdk_app_id = to_i64(room.sdk_app_id, "SdkAppId")?;
        let active: Option<bool> = conn
            .prepare_cached(APP_HAS_CALLBACK)
            .and_then(|mut stmt| stmt.query_row([sdk_app_id], |row| row.get(0)).optional())
            .with_context(|| format!("looking up the callback of app {sdk_app_id}"))?;
        Ok(active.unwrap_or(false).then(|| Outbox {
            room: room.room_id as i64,
            sdk_app_id,
            now_ms: now_ms(),
            head_ensured: false,
        }))
    }

    /// The pending delivery of the event just recorded at `seq`.
    pub(crate) fn add(
        &mut self,
        conn: &Connection,
        seq: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let due = schedule::first_due_ms(event.timestamp_ms, self.now_ms);
        let what = || format!("queueing the callback of event {seq} of room {}", self.room);
        // A copy of the event row just written: the delivery outlives the event's purge.
        conn.prepare_cached(
            "INSERT INTO deliveries (room_id, seq, event_id, event_type, timestamp_ms, user_id,
                                     device, role, reason, duration, record_size, record_url,
                                     sdk_app_id, status, attempts, next_attempt_ms, created_ms)
             SELECT room_id, seq, event_id, event_type, timestamp_ms, user_id, device, role,
                    reason, duration, record_size, record_url, ?3, 0, 0, ?4, ?5
             FROM events WHERE room_id = ?1 AND seq = ?2",
        )
        .and_then(|mut stmt| {
            let key = (self.room, saturating_i64(seq));
            stmt.execute((key.0, key.1, self.sdk_app_id, due, self.now_ms))
        })
        .with_context(what)?;
        if !self.head_ensured {
            // The room's head only if it had none.
            let head = Head::queued(seq, due);
            conn.prepare_cached(
                "INSERT INTO delivery_heads (room_id, sdk_app_id, head_seq, ready_ms, paused)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (room_id) DO NOTHING",
            )
            .and_then(|mut stmt| {
                let seq = saturating_i64(head.seq);
                stmt.execute((self.room, self.sdk_app_id, seq, head.ready_ms, head.paused))
            })
            .with_context(what)?;
            self.head_ensured = true;
        }
        Ok(())
    }
}

// --- the head of line -----------------------------------------------------------------------------

/// A room's lowest pending delivery and its next attempt: one seek on
/// `deliveries_by_app_status`. Without statistics the planner prefers walking the room's
/// primary key (it yields seq order too), which reads every delivered row before the first
/// pending one — at every attempt; INDEXED BY pins the seek.
pub(crate) const LOWEST_PENDING: &str = "SELECT seq, next_attempt_ms \
     FROM deliveries INDEXED BY deliveries_by_app_status \
     WHERE sdk_app_id = ?1 AND status = 0 AND room_id = ?2 ORDER BY seq LIMIT 1";

/// Makes the room's head what [`Head::of_lowest`] says of its lowest pending delivery.
fn refresh_head(
    conn: &Connection,
    room: i64,
    sdk_app_id: i64,
    lease: Option<Lease>,
    paused: bool,
) -> Result<(), StoreError> {
    let what = || format!("moving the callback head of line of room {room}");
    let lowest: Option<(i64, Option<i64>)> = conn
        .prepare_cached(LOWEST_PENDING)
        .and_then(|mut stmt| {
            stmt.query_row((sdk_app_id, room), |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .with_context(what)?;
    let lowest = lowest.map(|(seq, next)| (seq as u64, next));
    match Head::of_lowest(lowest, lease, paused) {
        None => forget_head(conn, room),
        Some(head) => write_head(conn, room, sdk_app_id, &head),
    }
}

fn write_head(
    conn: &Connection,
    room: i64,
    sdk_app_id: i64,
    head: &Head,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO delivery_heads
             (room_id, sdk_app_id, head_seq, ready_ms, leased_until_ms, leased_seq, paused)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (room_id) DO UPDATE SET
             head_seq = excluded.head_seq, ready_ms = excluded.ready_ms,
             leased_until_ms = excluded.leased_until_ms, leased_seq = excluded.leased_seq,
             paused = excluded.paused",
    )
    .and_then(|mut stmt| {
        stmt.execute(rusqlite::params![
            room,
            sdk_app_id,
            saturating_i64(head.seq),
            head.ready_ms,
            head.leased_until_ms,
            head.leased_seq.map(saturating_i64),
            head.paused
        ])
    })
    .with_context(|| format!("writing the callback head of line of room {room}"))?;
    Ok(())
}

/// Drops the room's head (nothing pending, or the room is deleted): nothing of it is handed out.
pub(crate) fn forget_head(conn: &Connection, room: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM delivery_heads WHERE room_id = ?1")
        .and_then(|mut stmt| stmt.execute([room]))
        .with_context(|| format!("dropping the callback head of line of room {room}"))?;
    Ok(())
}

/// The columns of a head row that [`head_at`] decodes, in its order.
macro_rules! head_columns {
    ($prefix:literal) => {
        concat!(
            $prefix,
            "head_seq, ",
            $prefix,
            "ready_ms, ",
            $prefix,
            "leased_until_ms, ",
            $prefix,
            "leased_seq, ",
            $prefix,
            "paused"
        )
    };
}

/// A head row's [`head_columns`], from column `first` of `row` on.
fn head_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Head> {
    Ok(Head {
        seq: row.get::<_, i64>(first)? as u64,
        ready_ms: row.get(first + 1)?,
        leased_until_ms: row.get(first + 2)?,
        leased_seq: row.get::<_, Option<i64>>(first + 3)?.map(|seq| seq as u64),
        paused: row.get(first + 4)?,
    })
}

// --- the worker's side ------------------------------------------------------------------------------

/// The heads due, earliest first: a range seek on the partial index `delivery_heads_ready` (ties
/// by room id, which every index entry ends with). Paused apps' heads are not in it.
pub(crate) const CLAIMABLE: &str = concat!(
    "SELECT room_id, sdk_app_id, ",
    head_columns!(""),
    " FROM delivery_heads WHERE paused = 0 AND ready_ms <= ?1 ORDER BY ready_ms, room_id LIMIT ?2"
);

/// Is any head due? The first entry of `delivery_heads_ready`, read before claiming.
pub(crate) const ANY_DUE: &str =
    "SELECT 1 FROM delivery_heads WHERE paused = 0 AND ready_ms <= ?1 LIMIT 1";

/// When the next head is due (leases included): the first entry of `delivery_heads_ready`.
pub(crate) const NEXT_DUE: &str = "SELECT MIN(ready_ms) FROM delivery_heads WHERE paused = 0";

const ONE_DELIVERY: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM deliveries WHERE room_id = ?1 AND seq = ?2"
);

fn load_delivery(conn: &Connection, room: i64, seq: i64) -> Result<Option<Delivery>, StoreError> {
    conn.prepare_cached(ONE_DELIVERY)
        .and_then(|mut stmt| stmt.query_row((room, seq), rows::delivery).optional())
        .with_context(|| format!("loading the delivery of event {seq} of room {room}"))
}

/// The store's `claim_due_deliveries`, in one writer command so no two claims hand out a head.
pub(crate) fn claim(
    conn: &Connection,
    now_ms: i64,
    lease_until_ms: i64,
    limit: u64,
) -> Result<Vec<Delivery>, StoreError> {
    let heads: Vec<(i64, i64, Head)> = conn
        .prepare_cached(CLAIMABLE)
        .and_then(|mut stmt| {
            stmt.query_map((now_ms, saturating_i64(limit)), |row| {
                Ok((row.get(0)?, row.get(1)?, head_at(row, 2)?))
            })?
            .collect()
        })
        .context("finding the callback deliveries due")?;
    let mut claimed = Vec::with_capacity(heads.len());
    for (room, sdk_app_id, head) in heads {
        match schedule::claimable(load_delivery(conn, room, saturating_i64(head.seq))?) {
            Some(delivery) => {
                // Handed out again only if the lease runs out (the worker holding it died):
                // that is what makes delivery at-least-once.
                write_head(conn, room, sdk_app_id, &head.leased(lease_until_ms))?;
                claimed.push(delivery);
            }
            None => {
                tracing::warn!(
                    room,
                    seq = head.seq,
                    "a callback head of line named no pending delivery; recomputing it"
                );
                refresh_head(conn, room, sdk_app_id, None, head.paused)?;
            }
        }
    }
    Ok(claimed)
}

pub(crate) fn any_due(conn: &Connection, now_ms: i64) -> Result<bool, StoreError> {
    conn.prepare_cached(ANY_DUE)
        .and_then(|mut stmt| stmt.exists([now_ms]))
        .context("looking for callback deliveries due")
}

pub(crate) fn next_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(NEXT_DUE)
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .context("finding the next callback delivery due")
}

/// Every leased head back to its delivery's planned attempt (see `Store::release_orphaned_leases`).
pub(crate) fn release_leases(conn: &Connection) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "UPDATE delivery_heads SET leased_until_ms = NULL, leased_seq = NULL,
             ready_ms = COALESCE((SELECT next_attempt_ms FROM deliveries d
                                  WHERE d.room_id = delivery_heads.room_id
                                    AND d.seq = delivery_heads.head_seq), ready_ms)
         WHERE leased_until_ms IS NOT NULL",
    )
    .and_then(|mut stmt| stmt.execute([]))
    .map(|n| n as u64)
    .map_err(|e| StoreError::Backend(format!("releasing delivery leases: {e}")))
}

/// The store's `record_attempt`: counted and noted always, settled as [`schedule::settles`]
/// says (and the head moved) only if it is the attempt that settles the room's head.
pub(crate) fn record_attempt(
    conn: &Connection,
    room_id: RoomId,
    seq: u64,
    outcome: AttemptOutcome,
) -> Result<(), StoreError> {
    let room = key(room_id);
    let key = (room, saturating_i64(seq));
    let what = || format!("recording a callback attempt of event {seq} of room {room}");
    // The delivery's app and its room's head, in one read: the single writer needs no locks.
    let found: Option<(i64, Option<Head>)> = conn
        .prepare_cached(concat!(
            "SELECT d.sdk_app_id, h.room_id IS NOT NULL, ",
            head_columns!("h."),
            " FROM deliveries d LEFT JOIN delivery_heads h ON h.room_id = d.room_id",
            " WHERE d.room_id = ?1 AND d.seq = ?2"
        ))
        .and_then(|mut stmt| {
            stmt.query_row(key, |row| {
                let has_head: bool = row.get(1)?;
                Ok((row.get(0)?, has_head.then(|| head_at(row, 2)).transpose()?))
            })
            .optional()
        })
        .with_context(what)?;
    // Forgotten meanwhile (its room was deleted): nothing left to record it on.
    let Some((sdk_app_id, head)) = found else {
        return Ok(());
    };
    let settled = schedule::settles(head, seq, &outcome);
    let (status, next_attempt) = settled.unzip();
    conn.prepare_cached(
        "UPDATE deliveries SET attempts = attempts + 1,
             first_attempt_ms = COALESCE(first_attempt_ms, ?3), last_attempt_ms = ?3,
             last_status = ?4, last_error = ?5, status = COALESCE(?6, status),
             next_attempt_ms = CASE WHEN ?6 IS NULL THEN next_attempt_ms ELSE ?7 END
         WHERE room_id = ?1 AND seq = ?2",
    )
    .and_then(|mut stmt| {
        stmt.execute(rusqlite::params![
            key.0,
            key.1,
            outcome.at_ms,
            outcome.http_status,
            outcome.error,
            status.map(DeliveryStatus::code),
            next_attempt.flatten(),
        ])
    })
    .with_context(what)?;
    if let (Some(_), Some(head)) = (settled, head) {
        refresh_head(conn, room, sdk_app_id, None, head.paused)?;
    }
    Ok(())
}

// --- inspection, replay, forgetting ---------------------------------------------------------------

/// DescribeCallbackDeliveries' shapes, each read in (room_id, seq) order from an index range:
/// one room's (the primary key), the app's of one status and one room's of one status
/// (`deliveries_by_app_status`; pinned for a room, where the planner would otherwise walk all
/// the room's deliveries to find, say, the few pending ones). All of an app's is a merge of its
/// three status ranges ([`keys_of_app`]): an index of its own would cost every queued delivery
/// another b-tree insert (measured: about a fifth of ingest throughput with callbacks on) for
/// an admin-rate listing.
macro_rules! page_of {
    ($from:literal, $filter:literal, $order:literal, $limit:literal) => {
        concat!(
            "SELECT ",
            delivery_columns!(),
            $from,
            " WHERE ",
            $filter,
            " ORDER BY ",
            $order,
            $limit
        )
    };
}

pub(crate) const COUNT_OF_APP: &str = "SELECT COUNT(*) FROM deliveries WHERE sdk_app_id = ?1";
/// One status of the app's keys, in order: a covering range of `deliveries_by_app_status`.
pub(crate) const KEYS_OF_STATUS: &str = "SELECT room_id, seq FROM deliveries \
     WHERE sdk_app_id = ?1 AND status = ?2 ORDER BY room_id, seq LIMIT ?3";
/// (`+sdk_app_id`: the room's own deliveries are what to read; the app only guards against a
/// room of another app. Without the `+` the planner may walk the app's whole status index.)
pub(crate) const COUNT_OF_ROOM: &str =
    "SELECT COUNT(*) FROM deliveries WHERE room_id = ?1 AND +sdk_app_id = ?2";
pub(crate) const PAGE_OF_ROOM: &str = page_of!(
    " FROM deliveries",
    "room_id = ?1 AND +sdk_app_id = ?2",
    "seq",
    " LIMIT ?3 OFFSET ?4"
);
pub(crate) const COUNT_OF_STATUS: &str =
    "SELECT COUNT(*) FROM deliveries WHERE sdk_app_id = ?1 AND status = ?2";
pub(crate) const PAGE_OF_STATUS: &str = page_of!(
    " FROM deliveries",
    "sdk_app_id = ?1 AND status = ?2",
    "room_id, seq",
    " LIMIT ?3 OFFSET ?4"
);
pub(crate) const COUNT_OF_ROOM_STATUS: &str =
    "SELECT COUNT(*) FROM deliveries WHERE sdk_app_id = ?1 AND status = ?2 AND room_id = ?3";
pub(crate) const PAGE_OF_ROOM_STATUS: &str = page_of!(
    " FROM deliveries INDEXED BY deliveries_by_app_status",
    "sdk_app_id = ?1 AND status = ?2 AND room_id = ?3",
    "seq",
    " LIMIT ?4 OFFSET ?5"
);

/// The keys of the app's deliveries `offset ..< offset + limit` in (room_id, seq) order: a
/// streaming merge of its three status ranges, so it reads what an OFFSET would (at most
/// `offset + limit` index entries per status) and holds only the page.
fn keys_of_app(
    conn: &Connection,
    app: i64,
    listing: &DeliveryListing,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let (offset, limit) = (listing.offset, listing.limit);
    let wanted = saturating_i64(listing.end());
    let statuses = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Dead,
    ];
    let mut statements = Vec::with_capacity(statuses.len());
    for _ in statuses {
        // One statement per stream: they are read at the same time.
        statements.push(conn.prepare(KEYS_OF_STATUS)?);
    }
    let mut streams = Vec::with_capacity(statuses.len());
    for (statement, status) in statements.iter_mut().zip(statuses) {
        let rows = statement.query_map((app, status.code(), wanted), |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })?;
        streams.push(rows.peekable());
    }
    let mut keys = Vec::new();
    let mut skipped = 0;
    while (keys.len() as u64) < limit {
        let mut lowest: Option<(usize, (i64, i64))> = None;
        for (index, stream) in streams.iter_mut().enumerate() {
            match stream.peek() {
                Some(Ok(key)) if lowest.is_none_or(|(_, low)| *key < low) => {
                    lowest = Some((index, *key));
                }
                Some(Err(_)) => {
                    if let Some(Err(e)) = stream.next() {
                        return Err(e);
                    }
                }
                Some(Ok(_)) | None => {}
            }
        }
        let Some((index, key)) = lowest else {
            break;
        };
        streams[index].next();
        if skipped < offset {
            skipped += 1;
        } else {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// The store's `list_deliveries`: `(total, page)`.
pub(crate) fn list(
    conn: &Connection,
    listing: DeliveryListing,
) -> Result<(u64, Vec<Delivery>), StoreError> {
    // Ids out of the keys' range name no app (a room's key finds no row, see `row::key`).
    let Ok(app) = i64::try_from(listing.sdk_app_id) else {
        return Ok((0, Vec::new()));
    };
    let room = listing.room_id.map(key);
    let what = || format!("listing the callback deliveries of app {app}");
    let (count_sql, page_sql, mut params) = match (room, listing.status.map(DeliveryStatus::code)) {
        (None, None) => (COUNT_OF_APP, None, vec![app]),
        (Some(room), None) => (COUNT_OF_ROOM, Some(PAGE_OF_ROOM), vec![room, app]),
        (None, Some(status)) => (COUNT_OF_STATUS, Some(PAGE_OF_STATUS), vec![app, status]),
        (Some(room), Some(status)) => (
            COUNT_OF_ROOM_STATUS,
            Some(PAGE_OF_ROOM_STATUS),
            vec![app, status, room],
        ),
    };
    // The count and the page must see the same snapshot, or Total could disagree with the page.
    let tx = conn.unchecked_transaction().with_context(what)?;
    let total: i64 = tx
        .prepare_cached(count_sql)
        .and_then(|mut stmt| stmt.query_row(params_from_iter(&params), |row| row.get(0)))
        .with_context(what)?;
    let mut deliveries = Vec::new();
    if listing.limit == 0 || total == 0 {
        // Nothing to read.
    } else if let Some(page_sql) = page_sql {
        params.extend([listing.limit, listing.offset].map(saturating_i64));
        deliveries = tx
            .prepare_cached(page_sql)
            .and_then(|mut stmt| {
                stmt.query_map(params_from_iter(&params), rows::delivery)?
                    .collect()
            })
            .with_context(what)?;
    } else {
        for (room, seq) in keys_of_app(&tx, app, &listing).with_context(what)? {
            // Read in this snapshot, so it is there.
            deliveries.extend(load_delivery(&tx, room, seq)?);
        }
    }
    tx.finish().with_context(what)?;
    Ok((total.max(0) as u64, deliveries))
}

/// Makes the room's deliveries from `?2` on (and, with `?4` a JSON array, only those with an id
/// in it) pending and due at `?3`. A range on the primary key. `first_attempt_ms` starts over
/// (the next attempt sets it) so the give-up window counts from the replay's first attempt;
/// `attempts` go on counting.
pub(crate) const REPLAY: &str = "UPDATE deliveries \
     SET status = 0, next_attempt_ms = ?3, first_attempt_ms = NULL \
     WHERE room_id = ?1 AND seq >= ?2 \
     AND (?4 IS NULL OR event_id IN (SELECT value FROM json_each(?4)))";

/// The store's `replay_deliveries`.
pub(crate) fn replay(
    conn: &Connection,
    room_id: RoomId,
    from_seq: Option<u64>,
    event_ids: Option<Vec<String>>,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let room = require_room(conn, room_id)?;
    let key = room_id as i64;
    let sdk_app_id = to_i64(room.sdk_app_id, "SdkAppId")?;
    let what = || format!("replaying the callbacks of room {room_id}");
    let ids = event_ids
        .map(|ids| serde_json::to_string(&ids))
        .transpose()
        .map_err(|e| StoreError::Backend(format!("{}: {e}", what())))?;
    let replayed = conn
        .prepare_cached(REPLAY)
        .and_then(|mut stmt| {
            stmt.execute((key, saturating_i64(from_seq.unwrap_or(0)), now_ms, ids))
        })
        .with_context(what)?;
    if replayed == 0 {
        return Ok(0);
    }
    // The head may move back to a replayed seq. A worker holding the room's current head keeps
    // its lease (and the seq it was given for): the room must not have two deliveries in flight.
    let head: Option<Head> = conn
        .prepare_cached(concat!(
            "SELECT ",
            head_columns!(""),
            " FROM delivery_heads WHERE room_id = ?1"
        ))
        .and_then(|mut stmt| stmt.query_row([key], |row| head_at(row, 0)).optional())
        .with_context(what)?;
    let lease = schedule::lease_in_force(head, now_ms);
    let paused = !conn
        .prepare_cached(APP_HAS_CALLBACK)
        .and_then(|mut stmt| stmt.query_row([sdk_app_id], |row| row.get(0)).optional())
        .with_context(what)?
        .unwrap_or(false);
    refresh_head(conn, key, sdk_app_id, lease, paused)?;
    Ok(replayed as u64)
}

/// Finished deliveries last attempted before `?1`: a range on the partial index
/// `deliveries_finished` (which holds the (room_id, seq) key of each).
pub(crate) const FINISHED_BEFORE: &str = "SELECT room_id, seq FROM deliveries \
     WHERE status <> 0 AND last_attempt_ms < ?1 LIMIT ?2";

/// One batch of `purge_deliveries`: forgets up to `budget` delivered or dead deliveries last
/// attempted before `before_ms`. Returns how many, and whether there may be more.
pub(crate) fn purge_some(
    conn: &Connection,
    before_ms: i64,
    budget: u64,
) -> Result<(u64, bool), StoreError> {
    let what = "forgetting old callback deliveries";
    let budget = budget.max(1);
    let doomed: Vec<(i64, i64)> = conn
        .prepare_cached(FINISHED_BEFORE)
        .and_then(|mut stmt| {
            stmt.query_map((before_ms, saturating_i64(budget)), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect()
        })
        .context(what)?;
    let mut delete = conn
        .prepare_cached("DELETE FROM deliveries WHERE room_id = ?1 AND seq = ?2")
        .context(what)?;
    for (room, seq) in &doomed {
        delete.execute((room, seq)).context(what)?;
    }
    let deleted = doomed.len() as u64;
    Ok((deleted, deleted == budget))
}

/// Deletes up to `budget` of a deleted room's deliveries; returns how many, and whether any
/// remain. Like its events, in bounded range deletes on the primary key.
pub(crate) fn delete_some_of_room(
    conn: &Connection,
    room: i64,
    budget: u64,
) -> Result<(u64, bool), StoreError> {
    let what = || format!("deleting the callback deliveries of room {room}");
    let first: Option<i64> = match budget {
        0 => None,
        _ => conn
            .prepare_cached("SELECT MIN(seq) FROM deliveries WHERE room_id = ?1")
            .and_then(|mut stmt| stmt.query_row([room], |row| row.get(0)))
            .with_context(what)?,
    };
    // Seqs are unique, so the range below `first + budget` holds at most `budget` rows (fewer
    // where events had no delivery).
    let deleted = match first {
        None => 0,
        Some(first) => conn
            .prepare_cached("DELETE FROM deliveries WHERE room_id = ?1 AND seq < ?2")
            .and_then(|mut stmt| stmt.execute((room, first.saturating_add(saturating_i64(budget)))))
            .with_context(what)? as u64,
    };
    let remaining = conn
        .prepare_cached("SELECT 1 FROM deliveries WHERE room_id = ?1 LIMIT 1")
        .and_then(|mut stmt| stmt.exists([room]))
        .with_context(what)?;
    Ok((deleted, remaining))
}
