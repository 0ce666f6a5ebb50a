//! Mapping SQLite failures (and values SQLite cannot hold) into [`StoreError::Backend`], always
//! with a note of what the store was doing, so a log line is actionable on its own.

use roomlog_core::StoreError;

/// Adds context to a rusqlite result: `Backend("<what>: <sqlite error>")`.
pub(crate) trait Context<T> {
    fn context(self, what: &str) -> Result<T, StoreError>;
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn context(self, what: &str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend(format!("{what}: {e}")))
    }

    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend(format!("{}: {e}", what())))
    }
}

/// The error every call gets once the store is closed (or its writer thread is gone).
pub(crate) fn closed() -> StoreError {
    StoreError::Backend("the SQLite store is closed".into())
}

/// SQLite integers are i64. Ids, counters and schedule times are u64 in the domain but always
/// fit; one that does not is refused rather than wrapped, so it can never alias another value.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("{what} {value} is too large to store")))
}

/// For query bounds: a bound beyond i64 means "no bound", which `i64::MAX` expresses exactly.
pub(crate) fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
