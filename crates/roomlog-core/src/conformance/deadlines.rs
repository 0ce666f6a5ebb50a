//! Conformance cases: lifecycle deadlines.

use super::*;

/// The deadlines these cases expect follow `LifecyclePolicy::default()`: run the suite on a
/// store opened with the default policy.
pub(super) fn idle_end_ms() -> i64 {
    LifecyclePolicy::default().idle_end.as_millis() as i64
}

pub(super) fn secs_ms(secs: u64) -> i64 {
    secs as i64 * 1000
}

/// Whether `room_id` is among the rooms due at `at_ms`.
pub(super) async fn is_due<S: Store>(store: &S, room_id: RoomId, at_ms: i64) -> bool {
    store
        .due_rooms(at_ms, 10_000)
        .await
        .expect("due_rooms")
        .iter()
        .any(|r| r.room_id == room_id)
}

/// Asserts the room's stored deadline is exactly `expected`: not due a millisecond before it,
/// due at it (`None`: never due).
pub(super) async fn expect_deadline<S: Store>(
    store: &S,
    room_id: RoomId,
    expected: Option<i64>,
    what: &str,
) {
    match expected {
        Some(at) => {
            assert!(
                !is_due(store, room_id, at - 1).await,
                "{what}: room {room_id} must not be due before {at}"
            );
            assert!(
                is_due(store, room_id, at).await,
                "{what}: room {room_id} must be due at {at}"
            );
        }
        None => assert!(
            !is_due(store, room_id, i64::MAX).await,
            "{what}: room {room_id} must have no deadline"
        ),
    }
}

pub async fn case_deadlines_follow_the_schedule<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    assert_eq!(store.next_deadline().await.unwrap(), None, "no rooms yet");
    assert_eq!(store.due_rooms(i64::MAX, 10).await.unwrap(), vec![]);

    // Not started: expires at EndTime ...
    let plain = new_room(&store, &app, spec("plain", T0, T0 + 3600)).await;
    expect_deadline(&store, plain, Some(secs_ms(T0 + 3600)), "plain room").await;
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(secs_ms(T0 + 3600))
    );
    // ... unless it starts by itself at StartTime.
    let auto_spec = RoomSpec {
        enable_auto_start: Some(1),
        ..spec("auto", T0 + 100, T0 + 3700)
    };
    let auto = new_room(&store, &app, auto_spec.clone()).await;
    expect_deadline(&store, auto, Some(secs_ms(T0 + 100)), "auto-start room").await;
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(secs_ms(T0 + 100)),
        "the earliest deadline of all rooms"
    );
    let later = new_room(&store, &app, spec("later", T0, T0 + 7200)).await;

    // due_rooms: exactly the rooms due, earliest first, at most `limit`.
    assert_eq!(
        room_ids(&store.due_rooms(secs_ms(T0 + 100) - 1, 10).await.unwrap()),
        Vec::<RoomId>::new()
    );
    assert_eq!(
        room_ids(&store.due_rooms(secs_ms(T0 + 3600), 10).await.unwrap()),
        vec![auto, plain],
        "due at or before now, earliest deadline first"
    );
    assert_eq!(
        room_ids(&store.due_rooms(i64::MAX, 10).await.unwrap()),
        vec![auto, plain, later]
    );
    assert_eq!(
        room_ids(&store.due_rooms(i64::MAX, 2).await.unwrap()),
        vec![auto, plain],
        "at most `limit` rooms"
    );
    let due = store.due_rooms(secs_ms(T0 + 100), 10).await.unwrap();
    assert_eq!(
        due,
        vec![room(&store, auto).await],
        "due rooms come back complete"
    );

    // ModifyRoom moves the deadline with the schedule.
    store
        .modify_room(
            auto,
            RoomSpec {
                start_time: T0 + 5000,
                end_time: T0 + 6000,
                ..auto_spec
            },
        )
        .await
        .unwrap();
    expect_deadline(&store, auto, Some(secs_ms(T0 + 5000)), "modified auto room").await;
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(secs_ms(T0 + 3600))
    );
    store
        .modify_room(plain, spec("plain", T0, T0 + 1800))
        .await
        .unwrap();
    expect_deadline(
        &store,
        plain,
        Some(secs_ms(T0 + 1800)),
        "modified plain room",
    )
    .await;

    // Ended and expired rooms have no deadline.
    start(&store, later, T0_MS).await;
    end(&store, later, T0_MS + 1).await;
    expect_deadline(&store, later, None, "ended room").await;
    store.expire_room(plain).await.unwrap();
    expect_deadline(&store, plain, None, "expired room").await;
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(secs_ms(T0 + 5000)),
        "only the auto room is left"
    );
}

