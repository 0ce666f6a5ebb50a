//! Rooms: their schedule and settings ([`RoomSpec`]) and their lifecycle ([`Room`]).

use serde::{Deserialize, Serialize};

use crate::account::{AccountId, SdkAppId};
use crate::error::DomainError;
use crate::page::Page;

pub type RoomId = u64;

/// A class is scheduled for at most 72 hours.
pub const MAX_CLASS_SECS: i64 = 72 * 3600;

/// LCIC room `Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RoomStatus {
    NotStarted = 0,
    InClass = 1,
    Ended = 2,
    Expired = 3,
}

impl RoomStatus {
    pub fn code(self) -> u64 {
        self as u64
    }

    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::NotStarted),
            1 => Some(Self::InClass),
            2 => Some(Self::Ended),
            3 => Some(Self::Expired),
            _ => None,
        }
    }

    /// The `FailedOperation.*` a lifecycle action answers when it finds the room in this status.
    pub fn conflict(self) -> DomainError {
        match self {
            Self::NotStarted => DomainError::failed("The class has not started."),
            Self::InClass => DomainError::new(
                "FailedOperation.ClassStarted",
                "The class has already started.",
            ),
            Self::Ended => DomainError::new("FailedOperation.ClassEnded", "The class has ended."),
            Self::Expired => {
                DomainError::new("FailedOperation.ClassExpired", "The class has expired.")
            }
        }
    }
}

/// What CreateRoom takes (minus SdkAppId) and DescribeRoom echoes. Serialised with LCIC's field
/// names, so stores keep it as one JSON document and responses reuse it as is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoomSpec {
    pub name: String,
    /// Scheduled start, unix seconds.
    pub start_time: u64,
    /// Scheduled end, unix seconds.
    pub end_time: u64,
    pub resolution: u64,
    pub max_mic_number: u64,
    pub sub_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistants: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guests: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_mic: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_off_mic: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_quality: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_record: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_layout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_direct_control: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction_mode: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_orientation: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_grading_required_post_class: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_delay_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_live_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_auto_start: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_background: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_scene: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_lang: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_stream: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub white_board_snapshot_mode: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitles_transcription: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_merge: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_live_relay: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "RTCAudienceNumber")]
    pub rtc_audience_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_type: Option<u64>,
}

impl RoomSpec {
    /// LCIC's rules for a room's schedule and settings.
    pub fn validate(&self) -> Result<(), DomainError> {
        let name_len = self.name.chars().count();
        if name_len == 0 || name_len > 256 {
            return Err(DomainError::invalid_value(
                "Name must be 1 to 256 characters long.",
            ));
        }
        if self.start_time == 0 || self.start_time > i64::MAX as u64 / 2 {
            return Err(DomainError::new(
                "InvalidParameter.StartTime",
                "StartTime must be a unix time in seconds.",
            ));
        }
        if self.end_time <= self.start_time || self.end_time > i64::MAX as u64 / 2 {
            return Err(DomainError::new(
                "InvalidParameter.EndTime",
                "EndTime must be after StartTime.",
            ));
        }
        if (self.end_time - self.start_time) as i64 > MAX_CLASS_SECS {
            return Err(DomainError::new(
                "FailedOperation.ClassTooLong",
                "A class may be scheduled for at most 72 hours.",
            ));
        }
        if !(1..=3).contains(&self.resolution) {
            return Err(DomainError::invalid_value(
                "Resolution must be 1 (SD), 2 (HD) or 3 (FHD).",
            ));
        }
        if self.max_mic_number > 16 {
            return Err(DomainError::new(
                "InvalidParameter.MaxMicNumber",
                "MaxMicNumber must be between 0 and 16.",
            ));
        }
        if !matches!(self.sub_type.as_str(), "videodoc" | "video") {
            return Err(DomainError::invalid_value(
                "SubType must be `videodoc` or `video`.",
            ));
        }
        if let Some(room_type) = self.room_type {
            if !(0..=4).contains(&room_type) {
                return Err(DomainError::new(
                    "InvalidParameter.RoomTypeInvalid",
                    "RoomType must be between 0 and 4.",
                ));
            }
        }
        if let Some(delay) = self.end_delay_time {
            if !(-1..=120).contains(&delay) {
                return Err(DomainError::invalid_value(
                    "EndDelayTime must be -1 (no overtime), 0 (unlimited) or 1 to 120 minutes.",
                ));
            }
        }
        check_range("LiveType", self.live_type, 0..=2)?;
        check_range("EnableAutoStart", self.enable_auto_start, 0..=1)?;
        check_range(
            "IsGradingRequiredPostClass",
            self.is_grading_required_post_class,
            0..=1,
        )?;
        check_range_u("DisableRecord", self.disable_record, 0..=3)?;
        if let Some(teacher) = &self.teacher_id {
            check_user_id("TeacherId", teacher)?;
        }
        for (i, user) in self.assistants.iter().flatten().enumerate() {
            check_user_id(&format!("Assistants.{i}"), user)?;
        }
        Ok(())
    }
}

