//! Who is in a room, folded from MemberJoin/MemberQuit as they are recorded.
//!
//! The rules are those of `roomlog_core::attendance` (which folds a whole log after the class),
//! applied one event at a time to the state the store keeps:
//! - presence is per (user, device); a join without a Device counts as device 0;
//! - a MemberJoin opens that device's session; a second join on an open device is a reconnect
//!   and opens nothing;
//! - a MemberQuit with a Device closes that device or, if it is not open, the user's
//!   earliest-opened session; without a Device it closes all the user's sessions; with nothing
//!   open it changes nothing;
//! - a user is present while any of their sessions is open.
//!
//! This module is pure (no SQL) so the rules are unit-tested on their own. Every store keeps
//! presence in the same stored shape with it: the store loads the state of the users a write
//! touches ([`users`]), folds the write's changes here ([`fold`]), and writes back the users
//! that changed ([`PresenceWrite`]), so a database copied between stores means the same.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use crate::room::Occupancy;
use crate::{EventData, EventType, NewEvent, PresentMember};

/// `MemberQuit.Reason` of the quits RoomEnd records for the users still present.
pub const REASON_ROOM_ENDED: u64 = 5;

/// The MemberQuits RoomEnd records at `timestamp_ms` for the users still `present` (in order of
/// arrival), before the RoomEnd itself: Reason 5, a reserved EventId per user, and the user's
/// Role. No Device: a quit without one closes every session of the user (see the rules above),
/// which is what the end of the class does; a Device would close only that one.
pub fn room_end_quits(present: &[PresentMember], timestamp_ms: i64) -> Vec<NewEvent> {
    present
        .iter()
        .map(|member| NewEvent {
            event_id: format!("{}RoomEnd:{}", NewEvent::RESERVED_ID_PREFIX, member.user_id),
            event_type: EventType::MemberQuit,
            timestamp_ms,
            data: EventData {
                user_id: Some(member.user_id.clone()),
                role: member.role,
                reason: Some(REASON_ROOM_ENDED),
                ..EventData::default()
            },
        })
        .collect()
}

/// One open session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub joined_ms: i64,
    /// The seq of the MemberJoin that opened it: orders sessions and users.
    pub join_seq: u64,
}

/// One user's presence in one room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPresence {
    /// Open sessions by device.
    pub sessions: BTreeMap<u64, Session>,
    /// The latest Role / Device a MemberJoin reported since the user came in (reset when they
    /// leave: an absent user has no state at all).
    pub role: Option<u64>,
    pub device: Option<u64>,
}

impl UserPresence {
    pub fn is_present(&self) -> bool {
        !self.sessions.is_empty()
    }

    pub fn join(&mut self, device: Option<u64>, role: Option<u64>, at_ms: i64, seq: u64) {
        // Even a reconnect (no new session) reports the user's current role and device.
        self.role = role.or(self.role);
        self.device = device.or(self.device);
        self.sessions.entry(device.unwrap_or(0)).or_insert(Session {
            joined_ms: at_ms,
            join_seq: seq,
        });
    }

    pub fn quit(&mut self, device: Option<u64>) {
        match device {
            None => self.sessions.clear(),
            Some(d) if self.sessions.contains_key(&d) => {
                self.sessions.remove(&d);
            }
            Some(_) => {
                let earliest = self
                    .sessions
                    .iter()
                    .min_by_key(|(_, s)| s.join_seq)
                    .map(|(d, _)| *d);
                if let Some(d) = earliest {
                    self.sessions.remove(&d);
                }
            }
        }
        if !self.is_present() {
            *self = Self::default();
        }
    }

    /// The open sessions as every store keeps them (`presence.sessions`), so a database copied
    /// between stores means the same: `[[device, joined_ms, join_seq], ...]`.
    pub fn sessions_json(&self) -> String {
        let sessions: Vec<(u64, i64, u64)> = self
            .sessions
            .iter()
            .map(|(device, s)| (*device, s.joined_ms, s.join_seq))
            .collect();
        serde_json::to_string(&sessions).expect("a list of numbers serialises")
    }

