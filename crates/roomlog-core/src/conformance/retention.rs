//! Conformance cases: ownership, deletion, purge, GetRooms.

use super::*;

pub async fn case_room_ownership<S: Store>(store: S) {
    let (a, app_a) = account_and_app(&store, "a").await;
    let (b, app_b) = account_and_app(&store, "b").await;
    let ra = plain_room(&store, &app_a, "ra").await;
    let rb = plain_room(&store, &app_b, "rb").await;

    // The store is tenant-agnostic (callers check ownership) but records it faithfully.
    let room_a = room(&store, ra).await;
    let room_b = room(&store, rb).await;
    assert_eq!(
        (room_a.sdk_app_id, room_a.account_id),
        (app_a.sdk_app_id, a.id)
    );
    assert_eq!(
        (room_b.sdk_app_id, room_b.account_id),
        (app_b.sdk_app_id, b.id)
    );

    let (total, rooms) = store
        .list_rooms(&everything(app_a.sdk_app_id))
        .await
        .unwrap();
    assert_eq!(
        (total, room_ids(&rooms)),
        (1, vec![ra]),
        "GetRooms lists one app's rooms"
    );
    let (total, rooms) = store
        .list_rooms(&everything(app_b.sdk_app_id))
        .await
        .unwrap();
    assert_eq!((total, room_ids(&rooms)), (1, vec![rb]));
    let nobody = app_a.sdk_app_id.max(app_b.sdk_app_id) + 1000;
    let (total, rooms) = store.list_rooms(&everything(nobody)).await.unwrap();
    assert_eq!((total, rooms.len()), (0, 0), "an unknown app has no rooms");

    append(&store, ra, vec![join("same-id")]).await;
    append(&store, rb, vec![join("same-id")]).await;
    assert!(all_events(&store, ra).await.iter().all(|e| e.room_id == ra));
    assert!(all_events(&store, rb).await.iter().all(|e| e.room_id == rb));
}

pub async fn case_delete_room_removes_events<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let doomed = plain_room(&store, &app, "doomed").await;
    let kept = plain_room(&store, &app, "kept").await;
    append(
        &store,
        doomed,
        (0..5).map(|i| join(&format!("d{i}"))).collect(),
    )
    .await;
    append(
        &store,
        kept,
        (0..3).map(|i| join(&format!("k{i}"))).collect(),
    )
    .await;

    store.delete_room(doomed).await.unwrap();
    assert_eq!(
        store.get_room(doomed).await.unwrap(),
        None,
        "a deleted room is gone"
    );
    assert_eq!(
        store.read_events(doomed, 1, 100).await.unwrap(),
        vec![],
        "with its events"
    );
    assert_eq!(
        store
            .read_events_of_type(doomed, EventType::MemberJoin, 0, 100)
            .await
            .unwrap(),
        vec![]
    );
    expect_room_not_found(
        store
            .append_events(doomed, vec![join("d9")], accept())
            .await,
        "append to a deleted room",
    );
    expect_room_not_found(store.delete_room(doomed).await, "delete twice");
    expect_room_not_found(
        store
            .start_room(doomed, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
            .await,
        "start a deleted room",
    );
    let (total, rooms) = store.list_rooms(&everything(app.sdk_app_id)).await.unwrap();
    assert_eq!(
        (total, room_ids(&rooms)),
        (1, vec![kept]),
        "GetRooms no longer lists it"
    );

    assert_eq!(
        seqs(&all_events(&store, kept).await),
        vec![1, 2, 3],
        "other rooms untouched"
    );
    assert_eq!(room(&store, kept).await.last_seq, 3);

    start(&store, kept, T0_MS).await;
    end(&store, kept, T0_MS + 1).await;
    store.delete_room(kept).await.unwrap();
    assert_eq!(store.get_room(kept).await.unwrap(), None);
    assert_eq!(store.read_events(kept, 1, 100).await.unwrap(), vec![]);
}

