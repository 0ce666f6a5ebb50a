//! Load checks, ignored by default (they take a while and print numbers rather than assert
//! timings). Run with:
//!
//! ```text
//! cargo test -p roomlog-sqlite --release --test load -- --ignored --nocapture --test-threads 1
//! ```

mod common;

use std::time::Instant;

use common::*;
use roomlog_core::{EventType, NewEvent, Store};
use roomlog_sqlite::SqliteStore;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Many concurrent reporters, one event per call: the shape group commit is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn single_event_append_throughput() {
    const CLIENTS: usize = 256;
    const PER_CLIENT: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
    let app = app(&store).await;
    let mut rooms = Vec::new();
    for i in 0..64 {
        rooms.push(room(&store, &app, &format!("r{i}")).await);
    }
    let before = store.writer_stats();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let store = store.clone();
            let room = rooms[c % rooms.len()];
            tokio::spawn(async move {
                for i in 0..PER_CLIENT {
                    store
                        .append_events(room, vec![join(&format!("c{c}-{i}"))], accept())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let stats = store.writer_stats();
    let total = CLIENTS * PER_CLIENT;
    let commits = stats.commits - before.commits;
    println!(
        "{total} single-event appends from {CLIENTS} clients in {elapsed:.2?}: {:.0}/s, \
         {commits} commits ({:.1} appends per fsync)",
        total as f64 / elapsed.as_secs_f64(),
        total as f64 / commits.max(1) as f64
    );
}

/// A million stored events, then reads across them: memory stays bounded by the caches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn a_million_events_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roomlog.db");
    let store = SqliteStore::open(&path).unwrap();
    let app = app(&store).await;
    let mut rooms = Vec::new();
    for i in 0..100 {
        let room = room(&store, &app, &format!("r{i}")).await;
        store
            .start_room(room, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
            .await
            .unwrap();
        rooms.push(room);
    }
    let started = Instant::now();
    let tasks: Vec<_> = rooms
        .iter()
        .map(|&room| {
            let store = store.clone();
            tokio::spawn(async move {
                for batch in 0..100 {
                    let events = (0..100)
                        .map(|i| join(&format!("{room}-{batch}-{i}-0123456789abcdef")))
                        .collect();
                    store.append_events(room, events, accept()).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "1,000,000 events in {:.2?}; RSS {} KiB (peak {} KiB); file {} MiB",
        started.elapsed(),
        rss_kib("VmRSS:"),
        rss_kib("VmHWM:"),
        std::fs::metadata(&path).unwrap().len() >> 20
    );
    let started = Instant::now();
    let mut read = 0;
    for &room in &rooms {
        for page in 0..50 {
            read += store
                .read_events(room, page * 200 + 1, 200)
                .await
                .unwrap()
                .len();
        }
        read += store
            .read_events_of_type(room, EventType::RoomStart, 0, 200)
            .await
            .unwrap()
            .len();
    }
    println!(
        "read {read} events in {:.2?}; RSS {} KiB (peak {} KiB)",
        started.elapsed(),
        rss_kib("VmRSS:"),
        rss_kib("VmHWM:")
    );
    assert_eq!(read, 1_000_000 + 100);
}