fn check_range(
    name: &str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<(), DomainError> {
    match value {
        Some(v) if !range.contains(&v) => Err(DomainError::invalid_value(format!(
            "{name} must be between {} and {}.",
            range.start(),
            range.end()
        ))),
        _ => Ok(()),
    }
}

fn check_range_u(
    name: &str,
    value: Option<u64>,
    range: std::ops::RangeInclusive<u64>,
) -> Result<(), DomainError> {
    check_range(
        name,
        value.map(|v| v.min(i64::MAX as u64) as i64),
        *range.start() as i64..=*range.end() as i64,
    )
}

/// UserIds are opaque strings chosen by the platform: 1 to 128 characters.
pub fn check_user_id(field: &str, user_id: &str) -> Result<(), DomainError> {
    let len = user_id.chars().count();
    if len == 0 || len > 128 {
        return Err(DomainError::invalid_value(format!(
            "{field} must be 1 to 128 characters long."
        )));
    }
    Ok(())
}

/// A room as stored: its spec plus the lifecycle state roomlog keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub room_id: RoomId,
    pub sdk_app_id: SdkAppId,
    pub account_id: AccountId,
    pub spec: RoomSpec,
    pub status: RoomStatus,
    /// When StartRoom ran, unix milliseconds.
    pub real_start_ms: Option<i64>,
    /// When EndRoom ran, unix milliseconds.
    pub real_end_ms: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// The sequence number of the room's last event (0 if none): with dense sequences this is
    /// also the room's event count, GetRoomEvent's `Total`.
    pub last_seq: u64,
    /// Set once the retention purge deleted the room's events.
    pub events_purged: bool,
    /// Who is in the room now (tracked by the store from MemberJoin/MemberQuit).
    pub occupancy: Occupancy,
}

/// Who is in the room now, as the store tracks it from MemberJoin/MemberQuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Occupancy {
    /// Users present (with at least one device in).
    pub present: u64,
    /// Since when the room has been empty, unix ms (`None` while someone is in).
    pub empty_since_ms: Option<i64>,
}

impl Room {
    /// A room as CreateRoom makes it: not started, and empty since its creation (`created_at`,
    /// unix seconds). Its id is 0 until the store allocates one.
    pub fn created(
        sdk_app_id: SdkAppId,
        account_id: AccountId,
        spec: RoomSpec,
        created_at: i64,
    ) -> Room {
        Room {
            room_id: 0,
            sdk_app_id,
            account_id,
            spec,
            status: RoomStatus::NotStarted,
            real_start_ms: None,
            real_end_ms: None,
            created_at,
            last_seq: 0,
            events_purged: false,
            occupancy: Occupancy {
                present: 0,
                empty_since_ms: Some(created_at.saturating_mul(1000)),
            },
        }
    }

    /// When the room's events stop being queryable (and become purgeable): its end plus the
    /// retention. `None` while the class has not ended.
    pub fn events_expire_at_ms(&self, retention_ms: i64) -> Option<i64> {
        self.real_end_ms.map(|end| end.saturating_add(retention_ms))
    }

    /// True once the room's events are past their retention window (or already purged).
    pub fn events_expired(&self, now_ms: i64, retention_ms: i64) -> bool {
        self.events_purged
            || self
                .events_expire_at_ms(retention_ms)
                .is_some_and(|expire| expire <= now_ms)
    }
}

/// GetRooms' filter: rooms of one app whose scheduled time overlaps `[window_start, window_end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomQuery {
    pub sdk_app_id: SdkAppId,
    /// Unix seconds.
    pub window_start: u64,
    /// Unix seconds.
    pub window_end: u64,
    /// Empty means every status.
    pub statuses: Vec<RoomStatus>,
    pub page: Page,
}

