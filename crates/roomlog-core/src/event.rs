//! The per-room event log's records.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::room::RoomId;

/// Every event type LCIC reports (and every valid `Keyword` of GetRoomEvent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    RoomStart,
    RoomEnd,
    MemberJoin,
    MemberQuit,
    RecordFinish,
    CameraOn,
    CameraOff,
    MicOn,
    MicOff,
    ScreenOn,
    ScreenOff,
    VisibleOn,
    VisibleOff,
}

impl EventType {
    pub const ALL: [EventType; 13] = [
        EventType::RoomStart,
        EventType::RoomEnd,
        EventType::MemberJoin,
        EventType::MemberQuit,
        EventType::RecordFinish,
        EventType::CameraOn,
        EventType::CameraOff,
        EventType::MicOn,
        EventType::MicOff,
        EventType::ScreenOn,
        EventType::ScreenOff,
        EventType::VisibleOn,
        EventType::VisibleOff,
    ];

    /// The stable stored code (`events.event_type`, the same in every backend; the SQLite
    /// store's `event_types` table documents them). Never renumber: rows on disk carry these.
    pub fn code(self) -> i64 {
        match self {
            EventType::RoomStart => 1,
            EventType::RoomEnd => 2,
            EventType::MemberJoin => 3,
            EventType::MemberQuit => 4,
            EventType::RecordFinish => 5,
            EventType::CameraOn => 6,
            EventType::CameraOff => 7,
            EventType::MicOn => 8,
            EventType::MicOff => 9,
            EventType::ScreenOn => 10,
            EventType::ScreenOff => 11,
            EventType::VisibleOn => 12,
            EventType::VisibleOff => 13,
        }
    }

    pub fn from_code(code: i64) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RoomStart => "RoomStart",
            EventType::RoomEnd => "RoomEnd",
            EventType::MemberJoin => "MemberJoin",
            EventType::MemberQuit => "MemberQuit",
            EventType::RecordFinish => "RecordFinish",
            EventType::CameraOn => "CameraOn",
            EventType::CameraOff => "CameraOff",
            EventType::MicOn => "MicOn",
            EventType::MicOff => "MicOff",
            EventType::ScreenOn => "ScreenOn",
            EventType::ScreenOff => "ScreenOff",
            EventType::VisibleOn => "VisibleOn",
            EventType::VisibleOff => "VisibleOff",
        }
    }

    /// RoomStart and RoomEnd: recorded only by StartRoom/EndRoom, never reported.
    pub fn is_lifecycle(self) -> bool {
        matches!(self, EventType::RoomStart | EventType::RoomEnd)
    }

    /// MemberJoin and MemberQuit.
    pub fn is_member(self) -> bool {
        matches!(self, EventType::MemberJoin | EventType::MemberQuit)
    }

    /// Camera, mic, screen and visibility toggles.
    pub fn is_media(self) -> bool {
        matches!(
            self,
            EventType::CameraOn
                | EventType::CameraOff
                | EventType::MicOn
                | EventType::MicOff
                | EventType::ScreenOn
                | EventType::ScreenOff
                | EventType::VisibleOn
                | EventType::VisibleOff
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventType(pub String);

impl fmt::Display for UnknownEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event type `{}`", self.0)
    }
}

impl std::error::Error for UnknownEventType {}

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

/// The optional per-type fields of an event (LCIC's `EventDataInfo` minus `RoomId`).
/// Absent fields are omitted when serialised, as LCIC does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_url: Option<String>,
}

/// An event about to be recorded: validated, not yet sequenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The reporter's idempotency key, unique per room.
    pub event_id: String,
    pub event_type: EventType,
    /// Unix milliseconds.
    pub timestamp_ms: i64,
    pub data: EventData,
}

impl NewEvent {
    /// Event ids with this prefix are reserved for events roomlog records itself.
    pub const RESERVED_ID_PREFIX: &'static str = "roomlog:";

    /// The RoomStart or RoomEnd recorded by StartRoom/EndRoom.
    pub fn lifecycle(event_type: EventType, timestamp_ms: i64) -> Self {
        debug_assert!(event_type.is_lifecycle());
        Self {
            event_id: format!("{}{}", Self::RESERVED_ID_PREFIX, event_type.as_str()),
            event_type,
            timestamp_ms,
            data: EventData::default(),
        }
    }
}

/// An event as recorded in a room's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub room_id: RoomId,
    /// Dense per-room sequence number, from 1, assigned at commit.
    pub seq: u64,
    pub event_id: String,
    pub event_type: EventType,
    /// Unix milliseconds.
    pub timestamp_ms: i64,
    pub data: EventData,
}

impl StoredEvent {
    /// LCIC's `EventInfo`, as GetRoomEvent shows it and callbacks send it: `Timestamp` in
    /// seconds, `EventData` with `RoomId` first and absent fields omitted.
    pub fn event_info(&self) -> serde_json::Value {
        let mut data = serde_json::Map::new();
        data.insert("RoomId".into(), self.room_id.into());
        if let Ok(serde_json::Value::Object(rest)) = serde_json::to_value(&self.data) {
            data.extend(rest);
        }
        serde_json::json!({
            "Timestamp": crate::time::ms_to_secs(self.timestamp_ms),
            "EventType": self.event_type.as_str(),
            "EventData": data,
        })
    }

