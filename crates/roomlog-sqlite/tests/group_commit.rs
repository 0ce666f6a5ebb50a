//! The single writer under concurrency: many commands share group transactions, yet each keeps
//! its own outcome. (No timing is asserted: only that everything lands, exactly once.)

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use roomlog_core::store::prelude::*;
use roomlog_core::{Admission, DomainError, EventType, NewEvent, RoomStatus, StoreError};
use roomlog_sqlite::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_single_event_appends_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
    let app = app(&store).await;
    let room = room(&store, &app, "busy").await;
    let before = store.writer_stats();

    let tasks: Vec<_> = (0..2000)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append_events(room, vec![join(&format!("e{i}"))], accept())
                    .await
            })
        })
        .collect();
    let mut last_seqs = HashSet::new();
    for task in tasks {
        let outcome = task.await.unwrap().expect("append");
        assert_eq!((outcome.accepted, outcome.duplicates), (1, 0));
        assert!(
            last_seqs.insert(outcome.last_seq),
            "each append got its own seq"
        );
    }
    let events = store.read_events(room, 1, 5000).await.unwrap();
    assert_eq!(events.len(), 2000);
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=2000).collect::<Vec<_>>()
    );
    let ids: HashSet<_> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids.len(), 2000);
    assert_eq!(last_seqs, (1..=2000).collect::<HashSet<_>>());

    let stats = store.writer_stats();
    let (commits, commands) = (
        stats.commits - before.commits,
        stats.commands - before.commands,
    );
    assert_eq!(commands, 2000, "every append ran in a committed group");
    assert!(commits >= 1 && commits <= commands);
    assert_eq!(stats.failed_groups, 0);
    eprintln!("2000 appends in {commits} commits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_rolls_back_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
    let app = app(&store).await;
    let room = room(&store, &app, "mixed").await;

    // Every 3rd batch is refused by admission, one admission panics, the rest are accepted;
    // all race into the same groups.
    let tasks: Vec<_> = (0..600)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let admit: Admission = match i {
                    300 => Box::new(|_, _, _| panic!("admission bug")),
                    i if i % 3 == 0 => Box::new(|_, _, _| Err(DomainError::failed("refused"))),
                    _ => accept(),
                };
                let batch = vec![join(&format!("e{i}-a")), join(&format!("e{i}-b"))];
                (i, store.append_events(room, batch, admit).await)
            })
        })
        .collect();
    let mut expected = HashSet::new();
    for task in tasks {
        let (i, result) = task.await.unwrap();
        match (i, result) {
            (300, Err(StoreError::Backend(message))) => {
                assert!(message.contains("panicked"), "{message}")
            }
            (i, Err(StoreError::Rejected(e))) if i % 3 == 0 => assert_eq!(e.message, "refused"),
            (i, Ok(outcome)) if i % 3 != 0 && i != 300 => {
                assert_eq!(outcome.accepted, 2);
                expected.insert(format!("e{i}-a"));
                expected.insert(format!("e{i}-b"));
            }
            (i, other) => panic!("batch {i}: unexpected {other:?}"),
        }
    }
    let events = store.read_events(room, 1, 5000).await.unwrap();
    let stored: HashSet<_> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(stored, expected, "exactly the accepted batches are stored");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=expected.len() as u64).collect::<Vec<_>>(),
        "refused batches leave no gap in the sequence"
    );
    // The writer survived the panic.
    let outcome = append(&store, room, vec![join("after")]).await;
    assert_eq!(outcome.last_seq, expected.len() as u64 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_starts_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("roomlog.db")).unwrap());
    let app = app(&store).await;
    let room = room(&store, &app, "race").await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .start_room(room, NewEvent::lifecycle(EventType::RoomStart, T0_MS + i))
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(room) => {
                winners += 1;
                assert_eq!(room.status, RoomStatus::InClass);
            }
            Err(StoreError::WrongStatus(RoomStatus::InClass)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1);
    let events = store.read_events(room, 1, 100).await.unwrap();
    assert_eq!(events.len(), 1, "one RoomStart recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_room_creation_gives_unique_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
    let app = app(&store).await;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = store.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let specs = vec![spec(&format!("{i}-a")), spec(&format!("{i}-b"))];
                let ids = store.create_rooms(&app, specs, 1).await.unwrap();
                (i, ids)
            })
        })
        .collect();
    let mut all = HashSet::new();
    for task in tasks {
        let (i, ids) = task.await.unwrap();
        for (id, suffix) in ids.iter().zip(["a", "b"]) {
            assert!(all.insert(*id), "room id {id} handed out twice");
            let room = store.get_room(*id).await.unwrap().unwrap();
            assert_eq!(room.spec.name, format!("{i}-{suffix}"));
        }
    }
    assert_eq!(all.len(), 200);
}
