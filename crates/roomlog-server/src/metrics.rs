//! Prometheus metrics, rendered at `GET /metrics`.
//!
//! Names: `roomlog_requests_total{action,code}`, `roomlog_request_duration_seconds{action}`,
//! `roomlog_ingest_batch_events`, `roomlog_ingest_commit_seconds`, `roomlog_purged_events_total`,
//! `roomlog_purged_rooms_total`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once (several servers in one test process share it).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (e.g. by an embedding program): then our
        // handle renders nothing, which is better than refusing to start.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub fn render() -> String {
    handle().render()
}

pub fn record_request(action: &str, code: &str, elapsed: Duration) {
    metrics::counter!("roomlog_requests_total", "action" => action.to_owned(), "code" => code.to_owned())
        .increment(1);
    metrics::histogram!("roomlog_request_duration_seconds", "action" => action.to_owned())
        .record(elapsed.as_secs_f64());
}

pub fn record_ingest(batch_events: usize, commit: Duration) {
    metrics::histogram!("roomlog_ingest_batch_events").record(batch_events as f64);
    metrics::histogram!("roomlog_ingest_commit_seconds").record(commit.as_secs_f64());
}

/// One callback attempt: its result, and the time from the event's commit (its delivery's
/// creation) to this attempt.
pub fn record_delivery(outcome: &roomlog_core::callback::AttemptOutcome, lag_ms: i64) {
    let result = match (outcome.delivered, outcome.retry_at_ms) {
        (true, _) => "delivered",
        (false, Some(_)) => "retry",
        (false, None) => "dead",
    };
    metrics::counter!("roomlog_callback_attempts_total", "result" => result).increment(1);
    if outcome.delivered {
        metrics::histogram!("roomlog_callback_lag_seconds").record(lag_ms.max(0) as f64 / 1000.0);
    }
}

/// Whether the Redis rate-limit backend is reachable (1) or this node uses its fallback (0).
pub fn record_rate_limit_redis_up(up: bool) {
    metrics::gauge!("roomlog_rate_limit_redis_up").set(if up { 1.0 } else { 0.0 });
    if !up {
        metrics::counter!("roomlog_rate_limit_redis_outages_total").increment(1);
    }
}

pub fn record_purge(rooms: u64, events: u64) {
    metrics::counter!("roomlog_purged_rooms_total").increment(rooms);
    metrics::counter!("roomlog_purged_events_total").increment(events);
}
