//! The gateway's messages (JSON text frames) and close codes, as docs/gateway.md lists them.

use roomlog_core::classroom::{EntryRefusal, Member, Roster};
use roomlog_core::{RoomId, RoomStatus, StoredEvent};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    Join(Join),
    Media { seq: u64, kind: String },
    Ping,
    Leave,
}

/// The first message: who enters which room, on which device.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Join {
    pub sdk_app_id: u64,
    pub user_id: String,
    pub token: String,
    pub room_id: RoomId,
    pub device: u64,
    /// The `session` of an earlier `joined`: resume that session.
    #[serde(default)]
    pub resume: Option<String>,
}

/// Why the server closes a connection: a close code (4000-4999 are roomlog's) and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

/// A close frame's reason is at most 123 bytes.
const MAX_REASON: usize = 123;

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > MAX_REASON {
            let mut end = MAX_REASON;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        Self { code, reason }
    }

    pub fn bad_join(why: impl std::fmt::Display) -> Self {
        Self::new(4000, format!("bad join: {why}"))
    }

    pub fn refused(refusal: EntryRefusal) -> Self {
        match refusal {
            EntryRefusal::BadToken => Self::new(4001, "invalid token"),
            EntryRefusal::TokenExpired => Self::new(4002, "token expired: log in again"),
            EntryRefusal::OtherApp => Self::new(4003, "the user belongs to another app"),
            EntryRefusal::RoomNotFound => Self::new(4004, "room not found"),
            EntryRefusal::ClassEnded => Self::class_ended(),
            EntryRefusal::ClassExpired => Self::new(4006, "the class has expired"),
        }
    }

    pub fn class_ended() -> Self {
        Self::new(4005, "the class has ended")
    }

    /// A join refused by a kick bar: until when (`Some(None)`: for good; `None`: not known).
    pub fn barred(bar: Option<Option<i64>>, now_ms: i64) -> Self {
        match bar {
            None => Self::new(4007, "kicked: may not rejoin yet"),
            Some(None) => Self::new(4007, "kicked: may not rejoin this class"),
            Some(Some(until)) => {
                let secs = (until - now_ms).max(0).div_euclid(1000) + 1;
                Self::new(4007, format!("kicked: may rejoin in {secs} s"))
            }
        }
    }

    /// Kicked while connected (MemberQuit Reason 1 or 2).
    pub fn kicked(reason: u64) -> Self {
        if reason == roomlog_core::classroom::REASON_KICKED_PERMANENTLY {
            Self::new(4007, "kicked from the class for good")
        } else {
            Self::new(4007, "kicked from the class")
        }
    }

    /// A MemberQuit recorded by someone else closed this session's device.
    pub fn session_ended(reason: Option<u64>) -> Self {
        match reason {
            Some(reason) => Self::new(4008, format!("session ended: MemberQuit Reason {reason}")),
            None => Self::new(4008, "session ended"),
        }
    }

    pub fn heartbeat_timeout() -> Self {
        Self::new(4009, "heartbeat timeout")
    }

    pub fn replaced() -> Self {
        Self::new(4010, "replaced by a newer connection on the same device")
    }

    pub fn join_timeout() -> Self {
        Self::new(4011, "no join in time")
    }

    pub fn room_full(max: usize) -> Self {
        Self::new(4012, format!("room full: {max} connections on this node"))
    }

    pub fn too_many_messages() -> Self {
        Self::new(4013, "too many messages")
    }

    pub fn left() -> Self {
        Self::new(1000, "left")
    }

    pub fn going_away() -> Self {
        Self::new(1001, "server shutting down: reconnect and resume")
    }

    pub fn too_big() -> Self {
        Self::new(1009, "message too big")
    }

    pub fn internal() -> Self {
        Self::new(1011, "server error: try again")
    }
}

/// An `error` answer: the connection stays.
pub fn error(code: &str, message: impl Into<String>, seq: Option<u64>) -> String {
    let mut out = json!({"type": "error", "code": code, "message": message.into()});
    if let Some(seq) = seq {
        out["seq"] = seq.into();
    }
    out.to_string()
}

