//! Versioned schema migrations.
//!
//! `PRAGMA user_version` holds the schema version (it lives in the database header, so it
//! changes atomically with the migration's transaction); `schema_migrations` keeps a readable
//! history of what was applied when. At open, every migration newer than the database is applied
//! in order inside one IMMEDIATE transaction (so two processes opening a fresh file at once
//! cannot both migrate it). A database from a newer roomlog is refused: its schema may mean
//! things this version does not know.
//!
//! Migrations are append-only: never edit a released one, add the next number.

use rusqlite::{Connection, TransactionBehavior};

use roomlog_core::lifecycle::{LifecyclePolicy, Occupancy};
use roomlog_core::{StoreError, StoredEvent};

use crate::error::Context;
use crate::rows::{self, event_columns};
use crate::sql;
use roomlog_core::presence;

/// A migration's data step: work that needs the domain's rules (in Rust), run after its SQL in
/// the same transaction.
pub(crate) type Backfill = fn(&Connection, &LifecyclePolicy) -> Result<(), StoreError>;

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
    pub backfill: Option<Backfill>,
}

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial schema",
        sql: include_str!("migrations/0001_initial.sql"),
        backfill: None,
    },
    Migration {
        version: 2,
        name: "lifecycle deadlines, presence, kicks, attendance, users",
        sql: include_str!("migrations/0002_lifecycle_presence_attendance_users.sql"),
        backfill: Some(backfill_v2),
    },
    Migration {
        version: 3,
        name: "callbacks: app callback settings, delivery outbox",
        sql: include_str!("migrations/0003_callbacks_outbox.sql"),
        // Nothing to backfill: no app had a callback before, so no event is owed one.
        backfill: None,
    },
    Migration {
        version: 4,
        name: "callbacks: the seq a head of line is leased for",
        sql: include_str!("migrations/0004_delivery_heads_leased_seq.sql"),
        // Nothing to backfill: a lease kept from before has no known seq (see the SQL).
        backfill: None,
    },
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 4;

/// Member events replayed per query by [`backfill_v2`]: bounds its memory on huge rooms.
const REPLAY_CHUNK: i64 = 10_000;

/// Version 2's data: rooms not ended yet get the presence their logged member events imply
/// (replayed with the store's rules, so it is what the store would have tracked had it existed),
/// and every such room its first deadline. Ended and expired rooms are empty and have none
/// (the SQL set that).
fn backfill_v2(conn: &Connection, policy: &LifecyclePolicy) -> Result<(), StoreError> {
    let rooms: Vec<(i64, i64)> = conn
        .prepare("SELECT room_id, created_at FROM rooms WHERE status IN (0, 1)")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .context("listing rooms to backfill")?;
    for (room, created_at) in rooms {
        let mut occupancy = Occupancy {
            present: 0,
            empty_since_ms: Some(created_at.saturating_mul(1000)),
        };
        let mut after_seq = 0;
        loop {
            let events: Vec<StoredEvent> = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    event_columns!(),
                    " FROM events WHERE room_id = ?1 AND event_type IN (3, 4) AND seq > ?2",
                    " ORDER BY seq LIMIT ?3"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map((room, after_seq, REPLAY_CHUNK), rows::stored_event)?
                        .collect()
                })
                .with_context(|| format!("replaying the member events of room {room}"))?;
            let Some(last) = events.last() else {
                break;
            };
            after_seq = last.seq as i64;
            let changes: Vec<_> = events
                .iter()
                .filter_map(|e| presence::change(e.event_type, &e.data, e.timestamp_ms, e.seq))
                .collect();
            let stored = sql::presence::load(conn, room, &presence::users(&changes))?;
            let (after, users) = presence::fold(occupancy, &changes, stored);
            sql::presence::write(conn, room, &presence::PresenceWrite::Users(users))?;
            occupancy = after;
        }
        conn.prepare_cached(
            "UPDATE rooms SET present_members = ?2, empty_since_ms = ?3 WHERE room_id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.execute((room, occupancy.present as i64, occupancy.empty_since_ms))
        })
        .with_context(|| format!("storing the presence of room {room}"))?;
    }
    sql::rooms::refresh_deadlines(conn, sql::rooms::ACTIVE_ROOMS, policy)?;
    Ok(())
}

/// Brings the database to [`SCHEMA_VERSION`]; returns how many migrations were applied.
pub(crate) fn migrate(
    conn: &mut Connection,
    now_secs: i64,
    policy: &LifecyclePolicy,
) -> Result<usize, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting the migration transaction")?;
    let current: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .context("reading the schema version")?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "the database has schema version {current}, newer than version {SCHEMA_VERSION} \
             that this roomlog understands: refusing to open it (run the newer roomlog, or \
             restore a backup taken before the upgrade)"
        )));
    }
    if current < 0 {
        return Err(StoreError::Backend(format!(
            "the database has an invalid schema version {current}"
        )));
    }
    let pending: Vec<&Migration> = MIGRATIONS.iter().filter(|m| m.version > current).collect();
    if pending.is_empty() {
        // Nothing written: the COMMIT of an empty transaction costs no sync.
        tx.commit().context("finishing the migration check")?;
        return Ok(0);
    }
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     INTEGER PRIMARY KEY,
             name        TEXT    NOT NULL,
             applied_at  INTEGER NOT NULL
         )",
    )
    .context("creating schema_migrations")?;
    for migration in &pending {
        let what = || {
            format!(
                "applying migration {} ({})",
                migration.version, migration.name
            )
        };
        tx.execute_batch(migration.sql).with_context(what)?;
        if let Some(backfill) = migration.backfill {
            backfill(&tx, policy)?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            (migration.version, migration.name, now_secs),
        )
        .with_context(what)?;
        tx.pragma_update(None, "user_version", migration.version)
            .with_context(what)?;
    }
    tx.commit().context("committing the migrations")?;
    tracing::info!(
        from = current,
        to = SCHEMA_VERSION,
        applied = pending.len(),
        "migrated the SQLite schema"
    );
    Ok(pending.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dense_and_end_at_schema_version() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1, "{}", migration.name);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    #[test]
    fn migrates_once_then_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(
            migrate(&mut conn, 1, &LifecyclePolicy::default()).unwrap(),
            MIGRATIONS.len()
        );
        assert_eq!(
            migrate(&mut conn, 2, &LifecyclePolicy::default()).unwrap(),
            0
        );
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let recorded: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(recorded, MIGRATIONS.len() as i64);
    }

    #[test]
    fn event_types_table_matches_the_code_mapping() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, 1, &LifecyclePolicy::default()).unwrap();
        let mut stmt = conn
            .prepare("SELECT code, name FROM event_types ORDER BY code")
            .unwrap();
        let rows: Vec<(i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), roomlog_core::EventType::ALL.len());
        for (code, name) in rows {
            let t = roomlog_core::EventType::from_code(code).unwrap();
            assert_eq!(t.as_str(), name);
        }
    }

    #[test]
    fn refuses_a_newer_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, 1, &LifecyclePolicy::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
