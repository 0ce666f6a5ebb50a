//! Event ingest rules: what a reporter may send (`validate_report`), which events of a batch a
//! room lacks ([`Batch`]), when a room takes them (`admit`, checked by the store inside the
//! transaction that records the events), and what recording them does ([`Batch::record`]).

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::error::DomainError;
use crate::event::{EventData, EventType, NewEvent};
use crate::lifecycle::{LifecyclePolicy, Recording};
use crate::presence::{self, UserPresence};
use crate::room::{check_user_id, Room, RoomStatus};
use crate::store::{AppendOutcome, KickBars, Written};

/// At most this many events per ReportRoomEvents call.
pub const MAX_BATCH: usize = 1000;
/// Reported timestamps may run at most this far ahead of the server's clock.
pub const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;

/// One element of ReportRoomEvents' `Events`, as typed by the protocol layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportedEvent {
    pub event_id: String,
    pub event_type: String,
    #[serde(default)]
    pub timestamp_ms: Option<u64>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub device: Option<u64>,
    #[serde(default)]
    pub role: Option<u64>,
    #[serde(default)]
    pub reason: Option<u64>,
    #[serde(default)]
    pub duration: Option<u64>,
    #[serde(default)]
    pub record_size: Option<u64>,
    #[serde(default)]
    pub record_url: Option<String>,
}

/// Validates a whole batch: the first invalid event rejects it, naming its index and field.
pub fn validate_batch(
    events: Vec<ReportedEvent>,
    now_ms: i64,
) -> Result<Vec<NewEvent>, DomainError> {
    if events.is_empty() || events.len() > MAX_BATCH {
        return Err(DomainError::invalid_value(format!(
            "Events must hold 1 to {MAX_BATCH} events, got {}.",
            events.len()
        )));
    }
    events
        .into_iter()
        .enumerate()
        .map(|(index, event)| validate_report(index, event, now_ms))
        .collect()
}

/// Validates one reported event against LCIC's per-type fields.
pub fn validate_report(
    index: usize,
    event: ReportedEvent,
    now_ms: i64,
) -> Result<NewEvent, DomainError> {
    let field = |name: &str| format!("Events.{index}.{name}");
    let bad = |name: &str, why: &str| DomainError::invalid_value(format!("{}: {why}", field(name)));

    let id_len = event.event_id.chars().count();
    if id_len == 0 || id_len > 128 {
        return Err(bad("EventId", "must be 1 to 128 characters long."));
    }
    if event.event_id.starts_with(NewEvent::RESERVED_ID_PREFIX) {
        return Err(bad("EventId", "the prefix `roomlog:` is reserved."));
    }
    let event_type: EventType = event.event_type.parse().map_err(|_| {
        bad(
            "EventType",
            &format!("unknown event type `{}`.", event.event_type),
        )
    })?;
    if event_type.is_lifecycle() {
        return Err(bad(
            "EventType",
            "RoomStart and RoomEnd are recorded by StartRoom and EndRoom, not reported.",
        ));
    }
    let timestamp_ms = match event.timestamp_ms {
        None => now_ms,
        Some(ts) => {
            let ts = i64::try_from(ts).map_err(|_| bad("TimestampMs", "out of range."))?;
            if ts > now_ms.saturating_add(MAX_FUTURE_MS) {
                return Err(bad(
                    "TimestampMs",
                    "is more than 5 minutes in the future (unix milliseconds expected).",
                ));
            }
            ts
        }
    };

    // Which optional fields each kind of event carries (lcic.md, EventDataInfo).
    let member = event_type.is_member();
    let allowed = |name: &str| -> bool {
        match name {
            "UserId" => member || event_type.is_media(),
            "Device" | "Role" => member,
            "Reason" => event_type == EventType::MemberQuit,
            "Duration" | "RecordSize" | "RecordUrl" => event_type == EventType::RecordFinish,
            _ => false,
        }
    };
    let present = [
        ("UserId", event.user_id.is_some()),
        ("Device", event.device.is_some()),
        ("Role", event.role.is_some()),
        ("Reason", event.reason.is_some()),
        ("Duration", event.duration.is_some()),
        ("RecordSize", event.record_size.is_some()),
        ("RecordUrl", event.record_url.is_some()),
    ];
    for (name, is_present) in present {
        if is_present && !allowed(name) {
            return Err(bad(
                name,
                &format!("does not apply to {event_type} events."),
            ));
        }
    }
    if (member || event_type.is_media()) && event.user_id.is_none() {
        return Err(bad(
            "UserId",
            &format!("is required for {event_type} events."),
        ));
    }
    if let Some(user_id) = &event.user_id {
        check_user_id(&field("UserId"), user_id)?;
    }
    if event.device.is_some_and(|d| d > 7) {
        return Err(bad("Device", "must be between 0 and 7."));
    }
    if event.role.is_some_and(|r| r > 3) {
        return Err(bad("Role", "must be between 0 and 3."));
    }
    if event
        .reason
        .is_some_and(|r| !matches!(r, 0 | 1 | 2 | 4 | 5))
    {
        return Err(bad("Reason", "must be 0, 1, 2, 4 or 5."));
    }
    if event.record_url.as_ref().is_some_and(|u| u.len() > 2048) {
        return Err(bad("RecordUrl", "must be at most 2048 bytes."));
    }

    Ok(NewEvent {
        event_id: event.event_id,
        event_type,
        timestamp_ms,
        data: EventData {
            user_id: event.user_id,
            device: event.device,
            role: event.role,
            reason: event.reason,
            duration: event.duration,
            record_size: event.record_size,
            record_url: event.record_url,
        },
    })
}

