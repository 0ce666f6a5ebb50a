//! Conformance cases: callbacks (outbox).

use super::*;

//
// These cases assume only the trait's contract: a new delivery is due when its event is
// recorded (so by `later()` at the latest); due times after that come from `record_attempt`'s
// retry times and `replay_deliveries`' now, which the cases choose.

const HOUR_MS: i64 = 3_600_000;
const HOOK: &str = "https://hooks.example.com/lcic";

/// A time by which every delivery recorded so far is due.
pub(super) fn later() -> i64 {
    crate::time::now_ms() + HOUR_MS
}

pub(super) async fn with_callback<S: Store>(store: &S, app: &App) {
    store
        .set_app_callback(app.sdk_app_id, Some(HOOK), Some("key"))
        .await
        .expect("set_app_callback");
}

/// Every delivery `list_deliveries` shows for the filters (checking its total).
pub(super) async fn deliveries<S: Store>(
    store: &S,
    app: &App,
    room_id: Option<RoomId>,
    status: Option<DeliveryStatus>,
) -> Vec<Delivery> {
    let (total, page) = store
        .list_deliveries(app.sdk_app_id, room_id, status, page_of(1, 10_000))
        .await
        .expect("list_deliveries");
    assert_eq!(
        total,
        page.len() as u64,
        "list_deliveries' total counts what matches"
    );
    page
}

/// `(room, seq)` of each delivery, in order.
pub(super) fn keys(deliveries: &[Delivery]) -> Vec<(RoomId, u64)> {
    deliveries
        .iter()
        .map(|d| (d.room_id, d.event.seq))
        .collect()
}

/// Claims and returns `(room, seq)` of what was handed out, checking each is pending.
pub async fn claim<S: Store>(
    store: &S,
    now_ms: i64,
    lease_until_ms: i64,
    limit: u64,
) -> Vec<(RoomId, u64)> {
    let claimed = store
        .claim_due_deliveries(now_ms, lease_until_ms, limit)
        .await
        .expect("claim_due_deliveries");
    assert!(
        claimed.iter().all(|d| d.status == DeliveryStatus::Pending),
        "claimed deliveries are pending: {claimed:?}"
    );
    keys(&claimed)
}

/// A delivery answered HTTP 200 at `at_ms`.
pub fn delivered(at_ms: i64) -> AttemptOutcome {
    AttemptOutcome::delivered(at_ms, 200)
}

pub(super) fn failed(
    at_ms: i64,
    http_status: Option<u16>,
    retry_at_ms: Option<i64>,
) -> AttemptOutcome {
    let error = match http_status {
        Some(status) => format!("the receiver answered HTTP {status}"),
        None => "timed out".into(),
    };
    AttemptOutcome::failed(at_ms, http_status, error, retry_at_ms)
}

pub(super) async fn record<S: Store>(store: &S, key: (RoomId, u64), outcome: AttemptOutcome) {
    store
        .record_attempt(key.0, key.1, &outcome)
        .await
        .expect("record_attempt");
}

/// Media events (no presence effects) with ids `<tag>0`, `<tag>1`, ...
pub fn mics(tag: &str, n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| event(&format!("{tag}{i}"), EventType::MicOn, T0_MS + i as i64))
        .collect()
}

pub async fn case_callback_settings<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let (_, other) = account_and_app(&store, "b").await;
    let unknown = app.sdk_app_id.max(other.sdk_app_id) + 1000;
    assert_eq!(
        store.app_callback(app.sdk_app_id).await.unwrap(),
        AppCallback::default(),
        "a new app has no callback"
    );
    for id in [unknown, u64::MAX] {
        assert!(
            matches!(store.app_callback(id).await, Err(StoreError::AppNotFound)),
            "app_callback of an unknown app is AppNotFound"
        );
        assert!(
            matches!(
                store.set_app_callback(id, Some(HOOK), None).await,
                Err(StoreError::AppNotFound)
            ),
            "set_app_callback of an unknown app is AppNotFound"
        );
    }

    let both = AppCallback {
        url: HOOK.into(),
        key: "k1".into(),
    };
    assert_eq!(
        store
            .set_app_callback(app.sdk_app_id, Some(HOOK), Some("k1"))
            .await
            .unwrap(),
        both,
        "set_app_callback returns the new configuration"
    );
    assert_eq!(store.app_callback(app.sdk_app_id).await.unwrap(), both);
    let rekeyed = store
        .set_app_callback(app.sdk_app_id, None, Some("k2"))
        .await
        .unwrap();
    assert_eq!(
        rekeyed,
        AppCallback {
            url: HOOK.into(),
            key: "k2".into()
        },
        "None keeps the URL"
    );
    let cleared = store
        .set_app_callback(app.sdk_app_id, Some(""), None)
        .await
        .unwrap();
    assert_eq!(
        cleared,
        AppCallback {
            url: String::new(),
            key: "k2".into()
        },
        "Some(\"\") clears the URL, None keeps the key"
    );
    assert_eq!(store.app_callback(app.sdk_app_id).await.unwrap(), cleared);
    assert_eq!(
        store.app_callback(other.sdk_app_id).await.unwrap(),
        AppCallback::default(),
        "other apps are untouched"
    );
}

