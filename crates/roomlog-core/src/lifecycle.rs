//! A room's lifecycle: the transitions of its status (start, end, expire, and what else a room
//! in a given status allows: modify, delete, kick) and the deadlines of the ones that run by
//! themselves (when a room starts, ends or expires without anyone calling StartRoom/EndRoom).
//!
//! Pure functions of the stored room: a store loads and locks the rows a write builds on, asks
//! here what the write does ([`Recording`]), and writes that in one transaction. The deadlines
//! survive restarts: the store keeps each room's next deadline in an index and the scheduler
//! sleeps until the earliest.

use std::collections::HashMap;
use std::time::Duration;

use crate::event::NewEvent;
use crate::presence::{self, Action, Change, PresenceWrite, UserPresence};
pub use crate::room::Occupancy;
use crate::room::{Room, RoomId, RoomSpec, RoomStatus, MAX_CLASS_SECS};
use crate::store::{Changes, PresentMember, StoreError, Written};

/// What one write does to a room, as the rules decide it. The store writes all of it in one
/// transaction: the events (numbered from [`Recording::first_seq`], each with its outbox entry
/// while the app has a callback), the presence and kick rows, and the room row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The room after the write (its `last_seq` counts the events recorded).
    pub room: Room,
    /// The events to record, in order.
    pub events: Vec<NewEvent>,
    pub presence: PresenceWrite,
    pub kicks: KickWrite,
    /// Which columns of the room row change.
    pub room_write: RoomWrite,
    /// The room's next deadline after the write ([`deadline_ms`]).
    pub deadline_ms: Option<i64>,
    /// Whether the write moved the deadline (a store may skip writing an unchanged one).
    pub deadline_moved: bool,
}

/// What a write does to a room's kick bars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KickWrite {
    Unchanged,
    /// Bars `user` until `until_ms` (`None`: permanently), replacing any bar.
    Bar {
        user: String,
        until_ms: Option<i64>,
    },
    /// Drops every bar: the class they barred from is over.
    Clear,
}

/// Which columns of the room row a write changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomWrite {
    /// None (a kick of a user who was not in).
    Unchanged,
    /// `last_seq` only: no member events were recorded (the hot path of ingest).
    LastSeq,
    /// `last_seq` and the occupancy; the deadline too if it moved (rooms not started, or in
    /// class with someone in, keep theirs).
    Presence,
    /// The lifecycle state: status, real times, last seq, occupancy and deadline.
    Status,
}

impl Recording {
    /// `room` (whose deadline was `deadline_before`) recording `events` after its last one,
    /// with `room_write`; presence and kicks unchanged.
    fn new(
        deadline_before: Option<i64>,
        mut room: Room,
        events: Vec<NewEvent>,
        room_write: RoomWrite,
        policy: &LifecyclePolicy,
    ) -> Recording {
        room.last_seq += events.len() as u64;
        let deadline_ms = deadline_ms(&room, policy);
        Recording {
            deadline_moved: deadline_ms != deadline_before,
            deadline_ms,
            room,
            events,
            presence: PresenceWrite::Unchanged,
            kicks: KickWrite::Unchanged,
            room_write,
        }
    }

    /// What the write changes for whoever waits: events recorded, the deadline moved, the
    /// class ended.
    pub fn changes(&self) -> Changes {
        Changes {
            events_in: (!self.events.is_empty()).then_some(self.room.room_id),
            deadlines: self.deadline_moved,
            class_ended: self.room_write == RoomWrite::Status
                && self.room.status == RoomStatus::Ended,
            ..Changes::NONE
        }
    }

    /// `value` as the result of this write.
    pub fn written<T>(&self, value: T) -> Written<T> {
        Written {
            value,
            changes: self.changes(),
        }
    }

    /// The room after the write, as the result of this write.
    pub fn into_room(self) -> Written<Room> {
        self.written(()).map(|()| self.room)
    }

    /// `room` recording `events` (member events among them or not) after its last one.
    /// `presence`: the room's occupancy after the member events and the users they changed, or
    /// `None` if there were none (then only the sequence moves).
    pub(crate) fn logged(
        mut room: Room,
        events: Vec<NewEvent>,
        presence: Option<(Occupancy, Vec<(String, UserPresence)>)>,
        policy: &LifecyclePolicy,
    ) -> Recording {
        let before = deadline_ms(&room, policy);
        let Some((occupancy, users)) = presence else {
            return Recording::new(before, room, events, RoomWrite::LastSeq, policy);
        };
        room.occupancy = occupancy;
        let mut recording = Recording::new(before, room, events, RoomWrite::Presence, policy);
        recording.presence = PresenceWrite::Users(users);
        recording
    }

