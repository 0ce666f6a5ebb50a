//! What the background jobs (purge, lifecycle scheduler, attendance, callback delivery) share:
//! each runs a round of work, then sleeps until its next deadline, a wake-up, or shutdown.

use tokio::sync::futures::Notified;
use tokio::sync::watch;

use crate::state::AppState;

/// Waits until `next` (unix ms by the state's clock; `None`: no deadline), `wakeup` fires, or
/// shutdown is signalled. Returns false on shutdown. Create `wakeup` before the round of work
/// that decided `next`, so a wake-up during that round is not lost.
///
/// When other nodes write to the same store, their changes wake nobody here: the job then
/// re-plans at least every `job-poll-interval` (a node takes over the work of a dead one).
pub async fn wait(
    state: &AppState,
    next: Option<i64>,
    wakeup: Notified<'_>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let clock = state.clock();
    let next = if state.store().is_shared() {
        let poll = i64::try_from(state.config().job_poll_interval.as_millis()).unwrap_or(i64::MAX);
        let cap = clock.now_ms().saturating_add(poll.max(1));
        Some(next.map_or(cap, |at| at.min(cap)))
    } else {
        next
    };
    let deadline = async {
        match next {
            Some(at) => clock.sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = wakeup => true,
        _ = deadline => true,
        _ = shutdown.changed() => false,
    }
}
