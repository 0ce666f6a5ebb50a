//! Callbacks: the apps' callback settings and the delivery outbox.
//!
//! `deliveries` holds one row per event recorded while its room's app had a callback URL,
//! written by the same transaction that records the event ([`Outbox`], through
//! `recording`); `delivery_heads` one row per room with a pending delivery, its head of
//! line. Every write here keeps them as `roomlog_core::callback::schedule` rules, in the same
//! transaction; a head's `paused` (the app has no URL) keeps it out of the partial index the
//! worker reads, so a paused app costs the worker nothing (and cannot make it spin).
//!
//! Several workers (on several nodes) claim at once: a claim locks the heads it hands out with
//! `FOR UPDATE SKIP LOCKED` and moves their `ready_ms` to the end of the lease before it
//! commits, so a head is leased to one worker at a time, and claims never wait for each other.
//! The head row is also the room's outbox lock: whatever changes which deliveries of a room are
//! pending (recording events, an attempt's outcome, a replay) locks it first, so the head is
//! always recomputed from what the others committed.

use deadpool_postgres::{GenericClient, Transaction};

use roomlog_core::callback::schedule::{self, Head, Lease};
use roomlog_core::callback::{
    AppCallback, AttemptOutcome, Delivery, DeliveryListing, DeliveryStatus,
};
use roomlog_core::store::row::key;
use roomlog_core::time::now_ms;
use roomlog_core::{NewEvent, Room, RoomId, SdkAppId, StoreError};

use crate::error::{saturating_i64, to_i64, Context, Error};
use crate::rows::{self, delivery_columns};
use crate::sql::events::EventColumns;
use crate::sql::rooms::lock_room;
use crate::sql::{commit, execute, query, query_one, query_opt, snapshot, write, Client};

// --- callback settings ---------------------------------------------------------------------------

async fn load_callback<C: GenericClient>(
    c: &C,
    app: i64,
    lock: bool,
) -> Result<Option<AppCallback>, Error> {
    // NO KEY UPDATE: it waits for the commands queueing deliveries of the app (which hold the
    // row FOR SHARE) without blocking foreign-key checks of new rooms and users.
    let sql = if lock {
        "SELECT callback_url, callback_key FROM apps WHERE sdk_app_id = $1 FOR NO KEY UPDATE"
    } else {
        "SELECT callback_url, callback_key FROM apps WHERE sdk_app_id = $1"
    };
    query_opt(c, sql, &[&app])
        .await
        .with_context(|| format!("loading the callback of app {app}"))?
        .map(|row| {
            Ok(AppCallback {
                url: rows::get(&row, 0)?,
                key: rows::get(&row, 1)?,
            })
        })
        .transpose()
}

pub(crate) async fn app_callback(c: &Client, sdk_app_id: SdkAppId) -> Result<AppCallback, Error> {
    let Ok(app) = i64::try_from(sdk_app_id) else {
        return Err(StoreError::AppNotFound.into());
    };
    Ok(load_callback(c, app, false)
        .await?
        .ok_or(StoreError::AppNotFound)?)
}

/// The store's `set_app_callback`: `None` keeps a setting, `Some("")` clears it.
pub(crate) async fn set_app_callback(
    c: &mut Client,
    sdk_app_id: SdkAppId,
    url: Option<&str>,
    key: Option<&str>,
) -> Result<AppCallback, Error> {
    let Ok(app) = i64::try_from(sdk_app_id) else {
        return Err(StoreError::AppNotFound.into());
    };
    let tx = write(c).await?;
    let before = load_callback(&tx, app, true)
        .await?
        .ok_or(StoreError::AppNotFound)?;
    let after = before.updated(url, key);
    let what = || format!("setting the callback of app {app}");
    execute(
        &tx,
        "UPDATE apps SET callback_url = $2, callback_key = $3 WHERE sdk_app_id = $1",
        &[&app, &after.url, &after.key],
    )
    .await
    .with_context(what)?;
    if let Some(paused) = before.pause_change(&after) {
        // The app's heads leave or rejoin the workers' index.
        execute(
            &tx,
            "UPDATE delivery_heads SET paused = $2 WHERE sdk_app_id = $1",
            &[&app, &i64::from(paused)],
        )
        .await
        .with_context(what)?;
    }
    commit(tx).await?;
    Ok(after)
}

