//! roomlog's embedded store: one SQLite file in WAL mode.
//!
//! - **Durable before acknowledged**: `synchronous=FULL`, and a call returns only after the
//!   COMMIT that holds its writes.
//! - **One writer, group commit** ([`writer`]): a dedicated thread owns the only read-write
//!   connection and commits whatever is queued in one transaction (each command in its own
//!   savepoint), so concurrent small appends share one fsync.
//! - **Concurrent readers** ([`reader`]): a small pool of read-only connections; WAL lets them read
//!   the last committed state while the writer works.
//! - **Bounded memory**: a modest page cache per connection, and no operation loads more than a
//!   page of events.
//! - **Space comes back**: `auto_vacuum=INCREMENTAL`, and purges vacuum and checkpoint afterwards.
//! - **Derived state kept in the same commit**: presence (from MemberJoin/MemberQuit, with the
//!   attendance rules, `roomlog_core::presence`), each room's next lifecycle deadline, kick bars and stored
//!   attendance are written by the same command that changes what they derive from, so they can
//!   never disagree with the log after a crash. Only member events pay for presence.
//! - **Transactional outbox for callbacks** (`sql::deliveries`): the command that records an
//!   event also queues its delivery when the app has a callback URL, so an acknowledged event
//!   cannot lose its callback. Without a callback this costs one seek per command. Deliveries
//!   carry a copy of their event and outlive the retention purge; deleting a room deletes them.
//!
//! Another process (the admin CLI) may open the same file while the server runs: SQLite's file
//! locks serialise the two writers, and `busy_timeout` makes each wait for the other.

mod connection;
mod error;
mod files;
mod migrations;
mod reader;
mod rows;
mod sql;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;

use std::collections::HashMap;

use roomlog_core::attendance::RoomAttendance;
use roomlog_core::callback::{
    AppCallback, AttemptOutcome, Delivery, DeliveryListing, DeliveryStatus,
};
use roomlog_core::lifecycle::LifecyclePolicy;
use roomlog_core::store::prelude::*;
use roomlog_core::store::row::seq_range;
use roomlog_core::store::{in_batches, AttendancePage};
use roomlog_core::time::now_secs;
use roomlog_core::{
    Account, AccountId, Admission, ApiKey, App, AppendOutcome, CommitNotice, EventRange, EventType,
    NewEvent, Page, PresentMember, PurgeStats, Room, RoomId, RoomPage, RoomQuery, RoomSpec,
    SdkAppId, Store, StoreError, StoredEvent, User, Written,
};

pub use migrations::SCHEMA_VERSION;

use reader::ReadPool;
use writer::Writer;

/// Tuning knobs. The defaults suit the reference deployment (2 cores, < 100 MB RSS with a
/// million events stored).
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long a statement waits for a lock another process holds (the admin CLI and the
    /// server share the file).
    pub busy_timeout: Duration,
    /// Page cache of the writer connection, KiB.
    pub writer_cache_kib: u32,
    /// Page cache of each reader connection, KiB.
    pub reader_cache_kib: u32,
    /// Read-only connections kept for queries (also the number of concurrent queries).
    pub max_readers: usize,
    /// Most commands committed together in one group transaction.
    pub max_group: usize,
    /// Commands that may wait for the writer before callers are made to wait (backpressure).
    pub queue_depth: usize,
    /// Most events one purge or room-deletion command deletes, bounding how long it holds up
    /// ingest.
    pub purge_batch: u64,
    /// The automatic lifecycle the stored deadlines follow (`lifecycle::next_deadline`).
    pub lifecycle: LifecyclePolicy,
    /// Bring the deadlines of rooms in class in line with `lifecycle` at open (the server does;
    /// tools that open the store beside it, like `roomlog admin`, must not, or they would impose
    /// their default policy on the running server's rooms).
    pub recompute_deadlines: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            writer_cache_kib: 16_000,
            reader_cache_kib: 8_000,
            max_readers: 4,
            max_group: 1000,
            queue_depth: 4096,
            purge_batch: 10_000,
            lifecycle: LifecyclePolicy::default(),
            recompute_deadlines: true,
        }
    }
}

