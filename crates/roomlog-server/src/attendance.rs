//! Attendance is computed once per class, when it ends, from the room's log, and stored: a
//! background task does it for every ended room still waiting (also after a restart), and
//! DescribeRoomStatistics computes it on the spot if it asks first.

use roomlog_core::attendance::{AttendanceBuilder, Expected, RoomAttendance};
use roomlog_core::{RoomId, StoreError};
use tokio::sync::watch;

use crate::state::AppState;

/// Events read per round trip while folding a room's log.
const CHUNK: u64 = 5000;

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        let wakeup = state.attendance_wakeup().notified();
        let retry = match compute_pending(&state).await {
            Ok(()) => None,
            Err(err) => {
                tracing::error!(error = %err, "attendance computation failed; retrying");
                Some(state.clock().now_ms() + 5000)
            }
        };
        if !crate::jobs::wait(&state, retry, wakeup, &mut shutdown).await {
            return;
        }
    }
}

async fn compute_pending(state: &AppState) -> Result<(), StoreError> {
    loop {
        let rooms = state.store().rooms_awaiting_attendance(20).await?;
        if rooms.is_empty() {
            return Ok(());
        }
        for room_id in rooms {
            match compute_and_save(state, room_id).await {
                // Deleted since it was listed: nothing left to compute.
                Err(StoreError::RoomNotFound) => {
                    tracing::debug!(room_id, "room deleted before its attendance was computed")
                }
                other => {
                    other?;
                }
            }
        }
        // Their purge may be due now that their attendance is safe.
        state.purge_wakeup().notify_one();
    }
}

/// Folds the room's whole log (streamed in chunks) into its attendance and stores it.
pub async fn compute_and_save(
    state: &AppState,
    room_id: RoomId,
) -> Result<RoomAttendance, StoreError> {
    let store = state.store();
    let room = store
        .get_room(room_id)
        .await?
        .ok_or(StoreError::RoomNotFound)?;
    let mut builder = AttendanceBuilder::new();
    let mut next_seq = 1;
    loop {
        let chunk = store.read_events(room_id, next_seq, CHUNK).await?;
        for event in &chunk {
            builder.push(event);
        }
        if (chunk.len() as u64) < CHUNK {
            break;
        }
        next_seq += CHUNK;
    }
    let expected = Expected {
        teacher_id: room.spec.teacher_id.clone(),
        assistants: room.spec.assistants.clone().unwrap_or_default(),
    };
    let mut ids: Vec<String> = builder.user_ids().map(str::to_owned).collect();
    ids.extend(expected.teacher_id.iter().cloned());
    ids.extend(expected.assistants.iter().cloned());
    let names = store.user_names(room.sdk_app_id, &ids).await?;
    let attendance = builder.finish(&expected, &|user| names.get(user).cloned());
    store.save_attendance(room_id, &attendance).await?;
    Ok(attendance)
}
