//! Conformance cases: attendance.

use super::*;

/// An attendance with `records` member records whose user ids start with `tag`.
pub fn attendance_with(records: usize, tag: &str) -> RoomAttendance {
    RoomAttendance {
        peak_member_number: records as u64 / 2,
        member_number: records as u64,
        real_start_time: T0,
        real_end_time: T0 + 3600,
        records: (0..records)
            .map(|i| MemberRecord {
                user_id: format!("{tag}-{i}"),
                user_name: format!("Name {i}"),
                present_time: i as u64 * 7,
                camera: (i % 2) as u64,
                first_join_timestamp: T0 + i as u64,
                last_quit_timestamp: T0 + 3600,
                device: 5,
                role: (i % 4) as u64,
                sub_group_id: vec![format!("g{i}")],
                current_state: 2,
                ..MemberRecord::default()
            })
            .collect(),
    }
}

pub(super) async fn ended_room<S: Store>(store: &S, app: &App, name: &str, end_ms: i64) -> RoomId {
    let id = plain_room(store, app, name).await;
    start(store, id, 1).await;
    end(store, id, end_ms).await;
    id
}

pub async fn case_attendance_save_page_replace<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let live = plain_room(&store, &app, "live").await;
    let second = ended_room(&store, &app, "second", 20_000).await;
    let first = ended_room(&store, &app, "first", 10_000).await;
    let third = ended_room(&store, &app, "third", 30_000).await;

    assert_eq!(
        store.rooms_awaiting_attendance(10).await.unwrap(),
        vec![first, second, third],
        "ended rooms await attendance, oldest end first (rooms not ended do not)"
    );
    assert_eq!(
        store.rooms_awaiting_attendance(2).await.unwrap(),
        vec![first, second]
    );
    assert_eq!(
        store.attendance(first, page_of(1, 10)).await.unwrap(),
        None,
        "not computed yet"
    );

    let full = attendance_with(25, "m");
    store.save_attendance(first, &full).await.unwrap();
    assert_eq!(
        store.rooms_awaiting_attendance(10).await.unwrap(),
        vec![second, third],
        "a stored attendance is no longer awaited"
    );
    let summary = RoomAttendance {
        records: Vec::new(),
        ..full.clone()
    };
    let page = |room_id, page, limit| {
        let store = &store;
        async move {
            store
                .attendance(room_id, page_of(page, limit))
                .await
                .unwrap()
                .expect("attendance is stored")
        }
    };
    assert_eq!(
        page(first, 1, 10).await,
        AttendancePage {
            summary: summary.clone(),
            total: 25,
            records: full.records[0..10].to_vec(),
        },
        "the first page, with the summary and the total"
    );
    assert_eq!(page(first, 2, 10).await.records, full.records[10..20]);
    assert_eq!(
        page(first, 3, 10).await.records,
        full.records[20..25],
        "the last page is short"
    );
    let past = page(first, 4, 10).await;
    assert_eq!(
        (past.total, past.records.len()),
        (25, 0),
        "past the end: no records, still the total"
    );
    assert_eq!(
        page(first, 1, 1000).await.records,
        full.records,
        "in stored order"
    );

    // Saving again replaces everything.
    let fewer = attendance_with(3, "n");
    store.save_attendance(first, &fewer).await.unwrap();
    let replaced = page(first, 1, 100).await;
    assert_eq!(
        (replaced.total, replaced.records),
        (3, fewer.records.clone()),
        "no record of the previous attendance is left"
    );
    assert_eq!(replaced.summary.member_number, 3);

    // An empty attendance is still an attendance.
    store
        .save_attendance(second, &RoomAttendance::default())
        .await
        .unwrap();
    assert_eq!(
        page(second, 1, 10).await,
        AttendancePage {
            summary: RoomAttendance::default(),
            total: 0,
            records: vec![],
        }
    );
    assert_eq!(
        store.rooms_awaiting_attendance(10).await.unwrap(),
        vec![third]
    );
    assert_eq!(store.attendance(live, page_of(1, 10)).await.unwrap(), None);
    assert_eq!(
        store
            .attendance(third + 1_000_000, page_of(1, 10))
            .await
            .unwrap(),
        None
    );
    expect_room_not_found(
        store.save_attendance(third + 1_000_000, &fewer).await,
        "save_attendance for a missing room",
    );
}

pub async fn case_attendance_survives_the_purge<S: Store>(store: S) {
    let (_, id) = app_and_room(&store).await;
    start(&store, id, 1_000).await;
    append(&store, id, vec![join("a"), join("b")]).await;
    end(&store, id, 5_000).await;
    assert_eq!(
        store.purge_events(i64::MAX).await.unwrap(),
        PurgeStats::default(),
        "no purge before the attendance is stored"
    );
    assert_eq!(all_events(&store, id).await.len(), 6);

    let attendance = attendance_with(12, "s");
    store.save_attendance(id, &attendance).await.unwrap();
    assert_eq!(
        store.purge_events(i64::MAX).await.unwrap(),
        PurgeStats {
            rooms: 1,
            events: 6
        }
    );
    assert!(room(&store, id).await.events_purged);
    assert_eq!(store.read_events(id, 1, 100).await.unwrap(), vec![]);
    let kept = store
        .attendance(id, page_of(2, 5))
        .await
        .unwrap()
        .expect("the attendance outlives the events");
    assert_eq!(
        (kept.total, kept.records),
        (12, attendance.records[5..10].to_vec())
    );
    assert_eq!(
        kept.summary.peak_member_number,
        attendance.peak_member_number
    );
    assert_eq!(
        store.rooms_awaiting_attendance(10).await.unwrap(),
        Vec::<RoomId>::new()
    );

    // Deleting the room deletes its attendance.
    store.delete_room(id).await.unwrap();
    assert_eq!(store.attendance(id, page_of(1, 10)).await.unwrap(), None);
}
