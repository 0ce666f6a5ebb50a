//! roomlog's shared store: PostgreSQL, so that several roomlog server processes ("nodes") serve
//! one set of rooms from one database.
//!
//! - **Durable before acknowledged**: every call returns after the COMMIT that holds its writes
//!   (with the server's default `synchronous_commit = on`, that is after the WAL flush).
//! - **Correct with concurrent writers on other nodes**: nothing relies on being the only
//!   writer. A write that builds on a room locks the room row first (`SELECT ... FOR UPDATE`)
//!   and rereads what it builds on under that lock, so writers to one room queue: sequence
//!   numbers come from the stored `rooms.last_seq` (dense, gap-free), event ids are checked
//!   against everything committed (idempotent ingest, backed by a unique index), and lifecycle
//!   changes are compare-and-sets on the status found under the lock (two schedulers ending
//!   the same class: one ends it, the other gets `WrongStatus`). Locks are taken in one global
//!   order (`sql` module) so no two writers deadlock.
//! - **Workers on many nodes**: callback deliveries are claimed with `FOR UPDATE SKIP LOCKED`
//!   and leased (`sql::deliveries`), so a room's head-of-line delivery is with one worker at a
//!   time and an expired lease hands it out again; the retention purge takes its rooms the same
//!   way, in bounded batches, so N nodes purging at once delete everything exactly once.
//! - **Derived state kept in the same transaction**: presence (`roomlog_core::presence`, the SQLite
//!   store's rules), each room's next lifecycle deadline, kick bars, stored attendance and the
//!   callback outbox are written by the transaction that changes what they derive from.
//! - **A commit feed for the other nodes** (module `feed`): after a command that recorded
//!   events commits, the room's id goes out on LISTEN/NOTIFY, so live streams and callback
//!   workers on every node wake up ([`PgStore::commit_feed`]).
//! - **Few round trips**: statements are prepared once per pooled connection, and a batch of
//!   events travels as arrays (`UNNEST`), so an append costs a fixed number of round trips
//!   whatever its size.
//! - **The SQLite store's schema**: the same tables and columns, with the same codes and value
//!   semantics (BIGINT for INTEGER, 0/1 for booleans, JSON as TEXT), so a generic row copier
//!   moves a database between the two ([`TABLES`], [`SEQUENCES`], [`PgStore::reset_sequences`]).
//!   Migrations are refinery's, embedded, numbered like SQLite's ([`SCHEMA_VERSION`]).
//!
//! Space freed by purges is reclaimed by PostgreSQL's autovacuum, not by the store.
//! Connections are plain TCP (no TLS).

mod connection;
mod error;
mod feed;
pub mod import;
mod migrations;
mod rows;
mod sql;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Pool, PoolError};

use roomlog_core::attendance::RoomAttendance;
use roomlog_core::callback::{
    AppCallback, AttemptOutcome, Delivery, DeliveryListing, DeliveryStatus,
};
use roomlog_core::lifecycle::LifecyclePolicy;
use roomlog_core::store::prelude::*;
use roomlog_core::store::row::seq_range;
use roomlog_core::store::{in_batches, AttendancePage, EventRange, RoomPage};
use roomlog_core::time::now_secs;
use roomlog_core::{
    Account, AccountId, Admission, ApiKey, App, AppendOutcome, CommitNotice, EventType, NewEvent,
    Page, PresentMember, PurgeStats, Room, RoomId, RoomQuery, RoomSpec, SdkAppId, Store,
    StoreError, StoredEvent, User, Written,
};

pub use migrations::SCHEMA_VERSION;

use error::Error;
use sql::Client;

/// The data tables, parents before children (foreign keys point backwards in this list), for a
/// tool that copies a database table by table. Every table the SQLite store has, with the same
/// columns, except its own bookkeeping (`sqlite_sequence`, `schema_migrations`) and
/// `event_types`, reference data that the migration writes (identical in both stores). The
/// PostgreSQL-only `refinery_schema_history` is the migrations' bookkeeping, not data.
pub const TABLES: &[&str] = &[
    "accounts",
    "apps",
    "api_keys",
    "users",
    "rooms",
    "events",
    "deleted_rooms",
    "presence",
    "kicks",
    "attendance_records",
    "deliveries",
    "delivery_heads",
];