pub async fn case_no_deliveries_without_a_callback<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    // A key alone is no callback.
    store
        .set_app_callback(app.sdk_app_id, None, Some("key"))
        .await
        .unwrap();
    let id = plain_room(&store, &app, "r").await;
    start(&store, id, T0_MS).await;
    append(
        &store,
        id,
        vec![
            presence_event("j1", EventType::MemberJoin, "ann", Some(5), T0_MS + 1),
            presence_event("j2", EventType::MemberJoin, "ben", Some(5), T0_MS + 2),
            event("m1", EventType::MicOn, T0_MS + 3),
        ],
    )
    .await;
    assert!(
        store
            .kick_user(id, "ann", None, kick_quit("k", "ann", 1, T0_MS + 4))
            .await
            .unwrap()
            .value
    );
    end(&store, id, T0_MS + 5).await;
    assert_eq!(
        room(&store, id).await.last_seq,
        7,
        "the events are recorded"
    );
    assert_eq!(
        deliveries(&store, &app, None, None).await,
        vec![],
        "no callback URL, no deliveries"
    );
    assert_eq!(claim(&store, later(), later() + 1, 100).await, vec![]);
    assert_eq!(store.next_delivery_due().await.unwrap(), None);
}

pub async fn case_every_event_path_queues_a_delivery<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    // Events recorded before the app has a callback are owed none.
    let early = plain_room(&store, &app, "early").await;
    append(&store, early, mics("before", 2)).await;
    with_callback(&store, &app).await;
    append(&store, early, mics("after", 1)).await;
    assert_eq!(
        keys(&deliveries(&store, &app, Some(early), None).await),
        vec![(early, 3)],
        "only the event recorded once the callback was set"
    );

    let before_ms = crate::time::now_ms();
    let id = plain_room(&store, &app, "r").await;
    use EventType::{MemberJoin as J, MemberQuit as Q};
    start(&store, id, T0_MS).await;
    let batch = vec![
        presence_event("j1", J, "ann", Some(5), T0_MS + 1),
        presence_event("j2", J, "ben", Some(5), T0_MS + 2),
        event("m1", EventType::MicOn, T0_MS + 3),
    ];
    append(&store, id, batch.clone()).await;
    // Neither a retried batch nor a refused one queues anything.
    assert_eq!(append(&store, id, batch).await.accepted, 0);
    let _ = store
        .append_events(
            id,
            vec![event("m2", EventType::MicOn, T0_MS)],
            reject(DomainError::failed("no")),
        )
        .await;
    // A kick records a quit (and queues it) only for a user who is in.
    assert!(
        store
            .kick_user(id, "ann", None, kick_quit("1", "ann", 1, T0_MS + 4))
            .await
            .unwrap()
            .value
    );
    assert!(
        !store
            .kick_user(id, "nobody", None, kick_quit("2", "nobody", 1, T0_MS + 5))
            .await
            .unwrap()
            .value
    );
    append(
        &store,
        id,
        vec![presence_event("j3", J, "cat", None, T0_MS + 6)],
    )
    .await;
    // The end records a Reason-5 quit for ben and cat, then RoomEnd.
    end(&store, id, T0_MS + 7).await;
    let after_ms = crate::time::now_ms();

    let events = all_events(&store, id).await;
    assert_eq!(events.len(), 9);
    assert_eq!(
        events[6..8]
            .iter()
            .map(|e| (e.event_type, e.data.reason))
            .collect::<Vec<_>>(),
        vec![(Q, Some(5)), (Q, Some(5))]
    );
    let queued = deliveries(&store, &app, Some(id), None).await;
    assert_eq!(
        queued.iter().map(|d| d.event.clone()).collect::<Vec<_>>(),
        events,
        "one delivery per recorded event (start, append, kick, the end's quits, end), \
         carrying the event as recorded"
    );
    for d in &queued {
        assert_eq!((d.sdk_app_id, d.room_id), (app.sdk_app_id, id));
        assert_eq!(d.status, DeliveryStatus::Pending, "{d:?}");
        assert_eq!(
            (
                d.attempts,
                d.first_attempt_ms,
                d.last_attempt_ms,
                d.last_status,
                d.last_error.as_deref()
            ),
            (0, None, None, None, None),
            "not attempted yet: {d:?}"
        );
        assert!(
            d.next_attempt_ms.is_some(),
            "a pending delivery is due: {d:?}"
        );
        assert!(
            (before_ms..=after_ms).contains(&d.created_ms),
            "created_ms is the wall clock when the event was recorded: {d:?}"
        );
    }
}

