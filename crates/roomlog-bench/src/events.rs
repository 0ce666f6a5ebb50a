//! The synthetic class events every workload reports (and the raw SQLite baseline inserts).
//!
//! Event `n` of a stream has type `TYPES[n % 10]`, so exactly one event in ten is `MicOn`: a
//! room filled with N events (after its `RoomStart`) holds ceil(N / 10) `MicOn` events, which
//! the Keyword workload reads back.

use std::fmt::Write as _;

use serde_json::json;

use crate::http::{Prepared, Signer};

/// (name, code in roomlog's `event_types` table). All take a `UserId` and nothing else.
pub const TYPES: [(&str, i64); 10] = [
    ("MicOn", 8),
    ("CameraOn", 6),
    ("CameraOff", 7),
    ("MicOff", 9),
    ("ScreenOn", 10),
    ("ScreenOff", 11),
    ("CameraOn", 6),
    ("CameraOff", 7),
    ("VisibleOn", 12),
    ("VisibleOff", 13),
];

/// The type every tenth event has.
pub const KEYWORD: &str = "MicOn";

/// Students in the class (user ids cycle through them).
const USERS: u64 = 50;

pub fn event_id(stream: &str, n: u64) -> String {
    format!("{stream}-{n:08}")
}

pub fn user_id(n: u64) -> String {
    format!("student-{:02}", n % USERS)
}

/// Appends event `n` of `stream` as ReportRoomEvents JSON.
fn write_event(out: &mut String, stream: &str, n: u64, timestamp_ms: i64) {
    let (event_type, _) = TYPES[(n % 10) as usize];
    let _ = write!(
        out,
        r#"{{"EventId":"{}","EventType":"{event_type}","TimestampMs":{timestamp_ms},"UserId":"{}"}}"#,
        event_id(stream, n),
        user_id(n),
    );
}

/// A signed ReportRoomEvents call carrying events `first .. first + count` of `stream`.
pub fn report(
    signer: &Signer,
    sdk_app_id: u64,
    room_id: u64,
    stream: &str,
    first: u64,
    count: u64,
    timestamp_ms: i64,
) -> Prepared {
    let mut body = String::with_capacity(64 + count as usize * 110);
    let _ = write!(
        body,
        r#"{{"SdkAppId":{sdk_app_id},"RoomId":{room_id},"Events":["#
    );
    for n in first..first + count {
        if n > first {
            body.push(',');
        }
        write_event(&mut body, stream, n, timestamp_ms);
    }
    body.push_str("]}");
    signer.prepare("ReportRoomEvents", body.into_bytes(), count)
}

/// A signed GetRoomEvent call.
pub fn get_page(signer: &Signer, sdk_app_id: u64, room_id: u64, page: u64, limit: u64) -> Prepared {
    let params = json!({"RoomId": room_id, "SdkAppId": sdk_app_id, "Page": page, "Limit": limit});
    signer.prepare_json("GetRoomEvent", &params, 1)
}

/// A signed GetRoomEvent call with a Keyword (every event of that type).
pub fn get_keyword(signer: &Signer, sdk_app_id: u64, room_id: u64, keyword: &str) -> Prepared {
    let params = json!({
        "RoomId": room_id, "SdkAppId": sdk_app_id, "Page": 1, "Limit": 100, "Keyword": keyword,
    });
    signer.prepare_json("GetRoomEvent", &params, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_bodies_are_valid_json_with_one_mic_on_in_ten() {
        let signer = Signer {
            secret_id: "AKID".into(),
            secret_key: "key".into(),
            host: "127.0.0.1:1".into(),
        };
        let prepared = report(
            &signer,
            3000001,
            300000001,
            "fill",
            0,
            20,
            1_700_000_000_000,
        );
        let body: serde_json::Value = serde_json::from_slice(&prepared.body).unwrap();
        let events = body["Events"].as_array().unwrap();
        assert_eq!(events.len(), 20);
        assert_eq!(prepared.units, 20);
        let mic_on = events.iter().filter(|e| e["EventType"] == KEYWORD).count();
        assert_eq!(mic_on, 2);
        assert_eq!(events[3]["EventId"], "fill-00000003");
        assert!(prepared.headers.contains_key("authorization"));
    }
}
