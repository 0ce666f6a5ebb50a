//! The live classroom gateway's rules, pure: who may enter a room with a user token, which
//! role they have there, the events a gateway session records, and the roster (who is in, per
//! device, with camera, mic, screen and visibility) folded from the room's log.
//!
//! The roster follows the presence rules (`presence`): per (user, device); a MemberJoin opens a
//! device (a second join on an open device changes nothing); a MemberQuit with a Device closes
//! that device or, if it is not open, the user's earliest-opened one; without a Device it closes
//! all the user's devices. Media events the gateway records carry the reporting Device and
//! change that device only; one without a Device (reported through the API) changes every
//! device of the user. A device enters with camera, mic and screen off and visible.

use std::collections::BTreeMap;

use crate::event::{EventData, EventType, NewEvent, StoredEvent};
use crate::room::{Room, RoomSpec, RoomStatus};
use crate::user::User;

/// LCIC roles.
pub const ROLE_STUDENT: u64 = 0;
pub const ROLE_TEACHER: u64 = 1;
pub const ROLE_ASSISTANT: u64 = 2;

/// `MemberQuit.Reason`: left cleanly.
pub const REASON_LEFT: u64 = 0;
/// `MemberQuit.Reason`: kicked, temporarily or for good.
pub const REASON_KICKED: u64 = 1;
pub const REASON_KICKED_PERMANENTLY: u64 = 2;
/// `MemberQuit.Reason`: heartbeat lost.
pub const REASON_HEARTBEAT_LOST: u64 = 4;

impl RoomSpec {
    /// The role `user_id` has in this room: the TeacherId teaches, Assistants assist, everyone
    /// else is a student. Never what a client says.
    pub fn role_of(&self, user_id: &str) -> u64 {
        if self.teacher_id.as_deref() == Some(user_id) {
            ROLE_TEACHER
        } else if self.assistants.iter().flatten().any(|a| a == user_id) {
            ROLE_ASSISTANT
        } else {
            ROLE_STUDENT
        }
    }
}

/// Why a client may not enter a room (before anything is recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryRefusal {
    /// No such user, or not its token.
    BadToken,
    TokenExpired,
    /// The user belongs to another app than the one the client named.
    OtherApp,
    /// No such room in the user's app (never created, deleted, or another app's).
    RoomNotFound,
    ClassEnded,
    ClassExpired,
}

/// Whether `user` (looked up by the UserId the client sent) may enter `room` with `token` now,
/// naming `sdk_app_id`: the token first (compared in constant time), then the app, then the
/// room. Kick bars are the recording's admission check (`ingest::admit`).
pub fn check_entry(
    user: Option<&User>,
    token: &str,
    sdk_app_id: u64,
    room: Option<&Room>,
    now_ms: i64,
) -> Result<(), EntryRefusal> {
    let user = user.ok_or(EntryRefusal::BadToken)?;
    if !constant_time_eq(user.token.as_bytes(), token.as_bytes()) {
        return Err(EntryRefusal::BadToken);
    }
    if user.token_expires_ms <= now_ms {
        return Err(EntryRefusal::TokenExpired);
    }
    if user.sdk_app_id != sdk_app_id {
        return Err(EntryRefusal::OtherApp);
    }
    let room = room
        .filter(|room| room.sdk_app_id == user.sdk_app_id)
        .ok_or(EntryRefusal::RoomNotFound)?;
    match room.status {
        RoomStatus::NotStarted | RoomStatus::InClass => Ok(()),
        RoomStatus::Ended => Err(EntryRefusal::ClassEnded),
        RoomStatus::Expired => Err(EntryRefusal::ClassExpired),
    }
}

/// Equal bytes, in time that depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The events one gateway session records. Ids are `roomlog:gw:{session}:...`: reserved (no
/// API reporter can take them) and deterministic, so a resend records nothing twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvents {
    pub session: String,
    pub user_id: String,
    pub device: u64,
    pub role: u64,
}

impl SessionEvents {
    fn id(&self, what: &str) -> String {
        format!("{}gw:{}:{what}", NewEvent::RESERVED_ID_PREFIX, self.session)
    }

