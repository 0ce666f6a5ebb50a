//! Moving an embedded (SQLite) deployment's data into PostgreSQL (`roomlog copy`).
//!
//! The PostgreSQL schema mirrors the embedded one table for table and column for column
//! ([`crate::TABLES`]), so the copy is generic: every table (parents first) is streamed with
//! `COPY ... FROM STDIN`, each SQLite value written as the text PostgreSQL parses for the
//! column's type. The source is read in one transaction (a consistent snapshot); the target is
//! written in one transaction, so a failed copy leaves it empty. The id sequences are then moved
//! past every id the embedded store ever handed out (`sqlite_sequence`), so a deleted room's id
//! never comes back.
//!
//! Verification reads both sides again and compares, per table, the row count and an
//! order-independent checksum of every row (each value as its text: the schema's columns are
//! integers and text, whose text form both databases share; other column types are refused).

use std::path::Path;

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::{pin_mut, SinkExt, TryStreamExt};
use rusqlite::types::ValueRef;
use rusqlite::{OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};
use tokio_postgres::{Client, NoTls};

use crate::connection::quote_ident;

/// The two sides differ (as opposed to failing to read them).
#[derive(Debug)]
struct Mismatch(String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}

/// The outcome of [`copy_from_sqlite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Every table, verified.
    pub tables: Vec<TableReport>,
    /// The target already was an exact copy (an earlier run copied it); only the id sequences
    /// were brought up again.
    pub already_copied: bool,
}

/// What was copied, per table, and the checksums both sides agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: String,
    pub rows: u64,
    pub checksum: String,
}

/// Copies the embedded store at `path` (at the current schema version: open it with the SQLite
/// store first) into PostgreSQL at `url` (`schema`), then verifies the copy. Errors if the
/// target already holds data or the copy does not match.
pub async fn copy_from_sqlite(
    path: &Path,
    url: &str,
    schema: Option<&str>,
) -> anyhow::Result<CopyReport> {
    if !path.exists() {
        bail!("no embedded store at {}", path.display());
    }
    crate::migrate(url, schema)
        .await
        .with_context(|| format!("migrating {}", redact(url)))?;

    let source = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", path.display()))?;
    let mut target = connect(url, schema).await?;

    // One snapshot of the source for the copy and its verification.
    source.execute_batch("BEGIN")?;
    let result = async {
        let mut plans = Vec::new();
        for &table in crate::TABLES {
            plans.push(TablePlan::new(&source, &target, table).await?);
        }
        let accounts: i64 = target
            .query_one("SELECT count(*) FROM accounts", &[])
            .await?
            .get(0);
        let already_copied = accounts > 0;
        if already_copied {
            // Only an exact copy of this store is accepted (a copy that was interrupted after
            // its commit, say): then the sequence step below is simply run again.
            if let Err(err) = verify(&source, &target, &plans).await {
                if err.downcast_ref::<Mismatch>().is_none() {
                    return Err(err.context("checking the data already in the target"));
                }
                bail!(
                    "the target database already holds data ({accounts} accounts) that is not a \
                     copy of this embedded store; copy into an empty database or schema"
                );
            }
        } else {
            copy_tables(&source, &mut target, &plans).await?;
        }
        let store = crate::PgStore::connect(
            url,
            crate::PgOptions {
                schema: schema.map(str::to_owned),
                pool_size: 1,
                recompute_deadlines: false,
                ..crate::PgOptions::default()
            },
        )
        .await?;
        advance_sequences(&source, &store).await?;
        store.close().await;
        Ok(CopyReport {
            tables: verify(&source, &target, &plans).await?,
            already_copied,
        })
    }
    .await;
    source.execute_batch("COMMIT").ok();
    result
}

async fn connect(url: &str, schema: Option<&str>) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(error = %err, "PostgreSQL connection closed");
        }
    });
    if let Some(schema) = schema {
        client
            .batch_execute(&format!("SET search_path TO {}", quote_ident(schema)))
            .await?;
    }
    Ok(client)
}