/// Totals of the group-committing writer since the store opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Group transactions committed: one fsync each.
    pub commits: u64,
    /// Commands those groups carried (`commands / commits` is the average group size).
    pub commands: u64,
    /// Groups that failed as a whole (every command in them answered with an error).
    pub failed_groups: u64,
}

/// Free pages one vacuum step moves (4 KiB pages: 16 MiB), bounding each step like the deletes.
const VACUUM_STEP_PAGES: u32 = 4096;

/// The SQLite [`Store`]. Cheap to clone: clones share the writer thread and reader pool, which
/// stop when the last clone is dropped (or at [`SqliteStore::close`]).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    options: SqliteOptions,
    writer: Writer,
    reader: Arc<ReadPool>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if needed) the database at `path` with the
    /// default options, and brings its schema up to date. The directory is made 0700 and the
    /// database and its `-wal` and `-shm` files 0600, whatever the umask (see `files`).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with explicit options.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        // Owner only (0700 directory, 0600 files): the database holds every secret key.
        files::prepare(path)?;
        let mut conn = connection::open_writer(path, &options)?;
        migrations::migrate(&mut conn, now_secs(), &options.lifecycle)?;
        // The deadlines of rooms in class depend on the policy, which is configuration: bring
        // them in line with this open's (a no-op, and no sync, when it did not change).
        if options.recompute_deadlines {
            sql::rooms::refresh_in_class_deadlines(&mut conn, &options.lifecycle)?;
        }
        let writer = Writer::spawn(conn, options.queue_depth, options.max_group)?;
        let reader = ReadPool::new(path.to_path_buf(), options.clone());
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                options,
                writer,
                reader,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The writer's totals since open (for metrics).
    pub fn writer_stats(&self) -> WriterStats {
        let counters = self.inner.writer.counters();
        WriterStats {
            commits: counters.commits.load(Ordering::Relaxed),
            commands: counters.commands.load(Ordering::Relaxed),
            failed_groups: counters.failed_groups.load(Ordering::Relaxed),
        }
    }

    /// Graceful shutdown: finishes and commits every write already queued, then stops the writer
    /// thread and closes all connections. Calls made afterwards (through any clone) fail with a
    /// `Backend` error. Idempotent.
    pub async fn close(&self) {
        self.inner.writer.shutdown().await;
        self.inner.reader.close();
    }

    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.writer.write(work).await
    }

    async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.reader.read(query).await
    }

    fn policy(&self) -> LifecyclePolicy {
        self.inner.options.lifecycle
    }

    fn batch(&self) -> u64 {
        self.inner.options.purge_batch.max(1)
    }

    /// Shrinks the file after large deletions: vacuums the free pages away in bounded steps, then
    /// checkpoints so the truncation reaches the disk. Best effort: the deletions themselves are
    /// committed already, so a failure here is logged, not returned.
    async fn reclaim_space(&self) {
        let mut previous = u64::MAX;
        loop {
            match self
                .inner
                .writer
                .standalone(|conn| sql::purge::incremental_vacuum(conn, VACUUM_STEP_PAGES))
                .await
            {
                // Stop when done, or if a step made no progress (never loop forever).
                Ok(left) if left == 0 || left >= previous => break,
                Ok(left) => previous = left,
                Err(e) => {
                    tracing::warn!(error = %e, "incremental vacuum failed");
                    return;
                }
            }
        }
        let busy_timeout = self.inner.options.busy_timeout;
        match self
            .inner
            .writer
            .standalone(move |conn| sql::purge::checkpoint_truncate(conn, busy_timeout))
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::debug!("WAL checkpoint after purge was partial (readers busy)"),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint after purge failed"),
        }
    }
}