    /// The seq of the first event to record: the others follow densely.
    pub fn first_seq(&self) -> u64 {
        self.room.last_seq + 1 - self.events.len() as u64
    }

    /// The events to record with their seqs.
    pub fn numbered(&self) -> impl Iterator<Item = (u64, &NewEvent)> {
        (self.first_seq()..).zip(&self.events)
    }
}

/// Refuses a write unless the room is in one of `statuses`.
fn require(room: &Room, statuses: &[RoomStatus]) -> Result<(), StoreError> {
    if statuses.contains(&room.status) {
        Ok(())
    } else {
        Err(StoreError::WrongStatus(room.status))
    }
}

/// StartRoom: NotStarted -> InClass, stamping the real start and recording `event` (RoomStart).
pub fn start(
    mut room: Room,
    event: NewEvent,
    policy: &LifecyclePolicy,
) -> Result<Recording, StoreError> {
    require(&room, &[RoomStatus::NotStarted])?;
    let before = deadline_ms(&room, policy);
    room.status = RoomStatus::InClass;
    room.real_start_ms = Some(event.timestamp_ms);
    Ok(Recording::new(
        before,
        room,
        vec![event],
        RoomWrite::Status,
        policy,
    ))
}

/// EndRoom: InClass -> Ended. RoomEnd closes the class for everyone: a `MemberQuit` (Reason 5,
/// RoomEnd's time) for each user still `present` (in order of arrival), then `event` (RoomEnd);
/// presence is emptied and kick bars are dropped (the class they barred from is over).
pub fn end(
    mut room: Room,
    present: &[PresentMember],
    event: NewEvent,
    policy: &LifecyclePolicy,
) -> Result<Recording, StoreError> {
    require(&room, &[RoomStatus::InClass])?;
    let before = deadline_ms(&room, policy);
    let at_ms = event.timestamp_ms;
    let mut events = presence::room_end_quits(present, at_ms);
    events.push(event);
    room.status = RoomStatus::Ended;
    room.real_end_ms = Some(at_ms);
    room.occupancy = Occupancy {
        present: 0,
        empty_since_ms: Some(at_ms),
    };
    let mut recording = Recording::new(before, room, events, RoomWrite::Status, policy);
    recording.presence = PresenceWrite::Clear;
    recording.kicks = KickWrite::Clear;
    Ok(recording)
}

/// NotStarted -> Expired (never started by its EndTime). Records no event; drops kick bars.
pub fn expire(mut room: Room, policy: &LifecyclePolicy) -> Result<Recording, StoreError> {
    require(&room, &[RoomStatus::NotStarted])?;
    let before = deadline_ms(&room, policy);
    room.status = RoomStatus::Expired;
    let mut recording = Recording::new(before, room, Vec::new(), RoomWrite::Status, policy);
    recording.kicks = KickWrite::Clear;
    Ok(recording)
}

/// New rooms: each has a deadline (it starts or expires by itself), for the scheduler.
pub fn created(ids: Vec<RoomId>) -> Written<Vec<RoomId>> {
    Written {
        changes: Changes {
            deadlines: !ids.is_empty(),
            ..Changes::NONE
        },
        value: ids,
    }
}

/// ModifyRoom: only a room that has not started takes a new spec (which may move its deadline).
pub fn modify(
    mut room: Room,
    spec: RoomSpec,
    policy: &LifecyclePolicy,
) -> Result<Written<Room>, StoreError> {
    require(&room, &[RoomStatus::NotStarted])?;
    let before = deadline_ms(&room, policy);
    room.spec = spec;
    let changes = Changes {
        deadlines: deadline_ms(&room, policy) != before,
        ..Changes::NONE
    };
    Ok(Written {
        value: room,
        changes,
    })
}

/// DeleteRoom: any room but one in class.
pub fn check_delete(room: &Room) -> Result<(), StoreError> {
    match room.status {
        RoomStatus::InClass => Err(StoreError::WrongStatus(room.status)),
        _ => Ok(()),
    }
}