pub async fn case_claim_hands_out_heads_in_due_order_with_leases<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let a = plain_room(&store, &app, "a").await;
    let b = plain_room(&store, &app, "b").await;
    let c = plain_room(&store, &app, "c").await;
    for id in [a, b, c] {
        append(&store, id, mics("m", 2)).await;
    }
    let now = later();
    let lease = now + 10_000;
    let mut first = claim(&store, now, lease, 100).await;
    first.sort_unstable();
    assert_eq!(
        first,
        vec![(a, 1), (b, 1), (c, 1)],
        "only each room's head of line (its lowest seq) is handed out"
    );
    assert_eq!(
        claim(&store, now + 1, now + 20_000, 100).await,
        vec![],
        "a leased head is not handed out again before its lease ends"
    );
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        Some(lease),
        "the next due time counts leases"
    );
    // The worker holding them died: once the lease ran out they are handed out again.
    let mut again = claim(&store, lease, lease + 10_000, 100).await;
    again.sort_unstable();
    assert_eq!(
        again, first,
        "an expired lease makes the head available again"
    );

    // Retries set the due times; claims follow them, earliest first.
    let r = lease + 20_000;
    record(&store, (a, 1), failed(r, Some(500), Some(r + 300))).await;
    record(&store, (b, 1), failed(r, Some(500), Some(r + 100))).await;
    record(&store, (c, 1), failed(r, None, Some(r + 200))).await;
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(r + 100));
    assert_eq!(
        claim(&store, r + 99, r + 10_000, 100).await,
        vec![],
        "nothing is due before its retry time"
    );
    assert_eq!(
        claim(&store, r + 150, r + 10_000, 100).await,
        vec![(b, 1)],
        "only what is due"
    );
    assert_eq!(
        claim(&store, r + 1000, r + 10_000, 0).await,
        vec![],
        "limit 0"
    );
    assert_eq!(
        claim(&store, r + 1000, r + 10_000, 1).await,
        vec![(c, 1)],
        "earliest due first, up to the limit"
    );
    assert_eq!(claim(&store, r + 1000, r + 10_000, 100).await, vec![(a, 1)]);
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(r + 10_000));
}

