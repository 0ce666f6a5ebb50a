//! The SQL behind each store operation, as plain async functions of a pooled connection.
//!
//! A write that takes more than one statement runs in one READ COMMITTED transaction that first
//! locks the rows it builds on, in one global order, so concurrent writers on other nodes queue
//! instead of racing and can never deadlock each other:
//!
//! 1. the room row (`SELECT ... FOR UPDATE`): every write that changes a room or records events
//!    in it — this is what makes sequences dense and idempotency checks exact across nodes;
//! 2. the app row, shared (`FOR SHARE`), when events are queued for its callback: so a callback
//!    URL cannot be cleared between the check and the queueing;
//! 3. the room's callback head-of-line row (`delivery_heads`, `FOR UPDATE`): every change to a
//!    room's pending deliveries;
//! 4. then whatever else the operation touches (events, deliveries, presence, kicks, ...).
//!
//! Reads that must agree with themselves (a total and its page) run in one REPEATABLE READ, read
//! only transaction: one snapshot, no locks, never a serialization failure.
//!
//! Statements are prepared once per connection (`prepare_cached`); batches travel as arrays
//! (`UNNEST`, `= ANY`) so a command costs a fixed number of round trips, not one per event.

pub(crate) mod accounts;
pub(crate) mod attendance;
pub(crate) mod deliveries;
pub(crate) mod events;
pub(crate) mod kicks;
pub(crate) mod presence;
pub(crate) mod purge;
pub(crate) mod recording;
pub(crate) mod rooms;
pub(crate) mod sequences;
pub(crate) mod users;

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Row};

use crate::error::{Context, Error};

/// A pooled connection.
pub(crate) type Client = deadpool_postgres::Object;

/// Statement parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Every row `sql` returns.
pub(crate) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query(&statement, params).await
}

/// The row `sql` returns, if any (an error if more than one).
pub(crate) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_opt(&statement, params).await
}

/// The one row `sql` returns.
pub(crate) async fn query_one<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_one(&statement, params).await
}

/// Runs `sql`; returns how many rows it changed.
pub(crate) async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.execute(&statement, params).await
}

/// A read/write transaction (READ COMMITTED: each statement sees what committed before it, which
/// is what the row locks rely on).
pub(crate) async fn write(c: &mut Client) -> Result<Transaction<'_>, Error> {
    c.transaction().await.context("starting a transaction")
}

/// A consistent read of several statements: one snapshot, read only.
pub(crate) async fn snapshot(c: &mut Client) -> Result<Transaction<'_>, Error> {
    c.build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .context("starting a read")
}

/// Commits `tx`: the operation is durable (synchronous_commit) once this returns.
pub(crate) async fn commit(tx: Transaction<'_>) -> Result<(), Error> {
    tx.commit().await.context("committing")
}
