//! GetRoomEvent (LCIC) and ReportRoomEvents (roomlog's ingest).

use std::time::Instant;

use bytes::Bytes;
use roomlog_core::ingest::{self, ReportedEvent};
use roomlog_core::store::EventRange;
use roomlog_core::{DomainError, EventType, Page, Room, StoreError};
use roomlog_protocol::{FieldType, Schema};
use serde::Deserialize;
use serde_json::{json, Map};

use super::{fields, Action, ActionError, ActionResult, Ctx, Reply};
use crate::page_cache::Lookup;

/// LCIC's page size limit for GetRoomEvent (its English documentation's figure).
pub const MAX_LIMIT: u64 = 200;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRoomEvent {
    room_id: u64,
    sdk_app_id: u64,
    page: u64,
    limit: u64,
    #[serde(default)]
    keyword: Option<String>,
}

impl Action for GetRoomEvent {
    const NAME: &'static str = "GetRoomEvent";

    fn schema() -> Schema {
        Schema::new()
            .required("RoomId", FieldType::U64)
            .required("SdkAppId", FieldType::U64)
            .required("Page", FieldType::U64)
            .required("Limit", FieldType::U64)
            .optional("Keyword", FieldType::String)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        // Validate.
        let page = Page::new(self.page, self.limit, MAX_LIMIT)?;
        let keyword = match self.keyword.as_deref() {
            None | Some("") => None,
            Some(word) => Some(word.parse::<EventType>().map_err(|_| {
                DomainError::invalid_value(format!(
                    "Keyword must be an event type (RoomStart, MemberJoin, ...), got `{word}`."
                ))
            })?),
        };

        // Authorise, as `Ctx::owned_room` does, on the room read in the same store call as the
        // page: the page is read only for a room the caller may see whose events are kept.
        ctx.owned_app(self.sdk_app_id).await?;
        let owner = ctx.owner(Some(self.sdk_app_id));
        let wanted = match keyword {
            Some(event_type) => Wanted::EventsOfType(event_type),
            None => Wanted::Page(ctx.state.page_cache().lookup(self.room_id, page)),
        };
        let (now_ms, retention_ms) = (ctx.now_ms, ctx.state.config().retention_ms());
        let page_lookup = match &wanted {
            Wanted::Page(lookup) => Some(lookup.clone()),
            Wanted::EventsOfType(_) => None,
        };
        let range: EventRange = Box::new(move |room: &Room| {
            if !owner.owns(room) || room.events_expired(now_ms, retention_ms) {
                return None;
            }
            page_lookup?.to_read(room.last_seq)
        });
        let read = ctx
            .state
            .store()
            .read_room_page(self.room_id, range)
            .await?;
        let read = owner.check(self.room_id, read)?;
        if read.room.events_expired(now_ms, retention_ms) {
            return Err(ingest::events_expired(&read.room, retention_ms).into());
        }
        let total = read.room.last_seq;

        // Read the page, or stream every event of the Keyword's type.
        match wanted {
            Wanted::Page(lookup) => {
                let events = ctx.state.page_cache().events(&lookup, read);
                // `{"Total":N,"Events":[...]}`'s members, the events as the store wrote them.
                let head = format!(r#""Total":{total},"Events":["#);
                Ok(Reply::Members(vec![
                    Bytes::from(head),
                    events,
                    Bytes::from_static(b"]"),
                ]))
            }
            Wanted::EventsOfType(event_type) => {
                let events = ctx
                    .state
                    .service()
                    .events_of_type(read.room.room_id, event_type);
                let mut head = Map::new();
                head.insert("Total".into(), total.into());
                Ok(Reply::event_array(head, "Events", events))
            }
        }
    }
}

/// What GetRoomEvent answers with: a page, or (with a Keyword) every event of one type.
enum Wanted {
    Page(Lookup),
    EventsOfType(EventType),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportRoomEvents {
    sdk_app_id: u64,
    room_id: u64,
    events: Vec<ReportedEvent>,
}

impl Action for ReportRoomEvents {
    const NAME: &'static str = "ReportRoomEvents";

    fn schema() -> Schema {
        let event = Schema::new()
            .required("EventId", FieldType::String)
            .required("EventType", FieldType::String)
            .optional("TimestampMs", FieldType::U64)
            .optional("UserId", FieldType::String)
            .optional("Device", FieldType::U64)
            .optional("Role", FieldType::U64)
            .optional("Reason", FieldType::U64)
            .optional("Duration", FieldType::U64)
            .optional("RecordSize", FieldType::U64)
            .optional("RecordUrl", FieldType::String);
        Schema::new()
            .required("SdkAppId", FieldType::U64)
            .required("RoomId", FieldType::U64)
            .required(
                "Events",
                FieldType::Array(Box::new(FieldType::Object(event))),
            )
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        let events = ingest::validate_batch(self.events, ctx.now_ms)?;
        // The room is not read here when this node has seen it (its owner never changes); the
        // store refuses it if it was deleted since.
        let room_id = ctx.owned_room_id(self.room_id, self.sdk_app_id).await?;
        let batch = events.len();
        let started = Instant::now();
        let outcome = ctx
            .state
            .service()
            .report_events(room_id, events, ctx.now_ms)
            .await
            .map_err(|e| match e {
                StoreError::RoomNotFound => DomainError::room_not_found(room_id).into(),
                e => ActionError::from(e),
            })?;
        crate::metrics::record_ingest(batch, started.elapsed());
        Ok(fields(json!({
            "Accepted": outcome.accepted,
            "Duplicates": outcome.duplicates,
        })))
    }
}
