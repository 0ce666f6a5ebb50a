//! Mapping PostgreSQL failures into [`StoreError::Backend`], always with a note of what the
//! store was doing, and telling apart the failures worth retrying.

use roomlog_core::StoreError;
use tokio_postgres::error::SqlState;

/// An operation's failure, before it reaches the caller.
#[derive(Debug)]
pub(crate) enum Error {
    /// Final: the caller gets it as is.
    Store(StoreError),
    /// The transaction lost a race it cannot see coming (a deadlock, a serialization failure,
    /// a unique index hit by a concurrent insert): nothing was written, and running the whole
    /// operation again is correct.
    Retry(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl Error {
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Error::Store(e) => e,
            Error::Retry(message) => StoreError::Backend(message),
        }
    }
}

/// A PostgreSQL error as one line: the server's message (and detail) when the server answered,
/// the client's description otherwise (connection refused, closed, ...).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut line = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                line.push_str(&format!(" ({detail})"));
            }
            line
        }
        None => e.to_string(),
    }
}

fn is_transient(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Whether `e` is a violation of the unique index (or constraint) `name`.
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error, name: &str) -> bool {
    e.as_db_error()
        .is_some_and(|db| *db.code() == SqlState::UNIQUE_VIOLATION && db.constraint() == Some(name))
}

fn db_error(what: String, e: tokio_postgres::Error) -> Error {
    let message = format!("{what}: {}", describe(&e));
    if is_transient(&e) {
        Error::Retry(message)
    } else {
        Error::Store(StoreError::Backend(message))
    }
}

/// Adds context to a tokio-postgres result.
pub(crate) trait Context<T> {
    fn context(self, what: &str) -> Result<T, Error>;
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Context<T> for Result<T, tokio_postgres::Error> {
    fn context(self, what: &str) -> Result<T, Error> {
        self.map_err(|e| db_error(what.to_owned(), e))
    }

    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| db_error(what(), e))
    }
}

/// A value read from the database that the domain cannot take (a negative id, an unknown
/// code, a document that is not valid JSON).
pub(crate) fn corrupt(message: impl Into<String>) -> Error {
    Error::Store(StoreError::Backend(message.into()))
}

/// PostgreSQL integers are i64. Ids, counters and schedule times are u64 in the domain but always
/// fit; one that does not is refused rather than wrapped, so it can never alias another value.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| corrupt(format!("{what} {value} is too large to store")))
}

/// For query bounds: a bound beyond i64 means "no bound", which `i64::MAX` expresses exactly.
pub(crate) fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
