//! The whole run, workloads in order: ingest, callbacks, the large room, PostgreSQL.

use std::time::Duration;

use crate::callbacks::CallbackResults;
use crate::postgres::PostgresResults;
use crate::server::{filesystem_of, other_load};
use crate::workloads::{ingest, read, IngestResults, ReadResults};
use crate::Plan;

#[derive(Debug, Default)]
pub struct Results {
    pub data_fs: String,
    /// Cores other processes used during the second before the run.
    pub other_before: f64,
    pub ingest: Option<IngestResults>,
    pub callbacks: Option<CallbackResults>,
    pub read: Option<ReadResults>,
    pub postgres: Option<PostgresResults>,
}

pub async fn run_all(plan: &Plan) -> anyhow::Result<Results> {
    let mut results = Results {
        data_fs: filesystem_of(&plan.run_dir),
        other_before: other_load(Duration::from_secs(1))?,
        ..Results::default()
    };
    if results.other_before > 0.1 {
        eprintln!(
            "WARNING: other processes are using {:.2} cores: the figures will be lower and noisier \
             than on a quiet machine",
            results.other_before
        );
    }
    eprintln!(
        "roomlog-bench: {} events, {:.1} s per load after {:.1} s warm-up; data in {} [{}]",
        plan.events,
        plan.duration.as_secs_f64(),
        plan.warmup.as_secs_f64(),
        plan.run_dir.display(),
        results.data_fs
    );
    if results.data_fs.starts_with("tmpfs") {
        eprintln!("WARNING: the data directory is on tmpfs: fsync is free there, so the durable ingest figures mean nothing (use --work-dir)");
    }
    if !plan.options.skip_ingest {
        results.ingest = Some(ingest(plan).await?);
    }
    if !plan.options.skip_callbacks {
        results.callbacks = Some(crate::callbacks::run(plan).await?);
    }
    if !plan.options.skip_read {
        results.read = Some(read(plan).await?);
    }
    if !plan.options.skip_postgres {
        results.postgres = Some(crate::postgres::run(plan, &plan.options.postgres).await?);
    }
    Ok(results)
}