/// Implements a storage trait for [`SqliteStore`]. Each `fn` runs one `sql` function, on a
/// reader (`read`) or the writer (`write`): its body runs on that connection's thread, so it
/// takes owned copies of the borrowed arguments listed in `[...]`. Methods that do more follow
/// in full, in a block of their own.
macro_rules! store_impl {
    ($trait:ident {
        $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty
            = $how:ident [$($own:ident),*] |$c:ident| $body:expr;)*
    } $({ $($method:tt)* })?) => {
        #[async_trait]
        impl $trait for SqliteStore {
            $(async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                $(let $own = $own.to_owned();)*
                self.$how(move |$c| $body).await
            })*
            $($($method)*)?
        }
    };
}

store_impl!(Accounts {
    fn create_account(&self, name: &str) -> Account
        = write [name] |c| sql::accounts::insert_account(c, &name, now_secs());
    fn list_accounts(&self) -> Vec<Account> = read [] |c| sql::accounts::list_accounts(c);
    fn create_first_account(&self, name: &str) -> Option<Account>
        = write [name] |c| sql::accounts::insert_first_account(c, &name, now_secs());
    fn create_app(&self, account: AccountId, name: &str) -> App
        = write [name] |c| sql::accounts::insert_app(c, account, &name, now_secs());
    fn list_apps(&self, account: Option<AccountId>) -> Vec<App>
        = read [] |c| sql::accounts::list_apps(c, account);
    fn get_app(&self, sdk_app_id: SdkAppId) -> Option<App>
        = read [] |c| sql::accounts::get_app(c, sdk_app_id);
    fn insert_key(&self, key: &ApiKey) -> () = write [key] |c| sql::accounts::insert_key(c, &key);
    fn list_keys(&self, account: Option<AccountId>) -> Vec<ApiKey>
        = read [] |c| sql::accounts::list_keys(c, account);
    fn set_key_enabled(&self, secret_id: &str, enabled: bool) -> bool
        = write [secret_id] |c| sql::accounts::set_key_enabled(c, &secret_id, enabled);
    fn get_key(&self, secret_id: &str) -> Option<ApiKey>
        = read [secret_id] |c| sql::accounts::get_key(c, &secret_id);
});

store_impl!(Rooms {
    fn get_room(&self, room_id: RoomId) -> Option<Room>
        = read [] |c| sql::rooms::load_room(c, room_id);
    fn list_rooms(&self, query: &RoomQuery) -> (u64, Vec<Room>)
        = read [query] |c| sql::rooms::list_rooms(c, &query);
    fn next_deadline(&self) -> Option<i64> = read [] |c| sql::rooms::next_deadline_ms(c);
    fn due_rooms(&self, now_ms: i64, limit: u64) -> Vec<Room>
        = read [] |c| sql::rooms::due_rooms(c, now_ms, limit);
} {
    async fn create_rooms(
        &self,
        app: &App,
        specs: Vec<RoomSpec>,
        created_at: i64,
    ) -> Result<Written<Vec<RoomId>>, StoreError> {
        let (app, policy) = (app.clone(), self.policy());
        self.write(move |c| sql::rooms::create_rooms(c, &app, &specs, created_at, &policy))
            .await
    }

    async fn modify_room(&self, id: RoomId, spec: RoomSpec) -> Result<Written<Room>, StoreError> {
        let policy = self.policy();
        self.write(move |c| sql::rooms::modify_room(c, id, spec, &policy))
            .await
    }

    async fn delete_room(&self, room_id: RoomId) -> Result<(), StoreError> {
        let budget = self.batch();
        let first = self
            .write(move |c| sql::purge::delete_room(c, room_id, budget))
            .await?;
        // The room is gone (committed). Its remaining events are deleted in bounded batches; if
        // that is interrupted, `deleted_rooms` remembers them and the next purge finishes.
        let mut deleted = first.events;
        if !first.done {
            let rest = in_batches(|| {
                self.write(move |c| sql::purge::delete_orphaned_events(c, room_id, budget))
            });
            match rest.await {
                Ok(rest) => deleted += rest.events,
                Err(e) => {
                    tracing::warn!(room_id, error = %e,
                        "deleting a deleted room's events stopped; the next purge finishes");
                    return Ok(());
                }
            }
        }
        if deleted >= budget {
            self.reclaim_space().await;
        }
        Ok(())
    }

    async fn start_room(&self, id: RoomId, event: NewEvent) -> Result<Written<Room>, StoreError> {
        let policy = self.policy();
        self.write(move |c| sql::recording::start(c, id, event, &policy))
            .await
    }

    async fn end_room(&self, id: RoomId, event: NewEvent) -> Result<Written<Room>, StoreError> {
        let policy = self.policy();
        self.write(move |c| sql::recording::end(c, id, event, &policy))
            .await
    }

    async fn expire_room(&self, room_id: RoomId) -> Result<Written<Room>, StoreError> {
        let policy = self.policy();
        self.write(move |c| sql::recording::expire(c, room_id, &policy))
            .await
    }
});