pub async fn case_purge<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    // Media events: presence (and the quits RoomEnd records) plays no part in this case.
    let mic = |id: String| event(&id, EventType::MicOn, T0_MS);

    assert_eq!(
        store.next_purge_candidate().await.unwrap(),
        None,
        "nothing ended yet"
    );
    assert_eq!(
        store.purge_events(i64::MAX).await.unwrap(),
        PurgeStats::default()
    );

    // early: ended at 10_000 with 7 events; late: ended at 20_000 with 5;
    // live: in class with 5; waiting: not started with 2.
    let early = plain_room(&store, &app, "early").await;
    let late = plain_room(&store, &app, "late").await;
    let live = plain_room(&store, &app, "live").await;
    let waiting = plain_room(&store, &app, "waiting").await;
    start(&store, early, 1_000).await;
    append(
        &store,
        early,
        (0..5).map(|i| mic(format!("e{i}"))).collect(),
    )
    .await;
    end(&store, early, 10_000).await;
    start(&store, late, 2_000).await;
    append(&store, late, (0..3).map(|i| mic(format!("l{i}"))).collect()).await;
    end(&store, late, 20_000).await;
    start(&store, live, 3_000).await;
    append(&store, live, (0..4).map(|i| mic(format!("v{i}"))).collect()).await;
    append(
        &store,
        waiting,
        (0..2).map(|i| mic(format!("w{i}"))).collect(),
    )
    .await;

    // Until a room's attendance is stored its events are what it is computed from: kept.
    assert_eq!(
        store.next_purge_candidate().await.unwrap(),
        None,
        "rooms awaiting attendance are not purge candidates"
    );
    assert_eq!(
        store.purge_events(i64::MAX).await.unwrap(),
        PurgeStats::default(),
        "the purge skips rooms whose attendance is not stored"
    );
    assert_eq!(all_events(&store, early).await.len(), 7);
    assert!(!room(&store, early).await.events_purged);
    store
        .save_attendance(early, &attendance_with(3, "early"))
        .await
        .unwrap();

    assert_eq!(store.next_purge_candidate().await.unwrap(), Some(10_000));
    assert_eq!(
        store.purge_events(9_999).await.unwrap(),
        PurgeStats::default(),
        "a cutoff before every end purges nothing"
    );
    assert_eq!(all_events(&store, early).await.len(), 7);

    assert_eq!(
        store.purge_events(15_000).await.unwrap(),
        PurgeStats {
            rooms: 1,
            events: 7
        },
        "only the room that ended before the cutoff"
    );
    let purged = room(&store, early).await;
    assert!(purged.events_purged, "a purged room is marked");
    assert_eq!(purged.status, RoomStatus::Ended, "the room itself stays");
    assert_eq!(purged.last_seq, 7, "the room keeps its last seq");
    assert_eq!(purged.real_end_ms, Some(10_000));
    assert_eq!(store.read_events(early, 1, 100).await.unwrap(), vec![]);
    assert_eq!(
        all_events(&store, late).await.len(),
        5,
        "a later room keeps its events"
    );
    assert!(!room(&store, late).await.events_purged);
    assert_eq!(
        store.next_purge_candidate().await.unwrap(),
        None,
        "the next ended room still awaits its attendance"
    );
    store
        .save_attendance(late, &attendance_with(1, "late"))
        .await
        .unwrap();
    assert_eq!(
        store.next_purge_candidate().await.unwrap(),
        Some(20_000),
        "the candidate moves to the next ended room"
    );
    assert_eq!(
        store.purge_events(15_000).await.unwrap(),
        PurgeStats::default(),
        "purging again finds nothing"
    );

    assert_eq!(
        store.purge_events(20_000).await.unwrap(),
        PurgeStats {
            rooms: 1,
            events: 5
        },
        "the cutoff is inclusive"
    );
    assert!(room(&store, late).await.events_purged);
    assert_eq!(store.next_purge_candidate().await.unwrap(), None);

    assert_eq!(
        all_events(&store, live).await.len(),
        5,
        "rooms in class are never purged"
    );
    assert_eq!(
        all_events(&store, waiting).await.len(),
        2,
        "rooms not started are never purged"
    );
    assert!(!room(&store, live).await.events_purged);
    assert_eq!(
        store.purge_events(i64::MAX).await.unwrap(),
        PurgeStats::default(),
        "only ended rooms are purged, whatever the cutoff"
    );

    end(&store, live, 30_000).await;
    assert_eq!(store.next_purge_candidate().await.unwrap(), None);
    store
        .save_attendance(live, &attendance_with(0, "live"))
        .await
        .unwrap();
    assert_eq!(store.next_purge_candidate().await.unwrap(), Some(30_000));
}