    /// The MemberJoin that opens the session.
    pub fn join(&self, now_ms: i64) -> NewEvent {
        NewEvent {
            event_id: self.id("join"),
            event_type: EventType::MemberJoin,
            timestamp_ms: now_ms,
            data: EventData {
                user_id: Some(self.user_id.clone()),
                device: Some(self.device),
                role: Some(self.role),
                ..EventData::default()
            },
        }
    }

    /// The MemberQuit that closes it (`REASON_LEFT`, `REASON_HEARTBEAT_LOST`).
    pub fn quit(&self, reason: u64, timestamp_ms: i64) -> NewEvent {
        NewEvent {
            event_id: self.id("quit"),
            event_type: EventType::MemberQuit,
            timestamp_ms,
            data: EventData {
                user_id: Some(self.user_id.clone()),
                device: Some(self.device),
                role: Some(self.role),
                reason: Some(reason),
                ..EventData::default()
            },
        }
    }

    /// The client's media report number `seq` (the client numbers its reports from 1).
    pub fn media(&self, seq: u64, kind: EventType, now_ms: i64) -> NewEvent {
        debug_assert!(kind.is_media());
        NewEvent {
            event_id: self.id(&seq.to_string()),
            event_type: kind,
            timestamp_ms: now_ms,
            data: EventData {
                user_id: Some(self.user_id.clone()),
                device: Some(self.device),
                ..EventData::default()
            },
        }
    }
}

/// One device's media state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceState {
    pub camera: bool,
    pub mic: bool,
    pub screen: bool,
    pub visible: bool,
}

impl Default for DeviceState {
    fn default() -> Self {
        Self {
            camera: false,
            mic: false,
            screen: false,
            visible: true,
        }
    }
}

impl DeviceState {
    /// The switch `kind` turns, and to what.
    fn switch(&mut self, kind: EventType) -> Option<(&mut bool, bool)> {
        Some(match kind {
            EventType::CameraOn => (&mut self.camera, true),
            EventType::CameraOff => (&mut self.camera, false),
            EventType::MicOn => (&mut self.mic, true),
            EventType::MicOff => (&mut self.mic, false),
            EventType::ScreenOn => (&mut self.screen, true),
            EventType::ScreenOff => (&mut self.screen, false),
            EventType::VisibleOn => (&mut self.visible, true),
            EventType::VisibleOff => (&mut self.visible, false),
            _ => return None,
        })
    }
}

/// One member in the room now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    pub role: Option<u64>,
    /// Open devices: device -> (the seq of the join that opened it, its state).
    pub devices: BTreeMap<u64, (u64, DeviceState)>,
    /// The seq of the join that brought the user in: orders the roster by arrival.
    pub arrived_seq: u64,
}

/// What one event did to the roster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterChange {
    /// The member whose state changed (`None`: the event changed nobody).
    pub user_id: Option<String>,
    /// Devices the event closed (a quit): the sessions on them are over.
    pub closed: Vec<u64>,
}

/// Why a media report is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaRefusal {
    /// Not a camera, mic, screen or visibility change.
    NotMedia,
    /// The device is not in the room (never joined, or its session is over).
    NotInRoom,
    /// The device is already in that state (e.g. CameraOff with the camera off).
    NoChange,
}

/// Who is in a room now, folded from its log (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    pub members: BTreeMap<String, Member>,
}