store_impl!(EventLog {
    fn read_events(&self, room_id: RoomId, first_seq: u64, limit: u64) -> Vec<StoredEvent>
        = read [] |c| sql::events::read_range(c, room_id, seq_range(first_seq, limit));
    fn read_events_of_type(
        &self, room_id: RoomId, event_type: EventType, after_seq: u64, limit: u64
    ) -> Vec<StoredEvent>
        = read [] |c| sql::events::read_of_type(c, room_id, event_type, after_seq, limit);
    fn next_purge_candidate(&self) -> Option<i64>
        = read [] |c| sql::purge::next_purge_candidate(c);
} {
    async fn append_events(
        &self,
        room_id: RoomId,
        events: Vec<NewEvent>,
        admit: Admission,
    ) -> Result<Written<AppendOutcome>, StoreError> {
        let policy = self.policy();
        self.write(move |c| sql::recording::append(c, room_id, events, admit, &policy))
            .await
    }

    async fn read_room_page(
        &self,
        room_id: RoomId,
        range: EventRange,
    ) -> Result<Option<RoomPage>, StoreError> {
        // One read transaction instead of two, run on the calling thread when a reader is free
        // (see `ReadPool::read_short`): a room row and at most a page of events.
        self.inner
            .reader
            .read_short(move |c| sql::events::read_room_page(c, room_id, range))
            .await
    }

    async fn purge_events(&self, ended_at_or_before_ms: i64) -> Result<PurgeStats, StoreError> {
        let budget = self.batch();
        // Leftovers of room deletions that were interrupted (not counted as purged rooms).
        let freed =
            in_batches(|| self.write(move |c| sql::purge::drain_deleted_rooms(c, budget))).await?;
        let stats = in_batches(|| {
            self.write(move |c| sql::purge::purge_some(c, ended_at_or_before_ms, budget))
        })
        .await?;
        if stats.events + freed.events > 0 {
            self.reclaim_space().await;
        }
        Ok(stats)
    }
});

store_impl!(Presence {
    fn current_members(&self, room_id: RoomId, page: Page) -> (u64, Vec<PresentMember>)
        = read [] |c| sql::presence::current_members(c, room_id, page);
    fn unblock_user(&self, room_id: RoomId, user_id: &str) -> bool
        = write [user_id] |c| sql::kicks::unblock(c, room_id, &user_id);
} {
    async fn kick_user(
        &self,
        room_id: RoomId,
        user_id: &str,
        until_ms: Option<i64>,
        quit: NewEvent,
    ) -> Result<Written<bool>, StoreError> {
        let (user_id, policy) = (user_id.to_owned(), self.policy());
        self.write(move |c| sql::recording::kick(c, room_id, &user_id, until_ms, quit, &policy))
            .await
    }
});

// `save_attendance` clones the records once to hand them to the writer thread; serialising
// them there keeps the caller's task free and the work inside the one command that stores them.
store_impl!(Attendance {
    fn rooms_awaiting_attendance(&self, limit: u64) -> Vec<RoomId>
        = read [] |c| sql::attendance::awaiting(c, limit);
    fn save_attendance(&self, room_id: RoomId, attendance: &RoomAttendance) -> ()
        = write [attendance] |c| sql::attendance::save(c, room_id, &attendance);
    fn attendance(&self, room_id: RoomId, page: Page) -> Option<AttendancePage>
        = read [] |c| sql::attendance::page(c, room_id, page);
});

