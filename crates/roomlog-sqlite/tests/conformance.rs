//! The backend-agnostic Store conformance suite (roomlog-core), run against SQLite: one test
//! per case, each on a fresh database in its own temporary directory.

use roomlog_core::conformance::Fixture;
use roomlog_sqlite::SqliteStore;

async fn fresh_store() -> Fixture<SqliteStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("roomlog.db")).expect("open store");
    // The directory outlives the store: the fixture drops it after the case.
    Fixture::with_guard(store, dir)
}

roomlog_core::store_conformance_tests!(fresh_store());
