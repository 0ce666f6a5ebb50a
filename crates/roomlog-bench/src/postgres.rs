//! The scale-out figures: the same ingest and GetRoomEvent workloads against roomlog on
//! PostgreSQL (`serve --store`, a fresh schema dropped afterwards), printed beside the embedded
//! store's, so the cost of sharing one database between nodes is visible.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::http::Conn;
use crate::load::LoadResult;
use crate::server::Roomlog;
use crate::workloads::{create_room, fill, page_loads, report_loads, PageLoads};
use crate::Plan;

#[derive(Debug)]
pub struct PostgresResults {
    pub batch: LoadResult,
    pub single: LoadResult,
    pub fill_events: u64,
    pub fill_time: Duration,
    pub deep_page: u64,
    pub page1: LoadResult,
    pub deep: LoadResult,
    pub random: LoadResult,
}

/// A schema of this run's own on the server; dropped (with psql) when this goes.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let dropped = Command::new("psql")
            .args([
                self.url.as_str(),
                "-q",
                "-c",
                &format!(
                    "SET client_min_messages TO warning; DROP SCHEMA IF EXISTS {} CASCADE",
                    self.name
                ),
            ])
            .stderr(Stdio::null())
            .status();
        if !dropped.is_ok_and(|s| s.success()) {
            eprintln!(
                "note: could not drop schema {} (drop it by hand)",
                self.name
            );
        }
    }
}

pub async fn run(plan: &Plan, url: &str) -> anyhow::Result<PostgresResults> {
    let schema = Schema {
        url: url.to_owned(),
        name: format!("roomlog_bench_{}", std::process::id()),
    };
    let args = ["--store", url, "--store-schema", schema.name.as_str()];

    eprintln!(
        "postgres: ingest, a fresh roomlog on PostgreSQL (schema {})",
        schema.name
    );
    let server = Roomlog::start_with(&plan.roomlog_bin, &plan.run_dir.join("pg-ingest"), &args)?;
    let (batch, single) = report_loads(plan, &server).await?;

    eprintln!("postgres: the large room");
    let mut conn = Conn::open(server.addr()).await?;
    let room_id = create_room(&server, &mut conn).await?;
    let fill_events = plan.events - 1;
    eprint!("postgres: filling room {room_id} with {fill_events} events ");
    let fill_time = fill(&server, room_id, fill_events, plan.options.fill_concurrency).await?;
    eprintln!(
        "  filled in {:.1} s ({:.0} events/s)",
        fill_time.as_secs_f64(),
        fill_events as f64 / fill_time.as_secs_f64()
    );
    let PageLoads {
        deep_page,
        page1_result,
        deep_result,
        random_result,
        ..
    } = page_loads(plan, &server, &mut conn, room_id).await?;
    drop(conn);
    server.stop()?;
    Ok(PostgresResults {
        batch,
        single,
        fill_events,
        fill_time,
        deep_page,
        page1: page1_result,
        deep: deep_result,
        random: random_result,
    })
}
