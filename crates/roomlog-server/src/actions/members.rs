//! Members: KickUserFromRoom, UnblockKickedUser, DescribeCurrentMemberList (who is in now) and
//! DescribeRoomStatistics (attendance, computed once when the class ends).

use roomlog_core::attendance::MemberRecord;
use roomlog_core::room::check_user_id;
use roomlog_core::time::ms_to_secs;
use roomlog_core::{DomainError, EventData, EventType, NewEvent, Page, RoomStatus};
use roomlog_protocol::{FieldType, Schema};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{fields, Action, ActionResult, Ctx};

/// Member lists are paged up to this many records (LCIC).
const MAX_MEMBER_LIMIT: u64 = 1000;

/// `{RoomId, Page, Limit}`: the member lists' parameters.
fn room_page_schema() -> Schema {
    Schema::new()
        .required("RoomId", FieldType::U64)
        .required("Page", FieldType::U64)
        .required("Limit", FieldType::U64)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KickUserFromRoom {
    room_id: u64,
    sdk_app_id: u64,
    user_id: String,
    kick_type: u64,
    #[serde(default)]
    duration: Option<u64>,
}

/// MemberQuit reasons and CurrentState for the two kinds of kick.
const KICK_TEMPORARY: u64 = 1;
const KICK_PERMANENT: u64 = 2;

impl Action for KickUserFromRoom {
    const NAME: &'static str = "KickUserFromRoom";
    const CHANGES_STATE: bool = true;

    fn schema() -> Schema {
        Schema::new()
            .required("RoomId", FieldType::U64)
            .required("SdkAppId", FieldType::U64)
            .required("UserId", FieldType::String)
            .required("KickType", FieldType::U64)
            .optional("Duration", FieldType::U64)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        check_user_id("UserId", &self.user_id)?;
        let until_ms = match self.kick_type {
            // Temporary: out now, barred for Duration seconds (0 or absent: may rejoin at once).
            KICK_TEMPORARY => {
                let secs = self.duration.unwrap_or(0).min(i64::MAX as u64 / 1000) as i64;
                Some(ctx.now_ms.saturating_add(secs * 1000))
            }
            KICK_PERMANENT => None,
            other => {
                return Err(DomainError::invalid_value(format!(
                    "KickType must be 1 (temporary) or 2 (permanent), got {other}."
                ))
                .into())
            }
        };
        let room = ctx.owned_room(self.room_id, Some(self.sdk_app_id)).await?;
        let quit = NewEvent {
            event_id: format!(
                "{}kick:{}:{}",
                NewEvent::RESERVED_ID_PREFIX,
                self.user_id,
                ctx.request_id
            ),
            event_type: EventType::MemberQuit,
            timestamp_ms: ctx.now_ms,
            data: EventData {
                user_id: Some(self.user_id.clone()),
                reason: Some(self.kick_type),
                ..EventData::default()
            },
        };
        ctx.state
            .service()
            .kick_user(room.room_id, &self.user_id, until_ms, quit)
            .await?;
        Ok(fields(json!({})))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnblockKickedUser {
    sdk_app_id: u64,
    room_id: u64,
    user_id: String,
}

impl Action for UnblockKickedUser {
    const NAME: &'static str = "UnblockKickedUser";
    const CHANGES_STATE: bool = true;

    fn schema() -> Schema {
        Schema::new()
            .required("SdkAppId", FieldType::U64)
            .required("RoomId", FieldType::U64)
            .required("UserId", FieldType::String)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let room = ctx.owned_room(self.room_id, Some(self.sdk_app_id)).await?;
        ctx.state
            .service()
            .unblock_user(room.room_id, &self.user_id)
            .await?;
        Ok(fields(json!({})))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeCurrentMemberList {
    room_id: u64,
    page: u64,
    limit: u64,
}

impl Action for DescribeCurrentMemberList {
    const NAME: &'static str = "DescribeCurrentMemberList";

    fn schema() -> Schema {
        room_page_schema()
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let page = Page::new(self.page, self.limit, MAX_MEMBER_LIMIT)?;
        let room = ctx.owned_room(self.room_id, None).await?;
        if matches!(room.status, RoomStatus::Ended | RoomStatus::Expired) {
            return Err(room.status.conflict().into());
        }
        let store = ctx.state.store();
        let (total, members) = store.current_members(room.room_id, page).await?;
        let ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        let names = store.user_names(room.sdk_app_id, &ids).await?;
        let records: Vec<MemberRecord> = members
            .into_iter()
            .map(|m| MemberRecord {
                user_name: names.get(&m.user_id).cloned().unwrap_or_default(),
                // Time in the room so far (in class only once the class started).
                present_time: ms_to_secs(
                    ctx.now_ms - m.joined_ms.max(room.real_start_ms.unwrap_or(ctx.now_ms)),
                )
                .max(0) as u64,
                first_join_timestamp: ms_to_secs(m.joined_ms).max(0) as u64,
                role: m.role.unwrap_or(0),
                device: m.device.map_or(0, |d| d as i64),
                current_state: ONLINE,
                user_id: m.user_id,
                ..MemberRecord::default()
            })
            .collect();
        Ok(fields(json!({ "Total": total, "MemberRecords": records })))
    }
}

/// CurrentState of a member in the room now.
const ONLINE: u64 = 1;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRoomStatistics {
    room_id: u64,
    page: u64,
    limit: u64,
}

impl Action for DescribeRoomStatistics {
    const NAME: &'static str = "DescribeRoomStatistics";

    fn schema() -> Schema {
        room_page_schema()
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let page = Page::new(self.page, self.limit, MAX_MEMBER_LIMIT)?;
        let room = ctx.owned_room(self.room_id, None).await?;
        if room.status != RoomStatus::Ended {
            return Err(DomainError::new(
                "FailedOperation.RoomNotEnd",
                "Statistics are available once the class has ended.",
            )
            .into());
        }
        let store = ctx.state.store();
        let attendance = match store.attendance(room.room_id, page).await? {
            Some(attendance) => attendance,
            None => {
                // Asked before the background task got to it: compute (once) now.
                ctx.state.service().compute_attendance(room.room_id).await?;
                store.attendance(room.room_id, page).await?.ok_or_else(|| {
                    roomlog_core::StoreError::Backend("attendance vanished after saving".into())
                })?
            }
        };
        let summary = attendance.summary;
        let records: Vec<Value> = attendance
            .records
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect();
        Ok(fields(json!({
            "PeakMemberNumber": summary.peak_member_number,
            "MemberNumber": summary.member_number,
            "Total": attendance.total,
            "MemberRecords": records,
            "RealStartTime": summary.real_start_time,
            "RealEndTime": summary.real_end_time,
            "MessageCount": 0,
            "MicCount": 0,
        })))
    }
}
