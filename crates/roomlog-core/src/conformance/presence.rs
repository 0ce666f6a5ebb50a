//! Conformance cases: presence.

use super::*;

/// A member event of `user` with an explicit Device (or none).
pub fn presence_event(
    id: &str,
    event_type: EventType,
    user: &str,
    device: Option<u64>,
    timestamp_ms: i64,
) -> NewEvent {
    let join = event_type == EventType::MemberJoin;
    NewEvent {
        event_id: id.to_owned(),
        event_type,
        timestamp_ms,
        data: EventData {
            user_id: Some(user.to_owned()),
            device,
            role: join.then_some(0),
            reason: (!join).then_some(0),
            ..EventData::default()
        },
    }
}

pub(super) fn kick_quit(id: &str, user: &str, reason: u64, timestamp_ms: i64) -> NewEvent {
    NewEvent {
        event_id: format!("roomlog:kick:{id}"),
        event_type: EventType::MemberQuit,
        timestamp_ms,
        data: EventData {
            user_id: Some(user.to_owned()),
            reason: Some(reason),
            ..EventData::default()
        },
    }
}

/// Who is in: `(user, devices)` in order of arrival.
pub(super) async fn present<S: Store>(store: &S, room_id: RoomId) -> Vec<(String, u64)> {
    let (total, members) = store
        .current_members(room_id, page_of(1, 1000))
        .await
        .expect("current_members");
    assert_eq!(
        total,
        members.len() as u64,
        "the total counts the users present"
    );
    assert_eq!(
        room(store, room_id).await.occupancy.present,
        total,
        "Room::occupancy agrees with current_members"
    );
    members
        .into_iter()
        .map(|m| (m.user_id, m.devices))
        .collect()
}

pub(super) fn users(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(u, d)| ((*u).to_owned(), *d)).collect()
}

/// The presence rules: sessions per user and device, reconnects, quits with an unknown device
/// or none, quits without a join; occupancy and when the room emptied.
pub async fn case_presence_rules<S: Store>(store: S) {
    let (_, id) = app_and_room(&store).await;
    let at = |n: i64| T0_MS + n * 1000;
    let ev = |n: i64, t: EventType, user: &str, device: Option<u64>| {
        presence_event(&format!("p{n}"), t, user, device, at(n))
    };
    use EventType::{MemberJoin as J, MemberQuit as Q};
    let step = |events: Vec<NewEvent>| {
        let store = &store;
        async move { append(store, id, events).await }
    };

    assert_eq!(present(&store, id).await, vec![]);
    assert_eq!(
        room(&store, id).await.occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(secs_ms(T0))
        },
        "empty since its creation"
    );

    // A second join on an open device is a reconnect: one session, joined at the first join.
    step(vec![ev(1, J, "alice", Some(5))]).await;
    step(vec![ev(2, J, "alice", Some(5))]).await;
    assert_eq!(present(&store, id).await, users(&[("alice", 1)]));
    let (_, members) = store.current_members(id, page_of(1, 10)).await.unwrap();
    assert_eq!(members[0].joined_ms, at(1), "the reconnect opened nothing");
    assert_eq!(
        room(&store, id).await.occupancy,
        Occupancy {
            present: 1,
            empty_since_ms: None
        }
    );

    // Bob arrives; then Alice with a second device: two sessions, still one user.
    step(vec![ev(3, J, "bob", Some(1))]).await;
    step(vec![ev(4, J, "alice", Some(1))]).await;
    assert_eq!(
        present(&store, id).await,
        users(&[("alice", 2), ("bob", 1)])
    );
    let (_, members) = store.current_members(id, page_of(1, 10)).await.unwrap();
    assert_eq!(
        (members[0].user_id.as_str(), members[0].joined_ms),
        ("alice", at(1)),
        "joined_ms: when the earliest of her open sessions began"
    );

    // A quit without a join changes nothing.
    step(vec![ev(5, Q, "carol", Some(5))]).await;
    step(vec![ev(6, Q, "carol", None)]).await;
    assert_eq!(
        present(&store, id).await,
        users(&[("alice", 2), ("bob", 1)])
    );

    // A quit with a device Alice is not in closes her earliest-opened session (device 5, the
    // first join): she stays, and her arrival is now that of device 1 — after Bob.
    step(vec![ev(7, Q, "alice", Some(3))]).await;
    assert_eq!(
        present(&store, id).await,
        users(&[("bob", 1), ("alice", 1)])
    );
    let (_, members) = store.current_members(id, page_of(1, 10)).await.unwrap();
    assert_eq!(
        (members[1].user_id.as_str(), members[1].joined_ms),
        ("alice", at(4)),
        "joined_ms is that of the earliest open session"
    );

    // A quit without a device closes all the user's sessions.
    step(vec![ev(8, J, "alice", Some(5)), ev(9, Q, "alice", None)]).await;
    assert_eq!(present(&store, id).await, users(&[("bob", 1)]));
    assert_eq!(room(&store, id).await.occupancy.empty_since_ms, None);

    // The last one out empties the room at the quit's time.
    step(vec![ev(10, Q, "bob", Some(1))]).await;
    assert_eq!(present(&store, id).await, vec![]);
    assert_eq!(
        room(&store, id).await.occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(at(10))
        }
    );
    // Quitting again, or with another device, changes nothing.
    step(vec![ev(11, Q, "bob", Some(1)), ev(12, Q, "bob", None)]).await;
    assert_eq!(
        room(&store, id).await.occupancy.empty_since_ms,
        Some(at(10))
    );

    // Role and Device are the latest a MemberJoin reported.
    let mut rejoin = ev(13, J, "bob", Some(4));
    rejoin.data.role = Some(1);
    let mut reconnect = ev(14, J, "bob", Some(4));
    reconnect.data.role = Some(3);
    step(vec![rejoin]).await;
    // A reconnect opens nothing but still reports the current role.
    step(vec![reconnect]).await;
    let (_, members) = store.current_members(id, page_of(1, 10)).await.unwrap();
    assert_eq!(
        members,
        vec![PresentMember {
            user_id: "bob".into(),
            role: Some(3),
            device: Some(4),
            joined_ms: at(13),
            devices: 1,
        }]
    );

    // Media events do not make anyone present.
    step(vec![event("mic", EventType::MicOn, at(15))]).await;
    assert_eq!(present(&store, id).await, users(&[("bob", 1)]));
}