pub async fn case_deadlines_in_class_follow_end_delay_time<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let end_ms = secs_ms(T0 + 3600);
    let start_at = T0_MS + 5;
    let with_delay = |name: &str, delay: Option<i64>| RoomSpec {
        end_delay_time: delay,
        ..spec(name, T0, T0 + 3600)
    };

    // -1: no overtime, the class ends at EndTime, whoever is in.
    let none = new_room(&store, &app, with_delay("none", Some(-1))).await;
    start(&store, none, start_at).await;
    expect_deadline(&store, none, Some(end_ms), "EndDelayTime -1").await;
    append(&store, none, vec![join("n1")]).await;
    expect_deadline(&store, none, Some(end_ms), "EndDelayTime -1, occupied").await;

    // 30: thirty minutes of overtime.
    let thirty = new_room(&store, &app, with_delay("thirty", Some(30))).await;
    start(&store, thirty, start_at).await;
    expect_deadline(
        &store,
        thirty,
        Some(end_ms + 30 * 60_000),
        "EndDelayTime 30",
    )
    .await;

    // 0 (and absent): unlimited overtime. Empty since creation: ends the idle time after EndTime.
    let unlimited = new_room(&store, &app, with_delay("unlimited", Some(0))).await;
    let started = start(&store, unlimited, start_at).await;
    assert_eq!(
        started.occupancy,
        Occupancy {
            present: 0,
            empty_since_ms: Some(secs_ms(T0))
        },
        "a room is empty since its creation"
    );
    let idle = idle_end_ms();
    expect_deadline(
        &store,
        unlimited,
        Some(end_ms + idle),
        "EndDelayTime 0, empty",
    )
    .await;
    let default_delay = new_room(&store, &app, with_delay("default", None)).await;
    start(&store, default_delay, start_at).await;
    expect_deadline(
        &store,
        default_delay,
        Some(end_ms + idle),
        "no EndDelayTime is unlimited overtime",
    )
    .await;

    // Someone comes in: the class runs to the 72 h cap after its real start ...
    let cap = start_at + 72 * 3600 * 1000;
    append(
        &store,
        unlimited,
        vec![presence_event(
            "j",
            EventType::MemberJoin,
            "u",
            Some(5),
            T0_MS + 10,
        )],
    )
    .await;
    expect_deadline(&store, unlimited, Some(cap), "EndDelayTime 0, occupied").await;
    // ... and once they leave after EndTime, the idle time counts from their quit.
    let quit_at = end_ms + 50_000;
    append(
        &store,
        unlimited,
        vec![presence_event(
            "q",
            EventType::MemberQuit,
            "u",
            Some(5),
            quit_at,
        )],
    )
    .await;
    expect_deadline(
        &store,
        unlimited,
        Some(quit_at + idle),
        "EndDelayTime 0, emptied",
    )
    .await;
    // A media event changes nothing.
    append(
        &store,
        unlimited,
        vec![event("mic", EventType::MicOn, quit_at + 1)],
    )
    .await;
    expect_deadline(
        &store,
        unlimited,
        Some(quit_at + idle),
        "after a media event",
    )
    .await;

    // A kick that empties the room counts too.
    append(
        &store,
        unlimited,
        vec![presence_event(
            "j2",
            EventType::MemberJoin,
            "v",
            None,
            quit_at + 2,
        )],
    )
    .await;
    expect_deadline(&store, unlimited, Some(cap), "occupied again").await;
    let kick_at = quit_at + 90_000;
    assert!(
        store
            .kick_user(unlimited, "v", None, kick_quit("k", "v", 2, kick_at))
            .await
            .unwrap()
            .value
    );
    expect_deadline(&store, unlimited, Some(kick_at + idle), "emptied by a kick").await;

    // Every room in class is due by its deadline, earliest first: EndTime (-1), EndTime + idle
    // (empty since creation), the kick + idle, EndTime + 30 min.
    let due = room_ids(&store.due_rooms(cap, 10).await.unwrap());
    assert_eq!(
        due,
        vec![none, default_delay, unlimited, thirty],
        "in deadline order"
    );
}

