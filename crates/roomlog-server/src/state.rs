//! What every request handler shares.

use std::sync::Arc;

use roomlog_core::time::{Clock, SystemClock};
use roomlog_core::{Changes, Store};
use tokio::sync::Notify;

use crate::cache::Lookups;
use crate::config::ServeConfig;
use crate::feed::{RoomFeed, StreamSlots};
use crate::page_cache::PageCache;
use crate::ratelimit::RateLimiter;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: ServeConfig,
    clock: Arc<dyn Clock>,
    limiter: RateLimiter,
    /// Woken when a class ends or a room's attendance is stored, so the purger re-plans.
    purge_wakeup: Notify,
    /// Woken when a room's lifecycle deadline may have moved earlier (created, modified,
    /// started, emptied), so the scheduler re-plans.
    schedule_wakeup: Notify,
    /// Woken when a class ends, so its attendance is computed.
    attendance_wakeup: Notify,
    /// Rooms' change notifications for live streams.
    feed: RoomFeed,
    /// Woken when deliveries may have become due (new events, a finished delivery, a replay).
    delivery_wakeup: Notify,
    /// Keys, apps and room owners every request checks (see `cache`).
    lookups: Lookups,
    /// GetRoomEvent pages already rendered (see `page_cache`).
    page_cache: Arc<PageCache>,
    /// Open StreamRoomEvents streams per account.
    stream_slots: StreamSlots,
    /// The classroom gateway's hubs and sessions on this node.
    gateway: crate::gateway::Gateway,
    /// KiB of large request bodies that may be held at once (`http.max-body-buffer-mib`).
    body_budget: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ServeConfig) -> Self {
        Self::with_clock(store, config, Arc::new(SystemClock))
    }

    /// Tests pass a `ManualClock` to drive schedules without waiting.
    pub fn with_clock(store: Arc<dyn Store>, config: ServeConfig, clock: Arc<dyn Clock>) -> Self {
        let limiter = RateLimiter::new(config.rate_limits.clone());
        let page_cache = Arc::new(PageCache::new(config.page_cache_bytes()));
        let body_budget_kib = (config.http.max_body_buffer_mib as usize)
            .saturating_mul(1024)
            .min(tokio::sync::Semaphore::MAX_PERMITS);
        let body_budget = Arc::new(tokio::sync::Semaphore::new(body_budget_kib));
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                clock,
                limiter,
                purge_wakeup: Notify::new(),
                schedule_wakeup: Notify::new(),
                attendance_wakeup: Notify::new(),
                feed: RoomFeed::default(),
                delivery_wakeup: Notify::new(),
                lookups: Lookups::default(),
                page_cache,
                stream_slots: StreamSlots::default(),
                body_budget,
                gateway: crate::gateway::Gateway::default(),
            }),
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn config(&self) -> &ServeConfig {
        &self.inner.config
    }

    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    pub fn purge_wakeup(&self) -> &Notify {
        &self.inner.purge_wakeup
    }

    pub fn schedule_wakeup(&self) -> &Notify {
        &self.inner.schedule_wakeup
    }

    pub fn attendance_wakeup(&self) -> &Notify {
        &self.inner.attendance_wakeup
    }

    pub fn feed(&self) -> &RoomFeed {
        &self.inner.feed
    }

    pub fn delivery_wakeup(&self) -> &Notify {
        &self.inner.delivery_wakeup
    }

    pub fn lookups(&self) -> &Lookups {
        &self.inner.lookups
    }

    pub fn body_budget(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.inner.body_budget
    }

    pub fn stream_slots(&self) -> &StreamSlots {
        &self.inner.stream_slots
    }

    pub fn gateway(&self) -> &crate::gateway::Gateway {
        &self.inner.gateway
    }

    pub fn page_cache(&self) -> &Arc<PageCache> {
        &self.inner.page_cache
    }

    /// Wakes whoever waits for `changes`: the one place writes turn into wake-ups (the store's
    /// writes say what they changed, see `service`; the store's commit feed reports other
    /// nodes' writes here too).
    pub fn wake(&self, changes: Changes) {
        let inner = &self.inner;
        if let Some(room_id) = changes.events_in {
            inner.feed.publish(room_id);
        }
        if changes.events_anywhere {
            inner.feed.publish_all();
        }
        if changes.events_in.is_some() || changes.events_anywhere || changes.deliveries {
            inner.delivery_wakeup.notify_one();
        }
        if changes.deadlines {
            inner.schedule_wakeup.notify_one();
        }
        if changes.class_ended {
            inner.attendance_wakeup.notify_one();
        }
        if changes.class_ended || changes.attendance_saved {
            inner.purge_wakeup.notify_one();
        }
    }
}