pub async fn case_list_rooms_window_status_paging<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let (_, other_app) = account_and_app(&store, "b").await;
    let at = |name: &str, start: u64, end: u64| spec(name, T0 + start, T0 + end);
    let ids = store
        .create_rooms(
            &app,
            vec![
                at("r1", 1000, 2000),
                at("r2", 1500, 3000),
                at("r3", 3000, 4000), // starts exactly at the window's end
                at("r4", 100, 999),   // ends just before the window
                at("r5", 3001, 5000), // starts just after the window
                at("r6", 500, 1000),  // ends exactly at the window's start
                at("r7", 1500, 1600), // same start as r2: ordered by id
            ],
            1,
        )
        .await
        .unwrap();
    let [r1, r2, r3, _r4, _r5, r6, r7] = ids[..] else {
        panic!("seven ids expected, got {ids:?}");
    };
    store
        .create_rooms(&other_app, vec![at("elsewhere", 1000, 2000)], 1)
        .await
        .unwrap();

    let query = |statuses: Vec<RoomStatus>, page: u64, limit: u64| RoomQuery {
        sdk_app_id: app.sdk_app_id,
        window_start: T0 + 1000,
        window_end: T0 + 3000,
        statuses,
        page: page_of(page, limit),
    };
    let list = |q: RoomQuery| {
        let store = &store;
        async move {
            let (total, rooms) = store.list_rooms(&q).await.unwrap();
            (total, room_ids(&rooms))
        }
    };

    assert_eq!(
        list(query(vec![], 1, 100)).await,
        (5, vec![r6, r1, r2, r7, r3]),
        "rooms overlapping the window (bounds inclusive), by start time then id"
    );
    assert_eq!(list(query(vec![], 1, 2)).await, (5, vec![r6, r1]));
    assert_eq!(list(query(vec![], 2, 2)).await, (5, vec![r2, r7]));
    assert_eq!(list(query(vec![], 3, 2)).await, (5, vec![r3]));
    assert_eq!(
        list(query(vec![], 4, 2)).await,
        (5, vec![]),
        "a page past the end is empty but still counts the total"
    );

    let (_, rooms) = store.list_rooms(&query(vec![], 1, 100)).await.unwrap();
    for listed in &rooms {
        assert_eq!(
            *listed,
            room(&store, listed.room_id).await,
            "listed rooms are complete"
        );
    }

    start(&store, r1, T0_MS).await;
    start(&store, r2, T0_MS).await;
    end(&store, r2, T0_MS + 1).await;
    assert_eq!(
        list(query(vec![RoomStatus::InClass], 1, 100)).await,
        (1, vec![r1])
    );
    assert_eq!(
        list(query(vec![RoomStatus::Ended, RoomStatus::InClass], 1, 100)).await,
        (2, vec![r1, r2])
    );
    assert_eq!(
        list(query(vec![RoomStatus::NotStarted], 1, 2)).await,
        (3, vec![r6, r7]),
        "status filter and paging combine; the total counts filtered rooms"
    );
    assert_eq!(
        list(query(vec![RoomStatus::Expired], 1, 100)).await,
        (0, vec![])
    );

    // A long class is found through a window near its end, far from its start.
    let long = new_room(&store, &app, at("long", 100_000, 100_000 + 72 * 3600)).await;
    let late_window = RoomQuery {
        window_start: T0 + 100_000 + 70 * 3600,
        window_end: T0 + 100_000 + 71 * 3600,
        ..query(vec![], 1, 100)
    };
    assert_eq!(list(late_window).await, (1, vec![long]));
}
