//! Room actions: CreateRoom, BatchCreateRoom, DescribeRoom, ModifyRoom, DeleteRoom, StartRoom,
//! EndRoom, GetRooms.

use roomlog_core::time::ms_to_secs;
use roomlog_core::{DomainError, Page, Room, RoomQuery, RoomSpec, RoomStatus};
use roomlog_protocol::{FieldType, Schema};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{fields, Action, ActionError, ActionResult, Ctx};

/// BatchCreateRoom takes at most this many rooms at once.
const MAX_BATCH_ROOMS: usize = 1000;

/// The fields of [`RoomSpec`] as request parameters. CreateRoom requires the schedule and the
/// basic settings; ModifyRoom takes every field as optional.
fn room_spec_schema(mut schema: Schema, core_required: bool) -> Schema {
    let core = [
        ("Name", FieldType::String),
        ("StartTime", FieldType::U64),
        ("EndTime", FieldType::U64),
        ("Resolution", FieldType::U64),
        ("MaxMicNumber", FieldType::U64),
        ("SubType", FieldType::String),
    ];
    for (name, ty) in core {
        schema = if core_required {
            schema.required(name, ty)
        } else {
            schema.optional(name, ty)
        };
    }
    let strings = || FieldType::Array(Box::new(FieldType::String));
    let optional = [
        ("TeacherId", FieldType::String),
        ("Assistants", strings()),
        ("Guests", strings()),
        ("AutoMic", FieldType::U64),
        ("TurnOffMic", FieldType::U64),
        ("AudioQuality", FieldType::U64),
        ("DisableRecord", FieldType::U64),
        ("RecordLayout", FieldType::U64),
        ("GroupId", FieldType::String),
        ("EnableDirectControl", FieldType::U64),
        ("InteractionMode", FieldType::U64),
        ("VideoOrientation", FieldType::U64),
        ("IsGradingRequiredPostClass", FieldType::I64),
        ("RoomType", FieldType::I64),
        ("EndDelayTime", FieldType::I64),
        ("LiveType", FieldType::I64),
        ("RecordLiveUrl", FieldType::String),
        ("EnableAutoStart", FieldType::I64),
        ("RecordBackground", FieldType::String),
        ("RecordScene", FieldType::String),
        ("RecordLang", FieldType::String),
        ("RecordStream", FieldType::U64),
        ("WhiteBoardSnapshotMode", FieldType::U64),
        ("SubtitlesTranscription", FieldType::U64),
        ("RecordMerge", FieldType::U64),
        ("EnableLiveRelay", FieldType::U64),
        ("RTCAudienceNumber", FieldType::U64),
        ("AudienceType", FieldType::U64),
    ];
    for (name, ty) in optional {
        schema = schema.optional(name, ty);
    }
    schema
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRoom {
    sdk_app_id: u64,
    #[serde(flatten)]
    spec: RoomSpec,
}

impl Action for CreateRoom {
    const NAME: &'static str = "CreateRoom";
    const CHANGES_STATE: bool = true;

    fn schema() -> Schema {
        room_spec_schema(Schema::new().required("SdkAppId", FieldType::U64), true)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let app = ctx.owned_app(self.sdk_app_id).await?;
        self.spec.validate()?;
        let ids = ctx
            .state
            .service()
            .create_rooms(&app, vec![self.spec], ctx.now_ms)
            .await?;
        Ok(fields(json!({ "RoomId": ids[0] })))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchCreateRoom {
    sdk_app_id: u64,
    room_infos: Vec<RoomSpec>,
}

impl Action for BatchCreateRoom {
    const NAME: &'static str = "BatchCreateRoom";
    const CHANGES_STATE: bool = true;

    fn schema() -> Schema {
        Schema::new().required("SdkAppId", FieldType::U64).required(
            "RoomInfos",
            FieldType::Array(Box::new(FieldType::Object(room_spec_schema(
                Schema::new(),
                true,
            )))),
        )
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let app = ctx.owned_app(self.sdk_app_id).await?;
        if self.room_infos.is_empty() || self.room_infos.len() > MAX_BATCH_ROOMS {
            return Err(DomainError::invalid_value(format!(
                "RoomInfos must hold 1 to {MAX_BATCH_ROOMS} rooms."
            ))
            .into());
        }
        for (index, spec) in self.room_infos.iter().enumerate() {
            spec.validate().map_err(|e| {
                DomainError::new(e.code, format!("RoomInfos.{index}: {}", e.message))
            })?;
        }
        let ids = ctx
            .state
            .service()
            .create_rooms(&app, self.room_infos, ctx.now_ms)
            .await?;
        Ok(fields(json!({ "RoomIds": ids })))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRoom {
    room_id: u64,
}

impl Action for DescribeRoom {
    const NAME: &'static str = "DescribeRoom";

    fn schema() -> Schema {
        Schema::new().required("RoomId", FieldType::U64)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let room = ctx.owned_room(self.room_id, None).await?;
        let mut out = spec_fields(&room.spec);
        out.insert("SdkAppId".into(), room.sdk_app_id.into());
        out.insert("Status".into(), room.status.code().into());
        out.insert("RecordUrl".into(), "".into());
        out.insert("VideoDuration".into(), 0.into());
        Ok(super::Reply::Fields(out))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyRoom {
    room_id: u64,
    sdk_app_id: u64,
    #[serde(flatten)]
    changes: Map<String, Value>,
}

impl Action for ModifyRoom {
    const NAME: &'static str = "ModifyRoom";
    const CHANGES_STATE: bool = true;

    fn schema() -> Schema {
        room_spec_schema(
            Schema::new()
                .required("RoomId", FieldType::U64)
                .required("SdkAppId", FieldType::U64),
            false,
        )
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let room = ctx.owned_room(self.room_id, Some(self.sdk_app_id)).await?;
        if room.status != RoomStatus::NotStarted {
            return Err(room.status.conflict().into());
        }
        // Overlay the given fields on the stored spec, then validate the result as a whole
        // (a new EndTime is checked against the stored StartTime, and so on).
        let mut merged = spec_fields(&room.spec);
        merged.extend(self.changes);
        let spec: RoomSpec = serde_json::from_value(Value::Object(merged)).map_err(|e| {
            ActionError(roomlog_protocol::ApiError::invalid_parameter(e.to_string()))
        })?;
        spec.validate()?;
        ctx.state.service().modify_room(room.room_id, spec).await?;
        Ok(fields(json!({})))
    }
}

/// An action on one of the caller's rooms, named by RoomId alone, that answers nothing more:
/// `$call` is what it does, given the service and the room's id.
macro_rules! room_id_action {
    ($name:ident, |$service:ident, $room:ident, $ctx:ident| $call:expr) => {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            room_id: u64,
        }

        impl Action for $name {
            const NAME: &'static str = stringify!($name);
            const CHANGES_STATE: bool = true;

            fn schema() -> Schema {
                Schema::new().required("RoomId", FieldType::U64)
            }

            async fn handle(self, $ctx: &Ctx<'_>) -> ActionResult {
                let $room = $ctx.owned_room(self.room_id, None).await?.room_id;
                let $service = $ctx.state.service();
                $call.await?;
                Ok(fields(json!({})))
            }
        }
    };
}

room_id_action!(DeleteRoom, |service, room, ctx| service.delete_room(room));
room_id_action!(StartRoom, |service, room, ctx| service
    .start_room(room, ctx.now_ms));
room_id_action!(EndRoom, |service, room, ctx| service
    .end_room(room, ctx.now_ms));

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRooms {
    sdk_app_id: u64,
    #[serde(default)]
    start_time: Option<u64>,
    #[serde(default)]
    end_time: Option<u64>,
    #[serde(default)]
    page: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    status: Option<Vec<u64>>,
}

/// GetRooms' default window reaches this far either side of now.
const DEFAULT_WINDOW_SECS: u64 = 30 * 60;

impl Action for GetRooms {
    const NAME: &'static str = "GetRooms";

    fn schema() -> Schema {
        Schema::new()
            .required("SdkAppId", FieldType::U64)
            .optional("StartTime", FieldType::U64)
            .optional("EndTime", FieldType::U64)
            .optional("Page", FieldType::U64)
            .optional("Limit", FieldType::U64)
            .optional("Status", FieldType::Array(Box::new(FieldType::U64)))
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        ctx.owned_app(self.sdk_app_id).await?;
        let now = ms_to_secs(ctx.now_ms).max(0) as u64;
        let window_start = self
            .start_time
            .unwrap_or(now.saturating_sub(DEFAULT_WINDOW_SECS));
        let window_end = self.end_time.unwrap_or(now + DEFAULT_WINDOW_SECS);
        if window_end < window_start {
            return Err(DomainError::new(
                "InvalidParameter.EndTime",
                "EndTime must not be before StartTime.",
            )
            .into());
        }
        let page = Page::new(self.page.unwrap_or(1), self.limit.unwrap_or(10), 100)?;
        let statuses = self
            .status
            .unwrap_or_default()
            .into_iter()
            .map(|code| {
                RoomStatus::from_code(code).ok_or_else(|| {
                    DomainError::invalid_value(format!("Status must be 0 to 3, got {code}."))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let query = RoomQuery {
            sdk_app_id: self.sdk_app_id,
            window_start,
            window_end,
            statuses,
            page,
        };
        let (total, rooms) = ctx.state.store().list_rooms(&query).await?;
        let rooms: Vec<Value> = rooms.iter().map(room_item).collect();
        Ok(fields(json!({ "Total": total, "Rooms": rooms })))
    }
}

/// A RoomSpec as an output object with LCIC's field names.
fn spec_fields(spec: &RoomSpec) -> Map<String, Value> {
    match serde_json::to_value(spec) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// GetRooms' `RoomItem`.
fn room_item(room: &Room) -> Value {
    let secs = |ms: Option<i64>| ms.map(ms_to_secs).unwrap_or(0);
    json!({
        "Name": room.spec.name,
        "RoomId": room.room_id,
        "Status": room.status.code(),
        "StartTime": room.spec.start_time,
        "EndTime": room.spec.end_time,
        "RealStartTime": secs(room.real_start_ms),
        "RealEndTime": secs(room.real_end_ms),
        "Resolution": room.spec.resolution,
        "MaxMicNumber": room.spec.max_mic_number,
        "RecordUrl": "",
        "EnableDirectControl": room.spec.enable_direct_control.unwrap_or(0),
    })
}