    /// A user's presence as stored: the latest role and device, and [`Self::sessions_json`].
    /// `Err` says what is wrong with a malformed `sessions`.
    pub fn from_stored(
        role: Option<u64>,
        device: Option<u64>,
        sessions_json: &str,
    ) -> Result<UserPresence, String> {
        let sessions: Vec<(u64, i64, u64)> = serde_json::from_str(sessions_json)
            .map_err(|e| format!("bad sessions {sessions_json:?}: {e}"))?;
        let sessions = sessions
            .into_iter()
            .map(|(device, joined_ms, join_seq)| {
                let session = Session {
                    joined_ms,
                    join_seq,
                };
                (device, session)
            })
            .collect();
        Ok(UserPresence {
            sessions,
            role,
            device,
        })
    }

    /// The user's place in the order of arrival: their earliest-opened open session.
    pub fn arrival_seq(&self) -> Option<u64> {
        self.sessions.values().map(|s| s.join_seq).min()
    }

    /// When the user's earliest open session began.
    pub fn joined_ms(&self) -> Option<i64> {
        self.sessions.values().map(|s| s.joined_ms).min()
    }
}

/// What one member event does to presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Join {
        device: Option<u64>,
        role: Option<u64>,
    },
    Quit {
        device: Option<u64>,
    },
}

/// One member event as presence sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change<'a> {
    pub user: &'a str,
    pub action: Action,
    pub at_ms: i64,
    pub seq: u64,
}

impl Change<'_> {
    pub fn apply(&self, user: &mut UserPresence) {
        match self.action {
            Action::Join { device, role } => user.join(device, role, self.at_ms, self.seq),
            Action::Quit { device } => user.quit(device),
        }
    }
}

/// What a recorded event does to presence: `None` unless it is a member event naming a user.
pub fn change(event_type: EventType, data: &EventData, at_ms: i64, seq: u64) -> Option<Change<'_>> {
    let user = data.user_id.as_deref()?;
    let action = match event_type {
        EventType::MemberJoin => Action::Join {
            device: data.device,
            role: data.role,
        },
        EventType::MemberQuit => Action::Quit {
            device: data.device,
        },
        _ => return None,
    };
    Some(Change {
        user,
        action,
        at_ms,
        seq,
    })
}

/// The presence changes of `events`, recorded with seqs `first_seq, first_seq + 1, ...`.
pub fn changes(first_seq: u64, events: &[NewEvent]) -> Vec<Change<'_>> {
    events
        .iter()
        .zip(first_seq..)
        .filter_map(|(e, seq)| change(e.event_type, &e.data, e.timestamp_ms, seq))
        .collect()
}

/// The presence rows a write changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceWrite {
    Unchanged,
    /// These users' new state, in name order: those present are stored (replacing any row),
    /// the others' rows deleted.
    Users(Vec<(String, UserPresence)>),
    /// Nobody is present any more (the class ended).
    Clear,
}

/// The users whose stored presence `changes` build on, each once, in name order.
pub fn users<'a>(changes: &[Change<'a>]) -> Vec<&'a str> {
    let mut users: Vec<&str> = changes.iter().map(|c| c.user).collect();
    users.sort_unstable();
    users.dedup();
    users
}

/// Applies `changes`, in log order, to the `stored` presence of the users they name (a user
/// without an entry is absent) and to the room's `occupancy`. Returns the new occupancy and
/// the users whose state changed, in name order: a reconnect or a quit with nothing open
/// changes nothing, so it costs no write.
pub fn fold(
    mut occupancy: Occupancy,
    changes: &[Change<'_>],
    mut stored: HashMap<String, UserPresence>,
) -> (Occupancy, Vec<(String, UserPresence)>) {
    // Each user's state as stored, and as the changes leave it.
    let mut users: HashMap<&str, (UserPresence, UserPresence)> = HashMap::new();
    for change in changes {
        let (_, state) = match users.entry(change.user) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let before = stored.remove(change.user).unwrap_or_default();
                entry.insert((before.clone(), before))
            }
        };
        let was_present = state.is_present();
        change.apply(state);
        count(
            &mut occupancy,
            was_present,
            state.is_present(),
            change.at_ms,
        );
    }
    let mut changed: Vec<(String, UserPresence)> = users
        .into_iter()
        .filter(|(_, (before, after))| before != after)
        .map(|(user, (_, after))| (user.to_owned(), after))
        .collect();
    changed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    (occupancy, changed)
}

