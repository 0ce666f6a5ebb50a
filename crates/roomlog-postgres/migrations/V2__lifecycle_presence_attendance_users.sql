-- roomlog schema, version 2 (SQLite migration 0002): the lifecycle that runs by itself, presence,
-- kicks, stored attendance and registered users.
--
-- Unlike SQLite's, this migration has no Rust backfill: no PostgreSQL database ever held rooms
-- at version 1 (this backend starts at version 3), so there is no presence to replay.

ALTER TABLE rooms ADD COLUMN present_members BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN empty_since_ms BIGINT;
-- The room's next automatic transition (`lifecycle::next_deadline`), unix ms; NULL once the
-- room is ended or expired.
ALTER TABLE rooms ADD COLUMN deadline_ms BIGINT;
ALTER TABLE rooms ADD COLUMN attendance_ready BIGINT NOT NULL DEFAULT 0
    CHECK (attendance_ready IN (0, 1));
ALTER TABLE rooms ADD COLUMN attendance_summary TEXT;
ALTER TABLE rooms ADD COLUMN attendance_total BIGINT NOT NULL DEFAULT 0;

UPDATE rooms SET empty_since_ms = COALESCE(real_end_ms, created_at * 1000);

-- The scheduler: the earliest deadline, and the rooms due, earliest first (ties by id).
CREATE INDEX rooms_by_deadline ON rooms (deadline_ms, room_id) WHERE deadline_ms IS NOT NULL;
-- Rooms in class: their deadline depends on the idle-end policy, recomputed at every connect.
CREATE INDEX rooms_in_class ON rooms (room_id) WHERE status = 1;
-- The retention purge also waits for the room's attendance.
DROP INDEX rooms_purge_queue;
CREATE INDEX rooms_purge_queue ON rooms (real_end_ms, room_id)
    WHERE real_end_ms IS NOT NULL AND events_purged = 0 AND attendance_ready = 1;
-- Ended rooms whose attendance is still to be computed, oldest end first.
CREATE INDEX rooms_awaiting_attendance ON rooms (real_end_ms, room_id)
    WHERE status = 2 AND attendance_ready = 0;

-- Who is in: one row per user with at least one session open; `sessions` is the JSON array
-- [[device, joined_ms, join_seq], ...] of the user's open sessions (as in SQLite).
CREATE TABLE presence (
    room_id      BIGINT NOT NULL,
    user_id      TEXT   NOT NULL,
    arrival_seq  BIGINT NOT NULL,           -- MIN(join_seq) of the sessions
    joined_ms    BIGINT NOT NULL,           -- MIN(joined_ms) of the sessions
    devices      BIGINT NOT NULL,           -- sessions open
    role         BIGINT,                    -- latest Role of a MemberJoin while present
    device       BIGINT,                    -- latest Device of a MemberJoin while present
    sessions     TEXT   NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
-- DescribeCurrentMemberList and RoomEnd's quits: who is in, in order of arrival.
CREATE INDEX presence_by_arrival ON presence (room_id, arrival_seq);

-- KickUserFromRoom's bars: the user's MemberJoin is refused until `until_ms` (NULL: for good).
CREATE TABLE kicks (
    room_id   BIGINT NOT NULL,
    user_id   TEXT   NOT NULL,
    until_ms  BIGINT,
    PRIMARY KEY (room_id, user_id)
);

-- A room's stored attendance records (MemberRecord as JSON), in their order from 0.
CREATE TABLE attendance_records (
    room_id  BIGINT NOT NULL,
    ord      BIGINT NOT NULL,
    record   TEXT   NOT NULL,
    PRIMARY KEY (room_id, ord)
);

-- Registered users (RegisterUser, BatchRegister, LoginUser, DescribeUser).
CREATE TABLE users (
    user_id           TEXT   PRIMARY KEY,
    sdk_app_id        BIGINT NOT NULL REFERENCES apps (sdk_app_id),
    name              TEXT   NOT NULL,
    origin_id         TEXT   NOT NULL,     -- the platform's own id; '' when none
    avatar            TEXT   NOT NULL,
    token             TEXT   NOT NULL,
    token_expires_ms  BIGINT NOT NULL,
    created_at        BIGINT NOT NULL      -- unix seconds
);
-- An OriginId names at most one user per app.
CREATE UNIQUE INDEX users_by_origin ON users (sdk_app_id, origin_id) WHERE origin_id <> '';