/// Whether the app has a callback URL, holding its row shared until the transaction ends, so
/// the URL cannot be cleared (and the app's heads paused) before what this transaction queues
/// is committed.
async fn callback_active(tx: &Transaction<'_>, sdk_app_id: i64) -> Result<bool, Error> {
    Ok(query_opt(
        tx,
        "SELECT callback_url <> '' FROM apps WHERE sdk_app_id = $1 FOR SHARE",
        &[&sdk_app_id],
    )
    .await
    .with_context(|| format!("looking up the callback of app {sdk_app_id}"))?
    .map(|row| rows::get::<bool>(&row, 0))
    .transpose()?
    .unwrap_or(false))
}

/// A head row's `head_seq, ready_ms, leased_until_ms, leased_seq, paused`, from column `first`
/// of `row` on.
fn head_at(row: &tokio_postgres::Row, first: usize) -> Result<Head, Error> {
    let leased_seq: Option<i64> = rows::get(row, first + 3)?;
    Ok(Head {
        seq: rows::get_u64(row, first)?,
        ready_ms: rows::get(row, first + 1)?,
        leased_until_ms: rows::get(row, first + 2)?,
        leased_seq: match leased_seq {
            Some(_) => Some(rows::get_u64(row, first + 3)?),
            None => None,
        },
        paused: rows::get::<i64>(row, first + 4)? != 0,
    })
}

/// Locks the room's head of line, if it has one, and returns it.
async fn lock_head(tx: &Transaction<'_>, room: i64) -> Result<Option<Head>, Error> {
    query_opt(
        tx,
        "SELECT head_seq, ready_ms, leased_until_ms, leased_seq, paused FROM delivery_heads
         WHERE room_id = $1 FOR UPDATE",
        &[&room],
    )
    .await
    .with_context(|| format!("locking the callback head of line of room {room}"))?
    .map(|row| head_at(&row, 0))
    .transpose()
}

// --- the outbox, written with the events ----------------------------------------------------------

/// A command's deliveries in one room, for a room whose app has a callback URL.
pub(crate) struct Outbox {
    room: i64,
    sdk_app_id: i64,
    /// Wall clock when the command began recording: the deliveries' `created_ms`.
    now_ms: i64,
    /// Whether the room had a head when this command locked it (`None`: not locked yet).
    head: Option<bool>,
}

impl Outbox {
    /// The room's outbox if its app has a callback URL now, else `None`. Takes the app row
    /// shared (see [`callback_active`]); the room row is locked by the caller.
    pub(crate) async fn open(tx: &Transaction<'_>, room: &Room) -> Result<Option<Outbox>, Error> {
        let sdk_app_id = to_i64(room.sdk_app_id, "SdkAppId")?;
        Ok(callback_active(tx, sdk_app_id).await?.then(|| Outbox {
            room: room.room_id as i64,
            sdk_app_id,
            now_ms: now_ms(),
            head: None,
        }))
    }

    /// The pending deliveries of the events just recorded (`columns` of `events`).
    pub(crate) async fn add(
        &mut self,
        tx: &Transaction<'_>,
        columns: &EventColumns<'_>,
        events: &[&NewEvent],
    ) -> Result<(), Error> {
        let what = || format!("queueing callbacks of room {}", self.room);
        let had_head = match self.head {
            Some(had) => had,
            None => {
                let had = lock_head(tx, self.room).await?.is_some();
                self.head = Some(had);
                had
            }
        };
        let due: Vec<i64> = events
            .iter()
            .map(|e| schedule::first_due_ms(e.timestamp_ms, self.now_ms))
            .collect();
        execute(
            tx,
            "INSERT INTO deliveries (room_id, seq, event_id, event_type, timestamp_ms, user_id,
                                     device, role, reason, duration, record_size, record_url,
                                     sdk_app_id, status, attempts, next_attempt_ms, created_ms)
             SELECT $1, seq, event_id, event_type, timestamp_ms, user_id, device, role, reason,
                    duration, record_size, record_url, $13, 0, 0, due, $14
             FROM UNNEST($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                         $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
                         $12::text[], $15::bigint[])
                  AS e(seq, event_id, event_type, timestamp_ms, user_id, device, role, reason,
                       duration, record_size, record_url, due)",
            &[
                columns.params(&self.room).as_slice(),
                &[&self.sdk_app_id, &self.now_ms, &due],
            ]
            .concat(),
        )
        .await
        .with_context(what)?;
        if !had_head {
            // The first is the room's head, as it had none. (The app's row, held, keeps its
            // URL, so the head is not paused.)
            let head = Head::queued(columns.seq[0] as u64, due[0]);
            write_head(tx, self.room, self.sdk_app_id, &head).await?;
            self.head = Some(true);
        }
        Ok(())
    }
}

