//! The callback outbox as SQLite keeps it, beyond the conformance suite: durability across
//! reopen, atomic claims under concurrency, stale attempts, bounded batches, and the repair of
//! a head of line that no longer names a pending delivery.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::*;
use roomlog_core::callback::{AttemptOutcome, DeliveryStatus};
use roomlog_core::conformance::{claim, delivered, mics, page_of};
use roomlog_core::store::prelude::*;
use roomlog_core::time::now_ms;
use roomlog_core::App;
use roomlog_sqlite::SqliteStore;

const HOOK: &str = "http://127.0.0.1:9/hook";

fn count(path: &Path, sql: &str) -> i64 {
    raw(path).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// An app whose callback URL is set (so its events get deliveries), with `key`.
async fn hooked_app(store: &SqliteStore, key: Option<&str>) -> App {
    let app = app(store).await;
    store
        .set_app_callback(app.sdk_app_id, Some(HOOK), key)
        .await
        .unwrap();
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_and_its_leases_survive_reopen() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).unwrap();
    let app = hooked_app(&store, Some("k")).await;
    let id = room(&store, &app, "r").await;
    append(&store, id, mics("m", 3)).await;
    let later = now_ms() + 3_600_000;
    assert_eq!(
        claim(&store, later, later + 60_000, 1000).await,
        vec![(id, 1)]
    );
    let before = store
        .list_deliveries(app.sdk_app_id, None, None, page_of(1, 10))
        .await
        .unwrap();
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store
            .list_deliveries(app.sdk_app_id, None, None, page_of(1, 10))
            .await
            .unwrap(),
        before
    );
    assert_eq!(
        claim(&store, later + 1, later + 60_000, 1000).await,
        vec![],
        "a lease outlives a restart (another node may hold it)"
    );
    assert_eq!(
        claim(&store, later + 60_000, later + 120_000, 1000).await,
        vec![(id, 1)],
        "and is taken over once it runs out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_releases_the_leases_its_last_run_held() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).unwrap();
    let app = hooked_app(&store, Some("k")).await;
    let id = room(&store, &app, "r").await;
    append(&store, id, mics("m", 2)).await;
    let now = now_ms();
    // Leased for an hour by a run that then died.
    assert_eq!(
        claim(&store, now, now + 3_600_000, 1000).await,
        vec![(id, 1)]
    );
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(claim(&store, now + 1, now + 60_000, 1000).await, vec![]);
    assert_eq!(store.release_orphaned_leases().await.unwrap(), 1);
    assert_eq!(
        claim(&store, now + 2, now + 60_000, 1000).await,
        vec![(id, 1)],
        "due again at once, in order"
    );
    assert_eq!(store.release_orphaned_leases().await.unwrap(), 1);
    assert_eq!(store.release_orphaned_leases().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_never_hand_out_a_head_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
    let app = hooked_app(&store, None).await;
    let specs = (0..60).map(|i| spec(&format!("r{i}"))).collect();
    let rooms = store
        .create_rooms(&app, specs, T0 as i64)
        .await
        .unwrap()
        .value;
    for id in &rooms {
        append(&store, *id, mics("m", 2)).await;
    }
    let later = now_ms() + 3_600_000;
    let claims: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim_due_deliveries(later, later + 60_000, 7)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for claim in claims {
        for d in claim.await.unwrap() {
            assert_eq!(d.event.seq, 1, "only heads");
            assert!(
                seen.insert(d.room_id),
                "room {} handed out twice",
                d.room_id
            );
        }
    }
    assert_eq!(seen.len(), 60, "12 claims of 7 cover the 60 heads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_attempt_is_counted_but_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).unwrap();
    let app = hooked_app(&store, None).await;
    let id = room(&store, &app, "r").await;
    append(&store, id, mics("m", 3)).await;
    let l = now_ms() + 3_600_000;
    // Worker A claims seq 1 and stalls past its lease; worker B takes over and delivers it,
    // then claims seq 2.
    assert_eq!(claim(&store, l, l + 1_000, 1000).await, vec![(id, 1)]);
    assert_eq!(
        claim(&store, l + 1_000, l + 2_000, 1000).await,
        vec![(id, 1)]
    );
    store
        .record_attempt(id, 1, &delivered(l + 1_001))
        .await
        .unwrap();
    assert_eq!(
        claim(&store, l + 1_002, l + 5_000, 1000).await,
        vec![(id, 2)]
    );
    // A finally reports its attempt of seq 1 (a failure, even): counted, nothing else.
    let late = AttemptOutcome::failed(l + 1_003, None, "timed out".into(), Some(l + 1_500));
    store.record_attempt(id, 1, &late).await.unwrap();
    let (_, all) = store
        .list_deliveries(app.sdk_app_id, Some(id), None, page_of(1, 10))
        .await
        .unwrap();
    assert_eq!(
        (all[0].status, all[0].attempts, all[0].next_attempt_ms),
        (DeliveryStatus::Delivered, 2, None),
        "still delivered"
    );
    assert_eq!(
        claim(&store, l + 1_600, l + 9_000, 1000).await,
        vec![],
        "B's lease on seq 2 stands"
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(l + 5_000));
    // Attempts of unknown deliveries (never queued, or deleted with their room) are ignored.
    store.record_attempt(id, 99, &delivered(l)).await.unwrap();
    store
        .record_attempt(u64::MAX, 1, &delivered(l))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_room_deletes_its_deliveries_in_batches_even_after_the_event_purge() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open_with(&path, small_batches()).unwrap();
    let app = hooked_app(&store, None).await;
    let purged = room(&store, &app, "purged").await;
    let live = room(&store, &app, "live").await;
    let kept = room(&store, &app, "kept").await;
    start(&store, purged, 1).await;
    fill(&store, purged, "p", 3_000, 100).await;
    end(&store, purged, 2).await;
    attendance_done(&store, purged).await;
    fill(&store, live, "l", 2_000, 100).await;
    fill(&store, kept, "k", 1_000, 100).await;
    assert_eq!(store.purge_events(i64::MAX).await.unwrap().events, 3_002);
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM deliveries"),
        6_002,
        "the event purge leaves every delivery"
    );

    // A purged room: no events left, 3,002 deliveries, deleted 1,000 per command.
    store.delete_room(purged).await.unwrap();
    // A room with both: events first, then deliveries.
    store.delete_room(live).await.unwrap();
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM deliveries"),
        1_000,
        "only the kept room's deliveries remain"
    );
    assert_eq!(count(&path, "SELECT COUNT(*) FROM deleted_rooms"), 0);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM delivery_heads"), 1);

    // Interrupted after its first command (only the room row and the head gone): the next
    // purge finishes the deliveries too.
    let conn = raw(&path);
    conn.execute_batch(&format!(
        "BEGIN;
         DELETE FROM rooms WHERE room_id = {kept};
         DELETE FROM delivery_heads WHERE room_id = {kept};
         DELETE FROM events WHERE room_id = {kept};
         INSERT INTO deleted_rooms (room_id) VALUES ({kept});
         COMMIT;"
    ))
    .unwrap();
    store.purge_events(0).await.unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM deliveries"), 0);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM deleted_rooms"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deliveries_works_in_batches_and_a_broken_head_is_repaired() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open_with(&path, small_batches()).unwrap();
    let app = hooked_app(&store, None).await;
    let a = room(&store, &app, "a").await;
    let b = room(&store, &app, "b").await;
    fill(&store, a, "a", 2_000, 100).await;
    fill(&store, b, "b", 1_000, 100).await;
    // Mark a's deliveries delivered behind the store's back (as a bug might): its head now names
    // a delivery that is not pending.
    raw(&path)
        .execute(
            "UPDATE deliveries SET status = 1, last_attempt_ms = 5, next_attempt_ms = NULL
             WHERE room_id = ?1",
            [a as i64],
        )
        .unwrap();
    assert_eq!(
        store.purge_deliveries(5).await.unwrap(),
        0,
        "strictly before"
    );
    assert_eq!(store.purge_deliveries(6).await.unwrap(), 2_000);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM deliveries"), 1_000);

    // The claim notices a's head names nothing pending, drops it, and hands out b's as usual;
    // the worker is not left spinning on a head that can never be sent.
    let l = now_ms() + 3_600_000;
    assert_eq!(claim(&store, l, l + 1_000, 1000).await, vec![(b, 1)]);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM delivery_heads"), 1);
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(l + 1_000));
}