impl Roster {
    /// Folds one event (in log order).
    pub fn apply(&mut self, event: &StoredEvent) -> RosterChange {
        let Some(user) = event.data.user_id.as_deref() else {
            return RosterChange::default();
        };
        let device = event.data.device;
        let mut change = RosterChange {
            user_id: Some(user.to_owned()),
            closed: Vec::new(),
        };
        match event.event_type {
            EventType::MemberJoin => {
                let member = self.members.entry(user.to_owned()).or_insert(Member {
                    arrived_seq: event.seq,
                    ..Member::default()
                });
                member.role = event.data.role.or(member.role);
                member
                    .devices
                    .entry(device.unwrap_or(0))
                    .or_insert((event.seq, DeviceState::default()));
            }
            EventType::MemberQuit => {
                let Some(member) = self.members.get_mut(user) else {
                    return RosterChange::default();
                };
                match device {
                    None => change.closed = member.devices.keys().copied().collect(),
                    Some(d) if member.devices.contains_key(&d) => change.closed = vec![d],
                    Some(_) => {
                        let earliest = member.devices.iter().min_by_key(|(_, (seq, _))| *seq);
                        change.closed = earliest.map(|(d, _)| *d).into_iter().collect();
                    }
                }
                for d in &change.closed {
                    member.devices.remove(d);
                }
                if member.devices.is_empty() {
                    self.members.remove(user);
                }
            }
            kind if kind.is_media() => {
                let Some(member) = self.members.get_mut(user) else {
                    return RosterChange::default();
                };
                for (d, (_, state)) in member.devices.iter_mut() {
                    if device.is_none_or(|device| device == *d) {
                        if let Some((switch, on)) = state.switch(kind) {
                            *switch = on;
                        }
                    }
                }
            }
            _ => return RosterChange::default(),
        }
        change
    }

    /// Whether `user_id` on `device` may report `kind` now.
    pub fn check_media(
        &self,
        user_id: &str,
        device: u64,
        kind: EventType,
    ) -> Result<(), MediaRefusal> {
        if !kind.is_media() {
            return Err(MediaRefusal::NotMedia);
        }
        let mut state = self
            .members
            .get(user_id)
            .and_then(|m| m.devices.get(&device))
            .map(|(_, state)| *state)
            .ok_or(MediaRefusal::NotInRoom)?;
        match state.switch(kind) {
            Some((switch, on)) if *switch != on => Ok(()),
            _ => Err(MediaRefusal::NoChange),
        }
    }

    /// Whether `user_id` is in on `device`.
    pub fn is_in(&self, user_id: &str, device: u64) -> bool {
        self.members
            .get(user_id)
            .is_some_and(|m| m.devices.contains_key(&device))
    }

    /// The members in order of arrival.
    pub fn by_arrival(&self) -> Vec<(&str, &Member)> {
        let mut members: Vec<(&str, &Member)> = self
            .members
            .iter()
            .map(|(user, member)| (user.as_str(), member))
            .collect();
        members.sort_by_key(|(_, m)| m.arrived_seq);
        members
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, kind: EventType, user: &str, device: Option<u64>) -> StoredEvent {
        StoredEvent {
            room_id: 1,
            seq,
            event_id: format!("e{seq}"),
            event_type: kind,
            timestamp_ms: seq as i64,
            data: EventData {
                user_id: Some(user.into()),
                device,
                ..EventData::default()
            },
        }
    }

    #[test]
    fn roster_follows_joins_quits_and_media_per_device() {
        let mut roster = Roster::default();
        roster.apply(&event(1, EventType::MemberJoin, "a", Some(0)));
        roster.apply(&event(2, EventType::MemberJoin, "a", Some(3)));
        roster.apply(&event(3, EventType::MemberJoin, "b", None));
        assert_eq!(
            roster.check_media("a", 3, EventType::CameraOff),
            Err(MediaRefusal::NoChange)
        );
        assert_eq!(roster.check_media("a", 3, EventType::CameraOn), Ok(()));
        assert_eq!(
            roster.check_media("a", 5, EventType::CameraOn),
            Err(MediaRefusal::NotInRoom)
        );
        assert_eq!(
            roster.check_media("a", 3, EventType::MemberJoin),
            Err(MediaRefusal::NotMedia)
        );
        roster.apply(&event(4, EventType::CameraOn, "a", Some(3)));
        let a = &roster.members["a"];
        assert!(a.devices[&3].1.camera && !a.devices[&0].1.camera);
        // Without a Device (an API report): every device of the user.
        roster.apply(&event(5, EventType::MicOn, "a", None));
        assert!(roster.members["a"].devices.values().all(|(_, s)| s.mic));
        // A quit on a device that is not open closes the earliest one.
        let change = roster.apply(&event(6, EventType::MemberQuit, "a", Some(7)));
        assert_eq!(change.closed, vec![0]);
        assert!(roster.is_in("a", 3) && !roster.is_in("a", 0));
        let change = roster.apply(&event(7, EventType::MemberQuit, "b", None));
        assert_eq!(change.closed, vec![0]);
        assert!(!roster.members.contains_key("b"));
        // A rejoin starts from the default state.
        roster.apply(&event(8, EventType::MemberJoin, "b", Some(0)));
        assert_eq!(roster.members["b"].devices[&0].1, DeviceState::default());
        let order: Vec<&str> = roster.by_arrival().into_iter().map(|(u, _)| u).collect();
        assert_eq!(order, ["a", "b"]);
        // Nothing to close for someone absent.
        let change = roster.apply(&event(9, EventType::MemberQuit, "zz", None));
        assert_eq!(change, RosterChange::default());
    }