// --- the head of line -----------------------------------------------------------------------------

/// A room's lowest pending delivery and its next attempt: one seek on
/// `deliveries_by_app_status`.
pub(crate) const LOWEST_PENDING: &str = "SELECT seq, next_attempt_ms \
     FROM deliveries WHERE sdk_app_id = $1 AND status = 0 AND room_id = $2 ORDER BY seq LIMIT 1";

/// Makes the room's head what [`Head::of_lowest`] says of its lowest pending delivery. The
/// caller holds the head's lock (or the room's, if it has no head).
async fn refresh_head(
    tx: &Transaction<'_>,
    room: i64,
    sdk_app_id: i64,
    lease: Option<Lease>,
    paused: bool,
) -> Result<(), Error> {
    let lowest = query_opt(tx, LOWEST_PENDING, &[&sdk_app_id, &room])
        .await
        .with_context(|| format!("moving the callback head of line of room {room}"))?
        .map(|row| Ok::<_, Error>((rows::get_u64(&row, 0)?, rows::get(&row, 1)?)))
        .transpose()?;
    match Head::of_lowest(lowest, lease, paused) {
        None => forget_head(tx, room).await,
        Some(head) => write_head(tx, room, sdk_app_id, &head).await,
    }
}

async fn write_head(
    tx: &Transaction<'_>,
    room: i64,
    sdk_app_id: i64,
    head: &Head,
) -> Result<(), Error> {
    execute(
        tx,
        "INSERT INTO delivery_heads
             (room_id, sdk_app_id, head_seq, ready_ms, leased_until_ms, leased_seq, paused)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (room_id) DO UPDATE SET
             head_seq = excluded.head_seq, ready_ms = excluded.ready_ms,
             leased_until_ms = excluded.leased_until_ms, leased_seq = excluded.leased_seq,
             paused = excluded.paused",
        &[
            &room,
            &sdk_app_id,
            &saturating_i64(head.seq),
            &head.ready_ms,
            &head.leased_until_ms,
            &head.leased_seq.map(saturating_i64),
            &i64::from(head.paused),
        ],
    )
    .await
    .with_context(|| format!("writing the callback head of line of room {room}"))?;
    Ok(())
}

/// Drops the room's head (nothing pending, or the room is deleted): nothing of it is handed out.
pub(crate) async fn forget_head(tx: &Transaction<'_>, room: i64) -> Result<(), Error> {
    execute(
        tx,
        "DELETE FROM delivery_heads WHERE room_id = $1",
        &[&room],
    )
    .await
    .with_context(|| format!("dropping the callback head of line of room {room}"))?;
    Ok(())
}

// --- the workers' side ------------------------------------------------------------------------------

/// The heads due, earliest first: a range on the partial index `delivery_heads_ready`. Heads
/// another claim (or a command changing the room's outbox) holds are skipped, not waited for.
pub(crate) const CLAIMABLE: &str = "SELECT room_id, sdk_app_id, head_seq, ready_ms, \
     leased_until_ms, leased_seq, paused FROM delivery_heads WHERE paused = 0 AND ready_ms <= $1 \
     ORDER BY ready_ms, room_id LIMIT $2 FOR UPDATE SKIP LOCKED";

const SOME_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM deliveries WHERE (room_id, seq) IN",
    " (SELECT * FROM UNNEST($1::bigint[], $2::bigint[]))"
);