store_impl!(Users {
    fn register_users(&self, users: Vec<User>, overwrite: bool) -> Vec<User>
        = write [] |c| sql::users::register(c, users, overwrite);
    fn get_user(&self, user_id: &str) -> Option<User>
        = read [user_id] |c| sql::users::get(c, &user_id);
    fn get_user_by_origin(&self, sdk_app_id: SdkAppId, origin_id: &str) -> Option<User>
        = read [origin_id] |c| sql::users::get_by_origin(c, sdk_app_id, &origin_id);
    fn set_user_token(&self, user_id: &str, token: &str, expires_ms: i64) -> bool
        = write [user_id, token] |c| sql::users::set_token(c, &user_id, &token, expires_ms);
    fn user_names(&self, sdk_app_id: SdkAppId, user_ids: &[String]) -> HashMap<String, String>
        = read [user_ids] |c| sql::users::names(c, sdk_app_id, &user_ids);
});

#[async_trait]
impl Outbox for SqliteStore {
    async fn set_app_callback(
        &self,
        sdk_app_id: SdkAppId,
        callback: Option<&str>,
        callback_key: Option<&str>,
    ) -> Result<AppCallback, StoreError> {
        let (url, key) = (callback.map(str::to_owned), callback_key.map(str::to_owned));
        self.write(move |c| {
            sql::deliveries::set_app_callback(c, sdk_app_id, url.as_deref(), key.as_deref())
        })
        .await
    }

    async fn app_callback(&self, sdk_app_id: SdkAppId) -> Result<AppCallback, StoreError> {
        // One row by key, read before every callback sent: run here (`read_short`).
        self.inner
            .reader
            .read_short(move |c| sql::deliveries::app_callback(c, sdk_app_id))
            .await
    }