/// The `(table, column)` ids that identity sequences give out. A copy that inserted ids must
/// then move the sequences past them ([`PgStore::reset_sequences`]), and should carry over the
/// SQLite high-water marks (`sqlite_sequence`) with [`PgStore::advance_sequence`], so that an id
/// handed out once and deleted since is never handed out again.
pub const SEQUENCES: &[(&str, &str)] = &[
    ("accounts", "account_id"),
    ("apps", "sdk_app_id"),
    ("rooms", "room_id"),
];

/// The LISTEN/NOTIFY channel of the commit feed of the stores in `schema` (`None`: the
/// connection's default): `LISTEN` to it in `psql` to watch commits, or find the feed's
/// connections in `pg_stat_activity` (their query is `LISTEN <channel>`).
pub fn commit_channel(schema: Option<&str>) -> String {
    feed::channel(schema)
}

/// Settings of a [`PgStore`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The automatic lifecycle the stored deadlines follow (`lifecycle::next_deadline`). Every
    /// node sharing a database should use the same.
    pub lifecycle: LifecyclePolicy,
    /// Most connections this store keeps open (also the most concurrent calls it runs; more
    /// wait for a free connection). Mind the server's `max_connections` across all nodes.
    pub pool_size: usize,
    /// The schema holding roomlog's tables (its connections' `search_path`), created if missing.
    /// `None`: the server's default search path (normally `public`).
    pub schema: Option<String>,
    /// Bring the deadlines of rooms in class in line with `lifecycle` at connect (a node does;
    /// tools like `roomlog admin` must not, or they would impose their default policy on the
    /// running nodes' rooms).
    pub recompute_deadlines: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            lifecycle: LifecyclePolicy::default(),
            pool_size: 16,
            schema: None,
            recompute_deadlines: true,
        }
    }
}

/// Most rows one purge or room-deletion transaction deletes, bounding how long it holds the
/// rooms it works on.
const DEFAULT_PURGE_BATCH: u64 = 10_000;

/// Times an operation is run again after losing a race (a deadlock, a serialization failure,
/// a concurrent insert of the same unique key) before its error is returned.
const MAX_RETRIES: u32 = 4;

/// The PostgreSQL [`Store`]. Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    policy: LifecyclePolicy,
    purge_batch: u64,
    schema: Option<String>,
    /// For connections outside the pool (the commit feed's listener).
    config: tokio_postgres::Config,
    /// The commit feed's notification channel (`feed::channel`).
    channel: String,
    /// Turns true at [`PgStore::close`]: the commit feeds stop.
    closed: Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("PgStore")
            .field("schema", &self.inner.schema)
            .finish_non_exhaustive()
    }
}

/// Runs pending migrations only; returns the versions applied, in order (empty when the schema
/// was up to date). For `roomlog migrate`; [`PgStore::connect`] does this by itself. `schema`
/// is created if missing.
pub async fn migrate(url: &str, schema: Option<&str>) -> Result<Vec<i32>, StoreError> {
    let config = connection::pg_config(url, schema)?;
    migrations::migrate(&config, schema).await
}

impl PgStore {
    /// Connects, runs pending migrations, returns the store.
    ///
    /// Also recomputes the deadlines of the rooms in class for `options.lifecycle` (the
    /// idle-end policy is configuration). The pool opens connections on demand.
    pub async fn connect(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let config = connection::pg_config(url, options.schema.as_deref())?;
        migrations::migrate(&config, options.schema.as_deref()).await?;
        let config = connection::durable(config).await?;
        let pool = connection::pool(config.clone(), options.pool_size)?;
        let recompute_deadlines = options.recompute_deadlines;
        let store = PgStore {
            inner: Arc::new(Inner {
                pool,
                policy: options.lifecycle,
                purge_batch: DEFAULT_PURGE_BATCH,
                channel: feed::channel(options.schema.as_deref()),
                schema: options.schema,
                config,
                closed: Arc::new(tokio::sync::watch::Sender::new(false)),
            }),
        };
        if !recompute_deadlines {
            return Ok(store);
        }
        let policy = store.inner.policy;
        let changed = store
            .run(move |mut c| async move {
                sql::rooms::refresh_in_class_deadlines(&mut c, &policy).await
            })
            .await?;
        if changed > 0 {
            tracing::info!(
                rooms = changed,
                "recomputed the deadlines of rooms in class for the current lifecycle policy"
            );
        }
        Ok(store)
    }