/// The store's `claim_due_deliveries`.
pub(crate) async fn claim(
    c: &mut Client,
    now_ms: i64,
    lease_until_ms: i64,
    limit: u64,
) -> Result<Vec<Delivery>, Error> {
    let tx = write(c).await?;
    let heads = query(&tx, CLAIMABLE, &[&now_ms, &saturating_i64(limit)])
        .await
        .context("finding the callback deliveries due")?;
    if heads.is_empty() {
        commit(tx).await?;
        return Ok(Vec::new());
    }
    let mut keys: Vec<(i64, i64, Head)> = Vec::with_capacity(heads.len());
    for row in &heads {
        keys.push((rows::get(row, 0)?, rows::get(row, 1)?, head_at(row, 2)?));
    }
    let rooms: Vec<i64> = keys.iter().map(|k| k.0).collect();
    let seqs: Vec<i64> = keys.iter().map(|k| saturating_i64(k.2.seq)).collect();
    let found = query(&tx, SOME_DELIVERIES, &[&rooms, &seqs])
        .await
        .context("loading the callback deliveries due")?;
    let mut loaded = rows::all(&found, rows::delivery)?;
    let mut claimed = Vec::with_capacity(keys.len());
    let (mut leased, mut ready, mut until) = (Vec::new(), Vec::new(), Vec::new());
    let mut leased_seq = Vec::new();
    let mut broken = Vec::new();
    for (room, sdk_app_id, head) in keys {
        let position = loaded
            .iter()
            .position(|d| d.room_id as i64 == room && d.event.seq == head.seq);
        match schedule::claimable(position.map(|i| loaded.swap_remove(i))) {
            Some(delivery) => {
                let lease = head.leased(lease_until_ms);
                leased.push(room);
                ready.push(lease.ready_ms);
                until.push(lease.leased_until_ms);
                leased_seq.push(lease.leased_seq.map(saturating_i64));
                claimed.push(delivery);
            }
            None => broken.push((room, sdk_app_id, head)),
        }
    }
    if !leased.is_empty() {
        // Handed out again only if the lease runs out (the worker holding it died): that is
        // what makes delivery at-least-once.
        execute(
            &tx,
            "UPDATE delivery_heads h SET ready_ms = l.ready_ms, leased_until_ms = l.until_ms,
                 leased_seq = l.seq
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])
                  AS l(room_id, ready_ms, until_ms, seq)
             WHERE h.room_id = l.room_id",
            &[&leased, &ready, &until, &leased_seq],
        )
        .await
        .context("leasing callback heads of line")?;
    }
    for (room, sdk_app_id, head) in broken {
        let seq = head.seq;
        tracing::warn!(
            room,
            seq,
            "a callback head of line named no pending delivery: repaired"
        );
        refresh_head(&tx, room, sdk_app_id, None, head.paused).await?;
    }
    commit(tx).await?;
    Ok(claimed)
}

pub(crate) async fn any_due(c: &Client, now_ms: i64) -> Result<bool, Error> {
    rows::get(
        // Read before claiming: most claims find nothing, and this costs one statement
        // instead of a transaction.
        &query_one(
            c,
            "SELECT EXISTS (SELECT 1 FROM delivery_heads WHERE paused = 0 AND ready_ms <= $1)",
            &[&now_ms],
        )
        .await
        .context("looking for callback deliveries due")?,
        0,
    )
}

pub(crate) async fn next_due(c: &Client) -> Result<Option<i64>, Error> {
    rows::get(
        // When the next head is due, leases included.
        &query_one(
            c,
            "SELECT MIN(ready_ms) FROM delivery_heads WHERE paused = 0",
            &[],
        )
        .await
        .context("finding the next callback delivery due")?,
        0,
    )
}

/// The store's `record_attempt`: counted and noted always, settled as [`schedule::settles`]
/// says (and the head moved) only if it is the attempt that settles the room's head.
pub(crate) async fn record_attempt(
    c: &mut Client,
    room_id: RoomId,
    seq: u64,
    outcome: &AttemptOutcome,
) -> Result<(), Error> {
    let room = key(room_id);
    let what = || format!("recording a callback attempt of event {seq} of room {room}");
    let key = saturating_i64(seq);
    let tx = write(c).await?;
    let app = query_opt(
        &tx,
        "SELECT sdk_app_id FROM deliveries WHERE room_id = $1 AND seq = $2",
        &[&room, &key],
    )
    .await
    .with_context(what)?;
    // Forgotten meanwhile (its room was deleted): nothing left to record it on.
    let Some(app) = app else {
        return commit(tx).await;
    };
    let sdk_app_id: i64 = rows::get(&app, 0)?;
    let head = lock_head(&tx, room).await?;
    let settled = schedule::settles(head, seq, outcome);
    let (status, next_attempt) = settled.unzip();
    execute(
        &tx,
        "UPDATE deliveries SET attempts = attempts + 1,
             first_attempt_ms = COALESCE(first_attempt_ms, $3), last_attempt_ms = $3,
             last_status = $4, last_error = $5, status = COALESCE($6, status),
             next_attempt_ms = CASE WHEN $6::bigint IS NULL THEN next_attempt_ms ELSE $7 END
         WHERE room_id = $1 AND seq = $2",
        &[
            &room,
            &key,
            &outcome.at_ms,
            &outcome.http_status.map(i64::from),
            &outcome.error,
            &status.map(DeliveryStatus::code),
            &next_attempt.flatten(),
        ],
    )
    .await
    .with_context(what)?;
    if let (Some(_), Some(head)) = (settled, head) {
        refresh_head(&tx, room, sdk_app_id, None, head.paused).await?;
    }
    commit(tx).await
}