pub async fn case_record_attempt_moves_the_head<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, mics("m", 3)).await;
    let by_seq = |all: Vec<Delivery>, seq: u64| {
        all.into_iter()
            .find(|d| d.event.seq == seq)
            .unwrap_or_else(|| panic!("delivery of seq {seq}"))
    };
    let l = later();

    assert_eq!(claim(&store, l, l + 10_000, 10).await, vec![(id, 1)]);
    record(&store, (id, 1), delivered(l + 1)).await;
    let one = by_seq(deliveries(&store, &app, Some(id), None).await, 1);
    assert_eq!(
        (
            one.status,
            one.attempts,
            one.first_attempt_ms,
            one.last_attempt_ms,
            one.last_status,
            one.last_error,
            one.next_attempt_ms
        ),
        (
            DeliveryStatus::Delivered,
            1,
            Some(l + 1),
            Some(l + 1),
            Some(200),
            None,
            None
        ),
        "a delivered attempt"
    );
    assert_eq!(
        claim(&store, l + 2, l + 10_002, 10).await,
        vec![(id, 2)],
        "success releases the room: its next delivery is due at once"
    );

    record(&store, (id, 2), failed(l + 3, Some(500), Some(l + 5_000))).await;
    let two = by_seq(deliveries(&store, &app, Some(id), None).await, 2);
    assert_eq!(
        (
            two.status,
            two.attempts,
            two.first_attempt_ms,
            two.last_status,
            two.next_attempt_ms
        ),
        (
            DeliveryStatus::Pending,
            1,
            Some(l + 3),
            Some(500),
            Some(l + 5_000)
        ),
        "a failed attempt with a retry stays pending"
    );
    assert!(two.last_error.is_some(), "the failure is noted: {two:?}");
    assert_eq!(
        claim(&store, l + 4_000, l + 14_000, 10).await,
        vec![],
        "the room's next delivery waits behind the one being retried (per-room order)"
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(l + 5_000));
    assert_eq!(
        claim(&store, l + 5_000, l + 15_000, 10).await,
        vec![(id, 2)]
    );

    record(&store, (id, 2), failed(l + 5_001, None, None)).await;
    let dead = by_seq(deliveries(&store, &app, Some(id), None).await, 2);
    assert_eq!(
        (
            dead.status,
            dead.attempts,
            dead.first_attempt_ms,
            dead.last_attempt_ms,
            dead.last_status,
            dead.next_attempt_ms
        ),
        (
            DeliveryStatus::Dead,
            2,
            Some(l + 3),
            Some(l + 5_001),
            None,
            None
        ),
        "a failure without a retry is a dead letter; the first attempt is kept"
    );
    assert_eq!(
        claim(&store, l + 5_002, l + 15_002, 10).await,
        vec![(id, 3)],
        "a dead letter releases the room too"
    );
    record(&store, (id, 3), delivered(l + 5_003)).await;
    assert_eq!(claim(&store, l + 5_004, l + 15_004, 10).await, vec![]);
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        None,
        "nothing pending"
    );
    let seqs_of = |all: Vec<Delivery>| all.iter().map(|d| d.event.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs_of(deliveries(&store, &app, None, Some(DeliveryStatus::Delivered)).await),
        vec![1, 3]
    );
    assert_eq!(
        seqs_of(deliveries(&store, &app, None, Some(DeliveryStatus::Dead)).await),
        vec![2]
    );
    assert_eq!(
        seqs_of(deliveries(&store, &app, None, Some(DeliveryStatus::Pending)).await),
        Vec::<u64>::new()
    );
}