    /// This store with another purge batch size (rows one purge or deletion transaction
    /// deletes at most; default 10,000), sharing the connection pool.
    pub fn with_purge_batch(&self, batch: u64) -> PgStore {
        PgStore {
            inner: Arc::new(Inner {
                pool: self.inner.pool.clone(),
                policy: self.inner.policy,
                purge_batch: batch.max(1),
                schema: self.inner.schema.clone(),
                config: self.inner.config.clone(),
                channel: self.inner.channel.clone(),
                closed: self.inner.closed.clone(),
            }),
        }
    }

    /// Tells the commit feed's listeners of the room a write recorded events in, if any (after
    /// the commit: see module `feed`). Best effort: the events are committed whatever happens
    /// here.
    async fn announce<T>(&self, written: Written<T>) -> Written<T> {
        let Some(room_id) = written.changes.events_in else {
            return written;
        };
        let sql = feed::notify_sql(&self.inner.channel, room_id);
        let sent = match self.client().await {
            Ok(client) => client
                .batch_execute(&sql)
                .await
                .map_err(|e| error::describe(&e)),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            tracing::warn!(room_id, error = %e, "announcing a commit on the commit feed failed");
        }
        written
    }

    /// After a copy that inserted ids: moves every id sequence ([`SEQUENCES`]) past the highest
    /// id in its table. Never moves a sequence back. Safe while nodes are serving (each table is
    /// locked against inserts meanwhile).
    pub async fn reset_sequences(&self) -> Result<(), StoreError> {
        for (table, column) in SEQUENCES {
            self.run(move |mut c| async move {
                sql::sequences::advance(&mut c, table, column, None).await
            })
            .await?;
        }
        Ok(())
    }

    /// Moves the id sequence of `table` (one of [`SEQUENCES`]) so the next id is above both
    /// `at_least` and every id in the table (for a copy: SQLite's `sqlite_sequence` value of the
    /// table). Never moves it back. Returns the highest id now considered given out.
    pub async fn advance_sequence(&self, table: &str, at_least: i64) -> Result<i64, StoreError> {
        let (table, column) = SEQUENCES
            .iter()
            .find(|(name, _)| *name == table)
            .copied()
            .ok_or_else(|| StoreError::Backend(format!("table {table:?} has no id sequence")))?;
        self.run(move |mut c| async move {
            sql::sequences::advance(&mut c, table, column, Some(at_least)).await
        })
        .await
    }

    /// Graceful shutdown: closes the pool (connections in use close when their call ends) and
    /// stops the commit feeds. Later calls, through any clone, fail with a `Backend` error.
    /// Idempotent.
    pub async fn close(&self) {
        self.inner.pool.close();
        self.inner.closed.send_replace(true);
    }

    fn policy(&self) -> LifecyclePolicy {
        self.inner.policy
    }

    fn batch(&self) -> u64 {
        self.inner.purge_batch
    }

    async fn client(&self) -> Result<Client, StoreError> {
        self.inner.pool.get().await.map_err(|e| match e {
            PoolError::Closed => StoreError::Backend("the PostgreSQL store is closed".into()),
            PoolError::Backend(e) => {
                StoreError::Backend(format!("connecting to PostgreSQL: {}", error::describe(&e)))
            }
            e => StoreError::Backend(format!("getting a PostgreSQL connection: {e}")),
        })
    }

    /// Runs `op` on a pooled connection, again (on a fresh one) if it lost a race that left
    /// nothing written ([`Error::Retry`]). For operations whose inputs can be replayed;
    /// `append_events` (whose admission runs once) calls [`PgStore::once`].
    async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut retries = 0;
        loop {
            let client = self.client().await?;
            match op(client).await {
                Ok(value) => return Ok(value),
                Err(Error::Retry(message)) if retries < MAX_RETRIES => {
                    retries += 1;
                    tracing::debug!(%message, retries, "retrying a store operation");
                    // A short, growing pause lets the winner of the race commit first.
                    tokio::time::sleep(Duration::from_millis(5 << retries)).await;
                }
                Err(e) => return Err(e.into_store()),
            }
        }
    }

    async fn once<T, Fut>(&self, op: impl FnOnce(Client) -> Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, Error>>,
    {
        let client = self.client().await?;
        op(client).await.map_err(Error::into_store)
    }
}