impl RoomQuery {
    /// The parameters of the stores' GetRooms filter, `[lowest_start, window_end, window_start,
    /// status_mask]` for `start_time BETWEEN lowest_start AND window_end AND end_time >=
    /// window_start` and the statuses, given the app's longest room (`longest_secs`).
    ///
    /// Overlap is `start_time <= window_end AND end_time >= window_start`. No room is longer
    /// than `longest_secs`, so a room that overlaps also starts at or after `window_start -
    /// longest_secs`: that lower bound turns the scan into a bounded index range instead of the
    /// app's whole past. Statuses as a bitmask (bit n = status code n; 0 = all): one statement
    /// for any set.
    pub fn filter(&self, longest_secs: i64) -> [i64; 4] {
        let window_start = saturating_i64(self.window_start);
        let status_mask = self
            .statuses
            .iter()
            .fold(0, |mask, status| mask | (1 << status.code()));
        [
            window_start.saturating_sub(longest_secs),
            saturating_i64(self.window_end),
            window_start,
            status_mask,
        ]
    }

    /// `(limit, offset)` of the page asked for, as SQL takes them.
    pub fn limit_offset(&self) -> (i64, i64) {
        (
            saturating_i64(self.page.limit()),
            saturating_i64(self.page.offset()),
        )
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RoomSpec {
        RoomSpec {
            name: "Algebra".into(),
            start_time: 1_700_000_000,
            end_time: 1_700_003_600,
            resolution: 1,
            max_mic_number: 6,
            sub_type: "videodoc".into(),
            ..RoomSpec::default()
        }
    }

    #[test]
    fn valid_spec_passes() {
        assert_eq!(spec().validate(), Ok(()));
    }

    #[test]
    fn rules_give_lcic_codes() {
        type Mutation = Box<dyn Fn(&mut RoomSpec)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|s| s.end_time = s.start_time),
                "InvalidParameter.EndTime",
            ),
            (Box::new(|s| s.start_time = 0), "InvalidParameter.StartTime"),
            (
                Box::new(|s| s.end_time = s.start_time + 72 * 3600 + 1),
                "FailedOperation.ClassTooLong",
            ),
            (
                Box::new(|s| s.max_mic_number = 17),
                "InvalidParameter.MaxMicNumber",
            ),
            (
                Box::new(|s| s.room_type = Some(5)),
                "InvalidParameter.RoomTypeInvalid",
            ),
            (Box::new(|s| s.resolution = 4), "InvalidParameterValue"),
            (
                Box::new(|s| s.sub_type = "audio".into()),
                "InvalidParameterValue",
            ),
            (
                Box::new(|s| s.end_delay_time = Some(121)),
                "InvalidParameterValue",
            ),
            (
                Box::new(|s| s.name = "x".repeat(257)),
                "InvalidParameterValue",
            ),
        ];
        for (mutate, code) in cases {
            let mut s = spec();
            mutate(&mut s);
            assert_eq!(s.validate().unwrap_err().code, code, "{s:?}");
        }
        let mut s = spec();
        s.end_time = s.start_time + 72 * 3600;
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn spec_serialises_with_lcic_names_and_omits_absent_fields() {
        let mut s = spec();
        s.rtc_audience_number = Some(3);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["MaxMicNumber"], 6);
        assert_eq!(json["RTCAudienceNumber"], 3);
        assert!(json.get("TeacherId").is_none());
        let back: RoomSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn get_rooms_filter_bounds_the_start_time_and_masks_statuses() {
        let query = RoomQuery {
            sdk_app_id: 1,
            window_start: 1000,
            window_end: u64::MAX,
            statuses: vec![RoomStatus::InClass, RoomStatus::Expired],
            page: crate::Page::new(3, 20, 100).unwrap(),
        };
        assert_eq!(query.filter(300), [700, i64::MAX, 1000, 0b1010]);
        assert_eq!(query.limit_offset(), (20, 40));
        let first = RoomQuery {
            page: crate::Page::first(20),
            statuses: vec![],
            ..query
        };
        assert_eq!((first.filter(0)[3], first.limit_offset()), (0, (20, 0)));
    }
}