    fn user(token: &str, expires_ms: i64) -> User {
        User {
            user_id: "u".into(),
            sdk_app_id: 7,
            name: String::new(),
            origin_id: String::new(),
            avatar: String::new(),
            token: token.into(),
            token_expires_ms: expires_ms,
            created_at: 0,
        }
    }

    #[test]
    fn entry_checks_token_then_app_then_room() {
        let mut room = Room::created(7, 1, RoomSpec::default(), 0);
        let u = user("secret", 100);
        let ok = check_entry(Some(&u), "secret", 7, Some(&room), 50);
        assert_eq!(ok, Ok(()));
        let refused = |user: Option<&User>, token, app, room: Option<&Room>, now| {
            check_entry(user, token, app, room, now).unwrap_err()
        };
        assert_eq!(
            refused(None, "secret", 7, Some(&room), 50),
            EntryRefusal::BadToken
        );
        assert_eq!(
            refused(Some(&u), "secreT", 7, Some(&room), 50),
            EntryRefusal::BadToken
        );
        assert_eq!(
            refused(Some(&u), "secret", 7, Some(&room), 100),
            EntryRefusal::TokenExpired
        );
        assert_eq!(
            refused(Some(&u), "secret", 8, Some(&room), 50),
            EntryRefusal::OtherApp
        );
        assert_eq!(
            refused(Some(&u), "secret", 7, None, 50),
            EntryRefusal::RoomNotFound
        );
        room.sdk_app_id = 8;
        assert_eq!(
            refused(Some(&u), "secret", 7, Some(&room), 50),
            EntryRefusal::RoomNotFound,
            "another app's room is not found"
        );
        room.sdk_app_id = 7;
        room.status = RoomStatus::Ended;
        assert_eq!(
            refused(Some(&u), "secret", 7, Some(&room), 50),
            EntryRefusal::ClassEnded
        );
        room.status = RoomStatus::Expired;
        assert_eq!(
            refused(Some(&u), "secret", 7, Some(&room), 50),
            EntryRefusal::ClassExpired
        );
    }

    #[test]
    fn role_comes_from_the_room() {
        let spec = RoomSpec {
            teacher_id: Some("t".into()),
            assistants: Some(vec!["a1".into(), "a2".into()]),
            ..RoomSpec::default()
        };
        assert_eq!(spec.role_of("t"), ROLE_TEACHER);
        assert_eq!(spec.role_of("a2"), ROLE_ASSISTANT);
        assert_eq!(spec.role_of("s"), ROLE_STUDENT);
    }

    #[test]
    fn session_events_have_reserved_deterministic_ids() {
        let session = SessionEvents {
            session: "abc".into(),
            user_id: "u".into(),
            device: 2,
            role: 0,
        };
        assert_eq!(session.join(1).event_id, "roomlog:gw:abc:join");
        assert_eq!(
            session.media(7, EventType::MicOn, 1),
            session.media(7, EventType::MicOn, 1)
        );
        assert_eq!(
            session.media(7, EventType::MicOn, 1).event_id,
            "roomlog:gw:abc:7"
        );
        let quit = session.quit(REASON_HEARTBEAT_LOST, 5);
        assert_eq!(
            (quit.data.reason, quit.data.device, quit.timestamp_ms),
            (Some(4), Some(2), 5)
        );
    }
}