/// Implements a storage trait for [`PgStore`]. Each `fn` runs one `sql` function on a pooled
/// connection (`run`: again on a fresh one after a lost race, so its body may run more than
/// once). Methods that do more follow in full, in a block of their own.
macro_rules! store_impl {
    ($trait:ident {
        $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty
            = |$c:pat_param| $body:expr;)*
    } $({ $($method:tt)* })?) => {
        #[async_trait]
        impl $trait for PgStore {
            $(async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                self.run(move |$c| async move { $body.await }).await
            })*
            $($($method)*)?
        }
    };
}

store_impl!(Accounts {
    fn create_account(&self, name: &str) -> Account
        = |c| sql::accounts::insert_account(&c, name, now_secs());
    fn create_first_account(&self, name: &str) -> Option<Account>
        = |mut c| sql::accounts::insert_first_account(&mut c, name, now_secs());
    fn list_accounts(&self) -> Vec<Account> = |c| sql::accounts::list_accounts(&c);
    fn create_app(&self, account: AccountId, name: &str) -> App
        = |c| sql::accounts::insert_app(&c, account, name, now_secs());
    fn list_apps(&self, account: Option<AccountId>) -> Vec<App>
        = |c| sql::accounts::list_apps(&c, account);
    fn get_app(&self, sdk_app_id: SdkAppId) -> Option<App>
        = |c| sql::accounts::get_app(&c, sdk_app_id);
    fn insert_key(&self, key: &ApiKey) -> () = |c| sql::accounts::insert_key(&c, key);
    fn list_keys(&self, account: Option<AccountId>) -> Vec<ApiKey>
        = |c| sql::accounts::list_keys(&c, account);
    fn set_key_enabled(&self, secret_id: &str, enabled: bool) -> bool
        = |c| sql::accounts::set_key_enabled(&c, secret_id, enabled);
    fn get_key(&self, secret_id: &str) -> Option<ApiKey>
        = |c| sql::accounts::get_key(&c, secret_id);
});

store_impl!(Rooms {
    fn get_room(&self, room_id: RoomId) -> Option<Room> = |c| sql::rooms::load_room(&c, room_id);
    fn list_rooms(&self, query: &RoomQuery) -> (u64, Vec<Room>)
        = |mut c| sql::rooms::list_rooms(&mut c, query);
    fn next_deadline(&self) -> Option<i64> = |c| sql::rooms::next_deadline_ms(&c);
    fn due_rooms(&self, now_ms: i64, limit: u64) -> Vec<Room>
        = |c| sql::rooms::due_rooms(&c, now_ms, limit);
} {
    async fn create_rooms(
        &self,
        app: &App,
        specs: Vec<RoomSpec>,
        created_at: i64,
    ) -> Result<Written<Vec<RoomId>>, StoreError> {
        let (policy, specs) = (self.policy(), &specs);
        self.run(move |mut c| async move {
            sql::rooms::create_rooms(&mut c, app, specs, created_at, &policy).await
        })
        .await
    }

    async fn modify_room(&self, id: RoomId, spec: RoomSpec) -> Result<Written<Room>, StoreError> {
        let (policy, spec) = (self.policy(), &spec);
        self.run(move |mut c| async move {
            sql::rooms::modify_room(&mut c, id, spec.clone(), &policy).await
        })
        .await
    }

    async fn delete_room(&self, room_id: RoomId) -> Result<(), StoreError> {
        let budget = self.batch();
        let first = self
            .run(move |mut c| async move { sql::purge::delete_room(&mut c, room_id, budget).await })
            .await?;
        // The room is gone (committed). Its remaining rows are deleted in bounded batches; if
        // that is interrupted, `deleted_rooms` remembers them and the next purge finishes.
        if !first.done {
            let rest = in_batches(|| {
                self.run(move |mut c| async move {
                    sql::purge::delete_orphaned_events(&mut c, room_id, budget).await
                })
            });
            if let Err(e) = rest.await {
                tracing::warn!(room_id, error = %e,
                    "deleting a deleted room's rows stopped; the next purge finishes");
            }
        }
        Ok(())
    }

    async fn start_room(&self, id: RoomId, event: NewEvent) -> Result<Written<Room>, StoreError> {
        let (policy, event) = (self.policy(), &event);
        let written = self
            .run(move |mut c| async move {
                sql::recording::start(&mut c, id, event.clone(), &policy).await
            })
            .await?;
        Ok(self.announce(written).await)
    }

    async fn end_room(&self, id: RoomId, event: NewEvent) -> Result<Written<Room>, StoreError> {
        let (policy, event) = (self.policy(), &event);
        let written = self
            .run(move |mut c| async move {
                sql::recording::end(&mut c, id, event.clone(), &policy).await
            })
            .await?;
        Ok(self.announce(written).await)
    }

    async fn expire_room(&self, room_id: RoomId) -> Result<Written<Room>, StoreError> {
        let policy = self.policy();
        self.run(move |mut c| async move { sql::recording::expire(&mut c, room_id, &policy).await })
            .await
    }
});

