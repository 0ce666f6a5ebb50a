//! roomlog's benchmarks. Every figure is printed next to a baseline measured in the same run on
//! the same machine, and the ratios are what to compare across machines. Nothing here passes or
//! fails on time: goals are printed with the figures.
//!
//! Workloads (see BENCHMARKS.md):
//! 1. GetRoomEvent, page 1 and a deep page of a large room, signed, against a bare hyper server
//!    answering byte-identical bodies.
//! 2. ReportRoomEvents, durable, batches of 100 and single events, against raw SQLite inserts.
//! 3. A Keyword query returning every tenth event of the room: time and the server's RSS growth.
//! 4. The server's RSS with the room stored, after filling and after a restart.
//! 5. Callback delivery: steady ingest at a fixed rate (deliveries/s, lag from the ingest's
//!    acknowledgement to the receiver), and the rate a backlog drains at.
//! 6. Scale-out: workloads 1 and 2 again on PostgreSQL (`serve --store`), beside the embedded
//!    store's figures.

mod baseline;
mod callbacks;
mod events;
mod http;
mod load;
mod postgres;
mod rawsql;
mod report;
mod server;
mod suite;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "roomlog-bench",
    about = "roomlog's benchmarks: figures and ratios against baselines measured in the same run"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// (internal) The bare HTTP baseline server the read workloads compare against.
    #[command(hide = true)]
    BaselineServer {
        #[arg(long)]
        listen: String,
        /// REQUEST_BODY_FILE=RESPONSE_BODY_FILE (repeatable).
        #[arg(long = "route")]
        routes: Vec<String>,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// A shorter run for development: a 100,000-event room, 2 s measurements, 0.5 s warm-up.
    #[arg(long)]
    pub quick: bool,
    /// Events in the large room (default 1,000,000; 100,000 with --quick).
    #[arg(long)]
    pub events: Option<u64>,
    /// Seconds each load is measured (default 5; 2 with --quick).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds of warm-up before each measurement, not counted (default 1; 0.5 with --quick).
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Concurrent connections for the GetRoomEvent workloads.
    #[arg(long, default_value_t = 64)]
    pub read_concurrency: usize,
    /// GetRoomEvent page size.
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
    /// Concurrent connections reporting batches of 100 events.
    #[arg(long, default_value_t = 16)]
    pub batch_concurrency: usize,
    /// Concurrent connections reporting single events.
    #[arg(long, default_value_t = 64)]
    pub single_concurrency: usize,
    /// Concurrent connections filling the large room (batches of 1000).
    #[arg(long, default_value_t = 4)]
    pub fill_concurrency: usize,
    /// Most events pre-signed for the 100-per-batch workload (the run ends early, and says so,
    /// if the server takes them all before the time is up).
    #[arg(long, default_value_t = 1_500_000)]
    pub batch_pool_events: u64,
    /// Most events pre-signed for the single-event workload.
    #[arg(long, default_value_t = 150_000)]
    pub single_pool_events: u64,
    /// Times the Keyword query runs (the median time and the largest RSS growth are reported).
    #[arg(long, default_value_t = 3)]
    pub keyword_runs: usize,
    /// Skip the ReportRoomEvents workloads.
    #[arg(long)]
    pub skip_ingest: bool,
    /// Skip the callback delivery workloads.
    #[arg(long)]
    pub skip_callbacks: bool,
    /// Events/s reported (one per call) during the steady callback workload.
    #[arg(long, default_value_t = 500.0)]
    pub callback_rate: f64,
    /// Rooms the callback workloads report into (callbacks of one room go one at a time).
    #[arg(long, default_value_t = 10)]
    pub callback_rooms: usize,
    /// Events in the callback backlog that is drained (default 20,000; 3,000 with --quick).
    #[arg(long)]
    pub callback_backlog: Option<u64>,
    /// Skip the large room (GetRoomEvent, Keyword and RSS workloads).
    #[arg(long)]
    pub skip_read: bool,
    /// PostgreSQL for the scale-out figures: the ingest and GetRoomEvent workloads run again on
    /// `serve --store` (in a fresh schema, dropped afterwards).
    #[arg(
        long,
        env = "ROOMLOG_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub postgres: String,
    /// Skip the PostgreSQL figures.
    #[arg(long)]
    pub skip_postgres: bool,
    /// The roomlog binary (default: `roomlog` next to this executable).
    #[arg(long)]
    pub roomlog_bin: Option<PathBuf>,
    /// Where the run's fresh data directories go (default: `bench-tmp` in the cargo target
    /// directory, i.e. on a real disk; a tmpfs would make fsync free and "durable" meaningless).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Keep the data directories after the run.
    #[arg(long)]
    pub keep: bool,
}

/// The options with the --quick defaults applied.
#[derive(Debug, Clone)]
pub struct Plan {
    pub options: Options,
    pub events: u64,
    pub duration: Duration,
    pub warmup: Duration,
    pub roomlog_bin: PathBuf,
    pub run_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::BaselineServer { listen, routes }) = &cli.command {
        return baseline::main(listen, routes);
    }
    let plan = plan(cli.options)?;
    std::fs::create_dir_all(&plan.run_dir)
        .with_context(|| format!("creating {}", plan.run_dir.display()))?;
    // The load generator: as many worker threads as cores, like the servers it drives.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(suite::run_all(&plan));
    if plan.options.keep {
        eprintln!("data kept in {}", plan.run_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&plan.run_dir);
    }
    let results = outcome?;
    report::print(&plan, &results);
    Ok(())
}

fn plan(options: Options) -> anyhow::Result<Plan> {
    let quick = options.quick;
    let events = options
        .events
        .unwrap_or(if quick { 100_000 } else { 1_000_000 });
    anyhow::ensure!(events >= 1000, "--events must be at least 1000");
    let secs = |value: Option<f64>, normal: f64, short: f64| {
        Duration::from_secs_f64(value.unwrap_or(if quick { short } else { normal }).max(0.0))
    };
    let duration = secs(options.duration, 5.0, 2.0);
    let warmup = secs(options.warmup, 1.0, 0.5);
    anyhow::ensure!(!duration.is_zero(), "--duration must be positive");
    let exe = std::env::current_exe().context("locating this executable")?;
    let exe_dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let roomlog_bin = options
        .roomlog_bin
        .clone()
        .unwrap_or_else(|| exe_dir.join("roomlog"));
    anyhow::ensure!(
        roomlog_bin.is_file(),
        "no roomlog binary at {} (build it: cargo build --release -p roomlog, or pass --roomlog-bin)",
        roomlog_bin.display()
    );
    // target/release/roomlog-bench -> target/bench-tmp (elsewhere: the system temp directory)
    let in_target = exe_dir
        .file_name()
        .is_some_and(|profile| profile == "release" || profile == "debug");
    let work_dir = options
        .work_dir
        .clone()
        .unwrap_or_else(|| match exe_dir.parent() {
            Some(target) if in_target => target.join("bench-tmp"),
            _ => std::env::temp_dir().join("roomlog-bench"),
        });
    let run_dir = work_dir.join(format!(
        "run-{}-{}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        std::process::id()
    ));
    Ok(Plan {
        options,
        events,
        duration,
        warmup,
        roomlog_bin,
        run_dir,
    })
}