// --- inspection, replay, forgetting ---------------------------------------------------------------

/// One of DescribeCallbackDeliveries' filters: its total, and a page of it (the filter's
/// parameters, then LIMIT and OFFSET), each an index range read in (room_id, seq) order.
struct Listing {
    count: &'static str,
    page: &'static str,
    /// The page takes, after the filter's parameters, where it ends (see [`OF_APP`]).
    to_end: bool,
}

/// All of an app's deliveries: a merge of its three status ranges of
/// `deliveries_by_app_status`, each read only as far as the page needs (`$2`, its end): an
/// index of its own would cost every queued delivery one more insert, for an admin-rate listing.
const OF_APP: Listing = Listing {
    count: "SELECT COUNT(*) FROM deliveries WHERE sdk_app_id = $1",
    page: concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM ((SELECT * FROM deliveries WHERE sdk_app_id = $1 AND status = 0",
        " ORDER BY room_id, seq LIMIT $2)",
        " UNION ALL (SELECT * FROM deliveries WHERE sdk_app_id = $1 AND status = 1",
        " ORDER BY room_id, seq LIMIT $2)",
        " UNION ALL (SELECT * FROM deliveries WHERE sdk_app_id = $1 AND status = 2",
        " ORDER BY room_id, seq LIMIT $2)) d",
        " ORDER BY room_id, seq LIMIT $3 OFFSET $4"
    ),
    to_end: true,
};

const OF_ROOM: Listing = Listing {
    count: "SELECT COUNT(*) FROM deliveries WHERE room_id = $1 AND sdk_app_id = $2",
    page: concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE room_id = $1 AND sdk_app_id = $2 ORDER BY seq LIMIT $3 OFFSET $4"
    ),
    to_end: false,
};

const OF_STATUS: Listing = Listing {
    count: "SELECT COUNT(*) FROM deliveries WHERE sdk_app_id = $1 AND status = $2",
    page: concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE sdk_app_id = $1 AND status = $2",
        " ORDER BY room_id, seq LIMIT $3 OFFSET $4"
    ),
    to_end: false,
};

const OF_ROOM_STATUS: Listing = Listing {
    count: "SELECT COUNT(*) FROM deliveries WHERE sdk_app_id = $1 AND status = $2 AND room_id = $3",
    page: concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE sdk_app_id = $1 AND status = $2 AND room_id = $3",
        " ORDER BY seq LIMIT $4 OFFSET $5"
    ),
    to_end: false,
};

/// The store's `list_deliveries`: `(total, page)`, in one snapshot.
pub(crate) async fn list(
    c: &mut Client,
    listing: DeliveryListing,
) -> Result<(u64, Vec<Delivery>), Error> {
    let Ok(app) = i64::try_from(listing.sdk_app_id) else {
        return Ok((0, Vec::new()));
    };
    let status = listing.status.map(DeliveryStatus::code);
    let (statements, mut params): (&Listing, Vec<i64>) = match (listing.room_id, status) {
        (None, None) => (&OF_APP, vec![app]),
        (None, Some(status)) => (&OF_STATUS, vec![app, status]),
        (Some(room_id), None) => (&OF_ROOM, vec![key(room_id), app]),
        (Some(room_id), Some(status)) => (&OF_ROOM_STATUS, vec![app, status, key(room_id)]),
    };
    let what = || format!("listing the callback deliveries of app {app}");
    let tx = snapshot(c).await?;
    let total: i64 = rows::get(
        &query_one(&tx, statements.count, &as_params(&params))
            .await
            .with_context(what)?,
        0,
    )?;
    let mut deliveries = Vec::new();
    if listing.limit > 0 && total > 0 {
        if statements.to_end {
            params.push(saturating_i64(listing.end()));
        }
        params.extend([listing.limit, listing.offset].map(saturating_i64));
        let found = query(&tx, statements.page, &as_params(&params))
            .await
            .with_context(what)?;
        deliveries = rows::all(&found, rows::delivery)?;
    }
    commit(tx).await?;
    Ok((total.max(0) as u64, deliveries))
}

