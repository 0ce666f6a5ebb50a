//! Attendance is computed once per class, when it ends, from the room's log, and stored: a
//! background task does it for every ended room still waiting (also after a restart), and
//! DescribeRoomStatistics computes it on the spot if it asks first.

use roomlog_core::StoreError;
use tokio::sync::watch;

use crate::state::AppState;

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
            match state.service().compute_attendance(room_id).await {
                // Deleted since it was listed: nothing left to compute.
                Err(StoreError::RoomNotFound) => {
                    tracing::debug!(room_id, "room deleted before its attendance was computed")
                }
                other => {
                    other?;
                }
            }
        }
    }
}
