//! The retention purge: sleeps until the earliest ended room's events expire, deletes them for
//! real, and re-plans. A class ending wakes it (its deadline may be the new earliest).

use std::time::Duration;

use roomlog_core::time::now_ms;
use tokio::sync::watch;

use crate::state::AppState;

/// How long to wait before retrying after a storage failure.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let retention_ms = state.config().retention_ms();
    loop {
        // Register for wake-ups before reading the plan, so an EndRoom that commits in between
        // is not missed.
        let wakeup = state.purge_wakeup().notified();
        let sleep_for = match plan(&state, retention_ms).await {
            Ok(next) => next,
            Err(err) => {
                tracing::error!(error = %err, "purge failed; retrying");
                Some(RETRY_AFTER_FAILURE)
            }
        };
        tokio::select! {
            _ = wakeup => {}
            _ = sleep_or_forever(sleep_for) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Purges what is due and returns how long until the next deadline (`None`: nothing pending).
async fn plan(
    state: &AppState,
    retention_ms: i64,
) -> Result<Option<Duration>, roomlog_core::StoreError> {
    let store = state.store();
    let now = now_ms();
    let cutoff = now.saturating_sub(retention_ms);
    if store
        .next_purge_candidate()
        .await?
        .is_some_and(|ended| ended <= cutoff)
    {
        let stats = store.purge_events(cutoff).await?;
        crate::metrics::record_purge(stats.rooms, stats.events);
        tracing::info!(
            rooms = stats.rooms,
            events = stats.events,
            "purged expired room events"
        );
    }
    Ok(store.next_purge_candidate().await?.map(|ended| {
        let due = ended.saturating_add(retention_ms);
        Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64)
    }))
}

async fn sleep_or_forever(duration: Option<Duration>) {
    match duration {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
