//! Conformance cases: rooms.

use super::*;

pub async fn case_room_ids_unique_and_in_input_order<S: Store>(store: S) {
    let (account, app) = account_and_app(&store, "a").await;
    let (_, other_app) = account_and_app(&store, "b").await;
    // Deliberately not in schedule order: ids come back in INPUT order.
    let specs = vec![
        spec("r0", T0 + 500, T0 + 900),
        spec("r1", T0 + 100, T0 + 200),
        spec("r2", T0 + 300, T0 + 400),
        spec("r3", T0 + 50, T0 + 60),
        RoomSpec {
            teacher_id: Some("teacher".into()),
            assistants: Some(vec!["as1".into(), "as2".into()]),
            room_type: Some(1),
            record_lang: Some("en".into()),
            rtc_audience_number: Some(7),
            ..spec("r4", T0, T0 + 3600)
        },
    ];
    let ids = store.create_rooms(&app, specs.clone(), 1234).await.unwrap();
    assert_eq!(ids.len(), specs.len(), "one id per spec");
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "room ids are unique: {ids:?}"
    );
    for (id, spec) in ids.iter().zip(&specs) {
        let stored = room(&store, *id).await;
        assert_eq!(
            stored.spec, *spec,
            "room {id} must hold the spec at the same position"
        );
        assert_eq!(stored.room_id, *id);
        assert_eq!(stored.sdk_app_id, app.sdk_app_id);
        assert_eq!(stored.account_id, account.id);
        assert_eq!(stored.status, RoomStatus::NotStarted);
        assert_eq!((stored.real_start_ms, stored.real_end_ms), (None, None));
        assert_eq!(stored.created_at, 1234, "created_at is the value passed in");
        assert_eq!(stored.last_seq, 0);
        assert!(!stored.events_purged);
    }
    let more = store
        .create_rooms(
            &other_app,
            vec![spec("o0", T0, T0 + 1), spec("o1", T0, T0 + 1)],
            1,
        )
        .await
        .unwrap()
        .value;
    let all: HashSet<RoomId> = ids.iter().chain(&more).copied().collect();
    assert_eq!(
        all.len(),
        ids.len() + more.len(),
        "room ids are unique across apps"
    );
    assert_eq!(
        store.create_rooms(&app, Vec::new(), 1).await.unwrap().value,
        Vec::<RoomId>::new(),
        "an empty batch creates nothing"
    );
}

pub async fn case_create_rooms_all_or_nothing<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let ghost = App {
        sdk_app_id: app.sdk_app_id + 1000,
        ..app.clone()
    };
    let result = store
        .create_rooms(&ghost, vec![spec("x", T0, T0 + 1)], 1)
        .await;
    assert!(
        matches!(result, Err(StoreError::AppNotFound)),
        "creating rooms in an app that does not exist is AppNotFound, got {result:?}"
    );

    // The third spec's schedule cannot be stored by a backend with signed 64-bit integers; a
    // backend that can store it must then store all three.
    let specs = vec![
        spec("ok-1", T0, T0 + 60),
        spec("ok-2", T0, T0 + 60),
        spec("unstorable", u64::MAX - 1, u64::MAX),
    ];
    match store.create_rooms(&app, specs, 1).await {
        Err(_) => {
            let (total, rooms) = store.list_rooms(&everything(app.sdk_app_id)).await.unwrap();
            assert_eq!(
                (total, rooms.len()),
                (0, 0),
                "a failed create_rooms must create none of the rooms: {rooms:?}"
            );
        }
        Ok(ids) => {
            assert_eq!(ids.len(), 3);
            for id in ids.value {
                room(&store, id).await;
            }
        }
    }
    let id = plain_room(&store, &app, "after").await;
    assert_eq!(
        room(&store, id).await.spec.name,
        "after",
        "the store still works"
    );
}

pub async fn case_missing_room<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let existing = plain_room(&store, &app, "r").await;
    let missing = existing + 1_000_000;
    assert_eq!(store.get_room(missing).await.unwrap(), None);
    // Clients send arbitrary u64 RoomIds: lookups must answer None, not fail.
    assert_eq!(store.get_room(u64::MAX).await.unwrap(), None);
    expect_room_not_found(
        store.modify_room(missing, spec("x", T0, T0 + 1)).await,
        "modify_room",
    );
    expect_room_not_found(store.delete_room(missing).await, "delete_room");
    expect_room_not_found(
        store
            .start_room(missing, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
            .await,
        "start_room",
    );
    expect_room_not_found(
        store
            .end_room(missing, NewEvent::lifecycle(EventType::RoomEnd, T0_MS))
            .await,
        "end_room",
    );
    expect_room_not_found(
        store
            .append_events(missing, vec![join("a")], accept())
            .await,
        "append_events",
    );
    expect_room_not_found(
        store
            .append_events(u64::MAX, vec![join("a")], accept())
            .await,
        "append_events(u64::MAX)",
    );
    assert_eq!(store.read_events(missing, 1, 10).await.unwrap(), vec![]);
    assert_eq!(
        store
            .read_events_of_type(missing, EventType::MemberJoin, 0, 10)
            .await
            .unwrap(),
        vec![]
    );
}

