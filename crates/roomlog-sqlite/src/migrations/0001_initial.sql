-- roomlog schema, version 1.
--
-- Ids are allocated by AUTOINCREMENT so they are never reused, even after a delete: a RoomId
-- or SdkAppId a client once saw can never come back naming something else.

CREATE TABLE accounts (
    account_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL              -- unix seconds
);

CREATE TABLE apps (
    sdk_app_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts (account_id),
    name          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,           -- unix seconds
    -- The longest scheduled span (end_time - start_time, seconds) of any room the app ever had.
    -- Only grows. GetRooms' overlap query uses it to bound its index range scan from below
    -- (a room overlapping [ws, we] starts at or after ws - max_room_secs), so the scan never
    -- walks the app's whole history.
    max_room_secs INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX apps_by_account ON apps (account_id);

CREATE TABLE api_keys (
    secret_id   TEXT    PRIMARY KEY,
    secret_key  TEXT    NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES accounts (account_id),
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_at  INTEGER NOT NULL              -- unix seconds
) WITHOUT ROWID;
CREATE INDEX api_keys_by_account ON api_keys (account_id);

CREATE TABLE rooms (
    room_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    sdk_app_id     INTEGER NOT NULL REFERENCES apps (sdk_app_id),
    account_id     INTEGER NOT NULL REFERENCES accounts (account_id),
    status         INTEGER NOT NULL CHECK (status BETWEEN 0 AND 3),
    start_time     INTEGER NOT NULL,          -- scheduled, unix seconds (also inside `spec`)
    end_time       INTEGER NOT NULL,          -- scheduled, unix seconds (also inside `spec`)
    real_start_ms  INTEGER,
    real_end_ms    INTEGER,
    created_at     INTEGER NOT NULL,          -- unix seconds
    last_seq       INTEGER NOT NULL DEFAULT 0,
    events_purged  INTEGER NOT NULL DEFAULT 0 CHECK (events_purged IN (0, 1)),
    spec           TEXT    NOT NULL           -- RoomSpec as JSON (LCIC field names)
);
-- GetRooms: range on start_time within one app; end_time and status are filtered from the
-- index itself, so COUNT(*) never touches the table. Ties on start_time are ordered by the
-- rowid (room_id) that every index entry ends with.
CREATE INDEX rooms_by_app_schedule ON rooms (sdk_app_id, start_time, end_time, status);
-- The retention purge: ended rooms whose events are still there, oldest end first. Partial, so
-- it only holds the handful of rooms waiting to be purged.
CREATE INDEX rooms_purge_queue ON rooms (real_end_ms)
    WHERE real_end_ms IS NOT NULL AND events_purged = 0;

-- The per-room event log. WITHOUT ROWID: rows are small and always reached by (room_id, seq),
-- so they live directly in the primary-key b-tree (no separate rowid table to keep in step).
-- `event_type` is a small integer code (see the event_types table) to keep rows and the type
-- index compact.
CREATE TABLE events (
    room_id       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    event_id      TEXT    NOT NULL,
    event_type    INTEGER NOT NULL,
    timestamp_ms  INTEGER NOT NULL,
    user_id       TEXT,
    device        INTEGER,
    role          INTEGER,
    reason        INTEGER,
    duration      INTEGER,                    -- u64 stored bit-for-bit as i64
    record_size   INTEGER,                    -- u64 stored bit-for-bit as i64
    record_url    TEXT,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
-- Idempotent ingest: an event id is recorded at most once per room.
CREATE UNIQUE INDEX events_by_event_id ON events (room_id, event_id);
-- GetRoomEvent with a Keyword: one type of one room, in log order.
CREATE INDEX events_by_type ON events (room_id, event_type, seq);

-- For people reading the database with the sqlite3 shell: what events.event_type codes mean.
-- The code is authoritative in the Rust mapping (rows.rs); a test keeps the two in step.
CREATE TABLE event_types (
    code  INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE
);
INSERT INTO event_types (code, name) VALUES
    (1, 'RoomStart'), (2, 'RoomEnd'), (3, 'MemberJoin'), (4, 'MemberQuit'),
    (5, 'RecordFinish'), (6, 'CameraOn'), (7, 'CameraOff'), (8, 'MicOn'), (9, 'MicOff'),
    (10, 'ScreenOn'), (11, 'ScreenOff'), (12, 'VisibleOn'), (13, 'VisibleOff');

-- Rooms deleted while they still had events: the room row is gone at once (the delete is
-- visible immediately), their events are deleted in bounded batches afterwards. A room stays
-- here until its last event is gone, so an interrupted cleanup resumes on the next purge.
CREATE TABLE deleted_rooms (
    room_id  INTEGER PRIMARY KEY
);

-- Id ranges in LCIC's shape: SdkAppIds from 3000001, RoomIds from 300000001.
INSERT INTO sqlite_sequence (name, seq) VALUES ('apps', 3000000), ('rooms', 300000000);