fn as_params(values: &[i64]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    values.iter().map(|value| value as _).collect()
}

/// Makes the room's deliveries from `$2` on (and, with `$4` an array, only those with an id in
/// it) pending and due at `$3`. `first_attempt_ms` starts over so the give-up window counts
/// from the replay's first attempt; `attempts` go on counting.
pub(crate) const REPLAY: &str = "UPDATE deliveries \
     SET status = 0, next_attempt_ms = $3, first_attempt_ms = NULL \
     WHERE room_id = $1 AND seq >= $2 AND ($4::text[] IS NULL OR event_id = ANY($4))";

/// The store's `replay_deliveries`: room, app and head locked, in that order.
pub(crate) async fn replay(
    c: &mut Client,
    room_id: RoomId,
    from_seq: Option<u64>,
    event_ids: Option<Vec<String>>,
    now_ms: i64,
) -> Result<u64, Error> {
    let tx = write(c).await?;
    let locked = lock_room(&tx, room_id).await?;
    let key = locked.key();
    let sdk_app_id = to_i64(locked.room.sdk_app_id, "SdkAppId")?;
    let what = || format!("replaying the callbacks of room {room_id}");
    let paused = !callback_active(&tx, sdk_app_id).await?;
    // A worker holding the room's current head keeps its lease (and the seq it was given for):
    // the room must not have two deliveries in flight.
    let lease = schedule::lease_in_force(lock_head(&tx, key).await?, now_ms);
    let replayed = execute(
        &tx,
        REPLAY,
        &[
            &key,
            &saturating_i64(from_seq.unwrap_or(0)),
            &now_ms,
            &event_ids,
        ],
    )
    .await
    .with_context(what)?;
    if replayed > 0 {
        refresh_head(&tx, key, sdk_app_id, lease, paused).await?;
    }
    commit(tx).await?;
    Ok(replayed)
}

/// One batch of `purge_deliveries`: forgets up to `budget` delivered or dead deliveries last
/// attempted before `before_ms` (a range on the partial index `deliveries_finished`). Rows
/// another node's batch holds are skipped, so several nodes purge side by side. Returns how
/// many, and whether there may be more.
pub(crate) async fn purge_some(
    c: &Client,
    before_ms: i64,
    budget: u64,
) -> Result<(u64, bool), Error> {
    let budget = budget.max(1);
    let deleted = execute(
        c,
        "DELETE FROM deliveries WHERE (room_id, seq) IN (
             SELECT room_id, seq FROM deliveries
             WHERE status <> 0 AND last_attempt_ms < $1
             LIMIT $2 FOR UPDATE SKIP LOCKED)",
        &[&before_ms, &saturating_i64(budget)],
    )
    .await
    .context("forgetting old callback deliveries")?;
    Ok((deleted, deleted >= budget))
}

/// Deletes up to `budget` of a deleted room's deliveries; returns how many, and whether any
/// remain. Like its events, in bounded range deletes on the primary key.
pub(crate) async fn delete_some_of_room(
    tx: &Transaction<'_>,
    room: i64,
    budget: u64,
) -> Result<(u64, bool), Error> {
    let what = || format!("deleting the callback deliveries of room {room}");
    let mut deleted = 0;
    if budget > 0 {
        let first: Option<i64> = rows::get(
            &query_one(
                tx,
                "SELECT MIN(seq) FROM deliveries WHERE room_id = $1",
                &[&room],
            )
            .await
            .with_context(what)?,
            0,
        )?;
        if let Some(first) = first {
            // Seqs are unique, so this range holds at most `budget` rows.
            let below = first.saturating_add(saturating_i64(budget));
            deleted = execute(
                tx,
                "DELETE FROM deliveries WHERE room_id = $1 AND seq < $2",
                &[&room, &below],
            )
            .await
            .with_context(what)?;
        }
    }
    let remaining = query_opt(
        tx,
        "SELECT 1 FROM deliveries WHERE room_id = $1 LIMIT 1",
        &[&room],
    )
    .await
    .with_context(what)?
    .is_some();
    Ok((deleted, remaining))
}