store_impl!(EventLog {
    fn read_events(&self, room_id: RoomId, first_seq: u64, limit: u64) -> Vec<StoredEvent>
        = |c| sql::events::read_range(&c, room_id, seq_range(first_seq, limit));
    fn read_events_of_type(
        &self, room_id: RoomId, event_type: EventType, after_seq: u64, limit: u64
    ) -> Vec<StoredEvent>
        = |c| sql::events::read_of_type(&c, room_id, event_type, after_seq, limit);
    fn next_purge_candidate(&self) -> Option<i64> = |c| sql::purge::next_purge_candidate(&c);
} {
    async fn append_events(
        &self,
        room_id: RoomId,
        events: Vec<NewEvent>,
        admit: Admission,
    ) -> Result<Written<AppendOutcome>, StoreError> {
        let policy = self.policy();
        // Not retried: the admission rule runs once. (Under the room lock an append meets no
        // race it could lose: see the `sql` module.)
        let written = self
            .once(move |mut c| async move {
                sql::recording::append(&mut c, room_id, events, admit, &policy).await
            })
            .await?;
        Ok(self.announce(written).await)
    }

    async fn read_room_page(
        &self,
        room_id: RoomId,
        range: EventRange,
    ) -> Result<Option<RoomPage>, StoreError> {
        // One pooled connection, two round trips. `once`: `range` runs once, and a read loses
        // no race that a retry would win.
        self.once(move |c| async move { sql::events::read_room_page(&c, room_id, range).await })
            .await
    }

    async fn purge_events(&self, ended_at_or_before_ms: i64) -> Result<PurgeStats, StoreError> {
        let budget = self.batch();
        // Leftovers of room deletions that were interrupted (not counted as purged rooms).
        in_batches(|| {
            self.run(
                move |mut c| async move { sql::purge::drain_deleted_rooms(&mut c, budget).await },
            )
        })
        .await?;
        in_batches(|| {
            self.run(move |mut c| async move {
                sql::purge::purge_some(&mut c, ended_at_or_before_ms, budget).await
            })
        })
        .await
    }
});

store_impl!(Presence {
    fn current_members(&self, room_id: RoomId, page: Page) -> (u64, Vec<PresentMember>)
        = |mut c| sql::presence::current_members(&mut c, room_id, page);
    fn unblock_user(&self, room_id: RoomId, user_id: &str) -> bool
        = |c| sql::kicks::unblock(&c, room_id, user_id);
} {
    async fn kick_user(
        &self,
        room_id: RoomId,
        user_id: &str,
        until_ms: Option<i64>,
        quit: NewEvent,
    ) -> Result<Written<bool>, StoreError> {
        let (policy, quit) = (self.policy(), &quit);
        let written = self
            .run(move |mut c| async move {
                sql::recording::kick(&mut c, room_id, user_id, until_ms, quit.clone(), &policy)
                    .await
            })
            .await?;
        Ok(self.announce(written).await)
    }
});

store_impl!(Attendance {
    fn rooms_awaiting_attendance(&self, limit: u64) -> Vec<RoomId>
        = |c| sql::attendance::awaiting(&c, limit);
    fn save_attendance(&self, room_id: RoomId, attendance: &RoomAttendance) -> ()
        = |mut c| sql::attendance::save(&mut c, room_id, attendance);
    fn attendance(&self, room_id: RoomId, page: Page) -> Option<AttendancePage>
        = |mut c| sql::attendance::page(&mut c, room_id, page);
});