/// Presence is the same whether events come one per call or all in one batch (stores may
/// apply a batch at once), and a batch may both fill and empty the room.
pub async fn case_presence_batches_match_single_events<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let single = plain_room(&store, &app, "single").await;
    let batched = plain_room(&store, &app, "batched").await;
    use EventType::{MemberJoin as J, MemberQuit as Q};
    let script: Vec<(EventType, &str, Option<u64>)> = vec![
        (J, "a", Some(1)),
        (J, "b", Some(2)),
        (J, "a", Some(2)),
        (Q, "c", None),
        (J, "a", Some(1)),
        (Q, "a", Some(7)),
        (J, "c", None),
        (Q, "b", Some(2)),
        (J, "d", Some(3)),
        (Q, "c", Some(0)),
        (J, "b", Some(5)),
        (Q, "a", None),
        (J, "e", Some(1)),
        (Q, "d", Some(9)),
    ];
    let events: Vec<NewEvent> = script
        .iter()
        .enumerate()
        .map(|(i, (t, user, device))| {
            presence_event(&format!("s{i}"), *t, user, *device, T0_MS + i as i64)
        })
        .collect();
    for event in &events {
        append(&store, single, vec![event.clone()]).await;
    }
    append(&store, batched, events.clone()).await;

    let listing = |room_id| {
        let store = &store;
        async move {
            store
                .current_members(room_id, page_of(1, 100))
                .await
                .unwrap()
        }
    };
    let expected = listing(single).await;
    assert_eq!(
        expected
            .1
            .iter()
            .map(|m| m.user_id.as_str())
            .collect::<Vec<_>>(),
        vec!["b", "e"],
        "the users still in, in order of arrival (b's open session is its rejoin, before e's)"
    );
    assert_eq!(
        listing(batched).await,
        expected,
        "one batch = one event per call"
    );
    assert_eq!(
        room(&store, batched).await.occupancy,
        room(&store, single).await.occupancy
    );

    // A batch that empties the room records when, from the event that did it.
    let out = vec![
        presence_event("o1", Q, "b", None, T0_MS + 100),
        presence_event("o2", J, "x", None, T0_MS + 101),
        presence_event("o3", Q, "e", Some(1), T0_MS + 102),
        presence_event("o4", Q, "x", None, T0_MS + 103),
        event("o5", EventType::CameraOn, T0_MS + 104),
    ];
    append(&store, batched, out).await;
    assert_eq!(
        room(&store, batched).await.occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(T0_MS + 103)
        }
    );
}

