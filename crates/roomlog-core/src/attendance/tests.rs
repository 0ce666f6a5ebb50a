use super::*;
use crate::event::EventData;
use proptest::prelude::*;

fn ev(
    seq: u64,
    ty: EventType,
    ts: i64,
    user: Option<&str>,
    device: Option<u64>,
    reason: Option<u64>,
) -> StoredEvent {
    StoredEvent {
        room_id: 1,
        seq,
        event_id: format!("e{seq}"),
        event_type: ty,
        timestamp_ms: ts,
        data: EventData {
            user_id: user.map(str::to_owned),
            device,
            reason,
            ..EventData::default()
        },
    }
}

fn no_names(_: &str) -> Option<String> {
    None
}

fn run(events: &[StoredEvent], expected: &Expected) -> RoomAttendance {
    let mut builder = AttendanceBuilder::new();
    for e in events {
        builder.push(e);
    }
    builder.finish(expected, &no_names)
}

use EventType::*;

#[test]
fn overlapping_devices_count_once_and_pre_class_time_is_not_counted() {
    let events = [
        ev(1, MemberJoin, 0, Some("u"), Some(1), None), // before class
        ev(2, RoomStart, 10_000, None, None, None),
        ev(3, MemberJoin, 20_000, Some("u"), Some(3), None), // second device
        ev(4, MemberQuit, 30_000, Some("u"), Some(1), None),
        ev(5, MemberQuit, 40_000, Some("u"), Some(3), None),
        ev(6, RoomEnd, 100_000, None, None, None),
    ];
    let a = run(&events, &Expected::default());
    assert_eq!(a.records.len(), 1);
    assert_eq!(a.records[0].present_time, 30, "10s..40s");
    assert_eq!(a.records[0].first_join_timestamp, 0);
    assert_eq!(a.records[0].last_quit_timestamp, 40);
    assert_eq!(a.records[0].device, 3, "latest reported");
    assert_eq!(a.peak_member_number, 1);
    assert_eq!((a.real_start_time, a.real_end_time), (10, 100));
}

#[test]
fn odd_events_are_tolerated() {
    let events = [
        ev(1, RoomStart, 0, None, None, None),
        ev(2, MemberQuit, 1_000, Some("ghost"), None, None), // quit without join
        ev(3, MemberJoin, 2_000, Some("a"), Some(5), None),
        ev(4, MemberJoin, 3_000, Some("a"), Some(5), None), // second join, same device
        ev(5, MemberJoin, 4_000, Some("b"), None, None),
        ev(6, CameraOn, 5_000, Some("b"), None, None),
        ev(7, MicOn, 5_000, Some("a"), None, None),
        ev(8, MemberQuit, 10_000, Some("b"), Some(2), Some(1)), // kicked; device never joined
        ev(9, RoomEnd, 20_000, None, None, None),               // a still present
    ];
    let expected = Expected {
        teacher_id: Some("teacher".into()),
        assistants: vec!["a".into(), "helper".into()],
    };
    let att = run(&events, &expected);
    let by_user: HashMap<&str, &MemberRecord> = att
        .records
        .iter()
        .map(|r| (r.user_id.as_str(), r))
        .collect();
    assert!(
        !by_user.contains_key("ghost"),
        "a quit without a join is not attendance"
    );
    assert_eq!(by_user["a"].present_time, 18, "closed by RoomEnd");
    assert_eq!(
        (by_user["a"].mic, by_user["a"].stage, by_user["a"].camera),
        (1, 1, 0)
    );
    assert_eq!(by_user["b"].present_time, 6);
    assert_eq!(by_user["b"].current_state, state::KICKED);
    assert_eq!(by_user["b"].camera, 1);
    assert_eq!(by_user["teacher"].current_state, state::ABSENT);
    assert_eq!(by_user["helper"].role, 2);
    assert_eq!(att.member_number, 2);
    assert_eq!(att.records.len(), 4, "2 who came + teacher + helper");
    assert_eq!(att.peak_member_number, 2);
}

