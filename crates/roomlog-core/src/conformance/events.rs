//! Conformance cases: events.

use super::*;

pub async fn case_dense_sequences<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let a = plain_room(&store, &app, "a").await;
    let b = plain_room(&store, &app, "b").await;
    let mut expected_a = Vec::new();
    for call in 0..40u64 {
        let size = call % 7 + 1;
        let batch: Vec<NewEvent> = (0..size).map(|i| join(&format!("a-{call}-{i}"))).collect();
        expected_a.extend(batch.iter().map(|e| e.event_id.clone()));
        let outcome = append(&store, a, batch).await;
        assert_eq!(
            outcome,
            AppendOutcome {
                accepted: size,
                duplicates: 0,
                last_seq: expected_a.len() as u64,
            },
            "append #{call}"
        );
        // Interleave another room: sequences are per room.
        let outcome = append(&store, b, vec![join(&format!("b-{call}"))]).await;
        assert_eq!(outcome.last_seq, call + 1, "room b's sequence is its own");
    }
    let events = all_events(&store, a).await;
    assert_eq!(
        seqs(&events),
        (1..=expected_a.len() as u64).collect::<Vec<_>>(),
        "seqs are dense from 1"
    );
    assert_eq!(ids(&events), expected_a, "events are in append order");
    assert!(events.iter().all(|e| e.room_id == a));
    assert_eq!(room(&store, a).await.last_seq, expected_a.len() as u64);
    assert_eq!(
        seqs(&all_events(&store, b).await),
        (1..=40).collect::<Vec<_>>()
    );
}

pub async fn case_idempotent_event_ids<S: Store>(store: S) {
    let (app, id) = app_and_room(&store).await;
    let other = plain_room(&store, &app, "other").await;

    let outcome = append(&store, id, vec![join("a"), join("b"), join("a")]).await;
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 2,
            duplicates: 1,
            last_seq: 2
        },
        "an id repeated within a batch is a duplicate"
    );
    let outcome = append(&store, id, vec![join("b"), join("c")]).await;
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 1,
            duplicates: 1,
            last_seq: 3
        },
        "an id recorded by an earlier call is a duplicate"
    );
    // A whole retried batch: nothing new, so admission is not consulted at all.
    let (admit, called) = reject_and_flag();
    let outcome = store
        .append_events(id, vec![join("a"), join("b"), join("c")], admit)
        .await
        .unwrap()
        .value;
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 0,
            duplicates: 3,
            last_seq: 3
        }
    );
    assert!(
        !called.load(Ordering::SeqCst),
        "admission is skipped when nothing is new"
    );
    // Same id, different content: still a duplicate; the first recording wins.
    let imposter = event("a", EventType::MicOn, T0_MS + 99);
    let outcome = append(&store, id, vec![imposter]).await;
    assert_eq!((outcome.accepted, outcome.duplicates), (0, 1));
    let (admit, called) = reject_and_flag();
    let outcome = store
        .append_events(id, Vec::new(), admit)
        .await
        .unwrap()
        .value;
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 0,
            duplicates: 0,
            last_seq: 3
        },
        "an empty batch records nothing"
    );
    assert!(!called.load(Ordering::SeqCst));

    let events = all_events(&store, id).await;
    assert_eq!(
        ids(&events),
        vec!["a", "b", "c"],
        "each id recorded exactly once"
    );
    assert_eq!(
        events[0].event_type,
        EventType::MemberJoin,
        "the first recording is kept"
    );
    assert_eq!(room(&store, id).await.last_seq, 3);

    let outcome = append(&store, other, vec![join("a")]).await;
    assert_eq!(
        (outcome.accepted, outcome.duplicates),
        (1, 0),
        "event ids are unique per room, not globally"
    );
}

