//! Prometheus metrics, rendered at `GET /metrics`, each with `# HELP` and `# TYPE`. Every
//! metric is listed in [`DESCRIPTIONS`]; histograms get buckets in their own unit.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Buckets of request and commit durations, in seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Buckets of the events in one ingest commit (a group commit holds up to thousands).
const EVENT_COUNT_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];
/// Buckets of callback lag, in seconds: from instant to retries hours later.
const LAG_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];

/// Kind of a metric, for its description.
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric roomlog records: name, kind, unit, help text.
const DESCRIPTIONS: &[(&str, Kind, metrics::Unit, &str)] = &[
    (
        "roomlog_requests_total",
        Kind::Counter,
        metrics::Unit::Count,
        "API requests answered, by action and LCIC code (Success for none).",
    ),
    (
        "roomlog_request_duration_seconds",
        Kind::Histogram,
        metrics::Unit::Seconds,
        "Time to answer an API request, by action (a stream: until its answer began).",
    ),
    (
        "roomlog_ingest_batch_events",
        Kind::Histogram,
        metrics::Unit::Count,
        "Events written by one ingest commit (group commit: several reports share one).",
    ),
    (
        "roomlog_ingest_commit_seconds",
        Kind::Histogram,
        metrics::Unit::Seconds,
        "Time of one ingest commit, fsync included.",
    ),
    (
        "roomlog_purged_events_total",
        Kind::Counter,
        metrics::Unit::Count,
        "Events deleted after their retention.",
    ),
    (
        "roomlog_purged_rooms_total",
        Kind::Counter,
        metrics::Unit::Count,
        "Rooms whose events were deleted after their retention.",
    ),
    (
        "roomlog_callback_attempts_total",
        Kind::Counter,
        metrics::Unit::Count,
        "Callback delivery attempts, by result (delivered, retry, dead).",
    ),
    (
        "roomlog_callback_lag_seconds",
        Kind::Histogram,
        metrics::Unit::Seconds,
        "Time from an event's commit to its successful callback delivery.",
    ),
    (
        "roomlog_page_cache_hits_total",
        Kind::Counter,
        metrics::Unit::Count,
        "GetRoomEvent pages answered from the in-memory page cache.",
    ),
    (
        "roomlog_page_cache_misses_total",
        Kind::Counter,
        metrics::Unit::Count,
        "GetRoomEvent pages read from the store (then kept in the cache).",
    ),
    (
        "roomlog_gateway_connections",
        Kind::Gauge,
        metrics::Unit::Count,
        "Open classroom gateway connections (WebSockets) on this node.",
    ),
    (
        "roomlog_gateway_closes_total",
        Kind::Counter,
        metrics::Unit::Count,
        "Classroom gateway connections the server closed, by close code.",
    ),
    (
        "roomlog_rate_limit_redis_up",
        Kind::Gauge,
        metrics::Unit::Count,
        "1 while the Redis rate-limit backend answers, 0 while this node uses its fallback.",
    ),
    (
        "roomlog_rate_limit_redis_outages_total",
        Kind::Counter,
        metrics::Unit::Count,
        "Times this node lost the Redis rate-limit backend.",
    ),
];

/// Installs the process-wide recorder once (several servers in one test process share it).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("roomlog_ingest_batch_events".into()),
                    EVENT_COUNT_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("roomlog_callback_lag_seconds".into()),
                    LAG_BUCKETS,
                )
            })
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (e.g. by an embedding program): then our
        // handle renders nothing, which is better than refusing to start.
        if metrics::set_global_recorder(recorder).is_ok() {
            for (name, kind, unit, help) in DESCRIPTIONS {
                match kind {
                    Kind::Counter => metrics::describe_counter!(*name, *unit, *help),
                    Kind::Gauge => metrics::describe_gauge!(*name, *unit, *help),
                    Kind::Histogram => metrics::describe_histogram!(*name, *unit, *help),
                }
            }
        }
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
