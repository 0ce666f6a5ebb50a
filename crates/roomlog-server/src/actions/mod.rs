//! One handler per action. Each action is a parameter struct (decoded from the request after
//! the protocol layer validated it against [`Action::schema`]) whose `handle` runs the action.
//! Handlers stay thin: rules live in `roomlog_core`, persistence behind the `Store`.

mod apps;
mod events;
mod members;
mod rooms;
mod stream;
mod users;

use std::sync::Arc;

use roomlog_core::{AccountId, App, DomainError, Room, RoomId, SdkAppId};
use roomlog_protocol::{ApiError, ParamSource, Schema};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use crate::reply::{ActionError, Reply};
use crate::state::AppState;

pub type ActionResult = Result<Reply, ActionError>;

pub trait Action: DeserializeOwned + Send {
    const NAME: &'static str;
    /// Whether the action changes state: a replayed signature is then refused (`replay`).
    const CHANGES_STATE: bool = false;
    /// The parameters the action takes, with their types; anything else is refused.
    fn schema() -> Schema;
    fn handle(self, ctx: &Ctx<'_>) -> impl std::future::Future<Output = ActionResult> + Send;
}

macro_rules! actions {
    ($($action:ty),* $(,)?) => {
        /// Every action roomlog serves.
        pub const NAMES: &[&str] = &[$(<$action as Action>::NAME),*];

        /// Whether `name` changes state (see [`Action::CHANGES_STATE`]).
        pub fn changes_state(name: &str) -> bool {
            $(
                if name == <$action as Action>::NAME {
                    return <$action as Action>::CHANGES_STATE;
                }
            )*
            false
        }

        /// The parameters `name` takes (`roomlog call` types its `Key=value` arguments by it).
        pub fn schema_of(name: &str) -> Option<Schema> {
            $(
                if name == <$action as Action>::NAME {
                    return Some(<$action as Action>::schema());
                }
            )*
            None
        }

        /// Decodes the parameters of `name` and runs it.
        pub async fn run(
            ctx: &Ctx<'_>,
            name: &str,
            params: &ParamSource,
            sdk_app_id: &mut Option<u64>,
        ) -> ActionResult {
            $(
                if name == <$action as Action>::NAME {
                    // Built once per action, not per request.
                    static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
                    let schema = SCHEMA.get_or_init(<$action as Action>::schema);
                    let action: $action = decode(params, schema, sdk_app_id)?;
                    return action.handle(ctx).await;
                }
            )*
            Err(ApiError::invalid_action(name).into())
        }

        /// `params` decoded as `name`'s parameter struct, shown with `Debug` (for the test that
        /// ties every schema to its struct).
        #[cfg(test)]
        fn decoded(name: &str, params: &ParamSource) -> Result<String, ActionError> {
            $(
                if name == <$action as Action>::NAME {
                    let schema = <$action as Action>::schema();
                    let action: $action = decode(params, &schema, &mut None)?;
                    return Ok(format!("{action:?}"));
                }
            )*
            Err(ApiError::invalid_action(name).into())
        }
    };
}

actions!(
    events::GetRoomEvent,
    events::ReportRoomEvents,
    rooms::CreateRoom,
    rooms::BatchCreateRoom,
    rooms::DescribeRoom,
    rooms::ModifyRoom,
    rooms::DeleteRoom,
    rooms::StartRoom,
    rooms::EndRoom,
    rooms::GetRooms,
    members::KickUserFromRoom,
    members::UnblockKickedUser,
    members::DescribeCurrentMemberList,
    members::DescribeRoomStatistics,
    users::RegisterUser,
    users::BatchRegister,
    users::LoginUser,
    users::DescribeUser,
    stream::StreamRoomEvents,
    apps::ModifyApp,
    apps::DescribeAppDetail,
    apps::DescribeApps,
    apps::DescribeCallbackDeliveries,
    apps::ReplayCallbacks,
);

pub fn is_known(name: &str) -> bool {
    NAMES.contains(&name)
}

fn decode<A: Action>(
    params: &ParamSource,
    schema: &Schema,
    sdk_app_id: &mut Option<u64>,
) -> Result<A, ActionError> {
    let object = params.decode(schema)?;
    *sdk_app_id = object.get("SdkAppId").and_then(Value::as_u64);
    serde_json::from_value(Value::Object(object)).map_err(|e| {
        ActionError(ApiError::invalid_parameter(format!(
            "The parameters of {} are malformed: {e}",
            A::NAME
        )))
    })
}

/// The per-request context an action runs with.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub account_id: AccountId,
    pub request_id: &'a str,
    /// Receipt time, unix milliseconds.
    pub now_ms: i64,
    /// The request's headers (StreamRoomEvents reads `Last-Event-ID`).
    pub headers: &'a http::HeaderMap,
}

