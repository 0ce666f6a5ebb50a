//! Attendance derived from a room's event log (DescribeRoomStatistics).
//!
//! The log keeps every reported event, odd ones included; this fold tolerates them:
//! - Presence is per (user, device): a MemberJoin opens that device's session (a second join on
//!   an open device is a reconnect and changes nothing); a MemberQuit with a Device closes that
//!   device (or, if that device is not open, the user's earliest-opened one); a MemberQuit
//!   without a Device closes all the user's sessions; a quit with nothing open changes nothing.
//! - A user is present while any of their devices is; `PresentTime` is the union of their
//!   sessions clipped to the class (RealStartTime..RealEndTime), so overlapping devices are not
//!   counted twice and time before the class started is not counted. Sessions still open at the
//!   end are closed by the RoomEnd.
//! - State follows log order; durations use the events' timestamps (an interval whose end comes
//!   before its start counts as empty).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::event::{EventType, StoredEvent};

/// `CurrentState` values of a member record.
pub mod state {
    pub const ABSENT: u64 = 0;
    pub const OFFLINE: u64 = 2;
    pub const KICKED: u64 = 3;
    pub const KICKED_PERMANENTLY: u64 = 4;
}

/// One member's attendance, with LCIC's `MemberRecord` field names. Fields roomlog has no
/// source for (answers, hand-ups, rewards, messages, IP, location) are always 0 or empty.
// `default`: attendance is stored; a field added later must not make old records unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MemberRecord {
    pub user_id: String,
    pub user_name: String,
    /// Seconds present during the class.
    pub present_time: u64,
    pub camera: u64,
    pub mic: u64,
    pub silence: u64,
    pub answer_questions: u64,
    pub hand_ups: u64,
    /// Unix seconds (0 if never joined).
    pub first_join_timestamp: u64,
    /// Unix seconds (0 if never quit).
    pub last_quit_timestamp: u64,
    pub rewords: u64,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    pub location: String,
    pub device: i64,
    pub per_member_mic_count: u64,
    pub per_member_message_count: u64,
    pub role: u64,
    pub group_id: String,
    pub sub_group_id: Vec<String>,
    pub stage: u64,
    pub current_state: u64,
}

/// A room's attendance, computed once when its class ends and stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomAttendance {
    /// The most users present at once during the class.
    pub peak_member_number: u64,
    /// Distinct users who came (joined at least once).
    pub member_number: u64,
    /// Unix seconds.
    pub real_start_time: u64,
    /// Unix seconds.
    pub real_end_time: u64,
    /// Members who came, then expected ones (teacher, assistants) who did not, each group in
    /// order of first appearance.
    pub records: Vec<MemberRecord>,
}

/// Who the class expected: the teacher and assistants, listed even if they never came.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub teacher_id: Option<String>,
    pub assistants: Vec<String>,
}

#[derive(Debug, Default)]
struct Member {
    order: usize,
    /// Open sessions: device -> (join time ms, join order) — the order picks the earliest.
    open: BTreeMap<u64, (i64, u64)>,
    /// Closed sessions, unclipped (start ms, end ms).
    sessions: Vec<(i64, i64)>,
    joined: bool,
    first_join_ms: Option<i64>,
    last_quit_ms: Option<i64>,
    last_quit_reason: Option<u64>,
    role: Option<u64>,
    device: Option<u64>,
    camera: bool,
    mic: bool,
}

/// Folds a room's log, in sequence order, into its attendance.
#[derive(Debug, Default)]
pub struct AttendanceBuilder {
    members: HashMap<String, Member>,
    next_order: usize,
    join_counter: u64,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    in_class: bool,
    present_users: u64,
    peak: u64,
}

