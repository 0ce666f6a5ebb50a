//! Conformance cases: kicks.

use super::*;

/// An admission that records the bars it was given, and accepts.
pub fn bars_probe() -> (Admission, Arc<Mutex<Option<KickBars>>>) {
    let seen = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&seen);
    let admit: Admission = Box::new(move |_, _, bars| {
        *sink.lock().unwrap() = Some(bars.clone());
        Ok(())
    });
    (admit, seen)
}

pub(super) async fn bars_for_join<S: Store>(
    store: &S,
    room_id: RoomId,
    id: &str,
    user: &str,
) -> KickBars {
    let (admit, seen) = bars_probe();
    store
        .append_events(
            room_id,
            vec![presence_event(
                id,
                EventType::MemberJoin,
                user,
                Some(5),
                T0_MS,
            )],
            admit,
        )
        .await
        .expect("append_events");
    let bars = seen.lock().unwrap().take();
    bars.expect("admission is consulted for a new MemberJoin")
}

pub async fn case_kicks<S: Store>(store: S) {
    let (app, id) = app_and_room(&store).await;
    start(&store, id, T0_MS).await;
    append(
        &store,
        id,
        vec![
            presence_event("a1", EventType::MemberJoin, "ann", Some(5), T0_MS + 1),
            presence_event("a2", EventType::MemberJoin, "ann", Some(1), T0_MS + 2),
            presence_event("b1", EventType::MemberJoin, "ben", Some(5), T0_MS + 3),
        ],
    )
    .await;
    assert_eq!(room(&store, id).await.last_seq, 4);

    // Kicking a present user bars them and records the quit, closing every session.
    let until = T0_MS + 600_000;
    let was_in = store
        .kick_user(id, "ann", Some(until), kick_quit("1", "ann", 1, T0_MS + 10))
        .await
        .unwrap()
        .value;
    assert!(was_in, "ann was present");
    let quit = store.read_events(id, 5, 10).await.unwrap();
    assert_eq!(
        (
            quit.len(),
            quit[0].seq,
            quit[0].event_id.as_str(),
            quit[0].data.reason
        ),
        (1, 5, "roomlog:kick:1", Some(1)),
        "the quit is recorded with the next seq: {quit:?}"
    );
    assert_eq!(present(&store, id).await, users(&[("ben", 1)]));

    // Kicking an absent user bars them and records nothing.
    let was_in = store
        .kick_user(id, "cat", None, kick_quit("2", "cat", 2, T0_MS + 11))
        .await
        .unwrap()
        .value;
    assert!(!was_in, "cat was not present");
    assert_eq!(
        room(&store, id).await.last_seq,
        5,
        "no quit for an absent user"
    );

    // Admission is given the bars of the users a batch lets in.
    let bars = bars_for_join(&store, id, "a3", "ann").await;
    assert_eq!(bars.get("ann"), Some(&Some(until)), "ann's bar, until when");
    let bars = bars_for_join(&store, id, "c1", "cat").await;
    assert_eq!(bars.get("cat"), Some(&None), "cat's bar is permanent");
    let bars = bars_for_join(&store, id, "d1", "dan").await;
    assert_eq!(bars.get("dan"), None, "dan was never kicked");
    // With the real rule the join of a barred user is refused, and nothing is recorded.
    let last = room(&store, id).await.last_seq;
    let refused = store
        .append_events(
            id,
            vec![
                event("mic", EventType::MicOn, T0_MS + 20),
                presence_event("c2", EventType::MemberJoin, "cat", Some(5), T0_MS + 20),
            ],
            Box::new(|room, events, bars| ingest::admit(room, events, bars, T0_MS + 20, 3_600_000)),
        )
        .await;
    match refused {
        Err(StoreError::Rejected(e)) => assert_eq!(e.code, ingest::USER_KICKED),
        other => panic!("a barred user's MemberJoin must be refused, got {other:?}"),
    }
    assert_eq!(room(&store, id).await.last_seq, last);

    // A second kick replaces the bar.
    store
        .kick_user(id, "ann", None, kick_quit("3", "ann", 2, T0_MS + 30))
        .await
        .unwrap();
    assert_eq!(
        bars_for_join(&store, id, "a4", "ann").await.get("ann"),
        Some(&None)
    );

    // Unblocking lifts the bar, once.
    assert!(
        store.unblock_user(id, "cat").await.unwrap(),
        "cat had a bar"
    );
    assert!(!store.unblock_user(id, "cat").await.unwrap(), "no bar left");
    assert!(
        !store.unblock_user(id, "dan").await.unwrap(),
        "dan never had one"
    );
    assert_eq!(
        bars_for_join(&store, id, "c3", "cat").await.get("cat"),
        None
    );

    // Kicks need a room that is not over.
    end(&store, id, T0_MS + 100).await;
    let last = room(&store, id).await.last_seq;
    expect_wrong_status(
        store
            .kick_user(id, "ben", None, kick_quit("4", "ben", 2, T0_MS + 200))
            .await,
        RoomStatus::Ended,
        "kick after the end",
    );
    assert_eq!(
        room(&store, id).await.last_seq,
        last,
        "a refused kick records nothing"
    );
    let waiting = plain_room(&store, &app, "waiting").await;
    assert!(
        !store
            .kick_user(waiting, "ben", Some(until), kick_quit("5", "ben", 1, T0_MS))
            .await
            .expect("rooms not started take kicks")
            .value
    );
    store.expire_room(waiting).await.unwrap();
    expect_wrong_status(
        store
            .kick_user(waiting, "ben", None, kick_quit("6", "ben", 2, T0_MS))
            .await,
        RoomStatus::Expired,
        "kick after expiry",
    );
    expect_room_not_found(
        store
            .kick_user(id + 1_000_000, "ben", None, kick_quit("7", "ben", 2, T0_MS))
            .await,
        "kick in a missing room",
    );
}