pub async fn case_expire_room<S: Store>(store: S) {
    let (app, id) = app_and_room(&store).await;
    append(&store, id, vec![join("early")]).await;
    let expired = store
        .expire_room(id)
        .await
        .expect("expire a room not started")
        .value;
    assert_eq!(expired.status, RoomStatus::Expired);
    assert_eq!(
        (expired.real_start_ms, expired.real_end_ms),
        (None, None),
        "an expired class never took place"
    );
    assert_eq!(expired.last_seq, 1, "expiry records no event");
    assert_eq!(
        room(&store, id).await,
        expired,
        "expire_room returns the room as stored"
    );
    assert_eq!(seqs(&all_events(&store, id).await), vec![1]);
    expect_deadline(&store, id, None, "expired").await;
    assert_eq!(store.next_deadline().await.unwrap(), None);

    expect_wrong_status(
        store.expire_room(id).await,
        RoomStatus::Expired,
        "expire twice",
    );
    expect_wrong_status(
        store
            .start_room(id, NewEvent::lifecycle(EventType::RoomStart, T0_MS))
            .await,
        RoomStatus::Expired,
        "start after expiry",
    );
    let live = plain_room(&store, &app, "live").await;
    start(&store, live, T0_MS).await;
    expect_wrong_status(
        store.expire_room(live).await,
        RoomStatus::InClass,
        "expire in class",
    );
    end(&store, live, T0_MS + 1).await;
    expect_wrong_status(
        store.expire_room(live).await,
        RoomStatus::Ended,
        "expire after end",
    );
    expect_room_not_found(
        store.expire_room(live + 1_000_000).await,
        "expire a missing room",
    );
    assert!(
        !store
            .rooms_awaiting_attendance(10)
            .await
            .unwrap()
            .contains(&id),
        "an expired room has no attendance to compute"
    );
}

/// Every write says what it changed, as the rules decide it: events recorded (in which room),
/// the room's deadline moved, the class ended. Nothing for a write that changed neither.
pub async fn case_writes_say_what_they_changed<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let changes = |events_in: Option<RoomId>, deadlines: bool, class_ended: bool| Changes {
        events_in,
        deadlines,
        class_ended,
        ..Changes::NONE
    };
    let created = store
        .create_rooms(&app, vec![spec("r", T0, T0 + 3600)], T0 as i64)
        .await
        .unwrap();
    assert_eq!(
        created.changes,
        changes(None, true, false),
        "a new room has a deadline"
    );
    let id = created.value[0];

    // ModifyRoom: the deadline moves with the schedule, not with the name.
    let renamed = store.modify_room(id, spec("renamed", T0, T0 + 3600)).await;
    assert_eq!(renamed.unwrap().changes, Changes::NONE, "same schedule");
    let longer = store.modify_room(id, spec("longer", T0, T0 + 7200)).await;
    assert_eq!(
        longer.unwrap().changes,
        changes(None, true, false),
        "EndTime moved"
    );

    let start = NewEvent::lifecycle(EventType::RoomStart, T0_MS);
    let started = store.start_room(id, start).await.unwrap();
    assert_eq!(started.changes, changes(Some(id), true, false), "start");

    // Unlimited overtime (the default): an empty room ends after the idle time, an occupied one
    // at the cap, so only the first join and the last quit move the deadline.
    let member = |n: &str, event_type: EventType, user: &str| {
        presence_event(n, event_type, user, Some(1), T0_MS)
    };
    let appended = |events| store.append_events(id, events, accept());
    let (arrive, leave) = (EventType::MemberJoin, EventType::MemberQuit);
    for (reported, moves_deadline, what) in [
        (member("j1", arrive, "a"), true, "the first join"),
        (member("j2", arrive, "b"), false, "a second join"),
        (
            member("q1", leave, "a"),
            false,
            "a quit that leaves someone in does not move the deadline",
        ),
        (event("m1", EventType::MicOn, T0_MS), false, "a media event"),
        (
            member("q2", leave, "b"),
            true,
            "the quit that empties the room moves the deadline to the idle end",
        ),
    ] {
        let written = appended(vec![reported]).await.unwrap();
        let expected = changes(Some(id), moves_deadline, false);
        assert_eq!(written.changes, expected, "{what}");
    }
    let again = appended(vec![member("q2", EventType::MemberQuit, "b")]).await;
    let again = again.unwrap();
    assert_eq!(again.value.duplicates, 1);
    assert_eq!(again.changes, Changes::NONE, "a report of duplicates only");

    let absent = kick_quit("k", "nobody", 1, T0_MS);
    let kicked = store.kick_user(id, "nobody", None, absent).await.unwrap();
    assert_eq!(
        (kicked.value, kicked.changes),
        (false, Changes::NONE),
        "a kick of nobody in"
    );

    let end = NewEvent::lifecycle(EventType::RoomEnd, T0_MS + 1);
    let ended = store.end_room(id, end).await.unwrap();
    assert_eq!(ended.changes, changes(Some(id), true, true), "end");

    let never = plain_room(&store, &app, "never").await;
    let expired = store.expire_room(never).await.unwrap();
    assert_eq!(
        expired.changes,
        changes(None, true, false),
        "expiry records nothing"
    );
}