store_impl!(Users {
    fn get_user(&self, user_id: &str) -> Option<User> = |c| sql::users::get(&c, user_id);
    fn get_user_by_origin(&self, sdk_app_id: SdkAppId, origin_id: &str) -> Option<User>
        = |c| sql::users::get_by_origin(&c, sdk_app_id, origin_id);
    fn set_user_token(&self, user_id: &str, token: &str, expires_ms: i64) -> bool
        = |c| sql::users::set_token(&c, user_id, token, expires_ms);
    fn user_names(&self, sdk_app_id: SdkAppId, user_ids: &[String]) -> HashMap<String, String>
        = |c| sql::users::names(&c, sdk_app_id, user_ids);
} {
    async fn register_users(
        &self,
        users: Vec<User>,
        overwrite: bool,
    ) -> Result<Vec<User>, StoreError> {
        let users = &users;
        self.run(move |mut c| async move { sql::users::register(&mut c, users, overwrite).await })
            .await
    }
});

#[async_trait]
impl Outbox for PgStore {
    async fn set_app_callback(
        &self,
        sdk_app_id: SdkAppId,
        callback: Option<&str>,
        callback_key: Option<&str>,
    ) -> Result<AppCallback, StoreError> {
        self.run(move |mut c| async move {
            sql::deliveries::set_app_callback(&mut c, sdk_app_id, callback, callback_key).await
        })
        .await
    }

    async fn app_callback(&self, sdk_app_id: SdkAppId) -> Result<AppCallback, StoreError> {
        self.run(move |c| async move { sql::deliveries::app_callback(&c, sdk_app_id).await })
            .await
    }

    async fn claim_due_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        // Most claims find nothing due (with no callbacks configured, none ever does): one
        // statement answers those, instead of a transaction.
        if limit == 0
            || !self
                .run(move |c| async move { sql::deliveries::any_due(&c, now_ms).await })
                .await?
        {
            return Ok(Vec::new());
        }
        self.run(move |mut c| async move {
            sql::deliveries::claim(&mut c, now_ms, lease_until_ms, limit).await
        })
        .await
    }

    /// Nodes share the leases: one starting cannot tell its own orphans from the leases of
    /// nodes still delivering, so it leaves them to run out.
    async fn release_orphaned_leases(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        self.run(|c| async move { sql::deliveries::next_due(&c).await })
            .await
    }

    async fn record_attempt(
        &self,
        room_id: RoomId,
        seq: u64,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        self.run(move |mut c| async move {
            sql::deliveries::record_attempt(&mut c, room_id, seq, outcome).await
        })
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
        self.run(move |mut c| async move { sql::deliveries::list(&mut c, listing).await })
            .await
    }

    async fn replay_deliveries(
        &self,
        room_id: RoomId,
        from_seq: Option<u64>,
        event_ids: Option<Vec<String>>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let event_ids = &event_ids;
        self.run(move |mut c| async move {
            sql::deliveries::replay(&mut c, room_id, from_seq, event_ids.clone(), now_ms).await
        })
        .await
    }

    async fn purge_deliveries(&self, before_ms: i64) -> Result<u64, StoreError> {
        let budget = self.batch();
        let mut forgotten = 0;
        // Bounded batches, each its own statement: ingest keeps flowing between them. A batch
        // that may have left some deleted a full budget, so this loop always progresses.
        loop {
            let (deleted, more) =
                self.run(move |c| async move {
                    sql::deliveries::purge_some(&c, before_ms, budget).await
                })
                .await?;
            forgotten += deleted;
            if !more {
                return Ok(forgotten);
            }
        }
    }
}

#[async_trait]
impl Store for PgStore {
    async fn close(&self) {
        PgStore::close(self).await;
    }

    /// Always true: other nodes may write to the same database, and their writes wake nothing
    /// in this process (see [`Store::commit_feed`]).
    fn is_shared(&self) -> bool {
        true
    }

    /// The rooms events are committed to, by any node on this database and schema (this one
    /// included), as they commit: a wake-up feed through LISTEN/NOTIFY, over a connection of
    /// its own that reconnects by itself. Notifications sent while it reconnects are lost, and
    /// the feed says [`CommitNotice::MaybeMissed`] once it listens again; a room may come more
    /// than once (module `feed`). Each call opens its own listener, which stops when the
    /// receiver is dropped or the store is closed.
    async fn commit_feed(&self) -> Option<tokio::sync::mpsc::Receiver<CommitNotice>> {
        Some(feed::listen(
            self.inner.config.clone(),
            self.inner.channel.clone(),
            self.inner.closed.subscribe(),
        ))
    }
}
