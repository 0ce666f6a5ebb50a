//! Load checks, ignored by default (they take a while and print numbers rather than assert
//! timings). Run with:
//!
//! ```text
//! cargo test -p roomlog-sqlite --release --test load -- --ignored --nocapture --test-threads 1
//! ```

mod common;

use std::time::Instant;

use common::*;
use roomlog_core::conformance::page_of;
use roomlog_core::store::prelude::*;
use roomlog_core::{EventType, NewEvent};
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

/// Many concurrent reporters, one MemberJoin per call (each a new user: presence work on every
/// append): the shape group commit is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn single_event_append_throughput() {
    single_event_appends("member joins", join).await;
}

/// The same with media events, which never touch presence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn single_media_event_append_throughput() {
    single_event_appends("media events", mic).await;
}

/// Media events again, into rooms whose app has a callback URL: each append also queues its
/// delivery in the outbox (what the outbox costs ingest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn single_media_event_append_throughput_with_callbacks() {
    appends_with("media events, callbacks on", mic, true).await;
}

fn mic(id: &str) -> NewEvent {
    NewEvent {
        event_type: EventType::MicOn,
        data: roomlog_core::EventData {
            user_id: Some(format!("user-{id}")),
            ..roomlog_core::EventData::default()
        },
        ..join(id)
    }
}

async fn single_event_appends(what: &str, make: fn(&str) -> NewEvent) {
    appends_with(what, make, false).await;
}

async fn appends_with(what: &str, make: fn(&str) -> NewEvent, callbacks: bool) {
    const CLIENTS: usize = 256;
    const PER_CLIENT: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
    let app = app(&store).await;
    if callbacks {
        store
            .set_app_callback(app.sdk_app_id, Some("https://hooks.example.com/"), None)
            .await
            .unwrap();
    }
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
                    append(&store, room, vec![make(&format!("c{c}-{i}"))]).await;
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
        "{total} single-event appends ({what}) from {CLIENTS} clients in {elapsed:.2?}: {:.0}/s, \
         {commits} commits ({:.1} appends per fsync)",
        total as f64 / elapsed.as_secs_f64(),
        total as f64 / commits.max(1) as f64
    );
}

/// A million stored events, then reads across them: memory stays bounded by the caches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn a_million_events_in_bounded_memory() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).unwrap();
    let app = app(&store).await;
    let mut rooms = Vec::new();
    for i in 0..100 {
        let room = room(&store, &app, &format!("r{i}")).await;
        start(&store, room, T0_MS).await;
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
                    append(&store, room, events).await;
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

/// A class of 10,000 members: ending it (10,000 quits in one command), storing its attendance
/// and reading pages of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn a_ten_thousand_member_class_ends_and_serves_attendance() {
    use roomlog_core::attendance::{MemberRecord, RoomAttendance};
    const MEMBERS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
    let app = app(&store).await;
    let room = room(&store, &app, "big").await;
    start(&store, room, T0_MS).await;
    let started = Instant::now();
    for chunk in 0..MEMBERS / 1000 {
        let joins = (0..1000)
            .map(|i| join(&format!("m{}", chunk * 1000 + i)))
            .collect();
        append(&store, room, joins).await;
    }
    println!(
        "{MEMBERS} joins in batches of 1000: {:.2?}",
        started.elapsed()
    );
    let started = Instant::now();
    let ended = end(&store, room, T0_MS + 3_600_000).await;
    println!(
        "end_room with {MEMBERS} present ({} events in the log): {:.2?}",
        ended.last_seq,
        started.elapsed()
    );
    let attendance = RoomAttendance {
        member_number: MEMBERS as u64,
        records: (0..MEMBERS)
            .map(|n| MemberRecord {
                user_id: format!("user-m{n}"),
                user_name: format!("Member {n}"),
                present_time: 3600,
                ..MemberRecord::default()
            })
            .collect(),
        ..RoomAttendance::default()
    };
    let started = Instant::now();
    store.save_attendance(room, &attendance).await.unwrap();
    println!(
        "save_attendance of {MEMBERS} records: {:.2?}",
        started.elapsed()
    );
    let started = Instant::now();
    let mut read = 0;
    for page in 1..=10 {
        read += store
            .attendance(room, page_of(page, 1000))
            .await
            .unwrap()
            .unwrap()
            .records
            .len();
    }
    println!("10 attendance pages of 1000: {:.2?}", started.elapsed());
    assert_eq!(read, MEMBERS);
}
