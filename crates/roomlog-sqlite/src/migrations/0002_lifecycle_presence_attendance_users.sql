-- roomlog schema, version 2: the lifecycle that runs by itself, presence, kicks, stored
-- attendance and registered users.
--
-- After this SQL, a Rust step (migrations.rs, `backfill_v2`) replays the member events of rooms
-- not ended yet into `presence`, and computes every active room's first deadline: both need
-- domain rules that live in Rust.

-- Who is in the room now, kept by every write that records MemberJoin/MemberQuit:
-- `present_members` counts users with at least one device in; `empty_since_ms` is when the room
-- last became empty (NULL while someone is in), from the room's creation on.
ALTER TABLE rooms ADD COLUMN present_members INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN empty_since_ms INTEGER;
-- The room's next automatic transition (`lifecycle::next_deadline`), unix ms; NULL once the
-- room is ended or expired. Recomputed by every write that changes the room.
ALTER TABLE rooms ADD COLUMN deadline_ms INTEGER;
-- Attendance, computed once the class ended: the summary (a `RoomAttendance` with no records,
-- as JSON) here, the records in `attendance_records`. Until it is stored the retention purge
-- leaves the room's events alone: they are what attendance is computed from.
ALTER TABLE rooms ADD COLUMN attendance_ready INTEGER NOT NULL DEFAULT 0
    CHECK (attendance_ready IN (0, 1));
ALTER TABLE rooms ADD COLUMN attendance_summary TEXT;
ALTER TABLE rooms ADD COLUMN attendance_total INTEGER NOT NULL DEFAULT 0;

-- Ended rooms were emptied by their end; the others are corrected by the replay.
UPDATE rooms SET empty_since_ms = COALESCE(real_end_ms, created_at * 1000);

-- The scheduler: the earliest deadline, and the rooms due, by an index seek. Partial: ended and
-- expired rooms (the vast majority over time) are not in it.
CREATE INDEX rooms_by_deadline ON rooms (deadline_ms) WHERE deadline_ms IS NOT NULL;
-- Rooms in class: their deadline depends on the idle-end policy, so it is recomputed at every
-- open (the policy is configuration and may have changed). Holds only the rooms in class.
CREATE INDEX rooms_in_class ON rooms (room_id) WHERE status = 1;
-- The retention purge now also waits for the room's attendance.
DROP INDEX rooms_purge_queue;
CREATE INDEX rooms_purge_queue ON rooms (real_end_ms)
    WHERE real_end_ms IS NOT NULL AND events_purged = 0 AND attendance_ready = 1;
-- Ended rooms whose attendance is still to be computed, oldest end first.
CREATE INDEX rooms_awaiting_attendance ON rooms (real_end_ms)
    WHERE status = 2 AND attendance_ready = 0;

-- Who is in: one row per user with at least one session open. A session is per (user, device)
-- (a join without Device counts as device 0); `sessions` holds the user's open ones as a JSON
-- array of [device, joined_ms, join_seq], the seq of the MemberJoin that opened it, which orders
-- sessions ("earliest-opened") and users ("order of arrival"). One row, not one per device:
-- a MemberJoin then costs one seek and one write here, which matters on the ingest path.
CREATE TABLE presence (
    room_id      INTEGER NOT NULL,
    user_id      TEXT    NOT NULL,
    arrival_seq  INTEGER NOT NULL,          -- MIN(join_seq) of the sessions
    joined_ms    INTEGER NOT NULL,          -- MIN(joined_ms) of the sessions
    devices      INTEGER NOT NULL,          -- sessions open
    role         INTEGER,                   -- latest Role of a MemberJoin while present
    device       INTEGER,                   -- latest Device of a MemberJoin while present
    sessions     TEXT    NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
-- DescribeCurrentMemberList and RoomEnd's quits: who is in, in order of arrival.
CREATE INDEX presence_by_arrival ON presence (room_id, arrival_seq);

-- KickUserFromRoom's bars: the user's MemberJoin is refused until `until_ms` (NULL: for good).
-- Kept until UnblockKickedUser, the end (or expiry) of the class, or the room's deletion.
CREATE TABLE kicks (
    room_id   INTEGER NOT NULL,
    user_id   TEXT    NOT NULL,
    until_ms  INTEGER,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;

-- A room's stored attendance records (MemberRecord as JSON), in their order from 0: a page is a
-- range seek on the primary key, whatever the room's size.
CREATE TABLE attendance_records (
    room_id  INTEGER NOT NULL,
    ord      INTEGER NOT NULL,
    record   TEXT    NOT NULL,
    PRIMARY KEY (room_id, ord)
) WITHOUT ROWID;

-- Registered users (RegisterUser, BatchRegister, LoginUser, DescribeUser).
CREATE TABLE users (
    user_id           TEXT    PRIMARY KEY,
    sdk_app_id        INTEGER NOT NULL REFERENCES apps (sdk_app_id),
    name              TEXT    NOT NULL,
    origin_id         TEXT    NOT NULL,    -- the platform's own id; '' when none
    avatar            TEXT    NOT NULL,
    token             TEXT    NOT NULL,
    token_expires_ms  INTEGER NOT NULL,
    created_at        INTEGER NOT NULL     -- unix seconds
) WITHOUT ROWID;
-- An OriginId names at most one user per app. Partial: users without one are not in it.
CREATE UNIQUE INDEX users_by_origin ON users (sdk_app_id, origin_id) WHERE origin_id <> '';
