//! The delivery worker: takes due head-of-line deliveries from the store's outbox (leased, so
//! several workers or nodes never send the same one at once), POSTs them, and records the
//! outcome — delivered, retried with exponential backoff and jitter, or dead after
//! `give-up-after` (the retry schedule is core's `RetryPolicy::outcome`). It sleeps until the next due delivery and is woken by new events and by
//! finished deliveries (the room's next event is then due).
//!
//! Per-room order holds because the store only hands out a room's lowest pending delivery and
//! never two of the same room at once. Rooms and apps proceed in parallel; a receiver that
//! times out holds one slot per room for at most the timeout, then backs off.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use roomlog_core::callback::{self, Delivery};
use roomlog_core::StoreError;
use tokio::sync::{watch, Semaphore};

use super::destination;
use crate::state::AppState;

/// Deliveries in flight at once, across all apps.
const MAX_IN_FLIGHT: usize = 256;
/// A claimed delivery is leased this much longer than the request timeout: if this node dies
/// mid-delivery, another takes it over when the lease runs out.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let http = match client(&state.config().callbacks) {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the callback HTTP client; callbacks are not delivered");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        let wakeup = state.delivery_wakeup().notified();
        let next = match claim_and_send(&state, &http, &slots, &mut in_flight).await {
            Ok(next) => next,
            Err(err) => {
                tracing::error!(error = %err, "callback worker failed; retrying");
                Some(state.clock().now_ms() + RETRY_AFTER_FAILURE.as_millis() as i64)
            }
        };
        while in_flight.try_join_next().is_some() {}
        if !crate::jobs::wait(&state, next, wakeup, &mut shutdown).await {
            break;
        }
    }
    // Let deliveries in flight finish (bounded by the timeout) so their outcome is recorded.
    while in_flight.join_next().await.is_some() {}
}

fn client(config: &crate::config::CallbackConfig) -> reqwest::Result<reqwest::Client> {
    super::install_tls_provider();
    reqwest::Client::builder()
        .timeout(config.retry.timeout)
        // The connection itself only goes to addresses that pass the destination rule, so a
        // DNS answer that changes between the check and the connect cannot slip through.
        .dns_resolver(Arc::new(destination::CheckedResolver {
            allow_private: config.allow_private,
            host_overrides: config.host_overrides.clone(),
        }))
        // A redirect could lead anywhere, including private addresses: not followed.
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(32)
        .build()
}

/// Claims as many due deliveries as there are free slots and starts them; returns when the
/// next one is due.
async fn claim_and_send(
    state: &AppState,
    http: &reqwest::Client,
    slots: &Arc<Semaphore>,
    in_flight: &mut tokio::task::JoinSet<()>,
) -> Result<Option<i64>, StoreError> {
    let store = state.store();
    let lease = state.config().callbacks.retry.timeout + LEASE_MARGIN;
    loop {
        let free = slots.available_permits();
        if free == 0 {
            // Woken again when a delivery finishes.
            return Ok(None);
        }
        let now = state.clock().now_ms();
        let due = store
            .claim_due_deliveries(now, now + lease.as_millis() as i64, free as u64)
            .await?;
        let full = due.len() == free;
        for delivery in due {
            let permit = Arc::clone(slots)
                .try_acquire_owned()
                .expect("claimed no more than the free slots");
            let (state, http) = (state.clone(), http.clone());
            in_flight.spawn(async move {
                deliver(&state, &http, delivery).await;
                drop(permit);
                state.delivery_wakeup().notify_one();
            });
        }
        if !full {
            return store.next_delivery_due().await;
        }
    }
}

async fn deliver(state: &AppState, http: &reqwest::Client, delivery: Delivery) {
    let started_ms = state.clock().now_ms();
    let result = attempt(state, http, &delivery).await;
    let outcome = state.config().callbacks.retry.outcome(
        &delivery,
        started_ms,
        result,
        rand::rng().random::<f64>(),
    );
    crate::metrics::record_delivery(&outcome, started_ms - delivery.created_ms);
    if outcome.is_dead() {
        tracing::warn!(
            room_id = delivery.room_id,
            seq = delivery.event.seq,
            error = outcome.error.as_deref().unwrap_or_default(),
            "callback delivery gave up: dead letter"
        );
    }
    if let Err(err) = state
        .store()
        .record_attempt(delivery.room_id, delivery.event.seq, &outcome)
        .await
    {
        // The lease runs out and the delivery is attempted again: at least once, never lost.
        tracing::error!(error = %err, room_id = delivery.room_id, "recording a callback attempt failed");
    }
}

/// One POST. `Ok(status)` for a 2xx; otherwise the status (if any) and why it failed.
async fn attempt(
    state: &AppState,
    http: &reqwest::Client,
    delivery: &Delivery,
) -> Result<u16, (Option<u16>, String)> {
    let config = state
        .store()
        .app_callback(delivery.sdk_app_id)
        .await
        .map_err(|e| (None, e.to_string()))?;
    if config.url.is_empty() {
        return Err((None, "the app has no callback URL".into()));
    }
    // Checked again at every delivery: DNS may have changed since the URL was configured. The
    // request goes to the URL as the check parsed it, not to the text parsed again.
    let destination = destination::check(&config.url, &state.config().callbacks)
        .await
        .map_err(|e| (None, e.message))?;
    let now_secs = state.clock().now_ms().div_euclid(1000);
    let body = callback::body(delivery.sdk_app_id, &delivery.event, &config.key, now_secs);
    let signature = callback::body_signature(&config.key, now_secs, &body);
    let request = http
        .post(destination.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(callback::EVENT_ID_HEADER, &delivery.event.event_id)
        .header(callback::ROOM_ID_HEADER, delivery.room_id.to_string())
        .header(callback::SEQ_HEADER, delivery.event.seq.to_string())
        .header(callback::SIGNATURE_HEADER, signature)
        .body(body);
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
        Ok(response) => Err((
            Some(response.status().as_u16()),
            format!("the receiver answered HTTP {}", response.status().as_u16()),
        )),
        Err(err) if err.is_timeout() => Err((None, "timed out".into())),
        Err(err) => Err((None, format!("request failed: {err}"))),
    }
}
