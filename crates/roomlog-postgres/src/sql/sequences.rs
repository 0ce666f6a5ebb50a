//! The identity sequences of the id columns, for a copy tool that inserted ids itself.

use deadpool_postgres::GenericClient;

use crate::error::{corrupt, Context, Error};
use crate::rows;
use crate::sql::{commit, write, Client};

/// Moves the sequence of `table.column` so the next id it gives out is above both every id in
/// the table and `at_least`; never moves it back (an id handed out once, even if its row was
/// deleted since, is never handed out again). Returns the id last given out after the call.
/// `table` and `column` come from the crate's own list, never from input.
pub(crate) async fn advance(
    c: &mut Client,
    table: &str,
    column: &str,
    at_least: Option<i64>,
) -> Result<i64, Error> {
    let what = || format!("advancing the id sequence of {table}");
    let tx = write(c).await?;
    // No insert takes an id while the high-water mark is read and set (inserts need ROW
    // EXCLUSIVE, which EXCLUSIVE excludes; readers go on).
    tx.batch_execute(&format!("LOCK TABLE {table} IN EXCLUSIVE MODE"))
        .await
        .with_context(what)?;
    let sequence: Option<String> = rows::get(
        &tx.query_one("SELECT pg_get_serial_sequence($1, $2)", &[&table, &column])
            .await
            .with_context(what)?,
        0,
    )?;
    let sequence = sequence.ok_or_else(|| corrupt(format!("{table}.{column} has no sequence")))?;
    // `sequence` is a qualified, quoted name as PostgreSQL spells it.
    let state = tx
        .query_one(
            &format!("SELECT last_value, is_called FROM {sequence}"),
            &[],
        )
        .await
        .with_context(what)?;
    let (last_value, is_called): (i64, bool) = (rows::get(&state, 0)?, rows::get(&state, 1)?);
    let used = if is_called {
        last_value
    } else {
        last_value - 1
    };
    let max_id: Option<i64> = rows::get(
        &tx.query_one(&format!("SELECT MAX({column}) FROM {table}"), &[])
            .await
            .with_context(what)?,
        0,
    )?;
    let target = max_id.into_iter().chain(at_least).max().unwrap_or(i64::MIN);
    let high = if target > used {
        tx.query_one(
            "SELECT setval($1::text::regclass, $2, true)",
            &[&sequence, &target],
        )
        .await
        .with_context(what)?;
        target
    } else {
        used
    };
    commit(tx).await?;
    Ok(high)
}
