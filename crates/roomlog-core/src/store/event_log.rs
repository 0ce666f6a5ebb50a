use std::future::Future;

use async_trait::async_trait;

use super::{KickBars, StoreError, Written};
use crate::error::DomainError;
use crate::event::{EventType, NewEvent, StoredEvent};
use crate::room::{Room, RoomId};

/// The rule a room must satisfy to take a batch of events, evaluated by the store inside the
/// recording transaction (holding the write lock: it must be fast and must not block) against
/// the room as stored there, the events not yet recorded, and the kick bars of the users those
/// events would let in (see `ingest::admit`).
pub type Admission =
    Box<dyn FnOnce(&Room, &[NewEvent], &KickBars) -> Result<(), DomainError> + Send>;

/// Which events of a room to read, decided from the room as read (see
/// [`EventLog::read_room_page`]): `Some((first_seq, limit))`, or `None` for none. Runs where the
/// backend reads (it must be fast and must not block).
pub type EventRange = Box<dyn FnOnce(&Room) -> Option<(u64, u64)> + Send>;

/// A room and some of its events as GetRoomEvent shows them (see [`EventLog::read_room_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPage {
    pub room: Room,
    /// How many events `events_json` holds.
    pub count: u64,
    /// The events' `EventInfo` objects as [`StoredEvent::write_event_info`] writes them, in
    /// sequence order, separated by commas: the inside of a JSON array.
    pub events_json: Vec<u8>,
}

impl RoomPage {
    /// Renders `events` (of `room`) the way [`RoomPage::events_json`] holds them.
    pub fn render(room: Room, events: &[StoredEvent]) -> RoomPage {
        let mut events_json = Vec::with_capacity(events.len() * 128);
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                events_json.push(b',');
            }
            event.write_event_info(&mut events_json);
        }
        RoomPage {
            room,
            count: events.len() as u64,
            events_json,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendOutcome {
    /// Events recorded by this call.
    pub accepted: u64,
    /// Events whose id the room already had (or that repeated an id earlier in the batch).
    pub duplicates: u64,
    /// The room's last sequence number after this call.
    pub last_seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeStats {
    pub rooms: u64,
    pub events: u64,
}

/// Progress of one bounded batch of deletions (the retention purge, a room's deletion): the
/// backends delete in batches so that ingest into the rooms involved waits one batch at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeStep {
    /// Rooms finished by this batch (purge: marked purged; deletion: all rows gone).
    pub rooms: u64,
    /// Rows deleted: events (for deleted rooms, their callback deliveries too).
    pub events: u64,
    /// Nothing is left to do (for this process: rooms other nodes hold are theirs to finish).
    pub done: bool,
}

/// Runs `batch` until one is done, adding up what they did. A batch that is not the last must
/// have done something, or this would loop forever: that is an error.
pub async fn in_batches<F, Fut>(mut batch: F) -> Result<PurgeStats, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<PurgeStep, StoreError>>,
{
    let mut total = PurgeStats::default();
    loop {
        let step = batch().await?;
        total.rooms += step.rooms;
        total.events += step.events;
        if step.done {
            return Ok(total);
        }
        if step.rooms == 0 && step.events == 0 {
            return Err(StoreError::Backend(
                "a purge batch made no progress; stopping to avoid looping".into(),
            ));
        }
    }
}

/// Each room's log of events: recording, reading, and the retention purge.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Records the events whose ids the room does not have yet, in order, after `admit`
    /// accepted the room's state and those new events, and updates the room's presence.
    /// Durable before it returns. Says what changed: events recorded (none for a batch of
    /// duplicates), the room's deadline moved (member events can move it).
    async fn append_events(
        &self,
        room_id: RoomId,
        events: Vec<NewEvent>,
        admit: Admission,
    ) -> Result<Written<AppendOutcome>, StoreError>;
    /// Events with `seq` in `first_seq .. first_seq + limit`, in order (an index seek).
    async fn read_events(
        &self,
        room_id: RoomId,
        first_seq: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// A room and some of its events as one read, the events already written as JSON: the
    /// room (`None` if it does not exist; nothing else is read then) and, if `range` picks
    /// `(first_seq, limit)` for it, exactly the events [`EventLog::read_events`] returns for
    /// that range, rendered as [`RoomPage::render`] does. What GetRoomEvent reads per request:
    /// the backend reads both in one snapshot and as few round trips as it can, and writes its
    /// rows straight into the JSON ([`crate::EventRef`]).
    async fn read_room_page(
        &self,
        room_id: RoomId,
        range: EventRange,
    ) -> Result<Option<RoomPage>, StoreError>;
    /// Up to `limit` events of one type with `seq > after_seq`, in order: callers page through
    /// a large result by passing the last seq they got.
    async fn read_events_of_type(
        &self,
        room_id: RoomId,
        event_type: EventType,
        after_seq: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Deletes the events of every room that ended at or before `ended_at_or_before_ms` (and
    /// whose attendance is stored) and marks those rooms purged. Works in bounded batches;
    /// reclaims the space.
    async fn purge_events(&self, ended_at_or_before_ms: i64) -> Result<PurgeStats, StoreError>;
    /// The earliest end time (unix ms) among ended rooms whose events are not purged yet: the
    /// purger sleeps until that plus the retention.
    async fn next_purge_candidate(&self) -> Result<Option<i64>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_run_until_done_and_must_progress() {
        let steps = |steps: Vec<(u64, u64, bool)>| {
            let mut steps = steps.into_iter();
            move || {
                let (rooms, events, done) = steps.next().expect("no batch after the last");
                std::future::ready(Ok(PurgeStep {
                    rooms,
                    events,
                    done,
                }))
            }
        };
        let total = in_batches(steps(vec![(0, 10, false), (1, 5, false), (2, 0, true)]));
        assert_eq!(
            total.await.unwrap(),
            PurgeStats {
                rooms: 3,
                events: 15
            }
        );
        let stuck = in_batches(steps(vec![(0, 10, false), (0, 0, false)]));
        assert!(matches!(stuck.await, Err(StoreError::Backend(_))));
    }
}