/// Keeps a room's [`Occupancy`] as its users come and go, in log order.
pub fn count(occupancy: &mut Occupancy, was_present: bool, is_present: bool, at_ms: i64) {
    match (was_present, is_present) {
        (false, true) => {
            occupancy.present += 1;
            occupancy.empty_since_ms = None;
        }
        (true, false) => {
            occupancy.present = occupancy.present.saturating_sub(1);
            if occupancy.present == 0 {
                occupancy.empty_since_ms = Some(at_ms);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::attendance::AttendanceBuilder;
    use crate::StoredEvent;

    use super::*;

    fn join(device: Option<u64>) -> Action {
        Action::Join { device, role: None }
    }

    fn quit(device: Option<u64>) -> Action {
        Action::Quit { device }
    }

    /// Applies `actions` (seq = position + 1, at = seq * 1000) to one user.
    fn fold(actions: &[Action]) -> UserPresence {
        let mut user = UserPresence::default();
        for (i, action) in actions.iter().enumerate() {
            let seq = i as u64 + 1;
            Change {
                user: "u",
                action: *action,
                at_ms: seq as i64 * 1000,
                seq,
            }
            .apply(&mut user);
        }
        user
    }

    fn devices(user: &UserPresence) -> Vec<u64> {
        user.sessions.keys().copied().collect()
    }

    #[test]
    fn a_second_join_on_an_open_device_is_a_reconnect() {
        let user = fold(&[join(Some(5)), join(Some(5))]);
        assert_eq!(devices(&user), vec![5]);
        assert_eq!(
            user.sessions[&5],
            Session {
                joined_ms: 1000,
                join_seq: 1
            },
            "the first join's session is kept"
        );
        assert!(!fold(&[join(Some(5)), join(Some(5)), quit(Some(5))]).is_present());
    }

    #[test]
    fn devices_are_separate_sessions() {
        let user = fold(&[join(Some(1)), join(Some(5))]);
        assert_eq!(devices(&user), vec![1, 5]);
        assert_eq!(user.arrival_seq(), Some(1));
        let user = fold(&[join(Some(1)), join(Some(5)), quit(Some(1))]);
        assert_eq!(devices(&user), vec![5]);
        assert_eq!(
            user.arrival_seq(),
            Some(2),
            "arrival moves to the open session"
        );
        assert_eq!(user.joined_ms(), Some(2000));
    }

    #[test]
    fn a_quit_with_an_unknown_device_closes_the_earliest_opened_session() {
        // Device 5 opened first although device 1 sorts first.
        let user = fold(&[join(Some(5)), join(Some(1)), quit(Some(7))]);
        assert_eq!(devices(&user), vec![1]);
        assert_eq!(
            devices(&fold(&[join(None), quit(Some(3))])),
            Vec::<u64>::new(),
            "a join without Device is device 0"
        );
    }

    #[test]
    fn a_quit_without_device_closes_everything() {
        let user = fold(&[join(Some(1)), join(Some(5)), join(None), quit(None)]);
        assert!(!user.is_present());
        assert_eq!(user, UserPresence::default(), "an absent user has no state");
    }

    #[test]
    fn a_quit_with_nothing_open_changes_nothing() {
        assert_eq!(fold(&[quit(Some(1))]), UserPresence::default());
        assert_eq!(fold(&[quit(None)]), UserPresence::default());
    }

    #[test]
    fn role_and_device_are_the_latest_reported_while_present() {
        let mut user = UserPresence::default();
        user.join(Some(5), Some(0), 1, 1);
        user.join(Some(5), Some(1), 2, 2);
        assert_eq!((user.role, user.device), (Some(1), Some(5)));
        user.join(Some(3), None, 3, 3);
        assert_eq!((user.role, user.device), (Some(1), Some(3)));
        user.quit(None);
        user.join(None, None, 4, 4);
        assert_eq!(
            (user.role, user.device),
            (None, None),
            "a new stay starts afresh"
        );
    }

    #[test]
    fn occupancy_counts_users_and_remembers_when_the_room_emptied() {
        let mut occ = Occupancy {
            present: 0,
            empty_since_ms: Some(1),
        };
        count(&mut occ, false, true, 10);
        assert_eq!((occ.present, occ.empty_since_ms), (1, None));
        count(&mut occ, true, true, 20);
        count(&mut occ, false, true, 30);
        count(&mut occ, true, false, 40);
        assert_eq!((occ.present, occ.empty_since_ms), (1, None));
        count(&mut occ, true, false, 50);
        assert_eq!((occ.present, occ.empty_since_ms), (0, Some(50)));
    }

    #[test]
    fn fold_returns_only_the_users_that_changed_in_name_order() {
        let mut v = UserPresence::default();
        v.join(Some(2), None, 5, 1);
        let stored = HashMap::from([("v".to_owned(), v.clone())]);
        let change = |user, action, seq| Change {
            user,
            action,
            at_ms: seq as i64 * 10,
            seq,
        };
        let changes = [
            change("w", join(Some(1)), 2),
            change("v", join(Some(2)), 3),
            change("x", quit(None), 4),
            change("a", join(None), 5),
        ];
        assert_eq!(users(&changes), vec!["a", "v", "w", "x"]);
        let occupancy = Occupancy {
            present: 1,
            empty_since_ms: None,
        };
        let (after, changed) = super::fold(occupancy, &changes, stored);
        let names: Vec<&str> = changed.iter().map(|(user, _)| user.as_str()).collect();
        assert_eq!(
            names,
            vec!["a", "w"],
            "a reconnect and a stray quit change nothing"
        );
        assert_eq!(after.present, 3);
    }

    #[test]
    fn sessions_are_stored_as_json_and_read_back() {
        let mut user = UserPresence::default();
        user.join(Some(5), Some(1), 1000, 7);
        user.join(None, None, 2000, 9);
        let json = user.sessions_json();
        assert_eq!(json, "[[0,2000,9],[5,1000,7]]");
        assert_eq!(
            UserPresence::from_stored(user.role, user.device, &json),
            Ok(user)
        );
        assert!(UserPresence::from_stored(None, None, "{").is_err());
    }

    /// A small deterministic generator (no extra dependency for one test).
    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Cross-check with the attendance fold in roomlog-core on random logs (reconnects, several
    /// devices, quits with unknown or no device, quits without joins): the most users present
    /// at once, as counted here, must be its `PeakMemberNumber`.
    #[test]
    fn agrees_with_the_attendance_fold_on_random_logs() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for round in 0..300 {
            let mut builder = AttendanceBuilder::new();
            let stored = |seq: u64, event_type: EventType, data: EventData| StoredEvent {
                room_id: 1,
                seq,
                event_id: format!("e{seq}"),
                event_type,
                timestamp_ms: seq as i64 * 1000,
                data,
            };
            builder.push(&stored(1, EventType::RoomStart, EventData::default()));
            let mut users: HashMap<String, UserPresence> = HashMap::new();
            // Empty since its creation, as the store starts every room.
            let mut occ = Occupancy {
                present: 0,
                empty_since_ms: Some(0),
            };
            let mut peak = 0;
            let length = 1 + rng.below(60);
            for seq in 2..length + 2 {
                let user = format!("u{}", rng.below(5));
                let device = match rng.below(4) {
                    0 => None,
                    _ => Some(rng.below(4)),
                };
                let (event_type, action) = if rng.below(2) == 0 {
                    (EventType::MemberJoin, join(device))
                } else {
                    (EventType::MemberQuit, quit(device))
                };
                builder.push(&stored(
                    seq,
                    event_type,
                    EventData {
                        user_id: Some(user.clone()),
                        device,
                        ..EventData::default()
                    },
                ));
                let state = users.entry(user.clone()).or_default();
                let was = state.is_present();
                Change {
                    user: &user,
                    action,
                    at_ms: seq as i64 * 1000,
                    seq,
                }
                .apply(state);
                count(&mut occ, was, state.is_present(), seq as i64 * 1000);
                peak = peak.max(occ.present);
            }
            let present = users.values().filter(|u| u.is_present()).count() as u64;
            assert_eq!(
                occ.present, present,
                "round {round}: the count is the users in"
            );
            assert_eq!(occ.empty_since_ms.is_some(), present == 0, "round {round}");
            builder.push(&stored(
                length + 2,
                EventType::RoomEnd,
                EventData::default(),
            ));
            let attendance = builder.finish(&Default::default(), &|_| None);
            assert_eq!(
                attendance.peak_member_number, peak,
                "round {round}: the peak must match the attendance fold's"
            );
        }
    }
}