impl AttendanceBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed events in log order.
    pub fn push(&mut self, event: &StoredEvent) {
        let ts = event.timestamp_ms;
        match event.event_type {
            EventType::RoomStart => {
                self.start_ms = Some(ts);
                self.in_class = true;
                self.peak = self.peak.max(self.present_users);
            }
            EventType::RoomEnd => {
                self.end_ms = Some(ts);
                self.in_class = false;
                for member in self.members.values_mut() {
                    for (_, (start, _)) in std::mem::take(&mut member.open) {
                        member.sessions.push((start, ts));
                    }
                }
                self.present_users = 0;
            }
            EventType::MemberJoin | EventType::MemberQuit => {
                let Some(user) = event.data.user_id.as_deref() else {
                    return;
                };
                let was_present = self.member(user).is_present();
                let order = self.join_counter;
                self.join_counter += 1;
                let member = self.member(user);
                if let Some(role) = event.data.role {
                    member.role = Some(role);
                }
                if let Some(device) = event.data.device {
                    member.device = Some(device);
                }
                if event.event_type == EventType::MemberJoin {
                    member.joined = true;
                    member.first_join_ms = Some(member.first_join_ms.map_or(ts, |t| t.min(ts)));
                    member
                        .open
                        .entry(event.data.device.unwrap_or(0))
                        .or_insert((ts, order));
                } else {
                    member.last_quit_ms = Some(member.last_quit_ms.map_or(ts, |t| t.max(ts)));
                    member.last_quit_reason = Some(event.data.reason.unwrap_or(0));
                    member.close(event.data.device, ts);
                }
                let is_present = member.is_present();
                match (was_present, is_present) {
                    (false, true) => self.present_users += 1,
                    (true, false) => self.present_users -= 1,
                    _ => {}
                }
                if self.in_class {
                    self.peak = self.peak.max(self.present_users);
                }
            }
            EventType::CameraOn | EventType::MicOn => {
                let Some(user) = event.data.user_id.as_deref() else {
                    return;
                };
                let member = self.member(user);
                if event.event_type == EventType::CameraOn {
                    member.camera = true;
                } else {
                    member.mic = true;
                }
            }
            _ => {}
        }
    }

    /// Every user the log mentions (to look their names up before `finish`).
    pub fn user_ids(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }

    fn member(&mut self, user: &str) -> &mut Member {
        if !self.members.contains_key(user) {
            let order = self.next_order;
            self.next_order += 1;
            self.members.insert(
                user.to_owned(),
                Member {
                    order,
                    ..Member::default()
                },
            );
        }
        self.members.get_mut(user).expect("inserted above")
    }

    /// The attendance once the log is complete. `names` gives registered users' names.
    pub fn finish(
        mut self,
        expected: &Expected,
        names: &dyn Fn(&str) -> Option<String>,
    ) -> RoomAttendance {
        let start = self.start_ms.unwrap_or(0);
        let end = self.end_ms.unwrap_or(start);
        // Sessions still open (no RoomEnd in the log) end where the class does.
        for member in self.members.values_mut() {
            for (_, (s, _)) in std::mem::take(&mut member.open) {
                member.sessions.push((s, end));
            }
        }
        let mut came: Vec<(&String, &Member)> =
            self.members.iter().filter(|(_, m)| m.joined).collect();
        came.sort_by_key(|(_, m)| m.order);
        let mut records: Vec<MemberRecord> = came
            .iter()
            .map(|(user, m)| MemberRecord {
                user_id: (*user).clone(),
                user_name: names(user).unwrap_or_default(),
                present_time: (union_clipped_ms(&m.sessions, start, end) / 1000) as u64,
                camera: m.camera as u64,
                mic: m.mic as u64,
                stage: m.mic as u64,
                first_join_timestamp: secs(m.first_join_ms),
                last_quit_timestamp: secs(m.last_quit_ms),
                device: m.device.map_or(0, |d| d as i64),
                role: m.role.unwrap_or(0),
                current_state: match m.last_quit_reason {
                    Some(1) => state::KICKED,
                    Some(2) => state::KICKED_PERMANENTLY,
                    _ => state::OFFLINE,
                },
                ..MemberRecord::default()
            })
            .collect();
        let member_number = records.len() as u64;
        let expected_users = expected
            .teacher_id
            .iter()
            .map(|t| (t, 1u64))
            .chain(expected.assistants.iter().map(|a| (a, 2u64)));
        for (user, role) in expected_users {
            if !records.iter().any(|r| &r.user_id == user) {
                records.push(MemberRecord {
                    user_id: user.clone(),
                    user_name: names(user).unwrap_or_default(),
                    role,
                    current_state: state::ABSENT,
                    ..MemberRecord::default()
                });
            }
        }
        RoomAttendance {
            peak_member_number: self.peak,
            member_number,
            real_start_time: secs(self.start_ms),
            real_end_time: secs(self.end_ms),
            records,
        }
    }
}

impl Member {
    fn is_present(&self) -> bool {
        !self.open.is_empty()
    }

    fn close(&mut self, device: Option<u64>, at: i64) {
        let closing: Vec<u64> = match device {
            None => self.open.keys().copied().collect(),
            Some(d) if self.open.contains_key(&d) => vec![d],
            Some(_) => self
                .open
                .iter()
                .min_by_key(|(_, (_, order))| *order)
                .map(|(d, _)| vec![*d])
                .unwrap_or_default(),
        };
        for d in closing {
            if let Some((start, _)) = self.open.remove(&d) {
                self.sessions.push((start, at));
            }
        }
    }
}

fn secs(ms: Option<i64>) -> u64 {
    ms.map_or(0, |ms| ms.div_euclid(1000).max(0) as u64)
}

/// Total length of the union of `sessions`, each clipped to `[start, end]`, in ms.
pub fn union_clipped_ms(sessions: &[(i64, i64)], start: i64, end: i64) -> i64 {
    let mut clipped: Vec<(i64, i64)> = sessions
        .iter()
        .map(|&(s, e)| (s.max(start), e.min(end)))
        .filter(|(s, e)| s < e)
        .collect();
    clipped.sort_unstable();
    let mut total = 0;
    let mut current: Option<(i64, i64)> = None;
    for (s, e) in clipped {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total
}

#[cfg(test)]
mod tests;