pub async fn case_modify_room<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let id = new_room(&store, &app, spec("before", T0, T0 + 600)).await;
    let changed = RoomSpec {
        teacher_id: Some("t1".into()),
        max_mic_number: 3,
        ..spec("after", T0 + 10_000, T0 + 12_000)
    };
    let modified = store.modify_room(id, changed.clone()).await.unwrap();
    assert_eq!(
        modified.spec, changed,
        "modify_room returns the room with the new spec"
    );
    assert_eq!(modified.status, RoomStatus::NotStarted);
    assert_eq!(
        room(&store, id).await,
        modified.value,
        "the returned room is what is stored"
    );

    // The schedule columns moved with the spec: GetRooms finds it only at its new time.
    let window = |start: u64, end: u64| RoomQuery {
        window_start: start,
        window_end: end,
        ..everything(app.sdk_app_id)
    };
    let (total, _) = store.list_rooms(&window(T0, T0 + 600)).await.unwrap();
    assert_eq!(total, 0, "the old schedule no longer matches");
    let (total, rooms) = store
        .list_rooms(&window(T0 + 11_000, T0 + 11_001))
        .await
        .unwrap();
    assert_eq!(
        (total, room_ids(&rooms)),
        (1, vec![id]),
        "the new schedule matches"
    );

    start(&store, id, T0_MS).await;
    expect_wrong_status(
        store.modify_room(id, spec("late", T0, T0 + 1)).await,
        RoomStatus::InClass,
        "modify after start",
    );
    end(&store, id, T0_MS + 1).await;
    expect_wrong_status(
        store.modify_room(id, spec("later", T0, T0 + 1)).await,
        RoomStatus::Ended,
        "modify after end",
    );
    assert_eq!(
        room(&store, id).await.spec,
        changed,
        "refused modifications change nothing"
    );
}

pub async fn case_lifecycle_wrong_status<S: Store>(store: S) {
    let (app, id) = app_and_room(&store).await;
    let start = || NewEvent::lifecycle(EventType::RoomStart, T0_MS);
    let end = || NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 1000);

    expect_wrong_status(
        store.end_room(id, end()).await,
        RoomStatus::NotStarted,
        "end before start",
    );
    store.start_room(id, start()).await.unwrap();
    expect_wrong_status(
        store.start_room(id, start()).await,
        RoomStatus::InClass,
        "start twice",
    );
    expect_wrong_status(
        store.delete_room(id).await,
        RoomStatus::InClass,
        "delete in class",
    );
    assert!(
        store.get_room(id).await.unwrap().is_some(),
        "a refused delete deletes nothing"
    );
    store.end_room(id, end()).await.unwrap();
    expect_wrong_status(
        store.end_room(id, end()).await,
        RoomStatus::Ended,
        "end twice",
    );
    expect_wrong_status(
        store.start_room(id, start()).await,
        RoomStatus::Ended,
        "start after end",
    );

    let events = all_events(&store, id).await;
    assert_eq!(
        events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        vec![EventType::RoomStart, EventType::RoomEnd],
        "refused transitions record nothing"
    );
    assert_eq!(room(&store, id).await.last_seq, 2);

    store
        .delete_room(id)
        .await
        .expect("an ended room can be deleted");
    assert_eq!(store.get_room(id).await.unwrap(), None);
    let fresh = plain_room(&store, &app, "never started").await;
    store
        .delete_room(fresh)
        .await
        .expect("a room not started can be deleted");
    assert_eq!(store.get_room(fresh).await.unwrap(), None);
}

pub async fn case_start_and_end_record_events<S: Store>(store: S) {
    let (_, id) = app_and_room(&store).await;
    // Members may arrive before the class starts.
    append(&store, id, vec![join("early-1"), join("early-2")]).await;

    let started = store
        .start_room(id, NewEvent::lifecycle(EventType::RoomStart, T0_MS + 5))
        .await
        .unwrap();
    assert_eq!(started.status, RoomStatus::InClass);
    assert_eq!(
        started.real_start_ms,
        Some(T0_MS + 5),
        "real_start_ms is the event's time"
    );
    assert_eq!(started.real_end_ms, None);
    assert_eq!(started.last_seq, 3, "RoomStart takes the next seq");
    assert_eq!(
        room(&store, id).await,
        started.value,
        "start_room returns the room as stored"
    );

    append(&store, id, vec![join("during")]).await;
    let ended = store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 9000))
        .await
        .unwrap();
    assert_eq!(ended.status, RoomStatus::Ended);
    assert_eq!(
        ended.real_start_ms,
        Some(T0_MS + 5),
        "the start time is kept"
    );
    assert_eq!(
        ended.real_end_ms,
        Some(T0_MS + 9000),
        "real_end_ms is the event's time"
    );
    assert_eq!(
        ended.last_seq, 8,
        "RoomEnd takes the seq after the quits of the three members still in"
    );
    assert_eq!(
        room(&store, id).await,
        ended.value,
        "end_room returns the room as stored"
    );

    let events = all_events(&store, id).await;
    assert_eq!(seqs(&events), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let start = &events[2];
    assert_eq!(
        (
            start.event_type,
            start.event_id.as_str(),
            start.timestamp_ms,
            start.room_id
        ),
        (EventType::RoomStart, "roomlog:RoomStart", T0_MS + 5, id)
    );
    assert_eq!(start.data, EventData::default());
    let end = &events[7];
    assert_eq!(
        (end.event_type, end.event_id.as_str(), end.timestamp_ms),
        (EventType::RoomEnd, "roomlog:RoomEnd", T0_MS + 9000)
    );
    assert!(
        events[4..7]
            .iter()
            .all(|e| e.event_type == EventType::MemberQuit),
        "the members still in quit before RoomEnd (case_end_room_closes_presence has details)"
    );
    let ends = store
        .read_events_of_type(id, EventType::RoomEnd, 0, 10)
        .await
        .unwrap();
    assert_eq!(seqs(&ends), vec![8]);
}