pub async fn case_list_deliveries_pages_and_filters<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let (_, other) = account_and_app(&store, "b").await;
    with_callback(&store, &app).await;
    with_callback(&store, &other).await;
    let r1 = plain_room(&store, &app, "r1").await;
    let r2 = plain_room(&store, &app, "r2").await;
    let r3 = plain_room(&store, &other, "r3").await;
    append(&store, r1, mics("x", 3)).await;
    append(&store, r2, mics("y", 2)).await;
    append(&store, r3, mics("z", 2)).await;
    let l = later();
    let mut heads = claim(&store, l, l + 10_000, 10).await;
    heads.sort_unstable();
    assert_eq!(heads, vec![(r1, 1), (r2, 1), (r3, 1)]);
    record(&store, (r1, 1), delivered(l)).await;
    record(&store, (r2, 1), failed(l, Some(404), None)).await;

    let all = vec![(r1, 1), (r1, 2), (r1, 3), (r2, 1), (r2, 2)];
    assert_eq!(
        keys(&deliveries(&store, &app, None, None).await),
        all,
        "an app's deliveries, by room then seq; not another app's"
    );
    let page = |room, status, page, limit| {
        let (store, app) = (&store, &app);
        async move {
            let (total, page) = store
                .list_deliveries(app.sdk_app_id, room, status, page_of(page, limit))
                .await
                .expect("list_deliveries");
            (total, keys(&page))
        }
    };
    assert_eq!(page(None, None, 1, 2).await, (5, all[0..2].to_vec()));
    assert_eq!(page(None, None, 2, 2).await, (5, all[2..4].to_vec()));
    assert_eq!(
        page(None, None, 3, 2).await,
        (5, all[4..5].to_vec()),
        "the last page is short"
    );
    assert_eq!(
        page(None, None, 4, 2).await,
        (5, vec![]),
        "past the end: no deliveries, still the total"
    );
    assert_eq!(
        keys(&deliveries(&store, &app, Some(r2), None).await),
        vec![(r2, 1), (r2, 2)],
        "one room's"
    );
    assert_eq!(
        keys(&deliveries(&store, &app, None, Some(DeliveryStatus::Pending)).await),
        vec![(r1, 2), (r1, 3), (r2, 2)],
        "one status"
    );
    assert_eq!(
        keys(&deliveries(&store, &app, None, Some(DeliveryStatus::Dead)).await),
        vec![(r2, 1)]
    );
    assert_eq!(
        keys(&deliveries(&store, &app, None, Some(DeliveryStatus::Delivered)).await),
        vec![(r1, 1)]
    );
    assert_eq!(
        keys(&deliveries(&store, &app, Some(r1), Some(DeliveryStatus::Pending)).await),
        vec![(r1, 2), (r1, 3)],
        "one room's of one status"
    );
    assert_eq!(
        page(Some(r1), Some(DeliveryStatus::Pending), 2, 1).await,
        (2, vec![(r1, 3)])
    );
    assert_eq!(
        deliveries(&store, &app, Some(r3), None).await,
        vec![],
        "another app's room is not the app's"
    );
    assert_eq!(
        keys(&deliveries(&store, &other, None, None).await),
        vec![(r3, 1), (r3, 2)]
    );
    let unknown = app.sdk_app_id.max(other.sdk_app_id) + 1000;
    for id in [unknown, u64::MAX] {
        assert_eq!(
            store
                .list_deliveries(id, None, None, page_of(1, 10))
                .await
                .unwrap(),
            (0, vec![]),
            "an unknown app has none"
        );
    }
}

pub async fn case_replay_deliveries<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, mics("e", 4)).await;
    let l = later();
    let far = l + 100 * HOUR_MS;
    // seq 1 delivered, 2 dead, 3 delivered, 4 failing with a retry far away.
    assert_eq!(claim(&store, l, l + 1, 10).await, vec![(id, 1)]);
    record(&store, (id, 1), delivered(l)).await;
    assert_eq!(claim(&store, l, l + 1, 10).await, vec![(id, 2)]);
    record(&store, (id, 2), failed(l, Some(500), None)).await;
    assert_eq!(claim(&store, l, l + 1, 10).await, vec![(id, 3)]);
    record(&store, (id, 3), delivered(l)).await;
    assert_eq!(claim(&store, l, l + 1, 10).await, vec![(id, 4)]);
    record(&store, (id, 4), failed(l, Some(503), Some(far))).await;
    let n = l + 10;
    assert_eq!(claim(&store, n, n + 1, 10).await, vec![]);

    // From a seq: the head moves back to the lowest replayed delivery, due now.
    assert_eq!(
        store.replay_deliveries(id, Some(2), None, n).await.unwrap(),
        3,
        "seqs 2, 3 and 4, whatever their status"
    );
    let pending = deliveries(&store, &app, Some(id), Some(DeliveryStatus::Pending)).await;
    assert_eq!(keys(&pending), vec![(id, 2), (id, 3), (id, 4)]);
    assert!(
        pending.iter().all(|d| d.next_attempt_ms == Some(n)),
        "replayed deliveries are due at the replay's now: {pending:?}"
    );
    assert_eq!(
        pending.iter().map(|d| d.attempts).collect::<Vec<_>>(),
        vec![1, 1, 1],
        "attempt counts go on"
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(n));
    for seq in [2, 3, 4] {
        assert_eq!(
            claim(&store, n, n + 1_000, 10).await,
            vec![(id, seq)],
            "replayed deliveries go again in order"
        );
        record(&store, (id, seq), delivered(n)).await;
    }
    let two = deliveries(&store, &app, Some(id), None).await[1].clone();
    assert_eq!(
        (two.status, two.attempts),
        (DeliveryStatus::Delivered, 2),
        "the dead letter, replayed, delivered on its second attempt"
    );

    // By event ids (unknown ids are ignored), optionally from a seq.
    assert_eq!(
        store
            .replay_deliveries(id, None, Some(vec!["e0".into(), "nope".into()]), n)
            .await
            .unwrap(),
        1
    );
    assert_eq!(claim(&store, n, n + 1_000, 10).await, vec![(id, 1)]);
    record(&store, (id, 1), delivered(n)).await;
    assert_eq!(
        store
            .replay_deliveries(id, Some(2), Some(vec!["e0".into()]), n)
            .await
            .unwrap(),
        0,
        "both filters apply"
    );
    assert_eq!(
        store
            .replay_deliveries(id, Some(3), Some(vec!["e1".into(), "e3".into()]), n)
            .await
            .unwrap(),
        1
    );
    assert_eq!(claim(&store, n, n + 1_000, 10).await, vec![(id, 4)]);
    record(&store, (id, 4), delivered(n)).await;
    assert_eq!(
        store
            .replay_deliveries(id, Some(100), None, n)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .replay_deliveries(id, None, Some(vec![]), n)
            .await
            .unwrap(),
        0,
        "an empty id list matches nothing"
    );
    assert_eq!(claim(&store, n, n + 1_000, 10).await, vec![]);
    assert_eq!(store.next_delivery_due().await.unwrap(), None);

    // A replay while one of the room's deliveries is in flight moves the head back, but the
    // room still has that delivery in flight until its lease ends.
    assert_eq!(
        store
            .replay_deliveries(id, None, Some(vec!["e2".into()]), n)
            .await
            .unwrap(),
        1
    );
    assert_eq!(claim(&store, n, n + 1_000, 10).await, vec![(id, 3)]);
    assert_eq!(store.replay_deliveries(id, None, None, n).await.unwrap(), 4);
    assert_eq!(
        claim(&store, n + 1, n + 2_000, 10).await,
        vec![],
        "never two deliveries of a room in flight"
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(n + 1_000));
    assert_eq!(
        claim(&store, n + 1_000, n + 2_000, 10).await,
        vec![(id, 1)],
        "then the lowest replayed delivery goes first"
    );
}