pub fn pong() -> String {
    r#"{"type":"pong"}"#.to_owned()
}

pub fn ack(seq: u64, duplicate: bool) -> String {
    json!({"type": "ack", "seq": seq, "duplicate": duplicate}).to_string()
}

pub fn left() -> String {
    r#"{"type":"left"}"#.to_owned()
}

/// A member as pushed: `{"UserId","Role","Devices":[{"Device","Camera","Mic","Screen","Visible"}]}`.
pub fn member(user_id: &str, member: &Member) -> Value {
    let devices: Vec<Value> = member
        .devices
        .iter()
        .map(|(device, (_, state))| {
            json!({
                "Device": device, "Camera": state.camera, "Mic": state.mic,
                "Screen": state.screen, "Visible": state.visible,
            })
        })
        .collect();
    json!({"UserId": user_id, "Role": member.role.unwrap_or(0), "Devices": devices})
}

/// The whole roster, in order of arrival.
pub fn roster(roster: &Roster) -> Value {
    Value::Array(
        roster
            .by_arrival()
            .into_iter()
            .map(|(user, m)| member(user, m))
            .collect(),
    )
}

pub fn room(room_id: RoomId, status: RoomStatus, seq: u64) -> Value {
    json!({"RoomId": room_id, "Status": status.code(), "Seq": seq})
}

/// A roster change: the event, and the member's state after it (`null` once they are out).
pub fn member_change(event: &StoredEvent, roster: &Roster) -> String {
    let mut out = Map::new();
    out.insert("type".into(), "member".into());
    out.insert("seq".into(), event.seq.into());
    out.insert("EventType".into(), event.event_type.as_str().into());
    let data = &event.data;
    let user = data.user_id.as_deref().unwrap_or_default();
    out.insert("UserId".into(), user.into());
    for (name, value) in [
        ("Device", data.device),
        ("Role", data.role),
        ("Reason", data.reason),
    ] {
        if let Some(value) = value {
            out.insert(name.into(), value.into());
        }
    }
    let now = roster
        .members
        .get(user)
        .map_or(Value::Null, |m| member(user, m));
    out.insert("Member".into(), now);
    Value::Object(out).to_string()
}

/// RoomStart or RoomEnd.
pub fn room_change(event: &StoredEvent, status: RoomStatus) -> String {
    json!({
        "type": "room", "seq": event.seq, "EventType": event.event_type.as_str(),
        "Status": status.code(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let long = Close::bad_join("é".repeat(100));
        assert_eq!(long.code, 4000);
        assert!(long.reason.len() <= MAX_REASON, "{}", long.reason.len());
        assert!(long.reason.starts_with("bad join: é"));
        assert_eq!(
            Close::barred(Some(Some(10_500)), 1_000).reason,
            "kicked: may rejoin in 10 s"
        );
        assert_eq!(
            Close::barred(Some(Some(1_000)), 1_000).reason,
            "kicked: may rejoin in 1 s"
        );
        assert_eq!(
            Close::barred(Some(None), 0).reason,
            "kicked: may not rejoin this class"
        );
    }

    #[test]
    fn client_messages_parse_and_extra_fields_are_ignored() {
        let media: ClientMessage =
            serde_json::from_str(r#"{"type":"media","seq":3,"kind":"MicOn","UserId":"x"}"#)
                .unwrap();
        assert!(matches!(media, ClientMessage::Media { seq: 3, ref kind } if kind == "MicOn"));
        let join: ClientMessage = serde_json::from_str(
            r#"{"type":"join","SdkAppId":1,"UserId":"u","Token":"t","RoomId":2,"Device":0,"Role":1}"#,
        )
        .unwrap();
        assert!(matches!(
            join,
            ClientMessage::Join(Join {
                device: 0,
                resume: None,
                ..
            })
        ));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"join","UserId":"u"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance"}"#).is_err());
    }
}
