//! Statements every backend runs as written here: the tables, columns and codes are the same
//! in all (see [`super::row`]), and so is the SQL where the dialects agree. What differs (locks,
//! arrays, upserts of many rows, plan hints) stays in each backend.
//!
//! Placeholders are PostgreSQL's `$1, $2, ...`. SQLite reads `$N` as a named parameter and
//! numbers those in order of first appearance, so every statement here names its parameters in
//! that order (the SQLite store's tests check each one): bound by position, they mean the same
//! in both.

use crate::{event_columns, event_info_columns, room_columns, user_columns};

/// One room by id, the columns `row::room` reads.
pub const ROOM: &str = concat!("SELECT ", room_columns!(), " FROM rooms WHERE room_id = $1");

/// The account owning an app (recorded on the app's new rooms).
pub const APP_ACCOUNT: &str = "SELECT account_id FROM apps WHERE sdk_app_id = $1";

/// The app's longest room span (`apps.max_room_secs`), which GetRooms' window allows for.
pub const APP_LONGEST_ROOM: &str = "SELECT max_room_secs FROM apps WHERE sdk_app_id = $1";

/// `RoomWrite::LastSeq`: the hot path of ingest.
pub const SAVE_LAST_SEQ: &str = "UPDATE rooms SET last_seq = $1 WHERE room_id = $2";

/// `RoomWrite::Status`: the whole lifecycle state.
pub const SAVE_STATUS: &str = "UPDATE rooms SET status = $1, real_start_ms = $2, \
     real_end_ms = $3, last_seq = $4, present_members = $5, empty_since_ms = $6, \
     deadline_ms = $7 WHERE room_id = $8";

/// ModifyRoom: the spec, its schedule columns and the deadline they give.
pub const SAVE_SPEC: &str = "UPDATE rooms SET spec = $1, start_time = $2, end_time = $3, \
     deadline_ms = $4 WHERE room_id = $5";

/// The earliest deadline: the first entry of the partial index `rooms_by_deadline`.
pub const NEXT_DEADLINE: &str = "SELECT MIN(deadline_ms) FROM rooms WHERE deadline_ms IS NOT NULL";

/// Rooms due, earliest first: a range on `rooms_by_deadline` (ties by room id, which every index
/// entry ends with).
pub const DUE_ROOMS: &str = concat!(
    "SELECT ",
    room_columns!(),
    " FROM rooms WHERE deadline_ms IS NOT NULL AND deadline_ms <= $1",
    " ORDER BY deadline_ms, room_id LIMIT $2"
);

/// GetRooms' filter: the app, the bounded start-time range, overlap, and the status bitmask
/// (0: any status). (Casts as both dialects write them: PostgreSQL infers the mask's type and
/// shifts by an int only.)
macro_rules! rooms_filter {
    () => {
        " FROM rooms WHERE sdk_app_id = $1 AND start_time BETWEEN $2 AND $3 AND end_time >= $4 \
         AND (CAST($5 AS BIGINT) = 0 OR ((CAST($5 AS BIGINT) >> CAST(status AS INTEGER)) & 1) = 1)"
    };
}

/// GetRooms' total (SQLite counts it from the covering index `rooms_by_app_schedule` alone).
pub const COUNT_ROOMS: &str = concat!("SELECT COUNT(*)", rooms_filter!());

/// GetRooms' page, `LIMIT $6 OFFSET $7`.
pub const PAGE_OF_ROOMS: &str = concat!(
    "SELECT ",
    room_columns!(),
    rooms_filter!(),
    " ORDER BY start_time, room_id LIMIT $6 OFFSET $7"
);

/// A page of a room's log: a range seek on the primary key.
pub const READ_RANGE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE room_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq"
);

/// [`READ_RANGE`] with only the columns an `EventInfo` shows (`row::event_info_ref`): the room
/// id is the one asked for, and seq and event id are not shown.
pub const RENDER_RANGE: &str = concat!(
    "SELECT ",
    event_info_columns!(),
    " FROM events WHERE room_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq"
);

/// A user by the platform's id, within one app. Phrased (`origin_id <> ''`) to match the partial
/// unique index `users_by_origin`: users without an OriginId are not in it.
pub const USER_BY_ORIGIN: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE sdk_app_id = $1 AND origin_id = $2 AND origin_id <> ''"
);

pub const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE user_id = $1");

pub const INSERT_USER: &str = "INSERT INTO users (user_id, sdk_app_id, name, origin_id, avatar, \
     token, token_expires_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// A registration overwriting the user of an OriginId (who keeps their user id).
pub const OVERWRITE_USER: &str = "UPDATE users SET name = $1, avatar = $2, token = $3, \
     token_expires_ms = $4 WHERE user_id = $5";

pub const SET_USER_TOKEN: &str =
    "UPDATE users SET token = $1, token_expires_ms = $2 WHERE user_id = $3";

/// Ended rooms still waiting for their attendance, oldest end first: the partial index
/// `rooms_awaiting_attendance` (ties by room id, which every index entry ends with).
pub const AWAITING_ATTENDANCE: &str = "SELECT room_id FROM rooms \
     WHERE status = 2 AND attendance_ready = 0 ORDER BY real_end_ms, room_id LIMIT $1";

/// A stored attendance's summary, if it is stored.
pub const ATTENDANCE_SUMMARY: &str = "SELECT attendance_summary, attendance_total FROM rooms \
     WHERE room_id = $1 AND attendance_ready = 1";

/// A page of attendance records: a range seek on the primary key.
pub const ATTENDANCE_RECORDS: &str = "SELECT record FROM attendance_records \
     WHERE room_id = $1 AND ord >= $2 AND ord < $3 ORDER BY ord";

pub const DELETE_ATTENDANCE: &str = "DELETE FROM attendance_records WHERE room_id = $1";

/// Marks an attendance stored, with its summary (the records are written before).
pub const SAVE_ATTENDANCE_SUMMARY: &str = "UPDATE rooms SET attendance_ready = 1, \
     attendance_summary = $1, attendance_total = $2 WHERE room_id = $3";

/// Bars a user, replacing any bar.
pub const BAR_USER: &str = "INSERT INTO kicks (room_id, user_id, until_ms) VALUES ($1, $2, $3) \
     ON CONFLICT (room_id, user_id) DO UPDATE SET until_ms = excluded.until_ms";

pub const LIFT_BAR: &str = "DELETE FROM kicks WHERE room_id = $1 AND user_id = $2";

pub const CLEAR_BARS: &str = "DELETE FROM kicks WHERE room_id = $1";

/// Every statement here, for a backend's tests.
pub const ALL: &[&str] = &[
    ROOM,
    APP_ACCOUNT,
    APP_LONGEST_ROOM,
    SAVE_LAST_SEQ,
    SAVE_STATUS,
    SAVE_SPEC,
    NEXT_DEADLINE,
    DUE_ROOMS,
    COUNT_ROOMS,
    PAGE_OF_ROOMS,
    READ_RANGE,
    RENDER_RANGE,
    USER_BY_ORIGIN,
    USER_BY_ID,
    INSERT_USER,
    OVERWRITE_USER,
    SET_USER_TOKEN,
    AWAITING_ATTENDANCE,
    ATTENDANCE_SUMMARY,
    ATTENDANCE_RECORDS,
    DELETE_ATTENDANCE,
    SAVE_ATTENDANCE_SUMMARY,
    BAR_USER,
    LIFT_BAR,
    CLEAR_BARS,
];
