//! The class lifecycle that runs by itself: sleeps until the earliest room deadline the store
//! keeps (no polling of rooms), then starts, ends or expires the rooms that are due. Deadlines
//! live in storage, so they survive restarts; transitions are compare-and-set in the store, so
//! a room someone else started or ended meanwhile is simply skipped.

use std::time::Duration;

use roomlog_core::lifecycle::{next_deadline, Due};
use roomlog_core::{Room, StoreError};
use tokio::sync::watch;

use crate::state::AppState;

/// Rooms handled per round; more due rooms are taken in the next round at once.
const BATCH: u64 = 100;
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        let wakeup = state.schedule_wakeup().notified();
        let next = match run_due(&state).await {
            Ok(next) => next,
            Err(err) => {
                tracing::error!(error = %err, "lifecycle scheduler failed; retrying");
                Some(state.clock().now_ms() + RETRY_AFTER_FAILURE.as_millis() as i64)
            }
        };
        if !crate::jobs::wait(&state, next, wakeup, &mut shutdown).await {
            return;
        }
    }
}

/// Runs every due transition; returns the next deadline.
pub async fn run_due(state: &AppState) -> Result<Option<i64>, StoreError> {
    let store = state.store();
    loop {
        let now = state.clock().now_ms();
        let due = store.due_rooms(now, BATCH).await?;
        let full = due.len() as u64 == BATCH;
        for room in due {
            match transition(state, &room, now).await {
                Ok(()) | Err(StoreError::WrongStatus(_)) | Err(StoreError::RoomNotFound) => {}
                Err(err) => return Err(err),
            }
        }
        if !full {
            return store.next_deadline().await;
        }
    }
}

async fn transition(state: &AppState, room: &Room, now: i64) -> Result<(), StoreError> {
    let service = state.service();
    let policy = state.config().lifecycle_policy();
    let Some((_, due)) = next_deadline(room, room.occupancy, &policy) else {
        return Ok(());
    };
    let end_ms = room.spec.end_time as i64 * 1000;
    match due {
        // Down past both StartTime and EndTime: the class never took place.
        Due::AutoStart if now >= end_ms => {
            service.expire_room(room.room_id).await?;
            tracing::info!(
                room_id = room.room_id,
                "room expired (auto start missed its window)"
            );
        }
        Due::AutoStart => {
            service.start_room(room.room_id, now).await?;
            tracing::info!(room_id = room.room_id, "class started by schedule");
        }
        Due::Expire => {
            service.expire_room(room.room_id).await?;
            tracing::info!(room_id = room.room_id, "room expired: never started");
        }
        Due::AutoEnd => {
            service.end_room(room.room_id, now).await?;
            tracing::info!(room_id = room.room_id, "class ended by schedule");
        }
    }
    Ok(())
}