pub async fn case_retry_after_end_returns_duplicates<S: Store>(store: S) {
    let (_, id) = app_and_room(&store).await;
    start(&store, id, T0_MS).await;
    append(&store, id, vec![join("a"), join("b")]).await;
    let ended = store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 60_000))
        .await
        .unwrap();
    // RoomStart, two joins, the two quits RoomEnd records for them, RoomEnd.
    assert_eq!(ended.last_seq, 6);

    // The batch was acknowledged before the class ended; its retry must still succeed.
    let (admit, called) = reject_and_flag();
    let outcome = store
        .append_events(id, vec![join("a"), join("b")], admit)
        .await
        .expect("a retried batch after the end answers with its duplicates")
        .value;
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 0,
            duplicates: 2,
            last_seq: 6
        }
    );
    assert!(
        !called.load(Ordering::SeqCst),
        "admission is not consulted for pure duplicates"
    );

    // With the real ingest rule: new member events are refused after the end ...
    let now = T0_MS + 61_000;
    let retention = 3_600_000;
    let real_admit = || -> Admission {
        Box::new(move |room, events, bars| ingest::admit(room, events, bars, now, retention))
    };
    match store
        .append_events(id, vec![join("a"), join("late")], real_admit())
        .await
    {
        Err(StoreError::Rejected(e)) => assert_eq!(e.code, "FailedOperation.ClassEnded"),
        other => panic!("a new MemberJoin after the end must be rejected, got {other:?}"),
    }
    assert_eq!(
        room(&store, id).await.last_seq,
        6,
        "a rejected batch records nothing"
    );
    // ... while a RecordFinish still is taken, next to a duplicate.
    let outcome = store
        .append_events(
            id,
            vec![join("a"), event("rec", EventType::RecordFinish, now)],
            real_admit(),
        )
        .await
        .unwrap()
        .value;
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 1,
            duplicates: 1,
            last_seq: 7
        }
    );
}

pub async fn case_admission_sees_room_and_new_events_only<S: Store>(store: S) {
    let (app, id) = app_and_room(&store).await;
    append(&store, id, vec![join("a")]).await;

    type Seen = Option<(Room, Vec<NewEvent>, KickBars)>;
    let seen: Arc<Mutex<Seen>> = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&seen);
    let admit: Admission = Box::new(move |room, events, bars| {
        *sink.lock().unwrap() = Some((room.clone(), events.to_vec(), bars.clone()));
        Ok(())
    });
    let batch = vec![join("a"), join("b"), join("b"), join("c")];
    let outcome = store.append_events(id, batch, admit).await.unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (2, 2));

    let (room_seen, events_seen, bars_seen) = seen
        .lock()
        .unwrap()
        .take()
        .expect("admission is consulted when there are new events");
    assert_eq!(room_seen.room_id, id);
    assert_eq!(
        room_seen.last_seq, 1,
        "admission sees the room as stored before the batch"
    );
    assert_eq!(room_seen.status, RoomStatus::NotStarted);
    assert_eq!(room_seen.sdk_app_id, app.sdk_app_id);
    assert_eq!(
        events_seen
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        vec!["b", "c"],
        "admission sees only the new events, once each, in order"
    );
    assert_eq!(
        bars_seen,
        KickBars::new(),
        "nobody was kicked: no bars (case_kicks covers bars)"
    );
    assert_eq!(
        room_seen.occupancy.present, 1,
        "admission sees the room's presence before the batch"
    );
}

pub async fn case_rejection_records_nothing<S: Store>(store: S) {
    let (_, id) = app_and_room(&store).await;
    append(&store, id, vec![join("x")]).await;

    let refusal = DomainError::new("FailedOperation.Test", "not now");
    let result = store
        .append_events(
            id,
            vec![join("a"), join("b"), join("c")],
            reject(refusal.clone()),
        )
        .await;
    match result {
        Err(StoreError::Rejected(e)) => assert_eq!(e, refusal, "the admission error is returned"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        room(&store, id).await.last_seq,
        1,
        "a rejected batch records nothing"
    );
    assert_eq!(ids(&all_events(&store, id).await), vec!["x"]);

    let outcome = append(&store, id, vec![join("a"), join("b"), join("c")]).await;
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 3,
            duplicates: 0,
            last_seq: 4
        },
        "the rejected ids were not recorded, so they are new now"
    );
}