impl Ctx<'_> {
    /// The app, if it belongs to the caller's account; `InvalidParameter.SdkAppId` otherwise
    /// (whether it exists elsewhere or not at all). From a short-lived copy (`cache`).
    pub async fn owned_app(&self, sdk_app_id: SdkAppId) -> Result<Arc<App>, ActionError> {
        match self
            .state
            .lookups()
            .app(self.state.store(), sdk_app_id)
            .await?
        {
            Some(app) if app.account_id == self.account_id => Ok(app),
            _ => Err(DomainError::sdk_app_id(sdk_app_id).into()),
        }
    }

    /// The room, if it belongs to the caller's account (and to `sdk_app_id` when given).
    /// Any other room answers `ResourceNotFound.Room`, exactly like a room that never existed.
    pub async fn owned_room(
        &self,
        room_id: RoomId,
        sdk_app_id: Option<SdkAppId>,
    ) -> Result<Room, ActionError> {
        if let Some(app) = sdk_app_id {
            self.owned_app(app).await?;
        }
        let room = self.state.store().get_room(room_id).await?;
        self.owner(sdk_app_id).check(room_id, room)
    }

    /// Whose rooms this request may see: its account's (in `sdk_app_id` when given), once
    /// [`Ctx::owned_app`] passed.
    pub fn owner(&self, sdk_app_id: Option<SdkAppId>) -> Owner {
        Owner {
            account_id: self.account_id,
            sdk_app_id,
        }
    }

    /// [`Ctx::owned_room`] when only the check matters: the same answers, but a room this node
    /// has seen before is not read again (its account and app never change). The room may have
    /// been deleted since: whatever the caller does with it next must handle that.
    pub async fn owned_room_id(
        &self,
        room_id: RoomId,
        sdk_app_id: SdkAppId,
    ) -> Result<RoomId, ActionError> {
        self.owned_app(sdk_app_id).await?;
        match self.state.lookups().room_owner(room_id) {
            Some(owner) if owner == (self.account_id, sdk_app_id) => Ok(room_id),
            Some(_) => Err(DomainError::room_not_found(room_id).into()),
            None => {
                let room = self.owned_room(room_id, Some(sdk_app_id)).await?;
                self.state
                    .lookups()
                    .remember_room(room.room_id, room.account_id, room.sdk_app_id);
                Ok(room.room_id)
            }
        }
    }
}

/// The owner of the rooms a request may see (see [`Ctx::owner`]).
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    account_id: AccountId,
    sdk_app_id: Option<SdkAppId>,
}

impl Owner {
    pub fn owns(self, room: &Room) -> bool {
        room.account_id == self.account_id
            && self.sdk_app_id.is_none_or(|app| app == room.sdk_app_id)
    }

    /// `found` (a room, or what was read with it) if this owner may see its room;
    /// `ResourceNotFound.Room` otherwise, exactly like a room that never existed.
    pub fn check<T: HoldsRoom>(self, room_id: RoomId, found: Option<T>) -> Result<T, ActionError> {
        found
            .filter(|found| self.owns(found.room()))
            .ok_or_else(|| DomainError::room_not_found(room_id).into())
    }
}

/// A room, or a read that holds one ([`Owner::check`]).
pub trait HoldsRoom {
    fn room(&self) -> &Room;
}

impl HoldsRoom for Room {
    fn room(&self) -> &Room {
        self
    }
}

impl HoldsRoom for roomlog_core::RoomPage {
    fn room(&self) -> &Room {
        &self.room
    }
}

/// Shorthand for building an output object.
fn fields(value: Value) -> Reply {
    match value {
        Value::Object(map) => Reply::Fields(map),
        _ => Reply::empty(),
    }
}

#[cfg(test)]
mod tests {
    use roomlog_protocol::FieldType;
    use serde_json::{Map, Value};

    use super::*;

    /// A value for every field of `schema` (only the required ones unless `all`), each scalar
    /// distinct: numbers from 700000 up, strings `"v700001"`...
    fn sample(schema: &Schema, all: bool, next: &mut u64) -> Map<String, Value> {
        let mut object = Map::new();
        for field in schema.fields.iter().filter(|f| all || f.required) {
            object.insert(field.name.to_owned(), value(&field.ty, all, next));
        }
        object
    }

    fn value(ty: &FieldType, all: bool, next: &mut u64) -> Value {
        *next += 1;
        match ty {
            FieldType::U64 | FieldType::I64 => Value::from(*next),
            FieldType::String => Value::from(format!("v{next}")),
            FieldType::Array(element) => Value::Array(vec![value(element, all, next)]),
            FieldType::Object(schema) => Value::Object(sample(schema, all, next)),
        }
    }

    fn scalars(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Number(n) => out.push(n.to_string()),
            Value::String(s) => out.push(format!("{s:?}")),
            Value::Array(items) => items.iter().for_each(|v| scalars(v, out)),
            Value::Object(map) => map.values().for_each(|v| scalars(v, out)),
            _ => {}
        }
    }

    /// Each action's schema and its parameter struct describe the same fields: every field of
    /// the schema (nested ones too) reaches the struct, the struct has no field the schema
    /// lacks (given every field, nothing is left `None`), and it requires nothing the schema
    /// leaves optional.
    #[test]
    fn every_schema_field_reaches_its_struct_and_no_other() {
        for &name in NAMES {
            let schema = schema_of(name).unwrap();
            let mut next = 700_000;
            let full = Value::Object(sample(&schema, true, &mut next));
            let params = ParamSource::Json(full.as_object().unwrap().clone());
            let shown = decoded(name, &params)
                .unwrap_or_else(|e| panic!("{name}: every field given: {}", e.0.message));
            let mut expected = Vec::new();
            scalars(&full, &mut expected);
            for scalar in expected {
                let reached = shown.match_indices(&scalar).any(|(at, _)| {
                    let after = shown[at + scalar.len()..].chars().next();
                    !after.is_some_and(|c| c.is_ascii_digit())
                });
                assert!(
                    reached,
                    "{name}: {scalar} did not reach the struct: {shown}"
                );
            }
            assert!(
                !shown.contains("None"),
                "{name}: a field the schema lacks: {shown}"
            );
            let required = ParamSource::Json(sample(&schema, false, &mut next));
            decoded(name, &required)
                .unwrap_or_else(|e| panic!("{name}: only the required fields: {}", e.0.message));
        }
    }
}
