//! The SQL behind each store operation, as plain functions of a connection.
//!
//! Write functions run on the writer thread inside a group transaction (in their own savepoint);
//! read functions run on a pooled read-only connection. Nothing here knows which: that split is
//! made in `lib.rs`.

pub(crate) mod accounts;
pub(crate) mod events;
pub(crate) mod purge;
pub(crate) mod rooms;

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{events, purge, rooms};

    /// The hot queries must stay index seeks as the schema evolves: a full scan of `events`
    /// would make a page read cost the whole log.
    #[test]
    fn hot_queries_use_their_indexes() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::migrate(&mut conn, 0).unwrap();
        let cases = [
            (events::READ_RANGE, "SEARCH events USING PRIMARY KEY (room_id=? AND seq>? AND seq<?)"),
            (events::READ_OF_TYPE, "SEARCH events USING INDEX events_by_type (room_id=? AND event_type=? AND seq>?)"),
            (events::KNOWN_ID, "SEARCH events USING COVERING INDEX events_by_event_id (room_id=? AND event_id=?)"),
            (rooms::COUNT_ROOMS, "SEARCH rooms USING COVERING INDEX rooms_by_app_schedule (sdk_app_id=? AND start_time>? AND start_time<?)"),
            (rooms::PAGE_OF_ROOMS, "SEARCH rooms USING INDEX rooms_by_app_schedule (sdk_app_id=? AND start_time>? AND start_time<?)"),
            (purge::NEXT_TO_PURGE, "INDEX rooms_purge_queue (real_end_ms>? AND real_end_ms<?)"),
            (purge::PURGE_CANDIDATE, "INDEX rooms_purge_queue"),
            (purge::DELETE_BELOW, "SEARCH events USING PRIMARY KEY (room_id=? AND seq<?)"),
        ];
        for (sql, expected) in cases {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            // Parameters left unbound (NULL): the plan does not depend on their values.
            let mut rows = stmt.raw_query();
            let mut plan = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                plan.push(row.get::<_, String>(3).unwrap());
            }
            assert!(
                plan.iter().any(|step| step.contains(expected)),
                "{sql}\nexpected `{expected}`, plan: {plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN")),
                "{sql} scans: {plan:?}"
            );
        }
    }
}
