//! The storage baseline for ReportRoomEvents: raw inserts with rusqlite (the same bundled SQLite
//! roomlog links) into a table shaped like roomlog's `events` table — the same columns, primary
//! key and indexes — in a database opened the way roomlog opens its writer (WAL,
//! `synchronous=FULL`, incremental auto-vacuum, the same page cache, no mmap). No HTTP, no JSON,
//! no authentication, no duplicate check: just the inserts and the commits.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::Connection;

use crate::events::{event_id, user_id, TYPES};

/// roomlog's `events` table and its indexes (migration 0001).
const SCHEMA: &str = "
CREATE TABLE events (
    room_id       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    event_id      TEXT    NOT NULL,
    event_type    INTEGER NOT NULL,
    timestamp_ms  INTEGER NOT NULL,
    user_id       TEXT,
    device        INTEGER,
    role          INTEGER,
    reason        INTEGER,
    duration      INTEGER,
    record_size   INTEGER,
    record_url    TEXT,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX events_by_event_id ON events (room_id, event_id);
CREATE INDEX events_by_type ON events (room_id, event_type, seq);
";

const INSERT: &str = "INSERT INTO events (room_id, seq, event_id, event_type, timestamp_ms, \
     user_id, device, role, reason, duration, record_size, record_url) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, NULL, NULL, NULL, NULL)";

#[derive(Debug, Clone, Copy, Default)]
pub struct RawResult {
    pub events: u64,
    pub commits: u64,
    pub elapsed: Duration,
}

impl RawResult {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    anyhow::ensure!(mode.eq_ignore_ascii_case("wal"), "journal_mode is {mode}");
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    conn.pragma_update(None, "mmap_size", 0)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Inserts events in transactions of `per_commit` rows, spreading transactions over `rooms`
/// rooms in turn (as the server run spreads its workers' reports), for `warmup` (not counted)
/// then `duration`. Each COMMIT is one WAL sync.
pub fn run(
    path: &Path,
    per_commit: u64,
    rooms: u64,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<RawResult> {
    let mut conn = open(path)?;
    let now_ms = crate::http::now_ms();
    let mut next_seq = vec![0u64; rooms as usize];
    let started = Instant::now();
    let measure_from = started + warmup;
    let measure_until = measure_from + duration;
    let mut result = RawResult::default();
    let mut txn_index = 0u64;
    // The window opens when the first counted transaction begins.
    let mut window_start = None;
    loop {
        let begun = Instant::now();
        if begun >= measure_until {
            break;
        }
        let room = txn_index % rooms;
        txn_index += 1;
        let stream = format!("raw{room}");
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            for _ in 0..per_commit {
                let n = next_seq[room as usize];
                next_seq[room as usize] += 1;
                insert.execute(rusqlite::params![
                    300_000_001 + room as i64,
                    n as i64 + 1,
                    event_id(&stream, n),
                    TYPES[(n % 10) as usize].1,
                    now_ms,
                    user_id(n),
                ])?;
            }
        }
        tx.commit()?;
        if begun >= measure_from {
            window_start.get_or_insert(begun);
            result.events += per_commit;
            result.commits += 1;
        }
    }
    result.elapsed = Instant::now().saturating_duration_since(window_start.unwrap_or(measure_from));
    Ok(result)
}
