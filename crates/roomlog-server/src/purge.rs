//! The retention purge: sleeps until the earliest ended room's events expire, deletes them for
//! real, and re-plans. A class ending wakes it (its deadline may be the new earliest).

use std::time::Duration;

use roomlog_core::StoreError;
use tokio::sync::watch;

use crate::state::AppState;

/// Old callback deliveries (past `keep-for`) are forgotten at least this often.
const DELIVERY_PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long to wait before retrying after a storage failure.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let retention_ms = state.config().retention_ms();
    loop {
        // Register for wake-ups before reading the plan, so an EndRoom that commits in between
        // is not missed.
        let wakeup = state.purge_wakeup().notified();
        let next = match purge_due(&state, retention_ms).await {
            Ok(next) => {
                let hourly = state.clock().now_ms() + DELIVERY_PURGE_EVERY.as_millis() as i64;
                Some(next.map_or(hourly, |at| at.min(hourly)))
            }
            Err(err) => {
                tracing::error!(error = %err, "purge failed; retrying");
                Some(state.clock().now_ms() + RETRY_AFTER_FAILURE.as_millis() as i64)
            }
        };
        if !crate::jobs::wait(&state, next, wakeup, &mut shutdown).await {
            return;
        }
    }
}

/// Purges what is due and returns when the next room's events expire (unix ms), if any.
async fn purge_due(state: &AppState, retention_ms: i64) -> Result<Option<i64>, StoreError> {
    let store = state.store();
    let cutoff = state.clock().now_ms().saturating_sub(retention_ms);
    if store
        .next_purge_candidate()
        .await?
        .is_some_and(|ended| ended <= cutoff)
    {
        let stats = state.service().purge_events(cutoff).await?;
        crate::metrics::record_purge(stats.rooms, stats.events);
        tracing::info!(
            rooms = stats.rooms,
            events = stats.events,
            "purged expired room events"
        );
    }
    let keep_for = state.config().callbacks.retry.keep_for.as_millis() as i64;
    let forgotten = state
        .service()
        .purge_deliveries(state.clock().now_ms().saturating_sub(keep_for))
        .await?;
    if forgotten > 0 {
        tracing::info!(deliveries = forgotten, "forgot old callback deliveries");
    }
    Ok(store
        .next_purge_candidate()
        .await?
        .map(|ended| ended.saturating_add(retention_ms)))
}
