//! Several nodes on one database: two `PgStore`s with separate pools (as two roomlog processes
//! would have) on one schema, racing each other on the things that must stay correct across
//! nodes — per-room sequences and idempotency, lifecycle compare-and-sets, callback claims and
//! leases, the retention purge, OriginId registration.

mod common;

use common::{append, end, start};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roomlog_core::callback::AttemptOutcome;
use roomlog_core::conformance::{
    accept, assert_concurrent_log, attendance_with, event, page_of, spec, user, T0, T0_MS,
};
use roomlog_core::store::prelude::*;
use roomlog_core::time::now_ms;
use roomlog_core::{
    App, CommitNotice, EventType, NewEvent, PurgeStats, RoomId, RoomStatus, StoreError,
};
use roomlog_postgres::PgStore;

/// Two nodes on one fresh schema (kept alive by the returned guard).
async fn two_nodes() -> (common::Schema, PgStore, PgStore) {
    let schema = common::Schema::new();
    let a = schema.connect().await;
    let b = schema.connect().await;
    (schema, a, b)
}

async fn app(store: &PgStore) -> App {
    let account = store.create_account("acme").await.unwrap();
    store.create_app(account.id, "app").await.unwrap()
}

async fn room(store: &PgStore, app: &App) -> RoomId {
    store
        .create_rooms(app, vec![spec("r", T0, T0 + 3600)], T0 as i64)
        .await
        .unwrap()[0]
}

fn join(id: &str) -> NewEvent {
    event(id, EventType::MemberJoin, T0_MS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_create_one_first_account() {
    let (_schema, a, b) = two_nodes().await;
    let mut attempts = tokio::task::JoinSet::new();
    for n in 0..8 {
        let node = if n % 2 == 0 { a.clone() } else { b.clone() };
        attempts.spawn(async move { node.create_first_account("default").await.unwrap() });
    }
    let mut created = Vec::new();
    while let Some(attempt) = attempts.join_next().await {
        created.extend(attempt.unwrap());
    }
    assert_eq!(created.len(), 1, "exactly one first account: {created:?}");
    assert_eq!(a.list_accounts().await.unwrap(), created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_from_two_nodes_share_one_dense_sequence_and_record_each_id_once() {
    const TASKS_PER_NODE: usize = 6;
    const ROUNDS: usize = 20;
    let (_schema, a, b) = two_nodes().await;
    let app = app(&a).await;
    let id = room(&a, &app).await;

    let mut tasks = Vec::new();
    for task in 0..TASKS_PER_NODE * 2 {
        // Alternate nodes: tasks on both write the same room at once.
        let node = if task % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let (mut accepted, mut duplicates) = (0, 0);
            for round in 0..ROUNDS {
                // The task's own event, plus ids every task races to record ...
                let batch = vec![
                    join(&format!("t{task}-{round}")),
                    join(&format!("shared-{round}")),
                    join(&format!("shared-{}", round + 1)),
                ];
                // ... and every batch is retried (a client that did not see the answer),
                // sometimes on the other node.
                for _ in 0..2 {
                    let outcome = node
                        .append_events(id, batch.clone(), accept())
                        .await
                        .expect("append");
                    accepted += outcome.accepted;
                    duplicates += outcome.duplicates;
                }
            }
            (accepted, duplicates)
        }));
    }
    let (mut accepted, mut duplicates) = (0, 0);
    for task in tasks {
        let (acc, dup) = task.await.unwrap();
        accepted += acc;
        duplicates += dup;
    }

    let unique = (TASKS_PER_NODE * 2 * ROUNDS + ROUNDS + 1) as u64;
    assert_eq!(accepted, unique, "every distinct id accepted exactly once");
    assert_eq!(
        accepted + duplicates,
        (TASKS_PER_NODE * 2 * ROUNDS * 3 * 2) as u64
    );
    let events = b.read_events(id, 1, u64::MAX).await.unwrap();
    assert_concurrent_log(&events, unique, TASKS_PER_NODE * 2, ROUNDS);
    assert_eq!(a.get_room(id).await.unwrap().unwrap().last_seq, unique);
    // Presence followed every join exactly once, whichever node recorded it.
    let (present, _) = a.current_members(id, page_of(1, 1)).await.unwrap();
    assert_eq!(present, unique);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_transitions_happen_once_when_two_nodes_race() {
    let (_schema, a, b) = two_nodes().await;
    let app = app(&a).await;
    for round in 0..10 {
        let id = room(&a, &app).await;
        append(&a, id, vec![join(&format!("j{round}"))]).await;
        let start = || NewEvent::lifecycle(EventType::RoomStart, T0_MS);
        let (x, y) = tokio::join!(a.start_room(id, start()), b.start_room(id, start()));
        let wins = [&x, &y].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "one node starts the class: {x:?} {y:?}");
        for loser in [x, y].into_iter().filter_map(Result::err) {
            assert!(
                matches!(loser, StoreError::WrongStatus(RoomStatus::InClass)),
                "the other finds it in class: {loser:?}"
            );
        }
        let end = || NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 1000);
        let (x, y) = tokio::join!(b.end_room(id, end()), a.end_room(id, end()));
        assert_eq!([&x, &y].iter().filter(|r| r.is_ok()).count(), 1);
        for loser in [x, y].into_iter().filter_map(Result::err) {
            assert!(matches!(loser, StoreError::WrongStatus(RoomStatus::Ended)));
        }
        let kinds: Vec<(EventType, String)> = a
            .read_events(id, 1, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.event_type, e.event_id))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (EventType::MemberJoin, format!("j{round}")),
                (EventType::RoomStart, "roomlog:RoomStart".into()),
                (
                    EventType::MemberQuit,
                    format!("roomlog:RoomEnd:user-j{round}")
                ),
                (EventType::RoomEnd, "roomlog:RoomEnd".into()),
            ],
            "one RoomStart, one Reason-5 quit, one RoomEnd"
        );
        // Expiry against a start: one of the two happens.
        let other = room(&a, &app).await;
        let (x, y) = tokio::join!(a.expire_room(other), b.start_room(other, start()));
        assert_eq!(
            [x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(),
            1,
            "expire or start, not both: {x:?} {y:?}"
        );
    }
}

