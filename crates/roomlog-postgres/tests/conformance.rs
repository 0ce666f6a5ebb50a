//! The backend-agnostic Store conformance suite (roomlog-core), run against PostgreSQL: one test
//! per case, each in a fresh schema that is dropped after the case.

mod common;

use roomlog_core::conformance::Fixture;
use roomlog_postgres::PgStore;

async fn fresh_store() -> Fixture<PgStore> {
    let schema = common::Schema::new();
    let store = schema.connect().await;
    // The schema outlives the store: the fixture drops it after the case.
    Fixture::with_guard(store, schema)
}

roomlog_core::store_conformance_tests!(fresh_store());
