//! Users: RegisterUser, BatchRegister, LoginUser, DescribeUser.

use roomlog_core::user::TOKEN_TTL_MS;
use roomlog_core::{DomainError, User};
use roomlog_protocol::{FieldType, Schema};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{fields, Action, ActionError, ActionResult, Ctx};

/// BatchRegister takes at most this many users (LCIC).
const MAX_BATCH_USERS: usize = 1000;

fn user_not_found() -> ActionError {
    DomainError::new("ResourceNotFound.User", "The user does not exist.").into()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterUser {
    sdk_app_id: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    origin_id: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
}

fn user_schema() -> Schema {
    Schema::new()
        .required("SdkAppId", FieldType::U64)
        .optional("Name", FieldType::String)
        .optional("OriginId", FieldType::String)
        .optional("Avatar", FieldType::String)
}

impl RegisterUser {
    fn into_user(self, ctx: &Ctx<'_>) -> Result<User, DomainError> {
        let name = self.name.unwrap_or_default();
        let origin_id = self.origin_id.unwrap_or_default();
        let avatar = self.avatar.unwrap_or_default();
        for (field, value, max) in [
            ("Name", &name, 256),
            ("OriginId", &origin_id, 128),
            ("Avatar", &avatar, 2048),
        ] {
            if value.chars().count() > max {
                return Err(DomainError::invalid_value(format!(
                    "{field} must be at most {max} characters long."
                )));
            }
        }
        Ok(User {
            user_id: User::new_user_id(),
            sdk_app_id: self.sdk_app_id,
            name,
            origin_id,
            avatar,
            token: User::new_token(),
            token_expires_ms: ctx.now_ms + TOKEN_TTL_MS,
            created_at: ctx.now_ms.div_euclid(1000),
        })
    }
}

impl Action for RegisterUser {
    const NAME: &'static str = "RegisterUser";
    const CHANGES_STATE: bool = true;

    fn schema() -> Schema {
        user_schema()
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        ctx.owned_app(self.sdk_app_id).await?;
        let user = self.into_user(ctx)?;
        let stored = ctx
            .state
            .service()
            .register_users(vec![user], false)
            .await?;
        let user = &stored[0];
        Ok(fields(
            json!({ "UserId": user.user_id, "Token": user.token }),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchRegister {
    users: Vec<RegisterUser>,
}

impl Action for BatchRegister {
    const NAME: &'static str = "BatchRegister";
    const CHANGES_STATE: bool = true;

    fn schema() -> Schema {
        Schema::new().required(
            "Users",
            FieldType::Array(Box::new(FieldType::Object(user_schema()))),
        )
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        if self.users.is_empty() || self.users.len() > MAX_BATCH_USERS {
            return Err(DomainError::invalid_value(format!(
                "Users must hold 1 to {MAX_BATCH_USERS} users."
            ))
            .into());
        }
        let mut checked = Vec::new();
        let mut users = Vec::with_capacity(self.users.len());
        for (index, request) in self.users.into_iter().enumerate() {
            if !checked.contains(&request.sdk_app_id) {
                ctx.owned_app(request.sdk_app_id).await?;
                checked.push(request.sdk_app_id);
            }
            users.push(
                request.into_user(ctx).map_err(|e| {
                    DomainError::new(e.code, format!("Users.{index}: {}", e.message))
                })?,
            );
        }
        // Existing users (same OriginId in the same app) are overwritten, keeping their UserId.
        let stored = ctx.state.service().register_users(users, true).await?;
        let users: Vec<Value> = stored
            .iter()
            .map(|u| {
                json!({
                    "SdkAppId": u.sdk_app_id, "UserId": u.user_id, "Token": u.token,
                    "Name": u.name, "OriginId": u.origin_id, "Avatar": u.avatar,
                })
            })
            .collect();
        Ok(fields(json!({ "Users": users })))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoginUser {
    user_id: String,
}

impl Action for LoginUser {
    const NAME: &'static str = "LoginUser";
    const CHANGES_STATE: bool = true;

    fn schema() -> Schema {
        Schema::new().required("UserId", FieldType::String)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let user = owned_user(ctx, ctx.state.store().get_user(&self.user_id).await?).await?;
        let token = User::new_token();
        if !ctx
            .state
            .service()
            .set_user_token(&user.user_id, &token, ctx.now_ms + TOKEN_TTL_MS)
            .await?
        {
            return Err(user_not_found());
        }
        Ok(fields(json!({ "UserId": user.user_id, "Token": token })))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeUser {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    origin_id: Option<String>,
}

impl Action for DescribeUser {
    const NAME: &'static str = "DescribeUser";

    fn schema() -> Schema {
        Schema::new()
            .optional("UserId", FieldType::String)
            .optional("OriginId", FieldType::String)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let store = ctx.state.store();
        let found = match (
            self.user_id.filter(|s| !s.is_empty()),
            self.origin_id.filter(|s| !s.is_empty()),
        ) {
            (Some(user_id), _) => store.get_user(&user_id).await?,
            (None, Some(origin_id)) => {
                // OriginIds are unique per app: look in each of the caller's apps.
                let mut found = None;
                for app in store.list_apps(Some(ctx.account_id)).await? {
                    if let Some(user) = store.get_user_by_origin(app.sdk_app_id, &origin_id).await?
                    {
                        found = Some(user);
                        break;
                    }
                }
                found
            }
            (None, None) => {
                return Err(ActionError(roomlog_protocol::ApiError::missing_parameter(
                    "UserId",
                )))
            }
        };
        let user = owned_user(ctx, found).await?;
        Ok(fields(json!({
            "SdkAppId": user.sdk_app_id, "UserId": user.user_id, "Name": user.name,
            "Avatar": user.avatar, "OriginId": user.origin_id,
        })))
    }
}

/// The user, if it belongs to one of the caller's apps; `ResourceNotFound.User` otherwise.
async fn owned_user(ctx: &Ctx<'_>, user: Option<User>) -> Result<User, ActionError> {
    let user = user.ok_or_else(user_not_found)?;
    match ctx.state.store().get_app(user.sdk_app_id).await? {
        Some(app) if app.account_id == ctx.account_id => Ok(user),
        _ => Err(user_not_found()),
    }
}
