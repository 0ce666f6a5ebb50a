//! GetRoomEvent (LCIC) and ReportRoomEvents (roomlog's ingest).

use std::time::Instant;

use super::{fields, Action, ActionError, ActionResult, Ctx, Reply};
use bytes::Bytes;
use futures_util::StreamExt;
use roomlog_core::ingest::{self, ReportedEvent};
use roomlog_core::{DomainError, EventType, Room, StoreError};
use roomlog_protocol::{FieldType, Schema};
use serde::Deserialize;
use serde_json::{json, Map};

/// LCIC's page size limit for GetRoomEvent (its English documentation's figure).
pub const MAX_LIMIT: u64 = 200;
/// Keyword results are read from the store this many at a time while streaming.
const KEYWORD_CHUNK: u64 = 1000;

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
        if self.page == 0 {
            return Err(DomainError::invalid_value("Page must be at least 1.").into());
        }
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(DomainError::invalid_value(format!(
                "Limit must be between 1 and {MAX_LIMIT}."
            ))
            .into());
        }
        let keyword = match self.keyword.as_deref() {
            None | Some("") => None,
            Some(word) => Some(word.parse::<EventType>().map_err(|_| {
                DomainError::invalid_value(format!(
                    "Keyword must be an event type (RoomStart, MemberJoin, ...), got `{word}`."
                ))
            })?),
        };
        // The checks of `Ctx::owned_room`, in its order, with the room and the page read in one
        // store call: the page is read only for a room the caller may see.
        ctx.owned_app(self.sdk_app_id).await?;
        let retention_ms = ctx.state.config().retention_ms();
        let (account_id, sdk_app_id, now_ms) = (ctx.account_id, self.sdk_app_id, ctx.now_ms);
        let visible = move |room: &Room| {
            room.account_id == account_id
                && room.sdk_app_id == sdk_app_id
                && !room.events_expired(now_ms, retention_ms)
        };
        let (page, limit, paged) = (self.page, self.limit, keyword.is_none());
        let (range, cached) = ctx
            .state
            .page_cache()
            .read_through(self.room_id, move |room| {
                (paged && visible(room))
                    .then(|| {
                        roomlog_core::Page::new(page, limit, u64::MAX)
                            .ok()
                            .and_then(|p| p.range(room.last_seq))
                    })
                    .flatten()
            });
        let read = ctx
            .state
            .store()
            .read_room_page(self.room_id, range)
            .await?;
        let (room, events_json) = match read {
            Some(page)
                if page.room.account_id == account_id && page.room.sdk_app_id == sdk_app_id =>
            {
                (page.room, cached.events(page.count, page.events_json))
            }
            _ => return Err(DomainError::room_not_found(self.room_id).into()),
        };
        if room.events_expired(ctx.now_ms, retention_ms) {
            return Err(ingest::events_expired(&room, retention_ms).into());
        }
        let total = room.last_seq;

        let Some(event_type) = keyword else {
            // `{"Total":N,"Events":[...]}`'s members, the events as the store wrote them.
            let head = format!(r#""Total":{total},"Events":["#);
            return Ok(Reply::Members(vec![
                Bytes::from(head),
                events_json,
                Bytes::from_static(b"]"),
            ]));
        };

        // Every event of that type, streamed in chunks so the room is never buffered whole.
        let mut head = Map::new();
        head.insert("Total".into(), total.into());
        let store = ctx.state.clone();
        let room_id = room.room_id;
        let items = futures_util::stream::unfold(Some(0u64), move |cursor| {
            let state = store.clone();
            async move {
                let after = cursor?;
                match state
                    .store()
                    .read_events_of_type(room_id, event_type, after, KEYWORD_CHUNK)
                    .await
                {
                    Ok(chunk) if chunk.is_empty() => None,
                    Ok(chunk) => {
                        let next = chunk.last().map(|e| e.seq);
                        let mut bytes = Vec::with_capacity(chunk.len() * 128);
                        for (i, event) in chunk.iter().enumerate() {
                            if after > 0 || i > 0 {
                                bytes.push(b',');
                            }
                            event.write_event_info(&mut bytes);
                        }
                        let done = (chunk.len() as u64) < KEYWORD_CHUNK;
                        Some((Ok(Bytes::from(bytes)), if done { None } else { next }))
                    }
                    Err(err) => {
                        // Headers are gone already: cut the body so the client sees a broken
                        // response rather than a silently truncated list.
                        tracing::error!(error = %err, room_id, "keyword stream failed");
                        Some((Err(std::io::Error::other(err.to_string())), None))
                    }
                }
            }
        })
        .boxed();
        Ok(Reply::Stream {
            fields: head,
            array_field: "Events",
            items,
        })
    }
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