/// The race a replay opens: a worker holds seq 5 when a replay moves the head back to 2, and an
/// attempt of 2 arrives from a worker whose lease on 2 ran out long before. Only the attempt of
/// the leased seq settles the head: the stale one frees nothing while 5 is in flight; 5's own
/// attempt then settles 5 as it went and ends the lease; the lowest replayed delivery goes next.
pub async fn case_a_stale_attempt_after_a_replay_frees_nothing<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, mics("e", 5)).await;
    let l = later();
    assert_eq!(claim(&store, l, l + 1_000, 10).await, vec![(id, 1)]);
    record(&store, (id, 1), delivered(l)).await;
    // The stalled worker's lease on 2 runs out; another takes 2 over and delivers it.
    assert_eq!(claim(&store, l, l + 1_000, 10).await, vec![(id, 2)]);
    assert_eq!(claim(&store, l + 1_000, l + 2_000, 10).await, vec![(id, 2)]);
    record(&store, (id, 2), delivered(l + 1_001)).await;
    for seq in [3, 4] {
        assert_eq!(
            claim(&store, l + 1_001, l + 2_001, 10).await,
            vec![(id, seq)]
        );
        record(&store, (id, seq), delivered(l + 1_001)).await;
    }
    let w = l + 2_000;
    assert_eq!(claim(&store, w, w + 10_000, 10).await, vec![(id, 5)]);

    assert_eq!(
        store
            .replay_deliveries(id, Some(2), None, w + 1)
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        claim(&store, w + 1, w + 20_000, 10).await,
        vec![],
        "the replay keeps the lease on 5"
    );
    // The stalled worker's attempt of 2, long after its lease ran out.
    record(&store, (id, 2), delivered(w + 2)).await;
    assert_eq!(
        claim(&store, w + 3, w + 20_000, 10).await,
        vec![],
        "a stale attempt of the head's seq frees nothing while 5 is in flight"
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(w + 10_000));
    let all = deliveries(&store, &app, Some(id), None).await;
    assert_eq!(
        (all[1].status, all[1].attempts, all[1].last_attempt_ms),
        (DeliveryStatus::Pending, 2, Some(w + 2)),
        "the stale attempt is counted and noted, and settles nothing"
    );

    // 5's attempt settles 5, as it went, and ends the lease.
    record(&store, (id, 5), failed(w + 4, Some(503), Some(w + 50_000))).await;
    let five = deliveries(&store, &app, Some(id), None).await[4].clone();
    assert_eq!(
        (five.status, five.attempts, five.next_attempt_ms),
        (DeliveryStatus::Pending, 1, Some(w + 50_000))
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(w + 1));
    for seq in [2, 3, 4] {
        assert_eq!(
            claim(&store, w + 5, w + 20_000, 10).await,
            vec![(id, seq)],
            "the lowest replayed delivery goes next, then the others in order"
        );
        record(&store, (id, seq), delivered(w + 5)).await;
    }
    assert_eq!(
        claim(&store, w + 6, w + 20_000, 10).await,
        vec![],
        "5 waits for its retry"
    );
    assert_eq!(
        claim(&store, w + 50_000, w + 60_000, 10).await,
        vec![(id, 5)]
    );
    record(&store, (id, 5), delivered(w + 50_001)).await;
    assert_eq!(store.next_delivery_due().await.unwrap(), None);

    // The leased attempt delivered: the replayed delivery it was for is not sent again.
    append(&store, id, mics("f", 1)).await;
    let v = later() + 100_000;
    assert_eq!(claim(&store, v, v + 10_000, 10).await, vec![(id, 6)]);
    assert_eq!(
        store
            .replay_deliveries(id, Some(5), None, v + 1)
            .await
            .unwrap(),
        2
    );
    record(&store, (id, 6), delivered(v + 2)).await;
    assert_eq!(
        claim(&store, v + 3, v + 20_000, 10).await,
        vec![(id, 5)],
        "the head stays the lowest pending"
    );
    record(&store, (id, 5), delivered(v + 3)).await;
    assert_eq!(claim(&store, v + 4, v + 20_000, 10).await, vec![]);
    let statuses: Vec<_> = deliveries(&store, &app, Some(id), None)
        .await
        .iter()
        .map(|d| d.status)
        .collect();
    assert_eq!(statuses, vec![DeliveryStatus::Delivered; 6]);
}

