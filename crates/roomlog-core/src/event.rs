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
}

/// GetRoomEvent's page `page` (from 1) of size `limit` over a room whose sequence runs
/// `1..=total`: the first sequence number and how many events to read, or `None` when the page
/// lies past the end. Pages are sequence ranges, so reading one is an index seek.
pub fn page_range(page: u64, limit: u64, total: u64) -> Option<(u64, u64)> {
    if page == 0 || limit == 0 {
        return None;
    }
    let skip = (page - 1).checked_mul(limit)?;
    if skip >= total {
        return None;
    }
    Some((skip + 1, limit.min(total - skip)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Pages match chunking the whole log, and walking them visits every event once.
        #[test]
        fn pages_partition_the_log(total in 0u64..2000, limit in 1u64..=200, page in 1u64..30) {
            let log: Vec<u64> = (1..=total).collect();
            let expected: Vec<u64> = log.chunks(limit as usize).nth(page as usize - 1).map(|c| c.to_vec()).unwrap_or_default();
            let got: Vec<u64> = page_range(page, limit, total)
                .map(|(first, count)| (first..first + count).collect())
                .unwrap_or_default();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn huge_pages_never_overflow(page in any::<u64>(), limit in 1u64..=200, total in any::<u64>()) {
            if let Some((first, count)) = page_range(page, limit, total) {
                prop_assert!(first >= 1 && count >= 1 && first - 1 + count <= total);
            }
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