    async fn claim_due_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        // The worker claims at every wake-up, and every committed event wakes it: most claims
        // find nothing due (with no callbacks configured, none ever does). Those are answered by
        // a reader instead of a command queued behind ingest on the writer. Safe: the reader
        // sees everything committed, and whatever commits later wakes the worker again.
        // One index seek, asked at every commit: run where the caller is (`read_short`).
        if limit == 0
            || !self
                .inner
                .reader
                .read_short(move |c| sql::deliveries::any_due(c, now_ms))
                .await?
        {
            return Ok(Vec::new());
        }
        // Selecting and leasing in one writer command is what keeps two claims from handing out
        // the same head.
        self.write(move |c| sql::deliveries::claim(c, now_ms, lease_until_ms, limit))
            .await
    }

    async fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        // The first entry of an index, asked after every claim: like `any_due`, run here.
        self.inner
            .reader
            .read_short(sql::deliveries::next_due)
            .await
    }

    async fn release_orphaned_leases(&self) -> Result<u64, StoreError> {
        self.write(sql::deliveries::release_leases).await
    }

    async fn record_attempt(
        &self,
        room_id: RoomId,
        seq: u64,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        let outcome = outcome.clone();
        self.write(move |c| sql::deliveries::record_attempt(c, room_id, seq, outcome))
            .await
    }

    async fn list_deliveries(
        &self,
        sdk_app_id: SdkAppId,
        room_id: Option<RoomId>,
        status: Option<DeliveryStatus>,
        page: Page,
    ) -> Result<(u64, Vec<Delivery>), StoreError> {
        let listing = DeliveryListing::new(sdk_app_id, room_id, status, page);
        self.read(move |c| sql::deliveries::list(c, listing)).await
    }

    async fn replay_deliveries(
        &self,
        room_id: RoomId,
        from_seq: Option<u64>,
        event_ids: Option<Vec<String>>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.write(move |c| sql::deliveries::replay(c, room_id, from_seq, event_ids, now_ms))
            .await
    }

    async fn purge_deliveries(&self, before_ms: i64) -> Result<u64, StoreError> {
        let budget = self.batch();
        let mut forgotten = 0;
        // Bounded batches, each its own command: ingest keeps flowing between them. A batch
        // that may have left some deleted a full budget, so this loop always progresses.
        loop {
            let (deleted, more) = self
                .write(move |c| sql::deliveries::purge_some(c, before_ms, budget))
                .await?;
            forgotten += deleted;
            if !more {
                break;
            }
        }
        // Small steady purges leave free pages that new deliveries reuse; only a large one is
        // worth giving back to the filesystem.
        if forgotten >= budget {
            self.reclaim_space().await;
        }
        Ok(forgotten)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        SqliteStore::close(self).await;
    }

    /// One process writes through this store (the admin CLI only briefly, beside it).
    fn is_shared(&self) -> bool {
        false
    }

    /// None: the one process notifies its own streams.
    async fn commit_feed(&self) -> Option<tokio::sync::mpsc::Receiver<CommitNotice>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &Connection, name: &str) -> Result<i64, StoreError> {
        use crate::error::Context;
        conn.pragma_query_value(None, name, |row| row.get(0))
            .context(name)
    }

    /// Per-connection settings cannot be seen from another connection: ask the store's own.
    #[tokio::test]
    async fn connections_have_the_settings_durability_and_memory_rely_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
        let writer = store
            .inner
            .writer
            .standalone(|c| {
                Ok([
                    pragma(c, "synchronous")?,
                    pragma(c, "foreign_keys")?,
                    pragma(c, "busy_timeout")?,
                    pragma(c, "cache_size")?,
                    pragma(c, "auto_vacuum")?,
                    pragma(c, "mmap_size")?,
                    pragma(c, "temp_store")?,
                    pragma(c, "wal_autocheckpoint")?,
                ])
            })
            .await
            .unwrap();
        // synchronous 2 = FULL; auto_vacuum 2 = INCREMENTAL; temp_store 2 = MEMORY.
        assert_eq!(writer, [2, 1, 5000, -16_000, 2, 0, 2, 4000]);
        let reader = store
            .read(|c| {
                Ok([
                    pragma(c, "busy_timeout")?,
                    pragma(c, "cache_size")?,
                    pragma(c, "mmap_size")?,
                ])
            })
            .await
            .unwrap();
        assert_eq!(reader, [5000, -8_000, 0]);
        // Readers cannot write, even by mistake.
        let write = store
            .read(|c| {
                use crate::error::Context;
                c.execute("DELETE FROM accounts", []).context("writing")
            })
            .await;
        assert!(matches!(write, Err(StoreError::Backend(_))), "{write:?}");
    }

    /// A cached statement with range parameters is prepared once, not at every execution
    /// (see `connection::fix_plans`).
    #[tokio::test]
    async fn range_reads_are_not_prepared_again_at_each_execution() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            max_readers: 1,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open_with(&dir.path().join("roomlog.db"), options).unwrap();
        for first in 1..=5 {
            store.read_events(1, first, 100).await.unwrap();
        }
        let (reprepared, qpsg) = store
            .read(|c| {
                use crate::error::Context;
                let stmt = c
                    .prepare_cached(roomlog_core::store::sql::READ_RANGE)
                    .context("preparing")?;
                let qpsg = c
                    .db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)
                    .context("reading the config")?;
                Ok((stmt.get_status(rusqlite::StatementStatus::RePrepare), qpsg))
            })
            .await
            .unwrap();
        assert!(qpsg);
        assert_eq!(reprepared, 0, "the page read was prepared again");
        let writer_qpsg = store
            .inner
            .writer
            .standalone(|c| {
                use crate::error::Context;
                c.db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)
                    .context("reading the config")
            })
            .await
            .unwrap();
        assert!(writer_qpsg);
    }

    #[tokio::test]
    async fn readers_are_bounded_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            max_readers: 2,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open_with(&dir.path().join("roomlog.db"), options).unwrap();
        let reads: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.list_accounts().await })
            })
            .collect();
        for read in reads {
            read.await.unwrap().unwrap();
        }
        let idle = store.inner.reader.idle_connections();
        assert!((1..=2).contains(&idle), "{idle} idle readers");
    }
}