/// Whether `room` takes `events` now. The store calls this inside the transaction that records
/// them, with the room as locked there and only the events not already recorded, so a retried
/// batch that was acknowledged before the class ended still answers with its duplicates.
pub fn admit(
    room: &Room,
    events: &[NewEvent],
    bars: &KickBars,
    now_ms: i64,
    retention_ms: i64,
) -> Result<(), DomainError> {
    if room.events_expired(now_ms, retention_ms) {
        return Err(events_expired(room, retention_ms));
    }
    // A kicked user may not come back while the bar lasts.
    for (index, event) in events.iter().enumerate() {
        if event.event_type != EventType::MemberJoin {
            continue;
        }
        let Some(user) = event.data.user_id.as_deref() else {
            continue;
        };
        let until = match bars.get(user) {
            Some(None) => "permanently".to_owned(),
            Some(Some(until)) if *until > now_ms => {
                format!("until unix time {}", until.div_euclid(1000))
            }
            _ => continue,
        };
        return Err(DomainError::new(
            USER_KICKED,
            format!(
                "Events.{index}: user `{user}` was removed from room {} and may not rejoin {until}.",
                room.room_id
            ),
        ));
    }
    let closed = match room.status {
        RoomStatus::NotStarted | RoomStatus::InClass => return Ok(()),
        RoomStatus::Ended | RoomStatus::Expired => room.status.conflict(),
    };
    // Recordings finish after class: RecordFinish is taken until the room's events expire.
    match events.iter().position(|e| e.event_type != EventType::RecordFinish) {
        Some(index) => Err(DomainError::new(
            closed.code,
            format!(
                "{} Events.{index} ({}) can no longer be reported; only RecordFinish is accepted after the class.",
                closed.message, events[index].event_type
            ),
        )),
        None => Ok(()),
    }
}

/// Each event id of `events` once, in order: the ids a store looks up in the room.
pub fn distinct_ids(events: &[NewEvent]) -> Vec<&str> {
    let mut seen = HashSet::with_capacity(events.len());
    events
        .iter()
        .map(|e| e.event_id.as_str())
        .filter(|id| seen.insert(*id))
        .collect()
}

/// A reported batch as a room takes it: the events whose ids it does not have yet, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub fresh: Vec<NewEvent>,
    /// Events whose id the room already had, or that repeated an id earlier in the batch.
    pub duplicates: u64,
}

impl Batch {
    /// Drops the events whose id the room has (`known`, asked once per distinct id) and those
    /// repeating an id earlier in the batch: a retried batch is answered with its duplicates,
    /// never recorded twice.
    pub fn new<E>(
        events: Vec<NewEvent>,
        mut known: impl FnMut(&str) -> Result<bool, E>,
    ) -> Result<Batch, E> {
        let total = events.len() as u64;
        let mut seen: HashSet<&str> = HashSet::with_capacity(events.len());
        let mut keep = Vec::with_capacity(events.len());
        for event in &events {
            keep.push(seen.insert(&event.event_id) && !known(&event.event_id)?);
        }
        let fresh: Vec<NewEvent> = events
            .into_iter()
            .zip(keep)
            .filter_map(|(event, keep)| keep.then_some(event))
            .collect();
        let duplicates = total - fresh.len() as u64;
        Ok(Batch { fresh, duplicates })
    }

