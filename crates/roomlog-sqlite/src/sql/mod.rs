//! The SQL behind each store operation, as plain functions of a connection.
//!
//! Write functions run on the writer thread inside a group transaction (in their own savepoint);
//! read functions run on a pooled read-only connection. Nothing here knows which: that split is
//! made in `lib.rs`.

pub(crate) mod accounts;
pub(crate) mod attendance;
pub(crate) mod deliveries;
pub(crate) mod events;
pub(crate) mod kicks;
pub(crate) mod presence;
pub(crate) mod purge;
pub(crate) mod recording;
pub(crate) mod rooms;
pub(crate) mod users;

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use roomlog_core::lifecycle::LifecyclePolicy;
    use roomlog_core::store::sql as shared;

    use super::{deliveries, events, kicks, presence, purge, rooms};

    /// The statements shared with other backends are written with PostgreSQL's `$N`, which
    /// SQLite numbers in order of first appearance: bound by position, `$N` must be the Nth.
    #[test]
    fn shared_statements_number_their_parameters_in_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::migrate(&mut conn, 0, &LifecyclePolicy::default()).unwrap();
        for sql in shared::ALL {
            let stmt = conn.prepare(sql).unwrap();
            for index in 1..=stmt.parameter_count() {
                let expected = format!("${index}");
                assert_eq!(stmt.parameter_name(index), Some(expected.as_str()), "{sql}");
            }
        }
    }

    /// The hot queries must stay index seeks as the schema evolves: a full scan of `events`
    /// would make a page read cost the whole log, one of `rooms` would make the scheduler's
    /// wake-up cost every room ever created.
    #[test]
    fn hot_queries_use_their_indexes() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::migrate(&mut conn, 0, &LifecyclePolicy::default()).unwrap();
        let cases = [
            (shared::READ_RANGE, "SEARCH events USING PRIMARY KEY (room_id=? AND seq>? AND seq<?)"),
            (shared::RENDER_RANGE, "SEARCH events USING PRIMARY KEY (room_id=? AND seq>? AND seq<?)"),
            (events::READ_OF_TYPE, "SEARCH events USING INDEX events_by_type (room_id=? AND event_type=? AND seq>?)"),
            (events::KNOWN_ID, "SEARCH events USING COVERING INDEX events_by_event_id (room_id=? AND event_id=?)"),
            (shared::COUNT_ROOMS, "SEARCH rooms USING COVERING INDEX rooms_by_app_schedule (sdk_app_id=? AND start_time>? AND start_time<?)"),
            (shared::PAGE_OF_ROOMS, "SEARCH rooms USING INDEX rooms_by_app_schedule (sdk_app_id=? AND start_time>? AND start_time<?)"),
            (purge::NEXT_TO_PURGE, "INDEX rooms_purge_queue (real_end_ms>? AND real_end_ms<?)"),
            (purge::PURGE_CANDIDATE, "INDEX rooms_purge_queue"),
            (purge::DELETE_BELOW, "SEARCH events USING PRIMARY KEY (room_id=? AND seq<?)"),
            (shared::NEXT_DEADLINE, "SEARCH rooms USING COVERING INDEX rooms_by_deadline"),
            (shared::DUE_ROOMS, "SEARCH rooms USING INDEX rooms_by_deadline (deadline_ms>? AND deadline_ms<?)"),
            // Scans of partial indexes visit only the rows they hold: the rooms in class, the ended
            // rooms awaiting attendance.
            (rooms::IN_CLASS_ROOMS, "SCAN rooms USING INDEX rooms_in_class"),
            (presence::PRESENT_USER, "SEARCH presence USING PRIMARY KEY (room_id=? AND user_id=?)"),
            (presence::PRESENT_IN_ORDER, "SEARCH presence USING INDEX presence_by_arrival (room_id=?)"),
            (kicks::ROOM_HAS_BARS, "SEARCH kicks USING PRIMARY KEY (room_id=?)"),
            (kicks::BAR_OF, "SEARCH kicks USING PRIMARY KEY (room_id=? AND user_id=?)"),
            (shared::AWAITING_ATTENDANCE, "SCAN rooms USING COVERING INDEX rooms_awaiting_attendance"),
            (shared::ATTENDANCE_RECORDS, "SEARCH attendance_records USING PRIMARY KEY (room_id=? AND ord>? AND ord<?)"),
            (shared::USER_BY_ORIGIN, "SEARCH users USING INDEX users_by_origin (sdk_app_id=? AND origin_id=?)"),
            // Callbacks: the worker's two queries are seeks on the partial index of heads that
            // are not paused, whatever the number of deliveries or paused apps.
            (deliveries::APP_HAS_CALLBACK, "SEARCH apps USING INTEGER PRIMARY KEY (rowid=?)"),
            (deliveries::CLAIMABLE, "SEARCH delivery_heads USING INDEX delivery_heads_ready (ready_ms<?)"),
            (deliveries::ANY_DUE, "SEARCH delivery_heads USING COVERING INDEX delivery_heads_ready (ready_ms<?)"),
            (deliveries::NEXT_DUE, "SEARCH delivery_heads USING COVERING INDEX delivery_heads_ready"),
            (deliveries::LOWEST_PENDING, "SEARCH deliveries USING INDEX deliveries_by_app_status (sdk_app_id=? AND status=? AND room_id=?)"),
            (deliveries::COUNT_OF_APP, "SEARCH deliveries USING COVERING INDEX deliveries_by_app_status (sdk_app_id=?)"),
            (deliveries::KEYS_OF_STATUS, "SEARCH deliveries USING COVERING INDEX deliveries_by_app_status (sdk_app_id=? AND status=?)"),
            (deliveries::COUNT_OF_ROOM, "SEARCH deliveries USING PRIMARY KEY (room_id=?)"),
            (deliveries::PAGE_OF_ROOM, "SEARCH deliveries USING PRIMARY KEY (room_id=?)"),
            (deliveries::COUNT_OF_STATUS, "SEARCH deliveries USING COVERING INDEX deliveries_by_app_status (sdk_app_id=? AND status=?)"),
            (deliveries::PAGE_OF_STATUS, "SEARCH deliveries USING INDEX deliveries_by_app_status (sdk_app_id=? AND status=?)"),
            (deliveries::COUNT_OF_ROOM_STATUS, "SEARCH deliveries USING COVERING INDEX deliveries_by_app_status (sdk_app_id=? AND status=? AND room_id=?)"),
            (deliveries::PAGE_OF_ROOM_STATUS, "SEARCH deliveries USING INDEX deliveries_by_app_status (sdk_app_id=? AND status=? AND room_id=?)"),
            (deliveries::REPLAY, "SEARCH deliveries USING PRIMARY KEY (room_id=? AND seq>?)"),
            (deliveries::FINISHED_BEFORE, "SEARCH deliveries USING INDEX deliveries_finished (last_attempt_ms<?)"),
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
            if !expected.starts_with("SCAN") {
                // (Replay by event ids reads the list of ids it was given: not a table.)
                assert!(
                    !plan
                        .iter()
                        .any(|step| step.starts_with("SCAN") && !step.starts_with("SCAN json_each")),
                    "{sql} scans: {plan:?}"
                );
            }
            // ORDER BY must come from the index, not from sorting everything read. (GetRooms
            // sorts ties on start_time by id, "LAST TERM OF ORDER BY": bounded by the ties.)
            assert!(
                !plan
                    .iter()
                    .any(|step| step == "USE TEMP B-TREE FOR ORDER BY"),
                "{sql} sorts: {plan:?}"
            );
        }
    }
}