pub async fn case_read_events_pages<S: Store>(store: S) {
    let (_, id) = app_and_room(&store).await;
    let kinds = [
        EventType::MemberJoin,
        EventType::CameraOn,
        EventType::MemberQuit,
        EventType::RecordFinish,
        EventType::VisibleOff,
    ];
    let sent: Vec<NewEvent> = (0..25)
        .map(|i| event(&format!("e{i}"), kinds[i % kinds.len()], T0_MS + i as i64))
        .collect();
    append(&store, id, sent[..12].to_vec()).await;
    append(&store, id, sent[12..].to_vec()).await;

    let all = all_events(&store, id).await;
    let expected: Vec<StoredEvent> = sent
        .iter()
        .enumerate()
        .map(|(i, e)| StoredEvent {
            room_id: id,
            seq: i as u64 + 1,
            event_id: e.event_id.clone(),
            event_type: e.event_type,
            timestamp_ms: e.timestamp_ms,
            data: e.data.clone(),
        })
        .collect();
    assert_eq!(
        all, expected,
        "events come back exactly as recorded, with every field"
    );

    let page = |first: u64, limit: u64| {
        let store = &store;
        async move { seqs(&store.read_events(id, first, limit).await.unwrap()) }
    };
    assert_eq!(page(1, 10).await, (1..=10).collect::<Vec<_>>());
    assert_eq!(page(11, 10).await, (11..=20).collect::<Vec<_>>());
    assert_eq!(
        page(21, 10).await,
        (21..=25).collect::<Vec<_>>(),
        "a short last page"
    );
    assert_eq!(
        page(26, 10).await,
        Vec::<u64>::new(),
        "a page past the end is empty"
    );
    assert_eq!(page(1000, 10).await, Vec::<u64>::new());
    assert_eq!(
        page(u64::MAX, 10).await,
        Vec::<u64>::new(),
        "no overflow at the top"
    );
    assert_eq!(
        page(0, 5).await,
        (1..=4).collect::<Vec<_>>(),
        "the range is first_seq..first_seq+limit"
    );
    assert_eq!(page(5, 0).await, Vec::<u64>::new(), "limit 0 reads nothing");
    assert_eq!(page(7, 1).await, vec![7]);
}