/// Deliveries carry a copy of their event: the retention purge leaves them (and their events)
/// intact; deleting the room deletes them.
pub async fn case_deliveries_outlive_the_event_purge_not_their_room<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let id = plain_room(&store, &app, "r").await;
    let kept = plain_room(&store, &app, "kept").await;
    start(&store, id, 1_000).await;
    append(&store, id, mics("m", 2)).await;
    end(&store, id, 5_000).await;
    append(&store, kept, mics("k", 1)).await;
    let events = all_events(&store, id).await;
    store
        .save_attendance(id, &attendance_with(0, "x"))
        .await
        .unwrap();
    assert_eq!(store.purge_events(i64::MAX).await.unwrap().events, 4);
    assert_eq!(store.read_events(id, 1, 100).await.unwrap(), vec![]);
    let queued = deliveries(&store, &app, Some(id), None).await;
    assert_eq!(
        queued.iter().map(|d| d.event.clone()).collect::<Vec<_>>(),
        events,
        "the deliveries keep their events after the purge"
    );
    let l = later();
    let claimed = store.claim_due_deliveries(l, l + 1_000, 10).await.unwrap();
    let head = claimed
        .iter()
        .find(|d| d.room_id == id)
        .expect("a purged room's deliveries are still handed out");
    assert_eq!(head.event, events[0]);

    store.delete_room(id).await.unwrap();
    assert_eq!(
        deliveries(&store, &app, Some(id), None).await,
        vec![],
        "deleting a room deletes its deliveries"
    );
    assert_eq!(
        keys(&deliveries(&store, &app, None, None).await),
        vec![(kept, 1)],
        "other rooms keep theirs"
    );
    // Both heads were leased until l + 1_000; after that only `kept`'s comes back.
    assert_eq!(
        claim(&store, l + 2_000, l + 5_000, 10).await,
        vec![(kept, 1)],
        "nothing of the deleted room is handed out"
    );
    // An attempt that was in flight when its room was deleted is accepted and changes nothing.
    store
        .record_attempt(id, 1, &delivered(l + 2_001))
        .await
        .expect("recording an attempt of a deleted room's delivery");
    assert_eq!(deliveries(&store, &app, Some(id), None).await, vec![]);
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        Some(l + 5_000),
        "only `kept`'s lease remains"
    );
}

