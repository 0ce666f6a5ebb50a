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