/// KickUserFromRoom (room NotStarted or InClass): bars `user` until `until_ms` (`None`:
/// permanently) and, if they are present (`stored`: their presence), records `quit` closing all
/// their sessions. No event is recorded (and the room row is left alone) when they are not in.
pub fn kick(
    room: Room,
    user: &str,
    until_ms: Option<i64>,
    quit: NewEvent,
    stored: UserPresence,
    policy: &LifecyclePolicy,
) -> Result<Recording, StoreError> {
    require(&room, &[RoomStatus::NotStarted, RoomStatus::InClass])?;
    let bar = KickWrite::Bar {
        user: user.to_owned(),
        until_ms,
    };
    let mut recording = if stored.is_present() {
        // The kick closes every session, whatever Device the quit event carries.
        let change = Change {
            user,
            action: Action::Quit { device: None },
            at_ms: quit.timestamp_ms,
            seq: room.last_seq + 1,
        };
        let stored = HashMap::from([(user.to_owned(), stored)]);
        let presence = presence::fold(room.occupancy, &[change], stored);
        Recording::logged(room, vec![quit], Some(presence), policy)
    } else {
        let unchanged = deadline_ms(&room, policy);
        Recording::new(unchanged, room, Vec::new(), RoomWrite::Unchanged, policy)
    };
    recording.kicks = bar;
    Ok(recording)
}

