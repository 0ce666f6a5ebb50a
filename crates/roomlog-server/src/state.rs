//! What every request handler shares.

use std::sync::Arc;

use roomlog_core::Store;
use tokio::sync::Notify;

use crate::config::ServeConfig;
use crate::ratelimit::RateLimiter;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: ServeConfig,
    limiter: RateLimiter,
    /// Woken when a class ends, so the purger re-plans its next deadline.
    purge_wakeup: Notify,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ServeConfig) -> Self {
        let limiter = RateLimiter::new(config.rate_limits.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                limiter,
                purge_wakeup: Notify::new(),
            }),
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn config(&self) -> &ServeConfig {
        &self.inner.config
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    pub fn purge_wakeup(&self) -> &Notify {
        &self.inner.purge_wakeup
    }
}
