//! `roomlog copy`: moves an embedded deployment's data into PostgreSQL and verifies the copy
//! (the work is `roomlog_postgres::import`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use roomlog_postgres::import::redact;

use super::store::is_postgres_url;

#[derive(Debug, Clone, clap::Args)]
pub struct CopyArgs {
    /// The embedded deployment's data directory (stop its server first: writes made during
    /// the copy are not copied).
    #[arg(long, env = "ROOMLOG_DATA_DIR", default_value = "roomlog-data")]
    pub data_dir: PathBuf,
    /// The PostgreSQL database to fill, e.g. postgres://roomlog@db:5432/roomlog. It is migrated
    /// first and must hold no data yet.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The PostgreSQL schema to fill (created if missing) [default: the connection's].
    #[arg(long, value_name = "NAME")]
    pub to_schema: Option<String>,
}

pub async fn run(args: CopyArgs) -> anyhow::Result<()> {
    if !is_postgres_url(&args.to) {
        bail!("--to must be a postgres:// or postgresql:// URL");
    }
    let path = args.data_dir.join("roomlog.db");
    if !path.exists() {
        bail!("no embedded store at {}", path.display());
    }
    // Bring the source up to the current schema (what its server would do at start), so both
    // sides have the same tables and columns.
    let options = roomlog_sqlite::SqliteOptions {
        recompute_deadlines: false,
        ..roomlog_sqlite::SqliteOptions::default()
    };
    roomlog_sqlite::SqliteStore::open_with(&path, options)
        .with_context(|| format!("opening {}", path.display()))?
        .close()
        .await;
    let report =
        roomlog_postgres::import::copy_from_sqlite(&path, &args.to, args.to_schema.as_deref())
            .await?;
    println!("{:<20} {:>12}  checksum", "table", "rows");
    for table in &report.tables {
        println!("{:<20} {:>12}  {}", table.table, table.rows, table.checksum);
    }
    let rows = report.tables.iter().map(|t| t.rows).sum::<u64>();
    if report.already_copied {
        println!(
            "{} already holds an exact copy of {} ({rows} rows); id sequences checked; \
             verified: row counts and checksums match",
            redact(&args.to),
            args.data_dir.display()
        );
    } else {
        println!(
            "copied {rows} rows from {} into {}; verified: row counts and checksums match",
            args.data_dir.display(),
            redact(&args.to)
        );
    }
    Ok(())
}