/// The room's next automatic transition's time as stored (`rooms.deadline_ms`): `None` for none.
pub fn deadline_ms(room: &Room, policy: &LifecyclePolicy) -> Option<i64> {
    next_deadline(room, room.occupancy, policy).map(|(at_ms, _)| at_ms)
}

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
    use crate::event::EventType;
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

    fn event(event_type: EventType, id: &str, at_ms: i64, user: Option<&str>) -> NewEvent {
        NewEvent {
            event_id: id.into(),
            event_type,
            timestamp_ms: at_ms,
            data: crate::EventData {
                user_id: user.map(str::to_owned),
                ..Default::default()
            },
        }
    }

    fn present(joined_ms: i64, seq: u64) -> UserPresence {
        let mut state = UserPresence::default();
        state.join(Some(1), Some(0), joined_ms, seq);
        state
    }

    const STATUSES: [RoomStatus; 4] = [
        RoomStatus::NotStarted,
        RoomStatus::InClass,
        RoomStatus::Ended,
        RoomStatus::Expired,
    ];

    #[test]
    fn transitions_are_refused_in_the_wrong_status_with_the_status_found() {
        let policy = LifecyclePolicy::default();
        let at = START as i64 * MS;
        for status in STATUSES {
            let r = room(status, None, None);
            let started = start(
                r.clone(),
                event(EventType::RoomStart, "s", at, None),
                &policy,
            );
            let ended = end(
                r.clone(),
                &[],
                event(EventType::RoomEnd, "e", at, None),
                &policy,
            );
            let kicked = kick(
                r.clone(),
                "u",
                None,
                event(EventType::MemberQuit, "q", at, Some("u")),
                UserPresence::default(),
                &policy,
            );
            let matches = |ok: bool, result: Result<(), StoreError>| match (ok, result) {
                (true, Ok(())) => true,
                (false, Err(StoreError::WrongStatus(s))) => s == status,
                _ => false,
            };
            let not_started = status == RoomStatus::NotStarted;
            assert!(matches(not_started, started.map(drop)), "start {status:?}");
            assert!(matches(not_started, expire(r.clone(), &policy).map(drop)));
            assert!(matches(
                not_started,
                modify(r.clone(), r.spec.clone(), &policy).map(drop)
            ));
            assert!(matches(status == RoomStatus::InClass, ended.map(drop)));
            assert!(matches(status != RoomStatus::InClass, check_delete(&r)));
            let open = matches!(status, RoomStatus::NotStarted | RoomStatus::InClass);
            assert!(matches(open, kicked.map(drop)), "kick {status:?}");
        }
    }

    #[test]
    fn start_records_room_start_at_the_next_seq() {
        let policy = LifecyclePolicy::default();
        let mut r = room(RoomStatus::NotStarted, Some(-1), None);
        r.last_seq = 4;
        let at = START as i64 * MS + 7;
        let rec = start(r, event(EventType::RoomStart, "s", at, None), &policy).unwrap();
        assert_eq!(rec.room.status, RoomStatus::InClass);
        assert_eq!(rec.room.real_start_ms, Some(at));
        assert_eq!((rec.first_seq(), rec.room.last_seq), (5, 5));
        assert_eq!(rec.room_write, RoomWrite::Status);
        assert_eq!(
            (&rec.presence, &rec.kicks),
            (&PresenceWrite::Unchanged, &KickWrite::Unchanged)
        );
        assert_eq!(
            rec.deadline_ms,
            Some(END as i64 * MS),
            "EndDelayTime -1 ends at EndTime"
        );
    }

    #[test]
    fn end_quits_everyone_present_in_order_then_records_room_end() {
        let policy = LifecyclePolicy::default();
        let mut r = room(RoomStatus::InClass, None, None);
        r.last_seq = 10;
        r.occupancy = IN;
        let at = END as i64 * MS;
        let member = |user: &str| PresentMember {
            user_id: user.into(),
            role: Some(1),
            device: Some(2),
            joined_ms: 0,
            devices: 1,
        };
        let rec = end(
            r,
            &[member("b"), member("a")],
            event(EventType::RoomEnd, "e", at, None),
            &policy,
        )
        .unwrap();
        let recorded: Vec<(u64, &str, EventType)> = rec
            .numbered()
            .map(|(seq, e)| (seq, e.event_id.as_str(), e.event_type))
            .collect();
        assert_eq!(
            recorded,
            vec![
                (11, "roomlog:RoomEnd:b", EventType::MemberQuit),
                (12, "roomlog:RoomEnd:a", EventType::MemberQuit),
                (13, "e", EventType::RoomEnd),
            ]
        );
        assert_eq!(rec.events[0].data.reason, Some(presence::REASON_ROOM_ENDED));
        assert_eq!(rec.events[0].data.device, None, "closes every session");
        assert_eq!(rec.room.status, RoomStatus::Ended);
        assert_eq!(rec.room.real_end_ms, Some(at));
        assert_eq!(rec.room.last_seq, 13);
        assert_eq!(
            rec.room.occupancy,
            Occupancy {
                present: 0,
                empty_since_ms: Some(at)
            }
        );
        assert_eq!(
            (&rec.presence, &rec.kicks),
            (&PresenceWrite::Clear, &KickWrite::Clear)
        );
        assert_eq!((rec.room_write, rec.deadline_ms), (RoomWrite::Status, None));
        let changes = rec.changes();
        assert_eq!(changes.events_in, Some(1));
        assert!(changes.class_ended && changes.deadlines, "{changes:?}");
    }

    #[test]
    fn expire_records_nothing_and_drops_the_bars() {
        let policy = LifecyclePolicy::default();
        let rec = expire(room(RoomStatus::NotStarted, None, None), &policy).unwrap();
        assert_eq!(rec.room.status, RoomStatus::Expired);
        assert!(rec.events.is_empty());
        assert_eq!(rec.room.last_seq, 0);
        assert_eq!(rec.kicks, KickWrite::Clear);
        assert_eq!((rec.room_write, rec.deadline_ms), (RoomWrite::Status, None));
    }

    #[test]
    fn kick_bars_and_quits_only_a_present_user() {
        let policy = LifecyclePolicy::default();
        let mut r = room(RoomStatus::InClass, Some(0), None);
        r.last_seq = 3;
        r.occupancy = Occupancy {
            present: 1,
            empty_since_ms: None,
        };
        let at = START as i64 * MS + 60_000;
        let quit = event(EventType::MemberQuit, "q", at, Some("u"));
        let bar = KickWrite::Bar {
            user: "u".into(),
            until_ms: Some(at + 1),
        };

        let absent = kick(
            r.clone(),
            "u",
            Some(at + 1),
            quit.clone(),
            UserPresence::default(),
            &policy,
        )
        .unwrap();
        assert!(absent.events.is_empty());
        assert_eq!(absent.kicks, bar);
        assert_eq!(absent.room_write, RoomWrite::Unchanged);
        assert_eq!(absent.presence, PresenceWrite::Unchanged);
        assert_eq!(absent.room, r);
        assert_eq!(absent.changes(), Changes::NONE, "nothing anyone waits for");

        let stored = present(at - 1000, 2);
        let rec = kick(r, "u", Some(at + 1), quit, stored, &policy).unwrap();
        assert_eq!((rec.first_seq(), rec.room.last_seq), (4, 4));
        assert_eq!(rec.kicks, bar);
        assert_eq!(
            rec.presence,
            PresenceWrite::Users(vec![("u".into(), UserPresence::default())])
        );
        assert_eq!(
            rec.room.occupancy,
            Occupancy {
                present: 0,
                empty_since_ms: Some(at)
            }
        );
        // With unlimited overtime an empty room ends after the idle time: the deadline moved.
        assert_eq!(rec.room_write, RoomWrite::Presence);
        assert!(rec.deadline_moved);
        assert_eq!(rec.deadline_ms, Some(END as i64 * MS + 600 * MS));
    }
}
