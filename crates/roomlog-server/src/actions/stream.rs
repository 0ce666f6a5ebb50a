//! StreamRoomEvents (roomlog): a room's events as Server-Sent Events — every event after
//! `AfterSeq` (or the `Last-Event-ID` a reconnecting client sends), then new ones as they are
//! committed, each with `id:` = its sequence number, ending after the room's RoomEnd. Streams
//! wait on the room's change notification, never poll.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use roomlog_core::{ingest, DomainError, EventType, StoredEvent};
use roomlog_protocol::{ApiError, FieldType, Schema};
use serde::Deserialize;

use super::{Action, ActionResult, Ctx, Reply};
use crate::feed::StreamSlot;
use crate::state::AppState;

/// The largest sequence number a room's log can hold: the stores keep it in a signed 64-bit
/// column. `AfterSeq` and `Last-Event-ID` go up to it (nothing ever follows it).
const MAX_SEQ: u64 = i64::MAX as u64;
/// Events read per round trip while catching up.
const CHUNK: u64 = 500;
/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamRoomEvents {
    sdk_app_id: u64,
    room_id: u64,
    #[serde(default)]
    after_seq: Option<u64>,
}

impl Action for StreamRoomEvents {
    const NAME: &'static str = "StreamRoomEvents";

    fn schema() -> Schema {
        Schema::new()
            .required("SdkAppId", FieldType::U64)
            .required("RoomId", FieldType::U64)
            .optional("AfterSeq", FieldType::U64)
    }

    async fn handle(self, ctx: &Ctx<'_>) -> ActionResult {
        // Both are checked, whichever is used: a value past the sequence range would otherwise
        // reach `after + 1` (u64::MAX wraps to 0 and replays the whole room).
        if let Some(after_seq) = self.after_seq.filter(|&seq| seq > MAX_SEQ) {
            return Err(DomainError::invalid_value(format!(
                "AfterSeq must be a sequence number, 0 to {MAX_SEQ}; got {after_seq}."
            ))
            .into());
        }
        // A reconnecting EventSource sends the id of the last event it got.
        let last_event_id = last_event_id(ctx.headers)?;
        let room = ctx.owned_room(self.room_id, Some(self.sdk_app_id)).await?;
        let retention_ms = ctx.state.config().retention_ms();
        if room.events_expired(ctx.now_ms, retention_ms) {
            return Err(ingest::events_expired(&room, retention_ms).into());
        }
        let after = last_event_id.or(self.after_seq).unwrap_or(0);
        // Streams are exempt from the idle timeout: they are counted per account instead.
        let max = ctx.state.config().http.max_streams_per_account;
        let slot = ctx
            .state
            .stream_slots()
            .try_open(ctx.account_id, max)
            .ok_or_else(|| {
                ApiError::request_limit_exceeded(format!(
                    "This account has {max} live streams open on this node, the most it may \
                     (--max-streams-per-account): close one first."
                ))
            })?;
        Ok(Reply::EventStream(
            stream(ctx.state.clone(), room.room_id, after, slot).boxed(),
        ))
    }
}

/// The `Last-Event-ID` header: absent or empty is `None`; anything but a sequence number (0 to
/// [`MAX_SEQ`], the `id:` of an event this stream sent) is an InvalidParameterValue, never
/// silently a replay from the start.
fn last_event_id(headers: &http::HeaderMap) -> Result<Option<u64>, DomainError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().map(str::trim).unwrap_or("\u{fffd}");
    if text.is_empty() {
        return Ok(None);
    }
    let digits = text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(seq) if digits && seq <= MAX_SEQ => Ok(Some(seq)),
        _ => Err(DomainError::invalid_value(format!(
            "Last-Event-ID must be the id of an event of this stream, a sequence number from 0 \
             to {MAX_SEQ}; got `{}`.",
            text.chars().take(40).collect::<String>()
        ))),
    }
}

/// The stream holds `slot` for as long as it lives (until it ends or the client leaves).
fn stream(
    state: AppState,
    room_id: u64,
    after: u64,
    slot: StreamSlot,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    // Subscribe before the first read so nothing committed in between is missed.
    let changes = state.feed().subscribe(room_id);
    let stream = futures_util::stream::unfold(
        (state, changes, after, false),
        move |(state, mut changes, mut after, done)| async move {
            if done {
                return None;
            }
            loop {
                let events = match state.store().read_events(room_id, after + 1, CHUNK).await {
                    Ok(events) => events,
                    Err(err) => {
                        return Some((
                            Err(std::io::Error::other(err.to_string())),
                            (state, changes, after, true),
                        ))
                    }
                };
                if !events.is_empty() {
                    let mut out = Vec::new();
                    let mut ended = false;
                    for event in &events {
                        write_event(&mut out, event);
                        ended |= event.event_type == EventType::RoomEnd;
                        after = event.seq;
                    }
                    return Some((Ok(Bytes::from(out)), (state, changes, after, ended)));
                }
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    _ = tokio::time::sleep(KEEP_ALIVE) => {
                        return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), (state, changes, after, false)));
                    }
                }
            }
        },
    );
    stream.map(move |item| {
        let _held = &slot;
        item
    })
}

/// One SSE message: `id: <seq>`, `event: <EventType>`, `data: <EventInfo + EventId + Seq>`.
fn write_event(out: &mut Vec<u8>, event: &StoredEvent) {
    let mut data = event.event_info();
    data["EventId"] = event.event_id.clone().into();
    data["Seq"] = event.seq.into();
    out.extend_from_slice(
        format!("id: {}\nevent: {}\ndata: ", event.seq, event.event_type).as_bytes(),
    );
    serde_json::to_writer(&mut *out, &data).expect("serialising a JSON value cannot fail");
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &[u8]) -> Result<Option<u64>, DomainError> {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "last-event-id",
            http::HeaderValue::from_bytes(value).unwrap(),
        );
        last_event_id(&headers)
    }

    #[test]
    fn last_event_id_is_a_sequence_number_or_refused() {
        assert_eq!(last_event_id(&http::HeaderMap::new()).unwrap(), None);
        assert_eq!(parse(b"").unwrap(), None);
        assert_eq!(parse(b"  ").unwrap(), None);
        assert_eq!(parse(b"0").unwrap(), Some(0));
        assert_eq!(parse(b" 42 ").unwrap(), Some(42));
        assert_eq!(parse(b"9223372036854775807").unwrap(), Some(MAX_SEQ));
        for bad in [
            &b"9223372036854775808"[..],
            b"18446744073709551615",
            b"18446744073709551616",
            b"-1",
            b"+1",
            b"1.0",
            b"abc",
            b"\xff",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.code, "InvalidParameterValue", "{bad:?}");
            assert!(err.message.contains("Last-Event-ID"), "{}", err.message);
        }
    }
}