    /// [`StoredEvent::event_info`] written straight as JSON text: the same bytes
    /// `serde_json::to_writer(out, &self.event_info())` writes, without building the value.
    pub fn write_event_info(&self, out: &mut Vec<u8>) {
        self.as_ref().write_event_info(out);
    }

    /// The event's fields, borrowed.
    pub fn as_ref(&self) -> EventRef<'_> {
        let data = &self.data;
        EventRef {
            room_id: self.room_id,
            seq: self.seq,
            event_id: &self.event_id,
            event_type: self.event_type,
            timestamp_ms: self.timestamp_ms,
            user_id: data.user_id.as_deref(),
            device: data.device,
            role: data.role,
            reason: data.reason,
            duration: data.duration,
            record_size: data.record_size,
            record_url: data.record_url.as_deref(),
        }
    }
}

/// A stored event's fields, borrowed: a backend renders its rows through this without copying
/// their text into a [`StoredEvent`] first (GetRoomEvent renders 100 per page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub room_id: RoomId,
    pub seq: u64,
    pub event_id: &'a str,
    pub event_type: EventType,
    /// Unix milliseconds.
    pub timestamp_ms: i64,
    pub user_id: Option<&'a str>,
    pub device: Option<u64>,
    pub role: Option<u64>,
    pub reason: Option<u64>,
    pub duration: Option<u64>,
    pub record_size: Option<u64>,
    pub record_url: Option<&'a str>,
}

impl EventRef<'_> {
    /// [`StoredEvent::event_info`] written as JSON text (the same bytes as serialising it).
    pub fn write_event_info(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        self.write_event_info_members(out);
        out.push(b'}');
    }

    /// The members of [`EventRef::write_event_info`]'s object without the braces, so a caller
    /// can append members of its own: `"Timestamp":..,"EventType":"..","EventData":{..}`.
    pub fn write_event_info_members(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"Timestamp\":");
        write_json(out, &crate::time::ms_to_secs(self.timestamp_ms));
        // Type names are plain ASCII identifiers: nothing to escape.
        out.extend_from_slice(b",\"EventType\":\"");
        out.extend_from_slice(self.event_type.as_str().as_bytes());
        out.extend_from_slice(b"\",\"EventData\":{\"RoomId\":");
        write_json(out, &self.room_id);
        // In `EventData`'s field order, absent fields omitted (its `skip_serializing_if`).
        if let Some(user_id) = self.user_id {
            write_member(out, "UserId", user_id);
        }
        let numbers = [
            ("Device", self.device),
            ("Role", self.role),
            ("Reason", self.reason),
            ("Duration", self.duration),
            ("RecordSize", self.record_size),
        ];
        for (name, value) in numbers {
            if let Some(value) = value {
                write_member(out, name, &value);
            }
        }
        if let Some(url) = self.record_url {
            write_member(out, "RecordUrl", url);
        }
        out.push(b'}');
    }
}

/// `,"name":value` (names are plain ASCII identifiers: no escaping needed).
fn write_member<T: Serialize + ?Sized>(out: &mut Vec<u8>, name: &str, value: &T) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    write_json(out, value);
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Strings and integers always serialise.
    serde_json::to_writer(out, value).expect("serialising a string or an integer cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn event_type_codes_are_fixed_and_round_trip() {
        let codes: Vec<i64> = EventType::ALL.into_iter().map(EventType::code).collect();
        // Rows on disk and the `event_types` table carry exactly these.
        assert_eq!(codes, (1..=13).collect::<Vec<i64>>());
        for t in EventType::ALL {
            assert_eq!(EventType::from_code(t.code()), Some(t));
        }
        assert_eq!(EventType::from_code(0), None);
        assert_eq!(EventType::from_code(14), None);
    }

    fn arb_text() -> impl Strategy<Value = Option<String>> {
        // Quotes, backslashes, control characters and non-ASCII: everything JSON escapes.
        proptest::option::of("[a-z\"\\\\\u{0}-\u{1f}\u{7f}é😀/ ]{0,12}")
    }

    prop_compose! {
        fn arb_stored_event()(
            room_id in any::<u64>(),
            seq in any::<u64>(),
            event_id in "[ -~]{0,10}",
            kind in 0..EventType::ALL.len(),
            timestamp_ms in any::<i64>(),
            user_id in arb_text(),
            device in proptest::option::of(any::<u64>()),
            role in proptest::option::of(any::<u64>()),
            reason in proptest::option::of(any::<u64>()),
            duration in proptest::option::of(any::<u64>()),
            record_size in proptest::option::of(any::<u64>()),
            record_url in arb_text(),
        ) -> StoredEvent {
            StoredEvent {
                room_id, seq, event_id, event_type: EventType::ALL[kind], timestamp_ms,
                data: EventData { user_id, device, role, reason, duration, record_size, record_url },
            }
        }
    }

    proptest! {
        /// The direct writer produces exactly the bytes of serialising `event_info()`.
        #[test]
        fn written_event_info_is_byte_identical(event in arb_stored_event()) {
            let expected = serde_json::to_vec(&event.event_info()).unwrap();
            let mut written = Vec::new();
            event.write_event_info(&mut written);
            prop_assert_eq!(String::from_utf8(written).unwrap(), String::from_utf8(expected).unwrap());
        }
    }

    #[test]
    fn event_types_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
        }
        assert!("memberjoin".parse::<EventType>().is_err());
    }
}
