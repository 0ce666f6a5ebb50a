//! Wall-clock helpers. All event timestamps are unix milliseconds; LCIC fields are unix seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Current unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Current unix time in seconds.
pub fn now_secs() -> i64 {
    now_ms().div_euclid(1000)
}

/// Unix milliseconds to the whole seconds LCIC fields carry.
pub fn ms_to_secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// The domain's source of "now": room schedules, event receipt times, deadlines and kicks.
/// Injectable so time-dependent behaviour is tested without real waiting ([`ManualClock`]).
/// (Signature clock skew is a transport concern and always uses the system clock.)
pub trait Clock: Send + Sync + 'static {
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;

    /// Resolves once `now_ms() >= deadline_ms`.
    fn sleep_until(&self, deadline_ms: i64) -> BoxFuture<'_>;
}

pub type BoxFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn sleep_until(&self, deadline_ms: i64) -> BoxFuture<'_> {
        Box::pin(async move {
            // Re-check after waking: the wall clock may have been stepped meanwhile.
            loop {
                let left = deadline_ms.saturating_sub(now_ms());
                if left <= 0 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(left as u64)).await;
            }
        })
    }
}

/// A clock that moves only when told to; sleepers wake as soon as it passes their deadline.
#[derive(Debug)]
pub struct ManualClock {
    now: tokio::sync::watch::Sender<i64>,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        Self {
            now: tokio::sync::watch::Sender::new(start_ms),
        }
    }

    /// Moves the clock forward, waking every sleeper whose deadline passed.
    pub fn advance(&self, by: std::time::Duration) {
        self.now
            .send_modify(|now| *now = now.saturating_add(by.as_millis() as i64));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline_ms: i64) -> BoxFuture<'_> {
        let mut moved = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as `self`, which outlives this future.
            let _ = moved.wait_for(|now| *now >= deadline_ms).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_advanced_past_their_deadline() {
        let clock = std::sync::Arc::new(ManualClock::new(1_000));
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(5_000).await })
        };
        clock.advance(Duration::from_millis(3_000));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "4,000 < 5,000");
        clock.advance(Duration::from_millis(1_000));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(clock.now_ms(), 5_000);
    }
}