    /// The answer when the batch holds nothing new: nothing to record, so nothing to admit (a
    /// retry of a batch acknowledged before the class ended must still succeed), and nothing
    /// changed.
    pub fn nothing_new(&self, room: &Room) -> Option<Written<AppendOutcome>> {
        self.fresh.is_empty().then(|| {
            Written::unchanged(AppendOutcome {
                accepted: 0,
                duplicates: self.duplicates,
                last_seq: room.last_seq,
            })
        })
    }

    /// The users the batch lets in (its MemberJoins), each once: whose kick bars `admit` needs.
    pub fn joining_users(&self) -> Vec<&str> {
        let mut users: Vec<&str> = self
            .fresh
            .iter()
            .filter(|e| e.event_type == EventType::MemberJoin)
            .filter_map(|e| e.data.user_id.as_deref())
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// The users whose presence the batch changes, each once: whose stored presence
    /// [`Batch::record`] needs.
    pub fn member_users(&self) -> Vec<&str> {
        presence::users(&presence::changes(0, &self.fresh))
    }

    /// Records the (admitted) batch in `room`: numbered after its last event, presence folded
    /// from its member events (`stored`: the presence of [`Batch::member_users`]).
    pub fn record(
        self,
        room: Room,
        stored: HashMap<String, UserPresence>,
        policy: &LifecyclePolicy,
    ) -> (Recording, AppendOutcome) {
        let accepted = self.fresh.len() as u64;
        let changes = presence::changes(room.last_seq + 1, &self.fresh);
        let presence =
            (!changes.is_empty()).then(|| presence::fold(room.occupancy, &changes, stored));
        drop(changes);
        let recording = Recording::logged(room, self.fresh, presence, policy);
        let outcome = AppendOutcome {
            accepted,
            duplicates: self.duplicates,
            last_seq: recording.room.last_seq,
        };
        (recording, outcome)
    }
}

/// The code refusing a MemberJoin of a user barred by KickUserFromRoom (roomlog's choice).
pub const USER_KICKED: &str = "FailedOperation.UserKicked";

/// GetRoomEvent's (and ingest's) answer once a room's events are past retention.
pub fn events_expired(room: &Room, retention_ms: i64) -> DomainError {
    let when = room
        .events_expire_at_ms(retention_ms)
        .map(|ms| format!(" at unix time {}", ms.div_euclid(1000)))
        .unwrap_or_default();
    DomainError::failed(format!(
        "The events of room {} expired{when}: they are kept for the retention period after the class ends.",
        room.room_id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn join(id: &str) -> ReportedEvent {
        ReportedEvent {
            event_id: id.into(),
            event_type: "MemberJoin".into(),
            user_id: Some("u1".into()),
            device: Some(5),
            role: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_timestamp_to_receipt_time() {
        let e = validate_report(0, join("a"), NOW).unwrap();
        assert_eq!(e.timestamp_ms, NOW);
        assert_eq!(e.event_type, EventType::MemberJoin);
    }

    #[test]
    fn rejections_name_index_and_field() {
        let mut future = join("a");
        future.timestamp_ms = Some((NOW + MAX_FUTURE_MS + 1) as u64);
        let mut no_user = join("a");
        no_user.user_id = None;
        let mut lifecycle = join("a");
        lifecycle.event_type = "RoomEnd".into();
        let mut stray = join("a");
        stray.duration = Some(3);
        let mut reserved = join("roomlog:x");
        reserved.event_id = "roomlog:x".into();
        let cases = [
            (future, "Events.3.TimestampMs"),
            (no_user, "Events.3.UserId"),
            (lifecycle, "Events.3.EventType"),
            (stray, "Events.3.Duration"),
            (reserved, "Events.3.EventId"),
            (join(""), "Events.3.EventId"),
            (join(&"x".repeat(129)), "Events.3.EventId"),
        ];
        for (event, field) in cases {
            let err = validate_report(3, event, NOW).unwrap_err();
            assert_eq!(err.code, "InvalidParameterValue");
            assert!(err.message.contains(field), "{} lacks {field}", err.message);
        }
    }

    #[test]
    fn batch_is_all_or_nothing() {
        let mut bad = join("b");
        bad.event_type = "Nope".into();
        let err = validate_batch(vec![join("a"), bad], NOW).unwrap_err();
        assert!(err.message.contains("Events.1.EventType"));
        assert!(validate_batch(vec![], NOW).is_err());
        assert!(validate_batch(vec![join("a"); MAX_BATCH + 1], NOW).is_err());
        assert_eq!(
            validate_batch(vec![join("a"); MAX_BATCH], NOW)
                .unwrap()
                .len(),
            MAX_BATCH
        );
    }

    #[test]
    fn kicked_users_cannot_rejoin_while_barred() {
        let room = Room {
            room_id: 9,
            sdk_app_id: 1,
            account_id: 1,
            spec: crate::room::RoomSpec::default(),
            status: RoomStatus::InClass,
            real_start_ms: Some(NOW - 1000),
            real_end_ms: None,
            created_at: 0,
            last_seq: 3,
            events_purged: false,
            occupancy: Default::default(),
        };
        let joining = vec![validate_report(0, join("a"), NOW).unwrap()];
        let mut bars = KickBars::new();
        assert_eq!(admit(&room, &joining, &bars, NOW, 1000), Ok(()));
        bars.insert("u1".into(), Some(NOW + 1));
        let err = admit(&room, &joining, &bars, NOW, 1000).unwrap_err();
        assert_eq!(err.code, USER_KICKED);
        assert!(err.message.contains("`u1`"), "{}", err.message);
        bars.insert("u1".into(), Some(NOW));
        assert_eq!(
            admit(&room, &joining, &bars, NOW, 1000),
            Ok(()),
            "the bar lapsed"
        );
        bars.insert("u1".into(), None);
        assert!(admit(&room, &joining, &bars, NOW + 10_000_000, 1000).is_err());
        // Media events of a kicked user are not refused (they may be late reports).
        let mut mic = join("m");
        mic.event_type = "MicOn".into();
        mic.device = None;
        mic.role = None;
        let media = vec![validate_report(0, mic, NOW).unwrap()];
        assert_eq!(admit(&room, &media, &bars, NOW, 1000), Ok(()));
    }

    fn reported(id: &str, event_type: EventType, user: &str) -> NewEvent {
        NewEvent {
            event_id: id.into(),
            event_type,
            timestamp_ms: NOW,
            data: EventData {
                user_id: Some(user.into()),
                ..Default::default()
            },
        }
    }

    fn in_class(last_seq: u64) -> Room {
        let mut room = Room::created(1, 1, crate::room::RoomSpec::default(), 0);
        room.status = RoomStatus::InClass;
        room.last_seq = last_seq;
        room
    }

    fn ids(events: &[NewEvent]) -> Vec<&str> {
        events.iter().map(|e| e.event_id.as_str()).collect()
    }

    #[test]
    fn a_batch_keeps_the_first_of_each_id_the_room_lacks() {
        let batch = vec![
            reported("a", EventType::MicOn, "u"),
            reported("b", EventType::MicOn, "u"),
            reported("a", EventType::MicOff, "u"),
            reported("c", EventType::MicOn, "u"),
            reported("b", EventType::MicOff, "u"),
        ];
        assert_eq!(distinct_ids(&batch), vec!["a", "b", "c"]);
        let mut asked = Vec::new();
        let batch = Batch::new(batch, |id| {
            asked.push(id.to_owned());
            Ok::<_, ()>(id == "b")
        })
        .unwrap();
        assert_eq!(
            asked,
            vec!["a", "b", "c"],
            "each distinct id is looked up once"
        );
        assert_eq!(ids(&batch.fresh), vec!["a", "c"]);
        assert_eq!(batch.fresh[0].event_type, EventType::MicOn, "the first one");
        assert_eq!(batch.duplicates, 3);
        assert_eq!(batch.nothing_new(&in_class(7)), None);

        let retry = Batch::new(vec![reported("a", EventType::MicOn, "u")], |_| {
            Ok::<_, ()>(true)
        })
        .unwrap();
        assert_eq!(
            retry.nothing_new(&in_class(7)),
            Some(Written::unchanged(AppendOutcome {
                accepted: 0,
                duplicates: 1,
                last_seq: 7
            }))
        );
        let failed = Batch::new(vec![reported("a", EventType::MicOn, "u")], |_| Err("io"));
        assert_eq!(failed.unwrap_err(), "io");
    }

    #[test]
    fn recording_numbers_after_the_last_seq_and_moves_only_the_seq_without_member_events() {
        let policy = LifecyclePolicy::default();
        let media = vec![
            reported("a", EventType::MicOn, "u"),
            reported("b", EventType::CameraOn, "v"),
        ];
        let batch = Batch::new(media, |_| Ok::<_, ()>(false)).unwrap();
        assert!(batch.joining_users().is_empty() && batch.member_users().is_empty());
        let (rec, outcome) = batch.record(in_class(7), HashMap::new(), &policy);
        let seqs: Vec<u64> = rec.numbered().map(|(seq, _)| seq).collect();
        assert_eq!(seqs, vec![8, 9]);
        assert_eq!(rec.room_write, crate::lifecycle::RoomWrite::LastSeq);
        assert_eq!(rec.presence, presence::PresenceWrite::Unchanged);
        assert_eq!(
            outcome,
            AppendOutcome {
                accepted: 2,
                duplicates: 0,
                last_seq: 9
            }
        );
    }

    #[test]
    fn recording_folds_member_events_into_the_stored_presence() {
        let policy = LifecyclePolicy::default();
        let mut room = in_class(2);
        room.occupancy = crate::room::Occupancy {
            present: 1,
            empty_since_ms: None,
        };
        let mut u = UserPresence::default();
        u.join(Some(1), None, NOW - 10, 1);
        let events = vec![
            reported("j", EventType::MemberJoin, "v"),
            reported("m", EventType::MicOn, "v"),
            reported("q", EventType::MemberQuit, "u"),
            reported("j2", EventType::MemberJoin, "v"),
        ];
        let batch = Batch::new(events, |_| Ok::<_, ()>(false)).unwrap();
        assert_eq!(batch.joining_users(), vec!["v"]);
        assert_eq!(batch.member_users(), vec!["u", "v"]);
        let stored = HashMap::from([("u".to_owned(), u)]);
        let (rec, outcome) = batch.record(room, stored, &policy);
        assert_eq!(outcome.last_seq, 6);
        let presence::PresenceWrite::Users(users) = &rec.presence else {
            panic!("{:?}", rec.presence);
        };
        let names: Vec<&str> = users.iter().map(|(user, _)| user.as_str()).collect();
        assert_eq!(names, vec!["u", "v"], "in name order");
        assert!(!users[0].1.is_present());
        assert_eq!(users[1].1.arrival_seq(), Some(3), "v joined at seq 3");
        assert_eq!(rec.room.occupancy.present, 1);
        assert_eq!(rec.room_write, crate::lifecycle::RoomWrite::Presence);
    }

    /// On random batches against random stored ids: every event is either recorded or a
    /// duplicate, recorded ids are distinct and new, the batch's order is kept, and seqs are
    /// dense after the room's last.
    #[test]
    fn batches_split_exactly_on_random_input() {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut below = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let policy = LifecyclePolicy::default();
        for round in 0..500 {
            let known: HashSet<String> = (0..below(6)).map(|_| format!("e{}", below(8))).collect();
            let events: Vec<NewEvent> = (0..1 + below(12))
                .map(|_| reported(&format!("e{}", below(8)), EventType::MicOn, "u"))
                .collect();
            let total = events.len() as u64;
            let order: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
            let batch = Batch::new(events, |id| Ok::<_, ()>(known.contains(id))).unwrap();
            let fresh = ids(&batch.fresh);
            let distinct: HashSet<&str> = fresh.iter().copied().collect();
            assert_eq!(distinct.len(), fresh.len(), "round {round}");
            assert!(fresh.iter().all(|id| !known.contains(*id)), "round {round}");
            let expected: Vec<&str> = distinct_ids_of(&order)
                .into_iter()
                .filter(|id| !known.contains(*id))
                .collect();
            assert_eq!(fresh, expected, "round {round}");
            let last_seq = below(100);
            let (rec, outcome) = batch.record(in_class(last_seq), HashMap::new(), &policy);
            assert_eq!(
                outcome.accepted + outcome.duplicates,
                total,
                "round {round}"
            );
            let seqs: Vec<u64> = rec.numbered().map(|(seq, _)| seq).collect();
            let dense: Vec<u64> = (last_seq + 1..=last_seq + outcome.accepted).collect();
            assert_eq!(seqs, dense, "round {round}");
            assert_eq!(outcome.last_seq, last_seq + outcome.accepted);
        }
    }

    fn distinct_ids_of(ids: &[String]) -> Vec<&str> {
        let mut seen = HashSet::new();
        ids.iter()
            .map(String::as_str)
            .filter(|id| seen.insert(*id))
            .collect()
    }
}
