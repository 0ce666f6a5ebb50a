//! Opening connections with the settings roomlog depends on.
//!
//! Every setting here is per connection except `auto_vacuum` and `journal_mode`, which are
//! properties of the file: they are (re)asserted by the writer connection at open.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use roomlog_core::StoreError;

use crate::error::Context;
use crate::SqliteOptions;

/// Prepared statements kept per connection. The store uses a few dozen distinct statements;
/// keeping them all avoids re-parsing SQL on the hot paths (append, read page).
const STATEMENT_CACHE: usize = 64;

/// The WAL is truncated back to this size after a checkpoint resets it, so one burst of writes
/// does not leave a huge WAL file behind forever.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// WAL pages after which a commit checkpoints them into the database (SQLite's default: 1000).
/// The checkpoint runs inside that commit, on the writer thread, and writes every page changed
/// since the last one: small group commits dirty the same pages (the rooms' rows, the last leaf
/// of each busy room's event b-tree and indexes) over and over, so checkpointing 4x less often
/// writes each such page once instead of several times. Measured on single-event ingest (64 rooms):
/// ~150 `pwrite`s per commit before, and +10-20% events/s after (batched ingest +14%). The WAL
/// then grows to ~16 MB between checkpoints (`JOURNAL_SIZE_LIMIT` still trims it after one);
/// every commit is still synced, so durability does not change.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 4000;

/// The connection the writer thread owns. Creates the file if needed.
pub(crate) fn open_writer(path: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let what = || format!("opening {}", path.display());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(what)?;
    // First, so every following statement waits for a lock held by another process (the admin
    // CLI next to a running server) instead of failing with SQLITE_BUSY at once.
    conn.busy_timeout(options.busy_timeout).with_context(what)?;
    // auto_vacuum is fixed when the first table is created, and switching to WAL writes the
    // header of an empty file: it must come before both, or a new database silently gets none.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .with_context(what)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .with_context(what)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "{}: could not switch to WAL mode (journal_mode is {mode})",
            path.display()
        )));
    }
    ensure_incremental_auto_vacuum(&conn, path)?;
    // FULL: in WAL mode every COMMIT syncs the WAL, so an acknowledged write survives power loss
    // (NORMAL could lose the last commits). Group commit is what makes this affordable.
    conn.pragma_update(None, "synchronous", "FULL")
        .with_context(what)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .with_context(what)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
        .with_context(what)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
        .with_context(what)?;
    // Each command runs in its own SAVEPOINT, and SQLite copies every page a command touches to
    // a sub-journal so the savepoint can roll back; by default that is a temporary FILE, and
    // writing it cost more than the SQL on the ingest path. In memory it is bounded by one
    // command's pages (commands are bounded: batches, purge steps). Crash safety does not use it
    // (the WAL does), so nothing about durability changes.
    conn.pragma_update(None, "temp_store", "MEMORY")
        .with_context(what)?;
    set_cache(&conn, options.writer_cache_kib).with_context(what)?;
    fix_plans(&conn).with_context(what)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A pooled read-only connection. The file exists and is in WAL mode already: the writer
/// opened it first.
pub(crate) fn open_reader(path: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let what = || format!("opening {} for reading", path.display());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(what)?;
    conn.busy_timeout(options.busy_timeout).with_context(what)?;
    set_cache(&conn, options.reader_cache_kib).with_context(what)?;
    fix_plans(&conn).with_context(what)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The page cache is per connection and is the bulk of the store's memory: bounded explicitly
/// (negative `cache_size` means KiB) so RSS stays small however large the database grows.
fn set_cache(conn: &Connection, kib: u32) -> rusqlite::Result<()> {
    conn.pragma_update(None, "cache_size", -i64::from(kib))?;
    // mmap would make the whole file count towards RSS as it is read; keep I/O through the cache.
    conn.pragma_update(None, "mmap_size", 0)
}

/// The query planner stability guarantee: a statement keeps the plan it was prepared with,
/// whatever values are bound. Without it, the bundled SQLite (built with STAT4) marks the bound
/// parameters of range constraints (`seq >= ?2 AND seq < ?3`, `seq > ?3`) as plan-relevant and
/// re-parses and re-plans such a statement at every execution after new values are bound, so the
/// statement cache saved nothing on the hottest reads (a page of events). roomlog keeps no
/// planner statistics, so the plans are the same either way; they just stop being redone.
fn fix_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map(|_| ())
}

/// A database created by something else before roomlog touched it (an empty file already in WAL
/// mode, say) may have missed `auto_vacuum`. While it has no tables, VACUUM can still switch it;
/// afterwards only a full VACUUM could, so we just warn: purges then free pages for reuse but do
/// not shrink the file.
fn ensure_incremental_auto_vacuum(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    const INCREMENTAL: i64 = 2;
    let what = || format!("checking auto_vacuum of {}", path.display());
    let mode: i64 = conn
        .pragma_query_value(None, "auto_vacuum", |row| row.get(0))
        .with_context(what)?;
    if mode == INCREMENTAL {
        return Ok(());
    }
    let tables: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |row| row.get(0))
        .with_context(what)?;
    if tables == 0 {
        conn.execute_batch("VACUUM").with_context(what)?;
        let mode: i64 = conn
            .pragma_query_value(None, "auto_vacuum", |row| row.get(0))
            .with_context(what)?;
        if mode == INCREMENTAL {
            return Ok(());
        }
    }
    tracing::warn!(
        path = %path.display(),
        auto_vacuum = mode,
        "database does not use incremental auto_vacuum: purged space is reused but the file \
         will not shrink (run `VACUUM` offline after `PRAGMA auto_vacuum = INCREMENTAL` to fix)"
    );
    Ok(())
}

/// How long the space-reclaiming checkpoint may wait for readers before giving up: it runs on
/// the writer thread, and ingest must not stall behind a slow reader for the full busy timeout.
pub(crate) const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_millis(250);