pub async fn case_purge_deliveries_forgets_old_finished_ones<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    with_callback(&store, &app).await;
    let id = plain_room(&store, &app, "r").await;
    append(&store, id, mics("m", 4)).await;
    let l = later();
    // Attempt times are what the purge compares: seq 1 at 1_000, 2 (dead) at 2_000, 3 at 3_000,
    // 4 failing (pending) at 500.
    for (seq, outcome) in [
        (1, delivered(1_000)),
        (2, failed(2_000, Some(500), None)),
        (3, delivered(3_000)),
        (4, failed(500, Some(500), Some(far_retry()))),
    ] {
        assert_eq!(claim(&store, l, l + 1, 10).await, vec![(id, seq)]);
        record(&store, (id, seq), outcome).await;
    }
    assert_eq!(
        store.purge_deliveries(1_000).await.unwrap(),
        0,
        "strictly before"
    );
    assert_eq!(store.purge_deliveries(2_000).await.unwrap(), 1);
    assert_eq!(
        keys(&deliveries(&store, &app, None, None).await),
        vec![(id, 2), (id, 3), (id, 4)]
    );
    assert_eq!(
        store.purge_deliveries(i64::MAX).await.unwrap(),
        2,
        "delivered and dead ones"
    );
    assert_eq!(
        keys(&deliveries(&store, &app, None, None).await),
        vec![(id, 4)],
        "a pending delivery is never forgotten, however old its last attempt"
    );
    assert_eq!(store.purge_deliveries(i64::MAX).await.unwrap(), 0);
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        Some(far_retry()),
        "the pending one is still on its way"
    );
}

pub(super) fn far_retry() -> i64 {
    T0_MS * 2
}

pub async fn case_paused_apps_are_not_claimed<S: Store>(store: S) {
    let (_, paused) = account_and_app(&store, "p").await;
    let (_, active) = account_and_app(&store, "q").await;
    with_callback(&store, &paused).await;
    with_callback(&store, &active).await;
    let p = plain_room(&store, &paused, "p").await;
    let q = plain_room(&store, &active, "q").await;
    append(&store, p, mics("p", 3)).await;
    append(&store, q, mics("q", 1)).await;
    let pause = |on: bool| {
        let store = &store;
        let url = if on {
            ""
        } else {
            "https://elsewhere.example.com/hook"
        };
        async move {
            store
                .set_app_callback(paused.sdk_app_id, Some(url), None)
                .await
                .expect("set_app_callback");
        }
    };

    pause(true).await;
    let l = later();
    assert_eq!(
        claim(&store, l, l + 10_000, 10).await,
        vec![(q, 1)],
        "an app without a callback URL is paused: its deliveries are not handed out"
    );
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        Some(l + 10_000),
        "nor counted as due"
    );
    record(&store, (q, 1), delivered(l)).await;
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        None,
        "only the paused app has pending deliveries: nothing is due"
    );
    assert_eq!(claim(&store, l, l + 10_000, 10).await, vec![]);
    append(&store, p, mics("while-paused", 1)).await;
    assert_eq!(
        keys(&deliveries(&store, &paused, None, Some(DeliveryStatus::Pending)).await),
        vec![(p, 1), (p, 2), (p, 3)],
        "pending deliveries wait; events recorded while paused are owed none"
    );

    // A new URL resumes: what was pending goes there.
    pause(false).await;
    assert!(store.next_delivery_due().await.unwrap().is_some());
    assert_eq!(claim(&store, l, l + 10_000, 10).await, vec![(p, 1)]);
    // Paused while a delivery is in flight: its outcome is recorded, the next one waits.
    pause(true).await;
    record(&store, (p, 1), delivered(l)).await;
    assert_eq!(claim(&store, l, l + 10_000, 10).await, vec![]);
    assert_eq!(store.next_delivery_due().await.unwrap(), None);
    pause(false).await;
    assert_eq!(claim(&store, l, l + 10_000, 10).await, vec![(p, 2)]);
}
