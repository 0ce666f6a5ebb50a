//! The class lifecycle that runs by itself: when a room starts, ends or expires without anyone
//! calling StartRoom/EndRoom. Pure functions of the stored room, so the deadlines survive
//! restarts: the store keeps each room's next deadline in an index and the scheduler sleeps
//! until the earliest.

use std::time::Duration;

use crate::room::{Room, RoomStatus, MAX_CLASS_SECS};

/// Settings of the automatic lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// With unlimited overtime (`EndDelayTime` 0), a class ends once its room has been empty
    /// this long after EndTime.
    pub idle_end: Duration,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        Self {
            idle_end: Duration::from_secs(10 * 60),
        }
    }
}

/// What happens to a room at its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// `EnableAutoStart=1`: StartRoom at StartTime.
    AutoStart,
    /// Never started by EndTime: Status 3.
    Expire,
    /// The class is over: EndRoom.
    AutoEnd,
}

/// Who is in the room now, as the store tracks it from MemberJoin/MemberQuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Occupancy {
    /// Users present (with at least one device in).
    pub present: u64,
    /// Since when the room has been empty, unix ms (`None` while someone is in).
    pub empty_since_ms: Option<i64>,
}

/// `EndDelayTime` when CreateRoom did not give one: unlimited overtime, as LCIC.
pub const DEFAULT_END_DELAY_MINUTES: i64 = 0;

/// The room's next automatic transition and when (unix ms), if any.
pub fn next_deadline(
    room: &Room,
    occupancy: Occupancy,
    policy: &LifecyclePolicy,
) -> Option<(i64, Due)> {
    let start_ms = secs_to_ms(room.spec.start_time);
    let end_ms = secs_to_ms(room.spec.end_time);
    match room.status {
        RoomStatus::NotStarted if room.spec.enable_auto_start == Some(1) && start_ms < end_ms => {
            Some((start_ms, Due::AutoStart))
        }
        RoomStatus::NotStarted => Some((end_ms, Due::Expire)),
        RoomStatus::InClass => {
            // However the overtime is set, a class ends 72 h after it really started.
            let cap = room
                .real_start_ms
                .unwrap_or(start_ms)
                .saturating_add(MAX_CLASS_SECS * 1000);
            let planned = match room
                .spec
                .end_delay_time
                .unwrap_or(DEFAULT_END_DELAY_MINUTES)
            {
                -1 => Some(end_ms),
                minutes if minutes > 0 => Some(end_ms.saturating_add(minutes * 60_000)),
                _ => occupancy.empty_since_ms.map(|empty| {
                    empty
                        .max(end_ms)
                        .saturating_add(policy.idle_end.as_millis() as i64)
                }),
            };
            Some((planned.map_or(cap, |p| p.min(cap)), Due::AutoEnd))
        }
        RoomStatus::Ended | RoomStatus::Expired => None,
    }
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::RoomSpec;

    const START: u64 = 1_700_000_000;
    const END: u64 = START + 3600;

    fn room(status: RoomStatus, delay: Option<i64>, auto: Option<i64>) -> Room {
        Room {
            room_id: 1,
            sdk_app_id: 1,
            account_id: 1,
            spec: RoomSpec {
                name: "r".into(),
                start_time: START,
                end_time: END,
                resolution: 1,
                sub_type: "video".into(),
                end_delay_time: delay,
                enable_auto_start: auto,
                ..RoomSpec::default()
            },
            status,
            real_start_ms: (status == RoomStatus::InClass).then_some(START as i64 * 1000 + 5_000),
            real_end_ms: None,
            created_at: 0,
            last_seq: 0,
            events_purged: false,
            occupancy: Occupancy::default(),
        }
    }

    const MS: i64 = 1000;
    const IN: Occupancy = Occupancy {
        present: 2,
        empty_since_ms: None,
    };

    #[test]
    fn not_started_rooms_auto_start_or_expire() {
        let policy = LifecyclePolicy::default();
        assert_eq!(
            next_deadline(&room(RoomStatus::NotStarted, None, Some(1)), IN, &policy),
            Some((START as i64 * MS, Due::AutoStart))
        );
        assert_eq!(
            next_deadline(&room(RoomStatus::NotStarted, None, None), IN, &policy),
            Some((END as i64 * MS, Due::Expire))
        );
        assert_eq!(
            next_deadline(&room(RoomStatus::Ended, None, None), IN, &policy),
            None
        );
    }

    #[test]
    fn end_follows_end_delay_time() {
        let policy = LifecyclePolicy::default();
        let end = END as i64 * MS;
        assert_eq!(
            next_deadline(&room(RoomStatus::InClass, Some(-1), None), IN, &policy),
            Some((end, Due::AutoEnd))
        );
        assert_eq!(
            next_deadline(&room(RoomStatus::InClass, Some(30), None), IN, &policy),
            Some((end + 30 * 60 * MS, Due::AutoEnd))
        );
        // Unlimited overtime: occupied rooms run to the 72 h cap ...
        let r = room(RoomStatus::InClass, Some(0), None);
        let cap = r.real_start_ms.unwrap() + 72 * 3600 * MS;
        assert_eq!(next_deadline(&r, IN, &policy), Some((cap, Due::AutoEnd)));
        // ... empty ones end after the idle time, counted from EndTime at the earliest.
        let early = Occupancy {
            present: 0,
            empty_since_ms: Some(end - 100 * MS),
        };
        assert_eq!(
            next_deadline(&r, early, &policy),
            Some((end + 600 * MS, Due::AutoEnd))
        );
        let late = Occupancy {
            present: 0,
            empty_since_ms: Some(end + 50 * MS),
        };
        assert_eq!(
            next_deadline(&r, late, &policy),
            Some((end + 650 * MS, Due::AutoEnd))
        );
        // Default EndDelayTime is unlimited overtime.
        assert_eq!(
            next_deadline(&room(RoomStatus::InClass, None, None), late, &policy),
            Some((end + 650 * MS, Due::AutoEnd))
        );
    }
}