fn delivered(at_ms: i64) -> AttemptOutcome {
    AttemptOutcome {
        at_ms,
        delivered: true,
        http_status: Some(200),
        error: None,
        retry_at_ms: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_on_two_nodes_never_hold_one_rooms_delivery_at_once() {
    const ROOMS: usize = 12;
    const PER_ROOM: usize = 6;
    let (_schema, a, b) = two_nodes().await;
    let app = app(&a).await;
    a.set_app_callback(
        app.sdk_app_id,
        Some("https://hooks.example.com/x"),
        Some("k"),
    )
    .await
    .unwrap();
    let mut rooms = Vec::new();
    for r in 0..ROOMS {
        let id = room(&a, &app).await;
        let events: Vec<NewEvent> = (0..PER_ROOM)
            .map(|i| event(&format!("m{r}-{i}"), EventType::MicOn, T0_MS + i as i64))
            .collect();
        append(&b, id, events).await;
        rooms.push(id);
    }
    let total = ROOMS * PER_ROOM;
    let in_flight: Arc<Mutex<HashSet<RoomId>>> = Arc::default();
    // Per room, the seqs delivered, in the order they were.
    let delivered_seqs: Arc<Mutex<HashMap<RoomId, Vec<u64>>>> = Arc::default();
    let mut workers = Vec::new();
    for worker in 0..4 {
        let node = if worker % 2 == 0 {
            a.clone()
        } else {
            b.clone()
        };
        let (in_flight, delivered_seqs) = (in_flight.clone(), delivered_seqs.clone());
        workers.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let done: usize = delivered_seqs.lock().unwrap().values().map(Vec::len).sum();
                if done == total {
                    return;
                }
                assert!(tokio::time::Instant::now() < deadline, "deliveries stalled");
                // Far from expiring: every claim here must be exclusive.
                let now = now_ms() + 3_600_000;
                let claimed = node
                    .claim_due_deliveries(now, now + 600_000, 3)
                    .await
                    .expect("claim");
                if claimed.is_empty() {
                    tokio::task::yield_now().await;
                    continue;
                }
                for delivery in &claimed {
                    assert!(
                        in_flight.lock().unwrap().insert(delivery.room_id),
                        "room {} handed out twice at once",
                        delivery.room_id
                    );
                }
                tokio::task::yield_now().await;
                for delivery in claimed {
                    // Released before the outcome commits: from then on another worker may
                    // (and should) get the room's next delivery.
                    in_flight.lock().unwrap().remove(&delivery.room_id);
                    delivered_seqs
                        .lock()
                        .unwrap()
                        .entry(delivery.room_id)
                        .or_default()
                        .push(delivery.event.seq);
                    node.record_attempt(delivery.room_id, delivery.event.seq, &delivered(now))
                        .await
                        .expect("record_attempt");
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let delivered_seqs = delivered_seqs.lock().unwrap().clone();
    for id in &rooms {
        assert_eq!(
            delivered_seqs.get(id).cloned().unwrap_or_default(),
            (1..=PER_ROOM as u64).collect::<Vec<_>>(),
            "room {id}: each delivery once, in sequence order"
        );
    }
    assert_eq!(
        a.next_delivery_due().await.unwrap(),
        None,
        "nothing pending"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_moves_the_delivery_to_another_node() {
    let (_schema, a, b) = two_nodes().await;
    let app = app(&a).await;
    a.set_app_callback(app.sdk_app_id, Some("https://hooks.example.com/x"), None)
        .await
        .unwrap();
    let id = room(&a, &app).await;
    append(&a, id, vec![event("m", EventType::MicOn, T0_MS)]).await;
    let now = now_ms() + 3_600_000;
    let first = a.claim_due_deliveries(now, now + 1_000, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        b.claim_due_deliveries(now + 999, now + 10_000, 10)
            .await
            .unwrap(),
        vec![],
        "leased to node a"
    );
    // Node a died: once its lease ran out, node b gets the delivery.
    let second = b
        .claim_due_deliveries(now + 1_000, now + 10_000, 10)
        .await
        .unwrap();
    assert_eq!(second, first);
    b.record_attempt(id, 1, &delivered(now + 1_001))
        .await
        .unwrap();
    // Node a's late outcome of a lease it lost changes nothing.
    a.record_attempt(id, 1, &delivered(now + 1_002))
        .await
        .unwrap();
    assert_eq!(a.next_delivery_due().await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_on_two_nodes_delete_everything_once() {
    const ROOMS: usize = 10;
    const EVENTS: usize = 40;
    let (_schema, a, b) = two_nodes().await;
    let app = app(&a).await;
    let mut rooms = Vec::new();
    for r in 0..ROOMS {
        let id = room(&a, &app).await;
        start(&a, id, 1_000).await;
        let mics: Vec<NewEvent> = (0..EVENTS)
            .map(|i| event(&format!("m{r}-{i}"), EventType::MicOn, T0_MS))
            .collect();
        append(&b, id, mics).await;
        end(&a, id, 2_000 + r as i64).await;
        b.save_attendance(id, &attendance_with(2, "x"))
            .await
            .unwrap();
        rooms.push(id);
    }
    let total = (ROOMS * (EVENTS + 2)) as u64;
    // Small batches: many transactions, so the nodes really interleave (rooms with more events
    // than a batch are taken up by whichever node gets to them next).
    let purgers: Vec<PgStore> = [&a, &b, &a, &b]
        .iter()
        .map(|node| node.with_purge_batch(7))
        .collect();
    let runs: Vec<_> = purgers
        .into_iter()
        .map(|node| tokio::spawn(async move { node.purge_events(i64::MAX).await }))
        .collect();
    let mut sum = PurgeStats::default();
    for run in runs {
        let stats = run.await.unwrap().expect("purge");
        sum.rooms += stats.rooms;
        sum.events += stats.events;
    }
    assert_eq!(
        sum,
        PurgeStats {
            rooms: ROOMS as u64,
            events: total
        },
        "every room and event purged, counted once across the nodes"
    );
    for id in rooms {
        assert!(a.get_room(id).await.unwrap().unwrap().events_purged);
        assert_eq!(b.read_events(id, 1, 1000).await.unwrap(), vec![]);
    }
    assert_eq!(a.next_purge_candidate().await.unwrap(), None);
    assert_eq!(
        b.purge_events(i64::MAX).await.unwrap(),
        PurgeStats::default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_origin_id_is_registered_once_when_two_nodes_race() {
    let (_schema, a, b) = two_nodes().await;
    let app = app(&a).await;
    for round in 0..10 {
        let origin = format!("o{round}");
        let (x, y) = tokio::join!(
            a.register_users(vec![user(&app, &format!("a{round}"), &origin)], false),
            b.register_users(vec![user(&app, &format!("b{round}"), &origin)], false),
        );
        assert_eq!(
            [&x, &y].iter().filter(|r| r.is_ok()).count(),
            1,
            "one registration wins: {x:?} {y:?}"
        );
        for loser in [x, y].into_iter().filter_map(Result::err) {
            assert!(
                matches!(&loser, StoreError::Rejected(e) if e.code == "FailedOperation.OriginIdExists"),
                "the other is told the OriginId exists: {loser:?}"
            );
        }
        // With overwrite both succeed, on one user.
        let (x, y) = tokio::join!(
            a.register_users(
                vec![user(&app, &format!("c{round}"), &format!("p{round}"))],
                true
            ),
            b.register_users(
                vec![user(&app, &format!("d{round}"), &format!("p{round}"))],
                true
            ),
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x[0].user_id, y[0].user_id, "the second overwrote the first");
    }
}

async fn next_notice(feed: &mut tokio::sync::mpsc::Receiver<CommitNotice>) -> CommitNotice {
    tokio::time::timeout(Duration::from_secs(10), feed.recv())
        .await
        .expect("a commit is heard within seconds")
        .expect("the feed goes on")
}

async fn next(feed: &mut tokio::sync::mpsc::Receiver<CommitNotice>) -> RoomId {
    match next_notice(feed).await {
        CommitNotice::Room(room_id) => room_id,
        other => panic!("expected a room, got {other:?}"),
    }
}

/// Appends to `room` through `node` until `feed` hears of it: then `feed`'s listener is on.
async fn until_listening(
    node: &PgStore,
    room: RoomId,
    feed: &mut tokio::sync::mpsc::Receiver<CommitNotice>,
) {
    let ready = async {
        loop {
            append(
                node,
                room,
                vec![event(&format!("w{}", now_ms()), EventType::MicOn, T0_MS)],
            )
            .await;
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), feed.recv()).await
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .expect("the feed starts listening");
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), feed.recv()).await {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_hears_of_the_rooms_other_nodes_record_events_in() {
    let (_schema, a, b) = two_nodes().await;
    let mut feed = b
        .commit_feed()
        .await
        .expect("a PostgreSQL store has a commit feed");
    assert!(a.is_shared() && b.is_shared());
    let app = app(&a).await;
    let id = room(&a, &app).await;
    // LISTEN is running once the feed hears anything: announce until it does.
    until_listening(&a, id, &mut feed).await;

    let other = room(&a, &app).await;
    start(&a, other, T0_MS).await;
    assert_eq!(next(&mut feed).await, other, "a start on node a");
    append(&b, id, vec![join("x")]).await;
    assert_eq!(next(&mut feed).await, id, "an append on node b itself");
    // Nothing recorded, nothing announced.
    append(&a, id, vec![join("x")]).await;
    end(&a, other, T0_MS + 1).await;
    assert_eq!(
        next(&mut feed).await,
        other,
        "the duplicate was not announced"
    );
    // Closing the store ends its feeds.
    b.close().await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while feed.recv().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the feed ends when its store is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_lost_its_connection_says_it_may_have_missed_commits() {
    let (schema, a, b) = two_nodes().await;
    let mut feed = b.commit_feed().await.expect("a commit feed");
    let app = app(&a).await;
    let id = room(&a, &app).await;
    until_listening(&a, id, &mut feed).await;

    // The listening connection dies (a PostgreSQL restart, a network blip, an idle timeout).
    let (admin, connection) = tokio_postgres::connect(&common::url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let killed = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1",
            &[&format!(
                "LISTEN {}",
                roomlog_postgres::commit_channel(Some(&schema.name))
            )],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(killed, 1, "one listening connection");
    // Committed while the listener is away: its notification goes nowhere.
    append(&a, id, vec![join("while-away")]).await;

    // Back, the feed says so before anything else: whoever waits must look at the log.
    let notice = loop {
        match next_notice(&mut feed).await {
            // A room heard just before the connection died may still be in the pipe.
            CommitNotice::Room(room) if room == id => continue,
            notice => break notice,
        }
    };
    assert_eq!(notice, CommitNotice::MaybeMissed);
    // And it hears commits again.
    append(&a, id, vec![join("after")]).await;
    assert_eq!(next(&mut feed).await, id);
}
