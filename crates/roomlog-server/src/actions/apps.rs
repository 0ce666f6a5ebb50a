//! App configuration (ModifyApp, DescribeAppDetail, as LCIC) and callback inspection and
//! replay (DescribeCallbackDeliveries, ReplayCallbacks: roomlog's).

use roomlog_core::callback::DeliveryStatus;
use roomlog_core::{DomainError, Page};
use roomlog_protocol::{FieldType, Schema};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{fields, Action, ActionResult, Ctx};
use crate::callbacks::destination;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyApp {
    sdk_app_id: u64,
    #[serde(default)]
    callback: Option<String>,
    #[serde(default)]
    callback_key: Option<String>,
    // LCIC's transfer settings are accepted for compatibility and not used by roomlog.
    #[serde(default)]
    #[allow(dead_code)]
    transfer_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    transfer_url: Option<String>,
}

impl Action for ModifyApp {
    const NAME: &'static str = "ModifyApp";
    const CHANGES_STATE: bool = true;

    fn schema() -> Schema {
        Schema::new()
            .required("SdkAppId", FieldType::U64)
            .optional("Callback", FieldType::String)
            .optional("CallbackKey", FieldType::String)
            .optional("TransferId", FieldType::String)
            .optional("TransferUrl", FieldType::String)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        ctx.owned_app(self.sdk_app_id).await?;
        if let Some(url) = self.callback.as_deref().filter(|u| !u.is_empty()) {
            destination::check(url, &ctx.state.config().callbacks).await?;
        }
        if self.callback_key.as_ref().is_some_and(|k| k.len() > 256) {
            return Err(
                DomainError::invalid_value("CallbackKey must be at most 256 bytes.").into(),
            );
        }
        ctx.state
            .service()
            .set_app_callback(
                self.sdk_app_id,
                self.callback.as_deref(),
                self.callback_key.as_deref(),
            )
            .await?;
        Ok(fields(json!({})))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeAppDetail {
    /// The SDK names the app `ApplicationId` (a string); lcic.md's `SdkAppId` is taken too.
    #[serde(default)]
    application_id: Option<String>,
    #[serde(default)]
    sdk_app_id: Option<u64>,
    #[serde(default)]
    #[allow(dead_code)]
    developer_id: Option<String>,
}

impl Action for DescribeAppDetail {
    const NAME: &'static str = "DescribeAppDetail";

    fn schema() -> Schema {
        Schema::new()
            .optional("ApplicationId", FieldType::String)
            .optional("SdkAppId", FieldType::U64)
            .optional("DeveloperId", FieldType::String)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let sdk_app_id = match (self.sdk_app_id, self.application_id.as_deref()) {
            (Some(id), _) => id,
            (None, Some(id)) => id.trim().parse().map_err(|_| {
                DomainError::new(
                    "InvalidParameter.SdkAppId",
                    format!("ApplicationId `{id}` is not an SdkAppId."),
                )
            })?,
            (None, None) => {
                return Err(roomlog_protocol::ApiError::missing_parameter("ApplicationId").into())
            }
        };
        let app = ctx.owned_app(sdk_app_id).await?;
        let callback = ctx.state.store().app_callback(sdk_app_id).await?;
        Ok(fields(json!({
            "SdkAppId": app.sdk_app_id.to_string(),
            "AppConfig": {
                "ApplicationId": app.sdk_app_id.to_string(),
                "AppName": app.name,
                "State": 1,
                "AppVersion": 1,
                "CreatedAt": app.created_at.to_string(),
                "Callback": callback.url,
                "CallbackKey": callback.key,
            },
            "SceneConfig": [],
        })))
    }
}

/// roomlog: the apps of the caller's account (LCIC has no such action; `roomlog call` uses it to
/// fill in `SdkAppId`).
#[derive(Debug, Deserialize)]
pub struct DescribeApps {}

impl Action for DescribeApps {
    const NAME: &'static str = "DescribeApps";

    fn schema() -> Schema {
        Schema::new()
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let apps = ctx.state.store().list_apps(Some(ctx.account_id)).await?;
        let apps: Vec<Value> = apps
            .iter()
            .map(|app| json!({"SdkAppId": app.sdk_app_id, "Name": app.name, "CreateTime": app.created_at}))
            .collect();
        Ok(fields(json!({ "Apps": apps })))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeCallbackDeliveries {
    sdk_app_id: u64,
    #[serde(default)]
    room_id: Option<u64>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    page: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
}

impl Action for DescribeCallbackDeliveries {
    const NAME: &'static str = "DescribeCallbackDeliveries";

    fn schema() -> Schema {
        Schema::new()
            .required("SdkAppId", FieldType::U64)
            .optional("RoomId", FieldType::U64)
            .optional("Status", FieldType::String)
            .optional("Page", FieldType::U64)
            .optional("Limit", FieldType::U64)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        ctx.owned_app(self.sdk_app_id).await?;
        if let Some(room) = self.room_id {
            ctx.owned_room(room, Some(self.sdk_app_id)).await?;
        }
        let status = match self.status.as_deref() {
            None | Some("") => None,
            Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
                DomainError::invalid_value("Status must be Pending, Delivered or Dead.")
            })?),
        };
        let page = Page::new(self.page.unwrap_or(1), self.limit.unwrap_or(20), 100)?;
        let (total, deliveries) = ctx
            .state
            .store()
            .list_deliveries(self.sdk_app_id, self.room_id, status, page)
            .await?;
        let deliveries: Vec<Value> = deliveries.iter().map(|d| d.describe()).collect();
        Ok(fields(json!({ "Total": total, "Deliveries": deliveries })))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplayCallbacks {
    sdk_app_id: u64,
    room_id: u64,
    #[serde(default)]
    from_seq: Option<u64>,
    #[serde(default)]
    event_ids: Option<Vec<String>>,
}

impl Action for ReplayCallbacks {
    const NAME: &'static str = "ReplayCallbacks";
    const CHANGES_STATE: bool = true;

    fn schema() -> Schema {
        Schema::new()
            .required("SdkAppId", FieldType::U64)
            .required("RoomId", FieldType::U64)
            .optional("FromSeq", FieldType::U64)
            .optional("EventIds", FieldType::Array(Box::new(FieldType::String)))
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let room = ctx.owned_room(self.room_id, Some(self.sdk_app_id)).await?;
        let replayed = ctx
            .state
            .service()
            .replay_deliveries(room.room_id, self.from_seq, self.event_ids, ctx.now_ms)
            .await?;
        Ok(fields(json!({ "Replayed": replayed })))
    }
}