pub async fn case_read_room_page<S: Store>(store: S) {
    let (_, id) = app_and_room(&store).await;
    let kinds = [
        EventType::MemberJoin,
        EventType::CameraOn,
        EventType::MemberQuit,
        EventType::RecordFinish,
        EventType::MicOn,
    ];
    let mut sent: Vec<NewEvent> = (0..30)
        .map(|i| {
            event(
                &format!("e{i}"),
                kinds[i % kinds.len()],
                T0_MS + i as i64 * 777,
            )
        })
        .collect();
    // Text that JSON must escape, and an event with no data at all.
    sent[3].data.user_id = Some("quote\" back\\slash \u{1} é 😀".into());
    sent[7].data = EventData::default();
    append(&store, id, sent).await;
    // The expected pages: read_events' (which other cases pin down), rendered.
    let stored = room(&store, id).await;
    let render = |events: &[StoredEvent]| RoomPage::render(stored.clone(), events).events_json;

    // The range is decided from the room as read; the events are read_events' for it.
    let seen = Arc::new(Mutex::new(None));
    let saw = Arc::clone(&seen);
    let page = store
        .read_room_page(
            id,
            Box::new(move |room: &Room| {
                *saw.lock().unwrap() = Some(room.last_seq);
                Some((room.last_seq - 27, 100))
            }),
        )
        .await
        .expect("read_room_page")
        .expect("the room exists");
    assert_eq!(page.room, stored, "the room as get_room has it");
    assert_eq!(*seen.lock().unwrap(), Some(30), "the range saw the room");
    let expected = render(&store.read_events(id, 3, 100).await.unwrap());
    assert_eq!(page.count, 28);
    assert_eq!(
        String::from_utf8(page.events_json).unwrap(),
        String::from_utf8(expected).unwrap(),
        "the same events, rendered as RoomPage::render does"
    );
    let page = store
        .read_room_page(id, Box::new(|_: &Room| Some((10, 1))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(
        page.events_json,
        render(&store.read_events(id, 10, 1).await.unwrap())
    );

    for (range, what) in [
        (None, "no range"),
        (Some((u64::MAX, 10)), "a range past the end"),
    ] {
        let page = store
            .read_room_page(id, Box::new(move |_: &Room| range))
            .await
            .unwrap()
            .expect("the room exists");
        assert_eq!(
            (page.count, page.events_json),
            (0, Vec::new()),
            "{what}: no events"
        );
    }

    let asked = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&asked);
    let missing = store
        .read_room_page(
            id + 1_000_000,
            Box::new(move |_: &Room| {
                flag.store(true, Ordering::SeqCst);
                Some((1, 10))
            }),
        )
        .await
        .unwrap();
    assert!(missing.is_none(), "a missing room reads as None");
    assert!(
        !asked.load(Ordering::SeqCst),
        "no range is asked for a missing room"
    );
}

pub async fn case_read_events_of_type_paging<S: Store>(store: S) {
    let (app, id) = app_and_room(&store).await;
    let other = plain_room(&store, &app, "other").await;
    let kinds = [
        EventType::MemberJoin,
        EventType::MicOn,
        EventType::MemberQuit,
    ];
    let batch: Vec<NewEvent> = (0..30)
        .map(|i| event(&format!("e{i}"), kinds[i % 3], T0_MS + i as i64))
        .collect();
    append(&store, id, batch).await;
    append(&store, other, vec![join("o1"), join("o2")]).await;

    let joins: Vec<u64> = (0..10).map(|i| 1 + 3 * i).collect();
    let mut got = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .read_events_of_type(id, EventType::MemberJoin, after, 3)
            .await
            .unwrap();
        assert!(page.len() <= 3, "at most `limit` events per call");
        assert!(
            page.iter()
                .all(|e| e.event_type == EventType::MemberJoin && e.room_id == id),
            "only the requested type of the requested room"
        );
        let Some(last) = page.last() else { break };
        after = last.seq;
        got.extend(seqs(&page));
    }
    assert_eq!(
        got, joins,
        "paging by after_seq yields every event of the type, in order"
    );
    assert_eq!(
        seqs(
            &store
                .read_events_of_type(id, EventType::MemberJoin, 7, 2)
                .await
                .unwrap()
        ),
        vec![10, 13],
        "after_seq is exclusive"
    );
    assert_eq!(
        store
            .read_events_of_type(id, EventType::ScreenOn, 0, 100)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .read_events_of_type(id, EventType::MicOn, 0, 0)
            .await
            .unwrap(),
        vec![],
        "limit 0 reads nothing"
    );
    let quits = store
        .read_events_of_type(id, EventType::MemberQuit, 0, 100)
        .await
        .unwrap();
    assert_eq!(seqs(&quits), (0..10).map(|i| 3 + 3 * i).collect::<Vec<_>>());
    assert_eq!(
        quits[0].data.reason,
        Some(4),
        "event data comes back with typed reads too"
    );
}

pub async fn case_concurrent_appends_are_dense_and_exactly_once<S: Store>(store: S) {
    const TASKS: usize = 16;
    const PER_TASK: usize = 25;
    let (_, id) = app_and_room(&store).await;
    let store = Arc::new(store);

    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut totals = (0u64, 0u64);
            for i in 0..PER_TASK {
                // Each task's own event, plus one id that every task races to record.
                let batch = vec![join(&format!("t{task}-{i}")), join(&format!("shared-{i}"))];
                let outcome = store
                    .append_events(id, batch, accept())
                    .await
                    .expect("concurrent append");
                totals.0 += outcome.accepted;
                totals.1 += outcome.duplicates;
            }
            totals
        }));
    }
    let (mut accepted, mut duplicates) = (0, 0);
    for handle in handles {
        let (a, d) = handle.await.expect("append task");
        accepted += a;
        duplicates += d;
    }
    let unique = (TASKS * PER_TASK + PER_TASK) as u64;
    assert_eq!(accepted, unique, "every distinct id accepted exactly once");
    assert_eq!(duplicates, (TASKS * PER_TASK) as u64 - PER_TASK as u64);

    let events = all_events(&*store, id).await;
    // Each task awaited its appends one by one: its events are in its order.
    assert_concurrent_log(&events, unique, TASKS, PER_TASK);
    assert_eq!(room(&*store, id).await.last_seq, unique);
}