/// Copies every table in one target transaction.
async fn copy_tables(
    source: &rusqlite::Connection,
    target: &mut Client,
    plans: &[TablePlan],
) -> anyhow::Result<()> {
    let tx = target.transaction().await?;
    for plan in plans {
        // Tables the migrations fill (lookup tables) are only verified.
        let present: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {}", plan.table), &[])
            .await?
            .get(0);
        if present == 0 {
            plan.copy(source, &tx)
                .await
                .with_context(|| format!("copying table {}", plan.table))?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Moves the id sequences past every copied id, and past the highest id the embedded store ever
/// gave out (`sqlite_sequence`), so an id deleted before the copy is never handed out again.
async fn advance_sequences(
    source: &rusqlite::Connection,
    store: &crate::PgStore,
) -> anyhow::Result<()> {
    store.reset_sequences().await?;
    for (table, _column) in crate::SEQUENCES {
        let high: Option<i64> = source
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                [table],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(high) = high {
            store.advance_sequence(table, high).await?;
        }
    }
    Ok(())
}

/// Compares every table's row count and checksum on both sides.
async fn verify(
    source: &rusqlite::Connection,
    target: &Client,
    plans: &[TablePlan],
) -> anyhow::Result<Vec<TableReport>> {
    let mut report = Vec::new();
    for plan in plans {
        let from = plan.sqlite_checksum(source)?;
        let to = plan.postgres_checksum(target).await?;
        if from != to {
            return Err(Mismatch(format!(
                "verification failed for table {}: source has {} rows (checksum {}), target {} \
                 rows (checksum {})",
                plan.table, from.0, from.1, to.0, to.1
            ))
            .into());
        }
        report.push(TableReport {
            table: plan.table.to_owned(),
            rows: from.0,
            checksum: from.1,
        });
    }
    Ok(report)
}

/// The PostgreSQL column types the schema uses (it mirrors SQLite's INTEGER and TEXT): their
/// text form is the same on both sides, so values are copied and compared as text unchanged.
/// Any other type is refused rather than copied by a rule nobody tested.
const SUPPORTED_TYPES: &[&str] = &["bigint", "integer", "smallint", "text"];

struct TablePlan {
    table: &'static str,
    columns: Vec<String>,
}

impl TablePlan {
    async fn new(
        source: &rusqlite::Connection,
        target: &Client,
        table: &'static str,
    ) -> anyhow::Result<Self> {
        let rows = target
            .query(
                "SELECT column_name::text, data_type::text \
                 FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 \
                 ORDER BY ordinal_position",
                &[&table],
            )
            .await?;
        if rows.is_empty() {
            bail!("table {table} is missing in the target database");
        }
        let mut columns = Vec::new();
        for row in rows {
            let name: String = row.get(0);
            let data_type: String = row.get(1);
            if !SUPPORTED_TYPES.contains(&data_type.as_str()) {
                bail!(
                    "column {table}.{name} has type {data_type} in PostgreSQL, which the copy \
                     does not support (only {SUPPORTED_TYPES:?})"
                );
            }
            columns.push(name);
        }

        let mut source_columns: Vec<String> = source
            .prepare(&format!("PRAGMA table_info({table})"))?
            .query_map([], |row| row.get::<_, String>(1))?
            .collect::<Result<_, _>>()?;
        if source_columns.is_empty() {
            bail!("table {table} is missing in the embedded store");
        }
        let mut target_columns = columns.clone();
        source_columns.sort();
        target_columns.sort();
        if source_columns != target_columns {
            bail!(
                "table {table} has columns {source_columns:?} in the embedded store but \
                 {target_columns:?} in PostgreSQL: the two schema versions do not match"
            );
        }
        Ok(Self { table, columns })
    }

    fn column_list(&self) -> String {
        self.columns.join(", ")
    }

    /// The source's rows, every column in the target's order.
    fn source_select(&self) -> String {
        format!("SELECT {} FROM {}", self.column_list(), self.table)
    }

    /// Streams the table into PostgreSQL with COPY (text format).
    async fn copy(
        &self,
        source: &rusqlite::Connection,
        tx: &tokio_postgres::Transaction<'_>,
    ) -> anyhow::Result<()> {
        let sink = tx
            .copy_in(&format!(
                "COPY {} ({}) FROM STDIN",
                self.table,
                self.column_list()
            ))
            .await?;
        pin_mut!(sink);
        let mut statement = source.prepare(&self.source_select())?;
        let mut rows = statement.query([])?;
        let mut buffer = String::with_capacity(64 * 1024);
        while let Some(row) = rows.next()? {
            for (i, value) in source_values(row, self.columns.len())?.iter().enumerate() {
                if i > 0 {
                    buffer.push('\t');
                }
                match value {
                    None => buffer.push_str("\\N"),
                    Some(text) => escape_copy_text(text, &mut buffer),
                }
            }
            buffer.push('\n');
            if buffer.len() >= 60 * 1024 {
                sink.send(Bytes::from(std::mem::take(&mut buffer))).await?;
            }
        }
        if !buffer.is_empty() {
            sink.send(Bytes::from(buffer)).await?;
        }
        sink.finish().await?;
        Ok(())
    }

    fn sqlite_checksum(&self, source: &rusqlite::Connection) -> anyhow::Result<(u64, String)> {
        let mut statement = source.prepare(&self.source_select())?;
        let mut rows = statement.query([])?;
        let mut sum = RowSum::default();
        while let Some(row) = rows.next()? {
            sum.add(&source_values(row, self.columns.len())?);
        }
        Ok(sum.finish())
    }

    async fn postgres_checksum(&self, target: &Client) -> anyhow::Result<(u64, String)> {
        // Every column as PostgreSQL's text form, which is the source's for these types.
        let select = self
            .columns
            .iter()
            .map(|c| format!("{c}::text"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = target
            .query_raw(
                &format!("SELECT {select} FROM {}", self.table),
                std::iter::empty::<&str>(),
            )
            .await?;
        pin_mut!(rows);
        let mut sum = RowSum::default();
        while let Some(row) = rows.try_next().await? {
            let values: Vec<Option<String>> = (0..self.columns.len()).map(|i| row.get(i)).collect();
            sum.add(&values);
        }
        Ok(sum.finish())
    }
}

/// A source row's values as the text PostgreSQL reads and writes for them (`None`: NULL).
fn source_values(row: &rusqlite::Row<'_>, columns: usize) -> anyhow::Result<Vec<Option<String>>> {
    (0..columns).map(|i| source_text(row.get_ref(i)?)).collect()
}

/// A SQLite value as the text of an integer or text column (`None`: NULL).
fn source_text(value: ValueRef<'_>) -> anyhow::Result<Option<String>> {
    Ok(match value {
        ValueRef::Null => None,
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
        ValueRef::Text(bytes) => Some(
            std::str::from_utf8(bytes)
                .context("non-UTF-8 text in the source")?
                .to_owned(),
        ),
        ValueRef::Blob(bytes) => {
            Some(String::from_utf8(bytes.to_vec()).context("binary value in a text column")?)
        }
    })
}

/// COPY's text format: backslash, tab, newline and carriage return are escaped.
fn escape_copy_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// An order-independent checksum of a table's rows: the count and the wrapping sum of each
/// row's SHA-256 (first 16 bytes), so the two databases may return rows in any order.
#[derive(Default)]
struct RowSum {
    rows: u64,
    sum: u128,
}

impl RowSum {
    fn add(&mut self, values: &[Option<String>]) {
        let mut hasher = Sha256::new();
        for value in values {
            match value {
                None => hasher.update([0u8]),
                Some(text) => {
                    hasher.update([1u8]);
                    hasher.update((text.len() as u64).to_le_bytes());
                    hasher.update(text.as_bytes());
                }
            }
        }
        let digest = hasher.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        self.rows += 1;
        self.sum = self.sum.wrapping_add(u128::from_le_bytes(first));
    }

    fn finish(&self) -> (u64, String) {
        (self.rows, format!("{:032x}", self.sum))
    }
}

/// The URL without its password (`postgres://user:***@host/db`, `...?password=***`), for
/// messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let query = query.map(|query| {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        format!("?{}", pairs.join("&"))
    });
    format!("{scheme}://{authority}{tail}{}", query.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/roomlog"),
            "postgres://app:***@db:5432/roomlog"
        );
        assert_eq!(
            redact("postgres://app@db/roomlog"),
            "postgres://app@db/roomlog"
        );
        assert_eq!(redact("postgres://db/x?user=a"), "postgres://db/x?user=a");
        assert_eq!(
            redact("postgres://db/x?user=a&password=s3cret&sslmode=disable"),
            "postgres://db/x?user=a&password=***&sslmode=disable"
        );
    }

    #[test]
    fn copy_text_escapes_what_copy_interprets() {
        let mut out = String::new();
        escape_copy_text("a\tb\\c\nd\re", &mut out);
        assert_eq!(out, "a\\tb\\\\c\\nd\\re");
    }

    #[test]
    fn source_values_are_postgres_text() {
        assert_eq!(
            source_text(ValueRef::Integer(-7)).unwrap(),
            Some("-7".into())
        );
        assert_eq!(
            source_text(ValueRef::Text(b"a\tb")).unwrap(),
            Some("a\tb".into())
        );
        assert_eq!(source_text(ValueRef::Null).unwrap(), None);
        assert!(source_text(ValueRef::Text(&[0xff])).is_err());
    }

    #[test]
    fn row_checksum_ignores_order_but_not_content() {
        let a = vec![Some("1".to_owned()), None];
        let b = vec![Some("2".to_owned()), Some(String::new())];
        let mut one = RowSum::default();
        one.add(&a);
        one.add(&b);
        let mut two = RowSum::default();
        two.add(&b);
        two.add(&a);
        assert_eq!(one.finish(), two.finish());
        let mut three = RowSum::default();
        three.add(&a);
        three.add(&[Some("2".to_owned()), None]);
        assert_ne!(one.finish(), three.finish());
    }
}