pub async fn case_current_members_pages<S: Store>(store: S) {
    let (_, id) = app_and_room(&store).await;
    // Arrival order deliberately differs from the order of the ids.
    let names: Vec<String> = (0..7).map(|i| format!("user-{}", 7 - i)).collect();
    let joins: Vec<NewEvent> = names
        .iter()
        .enumerate()
        .map(|(i, u)| presence_event(&format!("j{i}"), EventType::MemberJoin, u, Some(5), T0_MS))
        .collect();
    append(&store, id, joins).await;
    let page = |page: u64, limit: u64| {
        let store = &store;
        async move {
            let (total, members) = store
                .current_members(id, page_of(page, limit))
                .await
                .unwrap();
            (
                total,
                members.into_iter().map(|m| m.user_id).collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(page(1, 3).await, (7, names[0..3].to_vec()));
    assert_eq!(page(2, 3).await, (7, names[3..6].to_vec()));
    assert_eq!(page(3, 3).await, (7, names[6..7].to_vec()));
    assert_eq!(
        page(4, 3).await,
        (7, vec![]),
        "past the end: empty, with the total"
    );
    assert_eq!(page(1, 1000).await, (7, names.clone()));
    let missing = store.current_members(id + 1_000_000, page_of(1, 10)).await;
    assert!(
        matches!(missing, Ok((0, ref m)) if m.is_empty())
            || matches!(missing, Err(StoreError::RoomNotFound)),
        "a missing room has nobody in it: {missing:?}"
    );
}

/// RoomEnd closes the class for everyone: a MemberQuit (Reason 5, the user's Role, no Device,
/// reserved id, RoomEnd's time) per user still in, in order of arrival, then the RoomEnd;
/// presence empties.
pub async fn case_end_room_closes_presence<S: Store>(store: S) {
    let (app, id) = app_and_room(&store).await;
    use EventType::{MemberJoin as J, MemberQuit as Q};
    append(
        &store,
        id,
        vec![presence_event("j0", J, "zed", Some(5), T0_MS)],
    )
    .await;
    // Refused transitions record nothing, quits included.
    expect_wrong_status(
        store
            .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, T0_MS))
            .await,
        RoomStatus::NotStarted,
        "end before start",
    );
    assert_eq!(room(&store, id).await.last_seq, 1);
    start(&store, id, T0_MS + 1).await;
    // amy comes back on a second device as the teacher: her latest Role is 1.
    let mut amy_teaching = presence_event("j2", J, "amy", Some(4), T0_MS + 3);
    amy_teaching.data.role = Some(1);
    append(
        &store,
        id,
        vec![
            presence_event("j1", J, "amy", Some(1), T0_MS + 2),
            amy_teaching,
            presence_event("j3", J, "left", Some(1), T0_MS + 4),
            presence_event("q3", Q, "left", None, T0_MS + 5),
            presence_event("j4", J, "bea", None, T0_MS + 6),
        ],
    )
    .await;
    // zed arrived first, then amy (two devices), then bea; "left" is gone.
    let end_at = T0_MS + 60_000;
    let ended = store
        .end_room(id, NewEvent::lifecycle(EventType::RoomEnd, end_at))
        .await
        .unwrap();
    assert_eq!(
        ended.last_seq, 11,
        "three quits and the RoomEnd after seq 7"
    );
    assert_eq!(
        ended.occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(end_at)
        },
        "nobody is in after the end, since the end"
    );
    assert_eq!(
        room(&store, id).await,
        ended.value,
        "end_room returns the room as stored"
    );
    let tail = store.read_events(id, 8, 10).await.unwrap();
    let expected: Vec<StoredEvent> = [("zed", 0), ("amy", 1), ("bea", 0)]
        .iter()
        .zip(8..)
        .map(|((user, role), seq)| StoredEvent {
            room_id: id,
            seq,
            event_id: format!("roomlog:RoomEnd:{user}"),
            event_type: Q,
            timestamp_ms: end_at,
            data: EventData {
                user_id: Some((*user).to_owned()),
                role: Some(*role),
                reason: Some(5),
                ..EventData::default()
            },
        })
        .chain(std::iter::once(StoredEvent {
            room_id: id,
            seq: 11,
            event_id: "roomlog:RoomEnd".into(),
            event_type: EventType::RoomEnd,
            timestamp_ms: end_at,
            data: EventData::default(),
        }))
        .collect();
    assert_eq!(
        tail, expected,
        "a Reason 5 quit per user still in, in order of arrival, then RoomEnd"
    );
    assert_eq!(
        store.current_members(id, page_of(1, 10)).await.unwrap(),
        (0, vec![]),
        "presence is empty after the end"
    );
    // Really empty: a join admitted after the end (admission is the caller's rule, not the
    // store's) starts a new stay, not a reconnect of a session the end closed.
    append(
        &store,
        id,
        vec![presence_event("late", J, "amy", Some(1), end_at + 5)],
    )
    .await;
    let (total, members) = store.current_members(id, page_of(1, 10)).await.unwrap();
    assert_eq!(
        (total, members[0].devices, members[0].joined_ms),
        (1, 1, end_at + 5),
        "the end closed every session"
    );

    // A class nobody attended ends with just the RoomEnd.
    let empty = plain_room(&store, &app, "empty").await;
    start(&store, empty, T0_MS).await;
    let ended = store
        .end_room(empty, NewEvent::lifecycle(EventType::RoomEnd, end_at))
        .await
        .unwrap();
    assert_eq!(ended.last_seq, 2);
}
