//! What the background jobs (purge, lifecycle scheduler, attendance, callback delivery) share:
//! each runs a round of work, then sleeps until its next deadline, a wake-up, or shutdown.

use roomlog_core::time::Clock;
use tokio::sync::futures::Notified;
use tokio::sync::watch;

/// Waits until `next` (unix ms by `clock`; `None`: no deadline), `wakeup` fires, or shutdown is
/// signalled. Returns false on shutdown. Create `wakeup` before the round of work that decided
/// `next`, so a wake-up during that round is not lost.
pub async fn wait(
    clock: &dyn Clock,
    next: Option<i64>,
    wakeup: Notified<'_>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
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