/// The reference model: replays the log and sweeps time between consecutive events, adding
/// each gap to every user present during it (only inside the class). Independent of the
/// interval-union algorithm; requires non-decreasing timestamps.
fn reference(events: &[StoredEvent]) -> (HashMap<String, i64>, u64) {
    let mut open: HashMap<String, Vec<(u64, usize)>> = HashMap::new();
    let mut time: HashMap<String, i64> = HashMap::new();
    let mut in_class = false;
    let mut peak = 0u64;
    let mut last_ts: Option<i64> = None;
    for (counter, e) in events.iter().enumerate() {
        if let Some(prev) = last_ts {
            if in_class {
                for (user, devices) in &open {
                    if !devices.is_empty() {
                        *time.entry(user.clone()).or_default() += e.timestamp_ms - prev;
                    }
                }
            }
        }
        last_ts = Some(e.timestamp_ms);
        match e.event_type {
            RoomStart => in_class = true,
            RoomEnd => {
                in_class = false;
                open.clear();
            }
            MemberJoin => {
                let user = e.data.user_id.clone().unwrap();
                let d = e.data.device.unwrap_or(0);
                let devices = open.entry(user.clone()).or_default();
                if !devices.iter().any(|(x, _)| *x == d) {
                    devices.push((d, counter));
                }
                time.entry(user).or_default();
            }
            MemberQuit => {
                let user = e.data.user_id.clone().unwrap();
                let devices = open.entry(user).or_default();
                match e.data.device {
                    None => devices.clear(),
                    Some(d) => {
                        if let Some(i) = devices.iter().position(|(x, _)| *x == d) {
                            devices.remove(i);
                        } else if let Some(i) = (0..devices.len()).min_by_key(|&i| devices[i].1) {
                            devices.remove(i);
                        }
                    }
                }
            }
            _ => {}
        }
        if in_class || e.event_type == RoomStart {
            peak = peak.max(open.values().filter(|d| !d.is_empty()).count() as u64);
        }
    }
    (time, peak)
}

fn arb_log() -> impl Strategy<Value = Vec<StoredEvent>> {
    let users = prop::sample::select(vec!["u1", "u2", "u3", "u4"]);
    let step = (
        0u8..10,
        users,
        prop::option::of(0u64..3),
        0i64..5_000,
        prop::option::of(prop::sample::select(vec![0u64, 1, 2, 4])),
    );
    (
        prop::collection::vec(step.clone(), 0..40),
        prop::collection::vec(step, 0..40),
        0i64..5_000,
    )
        .prop_map(|(before, during, end_gap)| {
            type Step<'a> = (u8, &'a str, Option<u64>, i64, Option<u64>);
            fn play(events: &mut Vec<StoredEvent>, steps: Vec<Step<'_>>, ts: &mut i64) {
                for (kind, user, device, gap, reason) in steps {
                    *ts += gap;
                    let (ty, device, reason) = match kind {
                        0..=4 => (MemberJoin, device, None),
                        5..=8 => (MemberQuit, device, reason),
                        _ => (MicOn, None, None),
                    };
                    events.push(ev(0, ty, *ts, Some(user), device, reason));
                }
            }
            let mut events = Vec::new();
            let mut ts = 1_000_000i64;
            play(&mut events, before, &mut ts);
            ts += 1;
            events.push(ev(0, RoomStart, ts, None, None, None));
            play(&mut events, during, &mut ts);
            ts += end_gap;
            events.push(ev(0, RoomEnd, ts, None, None, None));
            for (i, e) in events.iter_mut().enumerate() {
                e.seq = i as u64 + 1;
            }
            events
        })
}

proptest! {
    #[test]
    fn matches_the_reference_model(events in arb_log()) {
        let attendance = run(&events, &Expected::default());
        let (time, peak) = reference(&events);
        prop_assert_eq!(attendance.peak_member_number, peak);
        let joined: std::collections::BTreeSet<&str> = events
            .iter()
            .filter(|e| e.event_type == MemberJoin)
            .filter_map(|e| e.data.user_id.as_deref())
            .collect();
        prop_assert_eq!(attendance.member_number as usize, joined.len());
        for record in &attendance.records {
            let expected_ms = time.get(&record.user_id).copied().unwrap_or(0);
            prop_assert_eq!(record.present_time, (expected_ms / 1000) as u64, "user {}", record.user_id);
        }
    }

    #[test]
    fn union_never_exceeds_the_class(sessions in prop::collection::vec((0i64..1000, 0i64..1000), 0..20), start in 0i64..500, len in 0i64..600) {
        let total = union_clipped_ms(&sessions, start, start + len);
        prop_assert!(total >= 0 && total <= len);
        let sum: i64 = sessions.iter().map(|&(s, e)| (e.min(start + len) - s.max(start)).max(0)).sum();
        prop_assert!(total <= sum);
    }
}
